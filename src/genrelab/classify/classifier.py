"""A trained classifier loaded from a run folder, applied to tables, maps and audio."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from genrelab.classify.inputs import feature_matrix, inputs_for, map_windows, segment_seconds_of
from genrelab.constants import SR
from genrelab.errors import AudioError, DatasetError, ParameterError
from genrelab.features import MapSet
from genrelab.features.lengths import check_length
from genrelab.models import CLASSIFIERS, get_spec
from genrelab.rundir import RunDir, RunPath

__all__ = ["Classifier", "trained_classifiers", "default_model"]


def trained_classifiers(run_dir: RunPath) -> list[str]:
    """Names of the classifiers with a checkpoint in ``RUN/models`` (registry order)."""
    run = RunDir(run_dir)
    return [n for n in CLASSIFIERS if run.has_model(n)]


def default_model(run_dir: RunPath) -> str:
    """The trained classifier with the highest reported accuracy (registry order on ties)."""
    run = RunDir(run_dir)
    have = trained_classifiers(run)
    if not have:
        raise DatasetError(f"{run} has no trained classifier; run `genrelab train` first")

    def score(n: str) -> float:
        try:
            metrics = run.read_metrics(n)
        except DatasetError:
            return -1.0
        value = (metrics or {}).get("accuracy")
        return float(value) if isinstance(value, (int, float)) else -1.0

    return max(have, key=lambda n: (score(n), -have.index(n)))


class Classifier:
    """A trained classifier loaded from ``RUN/models/<name>.pt``.

    ``module`` is the torch module (eval mode); ``labels`` its class names in output order.
    """

    def __init__(
        self,
        *,
        name: str,
        kind: str,
        labels: list[str],
        module: nn.Module,
        checkpoint: dict[str, Any],
        device: str = "cpu",
    ) -> None:
        self.name, self.kind, self.labels, self.module = name, kind, labels, module
        self.checkpoint = checkpoint
        self.device = device
        self.frames: int | None = checkpoint.get("frames")
        #: the maps' segment length in seconds (maps models; None for features models)
        self.segment_seconds: float | None = (
            segment_seconds_of(int(self.frames), checkpoint.get("segment_seconds")) if self.frames else None
        )
        self.feature_columns: list[str] | None = checkpoint.get("feature_columns")
        self.inputs = inputs_for(get_spec(name))

    @classmethod
    def load(cls, run_dir: RunPath, name: str, *, device: str = "cpu") -> "Classifier":
        """Load ``RUN/models/<name>.pt``; DatasetError when the run or the model is missing."""
        from genrelab.train import load_checkpoint

        run = RunDir(run_dir)
        spec = get_spec(name)
        if spec.kind == "recreation":
            raise ParameterError(f"{name} is a recreation model, not a classifier; choose from {list(CLASSIFIERS)}")
        run.require()
        if not run.has_model(name):
            have = trained_classifiers(run)
            raise DatasetError(f"{run} has no trained {name!r} model; trained: {have or 'none'}")
        module, ckpt = load_checkpoint(run.model(name), device=device)
        return cls(
            name=name, kind=ckpt["kind"], labels=list(ckpt["labels"]), module=module, checkpoint=ckpt, device=device
        )

    def proba(self, x: np.ndarray) -> np.ndarray:
        """``(N, n_classes)`` probabilities for model inputs ``x (N, ...)``."""
        from genrelab.train import predict_proba

        return predict_proba(self.module, x, device=self.device)

    def predict_proba_features(self, table: pd.DataFrame) -> np.ndarray:
        """``(N, n_classes)`` probabilities for rows of a feature table (``features`` kind)."""
        if self.kind != "features":
            raise ParameterError(f"{self.name} works on MFCC maps, not on a feature table")
        return self.proba(feature_matrix(table, self.feature_columns))

    def predict_proba_mfcc(self, mfcc: np.ndarray) -> np.ndarray:
        """``(n_classes,)``: mean probability over the model-sized windows of ``mfcc (n_mfcc, T)``."""
        if self.kind != "maps":
            raise ParameterError(f"{self.name} works on the 57 features, not on MFCC maps")
        windows = map_windows(mfcc, n_mfcc=int(self.module.config.n_mfcc), frames=int(self.frames or 0), name=self.name)
        return self.proba(windows).mean(0)

    def check_maps(self, maps: MapSet, *, where: str) -> None:
        """ParameterError in one sentence unless ``maps`` have this model's segment length and shape."""
        if self.kind != "maps":
            raise ParameterError(f"{self.name} works on the 57 features, not on MFCC maps")
        n_mfcc, frames, seconds = int(self.module.config.n_mfcc), int(self.frames or 0), self.segment_seconds
        got = segment_seconds_of(int(maps.maps.shape[2]), maps.segment_seconds)
        if maps.maps.shape[1:] != (n_mfcc, frames) or (maps.segment_seconds is not None and got != seconds):
            raise ParameterError(
                f"{where}: MFCC maps of {got:g} s segments (shape {tuple(maps.maps.shape[1:])}), but the "
                f"{self.name} model was trained on {seconds:g} s maps (shape ({n_mfcc}, {frames})); "
                f"extract its data with --segment {seconds:g}"
            )

    def _audio(self, y: np.ndarray, sr: int) -> np.ndarray:
        from genrelab.audio import resample

        y = np.asarray(y, dtype=np.float32)
        if y.ndim != 1:
            raise ParameterError(f"expected mono samples (n,), got shape {y.shape}")
        if sr != SR:
            y = resample(y, orig_sr=sr, target_sr=SR)
        if not np.all(np.isfinite(y)):
            raise AudioError("contains NaN or infinite samples")
        check_length(len(y), sr=SR, what=f"{self.name} prediction")
        return y

    def audio_inputs(self, y: np.ndarray, sr: int) -> np.ndarray:
        """The model's input for mono samples ``y (n,)``: the ``(1, n_features)`` feature row
        (``features`` kind) or the ``(W, n_mfcc, frames)`` MFCC windows (``maps`` kind; a clip
        shorter than one window is padded to it, as the training maps of short clips were)."""
        return self.inputs.audio_inputs(self._audio(y, sr), self.checkpoint, self.module, self.name)

    def _embed(self, x: np.ndarray) -> np.ndarray:
        """``(d,)`` penultimate activations of model input ``x``, averaged over its rows/windows."""
        with torch.no_grad():
            self.module.eval()
            return self.module.embed(torch.tensor(x, device=self.device)).mean(0).cpu().numpy()

    def predict_proba_audio(self, y: np.ndarray, *, sr: int = SR) -> np.ndarray:
        """``(n_classes,)`` probabilities for mono samples ``y (n,)`` of at least 0.5 s (a maps model
        pads a clip shorter than its window, see :meth:`audio_inputs`)."""
        return self.proba(self.audio_inputs(y, sr)).mean(0)

    def embed_audio(self, y: np.ndarray, *, sr: int = SR) -> np.ndarray:
        """``(d,)`` penultimate activations (mean over windows for maps models)."""
        return self._embed(self.audio_inputs(y, sr))

    def predict_and_embed_audio(self, y: np.ndarray, *, sr: int = SR) -> tuple[np.ndarray, np.ndarray]:
        """``predict_proba_audio`` and ``embed_audio`` from one feature extraction."""
        x = self.audio_inputs(y, sr)
        return self.proba(x).mean(0), self._embed(x)
