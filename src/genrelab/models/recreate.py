"""Genre-conditioned next-frame models over standardised MFCC frames (``recreate-lstm``/``-dense``).

Both variants share one shape: the previous ``context`` frames (flattened) and a learned genre
embedding go through a frame encoder; ``recreate-lstm`` then runs an LSTM over the sequence of
encoded windows (memory beyond the window), ``recreate-dense`` skips it (an MLP on the window
alone); a head predicts the next standardised frame. Inputs and outputs are standardised MFCC
frames (per-coefficient mean/std are kept by the caller, in the checkpoint).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from genrelab.errors import ParameterError


@dataclass(frozen=True)
class RecreateConfig:
    """Hyper-parameters of a recreation model; saved beside the weights."""

    n_mfcc: int = 20
    n_genres: int = 10
    context: int = 8  # frames of history the encoder sees
    genre_dim: int = 16
    hidden: int = 128
    lstm: bool = True  # False -> recreate-dense
    dropout: float = 0.1

    def __post_init__(self) -> None:
        for name in ("n_mfcc", "n_genres", "context", "genre_dim", "hidden"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ParameterError(f"{name}={value!r} must be a positive integer")
        if not 0.0 <= self.dropout < 1.0:
            raise ParameterError(f"dropout={self.dropout} must be in [0, 1)")


State = tuple[torch.Tensor, torch.Tensor] | None


class RecreationModel(nn.Module):
    """Predict frame ``t+1`` from frames ``t-context+1 .. t`` and the genre.

    ``forward(x, genre)``: ``x (B, T, n_mfcc)`` standardised frames, ``genre (B,)`` int64
    -> ``(B, T - context, n_mfcc)``: prediction ``i`` is for frame ``x[:, context + i]``
    (teacher forcing over the whole sequence). ``step`` does one free-running step.
    """

    def __init__(self, config: RecreateConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.genre = nn.Embedding(c.n_genres, c.genre_dim)
        self.encoder = nn.Sequential(
            nn.Linear(c.n_mfcc * c.context + c.genre_dim, c.hidden),
            nn.GELU(),
            nn.Dropout(c.dropout),
            nn.Linear(c.hidden, c.hidden),
            nn.GELU(),
        )
        self.lstm = nn.LSTM(c.hidden, c.hidden, batch_first=True) if c.lstm else None
        self.head = nn.Sequential(
            nn.Linear(c.hidden + c.genre_dim, c.hidden),
            nn.GELU(),
            nn.Linear(c.hidden, c.n_mfcc),
        )

    def _windows(self, x: torch.Tensor) -> torch.Tensor:
        """``x (B, T, C)`` -> flattened windows ``(B, T - context + 1, C * context)``."""
        k = self.config.context
        w = x.unfold(1, k, 1)  # (B, L, C, k)
        return w.transpose(2, 3).reshape(x.shape[0], w.shape[1], -1)  # (B, L, k*C), time-major

    def _predict(self, windows: torch.Tensor, genre: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """``windows (B, L, k*C)`` -> next-frame predictions ``(B, L, C)`` and the LSTM state."""
        g = self.genre(genre)[:, None, :].expand(-1, windows.shape[1], -1)  # (B, L, E)
        h = self.encoder(torch.cat([windows, g], dim=-1))  # (B, L, H)
        if self.lstm is not None:
            h, state = self.lstm(h, state)  # (B, L, H)
        last = windows[..., -self.config.n_mfcc :]  # (B, L, C) the newest frame of each window
        return last + self.head(torch.cat([h, g], dim=-1)), state  # residual on the last frame

    def forward(self, x: torch.Tensor, genre: torch.Tensor) -> torch.Tensor:
        if x.ndim != 3 or x.shape[-1] != self.config.n_mfcc:
            raise ParameterError(f"x has shape {tuple(x.shape)}; expected (batch, frames, {self.config.n_mfcc})")
        if x.shape[1] <= self.config.context:
            raise ParameterError(f"x has {x.shape[1]} frames; need more than context={self.config.context}")
        pred, _ = self._predict(self._windows(x[:, :-1]), genre, None)  # (B, T - k, C)
        return pred

    def warm_up(self, prompt: torch.Tensor, genre: torch.Tensor) -> State:
        """Run the LSTM over ``prompt (B, P, C)`` (P >= context) and return its state before
        the last window, so that :meth:`step` on the last window continues the sequence."""
        if prompt.shape[1] <= self.config.context or self.lstm is None:
            return None
        _, state = self._predict(self._windows(prompt[:, :-1]), genre, None)
        return state

    def step(self, window: torch.Tensor, genre: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """``window (B, context, C)`` -> next frame ``(B, C)`` and the new state."""
        flat = window.reshape(window.shape[0], 1, -1)  # (B, 1, k*C)
        pred, state = self._predict(flat, genre, state)
        return pred[:, 0], state


def build_recreate_lstm(**cfg) -> RecreationModel:
    """Registry factory for ``recreate-lstm`` (config keywords as stored in a checkpoint)."""
    return RecreationModel(RecreateConfig(**{**cfg, "lstm": True}))


def build_recreate_dense(**cfg) -> RecreationModel:
    """Registry factory for ``recreate-dense``: the same model without the LSTM layer."""
    return RecreationModel(RecreateConfig(**{**cfg, "lstm": False}))
