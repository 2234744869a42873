"""Harmonic/percussive separation as librosa.effects.hpss computes it, from the engine's STFT.

Two exact median filters of the magnitude spectrogram (:mod:`genrelab.features.median`: along
time for the harmonic part, along frequency for the percussive part, both frame-major), the
power-2 soft mask and one iSTFT (percussive = ``y`` - harmonic), fused in blocks of frames that
stay in cache: mask, inverse FFT, overlap-add. The mask and the overlap-add are compiled
branch-free so that they vectorise, with the same float32 operations as librosa's expressions
in the same order, so the same bits as whole-array steps.
"""

from __future__ import annotations

from functools import lru_cache

import numba
import numpy as np

from genrelab.constants import TINY32
from genrelab.dsp import filters
from genrelab.dsp.fft import irfft_into
from genrelab.features.median import median_filter_columns, median_filter_rows
from genrelab.features.scratch import scratch

__all__ = ["hpss_waveforms", "istft"]

_BLOCK = 64  # frames per block of mask -> inverse FFT -> overlap-add (~0.5 MB each of spectra and frames)


@lru_cache(maxsize=32)
def _window_sumsquare(n_fft: int, hop: int, n_frames: int) -> np.ndarray:
    return filters.window_sumsquare(
        filters.hann(n_fft, dtype=np.float32), n_frames=n_frames, hop_length=hop, dtype=np.float32
    )


def istft(D: np.ndarray, *, hop_length: int, length: int) -> np.ndarray:
    """Inverse of :func:`genrelab.features.engine.stft` for ``D [shape=(..., t, f)]``, as
    librosa.istft(length=...): ``(..., length)`` float32."""
    n_fft = 2 * (D.shape[-1] - 1)
    lead = D.shape[:-2]
    D3 = np.asarray(D, dtype=np.complex64).reshape(-1, *D.shape[-2:])
    t = D3.shape[1]
    frames = irfft_into(D3, n_fft, scratch("frames", (D3.shape[0], t, n_fft), np.float32))  # (c, t, n_fft)
    out = overlap_add_window(
        frames,
        filters.hann(n_fft, dtype=np.float32),
        hop_length,
        _window_sumsquare(n_fft, hop_length, t),
        n_fft // 2,
        length,
    )
    return out.reshape(*lead, length)


def hpss_waveforms(
    y: np.ndarray, D: np.ndarray, mag: np.ndarray, *, hop_length: int, kernel_size: int = 31
) -> tuple[np.ndarray, np.ndarray]:
    """librosa.effects.hpss: the harmonic and percussive waveforms, each ``(n,)`` float32.

    The masks sum to one wherever either median is non-zero, so the percussive waveform is
    ``y - harmonic`` (the iSTFT is linear and reconstructs ``y``); where both medians vanish
    under a non-zero bin, the percussive part is inverted explicitly instead.
    """
    # harm along time (axis 0), perc along frequency (axis 1), both frame-major (t, f)
    harm = median_filter_columns(mag, size=kernel_size, out=scratch("harm", mag.shape, np.float32))
    perc = median_filter_rows(mag, size=kernel_size, out=scratch("perc", mag.shape, np.float32))
    Dv = np.ascontiguousarray(D).view(D.real.dtype)  # (t, 2f): complex64, or complex128 on the float64 path
    yh = _harmonic_waveform(Dv, harm, perc, hop_length=hop_length, length=y.size)
    if yh is not None:
        return yh, y - yh
    Dh = np.empty(D.shape, dtype=np.complex64)
    Dp = np.empty(D.shape, dtype=np.complex64)
    harmonic_mask(Dv, harm, perc, TINY32, Dh.view(np.float32))
    harmonic_mask(Dv, perc, harm, TINY32, Dp.view(np.float32))  # roles swapped: D * M_p
    hp = istft(np.stack([Dh, Dp]), hop_length=hop_length, length=y.size)
    return hp[0], hp[1]


