"""The per-clip extraction cache: one small ``.npz`` per finished clip, keyed by file and settings."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from genrelab.features.writing import writing
from genrelab.io import write_with

__all__ = ["cache_key", "cache_read", "cache_write", "stale_length_error"]


def cache_key(path: Path, settings_key: str) -> str | None:
    """The entry name of ``path`` (resolved path, size, mtime) under ``settings_key``; None if unreadable."""
    try:
        st = path.stat()
    except OSError:
        return None
    ident = json.dumps([str(path.resolve()), st.st_size, st.st_mtime_ns, settings_key])
    return hashlib.sha1(ident.encode()).hexdigest()


def cache_read(file: Path) -> dict[str, Any] | None:
    """The cached result in ``file`` (``"maps"`` an array or None); None when absent or damaged."""
    try:
        with np.load(file, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if "maps" in z.files:
                meta["maps"] = z["maps"]
            else:
                meta.setdefault("maps", None)
            return meta
    except Exception:  # a damaged entry is recomputed
        return None


def stale_length_error(hit: dict[str, Any], *, floor: float) -> bool:
    """A cached "too short" that does not name today's ``floor`` (written under the old 3 s one):
    the clip may be usable now, so it is recomputed."""
    error = str(hit.get("error", ""))
    return error.startswith("too short") and f"at least {floor:g} s" not in error


def cache_write(file: Path, result: dict[str, Any]) -> None:
    """Write one clip's result atomically (JSON metadata plus the maps array)."""
    meta = {k: v for k, v in result.items() if k != "maps"}
    arrays: dict[str, Any] = {"meta": np.array(json.dumps(meta))}
    if result.get("maps") is not None:
        arrays["maps"] = result["maps"]
    with writing(file):
        write_with(file, lambda tmp: np.savez(tmp, **arrays))
