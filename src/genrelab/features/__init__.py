"""The 57 GTZAN features (the public CSV's layout), MFCC maps, and the tables built from them.

``extract_clip`` and ``mfcc`` run the fused one-STFT engine (:mod:`.engine`), equal to librosa
0.11 (:mod:`.reference`) within float32 rounding; ``extract_table`` runs it over a collection
(cached, resumable, local processes or a Dask cluster); ``prepare`` gives a study its features.
"""

from __future__ import annotations

import numpy as np

from genrelab.errors import ParameterError
from genrelab.features.columns import FEATURE_COLUMNS, SEGMENT_TABLE_COLUMNS, TABLE_COLUMNS
from genrelab.features.maps import MapSet, load_maps, save_maps
from genrelab.features.prepare import FeatureSet, prepare, read_feature_csv
from genrelab.features.table import extract_table

__all__ = [
    "FEATURE_COLUMNS",
    "log_mel",
    "TABLE_COLUMNS",
    "SEGMENT_TABLE_COLUMNS",
    "extract_clip",
    "mfcc",
    "extract_table",
    "MapSet",
    "load_maps",
    "save_maps",
    "FeatureSet",
    "prepare",
    "read_feature_csv",
]


def extract_clip(
    y: np.ndarray,
    *,
    sr: int = 22050,
    n_fft: int = 2048,
    hop_length: int = 512,
    n_mfcc: int = 20,
    device: str = "cpu",
) -> dict[str, float]:
    """The 57 features of ``y [shape=(n,)]`` (mono), keyed and ordered as ``FEATURE_COLUMNS``.

    ``device="cpu"`` runs the numpy/numba engine; any other torch device (``"cuda"``,
    ``"cuda:1"``) runs the PyTorch engine there. Raises AudioError for a silent, non-finite or
    too short signal, ParameterError for an unknown or unavailable device.
    """
    from genrelab.features.engine import extract_features

    if not isinstance(device, str):
        raise ParameterError(f"device={device!r} must be a string such as 'cpu' or 'cuda'")
    if device != "cpu":
        from genrelab.features.engine_torch import extract_features_torch

        return extract_features_torch(y, sr=sr, n_fft=n_fft, hop_length=hop_length, n_mfcc=n_mfcc, device=device)
    feats, _ = extract_features(y, sr=sr, n_fft=n_fft, hop_length=hop_length, n_mfcc=n_mfcc)
    return feats


def mfcc(y: np.ndarray, *, sr: int = 22050, n_fft: int = 2048, hop_length: int = 512, n_mfcc: int = 20) -> np.ndarray:
    """MFCCs ``(n_mfcc, frames)`` float32, equal to ``librosa.feature.mfcc(y=y, sr=sr, ...)``."""
    from genrelab.features.engine import mfcc_frames

    return np.ascontiguousarray(mfcc_frames(y, sr=sr, n_fft=n_fft, hop_length=hop_length, n_mfcc=n_mfcc).T)


def log_mel(y: np.ndarray, *, sr: int = 22050, n_fft: int = 2048, hop_length: int = 512) -> np.ndarray:
    """Log-mel spectrogram ``(128, frames)`` float32 in dB, as ``librosa.power_to_db(melspectrogram(y))``
    (ref 1, top_db 80): the MFCCs of :func:`mfcc` are its first DCT-II coefficients."""
    from genrelab.features.engine import log_mel_frames

    return np.ascontiguousarray(log_mel_frames(y, sr=sr, n_fft=n_fft, hop_length=hop_length).T)