def _harmonic_waveform(
    Dv: np.ndarray, harm: np.ndarray, perc: np.ndarray, *, hop_length: int, length: int
) -> np.ndarray | None:
    """``istft(D * M_h)`` ``(length,)`` float32, in blocks of :data:`_BLOCK` frames whose masked
    spectra and inverse FFTs stay in cache (the same operations, frame by frame, as the whole-array
    :func:`istft`: the same bits); None if a bin had both medians ~0 under a non-zero ``D``.
    ``Dv``: the STFT ``(t, f)`` viewed as real ``(t, 2f)``; ``harm``, ``perc [shape=(t, f)]``."""
    t, f = harm.shape
    n_fft = 2 * (f - 1)
    window = filters.hann(n_fft, dtype=np.float32)
    rows = min(_BLOCK, t)
    spec = scratch("hpss_spec", (rows, f), np.complex64)
    frames = scratch("hpss_frames", (rows, n_fft), np.float32)
    buf = np.zeros(n_fft + hop_length * (t - 1), dtype=np.float32)
    for b0 in range(0, t, rows):
        b1 = min(b0 + rows, t)
        sb = spec[: b1 - b0]
        if harmonic_mask(Dv[b0:b1], harm[b0:b1], perc[b0:b1], TINY32, sb.view(np.float32)):
            return None
        overlap_add(irfft_into(sb, n_fft, frames[: b1 - b0]), window, hop_length, b0, buf)
    out = np.empty(length, dtype=np.float32)
    window_normalise(buf, _window_sumsquare(n_fft, hop_length, t), n_fft // 2, out)
    return out


@numba.njit(cache=True, nogil=True, error_model="numpy")  # no zero-division check: the loops vectorise
def harmonic_mask(D, harm, perc, tiny, out):  # pragma: no cover - compiled
    """``out = D * M_h`` (librosa's power-2 soft mask); returns True if a bin had both medians ~0
    while ``D`` is non-zero (then the percussive part is not ``D - D*M_h``).

    ``D``, ``out``: complex spectra ``(t, f)`` viewed as real ``(t, 2f)`` arrays (real, imaginary
    interleaved; ``D`` complex64 or complex128, ``out`` complex64); ``harm``, ``perc [shape=(t, f)]``:
    the time- and frequency-filtered magnitudes.
    Branch-free, so both passes vectorise; the same float32 operations as ``D[i, j] * w`` with
    ``w = a / (a + b)`` (a complex times a real is ``(re w - im 0, re 0 + im w)``), so the same bits.
    """
    t, f = harm.shape
    zero = np.float32(0.0)
    one = np.float32(1.0)
    w = np.empty(f, dtype=np.float32)  # the mask of one frame; -1 where both medians are below tiny
    lost = np.int32(0)
    for i in range(t):
        hr = harm[i]
        pr = perc[i]
        for j in range(f):
            h = hr[j]
            p = pr[j]
            z = h if h > p else p
            keep = not (z < tiny)
            zz = z if keep else one
            a = (h / zz) * (h / zz)
            b = (p / zz) * (p / zz)
            w[j] = a / (a + b) if keep else -one
        dr = D[i]
        orow = out[i]
        for j in range(f):
            re = dr[2 * j]
            im = dr[2 * j + 1]
            c = w[j]
            keep = not (c < zero)  # NaN (infinite medians) is kept, as D * NaN
            orow[2 * j] = (re * c - im * zero) if keep else zero
            orow[2 * j + 1] = (re * zero + im * c) if keep else zero
            lost |= np.int32(not keep) & np.int32((re != zero) | (im != zero))
    return lost != 0


@numba.njit(cache=True, nogil=True)
def overlap_add(frames, window, hop, i0, buf):  # pragma: no cover - compiled
    """Window frames ``i0, i0 + 1, ...`` (``frames [shape=(t, n_fft)]``) and add them into ``buf``
    at ``(i0 + i) * hop``, in frame order."""
    n_fft = frames.shape[1]
    for i in range(frames.shape[0]):
        s = (i0 + i) * hop
        seg = buf[s : s + n_fft]
        fr = frames[i]
        for j in range(n_fft):
            seg[j] += fr[j] * window[j]


@numba.njit(cache=True, nogil=True, error_model="numpy")  # no zero-division check: the loop vectorises
def window_normalise(buf, wss, start, out):  # pragma: no cover - compiled
    """librosa.istft's normalisation: ``out[k] = buf[start + k] / wss[start + k]`` where that window
    sum of squares is > tiny (else ``buf`` as is), 0 past the end of ``buf``; ``out (length,)``."""
    tiny = np.finfo(np.float32).tiny
    m = max(min(out.shape[0], buf.shape[0] - start), 0)
    bs = buf[start : start + m]
    ws = wss[start : start + m]
    for k in range(m):
        v = bs[k]
        d = ws[k]
        out[k] = v / d if d > tiny else v
    out[m:] = 0


@numba.njit(cache=True, nogil=True)
def overlap_add_window(frames, window, hop, wss, start, length):  # pragma: no cover - compiled
    """librosa.istft's tail: window ``frames [shape=(c, t, n_fft)]``, overlap-add, divide by the
    window's sum of squares where it is > tiny, keep ``[start, start + length)``: ``(c, length)``."""
    c, t, n_fft = frames.shape
    buf = np.zeros(n_fft + hop * (t - 1), dtype=np.float32)
    out = np.zeros((c, length), dtype=np.float32)
    for ch in range(c):
        buf[:] = 0
        overlap_add(frames[ch], window, hop, 0, buf)
        window_normalise(buf, wss, start, out[ch])
    return out
