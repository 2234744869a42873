"""Apply trained classifiers: predict audio files, score another data set."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from genrelab.classify.classifier import Classifier, default_model, trained_classifiers
from genrelab.classify.inputs import inputs_for, window_samples
from genrelab.classify.training import FirstSplit, write_plots
from genrelab.constants import SR
from genrelab.errors import DatasetError, GenrelabError, ParameterError
from genrelab.features.lengths import DEFAULT_PAD, TEMPO_FALLBACK_BPM, TEMPO_MIN_SECONDS, check_length
from genrelab.metrics import confusion, split_scores, summarise, track_proba
from genrelab.models import get_spec
from genrelab.rundir import RunDir, RunPath

__all__ = ["predict_files", "evaluate_classifiers"]


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
    length of the audio read), "windows" (model inputs averaged: MFCC windows of the model's
    segment for a maps model, 1 for the whole-file features)}``; a maps model adds
    ``"window_seconds"`` and ``"padded"`` (the audio was shorter than one window and padded to
    it, as its training maps of short clips were). ``"note"`` says in words when windows were
    averaged (their mean probability), the clip was padded, or (features model, under 2 s) the
    tempo feature took its fallback. ``offset``/``duration`` (seconds) read that part of each
    file. A file that cannot be used (shorter than 0.5 s among them) gives
    ``{"file", "error": reason}`` and the others go on.
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
    part = f" read from {offset:g} s" if offset else " read"
    check_length(y.size, sr=SR, what=f"{clf.name} prediction", part=part)
    x = clf.audio_inputs(y, SR)
    p = clf.proba(x).mean(0)
    order = np.argsort(-p, kind="stable")
    row: dict = {
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
    notes = []
    window = clf.segment_seconds
    if window is not None:  # a maps model: windows of `window` seconds
        row["window_seconds"] = window
        row["padded"] = bool(y.size < window_samples(clf.checkpoint))
        if row["padded"]:
            pad = clf.checkpoint.get("pad") or DEFAULT_PAD
            notes.append(
                f"{seconds:.2f} s is shorter than the model's {window:g} s window: padded ({pad}) to one window"
            )
        elif len(x) > 1:
            notes.append(f"mean of the probabilities of {len(x)} windows of {window:g} s (as track accuracy votes)")
    elif seconds < TEMPO_MIN_SECONDS:
        notes.append(
            f"tempo feature set to {TEMPO_FALLBACK_BPM:g} bpm: {seconds:.2f} s is under the {TEMPO_MIN_SECONDS:g} s a tempo estimate needs"
        )
    if notes:
        row["note"] = "; ".join(notes)
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
    segment: float | None = None,
) -> dict[str, dict]:
    """Score trained classifiers on another set (every row is test data).

    ``data``: an audio folder (features cached in ``RUN/evaluations/<set>/``) or a feature CSV.
    Its MFCC maps are cut at ``segment`` seconds (None: the maps models' own segment length); a
    maps model refuses maps of another length with a :class:`ParameterError`.
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
    maps_clfs = [c for c in clfs if c.segment_seconds is not None]
    seg = segment if segment is not None else (maps_clfs[0].segment_seconds if maps_clfs else 3.0)
    for c in maps_clfs:  # before any extraction: every maps model must take maps of this length
        if c.segment_seconds != seg:
            raise ParameterError(
                f"the {c.name} model takes {c.segment_seconds:g} s maps, not {seg:g} s; "
                f"evaluate it with --segment {c.segment_seconds:g} (choose the models with -m)"
            )
    pad = str(maps_clfs[0].checkpoint.get("pad") or DEFAULT_PAD) if maps_clfs else DEFAULT_PAD
    features = prepare(data, run.sub_run("evaluations", set_name).root, segment_maps=seg, pad=pad, progress=progress)
    results = {}
    for clf in clfs:
        spec = get_spec(clf.name)
        if spec.kind == "maps" and features.maps is not None:
            clf.check_maps(features.maps, where=str(data))
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
