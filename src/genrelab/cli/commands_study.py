"""CLI commands: ``genrelab study`` (the whole study into a run folder) and ``genrelab demo``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from genrelab.cli import app, pick_device

if TYPE_CHECKING:
    from genrelab.study import StudyConfig


@app.command()
def study(
    data: Path | None = typer.Argument(
        None, help="Audio folder (any GTZAN layout) or a feature CSV; omit to synthesise the corpus."
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Run folder (created; rerunning resumes it)."),
    config: Path | None = typer.Option(None, "--config", "-c", help="TOML file laid over the preset."),
    preset: str | None = typer.Option(None, "--preset", help="demo (small, CPU) or paper (the source study's grid)."),
    device: str | None = typer.Option(None, "--device", help="cpu or cuda (default: cuda when available)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Features -> dense, cnn, convlstm -> recreation -> reclassify -> PCA -> RUN/report.html."""
    from genrelab.study import load_config

    cfg = load_config(config, preset=preset)
    _run(cfg, out, data=data, device=device, quiet=quiet)


@app.command()
def demo(
    out: Path = typer.Option(Path("runs/demo"), "--out", "-o", help="Run folder."),
    device: str | None = typer.Option(None, "--device", help="cpu or cuda (default: cuda when available)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """The whole study on a synthesised ten-genre corpus with the small demo preset."""
    from genrelab.study import demo as demo_config

    _run(demo_config(), out, data=None, device=device, quiet=quiet)


def _run(cfg: StudyConfig, out: Path, *, data: Path | None, device: str | None, quiet: bool) -> None:
    """Run the study, print where the report is; an interrupt says how to resume (exit 130)."""
    from rich.console import Console

    from genrelab.rundir import RunDir
    from genrelab.study import run_study

    console = Console(quiet=quiet)
    t0 = time.perf_counter()
    try:
        run = run_study(cfg, out, data=data, progress=not quiet, device=pick_device(device), console=console)
    except KeyboardInterrupt:
        typer.secho(
            f"interrupted; finished steps are kept in {RunDir(out).state_json}: rerun the same command to resume",
            err=True,
            fg=typer.colors.YELLOW,
        )
        raise typer.Exit(130) from None
    typer.echo(f"report: {RunDir(run).report_html} ({time.perf_counter() - t0:.0f} s)")
