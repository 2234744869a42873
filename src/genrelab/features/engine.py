"""The fused extractor: one STFT per signal feeds all 57 GTZAN features.

The STFT is taken once, frame-major ``(t, 1 + n_fft//2)``, in blocks of 64 frames that stay
in cache: framing and windowing into the input buffer of an FFTW plan (:mod:`genrelab.dsp.fft`;
27 % faster than pocketfft here), its real FFT into the plan's output buffer, then
one compiled pass per block turns the spectrum into power and magnitude spectra,
centroid/bandwidth/rolloff, the mel spectrum (librosa's banded filter bank, each band over
the run of bins where it is non-zero) and the peaks of librosa's tuning estimate. Chroma uses
librosa's filter bank at the estimated tuning.
The log-mel spectrogram feeds both the MFCCs and the onset envelope for tempo
(:mod:`genrelab.features.tempo`). RMS and ZCR are time-domain, as librosa computes them from
``y``. Harmonic/percussive separation (:mod:`genrelab.features.hpss`) median-filters the same
magnitude spectrogram with exact compiled medians (:mod:`genrelab.features.median`) and needs
one iSTFT (percussive = ``y`` - harmonic).

Precision: the FFT runs in float32 unless a frame's spectrum sits so deep (pure tones) that
float32 rounding could move its centroid or bandwidth by 1e-4; then the clip is redone in
float64, as librosa computes every STFT. Every step reproduces librosa 0.11's defaults;
``tests/test_features_engine.py`` checks each feature against :mod:`genrelab.features.reference`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from genrelab.constants import TINY32
from genrelab.dsp import filters
from genrelab.dsp.fft import frame_fft, raw_plans, rfft_into
from genrelab.errors import AudioError
from genrelab.features import _kernels as K
from genrelab.features.columns import feature_columns
from genrelab.features.hpss import hpss_waveforms
from genrelab.features.params import check_params
from genrelab.features.scratch import scratch
from genrelab.features.stft_blocks import fftw_spectral_blocks
from genrelab.features.tempo import tempo_from_log_mel
from genrelab.threads import on_one_blas_thread

_BLOCK = 64  # frames per block of the spectral pass (input, spectrum and power stay in cache;
# 64 measured ~2 % faster than 32 on 30 s clips, fewer FFT calls at ~8 us of overhead each)
_TAIL = 16  # frames per block for the last frames of a signal (FFTW plans have a fixed row count)
_FUSED_ROWS = 16  # frames per block of the compiled loop (stft_blocks): a block's arrays stay in L2
_FFT_EPS32 = float(np.finfo(np.float32).eps)  # a float32 FFT errs by about eps * log2(n) * rms


def check_signal(y: np.ndarray, n_fft: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise AudioError(f"y must be a mono signal of shape (n,); got shape {y.shape}")
    if y.size < n_fft // 2 + 1:
        raise AudioError(f"signal too short: {y.size} samples (need at least {n_fft // 2 + 1})")
    y = np.ascontiguousarray(y, dtype=np.float32)
    finite, nonzero = K.scan_signal(y)
    if not finite:
        raise AudioError("signal contains NaN or infinite samples")
    if not nonzero:
        raise AudioError("silent: all samples are zero, features are undefined")
    return y


def _window(n_fft: int) -> np.ndarray:
    return filters.hann(n_fft, dtype=np.float32)


def _window64(n_fft: int) -> np.ndarray:
    return filters.hann(n_fft, dtype=np.float64)  # float64, as librosa.stft multiplies


@lru_cache(maxsize=8)
def mel_basis_t(sr: int, n_fft: int) -> np.ndarray:
    """librosa's float32 mel bank, transposed: ``(1 + n_fft // 2, 128)``, C-contiguous."""
    return np.ascontiguousarray(filters.mel_basis(sr, n_fft, 128, dtype=np.float32).T)


