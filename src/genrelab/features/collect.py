"""Per-clip extraction results, held compactly while a folder runs.

A task's result arrives as a dict of rows (one dict of 57 floats per row: about 7.5 kB a clip
as Python objects, measured with tracemalloc). Kept like that for every clip until the table
was assembled (and then copied into a list of row dicts), the parent's peak RSS grew by 12 MiB
from 200 to 1,000 clips (``bench/scale.py``, 4 s clips): +15 % by 5,000. Here each result becomes
a few arrays (about 2 kB a clip in all) as soon as it arrives, and the table is built from them
column by column (4 MiB from 200 to 1,000 clips).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pandas loads where a table is built or read (the workers never need it)
    import pandas as pd

__all__ = ["ClipResult", "compact", "rows_table"]


@dataclass(slots=True)
class ClipResult:
    """One clip: ``values [shape=(rows, n_features)]`` float64 in the columns' order, ``segments`` and
    ``lengths`` ``(rows,)`` int64, ``maps [shape=(n, n_mfcc, t)]`` float32 (or None) with their
    ``map_segments``, ``map_padded`` (the clip was shorter than a map and padded) and ``map_seconds``
    (audio seconds per map; empty in caches from before #13), ``notes`` (segments left out, and why),
    ``row_notes`` (one per row, "" for none: e.g. the tempo fallback); or only ``error`` (why the clip
    gave nothing)."""

    values: np.ndarray
    segments: np.ndarray
    lengths: np.ndarray
    maps: np.ndarray | None = None
    map_segments: tuple[int, ...] = ()
    map_padded: bool = False
    map_seconds: tuple[float, ...] = ()
    notes: tuple[str, ...] = ()
    row_notes: tuple[str, ...] = ()
    error: str | None = None


_EMPTY = np.zeros(0, dtype=np.int64)


def compact(result: dict[str, Any], columns: Sequence[str]) -> ClipResult:
    """A task's result dict (``{"rows": [...], "maps", "map_segments", "notes"}`` or ``{"error": reason}``) as a ClipResult."""
    if "error" in result:
        return ClipResult(np.zeros((0, len(columns))), _EMPTY, _EMPTY, error=str(result["error"]))
    rows = result.get("rows", [])
    values = np.array([[row[c] for c in columns] for row in rows], dtype=np.float64).reshape(len(rows), len(columns))
    return ClipResult(
        values=values,
        segments=np.array([row["segment"] for row in rows], dtype=np.int64),
        lengths=np.array([row["length"] for row in rows], dtype=np.int64),
        maps=result.get("maps"),
        map_segments=tuple(int(s) for s in result.get("map_segments", [])),
        map_padded=bool(result.get("map_padded", False)),
        map_seconds=tuple(float(s) for s in (result.get("map_seconds") or [])),
        notes=tuple(result.get("notes", [])),
        row_notes=tuple(str(row.get("note") or "") for row in rows),
    )


def rows_table(
    parts: Sequence[tuple[ClipResult, list[str], str]], columns: Sequence[str], *, segment: bool
) -> pd.DataFrame:
    """The table of ``(result, row names, label)`` per clip: ``filename, length, *columns, label`` (+ ``segment``);
    empty (typed) when no clip has rows."""
    import pandas as pd

    order = ["filename", "length", *columns, "label"] + (["segment"] if segment else [])
    parts = [p for p in parts if len(p[0].values)]
    if not parts:
        return pd.DataFrame(columns=order).astype({"length": "int64", **{c: "float64" for c in columns}})
    table = pd.DataFrame(np.concatenate([r.values for r, _, _ in parts]), columns=list(columns))
    table.insert(0, "filename", [name for _, names, _ in parts for name in names])
    table.insert(1, "length", np.concatenate([r.lengths for r, _, _ in parts]))
    table["label"] = [label for r, _, label in parts for _ in range(len(r.values))]
    if segment:
        table["segment"] = np.concatenate([r.segments for r, _, _ in parts])
    return table
