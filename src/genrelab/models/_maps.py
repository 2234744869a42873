"""Shared piece of the MFCC-map models: per-coefficient normalisation held in buffers."""

from __future__ import annotations

import torch
from torch import nn


class MfccNorm(nn.Module):
    """``(B, n_mfcc, T)`` raw MFCCs -> standardised per coefficient with stored mean/std.

    Differentiable in its input, so gradients reach raw MFCC values (recreation guidance).
    """

    def __init__(self, n_mfcc: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_mfcc, 1))
        self.register_buffer("std", torch.ones(n_mfcc, 1))

    def fit(self, maps: torch.Tensor) -> None:
        """Set mean/std from training maps ``(N, n_mfcc, T)``."""
        self.mean.copy_(maps.mean(dim=(0, 2)).unsqueeze(1))
        self.std.copy_(maps.std(dim=(0, 2)).clamp_min(1e-6).unsqueeze(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std
