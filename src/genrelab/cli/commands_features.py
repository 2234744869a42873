"""``genrelab extract``: the feature table of an audio folder (or a list of files)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from genrelab.cli import app


@app.command()
def extract(
    data: Path = typer.Argument(..., help="Audio folder (any GTZAN layout) or a single audio file."),
    out: Path = typer.Option(
        ..., "-o", "--out", help="Output table (CSV); a .parquet copy and skipped.csv go beside it."
    ),
    segment: float | None = typer.Option(
        None, "--segment", help="Rows per SECONDS-long segment (3 -> ten per 30 s clip)."
    ),
    workers: int = typer.Option(1, "--workers", help="Local worker processes."),
    scheduler: str | None = typer.Option(None, "--scheduler", help="Dask scheduler address, tcp://host:port."),
    maps: Path | None = typer.Option(None, "--maps", help="Also write MFCC maps to DIR/maps.npz."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Extract the 57 GTZAN features in the public CSV layout (resumes into the same output)."""
    from genrelab.data.gtzan import discover
    from genrelab.features import extract_table

    console = Console(soft_wrap=True)
    pre_skipped: list[tuple[str, str]] = []
    if data.is_file():
        clips: list = [data]
    else:
        dataset = discover(data)
        clips = list(dataset.clips)
        pre_skipped = [(str(p), r) for p, r in dataset.skipped]
    table = extract_table(
        clips, segment=segment, workers=workers, scheduler=scheduler, out=out, maps_dir=maps, progress=progress
    )
    skipped = pre_skipped + list(table.attrs.get("skipped", []))
    if pre_skipped:
        from genrelab.features.table import write_skipped

        write_skipped(skipped, out.parent / "skipped.csv")
    console.print(
        f"wrote {len(table)} rows from {len(clips) - len(table.attrs.get('skipped', []))} clips to {out} "
        f"({table.attrs.get('n_computed', 0)} extracted, {table.attrs.get('n_cached', 0)} from cache), "
        f"{len(skipped)} skipped" + (f" (see {out.parent / 'skipped.csv'})" if skipped else "")
    )
    for path, reason in skipped[:10]:
        console.print(f"  skipped {path}: {reason}")
