"""Train, evaluate and apply the genre classifiers (``dense``, ``cnn``, ``convlstm``).

:func:`train_classifiers` runs a split protocol (``random:<f>``, ``fault-filtered``,
``kfold:<k>``) ``repeats`` times over seeds ``seed, seed+1, ...`` and writes, per model,
``RUN/models/<model>.pt``, ``RUN/metrics/<model>.json`` and ``RUN/plots/<model>_*.png``.

What is saved and reported:

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
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from genrelab.errors import AudioError, DatasetError, GenrelabError, ParameterError
from genrelab.io import read_json, write_json
from genrelab.models import CLASSIFIERS, ModelSpec, build_model, get_spec

SR = 22050  # sample rate every feature and map is computed at


# --------------------------------------------------------------------------- data views
@dataclasses.dataclass
class _Data:
    """Rows a model trains on: ``x (N, ...)`` raw inputs, string labels and track ids."""

    x: np.ndarray
    labels: np.ndarray  # (N,) str
    tracks: np.ndarray  # (N,) str
    names: np.ndarray  # (N,) str file/segment names
    columns: list[str] | None = None

    @property
    def segmented(self) -> bool:
        return len(np.unique(self.tracks)) < len(self.tracks)


def _feature_columns() -> list[str]:
    from genrelab.features import FEATURE_COLUMNS

    return list(FEATURE_COLUMNS)


def _table_data(table: pd.DataFrame, *, where: str = "feature table") -> _Data:
    from genrelab.data import track_id_of

    cols = _feature_columns()
    missing = [c for c in ["filename", "label", *cols] if c not in table.columns]
    if missing:
        raise DatasetError(f"{where} lacks columns {missing[:5]}{' ...' if len(missing) > 5 else ''}; expected the public CSV layout")
    x = table[cols].to_numpy(dtype=np.float32)
    if not np.all(np.isfinite(x)):
        bad = table["filename"][~np.isfinite(x).all(1)].astype(str).tolist()
        raise DatasetError(f"{where} has NaN/inf feature values in rows {bad[:5]}")
    names = table["filename"].astype(str).to_numpy()
    return _Data(x=x, labels=table["label"].astype(str).to_numpy(), names=names,
                 tracks=np.array([track_id_of(n) for n in names]), columns=cols)


def _data_for(spec: ModelSpec, features: Any) -> _Data:
    """The rows model ``spec`` trains on from a :class:`genrelab.features.FeatureSet`."""
    if spec.kind == "features":
        return _table_data(features.table)
    if spec.kind == "maps":
        maps = features.maps
        if maps is None or len(maps.maps) == 0:
            raise ParameterError(f"{spec.name} needs audio (MFCC maps); a feature table has none")
        return _Data(x=np.asarray(maps.maps, dtype=np.float32), labels=np.asarray(maps.label).astype(str),
                     tracks=np.asarray(maps.track).astype(str), names=np.asarray(maps.filename).astype(str))
    raise ParameterError(f"{spec.name} is a {spec.kind} model, not a classifier; choose from {list(CLASSIFIERS)}")


# --------------------------------------------------------------------------- training
def log_columns_of(columns: Sequence[str]) -> list[int]:
    """Indices of the variance features (``*_var``), which ``dense`` log-compresses."""
    return [i for i, c in enumerate(columns) if str(c).endswith("_var")]


def _new_model(spec: ModelSpec, x_train: np.ndarray, n_classes: int, overrides: Mapping[str, Any],
               columns: Sequence[str] | None = None):
    import torch

    cfg = dict(overrides)
    if spec.kind == "features":
        cfg.setdefault("log_columns", log_columns_of(columns or []))
        cfg.update(n_features=x_train.shape[1], n_classes=n_classes)
        model = build_model(spec.name, **cfg)
        model.set_normalisation(torch.from_numpy(x_train))
    else:
        cfg.update(n_mfcc=x_train.shape[1], frames=x_train.shape[2], n_classes=n_classes)
        model = build_model(spec.name, **cfg)
        model.norm.fit(torch.from_numpy(x_train))
    return model


def train_config_for(name: str, *, epochs: int | None = None, batch_size: int | None = None,
                     lr: float | None = None, overrides: Mapping[str, Any] | None = None):
    """The :class:`genrelab.train.TrainConfig` ``genrelab train`` uses for model ``name``."""
    from genrelab.train import TrainConfig

    given = {k: v for k, v in {"epochs": epochs, "batch_size": batch_size, "lr": lr}.items() if v is not None}
    d = {**get_spec(name).defaults, **dict(overrides or {}), **given}
    return TrainConfig.from_dict(d)


def train_classifiers(
    features: Any,
    models: Sequence[str],
    out: Path,
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
    from genrelab.data import check_no_leak, make_splits, parse_protocol

    out = Path(out)
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
    datas = {s.name: _data_for(s, features) for s in specs}  # fail early, before any training
    results: dict[str, dict] = {}
    for spec in specs:
        data = datas[spec.name]
        cfg = train_config_for(spec.name, epochs=epochs, batch_size=batch_size, lr=lr,
                               overrides=(train_config or {}).get(spec.name))
        overrides = dict((model_config or {}).get(spec.name, {}))
        results[spec.name] = _train_one(spec, data, out, split=split, repeats=repeats, config=cfg,
                                        overrides=overrides, seed=seed, device=device, progress=progress,
                                        plots=plots, make_splits=make_splits, check_no_leak=check_no_leak)
    return results


def _train_one(spec, data: _Data, out: Path, *, split, repeats, config, overrides, seed, device, progress,
               plots, make_splits, check_no_leak) -> dict:
    from genrelab.metrics import confusion, split_scores, summarise, track_proba
    from genrelab.train import deterministic, fit, predict_proba, save_checkpoint

    labels = sorted(np.unique(data.labels).tolist())
    if len(labels) < 2:
        raise DatasetError(f"{spec.name}: need at least two labels to classify, got {labels}")
    y = np.searchsorted(labels, data.labels)
    cm = np.zeros((len(labels), len(labels)), dtype=np.int64)
    per_split: list[dict] = []
    first: dict[str, Any] = {}
    for r in range(repeats):
        splits = make_splits(split, data.tracks, data.labels, seed=seed + r)
        for k, sp in enumerate(splits):
            check_no_leak(sp, data.tracks)
            if len(sp.train) == 0 or len(sp.test) == 0:
                raise DatasetError(f"split {sp.name!r} leaves no training or no test rows for these {len(data.tracks)} rows")
            run_seed = seed + r * 1000 + k
            with deterministic(run_seed):  # seeded initialisation
                model = _new_model(spec, data.x[sp.train], len(labels), overrides, data.columns)
            res = fit(model, data.x[sp.train], y[sp.train], config=config, groups=data.tracks[sp.train],
                      seed=run_seed, device=device, progress=progress,
                      description=f"{spec.name} {sp.name}" + (f" repeat {r + 1}/{repeats}" if repeats > 1 else ""))
            proba = predict_proba(model, data.x[sp.test], device=device)
            scores = split_scores(y[sp.test], proba)
            if data.segmented:
                tp, ty, _ = track_proba(proba, data.tracks[sp.test], y[sp.test])
                scores["track_accuracy"] = float((tp.argmax(1) == ty).mean())
            per_split.append(scores)
            cm += confusion(y[sp.test], proba.argmax(1), n_classes=len(labels))
            if not first:
                first = dict(model=model, split=sp, history=res.history, best_epoch=res.best_epoch,
                             stopped_early=res.stopped_early, proba=proba)
    metrics = summarise(per_split, cm, labels)
    sp = first["split"]
    metrics.update(
        model=spec.name,
        kind=spec.kind,
        protocol=split,
        repeats=repeats,
        n_splits=len(per_split),
        seed=seed,
        n_train=int(len(sp.train)),
        n_test=int(len(sp.test)),
        n_tracks=int(len(np.unique(data.tracks))),
        segmented=bool(data.segmented),
        checkpoint_split=sp.name,
        test_tracks=sorted({str(t) for t in data.tracks[sp.test]}),
        history=first["history"],
        best_epoch=first["best_epoch"],
        stopped_early=first["stopped_early"],
        train_config=dataclasses.asdict(config),
        model_config=first["model"].config_dict(),
    )
    extra = {"protocol": split, "split": sp.name, "frames": None, "feature_columns": None, "scaler": None}
    if spec.kind == "features":
        m = first["model"]
        extra.update(feature_columns=data.columns,
                     scaler={"mean": m.mean.cpu().numpy(), "scale": m.scale.cpu().numpy()})
    else:
        extra["frames"] = int(data.x.shape[2])
    save_checkpoint(out / "models" / f"{spec.name}.pt", name=spec.name, kind=spec.kind, model=first["model"],
                    labels=labels, extra=extra)
    write_json(out / "metrics" / f"{spec.name}.json", metrics)
    if plots:
        _write_plots(spec, data, labels, y, metrics, first, out)
    return metrics


def _write_plots(spec, data: _Data, labels, y, metrics, first, out: Path, *, prefix: str | None = None) -> None:
    from genrelab.plots import save_figure
    from genrelab.plots import classify as P

    prefix = prefix or spec.name
    plots = out / "plots"
    if metrics.get("history"):
        save_figure(P.curves(metrics["history"], title=spec.name), plots / f"{prefix}_curves.png")
    save_figure(P.confusion(np.array(metrics["confusion_matrix"]), labels, title=f"{prefix} ({metrics['protocol']})"),
                plots / f"{prefix}_confusion.png")
    save_figure(P.report(metrics["per_class"], title=prefix), plots / f"{prefix}_report.png")
    test = first["split"].test
    pred = first["proba"].argmax(1)
    wrong = np.flatnonzero(pred != y[test])
    if spec.kind == "features":
        cols = data.columns or []
        idx = [i for i, c in enumerate(cols) if c.startswith("mfcc") and c.endswith("_mean")]
        vecs = data.x[:, idx]
    else:
        vecs = data.x
    means = {lab: vecs[y == i].mean(0) for i, lab in enumerate(labels) if np.any(y == i)}
    picked, seen = [], set()  # one misclassified clip per true genre, at most four
    for i in wrong:
        if y[test[i]] not in seen:
            picked.append(i)
            seen.add(y[test[i]])
        if len(picked) == 4:
            break
    examples = [(str(data.names[test[i]]), labels[y[test[i]]], labels[pred[i]], vecs[test[i]]) for i in picked]
    save_figure(P.misclassified(examples, means, title=prefix), plots / f"{prefix}_misclassified.png")


# --------------------------------------------------------------------------- trained models
def trained_classifiers(run_dir: Path) -> list[str]:
    """Names of the classifiers with a checkpoint in ``RUN/models`` (registry order)."""
    folder = Path(run_dir) / "models"
    return [n for n in CLASSIFIERS if (folder / f"{n}.pt").is_file()]


class Classifier:
    """A trained classifier loaded from ``RUN/models/<name>.pt``.

    ``module`` is the torch module (eval mode); ``labels`` its class names in output order.
    """

    def __init__(self, *, name: str, kind: str, labels: list[str], module, checkpoint: dict, device: str = "cpu") -> None:
        self.name, self.kind, self.labels, self.module = name, kind, labels, module
        self.checkpoint = checkpoint
        self.device = device
        self.frames: int | None = checkpoint.get("frames")
        self.feature_columns: list[str] | None = checkpoint.get("feature_columns")

    @classmethod
    def load(cls, run_dir: Path, name: str, *, device: str = "cpu") -> "Classifier":
        from genrelab.train import load_checkpoint

        run_dir = Path(run_dir)
        spec = get_spec(name)
        if spec.kind == "recreation":
            raise ParameterError(f"{name} is a recreation model, not a classifier; choose from {list(CLASSIFIERS)}")
        if not run_dir.is_dir():
            raise DatasetError(f"run folder {run_dir} does not exist")
        path = run_dir / "models" / f"{name}.pt"
        if not path.is_file():
            have = trained_classifiers(run_dir)
            raise DatasetError(f"{run_dir} has no trained {name!r} model; trained: {have or 'none'}")
        module, ckpt = load_checkpoint(path, device=device)
        return cls(name=name, kind=ckpt["kind"], labels=list(ckpt["labels"]), module=module, checkpoint=ckpt, device=device)

    def _proba(self, x: np.ndarray) -> np.ndarray:
        from genrelab.train import predict_proba

        return predict_proba(self.module, x, device=self.device)

    def predict_proba_features(self, table: pd.DataFrame) -> np.ndarray:
        """``(N, n_classes)`` probabilities for rows of a feature table (``features`` kind)."""
        if self.kind != "features":
            raise ParameterError(f"{self.name} works on MFCC maps, not on a feature table")
        return self._proba(self._feature_matrix(table))

    def _feature_matrix(self, table: pd.DataFrame) -> np.ndarray:
        """``(N, n_features)`` float32 model input from a feature table, checked."""
        cols = self.feature_columns or _feature_columns()
        missing = [c for c in cols if c not in table.columns]
        if missing:
            raise DatasetError(f"feature table lacks columns {missing[:5]}")
        x = table[cols].to_numpy(dtype=np.float32)
        if not np.all(np.isfinite(x)):
            raise DatasetError("feature table has NaN/inf values")
        return x

    def _windows(self, mfcc: np.ndarray) -> np.ndarray:
        """Non-overlapping ``(W, n_mfcc, frames)`` windows of a ``(n_mfcc, T)`` map."""
        m = np.asarray(mfcc, dtype=np.float32)
        n_mfcc = int(self.module.config.n_mfcc)
        if m.ndim != 2 or m.shape[0] != n_mfcc:
            raise ParameterError(f"expected an MFCC map of shape ({n_mfcc}, frames), got {m.shape}")
        f = int(self.frames)
        if m.shape[1] < f:
            raise AudioError(f"too short: {m.shape[1]} MFCC frames, the {self.name} model needs at least {f} (3 s)")
        starts = range(0, m.shape[1] - f + 1, f)
        return np.stack([m[:, s : s + f] for s in starts])

    def predict_proba_mfcc(self, mfcc: np.ndarray) -> np.ndarray:
        """``(n_classes,)``: mean probability over the model-sized windows of ``mfcc (n_mfcc, T)``."""
        if self.kind != "maps":
            raise ParameterError(f"{self.name} works on the 57 features, not on MFCC maps")
        return self._proba(self._windows(mfcc)).mean(0)

    def _audio(self, y: np.ndarray, sr: int) -> np.ndarray:
        from genrelab.audio import resample

        y = np.asarray(y, dtype=np.float32)
        if y.ndim != 1:
            raise ParameterError(f"expected mono samples (n,), got shape {y.shape}")
        if sr != SR:
            y = resample(y, orig_sr=sr, target_sr=SR)
        if len(y) < 3 * SR:
            raise AudioError(f"too short ({len(y) / SR:.2f} s < 3 s)")
        if not np.all(np.isfinite(y)):
            raise AudioError("contains NaN or infinite samples")
        return y

    def _audio_inputs(self, y: np.ndarray, sr: int) -> np.ndarray:
        """The model's input for mono samples ``y (n,)``: the ``(1, n_features)`` feature row
        (``features`` kind) or the ``(W, n_mfcc, frames)`` MFCC windows (``maps`` kind)."""
        from genrelab.features import extract_clip, mfcc

        y = self._audio(y, sr)
        if self.kind == "features":
            return self._feature_matrix(pd.DataFrame([extract_clip(y, sr=SR)]))
        return self._windows(mfcc(y, sr=SR))

    def _embed(self, x: np.ndarray) -> np.ndarray:
        """``(d,)`` penultimate activations of model input ``x``, averaged over its rows/windows."""
        import torch

        with torch.no_grad():
            self.module.eval()
            return self.module.embed(torch.tensor(x, device=self.device)).mean(0).cpu().numpy()

    def predict_proba_audio(self, y: np.ndarray, *, sr: int = SR) -> np.ndarray:
        """``(n_classes,)`` probabilities for mono samples ``y (n,)`` of at least 3 s."""
        return self._proba(self._audio_inputs(y, sr)).mean(0)

    def embed_audio(self, y: np.ndarray, *, sr: int = SR) -> np.ndarray:
        """``(d,)`` penultimate activations (mean over windows for maps models)."""
        return self._embed(self._audio_inputs(y, sr))

    def predict_and_embed_audio(self, y: np.ndarray, *, sr: int = SR) -> tuple[np.ndarray, np.ndarray]:
        """``predict_proba_audio`` and ``embed_audio`` from one feature extraction."""
        x = self._audio_inputs(y, sr)
        return self._proba(x).mean(0), self._embed(x)


def _default_model(run_dir: Path) -> str:
    """The trained classifier with the highest reported accuracy (registry order on ties)."""
    have = trained_classifiers(run_dir)
    if not have:
        raise DatasetError(f"{run_dir} has no trained classifier; run `genrelab train` first")

    def score(n: str) -> float:
        try:
            return float(read_json(Path(run_dir) / "metrics" / f"{n}.json")["accuracy"])
        except Exception:
            return -1.0

    return max(have, key=lambda n: (score(n), -have.index(n)))


def predict_files(run_dir: Path, files: Sequence[Path], *, model: str | None = None, top: int = 3,
                  device: str = "cpu") -> list[dict]:
    """Classify audio files; one dict per file, in order.

    Success: ``{"file", "genre", "probabilities": {genre: p, ...} (all classes, descending),
    "top": [[genre, p], ...] (``top`` of them), "model"}``. A file that cannot be used gives
    ``{"file", "error": reason}`` and the others go on. ``model`` None picks the trained
    classifier with the best reported accuracy.
    """
    from genrelab.audio import load

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DatasetError(f"run folder {run_dir} does not exist")
    if not isinstance(top, int) or top < 1:
        raise ParameterError(f"top={top!r} must be a positive integer")
    clf = Classifier.load(run_dir, model or _default_model(run_dir), device=device)
    results = []
    for f in files:
        try:
            y = load(f, sr=SR, min_duration=3.0)
            p = clf.predict_proba_audio(y, sr=SR)
        except GenrelabError as exc:
            msg = str(exc)
            results.append({"file": str(f), "error": msg if str(f) in msg else f"{f}: {msg}"})
            continue
        order = np.argsort(-p, kind="stable")
        probs = {clf.labels[i]: float(p[i]) for i in order}
        results.append({"file": str(f), "genre": clf.labels[order[0]], "probabilities": probs,
                        "top": [[clf.labels[i], float(p[i])] for i in order[:top]], "model": clf.name})
    return results


# --------------------------------------------------------------------------- evaluation
def _set_name(data: Path) -> str:
    data = Path(data)
    return data.stem if data.is_file() else data.name


def evaluate_classifiers(run_dir: Path, data: Path, *, models: Sequence[str] | None = None, device: str = "cpu",
                         progress: bool = True, plots: bool = True) -> dict[str, dict]:
    """Score trained classifiers on another set (every row is test data).

    ``data``: an audio folder (features cached in ``RUN/evaluations/<set>/``) or a feature CSV.
    Writes ``RUN/metrics/<model>.<set>.json`` (same keys as training; ``history`` empty) and
    plots ``RUN/plots/<model>.<set>_*.png``. Returns model -> metrics.
    """
    from genrelab.metrics import confusion, split_scores, summarise, track_proba
    from genrelab.features import prepare

    run_dir, data = Path(run_dir), Path(data)
    if not run_dir.is_dir():
        raise DatasetError(f"run folder {run_dir} does not exist")
    names = list(models) if models else trained_classifiers(run_dir)
    if not names:
        raise DatasetError(f"{run_dir} has no trained classifier; run `genrelab train` first")
    clfs = [Classifier.load(run_dir, n, device=device) for n in names]
    set_name = _set_name(data)
    features = prepare(data, run_dir / "evaluations" / set_name, progress=progress)
    results = {}
    for clf in clfs:
        spec = get_spec(clf.name)
        d = _data_for(spec, features)
        unknown = sorted(set(d.labels) - set(clf.labels))
        if unknown:
            raise DatasetError(f"{data} has labels {unknown} that model {clf.name!r} was not trained on ({clf.labels})")
        labels = clf.labels
        y = np.searchsorted(labels, d.labels) if labels == sorted(labels) else np.array([labels.index(v) for v in d.labels])
        if spec.kind == "maps" and d.x.shape[1:] != (clf.module.config.n_mfcc, clf.frames):
            raise DatasetError(f"{data}: MFCC maps of shape {d.x.shape[1:]}, model {clf.name!r} was trained on "
                               f"({clf.module.config.n_mfcc}, {clf.frames})")
        proba = clf._proba(d.x) if spec.kind == "maps" else clf.predict_proba_features(features.table)
        scores = split_scores(y, proba)
        if d.segmented:
            tp, ty, _ = track_proba(proba, d.tracks, y)
            scores["track_accuracy"] = float((tp.argmax(1) == ty).mean())
        cm = confusion(y, proba.argmax(1), n_classes=len(labels))
        metrics = summarise([scores], cm, labels)
        metrics.update(model=clf.name, kind=clf.kind, protocol=f"evaluate:{set_name}", repeats=1, n_splits=1,
                       n_train=0, n_test=int(len(y)), n_tracks=int(len(np.unique(d.tracks))),
                       segmented=bool(d.segmented), data=str(data), history=[])
        write_json(run_dir / "metrics" / f"{clf.name}.{set_name}.json", metrics)
        if plots:
            from genrelab.data import Split

            first = {"split": Split(name=set_name, train=np.array([], dtype=np.int64), test=np.arange(len(y))), "proba": proba}
            _write_plots(spec, d, labels, y, metrics, first, run_dir, prefix=f"{clf.name}.{set_name}")
        results[clf.name] = metrics
    return results


__all__ = ["train_classifiers", "train_config_for", "log_columns_of", "Classifier", "trained_classifiers", "predict_files",
           "evaluate_classifiers", "SR"]
