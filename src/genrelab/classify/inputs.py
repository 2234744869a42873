"""What differs between the two kinds of classifier, in one place.

A ``features`` model (``dense``) reads the 57-feature rows of the table; a ``maps`` model
(``cnn``, ``convlstm``) reads raw MFCC maps ``(n_mfcc, frames)``. :func:`inputs_for` gives the
:class:`ModelInput` of a registry entry; training, loading and prediction call its methods
instead of branching on the kind.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from genrelab.constants import HOP_LENGTH, SEGMENT_SECONDS, SR
from genrelab.errors import AudioError, DatasetError, ParameterError
from genrelab.features import FEATURE_COLUMNS, FeatureSet
from genrelab.features.lengths import DEFAULT_PAD, pad_to, segment_frames, tempo_fallback
from genrelab.models import CLASSIFIERS, ModelSpec, build_model

__all__ = [
    "Rows",
    "ModelInput",
    "FeatureInput",
    "MapInput",
    "inputs_for",
    "table_rows",
    "log_columns_of",
    "segment_seconds_of",
    "map_windows",
    "feature_matrix",
]


@dataclasses.dataclass
class Rows:
    """Rows a model trains on: ``x (N, ...)`` raw inputs, string labels and track ids."""

    x: np.ndarray
    labels: np.ndarray  # (N,) str
    tracks: np.ndarray  # (N,) str
    names: np.ndarray  # (N,) str file/segment names
    columns: list[str] | None = None
    segment_seconds: float | None = None  # maps: the segment length they were cut at (None: unknown)
    pad: str | None = None  # maps: how clips shorter than a segment were padded

    @property
    def segmented(self) -> bool:
        """Several rows per track (3 s segments): split by track, report track accuracy."""
        return len(np.unique(self.tracks)) < len(self.tracks)


def log_columns_of(columns: Sequence[str]) -> list[int]:
    """Indices of the variance features (``*_var``), which ``dense`` log-compresses."""
    return [i for i, c in enumerate(columns) if str(c).endswith("_var")]


def table_rows(table: pd.DataFrame, *, where: str = "feature table") -> Rows:
    """The 57-feature rows of a table in the public CSV layout; DatasetError naming what is wrong."""
    from genrelab.data import track_id_of

    cols = list(FEATURE_COLUMNS)
    missing = [c for c in ["filename", "label", *cols] if c not in table.columns]
    if missing:
        raise DatasetError(
            f"{where} lacks columns {missing[:5]}{' ...' if len(missing) > 5 else ''}; expected the public CSV layout"
        )
    unlabelled = table["label"].isna() | (table["label"].astype(str).str.strip() == "")
    if unlabelled.any():
        bad_rows = table["filename"][unlabelled].astype(str).tolist()
        raise DatasetError(f"{where} has {len(bad_rows)} row(s) without a label: {bad_rows[:5]}")
    x = table[cols].to_numpy(dtype=np.float32)
    if not np.all(np.isfinite(x)):
        bad = table["filename"][~np.isfinite(x).all(1)].astype(str).tolist()
        raise DatasetError(f"{where} has NaN/inf feature values in rows {bad[:5]}")
    names = table["filename"].astype(str).to_numpy()
    return Rows(
        x=x,
        labels=table["label"].astype(str).to_numpy(),
        names=names,
        tracks=np.array([track_id_of(n) for n in names]),
        columns=cols,
    )


class ModelInput:
    """The kind-specific steps of a classifier (subclasses: :class:`FeatureInput`, :class:`MapInput`)."""

    kind: str = ""

    def rows(self, spec: ModelSpec, features: FeatureSet) -> Rows:
        """The rows ``spec`` trains on from a FeatureSet."""
        raise NotImplementedError

    def new_model(
        self,
        spec: ModelSpec,
        x_train: np.ndarray,
        n_classes: int,
        overrides: Mapping[str, Any],
        columns: Sequence[str] | None,
    ) -> nn.Module:
        """A fresh model for ``x_train``, its input normalisation fitted on those rows."""
        raise NotImplementedError

    def data_config(self, rows: Rows) -> dict[str, Any]:
        """Model config entries the data fixes (the maps' segment length); none by default."""
        return {}

    def checkpoint_extra(self, model: nn.Module, rows: Rows) -> dict[str, Any]:
        """What the checkpoint stores beside the weights to rebuild this model's input."""
        raise NotImplementedError

    def audio_inputs(self, y: np.ndarray, checkpoint: Mapping[str, Any], module: nn.Module, name: str) -> np.ndarray:
        """The model input for mono samples ``y (n,)`` at :data:`SR`."""
        raise NotImplementedError

    def example_vectors(self, rows: Rows) -> np.ndarray:
        """``(N, ...)`` what the misclassification plot draws per row."""
        raise NotImplementedError


class FeatureInput(ModelInput):
    """``dense``: rows of the feature table, standardised inside the model."""

    kind = "features"

    def rows(self, spec: ModelSpec, features: FeatureSet) -> Rows:
        return table_rows(features.table)

    def new_model(
        self,
        spec: ModelSpec,
        x_train: np.ndarray,
        n_classes: int,
        overrides: Mapping[str, Any],
        columns: Sequence[str] | None,
    ) -> nn.Module:
        cfg = dict(overrides)
        cfg.setdefault("log_columns", log_columns_of(columns or []))
        cfg.update(n_features=x_train.shape[1], n_classes=n_classes)
        model = build_model(spec.name, **cfg)
        model.set_normalisation(torch.from_numpy(x_train))
        return model

    def checkpoint_extra(self, model: nn.Module, rows: Rows) -> dict[str, Any]:
        return {
            "feature_columns": rows.columns,
            "scaler": {"mean": model.mean.cpu().numpy(), "scale": model.scale.cpu().numpy()},
        }

    def audio_inputs(self, y: np.ndarray, checkpoint: Mapping[str, Any], module: nn.Module, name: str) -> np.ndarray:
        from genrelab.features import extract_clip

        row = extract_clip(y, sr=SR)
        tempo_fallback(row, y.size, sr=SR)  # as the training rows of a clip this short
        return feature_matrix(pd.DataFrame([row]), checkpoint.get("feature_columns"))

    def example_vectors(self, rows: Rows) -> np.ndarray:
        cols = rows.columns or []
        idx = [i for i, c in enumerate(cols) if c.startswith("mfcc") and c.endswith("_mean")]
        return rows.x[:, idx]


class MapInput(ModelInput):
    """``cnn``/``convlstm``: raw MFCC maps, standardised inside the model (gradients reach raw values)."""

    kind = "maps"

    def rows(self, spec: ModelSpec, features: FeatureSet) -> Rows:
        maps = features.maps
        if maps is None or len(maps.maps) == 0:
            raise ParameterError(f"{spec.name} needs audio (MFCC maps); a feature table has none")
        return Rows(
            x=np.asarray(maps.maps, dtype=np.float32),
            labels=np.asarray(maps.label).astype(str),
            tracks=np.asarray(maps.track).astype(str),
            names=np.asarray(maps.filename).astype(str),
            segment_seconds=maps.segment_seconds,
            pad=maps.pad,
        )

    def new_model(
        self,
        spec: ModelSpec,
        x_train: np.ndarray,
        n_classes: int,
        overrides: Mapping[str, Any],
        columns: Sequence[str] | None,
    ) -> nn.Module:
        cfg = dict(overrides)
        cfg.update(n_mfcc=x_train.shape[1], frames=x_train.shape[2], n_classes=n_classes)
        cfg.setdefault("segment_seconds", segment_seconds_of(x_train.shape[2], None))
        model = build_model(spec.name, **cfg)
        model.norm.fit(torch.from_numpy(x_train))
        return model

    def data_config(self, rows: Rows) -> dict[str, Any]:
        return {"segment_seconds": segment_seconds_of(int(rows.x.shape[2]), rows.segment_seconds)}

    def checkpoint_extra(self, model: nn.Module, rows: Rows) -> dict[str, Any]:
        frames = int(rows.x.shape[2])
        return {
            "frames": frames,
            "segment_seconds": segment_seconds_of(frames, rows.segment_seconds),
            "pad": rows.pad or DEFAULT_PAD,
        }

    def audio_inputs(self, y: np.ndarray, checkpoint: Mapping[str, Any], module: nn.Module, name: str) -> np.ndarray:
        """The ``(W, n_mfcc, frames)`` windows of ``y``; a clip shorter than one window is first
        padded to it (the checkpoint's ``pad``, as the training maps of short clips were)."""
        from genrelab.features import mfcc

        frames = int(checkpoint["frames"])
        y = pad_to(y, window_samples(checkpoint), mode=str(checkpoint.get("pad") or DEFAULT_PAD))
        return map_windows(mfcc(y, sr=SR), n_mfcc=int(module.config.n_mfcc), frames=frames, name=name)

    def example_vectors(self, rows: Rows) -> np.ndarray:
        return rows.x


_INPUTS: dict[str, ModelInput] = {"features": FeatureInput(), "maps": MapInput()}


def inputs_for(spec: ModelSpec) -> ModelInput:
    """The :class:`ModelInput` of a classifier; ParameterError for a recreation model."""
    if spec.kind not in _INPUTS:
        raise ParameterError(f"{spec.name} is a {spec.kind} model, not a classifier; choose from {list(CLASSIFIERS)}")
    return _INPUTS[spec.kind]


def feature_matrix(table: pd.DataFrame, columns: Sequence[str] | None) -> np.ndarray:
    """``(N, n_features)`` float32 model input from a feature table, checked."""
    cols = list(columns or FEATURE_COLUMNS)
    missing = [c for c in cols if c not in table.columns]
    if missing:
        raise DatasetError(f"feature table lacks columns {missing[:5]}")
    x = table[cols].to_numpy(dtype=np.float32)
    if not np.all(np.isfinite(x)):
        raise DatasetError("feature table has NaN/inf values")
    return x


def window_samples(checkpoint: Mapping[str, Any]) -> int:
    """Samples of one window of a maps model: its segment (``round(seconds * SR)``, what a short
    training clip was padded to) when that gives its frame count, else ``(frames - 1) * hop``."""
    frames = int(checkpoint["frames"])
    seconds = segment_seconds_of(frames, checkpoint.get("segment_seconds"))
    n = int(round(seconds * SR))
    return n if segment_frames(seconds) == frames else (frames - 1) * HOP_LENGTH


def segment_seconds_of(frames: int, recorded: float | None) -> float:
    """The segment length of maps with ``frames`` frames: ``recorded`` when known, else 3 s for
    130 frames (every map before #13), else the frames' span at :data:`SR` / :data:`HOP_LENGTH`."""
    if recorded:
        return float(recorded)
    if frames == segment_frames(SEGMENT_SECONDS):
        return SEGMENT_SECONDS
    span = (frames - 1) * HOP_LENGTH / SR
    for seconds in (round(span, 1), round(span, 2), math.ceil(span * 1000) / 1000):  # the roundest that fits
        if segment_frames(seconds) == frames:
            return seconds
    return span


def map_windows(mfcc: np.ndarray, *, n_mfcc: int, frames: int, name: str) -> np.ndarray:
    """Non-overlapping ``(W, n_mfcc, frames)`` windows of a ``(n_mfcc, T)`` map."""
    m = np.asarray(mfcc, dtype=np.float32)
    if m.ndim != 2 or m.shape[0] != n_mfcc:
        raise ParameterError(f"expected an MFCC map of shape ({n_mfcc}, frames), got {m.shape}")
    if m.shape[1] < frames:
        raise AudioError(
            f"too short: {m.shape[1]} MFCC frames, the {name} model needs at least {frames} "
            f"({segment_seconds_of(frames, None):g} s)"
        )
    starts = range(0, m.shape[1] - frames + 1, frames)
    return np.stack([m[:, s : s + frames] for s in starts])
