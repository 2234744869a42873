"""CLI commands for data: ``genrelab synth`` (the synthesised corpus) and ``genrelab scan`` (a collection)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from genrelab.cli import app
from genrelab.constants import GENRES
from genrelab.errors import ParameterError


@app.command()
def synth(
    out: Annotated[Path, typer.Argument(help="Folder to write OUT/<genre>/<genre>.000NN.wav into.")],
    clips_per_genre: Annotated[int, typer.Option(help="Clips per genre.")] = 100,
    duration: Annotated[float, typer.Option(help="Seconds per clip.")] = 30.0,
    sr: Annotated[int, typer.Option(help="Sample rate in Hz.")] = 22050,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same files.")] = 0,
    genres: Annotated[str | None, typer.Option(help="Comma-separated genres (default: all ten).")] = None,
) -> None:
    """Write a procedurally synthesised ten-genre corpus in the GTZAN layout."""
    if clips_per_genre < 1:
        raise ParameterError(f"--clips-per-genre {clips_per_genre} must be at least 1")
    if not duration > 0:
        raise ParameterError(f"--duration {duration:g} must be a positive number of seconds")
    if sr < 1000:
        raise ParameterError(f"--sr {sr} must be a sample rate of at least 1000 Hz, e.g. 22050")
    chosen = None
    if genres is not None:
        chosen = [g.strip() for g in genres.split(",") if g.strip()]
        unknown = [g for g in chosen if g not in GENRES]
        if not chosen or unknown:
            raise ParameterError(f"--genres {genres!r}: unknown genre(s) {unknown}; choose from {', '.join(GENRES)}")
    if out.exists() and not out.is_dir():
        raise ParameterError(f"OUT {out} is a file; give a folder")

    from genrelab.data import synthesise_corpus

    extra = {} if chosen is None else {"genres": chosen}
    paths = synthesise_corpus(
        out, clips_per_genre=clips_per_genre, duration=duration, sr=sr, seed=seed, progress=True, **extra
    )
    n_genres = len({p.parent.name for p in paths})
    typer.echo(f"wrote {len(paths)} clips ({n_genres} genres x {clips_per_genre}, {duration:g} s at {sr} Hz) to {out}")


@app.command()
def scan(
    root: Annotated[Path, typer.Argument(help="A GTZAN copy or any folder with one subfolder per label.")],
    check: Annotated[bool, typer.Option(help="Read each file's header and list unreadable ones.")] = True,
) -> None:
    """Show what genrelab finds in a collection: layout, clips per label, skipped files."""
    from genrelab.data import discover

    ds = discover(root, check=check)
    console = Console()
    console.print(f"[bold]{ds.root}[/]  layout: [cyan]{ds.layout}[/]  clips: {len(ds.clips)}  labels: {len(ds.labels)}")
    table = Table("label", "clips", "tracks")
    tracks: dict[str, set[str]] = {}
    for c in ds.clips:
        tracks.setdefault(c.label, set()).add(c.track_id)
    for label, n in ds.counts().items():
        table.add_row(label, str(n), str(len(tracks[label])))
    console.print(table)
    if ds.skipped:
        console.print(f"[yellow]skipped {len(ds.skipped)} unreadable file(s):[/]")
        for path, reason in ds.skipped:
            console.print(f"  {path}: {reason}", highlight=False, markup=False, soft_wrap=True)
