"""Motion and diversity measures that punish a generator emitting one class prototype.

A recreated clip can carry its genre's average timbre and still be a frozen drone; these
numbers look at what such a clip lacks: change from frame to frame (:func:`frame_change`), a
pulse in the onset-strength envelope (:func:`beat_band`, :func:`onset_autocorr_peak`), and
variety between clips of one genre (:func:`diversity`, :func:`grouped_diversity`).
:func:`ratios` turns generated vs real values into generated/real ratios (1 = like real).

All functions take numpy arrays, return floats or float64 arrays, and raise
:class:`~genrelab.errors.ParameterError` for unusable inputs.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from genrelab.errors import ParameterError

__all__ = [
    "frame_change", "onset_envelope", "modulation_spectrum", "beat_band", "onset_autocorr_peak",
    "clip_summary", "diversity", "grouped_diversity", "audio_motion", "ratios", "BEAT_BAND",
]

BEAT_BAND: tuple[float, float] = (0.5, 10.0)  # Hz: 30-600 events per minute, beats and their subdivisions


def frame_change(mfcc: np.ndarray) -> np.ndarray:
    """Mean absolute frame-to-frame change of MFCC maps.

    ``mfcc (..., n_mfcc, T)`` with ``T >= 2`` -> ``(...)`` float64 (0-d for one map): the mean,
    over coefficients and the ``T - 1`` steps, of ``|x[:, t + 1] - x[:, t]|`` (L1 per
    coefficient, in the map's units, e.g. dB for MFCCs). A constant map gives 0.
    """
    x = np.asarray(mfcc, dtype=np.float64)
    if x.ndim < 2 or x.shape[-1] < 2:
        raise ParameterError(f"mfcc has shape {x.shape}; expected (..., n_mfcc, frames) with at least 2 frames")
    return np.abs(np.diff(x, axis=-1)).mean(axis=(-2, -1))


def onset_envelope(y: np.ndarray, sr: int, *, hop_length: int = 512) -> np.ndarray:
    """Onset-strength envelope of ``y (n,)``: ``(frames,)`` float64 (librosa.onset.onset_strength)."""
    import librosa

    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1 or y.size < 2048:
        raise ParameterError(f"audio has shape {y.shape}; expected one mono signal of at least 2048 samples")
    if not np.all(np.isfinite(y)):
        raise ParameterError("audio contains NaN or infinite samples")
    return np.asarray(librosa.onset.onset_strength(y=y, sr=sr, hop_length=hop_length), dtype=np.float64)


def modulation_spectrum(env: np.ndarray, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Power spectrum of the mean-removed envelope ``env (frames,)`` sampled at ``rate`` Hz.

    Hann-windowed, zero-padded to at least 8x its length (a fine frequency grid for the peak).
    Returns ``(freqs (K,), power (K,))`` in Hz and arbitrary power units.
    """
    e = np.asarray(env, dtype=np.float64)
    if e.ndim != 1 or e.size < 4:
        raise ParameterError(f"envelope has shape {e.shape}; expected (frames,) with at least 4 frames")
    e = (e - e.mean()) * np.hanning(e.size)
    n = 1 << int(np.ceil(np.log2(8 * e.size)))
    return np.fft.rfftfreq(n, d=1.0 / rate), np.abs(np.fft.rfft(e, n=n)) ** 2


def beat_band(y: np.ndarray, sr: int, *, hop_length: int = 512,
              band: tuple[float, float] = BEAT_BAND) -> tuple[float, float]:
    """Beat-band share and peak modulation frequency of ``y (n,)``.

    The onset-strength envelope (frame rate ``sr / hop_length``) is mean-removed; of its power
    spectrum (:func:`modulation_spectrum`, DC excluded), ``share`` is the part between
    ``band[0]`` and ``band[1]`` Hz over the total, in [0, 1]; ``peak_hz`` is the in-band
    frequency ``f`` with the largest harmonic product ``P(f) P(2f) P(3f)`` (harmonic product
    spectrum, Schroeder 1968 / Noll 1969; the harmonics below the envelope's Nyquist rate, as a
    geometric mean). The plain spectral peak is ambiguous for a pulse train, whose power is a
    comb of nearly equal lines at ``f, 2f, 3f, ...`` (a 2 Hz click train peaked at 4 Hz); the
    product picks the comb's fundamental. A flat envelope gives ``(0.0, nan)``.
    """
    lo, hi = band
    if not 0 < lo < hi:
        raise ParameterError(f"band={band} must be two frequencies 0 < low < high in Hz")
    freqs, power = modulation_spectrum(onset_envelope(y, sr, hop_length=hop_length), sr / hop_length)
    power, freqs = power[1:], freqs[1:]
    total = float(power.sum())
    inside = (freqs >= lo) & (freqs <= hi)
    if total <= 1e-20 or not inside.any():
        return 0.0, float("nan")
    share = float(power[inside].sum() / total)
    return share, float(freqs[_harmonic_peak(power, np.flatnonzero(inside))])


def _harmonic_peak(power: np.ndarray, candidates: np.ndarray, harmonics: int = 3) -> int:
    """Index in ``candidates`` (bins of ``power (K,)``, bin ``i`` at frequency ``(i + 1) df``)
    maximising the geometric mean of ``power`` at the candidate's first ``harmonics`` multiples."""
    logp = np.log(power + 1e-30 * max(float(power.max()), 1e-30))
    score = np.empty(candidates.size)
    for j, i in enumerate(candidates):
        bins = [(i + 1) * k - 1 for k in range(1, harmonics + 1) if (i + 1) * k - 1 < power.size]
        score[j] = logp[bins].mean()
    return int(candidates[np.argmax(score)])


def onset_autocorr_peak(y: np.ndarray, sr: int, *, hop_length: int = 512,
                        band: tuple[float, float] = BEAT_BAND) -> tuple[float, float]:
    """Highest normalised autocorrelation of the onset envelope at beat-band lags.

    ``r[k] = sum_t e[t] e[t + k] / sum_t e[t]^2`` of the mean-removed envelope ``e`` (biased
    estimate, so ``r[0] = 1`` and ``|r| <= 1``), maximised over lags whose period lies in
    ``1 / band[1] .. 1 / band[0]`` seconds (0.1-2 s by default, capped at half the clip).
    Returns ``(peak, period_seconds)``; a flat envelope gives ``(0.0, nan)``.
    """
    lo, hi = band
    if not 0 < lo < hi:
        raise ParameterError(f"band={band} must be two frequencies 0 < low < high in Hz")
    e = onset_envelope(y, sr, hop_length=hop_length)
    e = e - e.mean()
    energy = float(e @ e)
    rate = sr / hop_length
    k0, k1 = max(1, int(np.ceil(rate / hi))), min(int(np.floor(rate / lo)), e.size // 2)
    if energy <= 1e-20 or k1 < k0:
        return 0.0, float("nan")
    n = 1 << int(np.ceil(np.log2(2 * e.size)))
    spec = np.fft.rfft(e, n=n)
    r = np.fft.irfft(np.abs(spec) ** 2, n=n)[: e.size] / energy  # (frames,) r[0] = 1
    k = k0 + int(np.argmax(r[k0 : k1 + 1]))
    return float(r[k]), k / rate


def clip_summary(mfcc: np.ndarray) -> np.ndarray:
    """Per-clip summary of MFCC maps ``(n, n_mfcc, T)`` -> ``(n, 2 * n_mfcc)``: mean then std over time."""
    x = np.asarray(mfcc, dtype=np.float64)
    if x.ndim != 3 or x.shape[-1] < 2:
        raise ParameterError(f"mfcc has shape {x.shape}; expected (clips, n_mfcc, frames) with at least 2 frames")
    return np.concatenate([x.mean(axis=-1), x.std(axis=-1)], axis=1)


def diversity(x: np.ndarray, *, scale: np.ndarray | None = None) -> float:
    """Mean pairwise Euclidean distance between the rows of ``x (n, d)`` (n >= 2).

    ``scale (d,)``, when given, divides each column first (e.g. the real clips' std, so that
    no single dimension dominates). Identical rows give 0.
    """
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] < 2:
        raise ParameterError(f"summaries have shape {a.shape}; expected (clips, dims) with at least 2 clips")
    if scale is not None:
        s = np.asarray(scale, dtype=np.float64)
        if s.shape != (a.shape[1],) or np.any(s <= 0):
            raise ParameterError(f"scale has shape {s.shape}; expected ({a.shape[1]},) positive values")
        a = a / s
    d = np.sqrt(np.maximum(((a[:, None, :] - a[None, :, :]) ** 2).sum(-1), 0.0))  # (n, n)
    iu = np.triu_indices(a.shape[0], k=1)
    return float(d[iu].mean())


def grouped_diversity(x: np.ndarray, labels: Sequence[str], *, scale: np.ndarray | None = None) -> dict[str, float]:
    """:func:`diversity` within each label of ``x (n, d)``: ``{label: value}`` (labels with >= 2 rows)."""
    labels = np.asarray(list(labels))
    if len(labels) != len(x):
        raise ParameterError(f"{len(labels)} labels for {len(x)} summaries; they must match")
    return {str(g): diversity(np.asarray(x)[labels == g], scale=scale)
            for g in dict.fromkeys(labels.tolist()) if int(np.sum(labels == g)) >= 2}


def audio_motion(audio: np.ndarray, sr: int, *, hop_length: int = 512) -> dict[str, np.ndarray]:
    """Onset measures per clip of ``audio (n, samples)``: ``{"beat_share", "beat_peak_hz",
    "autocorr_peak", "autocorr_period_s"}``, each ``(n,)`` float64."""
    a = np.asarray(audio)
    if a.ndim != 2:
        raise ParameterError(f"audio has shape {a.shape}; expected (clips, samples)")
    rows = [beat_band(y, sr, hop_length=hop_length) + onset_autocorr_peak(y, sr, hop_length=hop_length) for y in a]
    v = np.asarray(rows, dtype=np.float64).reshape(len(a), 4)
    return {"beat_share": v[:, 0], "beat_peak_hz": v[:, 1], "autocorr_peak": v[:, 2], "autocorr_period_s": v[:, 3]}


def ratios(generated: Mapping[str, float], real: Mapping[str, float]) -> dict[str, float]:
    """``{key: generated[key] / real[key]}`` for the keys both share; nan where real is 0 or not finite."""
    out: dict[str, float] = {}
    for key in generated:
        if key in real:
            g, r = float(generated[key]), float(real[key])
            out[key] = g / r if np.isfinite(r) and r != 0 and np.isfinite(g) else float("nan")
    return out
