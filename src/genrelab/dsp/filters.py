"""Filter banks, transforms and windows shared by the feature engine and the inversion.

Each is defined here once and cached in memory; arrays are read-only. The ones that come from
librosa or scipy are also kept on disk (:mod:`genrelab.dsp.banks`), so a process that finds
them there imports neither. The dtypes follow the callers'
needs exactly (the engine works in float32, the mel inversion in float64), because the
features and the inverted audio are kept bit-identical to librosa-equal reference runs.
"""

from __future__ import annotations

import functools

import numpy as np

from genrelab.dsp.banks import cached_array

__all__ = ["mel_basis", "chroma_basis", "dct_basis", "hann", "window_sumsquare"]


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


@functools.lru_cache(maxsize=16)
def mel_basis(sr: int, n_fft: int, n_mels: int = 128, *, dtype: type = np.float32) -> np.ndarray:
    """librosa's Slaney mel filter bank ``[shape=(n_mels, 1 + n_fft // 2)]`` in ``dtype``.

    ``librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, dtype=dtype)``: float32 is not the
    float64 bank rounded (librosa normalises in the output dtype), so the dtype is part of the key.
    """

    def compute() -> np.ndarray:
        import librosa

        return librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, dtype=dtype)

    params = {"sr": int(sr), "n_fft": int(n_fft), "n_mels": int(n_mels), "dtype": np.dtype(dtype).name}
    a = cached_array("mel", params, compute, shape=(n_mels, 1 + n_fft // 2), dtype=dtype)
    return _frozen(np.ascontiguousarray(a))


@functools.lru_cache(maxsize=256)
def chroma_basis(sr: int, n_fft: int, tuning: float) -> np.ndarray:
    """librosa's chroma filter bank ``[shape=(12, 1 + n_fft // 2)]`` float32 at ``tuning`` (fractions
    of a bin): ``librosa.filters.chroma(sr=sr, n_fft=n_fft, tuning=tuning)``."""

    def compute() -> np.ndarray:
        import librosa

        return librosa.filters.chroma(sr=sr, n_fft=n_fft, tuning=tuning)

    params = {"sr": int(sr), "n_fft": int(n_fft), "tuning": float(tuning)}
    return _frozen(cached_array("chroma", params, compute, shape=(12, 1 + n_fft // 2), dtype=np.float32))


@functools.lru_cache(maxsize=16)
def dct_basis(n_mels: int, n_mfcc: int) -> np.ndarray:
    """Orthonormal DCT-II basis as columns, ``[shape=(n_mels, n_mfcc)]`` float64.

    ``log_mel (t, n_mels) @ basis`` gives MFCCs (librosa's ``dct(type=2, norm="ortho")[:n_mfcc]``);
    ``basis @ mfcc (n_mfcc, t)`` is the inverse DCT of the zero-padded coefficients
    (``scipy.fft.idct(..., n=n_mels)``), since the transform is orthonormal.
    """
    if not 0 < n_mfcc <= n_mels:
        from genrelab.errors import ParameterError

        raise ParameterError(f"n_mfcc={n_mfcc} must be between 1 and n_mels={n_mels}")

    def compute() -> np.ndarray:
        import scipy.fft

        return scipy.fft.idct(np.eye(n_mfcc), axis=0, type=2, norm="ortho", n=n_mels)

    params = {"n_mels": int(n_mels), "n_mfcc": int(n_mfcc)}
    return _frozen(cached_array("dct", params, compute, shape=(int(n_mels), int(n_mfcc)), dtype=np.float64))


@functools.lru_cache(maxsize=16)
def hann(n_fft: int, *, dtype: type = np.float32) -> np.ndarray:
    """Periodic Hann window ``(n_fft,)`` as librosa's STFT uses it (``scipy.signal.get_window`` in
    float64, cast to ``dtype``)."""

    def compute() -> np.ndarray:
        import scipy.signal

        return scipy.signal.get_window("hann", n_fft, fftbins=True).astype(dtype)

    params = {"n": int(n_fft), "dtype": np.dtype(dtype).name}
    return _frozen(cached_array("hann", params, compute, shape=(int(n_fft),), dtype=dtype))


def window_sumsquare(window: np.ndarray, *, n_frames: int, hop_length: int, dtype: type = np.float64) -> np.ndarray:
    """Overlap-added squared window of ``n_frames`` frames: ``[shape=(n_fft + hop_length * (n_frames - 1),)]``.

    Summed in ``dtype``, frame by frame in time order (``ceil(n_fft / hop)`` shifted copies of the
    frame-periodic sum, not one add per frame). The iSTFT of ``center=True`` frames divides by
    ``result[n_fft // 2 : n_fft // 2 + length]``.
    """
    n_fft = window.size
    w2 = np.asarray(window).astype(dtype) ** 2
    k = -(-n_fft // hop_length)  # every hop-sized block of the output is covered by at most k frames
    env = np.zeros((n_frames + k) * hop_length, dtype=dtype)
    for j in reversed(range(k)):  # the earliest frame's piece first, as a frame-by-frame sum adds it
        piece = w2[j * hop_length : (j + 1) * hop_length]
        env[j * hop_length : j * hop_length + n_frames * hop_length].reshape(n_frames, hop_length)[:, : piece.size] += (
            piece
        )
    return env[: n_fft + hop_length * (n_frames - 1)]