@lru_cache(maxsize=8)
def _mel_bands(sr: int, n_fft: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """librosa's mel filter bank as runs: each band's first and end bin, and its weights
    there, concatenated: ``(starts (128,), ends (128,), offsets (128,), weights)`` for K.spectral_pass."""
    basis = mel_basis_t(sr, n_fft)  # (f, 128)
    starts, ends, offsets, chunks, off = [], [], [], [], 0
    for k in range(basis.shape[1]):
        nz = np.flatnonzero(basis[:, k])
        a, b = (int(nz[0]), int(nz[-1]) + 1) if nz.size else (0, 0)
        starts.append(a)
        ends.append(b)
        offsets.append(off)
        chunks.append(basis[a:b, k])
        off += b - a
    as_int = lambda v: np.asarray(v, dtype=np.int64)  # noqa: E731
    return as_int(starts), as_int(ends), as_int(offsets), np.ascontiguousarray(np.concatenate(chunks), dtype=np.float32)


@lru_cache(maxsize=8)
def dct_basis32(n_mels: int, n_mfcc: int) -> np.ndarray:
    """:func:`genrelab.dsp.filters.dct_basis` in float32: ``(n_mels, n_mfcc)``, log-mel @ basis = MFCC."""
    return np.ascontiguousarray(filters.dct_basis(n_mels, n_mfcc).astype(np.float32))


@lru_cache(maxsize=256)
def chroma_basis_t(sr: int, n_fft: int, tuning: float) -> np.ndarray:
    """librosa's chroma bank at ``tuning``, transposed: ``(1 + n_fft // 2, 12)`` float32, C-contiguous."""
    return np.ascontiguousarray(filters.chroma_basis(sr, n_fft, tuning).T)


@lru_cache(maxsize=8)
def fft_freqs(sr: int, n_fft: int) -> np.ndarray:
    return np.fft.rfftfreq(n_fft, d=1.0 / sr)  # (f,) float64, = librosa.fft_frequencies


@lru_cache(maxsize=8)
def _freqs32(sr: int, n_fft: int) -> np.ndarray:
    return fft_freqs(sr, n_fft).astype(np.float32)  # (f,) float32


def stft(y: np.ndarray, *, n_fft: int = 2048, hop_length: int = 512, double: bool = True) -> np.ndarray:
    """librosa's centred, zero-padded Hann STFT, frame-major: ``(t, 1 + n_fft//2)``.

    ``double``: transform in float64 like librosa (complex128 out); else float32 (complex64),
    twice as fast, with a rounding floor ~1e-7 below each frame's level.
    """
    window = _window64(n_fft) if double else _window(n_fft)
    y = np.ascontiguousarray(y, dtype=np.float32)
    t = 1 + y.size // hop_length
    frames = K.windowed_frames(y, n_fft, hop_length, window, 0, t, np.empty((t, n_fft), dtype=window.dtype))
    return rfft_into(frames, np.empty((t, n_fft // 2 + 1), dtype=np.result_type(window.dtype, np.complex64)))


def _power_to_db(S: np.ndarray, top_db: float = 80.0, *, inplace: bool = False) -> np.ndarray:
    """librosa.power_to_db(S, ref=1.0, amin=1e-10, top_db=80.0) for a float32 ``S``: a new
    array, or ``S`` itself overwritten with ``inplace``."""
    log_spec = np.maximum(np.float32(1e-10), S, out=S if inplace else None)
    np.log10(log_spec, out=log_spec)
    log_spec *= np.float32(10.0)
    return np.maximum(log_spec, log_spec.max() - np.float32(top_db), out=log_spec)


def _stats(out: dict[str, float], name: str, x: np.ndarray) -> None:
    out[f"{name}_mean"], out[f"{name}_var"] = K.mean_var(x)


@dataclass
class _Spectra:
    D: np.ndarray | None  # (t, f) complex64 or complex128
    power: np.ndarray  # (t, f) float32
    mag: np.ndarray | None  # (t, f) float32
    log_mel: np.ndarray  # (t, 128) float32, power_to_db of the mel spectrogram
    centroid: np.ndarray  # (t,)
    bandwidth: np.ndarray  # (t,)
    rolloff: np.ndarray  # (t,)
    tuning: float


def _spectra(
    y: np.ndarray, *, sr: int, n_fft: int, hop_length: int, double: bool = False, keep: bool = True
) -> _Spectra:
    """All spectral quantities of ``y`` from one STFT.

    The STFT runs in float32 unless its rounding floor could move a frame's centroid or
    bandwidth by more than 1e-4 (spectra with a deep floor: pure tones, synthetic signals);
    then it is redone in float64, as librosa computes it. Without ``keep`` the complex STFT
    and the magnitudes (needed by HPSS only) are not kept (``D``/``mag`` None). ``D``,
    ``power`` and ``mag`` are this thread's scratch arrays: valid until its next call.
    """
    t, f = 1 + y.size // hop_length, n_fft // 2 + 1
    freqs = fft_freqs(sr, n_fft)
    band = np.flatnonzero((freqs >= 150.0) & (freqs < min(4000.0, sr / 2)))
    lo, hi = (max(int(band[0]), 1), min(int(band[-1]) + 1, f - 1)) if band.size else (1, 1)
    # the big arrays are per-thread scratch: valid until this thread's next call
    power = scratch("power", (t, f), np.float32)
    mag = scratch("mag", (t, f), np.float32) if keep else np.empty((1, f), dtype=np.float32)
    centroid, bandwidth, rolloff = np.empty(t), np.empty(t), np.empty(t)
    pitches = scratch("pitches", (t * max(hi - lo, 0),), np.float64)
    pmags = scratch("pmags", (t * max(hi - lo, 0),), np.float32)
    fft_eps = 0.0 if double else _FFT_EPS32 * np.log2(n_fft)
    window = _window64(n_fft) if double else _window(n_fft)
    D = scratch("D", (t, f), np.complex128 if double else np.complex64) if keep else None
    if double:
        frames = np.empty((min(t, _BLOCK), n_fft), dtype=window.dtype)
        spec = np.empty((min(t, _BLOCK), f), dtype=np.complex128)
    freqs32 = _freqs32(sr, n_fft)
    mel_bands = _mel_bands(sr, n_fft)
    mel = scratch("mel", (t, mel_bands[0].shape[0]), np.float32)
    n, limited = 0, False
    spectral_args = (freqs32, 0.85, TINY32, lo, hi, float(sr) / n_fft, fft_eps)  # K.spectral_pass's settings
    plan = None if double else frame_fft(n_fft, _FUSED_ROWS)
    raw = None if plan is None or not frame_fft(n_fft, _BLOCK).fftw else raw_plans(plan)
    if raw is not None:  # the whole loop below in one compiled call, on 16-frame blocks
        assert plan is not None
        n, limited = fftw_spectral_blocks(
            y,
            n_fft,
            hop_length,
            window,
            t,
            plan.frames,
            plan.spectra,
            (raw.execute_r2c, raw.r2c),
            D if keep else np.empty((0, f), dtype=np.complex64),
            keep,
            spectral_args,
            power,
            mag,
            centroid,
            bandwidth,
            rolloff,
            (pitches, pmags, *mel_bands, mel),
        )
    # blocks of frames: framing, FFT and the spectral pass stay in cache (the float64 and pocketfft path;
    # stft_blocks.fftw_spectral_blocks is this loop compiled: the two change together)
    b0 = t if raw is not None else 0
    while b0 < t:
        if double:
            b1 = min(b0 + _BLOCK, t)
            Db = rfft_into(K.windowed_frames(y, n_fft, hop_length, window, b0, b1, frames), spec[: b1 - b0])
        else:  # FFTW on its own aligned buffers: full blocks of _BLOCK frames, the tail in blocks of _TAIL
            plan = frame_fft(n_fft, _BLOCK if t - b0 >= _BLOCK else _TAIL)
            b1 = min(b0 + plan.rows, t)
            K.windowed_frames(y, n_fft, hop_length, window, b0, b1, plan.frames)
            Db = plan.forward()[: b1 - b0]
        if keep:
            D[b0:b1] = Db
        n, lim = K.spectral_pass(
            Db,
            *spectral_args,
            power[b0:b1],
            mag[b0:b1] if keep else mag,
            centroid[b0:b1],
            bandwidth[b0:b1],
            rolloff[b0:b1],
            pitches,
            pmags,
            n,
            *mel_bands,
            mel[b0:b1],
        )
        limited = limited or lim
        b0 = b1
    if limited:
        return _spectra(y, sr=sr, n_fft=n_fft, hop_length=hop_length, double=True, keep=keep)
    log_mel = _power_to_db(mel, inplace=True)  # scratch as well
    return _Spectra(
        D=D,
        power=power,
        mag=mag if keep else None,
        log_mel=log_mel,
        centroid=centroid,
        bandwidth=bandwidth,
        rolloff=rolloff,
        tuning=_tuning_of(pitches[:n], pmags[:n]),
    )


def _tuning_of(pitches: np.ndarray, pmags: np.ndarray) -> float:
    """librosa.estimate_tuning from the spectral pass's peaks: pitches ``(n,)`` whose magnitude
    ``pmags (n,)`` reaches the median peak magnitude; 0.0 without peaks."""
    if not pitches.size:
        return 0.0
    sel = pitches[pmags >= np.median(pmags)]
    return _pitch_tuning(sel) if sel.size else 0.0


@lru_cache(maxsize=1)
def _tuning_edges() -> np.ndarray:
    return np.linspace(-0.5, 0.5, 101)  # librosa.pitch_tuning's bins at resolution=0.01


def warm_banks(sr: int = 22050, n_fft: int = 2048, hop_length: int = 512) -> int:
    """Compute (or find) every filter bank and window the engine can ask for at these settings, so
    that they are all in the bank cache (:mod:`genrelab.dsp.banks`): the mel bank, the Hann windows
    of the STFT (both precisions) and of the tempo estimate, and the chroma bank at each of the
    100 tunings :func:`_pitch_tuning` can return. Returns the number of arrays."""
    check_params(sr=sr, n_fft=n_fft, hop_length=hop_length, n_mfcc=1)
    mel_basis_t(sr, n_fft)
    _window(n_fft)
    _window64(n_fft)
    filters.hann(int(8.0 * sr) // hop_length, dtype=np.float64)  # the tempo estimate's window
    filters.dct_basis(128, 20)
    tunings = {round(float(edge), 2) for edge in _tuning_edges()[:-1]} | {0.0}
    for tuning in tunings:
        chroma_basis_t(sr, n_fft, tuning)
    return 5 + len(tunings)


def _pitch_tuning(freqs: np.ndarray) -> float:
    """librosa.pitch_tuning(freqs, resolution=0.01, bins_per_octave=12) for positive ``freqs (n,)``,
    with the same arithmetic, and its histogram counted by one compiled pass."""
    residual = np.mod(12 * np.log2(freqs / (440.0 / 16)), 1.0)  # 12 * librosa.hz_to_octs(freqs)
    residual[residual >= 0.5] -= 1.0
    edges = _tuning_edges()
    return float(edges[int(np.argmax(K.edge_counts(residual, edges)))])


@on_one_blas_thread
def log_mel_frames(y: np.ndarray, *, sr: int = 22050, n_fft: int = 2048, hop_length: int = 512) -> np.ndarray:
    """Log-mel ``(t, 128)`` float32, frame-major: ``power_to_db`` (ref 1, top_db 80) of the mel power,
    the exact array the MFCCs are the DCT of (``log_mel @ dct_basis32(128, n_mfcc)``)."""
    check_params(sr=sr, n_fft=n_fft, hop_length=hop_length, n_mfcc=1)
    y = check_signal(y, n_fft)
    return _spectra(y, sr=sr, n_fft=n_fft, hop_length=hop_length, keep=False).log_mel.copy()  # scratch: copy


@on_one_blas_thread
def mfcc_frames(
    y: np.ndarray, *, sr: int = 22050, n_fft: int = 2048, hop_length: int = 512, n_mfcc: int = 20
) -> np.ndarray:
    """MFCCs ``(t, n_mfcc)`` float32, frame-major (the transpose of librosa.feature.mfcc)."""
    check_params(sr=sr, n_fft=n_fft, hop_length=hop_length, n_mfcc=n_mfcc)
    y = check_signal(y, n_fft)
    sp = _spectra(y, sr=sr, n_fft=n_fft, hop_length=hop_length, keep=False)
    return sp.log_mel @ dct_basis32(sp.log_mel.shape[1], n_mfcc)


@on_one_blas_thread
def extract_features(
    y: np.ndarray,
    *,
    sr: int = 22050,
    n_fft: int = 2048,
    hop_length: int = 512,
    n_mfcc: int = 20,
    subset: bool = False,
    with_mfcc: bool = False,
) -> tuple[dict[str, float], np.ndarray | None]:
    """The features of ``y [shape=(n,)]`` in CSV order, and its MFCCs ``(n_mfcc, t)`` if asked.

    With ``subset`` the HPSS (``harmony_*``, ``perceptr_*``) and ``tempo`` features are skipped.
    Raises AudioError for a silent, too short or non-finite signal.
    """
    check_params(sr=sr, n_fft=n_fft, hop_length=hop_length, n_mfcc=n_mfcc)
    y = check_signal(y, n_fft)
    sp = _spectra(y, sr=sr, n_fft=n_fft, hop_length=hop_length, keep=not subset)
    t = sp.power.shape[0]
    out: dict[str, float] = {}

    chroma = sp.power @ chroma_basis_t(sr, n_fft, round(sp.tuning, 2))  # (t, 12), >= 0
    out["chroma_stft_mean"], out["chroma_stft_var"] = K.chroma_stats(chroma, TINY32)
    rms, zcr = K.rms_zcr(y, t, n_fft, hop_length, 1e-10)
    _stats(out, "rms", rms)
    _stats(out, "spectral_centroid", sp.centroid)
    _stats(out, "spectral_bandwidth", sp.bandwidth)
    _stats(out, "rolloff", sp.rolloff)
    _stats(out, "zero_crossing_rate", zcr)

    if not subset:
        harmonic, percussive = hpss_waveforms(y, sp.D, sp.mag, hop_length=hop_length)
        _stats(out, "harmony", harmonic)
        _stats(out, "perceptr", percussive)
        out["tempo"] = tempo_from_log_mel(sp.log_mel, sr=sr, n_fft=n_fft, hop_length=hop_length)

    m = sp.log_mel @ dct_basis32(sp.log_mel.shape[1], n_mfcc)  # (t, n_mfcc)
    means, variances = K.column_stats(m)
    for k in range(n_mfcc):
        out[f"mfcc{k + 1}_mean"] = float(means[k])
        out[f"mfcc{k + 1}_var"] = float(variances[k])
    ordered = {c: out[c] for c in feature_columns(n_mfcc) if c in out}
    return ordered, (np.ascontiguousarray(m.T) if with_mfcc else None)
