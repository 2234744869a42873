"""CLI commands (classify): ``train``, ``evaluate``, ``predict``."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from genrelab.cli import app, pick_device
from genrelab.errors import DatasetError, ParameterError
from genrelab.io import folder_lock

MODEL_HELP = "dense | cnn | convlstm | all (the three classifiers) | recreate-lstm | recreate-dense | recreate-diffusion; repeatable"


def _model_names(models: list[str]) -> list[str]:
    from genrelab.models import CLASSIFIERS, MODELS

    names: list[str] = []
    for m in models:
        for part in m.split(","):
            part = part.strip()
            if part == "all":
                names += list(CLASSIFIERS)
            elif part in MODELS:
                names.append(part)
            else:
                raise ParameterError(f"unknown model {part!r}; choose from {sorted([*MODELS, 'all'])}")
    return list(dict.fromkeys(names))


@app.command()
def train(
    data: Path = typer.Argument(..., help="audio folder or feature CSV (public layout)"),
    model: list[str] = typer.Option(["dense"], "--model", "-m", help=MODEL_HELP),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="run folder (created; other models in it are kept); default runs/<DATA name>"
    ),
    split: str = typer.Option("random:0.3", help="random:<test_fraction> | fault-filtered | kfold:<k>"),
    repeats: int = typer.Option(1, min=1, help="rerun the protocol over this many seeds (seed, seed+1, ...)"),
    epochs: int | None = typer.Option(None, min=1, help="default: the model's own (see docs)"),
    batch_size: int | None = typer.Option(None, min=1, help="default: the model's own"),
    lr: float | None = typer.Option(None, help="default: the model's own"),
    seed: int = typer.Option(32, help="split and initialisation seed"),
    workers: int = typer.Option(1, min=1, help="feature-extraction workers for an audio folder"),
    segment: float = typer.Option(3.0, "--segment", help="seconds per MFCC map of the map models (130 frames for 3)"),
    pad: str = typer.Option(
        "reflect", "--pad", help="padding of clips shorter than a segment: reflect | repeat | zeros"
    ),
    device: str | None = typer.Option(None, help="cpu | cuda (default: cuda when available)"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bars"),
) -> None:
    """Train classifiers (and/or recreation models) on DATA; writes models/, metrics/, plots/ in OUT."""
    names = _model_names(model)
    if out is None:
        out = Path("runs") / (data.stem if data.suffix else data.name or "run")
    from genrelab.data import parse_protocol
    from genrelab.features.lengths import check_pad, check_segment

    parse_protocol(split)  # bad split strings and segment lengths fail before any feature extraction
    check_segment(segment)
    check_pad(pad)
    if lr is not None and not 0 < lr < 10:
        raise ParameterError(f"--lr {lr} must be a positive number below 10")
    dev = pick_device(device)
    if not data.exists():
        raise DatasetError(f"{data} does not exist; give an audio folder or a feature CSV")
    if out.exists() and not out.is_dir():
        raise ParameterError(f"--out {str(out)!r} is a file; give a folder for the run")
    with folder_lock(out, what="run folder"):
        _train_into(out, data, names, dev, split, repeats, epochs, batch_size, lr, seed, workers, quiet, (segment, pad))


def _train_into(
    out: Path,
    data: Path,
    names: list[str],
    dev: str,
    split: str,
    repeats: int,
    epochs: int | None,
    batch_size: int | None,
    lr: float | None,
    seed: int,
    workers: int,
    quiet: bool,
    maps: tuple[float, str] = (3.0, "reflect"),
) -> None:
    """The body of ``train``, run under the run folder's lock; ``maps`` = (segment seconds, padding)."""
    from rich.console import Console

    from genrelab.features import prepare
    from genrelab.models import get_spec

    features = prepare(data, out, segment_maps=maps[0], pad=maps[1], workers=workers, progress=not quiet)
    classifiers = [n for n in names if get_spec(n).kind != "recreation"]
    recreation = [n for n in names if get_spec(n).kind == "recreation"]
    console = Console()
    if classifiers:
        from genrelab.classify import train_classifiers

        results = train_classifiers(
            features,
            classifiers,
            out,
            split=split,
            repeats=repeats,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            seed=seed,
            device=dev,
            progress=not quiet,
        )
        for name, m in results.items():
            extra = f", track accuracy {m['track_accuracy']:.3f}" if "track_accuracy" in m else ""
            console.print(
                f"{name}: accuracy {m['accuracy']:.3f} ± {m['accuracy_std']:.3f}{extra}, "
                f"macro F1 {m['macro_f1']:.3f} ({m['protocol']}, {m['n_splits']} split(s))"
            )
    if recreation:
        from genrelab.recreation import train_recreation

        kw = {k: v for k, v in {"epochs": epochs, "batch_size": batch_size, "lr": lr}.items() if v is not None}
        results = train_recreation(features, recreation, out, seed=seed, device=dev, progress=not quiet, **kw)
        for name in results:
            console.print(f"{name}: trained -> {out / 'models'}")
    console.print(f"run folder: {out}")


