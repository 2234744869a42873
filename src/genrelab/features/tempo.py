"""The tempo feature: librosa.beat.beat_track's tempo from the log-mel spectrogram.

The onset envelope is librosa.onset.onset_strength's (median over mel bands of the positive
log-mel differences, by :func:`genrelab.features.median.row_medians`), and the estimate librosa.feature.tempo's: the mean autocorrelation
tempogram under a log-normal prior around 120 BPM. The tempogram's ``t`` windows of 8 s are
transformed frame-major with one batched real FFT each way (pocketfft, as scipy.fft runs it)
into this thread's reused buffers, and two compiled passes replace numpy's temporaries; every
step does the same floating-point operations as the numpy expressions it replaces, so the
tempogram has the same bits.
"""

from __future__ import annotations

import numba
import numpy as np

from genrelab.dsp import filters
from genrelab.dsp.fft import irfft_into, next_fast_len, rfft_into
from genrelab.features.median import row_medians
from genrelab.features.scratch import scratch

__all__ = ["tempo_from_log_mel", "tempo_from_onset", "tempogram_mean"]


def tempo_from_log_mel(log_mel: np.ndarray, *, sr: int, n_fft: int, hop_length: int) -> float:
    """librosa.beat.beat_track's tempo for ``log_mel [shape=(t, n_mels)]``: median-aggregated onset
    strength, then feature.tempo's estimate; 0.0 for an envelope without onsets."""
    t = log_mel.shape[0]
    diff = np.maximum(0.0, log_mel[1:] - log_mel[:-1])  # (t-1, n_mels)
    env = row_medians(diff)  # np.median(diff, axis=1)
    pad = 1 + n_fft // (2 * hop_length)
    onset = np.concatenate([np.zeros(pad, dtype=env.dtype), env])[:t]
    if not onset.any():
        return 0.0
    return tempo_from_onset(onset, sr=sr, hop_length=hop_length)


def tempo_from_onset(
    onset: np.ndarray,
    *,
    sr: int,
    hop_length: int,
    start_bpm: float = 120.0,
    std_bpm: float = 1.0,
    ac_size: float = 8.0,
    max_tempo: float = 320.0,
) -> float:
    """librosa.feature.tempo(onset_envelope=onset) with the default prior, for ``onset [shape=(t,)]``."""
    win = int(ac_size * sr) // hop_length  # librosa.time_to_frames(ac_size)
    tg = tempogram_mean(onset, win)
    bpms = np.empty(win)
    bpms[0] = np.inf
    bpms[1:] = 60.0 * sr / (hop_length * np.arange(1.0, win))
    with np.errstate(divide="ignore"):
        logprior = -0.5 * ((np.log2(bpms) - np.log2(start_bpm)) / std_bpm) ** 2
    logprior[: int(np.argmax(bpms < max_tempo))] = -np.inf
    return float(bpms[int(np.argmax(np.log1p(1e6 * tg) + logprior))])


def tempogram_mean(onset: np.ndarray, win: int) -> np.ndarray:
    """Mean over frames of librosa.feature.tempogram(onset_envelope=onset, win_length=win) as this
    package computes it (in ``onset``'s precision, float32 or float64; other dtypes are taken as
    float64): ``(win,)``.

    Equal, bit for bit, to ``np.mean(ac / peak, axis=0)`` with ``x = frames * hann``,
    ``ac = irfft(|rfft(x, n_pad)|^2)[:, :win]`` and ``peak`` each row's largest ``|ac|`` (1 below tiny).
    """
    onset = np.asarray(onset)
    if onset.dtype not in (np.float32, np.float64):
        onset = onset.astype(np.float64)
    n = onset.shape[0]
    half = win // 2
    padded = np.pad(onset, (half, half), mode="linear_ramp", end_values=(0, 0))
    frames = np.lib.stride_tricks.sliding_window_view(padded, win)[:n]  # (n, win)
    n_pad = next_fast_len(2 * win - 1)
    dt = onset.dtype
    x = scratch("tempo_x", (n, n_pad), dt)  # the windows, zero-padded to n_pad
    np.multiply(frames, filters.hann(win, dtype=np.float64).astype(dt), out=x[:, :win])
    x[:, win:] = 0
    spec = rfft_into(x, scratch("tempo_spec", (n, n_pad // 2 + 1), np.result_type(dt, np.complex64)))
    _power_in_place(spec.view(dt))
    ac = irfft_into(spec, n_pad, scratch("tempo_ac", (n, n_pad), dt))
    total = _normalised_row_sum(ac, win, dt.type(np.finfo(dt).tiny), dt.type(1.0))
    total /= n  # as np.mean divides its sum: in the sum's dtype
    return total


@numba.njit(cache=True, nogil=True)
def _power_in_place(spec):  # pragma: no cover - compiled
    """``|z|^2`` of each spectrum value, as a complex number with imaginary part 0, in place:
    ``spec`` is a complex ``(n, m)`` array viewed as real ``(n, 2m)`` (real, imaginary interleaved)."""
    n, m2 = spec.shape
    zero = spec.dtype.type(0)
    for i in range(n):
        row = spec[i]
        for j in range(m2 // 2):
            re = row[2 * j]
            im = row[2 * j + 1]
            row[2 * j] = re * re + im * im
            row[2 * j + 1] = zero


@numba.njit(cache=True, nogil=True, error_model="numpy")  # no zero-division check: the loops vectorise
def _normalised_row_sum(ac, win, tiny, one):  # pragma: no cover - compiled
    """``sum_i ac[i, :win] / peak_i`` (``(win,)``, in ``ac``'s dtype, rows added in order as numpy's
    reduction over axis 0 adds them), ``peak_i`` = the largest ``|ac[i, :win]|``, or ``one`` below ``tiny``
    (NaN for a row with a NaN, as ``np.max`` gives)."""
    n = ac.shape[0]
    total = np.zeros(win, dtype=ac.dtype)
    for i in range(n):
        row = ac[i, :win]
        peak = one - one  # zero, in ac's dtype (numba would make 0 * one a float64)
        nan = False
        for j in range(win):
            a = abs(row[j])
            peak = a if a > peak else peak
            nan |= a != a
        peak = one if peak < tiny else peak
        peak = peak if not nan else (one - one) / (one - one)  # NaN, as numpy's max propagates it
        for j in range(win):
            total[j] += row[j] / peak
    return total
