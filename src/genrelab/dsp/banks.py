"""Filter banks and windows kept on disk, so a process needs neither librosa nor scipy.signal.

The feature engine's mel and chroma banks come from ``librosa.filters`` and its Hann windows
from ``scipy.signal.get_window``. Importing those two costs about 0.45 s per process here
(librosa's first filter call another 0.3 s), more than the engine takes for ten clips, so each
array is computed once by librosa or scipy and kept as ``<folder>/<name>-<key>.npz``, the key
a SHA-1 of its name, its parameters and the versions of librosa, scipy and numpy (an upgrade
gives new entries, never a stale bank). Writes are atomic (:func:`genrelab.io.write_with`); an
entry that does not load (zip CRC, damaged header), or loads with another shape or dtype than
asked, is computed again and rewritten. Without a writable folder the arrays are computed in
memory, as before.

The folder: ``$GENRELAB_CACHE_DIR/banks``; else ``$NUMBA_CACHE_DIR/genrelab-banks`` (beside
the compiled kernels, which :mod:`genrelab.warmup` fills too); else ``__pycache__/banks`` in this
package (where numba caches the kernels by default) when writable; else the user cache
(``$XDG_CACHE_HOME`` or ``~/.cache``) ``/genrelab/banks``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

__all__ = ["bank_folder", "cached_array", "library_versions"]


def bank_folder() -> Path | None:
    """The folder the arrays are kept in (created), or None when none is writable."""
    env = os.environ
    if env.get("GENRELAB_CACHE_DIR"):
        candidates = [Path(env["GENRELAB_CACHE_DIR"]) / "banks"]
    elif env.get("NUMBA_CACHE_DIR"):
        candidates = [Path(env["NUMBA_CACHE_DIR"]) / "genrelab-banks"]
    else:
        user = Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "genrelab" / "banks"
        candidates = [Path(__file__).parent / "__pycache__" / "banks", user]
    for folder in candidates:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(folder, os.W_OK | os.X_OK):
            return folder
    return None


@functools.cache
def library_versions() -> tuple[str, str, str]:
    """``(librosa, scipy, numpy)`` versions from the installed metadata (librosa is not imported)."""
    from importlib.metadata import PackageNotFoundError, version

    def of(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "none"

    return of("librosa"), of("scipy"), np.__version__


_SCHEMA = 1  # raise when how a bank is computed from its parameters changes: old entries are then ignored


def _entry(folder: Path, name: str, params: dict[str, Any]) -> Path:
    key = {"name": name, "params": params, "versions": library_versions(), "schema": _SCHEMA}
    ident = json.dumps(key, sort_keys=True)
    return folder / f"{name}-{hashlib.sha1(ident.encode()).hexdigest()}.npz"


def _read(file: Path, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray | None:
    """The array in ``file`` when it is there, intact (the zip CRC is checked) and of ``shape``/``dtype``."""
    try:
        with np.load(file, allow_pickle=False) as z:
            a = z["a"]
    except Exception:  # absent, truncated, CRC mismatch, not a zip: computed again
        return None
    return a if a.shape == shape and a.dtype == dtype else None


def cached_array(
    name: str, params: dict[str, Any], compute: Callable[[], np.ndarray], *, shape: tuple[int, ...], dtype: Any
) -> np.ndarray:
    """``compute()`` (an array of ``shape`` and ``dtype``), read from the bank folder when it holds it.

    ``params`` (JSON-able) must name everything the array depends on besides the library
    versions. A missing or damaged entry is computed and written atomically; a failed write
    (a full disk) is ignored: the computed array is returned all the same.
    """
    dtype = np.dtype(dtype)
    folder = bank_folder()
    file = _entry(folder, name, params) if folder is not None else None
    if file is not None:
        hit = _read(file, shape, dtype)
        if hit is not None:
            return hit
    a = np.asarray(compute())
    if a.shape != shape or a.dtype != dtype:
        raise ValueError(f"{name}{params}: computed {a.shape} {a.dtype}, expected {shape} {dtype}")
    if file is not None:
        from genrelab.io import write_with

        try:
            write_with(file, lambda tmp: np.savez(tmp, a=a))
        except Exception:  # an unwritable or full folder: the array is right, only not kept
            pass
    return a
