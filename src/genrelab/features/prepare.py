"""``prepare``: the features a study needs, from an audio folder (extracted, cached) or a feature CSV."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from genrelab.errors import DatasetError
from genrelab.features.columns import FEATURE_COLUMNS, TABLE_COLUMNS
from genrelab.features.lengths import DEFAULT_PAD, check_pad, check_segment
from genrelab.features.maps import MapSet, save_maps
from genrelab.features.table import Settings, run_extraction
from genrelab.features.writing import write_notes, write_skipped, write_table
from genrelab.io import write_with
from genrelab.rundir import RunDir

if TYPE_CHECKING:  # pandas loads where a table is built or read (the workers never need it)
    import pandas as pd


@dataclass
class FeatureSet:
    """The clip-level table, the segment MFCC maps and what was skipped."""

    table: pd.DataFrame  # clip-level table in the public CSV layout
    maps: MapSet | None  # 3 s segment maps (n_mfcc=20, 130 frames); None for a CSV input
    clips: pd.DataFrame | None  # filename, track, label, path (None for a CSV input)
    skipped: pd.DataFrame  # path, reason
    notes: pd.DataFrame | None = None  # path, filename, note: kept rows with a remark (a tempo fallback)


def read_feature_csv(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A feature CSV in the public layout (``filename, length, <57>, label`` [+ ``segment``]).

    Raises DatasetError naming the missing columns, or when a feature column is not numeric.
    """
    import pandas as pd

    path = Path(path)
    try:
        df = pd.read_csv(path)
    except Exception as exc:
        raise DatasetError(f"{path}: not readable as a CSV table ({exc})") from None
    missing = [c for c in TABLE_COLUMNS if c not in df.columns]
    if missing:
        raise DatasetError(
            f"{path}: missing columns {missing}; expected the public GTZAN layout "
            f"(filename, length, {len(FEATURE_COLUMNS)} features, label)"
        )
    bad = [c for c in FEATURE_COLUMNS if not pd.api.types.is_numeric_dtype(df[c])]
    if bad:
        raise DatasetError(f"{path}: columns {bad} are not numeric")
    if df.empty:
        raise DatasetError(f"{path}: has no rows")
    cols = TABLE_COLUMNS + (["segment"] if "segment" in df.columns else [])
    return df[cols].reset_index(drop=True)


def prepare(
    data: Path,
    run_dir: Path,
    *,
    segment_maps: float | None = 3.0,
    workers: int = 1,
    progress: bool = True,
    pad: str = DEFAULT_PAD,
) -> FeatureSet:
    """Features for a study in ``run_dir/features/``.

    ``data`` is an audio folder (discovered, then extracted: the clip-level table plus MFCC maps
    of ``segment_maps``-second segments, 130 frames each for 3 s; cached in
    ``run_dir/features/cache/`` so a rerun resumes) or a feature CSV in the public layout,
    read as is (maps None). A clip shorter than a segment (at least 0.5 s) gives one map padded
    by ``pad`` (:mod:`genrelab.features.lengths`). Writes ``features.csv`` (+ ``.parquet``),
    ``maps.npz``, ``clips.csv``, ``skipped.csv`` and ``notes.csv``.
    """
    import pandas as pd

    data = Path(data)
    out = RunDir(run_dir).features
    if segment_maps is not None:
        segment_maps = check_segment(segment_maps, name="segment_maps")
    check_pad(pad)
    if not data.exists():
        raise DatasetError(f"{data} does not exist; give an audio folder or a feature CSV")
    if data.is_file():
        if data.suffix.lower() != ".csv":
            raise DatasetError(f"{data} is a file but not a .csv feature table; give a folder or a CSV")
        table = read_feature_csv(data)
        write_table(table, out / "features.csv")
        skipped = pd.DataFrame(columns=["path", "reason"])
        write_skipped([], out / "skipped.csv")
        write_notes([], out / "notes.csv")
        return FeatureSet(table=table, maps=None, clips=None, skipped=skipped)

    from genrelab.data.gtzan import discover

    dataset = discover(data)
    settings = Settings(segment=None, maps_segment=segment_maps, pad=pad)
    result = run_extraction(
        dataset.clips, settings=settings, workers=workers, cache_dir=out / "cache", progress=progress
    )
    skipped = [(str(p), r) for p, r in dataset.skipped] + result.skipped
    write_skipped(skipped, out / "skipped.csv")  # first: the error below points to it
    if result.table.empty:
        first = f"; the first: {skipped[0][0]}: {skipped[0][1]}" if skipped else ""
        raise DatasetError(
            f"no clip of {data} could be used ({len(skipped)} skipped; see {out / 'skipped.csv'}){first}"
        )
    write_table(result.table, out / "features.csv")
    write_notes(result.notes, out / "notes.csv")
    clips = pd.DataFrame(result.clips, columns=["filename", "track", "label", "path"])
    clips["path"] = [str(Path(p).absolute()) for p in clips["path"]]  # usable from any working folder
    write_with(out / "clips.csv", lambda tmp: clips.to_csv(tmp, index=False))
    if result.maps is not None:
        save_maps(out / "maps.npz", result.maps)
    return FeatureSet(
        table=result.table,
        maps=result.maps,
        clips=clips,
        skipped=pd.DataFrame(skipped, columns=["path", "reason"]),
        notes=pd.DataFrame(result.notes, columns=["path", "filename", "note"]),
    )
