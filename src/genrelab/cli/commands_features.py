"""``genrelab extract``: the feature table of an audio folder (or a list of files)."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from genrelab.cli import app
from genrelab.io import folder_lock, remove_stale_temporaries

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor
    from contextlib import AbstractContextManager

_STARTED = time.time()  # temporaries older than this were left by an earlier, killed process


@app.command()
def extract(
    data: Path = typer.Argument(..., help="Audio folder (any GTZAN layout) or a single audio file."),
    out: Path = typer.Option(
        ..., "-o", "--out", help="Output table (CSV); a .parquet copy and skipped.csv go beside it."
    ),
    segment: float | None = typer.Option(
        None,
        "--segment",
        help="Rows (and maps) per SECONDS-long segment (3 -> ten per 30 s clip); a shorter clip gives one.",
    ),
    workers: int = typer.Option(1, "--workers", help="Local worker processes."),
    scheduler: str | None = typer.Option(None, "--scheduler", help="Dask scheduler address, tcp://host:port."),
    maps: Path | None = typer.Option(None, "--maps", help="Also write MFCC maps to DIR/maps.npz."),
    offset: float = typer.Option(0.0, "--offset", help="Start reading each file this many seconds in."),
    duration: float | None = typer.Option(None, "--duration", help="Read at most this many seconds of each file."),
    pad: str = typer.Option(
        "reflect", "--pad", help="How a clip shorter than a map segment is padded: reflect | repeat | zeros."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bars"),
    progress: bool | None = typer.Option(None, "--progress/--no-progress", hidden=True),  # the old spelling
) -> None:
    """Extract the 57 GTZAN features in the public CSV layout (resumes into the same output).

    Clips from 0.5 s on give a row; under 2 s the tempo takes a fallback, listed in notes.csv.
    Exits with an error (code 2) when no clip gave a row; skipped.csv still lists why.
    """
    show = (not quiet) if progress is None else (progress and not quiet)
    with _early_pool(workers, scheduler) as pool:  # the workers load the engine while this scans the folder
        _extract(data, out, segment, workers, scheduler, maps, offset, duration, pad, show, pool)


def _early_pool(workers: int, scheduler: str | None) -> AbstractContextManager[ProcessPoolExecutor | None]:
    """A started pool of ``workers`` local processes warming up (:func:`genrelab.warmup.warm_worker`),
    or a null context for one worker or a Dask scheduler.

    Started first, before the folder is scanned and before this process imports pandas: with two
    workers on two cores, a worker's start-up (the engine's imports, numba's first kernel, about
    0.5 s) then runs beside this process's own instead of after it.
    """
    from genrelab.features.workers import pool, start
    from genrelab.warmup import warm_worker

    if scheduler is not None or workers == 1:
        return contextlib.nullcontext(None)
    return start(pool(workers, warm=warm_worker), workers)  # pool checks the worker count


def _extract(
    data: Path,
    out: Path,
    segment: float | None,
    workers: int,
    scheduler: str | None,
    maps: Path | None,
    offset: float,
    duration: float | None,
    pad: str,
    show: bool,
    pool: ProcessPoolExecutor | None,
) -> None:
    from genrelab.data.gtzan import discover
    from genrelab.errors import DatasetError
    from genrelab.features import extract_table
    from genrelab.features.table import write_skipped

    console = Console(soft_wrap=True)
    pre_skipped: list[tuple[str, str]] = []
    if data.exists() and not data.is_dir():
        clips: list = [data]  # a file (or a FIFO/device, which the loader names)
    else:
        dataset = discover(data)
        clips = list(dataset.clips)
        pre_skipped = [(str(p), r) for p, r in dataset.skipped]
    skipped_csv = out.parent / "skipped.csv"
    with folder_lock(out.parent, what="output folder"):  # a second extract into it stops at once
        remove_stale_temporaries(out.parent, older_than=_STARTED)  # left by a killed run
        table = extract_table(
            clips,
            segment=segment,
            workers=workers,
            scheduler=scheduler,
            out=out,
            maps_dir=maps,
            progress=show,
            offset=offset,
            duration=duration,
            pad=pad,
            pool=pool,
        )
        skipped = pre_skipped + list(table.attrs.get("skipped", []))
        if pre_skipped:
            write_skipped(skipped, skipped_csv)
    n_clips = int(table.attrs.get("n_clips", 0))
    if len(table) == 0:
        first = f"; the first: {skipped[0][0]}: {skipped[0][1]}" if skipped else ""
        raise DatasetError(
            f"nothing was extracted from {data}: {len(skipped)} file(s) skipped, reasons in {skipped_csv}{first}"
        )
    console.print(
        f"wrote {len(table)} rows from {n_clips} clips to {out} "
        f"({table.attrs.get('n_computed', 0)} extracted, {table.attrs.get('n_cached', 0)} from cache), "
        f"{len(skipped)} skipped" + (f" (see {skipped_csv})" if skipped else "")
    )
    notes = list(table.attrs.get("notes", []))
    if notes:
        console.print(
            f"{len(notes)} row(s) with a note (see {out.parent / 'notes.csv'}), the first: {notes[0][2]}",
            highlight=False,
            markup=False,
        )
    for path, reason in skipped[:10]:
        console.print(f"  skipped {path}: {reason}", highlight=False, markup=False)
