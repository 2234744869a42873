"""Exact sliding-window median filters, compiled with numba.

Equal to ``scipy.ndimage.median_filter`` with ``mode="reflect"`` along one axis (the filters
:func:`librosa.decompose.hpss` runs), at a fraction of its cost.

The algorithm is a rank-tracking sliding median: each output keeps the previous window's
median ``m``. When one sample leaves the window and one enters, the element of rank
``k // 2`` moves by at most one place in sorted order, so one pass over the window that counts
the values below / up to ``m`` and finds the largest value below ``m`` and the smallest value
above it decides the new median: ``m`` itself, its predecessor or its successor. The median is
an exact order statistic of the window (no arithmetic), so the result is the same number any
exact method gives.

The pass is branch-free and runs along axis 0 on many columns at once: a window row is a
contiguous run of columns, the compiler turns the column loop into SIMD compares and blends
(8 float32 lanes), and four window rows go through per pass so the per-column state stays in
registers. Columns go in blocks of :data:`_COLS` so that the window's rows stay in the L1
cache. Filtering along the last axis
(:func:`median_filter_rows`) transposes to that layout.
"""

from __future__ import annotations

import numba
import numpy as np

from genrelab.errors import ParameterError

__all__ = ["median_filter_columns", "median_filter_rows"]

_COLS = 64  # columns per block: 31 window rows + state ~ 9 KB (float32), within L1; 32 measured slower, 128 the same


@numba.njit(cache=True, nogil=True)
def _reflect_index(n, h, k):  # pragma: no cover - compiled
    """Source row of each of the ``n + k - 1`` extended rows: scipy's ``reflect``
    ``(d c b a | a b c d | d c b a)``, periodic for ``n`` shorter than the padding."""
    idx = np.empty(n + k - 1, dtype=np.int64)
    period = 2 * n
    for e in range(n + k - 1):
        q = (e - h) % period
        idx[e] = q if q < n else period - 1 - q
    return idx


@numba.njit(cache=True, nogil=True, inline="always")
def _step(v, m, below, upto, lo, hi, big, one, zero):  # pragma: no cover - compiled
    """One window value ``v`` against the median ``m``: the two counts and the nearest values either side."""
    below += one if v < m else zero
    upto += one if v <= m else zero
    lo = max(lo, v if v < m else -big)
    hi = min(hi, v if v > m else big)
    return below, upto, lo, hi


@numba.njit(cache=True, nogil=True)
def _median_cols(x, k, out):  # pragma: no cover - compiled
    """``out[i, c]`` = the median (rank ``k // 2``) of ``x[i - k//2 : i - k//2 + k, c]`` (reflected at the
    ends) for ``x, out [shape=(n, cols)]``. Blocks of ``w`` columns; the last block is shifted left
    to end at ``cols`` (it recomputes a few columns) so every column loop has the same length."""
    n, cols = x.shape
    rank = k // 2
    src = _reflect_index(n, k // 2, k)
    big = x.dtype.type(np.inf)
    one = x.dtype.type(1)  # counts in the data's dtype: one SIMD width throughout
    zero = x.dtype.type(0)
    w = min(_COLS, cols)
    st = np.empty((5, w), dtype=x.dtype)  # per column: count below m, count up to m, lo, hi, m
    win = np.empty(k, dtype=x.dtype)
    k4 = k - k % 4
    c0 = 0
    while c0 < cols:
        c0 = min(c0, cols - w)
        for q in range(w):  # the first window: sort it
            for j in range(k):
                win[j] = x[src[j], c0 + q]
            st[4, q] = np.sort(win)[rank]
            out[0, c0 + q] = st[4, q]
        for i in range(1, n):
            st[:2] = 0
            st[2] = -big
            st[3] = big
            for j in range(0, k4, 4):  # four window rows per pass over the columns (state stays in registers)
                r0 = x[src[i + j], c0 : c0 + w]
                r1 = x[src[i + j + 1], c0 : c0 + w]
                r2 = x[src[i + j + 2], c0 : c0 + w]
                r3 = x[src[i + j + 3], c0 : c0 + w]
                for q in range(w):  # branch-free: vectorised across columns
                    m = st[4, q]
                    b, u, lo, hi = _step(r0[q], m, st[0, q], st[1, q], st[2, q], st[3, q], big, one, zero)
                    b, u, lo, hi = _step(r1[q], m, b, u, lo, hi, big, one, zero)
                    b, u, lo, hi = _step(r2[q], m, b, u, lo, hi, big, one, zero)
                    st[0, q], st[1, q], st[2, q], st[3, q] = _step(r3[q], m, b, u, lo, hi, big, one, zero)
            for j in range(k4, k):
                r0 = x[src[i + j], c0 : c0 + w]
                for q in range(w):
                    st[0, q], st[1, q], st[2, q], st[3, q] = _step(
                        r0[q], st[4, q], st[0, q], st[1, q], st[2, q], st[3, q], big, one, zero
                    )
            orow = out[i, c0 : c0 + w]
            for q in range(w):
                # more than rank values below m: the median is the largest of them; at most rank
                # values up to m: the smallest value above m; otherwise m stays
                m = st[2, q] if st[0, q] > rank else (st[3, q] if st[1, q] <= rank else st[4, q])
                st[4, q] = m
                orow[q] = m
        c0 += w


def _checked(x: np.ndarray, size: int) -> np.ndarray:
    """``x`` as a 2-D float32/float64 array, after checking ``size`` and the values."""
    if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 1:
        raise ParameterError(f"size={size} must be a positive integer")
    x = np.asarray(x)
    if x.ndim != 2:
        raise ParameterError(f"x must be 2-D; got shape {x.shape}")
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    if x.size and np.isnan(x).any():
        raise ParameterError("x contains NaN; the median filter needs comparable values")
    return x


def median_filter_columns(x: np.ndarray, *, size: int, out: np.ndarray | None = None) -> np.ndarray:
    """Median over a window of ``size`` samples along axis 0 of ``x [shape=(n, cols)]``.

    Boundary: scipy's ``mode="reflect"``. Returns ``out`` (a C-contiguous array of ``x``'s shape
    and dtype) or a new array, float32 or float64 (other dtypes are converted to float64).
    Equals ``scipy.ndimage.median_filter(x, size=(size, 1), mode="reflect")`` exactly.
    """
    x = np.ascontiguousarray(_checked(x, size))
    if out is None:
        out = np.empty_like(x)
    elif out.shape != x.shape or out.dtype != x.dtype or not out.flags.c_contiguous:
        raise ParameterError(f"out must be C-contiguous {x.dtype} of shape {x.shape}")
    if x.size:
        _median_cols(x, int(size), out)
    return out


def median_filter_rows(x: np.ndarray, *, size: int) -> np.ndarray:
    """Median over a window of ``size`` samples along the last axis of ``x [shape=(rows, n)]``.

    Boundary: scipy's ``mode="reflect"``. Returns a new array of the same shape and dtype
    (float32 or float64; other dtypes are converted to float64). Equals
    ``scipy.ndimage.median_filter(x, size=(1, size), mode="reflect")`` exactly.
    """
    x = _checked(x, size)
    return np.ascontiguousarray(median_filter_columns(x.T, size=size).T)
