"""Audio of the recreation: MFCC -> waveform, MFCC of real clips, peak limiting, wav files."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from genrelab.constants import HOP_LENGTH, N_FFT, N_MFCC, SR


def mfcc_to_audio(
    mfcc: np.ndarray, *, sr: int = SR, n_fft: int = N_FFT, hop_length: int = HOP_LENGTH, device: str = "cpu"
) -> np.ndarray:
    """``(B, n_mfcc, F)`` -> ``(B, (F - 1) * hop_length)`` waveforms (:func:`genrelab.invert.mfcc_to_audio`)."""
    from genrelab.invert import mfcc_to_audio as invert

    return np.asarray(invert(np.asarray(mfcc, np.float32), sr=sr, n_fft=n_fft, hop_length=hop_length, device=device))


def mfcc_of(y: np.ndarray) -> np.ndarray:
    """librosa-identical MFCC ``(20, F)`` of ``y (n,)`` (:func:`genrelab.features.mfcc`)."""
    from genrelab.features import mfcc

    return mfcc(y, sr=SR, n_fft=N_FFT, hop_length=HOP_LENGTH, n_mfcc=N_MFCC)


def limit_peak(y: np.ndarray, *, peak: float = 0.99) -> np.ndarray:
    """Scale ``y (n,)`` down so that max |y| <= ``peak``; quieter audio keeps its level.

    The level an inversion gives is the one the MFCCs (c0) ask for, and the classifiers read
    it: normalising every clip to one peak cut the cnn's share on the recreated audio from
    0.69 to 0.38 (recreate-lstm, synthesised corpus), so clips are only kept from clipping.
    """
    m = float(np.max(np.abs(y))) if y.size else 0.0
    return (y * (peak / m)).astype(np.float32) if m > peak else y.astype(np.float32)


def load_real(path: Path, seconds: float) -> np.ndarray | None:
    """The first ``seconds`` of a real clip ``(n,)``, or None when it is unreadable or shorter than 3 s."""
    from genrelab.audio import load
    from genrelab.errors import AudioError

    try:
        return load(path, sr=SR, duration=seconds, min_duration=3.0)
    except AudioError:
        return None


def save_clips(folder: Path, genre: str, ys: Sequence[np.ndarray], *, source: str) -> list[dict[str, str]]:
    """Write ``<folder>/<genre>.NN.wav`` atomically (removing higher-numbered leftovers); return the file records."""
    from genrelab.audio import save

    out = []
    for old in folder.glob(f"{genre}.[0-9][0-9].wav"):  # clips of an earlier, larger --per-genre
        if int(old.stem.rsplit(".", 1)[1]) >= len(ys):
            old.unlink()
    for i, y in enumerate(ys):
        path = folder / f"{genre}.{i:02d}.wav"
        save(path, y, sr=SR)
        out.append({"source": source, "genre": genre, "file": str(path)})
    return out


__all__ = ["mfcc_to_audio", "mfcc_of", "limit_peak", "load_real", "save_clips"]
