"""The extractor's settings check, importable without the engine (numba) it guards."""

from __future__ import annotations

from genrelab.checks import check_positive_int
from genrelab.errors import ParameterError

__all__ = ["check_params"]


def check_params(*, sr: int, n_fft: int, hop_length: int, n_mfcc: int) -> None:
    """Raise ParameterError for settings outside what the extractor supports."""
    check_positive_int(sr=sr, n_fft=n_fft, hop_length=hop_length, n_mfcc=n_mfcc)
    if n_fft % 2:
        raise ParameterError(f"n_fft={n_fft} must be even")
    if hop_length > n_fft:
        raise ParameterError(f"hop_length={hop_length} must be <= n_fft={n_fft}")
    if n_mfcc > 128:
        raise ParameterError(f"n_mfcc={n_mfcc} must be <= 128 (the number of mel bands)")
