"""Exact sliding-window median filter along the last axis, compiled with numba.

Equal to ``scipy.ndimage.median_filter(x, size=(1, k), mode="reflect")`` (the filter
:func:`librosa.decompose.hpss` runs), at a fraction of its cost. Each row keeps its window
in a ring buffer and tracks the current median ``m``: when one sample leaves and one enters,
the element of rank ``k // 2`` moves by at most one place in sorted order, so counting the
window's values below / up to ``m`` (one branch-free pass of ``k`` compares) tells whether
``m`` stays, or becomes the largest value below it, or the smallest value above it (one more
pass). No sorting after the first window; exact for any input without NaN.
"""

from __future__ import annotations

import numba
import numpy as np

from genrelab.errors import ParameterError


@numba.njit(cache=True, nogil=True)
def _median_rows(x, k, out):  # pragma: no cover - compiled
    rows, n = x.shape
    h = k // 2
    rank = k // 2
    ext = np.empty(n + 2 * h, dtype=x.dtype)
    ring = np.empty(k, dtype=x.dtype)
    big = x.dtype.type(np.inf)
    for r in range(rows):
        # scipy "reflect": (d c b a | a b c d | d c b a), repeated for rows shorter than h
        for i in range(n):
            ext[h + i] = x[r, i]
        if n >= h:
            for i in range(h):
                ext[h - 1 - i] = x[r, i]
                ext[h + n + i] = x[r, n - 1 - i]
        else:
            period = 2 * n
            for i in range(h):
                j = (h - 1 - i) % period
                ext[i] = x[r, j] if j < n else x[r, period - 1 - j]
                j = (n + i) % period
                ext[h + n + i] = x[r, j] if j < n else x[r, period - 1 - j]
        for j in range(k):
            ring[j] = ext[j]
        m = np.sort(ring)[rank]
        out[r, 0] = m
        pos = 0
        for i in range(1, n):
            ring[pos] = ext[i - 1 + k]  # overwrites the sample that left the window
            pos += 1
            if pos == k:
                pos = 0
            below = 0
            upto = 0
            for j in range(k):
                v = ring[j]
                below += v < m
                upto += v <= m
            if below > rank:  # the median moved down to the largest value below m
                best = -big
                for j in range(k):
                    v = ring[j]
                    best = max(best, v if v < m else -big)
                m = best
            elif upto <= rank:  # ... or up to the smallest value above m
                best = big
                for j in range(k):
                    v = ring[j]
                    best = min(best, v if v > m else big)
                m = best
            out[r, i] = m


def median_filter_rows(x: np.ndarray, *, size: int) -> np.ndarray:
    """Median over a window of ``size`` samples along the last axis of ``x [shape=(rows, n)]``.

    Boundary: scipy's ``mode="reflect"``. Returns a new array of the same shape and dtype
    (float32 or float64; other dtypes are converted to float64). Equals
    ``scipy.ndimage.median_filter(x, size=(1, size), mode="reflect")`` exactly.
    """
    if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or size < 1:
        raise ParameterError(f"size={size} must be a positive integer")
    x = np.asarray(x)
    if x.ndim != 2:
        raise ParameterError(f"x must be 2-D (rows, n); got shape {x.shape}")
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    x = np.ascontiguousarray(x)
    out = np.empty_like(x)
    if x.shape[1] == 0 or x.shape[0] == 0:
        return out
    if np.isnan(x).any():
        raise ParameterError("x contains NaN; the median filter needs comparable values")
    _median_rows(x, int(size), out)
    return out
