"""Genre-conditioned next-frame models over standardised MFCC frames (``recreate-lstm``/``-dense``).

Both variants share one shape: the previous ``context`` frames (flattened) and a learned genre
embedding go through a frame encoder; ``recreate-lstm`` then runs an LSTM over the sequence of
encoded windows (memory beyond the window), ``recreate-dense`` skips it (an MLP on the window
alone); a head predicts the next standardised frame. Inputs and outputs are standardised MFCC
frames (per-coefficient mean/std are kept by the caller, in the checkpoint).

Two heads (``RecreateConfig.head``): ``"mse"`` (the default, the source study's) predicts the
next frame itself, trained with the mean squared error; its free-running output is the
conditional mean plus added noise, which collapses into a smooth, nearly stationary
trajectory. ``"mdn"`` is a mixture density network (Bishop 1994): ``mixtures`` diagonal
Gaussians over the next frame, trained by negative log-likelihood, and :meth:`sample` draws a
component and a frame from it, so an onset frame can follow a quiet one. ``input_noise`` adds
Gaussian noise to the input frames while training (not the targets), so the model learns to
continue from frames that are not quite real, as its own samples will be.
"""

from __future__ import annotations

import math
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
    head: str = "mse"  # "mse": next frame, squared error; "mdn": Gaussian mixture, likelihood
    mixtures: int = 8  # components of the "mdn" head
    input_noise: float = 0.0  # std (standardised units) of noise on the input frames in training

    def __post_init__(self) -> None:
        for name in ("n_mfcc", "n_genres", "context", "genre_dim", "hidden"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ParameterError(f"{name}={value!r} must be a positive integer")
        if not 0.0 <= self.dropout < 1.0:
            raise ParameterError(f"dropout={self.dropout} must be in [0, 1)")
        if self.head not in ("mse", "mdn"):
            raise ParameterError(f"head={self.head!r} must be 'mse' or 'mdn'")
        if not isinstance(self.mixtures, int) or self.mixtures <= 0:
            raise ParameterError(f"mixtures={self.mixtures!r} must be a positive integer")
        if not 0.0 <= self.input_noise < 10.0:
            raise ParameterError(f"input_noise={self.input_noise} must be in [0, 10)")


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
            nn.Linear(c.hidden, c.n_mfcc if c.head == "mse" else c.mixtures * (1 + 2 * c.n_mfcc)),
        )

    def _windows(self, x: torch.Tensor) -> torch.Tensor:
        """``x (B, T, C)`` -> flattened windows ``(B, T - context + 1, C * context)``."""
        k = self.config.context
        w = x.unfold(1, k, 1)  # (B, L, C, k)
        return w.transpose(2, 3).reshape(x.shape[0], w.shape[1], -1)  # (B, L, k*C), time-major

    def _predict(self, windows: torch.Tensor, genre: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """``windows (B, L, k*C)`` -> next-frame predictions ``(B, L, C)`` (``"mdn"``: the mixture
        parameters ``(B, L, K * (1 + 2C))``, see :meth:`mixture`) and the LSTM state."""
        g = self.genre(genre)[:, None, :].expand(-1, windows.shape[1], -1)  # (B, L, E)
        h = self.encoder(torch.cat([windows, g], dim=-1))  # (B, L, H)
        if self.lstm is not None:
            h, state = self.lstm(h, state)  # (B, L, H)
        out = self.head(torch.cat([h, g], dim=-1))  # (B, L, C) or (B, L, K(1 + 2C))
        if self.config.head == "mdn":
            return out, state
        last = windows[..., -self.config.n_mfcc :]  # (B, L, C) the newest frame of each window
        return last + out, state  # residual on the last frame

    def mixture(self, params: torch.Tensor, windows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``"mdn"`` head output ``(B, L, K(1 + 2C))`` and its ``windows (B, L, k*C)`` ->
        ``log_weights (B, L, K)``, ``means (B, L, K, C)`` (residual on the window's last frame),
        ``log_std (B, L, K, C)`` (softly bounded to (-4, 1.5))."""
        c, k = self.config.n_mfcc, self.config.mixtures
        logits, rest = params[..., :k], params[..., k:]
        mu, log_std = rest.reshape(*rest.shape[:-1], k, 2 * c).chunk(2, dim=-1)  # (B, L, K, C) each
        means = windows[..., -c:].unsqueeze(-2) + mu
        log_std = -4.0 + 5.5 * torch.sigmoid(log_std)  # a soft bound: a hard clamp stopped the gradient of a
        return torch.log_softmax(logits, dim=-1), means, log_std  # too-wide component, which then stayed wide

    def forward(self, x: torch.Tensor, genre: torch.Tensor) -> torch.Tensor:
        if x.ndim != 3 or x.shape[-1] != self.config.n_mfcc:
            raise ParameterError(f"x has shape {tuple(x.shape)}; expected (batch, frames, {self.config.n_mfcc})")
        if x.shape[1] <= self.config.context:
            raise ParameterError(f"x has {x.shape[1]} frames; need more than context={self.config.context}")
        windows = self._windows(x[:, :-1])  # (B, T - k, k*C)
        pred, _ = self._predict(windows, genre, None)  # (B, T - k, C) or mixture parameters
        if self.config.head == "mdn":  # the point prediction: the mixture's mean
            logw, means, _ = self.mixture(pred, windows)
            pred = (logw.exp().unsqueeze(-1) * means).sum(dim=-2)  # (B, T - k, C)
        return pred

    def loss(self, x: torch.Tensor, genre: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Training loss on ``x (B, T, C)`` (teacher forcing): ``"mse"``: the squared error of
        :meth:`forward`; ``"mdn"``: the negative log-likelihood per coefficient of the next
        frames. Inputs (not targets) get ``input_noise`` while the model is in training mode."""
        target = x[:, self.config.context :]  # (B, T - k, C)
        if self.training and self.config.input_noise > 0:
            x = x + self.config.input_noise * torch.randn(x.shape, generator=generator).to(x.device)
        if self.config.head == "mse":
            return nn.functional.mse_loss(self(x, genre), target)
        if x.ndim != 3 or x.shape[-1] != self.config.n_mfcc or x.shape[1] <= self.config.context:
            raise ParameterError(
                f"x has shape {tuple(x.shape)}; expected (batch, frames > context, {self.config.n_mfcc})"
            )
        windows = self._windows(x[:, :-1])  # (B, T - k, k*C)
        params, _ = self._predict(windows, genre, None)
        logw, means, log_std = self.mixture(params, windows)
        z = (target.unsqueeze(-2) - means) * torch.exp(-log_std)  # (B, L, K, C)
        comp = -0.5 * (z**2).sum(-1) - log_std.sum(-1) - 0.5 * self.config.n_mfcc * math.log(2 * math.pi)  # (B, L, K)
        return -torch.logsumexp(logw + comp, dim=-1).mean() / self.config.n_mfcc

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
        if self.config.head == "mdn":
            logw, means, _ = self.mixture(pred, flat)
            pred = (logw.exp().unsqueeze(-1) * means).sum(dim=-2)  # (B, 1, C) the mixture's mean
        return pred[:, 0], state

    def sample(
        self,
        window: torch.Tensor,
        genre: torch.Tensor,
        state: State,
        *,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, State]:
        """One free-running step that draws the next frame: ``window (B, context, C)`` -> ``(B, C)``.

        ``"mdn"``: a component from the weights (log-weights divided by ``temperature``), then
        ``mean + temperature * std * noise`` from it (noise drawn on the CPU from ``generator``).
        ``"mse"``: the point prediction of :meth:`step`; the caller adds its own noise as before.
        """
        if self.config.head == "mse":
            return self.step(window, genre, state)
        if not math.isfinite(temperature) or temperature < 0:
            raise ParameterError(f"temperature={temperature} must be a finite number >= 0")
        flat = window.reshape(window.shape[0], 1, -1)  # (B, 1, k*C)
        params, state = self._predict(flat, genre, state)
        logw, means, log_std = (v[:, 0] for v in self.mixture(params, flat))  # (B, K), (B, K, C), (B, K, C)
        if temperature == 0:
            k = logw.argmax(dim=-1)  # (B,)
        else:
            probs = torch.softmax(logw / temperature, dim=-1).cpu()
            k = torch.multinomial(probs, 1, generator=generator)[:, 0].to(window.device)  # (B,)
        rows = torch.arange(window.shape[0], device=window.device)
        noise = torch.randn(means.shape[0], means.shape[-1], generator=generator).to(window.device)  # (B, C)
        return means[rows, k] + temperature * torch.exp(log_std[rows, k]) * noise, state


def build_recreate_lstm(**cfg) -> RecreationModel:
    """Registry factory for ``recreate-lstm`` (config keywords as stored in a checkpoint)."""
    return RecreationModel(RecreateConfig(**{**cfg, "lstm": True}))


def build_recreate_dense(**cfg) -> RecreationModel:
    """Registry factory for ``recreate-dense``: the same model without the LSTM layer."""
    return RecreationModel(RecreateConfig(**{**cfg, "lstm": False}))
