"""Helpers of the CPU inversion of :mod:`genrelab.invert`: the mel bands, the mel refinement step (a
serial numba loop over rows; the caller splits work across threads) and Griffin-Lim's unit-peak target."""

from __future__ import annotations

import math

import numba
import numpy as np

from genrelab.constants import TINY32

_JIT = dict(nopython=True, cache=True, nogil=True)  # serial: called from several threads


def bands(basis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and one-past-last non-zero bin of each row of ``basis [shape=(n_mels, F)]``."""
    nz = basis != 0
    any_ = nz.any(axis=1)
    lo = np.where(any_, nz.argmax(axis=1), 0)
    hi = np.where(any_, basis.shape[1] - nz[:, ::-1].argmax(axis=1), 0)
    return lo.astype(np.int64), hi.astype(np.int64)


@numba.jit(**_JIT, fastmath=True)
def refine_gain(rebuilt, basis, spread, lo, hi, log_target, floor, tiny, max_gain, gain):  # pragma: no cover
    """``gain (K, F) = 0.25 * clamp(log_target - max(log mel(|rebuilt|^2), floor)) @ spread``, summed over the
    non-zero band ``[lo, hi)`` of each filter; ``rebuilt`` complex ``(K, F)`` as float32 ``(K, 2F)``
    (mel power summed in float32: relative error ~1e-6, far below the gain's own scale).
    The caller exponentiates (numpy's exp is vectorised) and multiplies the target by it."""
    k_n = rebuilt.shape[0]
    m_n = basis.shape[0]
    for k in range(k_n):
        r = rebuilt[k]
        gk = gain[k]
        gk[:] = 0.0
        for m in range(m_n):
            a = lo[m]
            e = hi[m]
            bm = basis[m, a:e]  # slices from 0: no negative-index checks in the inner loops
            rm = r[2 * a : 2 * e]
            acc = np.float32(0.0)
            for f in range(e - a):
                re = rm[2 * f]
                im = rm[2 * f + 1]
                acc += bm[f] * (re * re + im * im)
            now = max(math.log(max(np.float64(acc), tiny)), floor[k])
            g = min(max(log_target[k, m] - now, -max_gain), max_gain) * 0.25
            sm = spread[m, a:e]
            gm = gk[a:e]
            for f in range(e - a):
                gm[f] += g * sm[f]


@numba.jit(**_JIT)
def unit_peak_frames(power, scale, out):  # pragma: no cover - compiled
    """Griffin-Lim's target at unit peak from NNLS's mel inversion of one clip: with the magnitude
    ``mag = sqrt(float64(power) * scale)`` (``power [shape=(F, T)]`` float32, ``scale (T,)`` float64),
    ``peak = max(mag.max(), float32 tiny)`` and ``out [shape=(T, F)]`` float32 ``= mag.T / peak``,
    frames first; returns ``peak``, or ``inf`` when ``mag`` is not finite. Strict IEEE arithmetic:
    the bits of the same steps in torch (``sqrt`` is monotonic, so ``max(sqrt) = sqrt(max)``)."""
    n_f, n_t = power.shape
    top = 0.0
    for f in range(n_f):
        for t in range(n_t):
            v = np.float64(power[f, t]) * scale[t]
            if not v < np.inf:  # inf or NaN
                return np.inf
            top = max(top, v)
    peak = max(math.sqrt(top), TINY32)
    tile = 32  # frames at a time: power read along rows, out written along rows, both in cache
    for t0 in range(0, n_t, tile):
        t1 = min(t0 + tile, n_t)
        for f in range(n_f):
            for t in range(t0, t1):
                out[t, f] = np.float32(math.sqrt(np.float64(power[f, t]) * scale[t]) / peak)
    return peak
