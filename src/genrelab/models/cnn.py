"""``cnn``: three Conv2D blocks (64 -> 128 -> 256 filters) on raw MFCC maps ``(B, n_mfcc, T)``.

Each block is Conv2d(3x3, "same" padding) -> BatchNorm -> ReLU -> MaxPool(2) -> Dropout;
global average pooling and a dense head follow. Input normalisation happens inside
``forward`` (stored per-coefficient mean/std), so gradients flow from raw MFCC values.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from genrelab.errors import ParameterError
from genrelab.models._maps import MfccNorm


@dataclass(frozen=True)
class CNNConfig:
    n_mfcc: int = 20
    frames: int = 130
    segment_seconds: float = 3.0  # the maps' segment length (``frames`` frames); maps of another length are refused
    n_classes: int = 10
    channels: tuple[int, int, int] = (64, 128, 256)
    hidden: int = 128
    dropout: float = 0.3


class MfccCNN(nn.Module):
    """``forward(x (B, n_mfcc, T)) -> logits (B, n_classes)``; ``embed -> (B, hidden)``."""

    def __init__(self, **cfg) -> None:
        super().__init__()
        if "channels" in cfg:
            cfg["channels"] = tuple(int(c) for c in cfg["channels"])
        self.config = c = CNNConfig(**cfg)
        if len(c.channels) != 3 or c.n_mfcc < 8 or c.frames < 8 or c.n_classes < 2:
            raise ParameterError(f"bad cnn config {c}: need 3 channel counts, n_mfcc >= 8, frames >= 8, n_classes >= 2")
        self.norm = MfccNorm(c.n_mfcc)
        blocks, width = [], 1
        for ch in c.channels:
            blocks += [
                nn.Conv2d(width, ch, kernel_size=3, padding="same"),
                nn.BatchNorm2d(ch),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Dropout(c.dropout / 2),
            ]
            width = ch
        self.features = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(c.dropout), nn.Linear(width, c.hidden), nn.ReLU())
        self.out = nn.Sequential(nn.Dropout(c.dropout), nn.Linear(c.hidden, c.n_classes))

    def config_dict(self) -> dict:
        return {**asdict(self.config), "channels": list(self.config.channels)}

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        c = self.config
        assert x.ndim == 3 and x.shape[1] == c.n_mfcc, f"expected (B, {c.n_mfcc}, T), got {tuple(x.shape)}"
        z = self.norm(x).unsqueeze(1)  # (B, 1, n_mfcc, T)
        z = self.features(z)  # (B, 256, n_mfcc/8, T/8)
        z = self.pool(z)  # (B, 256, 1, 1)
        return self.head(z)  # (B, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.embed(x))  # (B, n_classes)
