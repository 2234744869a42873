"""Per-thread scratch arrays that the feature code reuses from clip to clip."""

from __future__ import annotations

import threading

import numpy as np

__all__ = ["scratch"]

_WORK = threading.local()  # per-thread scratch arrays, reused from clip to clip


def scratch(name: str, shape: tuple[int, ...], dtype: type | np.dtype) -> np.ndarray:
    """An uninitialised C-contiguous ``shape`` array that this thread reuses on its next call for ``name``.

    Fresh multi-megabyte arrays come from new pages each clip (about 1300 page faults and
    a millisecond of kernel time for one 30 s clip's power spectrogram); reusing them does not.
    The array is valid until this thread's next call for the same ``name`` and dtype.
    """
    arrays = getattr(_WORK, "arrays", None)
    if arrays is None:
        arrays = _WORK.arrays = {}
    size = int(np.prod(shape))
    buf = arrays.get((name, np.dtype(dtype)))
    if buf is None or buf.size < size:
        buf = arrays[(name, np.dtype(dtype))] = np.empty(size, dtype=dtype)
    return buf[:size].reshape(shape)
