"""Atomic file writes, stale temporaries and folder locks.

Atomic writes go to a temporary name in the same folder (``.<stem>.<random>.tmp<suffix>``),
then rename, so an interrupted process never leaves a half-written file that a resume would
trust. A process killed with ``kill -9`` can leave such a temporary behind;
:func:`remove_stale_temporaries` removes them. :func:`folder_lock` keeps two genrelab
processes from writing one output folder at once.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

from genrelab.errors import GenrelabError, ParameterError

try:  # POSIX; elsewhere folder_lock does not lock
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    The temporary name keeps the suffix of ``path`` so writers that look at it
    (soundfile, pandas, matplotlib) pick the right format.
    """
    path = Path(path)
    _check_writable(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the usual mode
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _check_writable(path: Path) -> None:
    """Make ``path``'s folder; ParameterError when ``path`` is a folder or a parent is a file."""
    if path.is_dir():
        raise ParameterError(f"cannot write {str(path)!r}: it is a folder; give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), path.parent)
        raise ParameterError(f"cannot write {str(path)!r}: {str(blocker)!r} is a file, not a folder") from None


def write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Atomically write ``data`` to ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Atomically write UTF-8 ``text`` to ``path``."""
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Atomically write ``obj`` as indented JSON (NaN becomes null)."""
    return write_text(path, json.dumps(_clean(obj), indent=2, sort_keys=False) + "\n")


def write_with(path: str | os.PathLike[str], writer: Callable[[Path], None]) -> Path:
    """Atomically write ``path`` with ``writer(tmp_path)`` (e.g. ``df.to_csv``, ``torch.save``)."""
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file written by :func:`write_json`."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _clean(obj: Any) -> Any:
    """Make numpy scalars/arrays and NaN JSON-safe."""
    import math

    import numpy as np

    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _clean(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and (math.isnan(obj) or math.isinf(obj)):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


# ---------------------------------------------------------------------------------------------
# stale temporaries

# The names atomic_path gives its temporaries: "." + stem + "." + 8 mkstemp characters + ".tmp" + suffix.
_TEMPORARY = re.compile(r"^\..*\.[A-Za-z0-9_]{8}\.tmp(\.[^.]*)?$")


def is_temporary(name: str) -> bool:
    """Whether file name ``name`` has the pattern of an :func:`atomic_path` temporary."""
    return bool(_TEMPORARY.match(name))


def remove_stale_temporaries(root: str | os.PathLike[str], *, older_than: float) -> list[Path]:
    """Delete the atomic-write temporaries under ``root`` last modified before ``older_than``.

    ``older_than`` is a POSIX time, normally the start of the calling process: a temporary a
    live writer is still filling has a newer modification time and is kept. Only names of
    :func:`atomic_path`'s pattern are touched; symlinked folders are not followed. Returns the
    files removed.
    """
    removed = []
    for folder, _dirs, files in os.walk(root, followlinks=False):
        for name in files:
            path = Path(folder) / name
            if not is_temporary(name):
                continue
            try:
                if path.is_symlink() or path.stat().st_mtime >= older_than:
                    continue
                path.unlink()
            except FileNotFoundError:  # removed meanwhile (its writer finished)
                continue
            removed.append(path)
    return removed


# ---------------------------------------------------------------------------------------------
# folder locks

LOCK_NAME = ".lock"
_HELD: dict[str, tuple[int, int]] = {}  # resolved folder -> (fd, depth): a process may re-enter its lock


class FolderInUseError(GenrelabError):
    """Another process holds the lock of an output folder."""


@contextlib.contextmanager
def folder_lock(
    folder: str | os.PathLike[str], *, what: str = "output folder", create: bool = True
) -> Iterator[Path | None]:
    """Hold an exclusive lock on ``folder`` (``folder/.lock``, ``flock``) for the ``with`` block.

    A second process asking for the same folder gets :class:`FolderInUseError` at once (it does
    not wait). The kernel drops the lock when the holder exits, however it exits (``kill -9``
    included); the ``.lock`` file stays and is harmless. Re-entrant within one process.
    Yields the lock file's path; with ``create=False`` a missing folder is not made and not
    locked (yields None: the caller reports the missing folder in its own words).
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ParameterError(f"{what} {str(folder)!r} is a file; give a folder")
    if not create and not folder.is_dir():
        yield None
        return
    _check_writable(folder / LOCK_NAME)
    key = str(folder.resolve())
    lock_file = folder / LOCK_NAME
    if key in _HELD:
        fd, depth = _HELD[key]
        _HELD[key] = (fd, depth + 1)
        try:
            yield lock_file
        finally:
            fd, depth = _HELD[key]
            _HELD[key] = (fd, depth - 1)
        return
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o666 & ~_UMASK)
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
                by = f" (process {holder})" if holder.isdigit() else ""
                raise FolderInUseError(
                    f"{what} {str(folder)!r} is in use by another genrelab process{by}; "
                    "wait for it to finish or give another folder"
                ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        _HELD[key] = (fd, 1)
        try:
            yield lock_file
        finally:
            del _HELD[key]
    finally:
        os.close(fd)  # closing the descriptor releases the flock
