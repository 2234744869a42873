"""Train the classifiers under a split protocol; write checkpoint, metrics and plots.

:func:`train_classifiers` runs a split protocol (``random:<f>``, ``fault-filtered``,
``kfold:<k>``) ``repeats`` times over seeds ``seed, seed+1, ...`` and writes, per model,
``RUN/models/<model>.pt``, ``RUN/metrics/<model>.json`` and ``RUN/plots/<model>_*.png``.

- The checkpoint is the model trained on the **first split** (first repeat, first fold). It
  is never refit on all rows, so it has never seen the test rows it was scored on.
- ``accuracy``/``macro_f1`` are means over all splits (repeats x folds), ``*_std`` their
  standard deviation; ``confusion_matrix`` and ``per_class`` are pooled (summed) over all
  splits' test sets, so its rows sum to the reported supports; ``history`` is the first
  split's; ``n_train``/``n_test`` are the first split's row counts.
- For segment data (maps models: 3 s segments of tracks) the split is by track and
  ``track_accuracy`` (argmax of the mean segment probability per track) is reported beside
  the segment ``accuracy``.

Training another model into an existing run folder adds it beside the others.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Sequence

import numpy as np
from torch import nn

from genrelab.classify.inputs import ModelInput, Rows, inputs_for
from genrelab.data import Split, check_no_leak, make_splits, parse_protocol
from genrelab.errors import DatasetError, ParameterError
from genrelab.features import FeatureSet
from genrelab.metrics import confusion, split_scores, summarise, track_proba
from genrelab.models import CLASSIFIERS, ModelSpec, get_spec
from genrelab.rundir import RunDir, RunPath
from genrelab.train import TrainConfig, deterministic, fit, predict_proba, save_checkpoint

__all__ = ["train_classifiers", "train_config_for", "new_model", "write_plots", "FirstSplit"]


def new_model(
    spec: ModelSpec,
    x_train: np.ndarray,
    n_classes: int,
    overrides: Mapping[str, Any],
    columns: Sequence[str] | None = None,
) -> nn.Module:
    """A fresh model of ``spec`` for training rows ``x_train``, normalisation fitted on them."""
    return inputs_for(spec).new_model(spec, x_train, n_classes, overrides, columns)


def train_config_for(
    name: str,
    *,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> TrainConfig:
    """The :class:`genrelab.train.TrainConfig` ``genrelab train`` uses for model ``name``."""
    given = {k: v for k, v in {"epochs": epochs, "batch_size": batch_size, "lr": lr}.items() if v is not None}
    d = {**get_spec(name).defaults, **dict(overrides or {}), **given}
    return TrainConfig.from_dict(d)


def train_classifiers(
    features: FeatureSet,
    models: Sequence[str],
    out: RunPath,
    *,
    split: str = "random:0.3",
    repeats: int = 1,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    seed: int = 32,
    device: str = "cpu",
    progress: bool = True,
    model_config: Mapping[str, Mapping[str, Any]] | None = None,
    train_config: Mapping[str, Mapping[str, Any]] | None = None,
    plots: bool = True,
) -> dict[str, dict]:
    """Train each of ``models`` on ``features`` (a FeatureSet) under ``split``; returns model -> metrics.

    ``epochs``/``batch_size``/``lr`` of None use each model's defaults (``MODELS[m].defaults``).
    ``model_config``/``train_config`` override architecture / training options per model name.
    """
    run = RunDir(out)
    names = list(dict.fromkeys(models))
    if not names:
        raise ParameterError(f"no model given; choose from {list(CLASSIFIERS)}")
    specs = [get_spec(n) for n in names]
    for s in specs:
        if s.kind == "recreation":
            raise ParameterError(f"{s.name} is a recreation model; train it with genrelab.recreation.train_recreation")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ParameterError(f"repeats={repeats!r} must be a positive integer")
    parse_protocol(split)
    rows = {s.name: inputs_for(s).rows(s, features) for s in specs}  # fail early, before any training
    results: dict[str, dict] = {}
    for spec in specs:
        cfg = train_config_for(
            spec.name, epochs=epochs, batch_size=batch_size, lr=lr, overrides=(train_config or {}).get(spec.name)
        )
        overrides = {**inputs_for(spec).data_config(rows[spec.name]), **dict((model_config or {}).get(spec.name, {}))}
        results[spec.name] = _train_one(
            spec,
            rows[spec.name],
            run,
            split=split,
            repeats=repeats,
            config=cfg,
            overrides=overrides,
            seed=seed,
            device=device,
            progress=progress,
            plots=plots,
        )
    return results


@dataclasses.dataclass
class FirstSplit:
    """The first split's model and results: what the checkpoint and the plots show."""

    split: Split
    proba: np.ndarray  # (n_test, n_classes)
    model: nn.Module | None = None
    history: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False


