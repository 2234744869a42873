"""``convlstm``: a ConvLSTM2D over a sequence of MFCC sub-maps, then batch norm and dense layers.

PyTorch has no ConvLSTM layer; :class:`ConvLSTMCell` is the standard formulation (Shi et al.
2015): the four LSTM gates are one convolution over ``[x_t, h_{t-1}]`` and the state is a
feature map. A map ``(B, n_mfcc, T)`` is cut into ``steps`` time chunks of width ``T // steps``
(the remainder frames are dropped), giving the sequence ``(B, steps, 1, n_mfcc, w)``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from genrelab.errors import ParameterError
from genrelab.models._maps import MfccNorm


class ConvLSTMCell(nn.Module):
    """One ConvLSTM step: ``(x (B, C_in, H, W), (h, c) (B, C_h, H, W)) -> (h, c)``."""

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.hidden_channels = hidden_channels
        self.gates = nn.Conv2d(in_channels + hidden_channels, 4 * hidden_channels, kernel_size, padding="same")

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        h, c = state
        i, f, g, o = self.gates(torch.cat([x, h], dim=1)).chunk(4, dim=1)  # 4 x (B, C_h, H, W)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c


class ConvLSTM2D(nn.Module):
    """Run a :class:`ConvLSTMCell` over ``(B, S, C_in, H, W)``; returns the last ``h (B, C_h, H, W)``."""

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.cell = ConvLSTMCell(in_channels, hidden_channels, kernel_size)

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        b, s, _, hgt, wid = seq.shape
        h = seq.new_zeros(b, self.cell.hidden_channels, hgt, wid)
        c = torch.zeros_like(h)
        for t in range(s):
            h, c = self.cell(seq[:, t], (h, c))
        return h


@dataclass(frozen=True)
class ConvLSTMConfig:
    n_mfcc: int = 20
    frames: int = 130
    segment_seconds: float = 3.0  # the maps' segment length (``frames`` frames); maps of another length are refused
    n_classes: int = 10
    steps: int = 10  # time chunks per map
    hidden_channels: int = 32
    kernel_size: int = 3
    hidden: int = 128
    dropout: float = 0.3


class MfccConvLSTM(nn.Module):
    """``forward(x (B, n_mfcc, T)) -> logits (B, n_classes)``; ``embed -> (B, hidden)``."""

    def __init__(self, **cfg) -> None:
        super().__init__()
        self.config = c = ConvLSTMConfig(**cfg)
        if c.steps < 2 or c.frames // c.steps < 2 or c.n_classes < 2 or c.n_mfcc < 4:
            raise ParameterError(f"bad convlstm config {c}: need steps >= 2 chunks of >= 2 frames, n_classes >= 2")
        self.width = c.frames // c.steps
        self.norm = MfccNorm(c.n_mfcc)
        self.convlstm = ConvLSTM2D(1, c.hidden_channels, c.kernel_size)
        self.bn = nn.BatchNorm2d(c.hidden_channels)
        self.pool = nn.AdaptiveAvgPool2d((4, 2))
        self.head = nn.Sequential(
            nn.Flatten(), nn.Dropout(c.dropout), nn.Linear(c.hidden_channels * 8, c.hidden), nn.ReLU()
        )
        self.out = nn.Sequential(nn.Dropout(c.dropout), nn.Linear(c.hidden, c.n_classes))

    def config_dict(self) -> dict:
        return asdict(self.config)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        c = self.config
        assert x.ndim == 3 and x.shape[1] == c.n_mfcc and x.shape[2] >= c.steps * self.width, (
            f"expected (B, {c.n_mfcc}, >= {c.steps * self.width}), got {tuple(x.shape)}"
        )
        z = self.norm(x)[:, :, : c.steps * self.width]  # (B, n_mfcc, S*w)
        seq = (
            z.reshape(z.shape[0], c.n_mfcc, c.steps, self.width).permute(0, 2, 1, 3).unsqueeze(2)
        )  # (B, S, 1, n_mfcc, w)
        h = self.bn(self.convlstm(seq))  # (B, C_h, n_mfcc, w)
        return self.head(self.pool(h))  # (B, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.embed(x))  # (B, n_classes)
