"""Model registry: every network genrelab trains, by name.

``MODELS[name]`` is a :class:`ModelSpec`; :func:`build_model` builds the ``torch.nn.Module``
from a config dict (the same dict a checkpoint stores, so a checkpoint rebuilds itself).
Model modules are imported lazily, so ``import genrelab.models`` stays cheap and the
recreation models (``genrelab.models.recreate``, written separately) are only needed when used.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from genrelab.errors import ParameterError

KINDS: tuple[str, ...] = ("features", "maps", "recreation")


@dataclass(frozen=True)
class ModelSpec:
    """What a model is and how to build it.

    ``factory`` is ``"module:attribute"``; the attribute is called with the config keywords
    and returns an ``nn.Module``. ``defaults`` are the training defaults ``genrelab train`` uses
    for this model (``epochs``, ``batch_size``, ``lr``, ... see :mod:`genrelab.train`).
    """

    name: str
    kind: str
    factory: str
    description: str
    defaults: dict[str, Any] = field(default_factory=dict)

    def resolve(self):
        """Import and return the factory callable."""
        module, _, attr = self.factory.partition(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise ParameterError(f"model {self.name!r} is not available ({exc})") from None


MODELS: dict[str, ModelSpec] = {
    "dense": ModelSpec(
        name="dense",
        kind="features",
        factory="genrelab.models.dense:DenseNet",
        description="ensemble of small feed-forward nets on the standardised 57-feature vector",
        # Tuned on the fault-filtered *training* part only (train list -> valid list); see
        # genrelab.models.dense for why lr/epochs differ from the source study's 1e-4.
        defaults={
            "epochs": 100,
            "batch_size": 32,
            "lr": 2e-3,
            "weight_decay": 1e-2,
            "label_smoothing": 0.1,
            "schedule": "onecycle",
            "val_fraction": 0.0,
        },
    ),
    "cnn": ModelSpec(
        name="cnn",
        kind="maps",
        factory="genrelab.models.cnn:MfccCNN",
        description="three Conv2D blocks (64 -> 128 -> 256 filters) on MFCC maps, dense head",
        defaults={
            "epochs": 30,
            "batch_size": 32,
            "lr": 1e-3,
            "weight_decay": 1e-4,
            "label_smoothing": 0.0,
            "schedule": "constant",
            "val_fraction": 0.15,
            "patience": 8,
        },
    ),
    "convlstm": ModelSpec(
        name="convlstm",
        kind="maps",
        factory="genrelab.models.convlstm:MfccConvLSTM",
        description="ConvLSTM2D over a sequence of MFCC sub-maps, batch norm, dense head",
        defaults={
            "epochs": 30,
            "batch_size": 32,
            "lr": 1e-3,
            "weight_decay": 1e-4,
            "label_smoothing": 0.0,
            "schedule": "constant",
            "val_fraction": 0.15,
            "patience": 8,
        },
    ),
    "recreate-lstm": ModelSpec(
        name="recreate-lstm",
        kind="recreation",
        factory="genrelab.models.recreate:build_recreate_lstm",
        description="genre-conditioned MFCC recreation model with an LSTM",
    ),
    "recreate-dense": ModelSpec(
        name="recreate-dense",
        kind="recreation",
        factory="genrelab.models.recreate:build_recreate_dense",
        description="genre-conditioned MFCC recreation model without an LSTM",
    ),
    "recreate-diffusion": ModelSpec(
        name="recreate-diffusion",
        kind="recreation",
        factory="genrelab.models.recreate_diffusion:build_recreate_diffusion",
        description="genre-conditioned diffusion over whole log-mel segments (beyond the source study)",
    ),
}

CLASSIFIERS: tuple[str, ...] = tuple(n for n, s in MODELS.items() if s.kind != "recreation")


def get_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of ``name``; ParameterError with the choices when unknown."""
    try:
        return MODELS[name]
    except (KeyError, TypeError):
        raise ParameterError(f"unknown model {name!r}; choose from {sorted(MODELS)}") from None


def build_model(name: str, **cfg: Any):
    """Build model ``name`` from its config keywords (as stored in a checkpoint)."""
    return get_spec(name).resolve()(**cfg)


__all__ = ["MODELS", "CLASSIFIERS", "KINDS", "ModelSpec", "build_model", "get_spec"]
