"""The 57 GTZAN features computed the way the public CSV was made: one librosa call per feature.

This is the reference the fused engine (:mod:`genrelab.features.engine`) is tested against,
and path (a) of ``bench/extract.py``. Every call uses librosa's defaults (sr 22050, n_fft 2048,
hop 512, 20 MFCCs) on the whole signal, as the notebooks that produced
``features_30_sec.csv`` did; each call recomputes its own STFT.
"""

from __future__ import annotations

import numpy as np

from genrelab.features.columns import feature_columns

#: Feature groups of the source study's subset (no HPSS, no tempo).
SUBSET_GROUPS: tuple[str, ...] = (
    "chroma_stft",
    "rms",
    "spectral_centroid",
    "spectral_bandwidth",
    "rolloff",
    "zero_crossing_rate",
    "mfcc",
)


def _stats(out: dict[str, float], name: str, x: np.ndarray) -> None:
    out[f"{name}_mean"] = float(np.mean(x))
    out[f"{name}_var"] = float(np.var(x))


def reference_features(
    y: np.ndarray,
    *,
    sr: int = 22050,
    n_fft: int = 2048,
    hop_length: int = 512,
    n_mfcc: int = 20,
    subset: bool = False,
) -> dict[str, float]:
    """librosa's per-feature calls on ``y [shape=(n,)]``; the 57 features in CSV order.

    With ``subset`` only the source study's features (chroma, RMS, centroid, bandwidth,
    rolloff, ZCR, MFCC) are computed; ``harmony_*``, ``perceptr_*`` and ``tempo`` are omitted.
    """
    import librosa

    y = np.asarray(y, dtype=np.float32)
    kw = dict(n_fft=n_fft, hop_length=hop_length)
    out: dict[str, float] = {}
    _stats(out, "chroma_stft", librosa.feature.chroma_stft(y=y, sr=sr, **kw))
    _stats(out, "rms", librosa.feature.rms(y=y, frame_length=n_fft, hop_length=hop_length))
    _stats(out, "spectral_centroid", librosa.feature.spectral_centroid(y=y, sr=sr, **kw))
    _stats(out, "spectral_bandwidth", librosa.feature.spectral_bandwidth(y=y, sr=sr, **kw))
    _stats(out, "rolloff", librosa.feature.spectral_rolloff(y=y, sr=sr, **kw))
    _stats(out, "zero_crossing_rate", librosa.feature.zero_crossing_rate(y, frame_length=n_fft, hop_length=hop_length))
    if not subset:
        harmonic, percussive = librosa.effects.hpss(y, n_fft=n_fft, hop_length=hop_length)
        _stats(out, "harmony", harmonic)
        _stats(out, "perceptr", percussive)
        tempo, _ = librosa.beat.beat_track(y=y, sr=sr, hop_length=hop_length)
        out["tempo"] = float(np.atleast_1d(tempo)[0])
    m = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=n_mfcc, **kw)
    for k in range(n_mfcc):
        _stats(out, f"mfcc{k + 1}", m[k])
    return {c: out[c] for c in feature_columns(n_mfcc) if c in out}


def shared_stft_features(
    y: np.ndarray,
    *,
    sr: int = 22050,
    n_fft: int = 2048,
    hop_length: int = 512,
    n_mfcc: int = 20,
    subset: bool = False,
) -> dict[str, float]:
    """The same features with librosa, but one STFT shared by every spectral call.

    Path (b) of the benchmark: what a careful librosa user writes. Time-domain features
    (RMS, ZCR) stay time-domain, as librosa computes them from ``y``.
    """
    import librosa

    y = np.asarray(y, dtype=np.float32)
    D = librosa.stft(y, n_fft=n_fft, hop_length=hop_length)  # (1 + n_fft//2, t) complex
    mag = np.abs(D)
    power = mag**2
    out: dict[str, float] = {}
    _stats(out, "chroma_stft", librosa.feature.chroma_stft(S=power, sr=sr, n_fft=n_fft))
    _stats(out, "rms", librosa.feature.rms(y=y, frame_length=n_fft, hop_length=hop_length))
    _stats(out, "spectral_centroid", librosa.feature.spectral_centroid(S=mag, sr=sr, n_fft=n_fft))
    _stats(out, "spectral_bandwidth", librosa.feature.spectral_bandwidth(S=mag, sr=sr, n_fft=n_fft))
    _stats(out, "rolloff", librosa.feature.spectral_rolloff(S=mag, sr=sr, n_fft=n_fft))
    _stats(out, "zero_crossing_rate", librosa.feature.zero_crossing_rate(y, frame_length=n_fft, hop_length=hop_length))
    mel = librosa.feature.melspectrogram(S=power, sr=sr)
    if not subset:
        H, P = librosa.decompose.hpss(D)
        _stats(out, "harmony", librosa.istft(H, hop_length=hop_length, length=len(y), dtype=y.dtype))
        _stats(out, "perceptr", librosa.istft(P, hop_length=hop_length, length=len(y), dtype=y.dtype))
        onset = librosa.onset.onset_strength(
            S=librosa.power_to_db(mel), sr=sr, hop_length=hop_length, aggregate=np.median
        )
        out["tempo"] = float(
            np.atleast_1d(librosa.feature.tempo(onset_envelope=onset, sr=sr, hop_length=hop_length))[0]
        )
    m = librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=n_mfcc)
    for k in range(n_mfcc):
        _stats(out, f"mfcc{k + 1}", m[k])
    return {c: out[c] for c in feature_columns(n_mfcc) if c in out}
