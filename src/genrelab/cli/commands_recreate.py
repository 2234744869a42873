"""CLI commands (recreation): ``recreate`` and ``pca``."""

from __future__ import annotations

from pathlib import Path

import typer

from genrelab.cli import app, pick_device
from genrelab.errors import ParameterError
from genrelab.io import folder_lock

GENRES_HELP = "comma-separated genres (default: classical,pop,metal,blues)"


def _genres(text: str) -> list[str]:
    names = [g.strip() for g in text.split(",") if g.strip()]
    if not names:
        raise ParameterError(f"--genres {text!r} names no genre; give a comma-separated list such as classical,pop")
    return list(dict.fromkeys(names))


def _models(model: str) -> tuple[str, ...]:
    from genrelab.recreation import MODEL_SHORT

    names = tuple(MODEL_SHORT)  # lstm, dense, diffusion: from the registry
    if model in ("both", "all"):
        return names if model == "all" else ("lstm", "dense")
    chosen = tuple(dict.fromkeys(m.strip() for m in model.split(",") if m.strip()))
    unknown = [m for m in chosen if m not in names]
    if unknown or not chosen:
        raise ParameterError(f"--model {model!r} is unknown; choose from {', '.join(names)}, both (lstm,dense) or all")
    return chosen


@app.command()
def recreate(
    run_dir: Path = typer.Argument(..., help="run folder with trained recreation models and classifiers"),
    genres: str = typer.Option("classical,pop,metal,blues", help=GENRES_HELP),
    per_genre: int = typer.Option(4, "--per-genre", help="clips per genre and model"),
    seconds: float = typer.Option(6.0, help="length of each clip (at least 3 s)"),
    model: str = typer.Option("all", help="lstm | dense | diffusion | a comma-separated list | both | all"),
    guidance: float = typer.Option(0.0, help="weight of the trained cnn's guidance (0: none)"),
    temperature: float = typer.Option(
        0.5, help="noise scale x the validation residual std, >= 0 (0: deterministic); as [recreation] temperature"
    ),
    seed: int = typer.Option(0, help="generation seed"),
    judge: str = typer.Option("convlstm", help="map classifier that judges the clips; never the guide (cnn)"),
    device: str | None = typer.Option(None, help="cpu | cuda (default: cuda when available)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bars"),
) -> None:
    """Generate genre clips with the recreation models, invert them to audio and reclassify them."""
    from rich.console import Console
    from rich.table import Table

    from genrelab.recreation import recreate as run

    dev = pick_device(device)
    with folder_lock(run_dir, what="run folder", create=False):
        res = run(
            run_dir,
            genres=_genres(genres),
            per_genre=per_genre,
            seconds=seconds,
            models=_models(model),
            guidance=guidance,
            temperature=temperature,
            seed=seed,
            judge=judge,
            device=dev,
            progress=not quiet,
        )
    console = Console()
    table = Table(title="share classified as the intended genre")
    sources = [*res["models"], "oracle", "real"]
    table.add_column("classifier")
    for s in sources:
        table.add_column(s, justify="right")
    for clf, rows in res["fidelity"].items():
        table.add_row(clf, *(_fmt(rows.get(s, {}).get("overall")) for s in sources))
    if res["fidelity"]:
        console.print(table)
    else:
        console.print("no trained classifiers in the run: audio written, nothing reclassified")
    jres, mres = res.get("judge") or {}, res.get("motion") or {}
    if jres.get("shares"):
        jt = Table(title=f"the judge ({jres['model']}, never the guide): share of the intended genre; motion ratios")
        for col in ("source", "feature domain", "audio domain", "Fréchet", "frame change", "beat band", "diversity"):
            jt.add_column(col, justify="left" if col == "source" else "right")
        for source, sh in jres["shares"].items():
            r = (mres.get("ratios") or {}).get(source, {})
            fd = (jres.get("frechet", {}).get(source) or jres.get("frechet_real_halves") or {}).get("mean")
            jt.add_row(
                source,
                _fmt((sh.get("feature") or {}).get("overall")),
                _fmt(sh["audio"].get("overall")),
                _num(fd),
                _num(r.get("frame_change")),
                _num(r.get("beat_share")),
                _num((mres.get("diversity_ratio") or {}).get(source)),
            )
        console.print(jt)
    if res["missing"]:
        console.print(f"skipped (not trained): {', '.join(res['missing'])}")
    console.print(f"wrote {Path(run_dir) / 'recreated'} and {Path(run_dir) / 'metrics' / 'fidelity.json'}")


def _num(value: object) -> str:
    return f"{value:.2f}" if isinstance(value, (int, float)) else "-"


@app.command()
def pca(
    run_dir: Path = typer.Argument(..., help="run folder with recreated audio (genrelab recreate)"),
    genres: str = typer.Option("classical,pop,metal,blues", help=GENRES_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bars"),
) -> None:
    """PCA of the features of the recreated (and original) audio; writes metrics/pca.json and plots."""
    from rich.console import Console

    from genrelab.analysis import run_pca

    with folder_lock(run_dir, what="run folder", create=False):
        res = run_pca(run_dir, genres=_genres(genres), progress=not quiet)
    console = Console()
    for source, s in res["sources"].items():
        ev = s["explained_variance_ratio"]
        console.print(
            f"{source}: {s['n_clips']} clips, PC1+PC2 explain {100 * sum(ev[:2]):.0f} %, "
            f"silhouette {_fmt(s['silhouette'])}"
        )
    console.print(f"wrote {Path(run_dir) / 'metrics' / 'pca.json'} and plots/pca_*.png")


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"