@app.command()
def evaluate(
    run_dir: Path = typer.Argument(..., help="a run folder with trained classifiers"),
    data: Path = typer.Argument(..., help="audio folder or feature CSV; every row is test data"),
    model: list[str] | None = typer.Option(None, "--model", "-m", help="classifier(s); default: all trained"),
    segment: float | None = typer.Option(
        None, "--segment", help="seconds per MFCC map (default: the map models' own; another length is refused)"
    ),
    device: str | None = typer.Option(None, help="cpu | cuda"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bars"),
) -> None:
    """Score trained classifiers on another set; writes metrics/<model>.<set>.json."""
    from rich.console import Console

    from genrelab.classify import evaluate_classifiers

    names = _model_names(model) if model else None
    dev = pick_device(device)
    with folder_lock(run_dir, what="run folder", create=False):
        results = evaluate_classifiers(run_dir, data, models=names, device=dev, progress=not quiet, segment=segment)
    console = Console()
    for name, m in results.items():
        extra = f", track accuracy {m['track_accuracy']:.3f}" if "track_accuracy" in m else ""
        console.print(
            f"{name} on {m['protocol'].split(':', 1)[1]}: accuracy {m['accuracy']:.3f}{extra}, "
            f"macro F1 {m['macro_f1']:.3f} ({m['n_test']} rows)"
        )


@app.command()
def predict(
    run_dir: Path = typer.Argument(..., help="a run folder with trained classifiers"),
    files: list[Path] = typer.Argument(..., help="audio files, at least 0.5 s each (of the part read)"),
    model: str | None = typer.Option(
        None, "--model", "-m", help="default: the trained classifier with the best accuracy"
    ),
    offset: float = typer.Option(0.0, "--offset", help="start reading each file this many seconds in"),
    duration: float | None = typer.Option(None, "--duration", help="read at most this many seconds of each file"),
    as_json: bool = typer.Option(
        False, "--json", help="print a JSON list of {file, genre, probabilities, offset, duration, seconds, ...}"
    ),
    device: str | None = typer.Option(None, help="cpu | cuda"),
) -> None:
    """Top three genres per audio file. A bad file prints its reason; exit 1 if any file failed.

    A file longer than the model's window (cnn, convlstm: 3 s unless trained with --segment)
    gets the mean of its windows' probabilities; one shorter is padded to one window
    (JSON "padded": true). The output says which, and gives the seconds read.
    """
    from rich.console import Console

    from genrelab.classify import predict_files

    if model is not None:
        from genrelab.models import get_spec

        get_spec(model)
    results = predict_files(run_dir, files, model=model, device=pick_device(device), offset=offset, duration=duration)
    failed = [r for r in results if "error" in r]
    if as_json:
        rows = [
            {"file": r["file"], "error": r["error"]} if "error" in r else {k: v for k, v in r.items() if k != "top"}
            for r in results
        ]
        typer.echo(json.dumps(rows, indent=2))
    else:
        console = Console()
        for r in results:
            if "error" in r:
                typer.secho(f"error: {r['error']}", err=True, fg=typer.colors.RED)
            else:
                tops = ", ".join(f"{g} {p:.1%}" for g, p in r["top"])
                note = f"; {r['note']}" if "note" in r else ""
                console.print(
                    f"{r['file']}: [bold]{r['genre']}[/bold] ({tops}; {r['seconds']:.1f} s{note})", highlight=False
                )
    if failed:
        raise typer.Exit(1)
