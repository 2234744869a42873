"""Writing the feature table, skipped.csv and notes.csv: atomic, both files or neither, one sentence on failure."""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from genrelab.errors import DatasetError
from genrelab.io import atomic_path, write_with

if TYPE_CHECKING:  # pandas loads where a table is built or read (the workers never need it)
    import pandas as pd

__all__ = ["write_table", "write_skipped", "write_notes", "writing"]


@contextlib.contextmanager
def writing(target: Path) -> Iterator[None]:
    """Turn an OSError while writing ``target`` (a full disk, no permission) into one sentence.

    The writes are atomic (:mod:`genrelab.io`), so a failed one leaves no partial file; the
    message names the folder, which exists, rather than the file, which was not written.
    """
    try:
        yield
    except OSError as exc:
        code = errno.errorcode.get(exc.errno or 0, "")
        why = os.strerror(exc.errno) if exc.errno else str(exc)
        raise DatasetError(
            f"could not write {target.name} in {_existing(target.parent)}: {why}"
            + (f" ({code})" if code else "")
            + "; nothing partial was left there, and clips finished before are cached for a rerun"
        ) from None


def _existing(folder: Path) -> Path:
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


# rows of the CSV formatted at a time: pandas' default (100,000 cells) held 17 MiB more at 5,000 rows than at 1,000
_CSV_ROWS = 256


def write_table(table: pd.DataFrame, out: Path) -> None:
    """Write ``table`` to ``out`` (CSV) and a parquet copy beside it, atomically, both or neither.

    An OSError (a full disk) is a :class:`DatasetError` in one sentence and leaves the old
    files, if any, as they were.
    """
    out = Path(out)
    with writing(out), atomic_path(out) as csv_tmp, atomic_path(out.with_suffix(".parquet")) as pq_tmp:
        table.to_csv(csv_tmp, index=False, chunksize=_CSV_ROWS)
        table.to_parquet(pq_tmp, index=False)


def write_skipped(skipped: list[tuple[str, str]], out: Path) -> None:
    """``skipped.csv``: one row per skipped file (or segment) with its reason."""
    import pandas as pd

    df = pd.DataFrame(skipped, columns=["path", "reason"])
    with writing(Path(out)):
        write_with(out, lambda tmp: df.to_csv(tmp, index=False))


def write_notes(notes: list[tuple[str, str, str]], out: Path) -> None:
    """``notes.csv``: ``path, filename, note`` for each kept row that needs a remark (a tempo fallback)."""
    import pandas as pd

    df = pd.DataFrame(notes, columns=["path", "filename", "note"])
    with writing(Path(out)):
        write_with(out, lambda tmp: df.to_csv(tmp, index=False))