def _train_one(
    spec: ModelSpec,
    rows: Rows,
    run: RunDir,
    *,
    split: str,
    repeats: int,
    config: TrainConfig,
    overrides: dict[str, Any],
    seed: int,
    device: str,
    progress: bool,
    plots: bool,
) -> dict:
    """All splits of one model; writes its checkpoint (first split), metrics and plots."""
    labels = sorted(np.unique(rows.labels).tolist())
    if len(labels) < 2:
        raise DatasetError(f"{spec.name}: need at least two labels to classify, got {labels}")
    y = np.searchsorted(labels, rows.labels)
    inputs = inputs_for(spec)
    cm = np.zeros((len(labels), len(labels)), dtype=np.int64)
    per_split: list[dict] = []
    first: FirstSplit | None = None
    for r in range(repeats):
        for k, sp in enumerate(make_splits(split, rows.tracks, rows.labels, seed=seed + r)):
            scores, proba, done = _fit_split(
                spec,
                inputs,
                rows,
                y,
                labels,
                sp,
                config=config,
                overrides=overrides,
                run_seed=seed + r * 1000 + k,
                device=device,
                progress=progress,
                label=f" repeat {r + 1}/{repeats}" if repeats > 1 else "",
            )
            per_split.append(scores)
            cm += confusion(y[sp.test], proba.argmax(1), n_classes=len(labels))
            first = first or done
    assert first is not None and first.model is not None
    metrics = summarise(per_split, cm, labels)
    sp = first.split
    metrics.update(
        model=spec.name,
        kind=spec.kind,
        protocol=split,
        repeats=repeats,
        n_splits=len(per_split),
        seed=seed,
        n_train=int(len(sp.train)),
        n_test=int(len(sp.test)),
        n_tracks=int(len(np.unique(rows.tracks))),
        segmented=bool(rows.segmented),
        checkpoint_split=sp.name,
        test_tracks=sorted({str(t) for t in rows.tracks[sp.test]}),
        history=first.history,
        best_epoch=first.best_epoch,
        stopped_early=first.stopped_early,
        train_config=dataclasses.asdict(config),
        model_config=first.model.config_dict(),
    )
    extra = {
        "protocol": split,
        "split": sp.name,
        "frames": None,
        "feature_columns": None,
        "scaler": None,
        **inputs.checkpoint_extra(first.model, rows),
    }
    save_checkpoint(run.model(spec.name), name=spec.name, kind=spec.kind, model=first.model, labels=labels, extra=extra)
    run.write_metrics(spec.name, metrics)
    if plots:
        write_plots(spec, rows, labels, y, metrics, first, run)
    return metrics


def _fit_split(
    spec: ModelSpec,
    inputs: ModelInput,
    rows: Rows,
    y: np.ndarray,
    labels: list[str],
    sp: Split,
    *,
    config: TrainConfig,
    overrides: dict[str, Any],
    run_seed: int,
    device: str,
    progress: bool,
    label: str,
) -> tuple[dict, np.ndarray, FirstSplit]:
    """Train on one split, score its test rows: ``(scores, proba (n_test, n_classes), FirstSplit)``."""
    check_no_leak(sp, rows.tracks)
    if len(sp.train) == 0 or len(sp.test) == 0:
        raise DatasetError(f"split {sp.name!r} leaves no training or no test rows for these {len(rows.tracks)} rows")
    with deterministic(run_seed):  # seeded initialisation
        model = inputs.new_model(spec, rows.x[sp.train], len(labels), overrides, rows.columns)
    res = fit(
        model,
        rows.x[sp.train],
        y[sp.train],
        config=config,
        groups=rows.tracks[sp.train],
        seed=run_seed,
        device=device,
        progress=progress,
        description=f"{spec.name} {sp.name}{label}",
    )
    proba = predict_proba(model, rows.x[sp.test], device=device)
    scores = split_scores(y[sp.test], proba)
    if rows.segmented:
        tp, ty, _ = track_proba(proba, rows.tracks[sp.test], y[sp.test])
        scores["track_accuracy"] = float((tp.argmax(1) == ty).mean())
    return (
        scores,
        proba,
        FirstSplit(
            split=sp,
            proba=proba,
            model=model,
            history=res.history,
            best_epoch=res.best_epoch,
            stopped_early=res.stopped_early,
        ),
    )


def write_plots(
    spec: ModelSpec,
    rows: Rows,
    labels: list[str],
    y: np.ndarray,
    metrics: dict,
    first: FirstSplit,
    run: RunDir,
    *,
    prefix: str | None = None,
) -> None:
    """Curves, confusion matrix, per-class report and misclassified examples of the first split."""
    from genrelab.plots import classify as P
    from genrelab.plots import save_figure

    prefix = prefix or spec.name
    if metrics.get("history"):
        save_figure(P.curves(metrics["history"], title=spec.name), run.plot(f"{prefix}_curves"))
    save_figure(
        P.confusion(np.array(metrics["confusion_matrix"]), labels, title=f"{prefix} ({metrics['protocol']})"),
        run.plot(f"{prefix}_confusion"),
    )
    save_figure(P.report(metrics["per_class"], title=prefix), run.plot(f"{prefix}_report"))
    test = first.split.test
    pred = first.proba.argmax(1)
    wrong = np.flatnonzero(pred != y[test])
    vecs = inputs_for(spec).example_vectors(rows)
    means = {lab: vecs[y == i].mean(0) for i, lab in enumerate(labels) if np.any(y == i)}
    picked, seen = [], set()  # one misclassified clip per true genre, at most four
    for i in wrong:
        if y[test[i]] not in seen:
            picked.append(i)
            seen.add(y[test[i]])
        if len(picked) == 4:
            break
    examples = [(str(rows.names[test[i]]), labels[y[test[i]]], labels[pred[i]], vecs[test[i]]) for i in picked]
    save_figure(P.misclassified(examples, means, title=prefix), run.plot(f"{prefix}_misclassified"))
