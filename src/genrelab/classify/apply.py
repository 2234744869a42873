"""Apply trained classifiers: predict audio files, score another data set."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from genrelab.classify.classifier import Classifier, default_model, trained_classifiers
from genrelab.classify.inputs import inputs_for
from genrelab.classify.training import FirstSplit, write_plots
from genrelab.constants import SR
from genrelab.errors import AudioError, DatasetError, GenrelabError, ParameterError
from genrelab.metrics import confusion, split_scores, summarise, track_proba
from genrelab.models import get_spec
from genrelab.rundir import RunDir, RunPath

__all__ = ["predict_files", "evaluate_classifiers"]

#: Shortest audio ``predict`` classifies (seconds): one MFCC window of the maps models.
MIN_PREDICT_SECONDS = 3.0


def predict_files(
    run_dir: RunPath,
    files: Sequence[Path],
    *,
    model: str | None = None,
    top: int = 3,
    device: str = "cpu",
    offset: float = 0.0,
    duration: float | None = None,
) -> list[dict]:
    """Classify audio files; one dict per file, in order.

    Success: ``{"file", "genre", "probabilities": {genre: p, ...} (all classes, descending),
    "top": [[genre, p], ...] (``top`` of them), "model", "offset", "duration", "seconds" (the
    length of the audio read), "windows" (model inputs averaged: 3 s MFCC windows for a maps
    model, 1 for the whole-file features)}`` plus ``"note"`` when several windows were averaged.
    ``offset``/``duration`` (seconds) read that part of each file. A file that cannot be used
    (shorter than 3 s among them) gives ``{"file", "error": reason}`` and the others go on.
    ``model`` None picks the trained classifier with the best reported accuracy.
    """
    from genrelab.features.table import check_span

    run = RunDir(run_dir).require()
    if not isinstance(top, int) or top < 1:
        raise ParameterError(f"top={top!r} must be a positive integer")
    check_span(offset, duration)
    clf = Classifier.load(run, model or default_model(run), device=device)
    results = []
    for f in files:
        try:
            row = _predict_one(clf, Path(f), offset=offset, duration=duration, top=top)
        except GenrelabError as exc:
            msg = str(exc)
            row = {"file": str(f), "error": msg if str(f) in msg else f"{f}: {msg}"}
        results.append(row)
    return results


def _predict_one(clf: Classifier, f: Path, *, offset: float, duration: float | None, top: int) -> dict:
    """The prediction dict of one file (see :func:`predict_files`); GenrelabError when unusable."""
    from genrelab.audio import load

    y = load(f, sr=SR, offset=offset, duration=duration)
    seconds = y.size / SR
    part = f" from {offset:g} s" if offset else ""
    if seconds < MIN_PREDICT_SECONDS:
        need = (
            f"classifies {MIN_PREDICT_SECONDS:g} s MFCC windows and needs at least one"
            if clf.kind == "maps"
            else f"needs at least {MIN_PREDICT_SECONDS:g} s"
        )
        raise AudioError(f"{f}: too short ({seconds:.2f} s read{part}); the {clf.name} model {need}")
    x = clf.audio_inputs(y, SR)
    p = clf.proba(x).mean(0)
    order = np.argsort(-p, kind="stable")
    row = {
        "file": str(f),
        "genre": clf.labels[order[0]],
        "probabilities": {clf.labels[i]: float(p[i]) for i in order},
        "top": [[clf.labels[i], float(p[i])] for i in order[:top]],
        "model": clf.name,
        "offset": float(offset),
        "duration": None if duration is None else float(duration),
        "seconds": round(float(seconds), 3),
        "windows": int(len(x)),
    }
    if len(x) > 1:
        row["note"] = f"mean of the probabilities of {len(x)} windows of 3 s (as track accuracy votes)"
    return row


def _set_name(data: Path) -> str:
    data = Path(data)
    return data.stem if data.is_file() else data.name


def evaluate_classifiers(
    run_dir: RunPath,
    data: Path,
    *,
    models: Sequence[str] | None = None,
    device: str = "cpu",
    progress: bool = True,
    plots: bool = True,
) -> dict[str, dict]:
    """Score trained classifiers on another set (every row is test data).

    ``data``: an audio folder (features cached in ``RUN/evaluations/<set>/``) or a feature CSV.
    Writes ``RUN/metrics/<model>.<set>.json`` (same keys as training; ``history`` empty) and
    plots ``RUN/plots/<model>.<set>_*.png``. Returns model -> metrics.
    """
    from genrelab.data import Split
    from genrelab.features import prepare

    run, data = RunDir(run_dir).require(), Path(data)
    names = list(models) if models else trained_classifiers(run)
    if not names:
        raise DatasetError(f"{run} has no trained classifier; run `genrelab train` first")
    clfs = [Classifier.load(run, n, device=device) for n in names]
    set_name = _set_name(data)
    features = prepare(data, run.sub_run("evaluations", set_name).root, progress=progress)
    results = {}
    for clf in clfs:
        spec = get_spec(clf.name)
        rows = inputs_for(spec).rows(spec, features)
        unknown = sorted(set(rows.labels) - set(clf.labels))
        if unknown:
            raise DatasetError(f"{data} has labels {unknown} that model {clf.name!r} was not trained on ({clf.labels})")
        labels = clf.labels
        y = (
            np.searchsorted(labels, rows.labels)
            if labels == sorted(labels)
            else np.array([labels.index(v) for v in rows.labels])
        )
        if spec.kind == "maps" and rows.x.shape[1:] != (clf.module.config.n_mfcc, clf.frames):
            raise DatasetError(
                f"{data}: MFCC maps of shape {rows.x.shape[1:]}, model {clf.name!r} was trained on "
                f"({clf.module.config.n_mfcc}, {clf.frames})"
            )
        proba = clf.proba(rows.x) if spec.kind == "maps" else clf.predict_proba_features(features.table)
        scores = split_scores(y, proba)
        if rows.segmented:
            tp, ty, _ = track_proba(proba, rows.tracks, y)
            scores["track_accuracy"] = float((tp.argmax(1) == ty).mean())
        metrics = summarise([scores], confusion(y, proba.argmax(1), n_classes=len(labels)), labels)
        metrics.update(
            model=clf.name,
            kind=clf.kind,
            protocol=f"evaluate:{set_name}",
            repeats=1,
            n_splits=1,
            n_train=0,
            n_test=int(len(y)),
            n_tracks=int(len(np.unique(rows.tracks))),
            segmented=bool(rows.segmented),
            data=str(data),
            history=[],
        )
        run.write_metrics(f"{clf.name}.{set_name}", metrics)
        if plots:
            first = FirstSplit(
                split=Split(name=set_name, train=np.array([], dtype=np.int64), test=np.arange(len(y))), proba=proba
            )
            write_plots(spec, rows, labels, y, metrics, first, run, prefix=f"{clf.name}.{set_name}")
        results[clf.name] = metrics
    return results
