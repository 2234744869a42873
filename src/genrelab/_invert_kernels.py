"""Numba loops for the CPU Griffin-Lim of :mod:`genrelab.invert` (framing, overlap-add, phase update,
mel refinement), each parallel over frames and free of temporaries."""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import prange

_JIT = dict(nopython=True, parallel=True, cache=True, fastmath=False, nogil=True)


def envelope(window: np.ndarray, frames: int, hop: int, length: int) -> np.ndarray:
    """Overlap-added squared window over the ``length`` output samples (``center=True``), float64."""
    n_fft = window.size
    w2 = window.astype(np.float64) ** 2
    k = -(-n_fft // hop)  # each output hop-block is covered by at most k frames
    env = np.zeros((frames + k) * hop)
    for j in range(k):  # k shifted copies of the frame-periodic sum instead of one add per frame
        piece = w2[j * hop: (j + 1) * hop]
        env[j * hop: j * hop + frames * hop].reshape(frames, hop)[:, : piece.size] += piece
    return env[n_fft // 2: n_fft // 2 + length]


def bands(basis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and one-past-last non-zero bin of each row of ``basis [shape=(n_mels, F)]``."""
    nz = basis != 0
    any_ = nz.any(axis=1)
    lo = np.where(any_, nz.argmax(axis=1), 0)
    hi = np.where(any_, basis.shape[1] - nz[:, ::-1].argmax(axis=1), 0)
    return lo.astype(np.int64), hi.astype(np.int64)


@numba.jit(**_JIT)
def overlap_add(frames, window, inv_env, hop, out):  # pragma: no cover - compiled
    """``frames (B, T, N)`` * window, overlap-added at ``hop`` (``center=True``), / envelope -> ``out (B, L)``."""
    b_n, t_n, n = frames.shape
    length = out.shape[1]
    half = n // 2
    n_chunks = (length + hop - 1) // hop
    for job in prange(b_n * n_chunks):  # one hop-long chunk of output: sum the frames that cover it
        b = job // n_chunks
        s0 = (job % n_chunks) * hop
        s1 = min(s0 + hop, length)
        o = out[b, s0:s1]
        o[:] = 0.0
        p0 = s0 + half  # the chunk in padded coordinates: [p0, p1)
        p1 = s1 + half
        t_lo = max(0, (p0 - n) // hop + 1)
        t_hi = min(t_n - 1, (p1 - 1) // hop)
        for t in range(t_lo, t_hi + 1):
            start = t * hop
            a = max(p0, start)
            e = min(p1, start + n)
            src = frames[b, t, a - start: e - start]
            w = window[a - start: e - start]
            dst = o[a - p0: e - p0]
            for q in range(e - a):  # slices from 0: no negative-index checks, so LLVM vectorises
                dst[q] += src[q] * w[q]
        ie = inv_env[s0:s1]
        for q in range(s1 - s0):
            o[q] *= ie[q]


@numba.jit(**_JIT)
def frame(y, window, hop, out):  # pragma: no cover - compiled
    """``y (B, L)`` zero-padded by N // 2 each side, cut into frames at ``hop`` times window -> ``out (B, T, N)``."""
    b_n, t_n, n = out.shape
    length = y.shape[1]
    half = n // 2
    for job in prange(b_n * t_n):
        b = job // t_n
        t = job % t_n
        o = out[b, t]
        off = t * hop - half
        a = max(0, -off)
        e = max(a, min(n, length - off))
        o[:a] = 0.0
        o[e:] = 0.0
        dst = o[a:e]
        src = y[b, off + a: off + e]
        w = window[a:e]
        for k in range(e - a):
            dst[k] = src[k] * w[k]


@numba.jit(**_JIT)
def phase(rebuilt, prev, c, target, out):  # pragma: no cover - compiled
    """``out = target * sgn(rebuilt - c * prev)`` (``sgn(0) = 0``); complex ``(K, F)`` as float ``(K, 2F)``
    (real, imaginary interleaved), ``target (K, F)``. The modulus is taken in float64."""
    k_n, f2 = rebuilt.shape
    for k in prange(k_n):
        r = rebuilt[k]
        p = prev[k]
        tg = target[k]
        o = out[k]
        for f in range(f2 // 2):
            re = np.float64(r[2 * f]) - c * p[2 * f]
            im = np.float64(r[2 * f + 1]) - c * p[2 * f + 1]
            a2 = re * re + im * im
            if a2 > 0:
                g = tg[f] / math.sqrt(a2)
                o[2 * f] = re * g
                o[2 * f + 1] = im * g
            else:
                o[2 * f] = 0.0
                o[2 * f + 1] = 0.0


@numba.jit(**_JIT)
def refine_gain(rebuilt, basis, spread, lo, hi, log_target, floor, tiny, max_gain, gain):  # pragma: no cover
    """``gain (K, F) = 0.25 * clamp(log_target - max(log mel(|rebuilt|^2), floor)) @ spread``, summed over the
    non-zero band ``[lo, hi)`` of each filter; ``rebuilt`` complex ``(K, F)`` as float ``(K, 2F)``.
    The caller exponentiates (numpy's exp is vectorised) and multiplies the target by it."""
    k_n = rebuilt.shape[0]
    m_n = basis.shape[0]
    for k in prange(k_n):
        r = rebuilt[k]
        gk = gain[k]
        gk[:] = 0.0
        for m in range(m_n):
            a = lo[m]
            e = hi[m]
            bm = basis[m, a:e]  # slices from 0: no negative-index checks in the inner loops
            rm = r[2 * a: 2 * e]
            acc = 0.0
            for f in range(e - a):
                re = np.float64(rm[2 * f])
                im = np.float64(rm[2 * f + 1])
                acc += bm[f] * (re * re + im * im)
            now = max(math.log(max(acc, tiny)), floor[k])
            g = min(max(log_target[k, m] - now, -max_gain), max_gain) * 0.25
            sm = spread[m, a:e]
            gm = gk[a:e]
            for f in range(e - a):
                gm[f] += g * sm[f]
