"""Argument checks shared by every module: one plain sentence naming what was given."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from genrelab.errors import ParameterError

if TYPE_CHECKING:
    import torch

__all__ = ["check_positive_int", "torch_device"]


def check_positive_int(**params: object) -> None:
    """ParameterError unless every keyword's value is an integer > 0 (bools are not integers here)."""
    for name, value in params.items():
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
            raise ParameterError(f"{name}={value!r} must be a positive integer")


def torch_device(device: str) -> "torch.device":
    """``torch.device(device)`` after checking a tensor can live there; ParameterError otherwise."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise ParameterError(f"device={device!r} is not usable here ({str(exc).splitlines()[0]})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ParameterError(f"device={device!r} is not usable here: CUDA is not available here; use 'cpu'")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ParameterError(f"device={device!r} is not usable here: MPS is not available here; use 'cpu'")
    try:
        torch.empty(0, device=dev)
    except (RuntimeError, TypeError, ValueError, AssertionError) as exc:
        raise ParameterError(f"device={device!r} is not usable here ({str(exc).splitlines()[0]})") from None
    return dev
