"""One training loop for every model: Adam(W), epochs, batches, seed, early stopping.

:func:`train_epochs` is the epoch loop (batches, optimiser steps, validation, best-weights
restore) that :func:`fit` (classifiers) and :mod:`genrelab.recreation` both train with.
:func:`fit` trains a module on arrays in place and returns its per-epoch history; the same
seed gives the same result on the CPU (seeded initialisation and a seeded batch generator).
A validation part of the training rows, split by track group,
drives early stopping when ``val_fraction > 0``; the best-validation weights are restored.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as _dt
import pickle
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from genrelab.errors import DatasetError, ParameterError
from genrelab.io import write_with

SCHEDULES = ("constant", "onecycle", "cosine")


@dataclass(frozen=True)
class TrainConfig:
    """Training hyper-parameters. ``lr`` 1e-4 is the source study's default; models override it."""

    epochs: int = 30
    batch_size: int = 32
    lr: float = 1e-4
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    schedule: str = "constant"
    val_fraction: float = 0.0  # share of training tracks held out for early stopping
    patience: int | None = None  # epochs without val-loss improvement before stopping

    def __post_init__(self) -> None:
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise ParameterError(f"epochs={self.epochs!r} must be a positive integer")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ParameterError(f"batch_size={self.batch_size!r} must be a positive integer")
        if not (isinstance(self.lr, (int, float)) and 0 < self.lr < 10):
            raise ParameterError(f"lr={self.lr!r} must be a positive number below 10")
        if self.weight_decay < 0 or not 0 <= self.label_smoothing < 1:
            raise ParameterError("weight_decay must be >= 0 and label_smoothing in [0, 1)")
        if self.schedule not in SCHEDULES:
            raise ParameterError(f"schedule={self.schedule!r}; choose from {list(SCHEDULES)}")
        if not 0 <= self.val_fraction < 1:
            raise ParameterError(f"val_fraction={self.val_fraction} must be in [0, 1)")
        if self.patience is not None and self.patience < 1:
            raise ParameterError(f"patience={self.patience} must be a positive integer or None")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        """Build from a dict, ignoring ``None`` values (use the default) and unknown-key errors."""
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ParameterError(f"unknown training options {sorted(unknown)}; allowed: {sorted(known)}")
        return cls(**{k: v for k, v in d.items() if v is not None})


@dataclass
class FitResult:
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    stopped_early: bool = False


@contextlib.contextmanager
def deterministic(seed: int) -> Iterator[torch.Generator]:
    """Seed torch for the block and yield a seeded batch generator.

    The CPU kernels these models use (dense, conv2d, batch norm) are deterministic, so seeding
    is enough for bit-identical CPU runs. ``torch.use_deterministic_algorithms`` is not
    switched on: it imports torch's compiler stack (seconds) and only matters on CUDA.
    """
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        yield torch.Generator().manual_seed(seed)
    finally:
        torch.random.set_rng_state(state)


def group_holdout(
    groups: Sequence[str], labels: np.ndarray, fraction: float, *, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split row indices into (fit, val) with whole groups (tracks) on one side, stratified-ish.

    For each label, ``round(fraction * n_groups)`` of its groups (at least one when the label
    has two or more) go to validation.
    """
    groups = np.asarray(groups)
    rng = np.random.default_rng(seed)
    val_groups: set[str] = set()
    for lab in np.unique(labels):
        g = np.unique(groups[labels == lab])
        n = int(round(fraction * len(g)))
        if len(g) >= 2:
            n = min(max(n, 1), len(g) - 1)
        else:
            n = 0
        val_groups.update(rng.permutation(g)[:n].tolist())
    is_val = np.isin(groups, list(val_groups))
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def _step_loss(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, criterion: nn.Module
) -> tuple[torch.Tensor, torch.Tensor]:
    """Loss and logits; models may define ``loss(x, y, criterion)`` (e.g. ensembles)."""
    if hasattr(model, "loss"):
        return model.loss(x, y, criterion)
    logits = model(x)
    return criterion(logits, y), logits


def fit(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    *,
    config: TrainConfig,
    groups: Sequence[str] | None = None,
    seed: int = 32,
    device: str = "cpu",
    progress: bool = True,
    description: str = "training",
) -> FitResult:
    """Train ``model`` in place on ``x (N, ...)`` float and ``y (N,)`` int class indices.

    ``groups (N,)``: track ids, so the validation part never shares a track with the rest.
    History rows: ``{epoch, train_loss, train_acc, val_loss, val_acc}`` (val_* None without
    a validation part). Returns a :class:`FitResult`; the model ends in eval mode.
    """
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.int64)
    if len(x) != len(y) or len(x) == 0:
        raise DatasetError(f"need as many labels as rows and at least one row; got {len(x)} rows, {len(y)} labels")
    groups = np.asarray(groups if groups is not None else np.arange(len(x)).astype(str))
    if config.val_fraction > 0:
        fit_idx, val_idx = group_holdout(groups, y, config.val_fraction, seed=seed)
        if len(val_idx) == 0 or len(fit_idx) == 0:
            fit_idx, val_idx = np.arange(len(x)), np.array([], dtype=np.int64)
    else:
        fit_idx, val_idx = np.arange(len(x)), np.array([], dtype=np.int64)

    xt, yt = torch.from_numpy(x[fit_idx]).to(device), torch.from_numpy(y[fit_idx]).to(device)
    xv, yv = torch.from_numpy(x[val_idx]).to(device), torch.from_numpy(y[val_idx]).to(device)
    n = len(xt)
    steps_per_epoch = (n + config.batch_size - 1) // config.batch_size
    criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)

    with deterministic(seed) as gen:
        model.to(device)
        optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)

        def batch_loss(idx: torch.Tensor) -> tuple[torch.Tensor, dict[str, int]] | None:
            if len(idx) == 1 and n > 1:
                return None  # batch norm cannot train on a single row
            loss, logits = _step_loss(model, xt[idx], yt[idx], criterion)
            return loss, {"train_acc": int((logits.argmax(1) == yt[idx]).sum())}

        def validate() -> dict[str, float | None]:
            if not len(xv):
                return {"val_loss": None, "val_acc": None}
            vl, va = evaluate_loss(model, xv, yv, criterion, batch_size=max(256, config.batch_size))
            return {"val_loss": vl, "val_acc": va}

        result = train_epochs(
            model,
            optimiser,
            epochs=config.epochs,
            batch_size=config.batch_size,
            order=lambda: torch.randperm(n, generator=gen).to(device),
            batch_loss=batch_loss,
            validate=validate,
            scheduler=_scheduler(optimiser, config, steps_per_epoch),
            min_delta=1e-6,
            patience=config.patience,
            progress=progress,
            description=description,
        )
    model.eval()
    return result


BatchLoss = Callable[[torch.Tensor], "tuple[torch.Tensor, Mapping[str, float]] | None"]


def train_epochs(
    model: nn.Module,
    optimiser: torch.optim.Optimizer,
    *,
    epochs: int,
    batch_size: int,
    order: Callable[[], torch.Tensor],
    batch_loss: BatchLoss,
    validate: Callable[[], dict[str, Any]],
    scheduler: Any = None,
    min_delta: float = 0.0,
    patience: int | None = None,
    progress: bool = True,
    description: str = "training",
    clip_grad_norm: float | None = None,
    after_step: Callable[[], None] | None = None,
) -> FitResult:
    """The epoch loop every genrelab model trains with; restores the best-validation weights.

    Each epoch: ``model.train()``; ``order()`` gives the training row indices ``(n,)`` of the
    epoch, taken in slices of ``batch_size``; ``batch_loss(idx)`` returns the batch loss and
    additive per-row counts (``{"train_acc": correct}``; divided by ``n`` in the history row),
    or None to skip the batch; zero_grad, backward, optimiser (and ``scheduler``) step.
    Then ``validate()`` gives the row's ``val_*`` entries; a ``val_loss`` below the best minus
    ``min_delta`` keeps a copy of the weights, ``patience`` epochs without one stop early.
    History rows: ``{epoch, train_loss, <counts>, <validate() keys>}``. Seeding and the
    optimiser are the caller's (the RNG draws are exactly those of ``order`` and the model).
    ``clip_grad_norm`` clips the gradient norm before each step; ``after_step()`` runs after it.
    """
    from genrelab.progress import track

    result = FitResult()
    best_loss, best_state, since_best = float("inf"), None, 0
    for epoch in track(range(1, epochs + 1), description=description, enabled=progress):
        model.train()
        perm = order()
        total_loss, counts = 0.0, dict[str, float]()
        for i in range(0, len(perm), batch_size):
            idx = perm[i : i + batch_size]
            step = batch_loss(idx)
            if step is None:
                continue
            loss, batch_counts = step
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            if clip_grad_norm is not None:
                nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
            optimiser.step()
            if scheduler is not None:
                scheduler.step()
            if after_step is not None:
                after_step()  # e.g. an exponential moving average of the weights
            total_loss += float(loss.detach()) * len(idx)
            for key, value in batch_counts.items():
                counts[key] = counts.get(key, 0) + value
        row: dict[str, Any] = {
            "epoch": epoch,
            "train_loss": total_loss / len(perm),
            **{key: value / len(perm) for key, value in counts.items()},
        }
        row.update(validate())
        val_loss = row.get("val_loss")
        if val_loss is not None:
            if val_loss < best_loss - min_delta:
                best_loss, best_state, since_best = val_loss, copy.deepcopy(model.state_dict()), 0
                result.best_epoch = epoch
            else:
                since_best += 1
        result.history.append(row)
        if val_loss is not None and patience is not None and since_best >= patience:
            result.stopped_early = True
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    elif not result.best_epoch:
        result.best_epoch = len(result.history)
    return result


def _scheduler(opt: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int) -> Any:
    total = max(1, config.epochs * steps_per_epoch)
    if config.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=total)
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total)
    return None


@torch.no_grad()
def evaluate_loss(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, criterion: nn.Module, *, batch_size: int = 256
) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` (eval mode) on tensors ``x``, ``y``."""
    was_training = model.training
    model.eval()
    total, correct = 0.0, 0
    for i in range(0, len(x), batch_size):
        logits = model(x[i : i + batch_size])
        total += float(criterion(logits, y[i : i + batch_size])) * len(logits)
        correct += int((logits.argmax(1) == y[i : i + batch_size]).sum())
    model.train(was_training)
    return total / len(x), correct / len(x)


@torch.no_grad()
def predict_proba(model: nn.Module, x: np.ndarray, *, batch_size: int = 256, device: str = "cpu") -> np.ndarray:
    """Class probabilities ``(N, n_classes)`` of ``model`` (eval mode) for ``x (N, ...)``."""
    model.eval()
    x = torch.tensor(np.asarray(x, dtype=np.float32))
    out = [torch.softmax(model(x[i : i + batch_size].to(device)), dim=1).cpu() for i in range(0, len(x), batch_size)]
    return torch.cat(out).numpy().astype(np.float64) if out else np.zeros((0, 0))


def save_checkpoint(
    path: Path,
    *,
    name: str,
    kind: str,
    model: nn.Module,
    labels: Sequence[str],
    extra: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
) -> Path:
    """Write ``{"name", "kind", "config", "state_dict", "labels", "created", **extra}`` atomically.

    ``config`` defaults to ``model.config_dict()`` (models without one pass their config dict).
    The checkpoint holds plain values only, so :func:`load_checkpoint` reads it with
    ``weights_only=True``: numpy arrays are stored as tensors (and come back as arrays),
    numpy scalars as Python numbers, paths as strings. Anything else is a
    :class:`ParameterError` here rather than a checkpoint nobody can load safely.
    """
    ckpt = {
        "name": name,
        "kind": kind,
        "config": _plain(model.config_dict() if config is None else config, "config"),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "labels": _plain(list(labels), "labels"),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        **{str(k): _plain(v, str(k)) for k, v in (extra or {}).items()},
    }
    return write_with(path, lambda tmp: torch.save(ckpt, tmp))


_PLAIN = (str, int, float, bool, type(None))


def _plain(value: Any, where: str) -> Any:
    """``value`` with numpy arrays as tensors and only types the weights-only unpickler allows."""
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "biuf":
            return torch.from_numpy(np.ascontiguousarray(value).copy())
        return _plain(value.tolist(), where)  # strings, objects: a (nested) list
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {k if isinstance(k, (str, int)) else str(k): _plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if isinstance(value, tuple) else items
    raise ParameterError(f"checkpoint field {where} holds a {type(value).__name__}, which a checkpoint cannot store")


def _as_numpy(value: Any) -> Any:
    """The inverse of :func:`_plain` for the fields outside ``state_dict``: tensors -> arrays."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, dict):
        return {k: _as_numpy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = [_as_numpy(v) for v in value]
        return tuple(items) if isinstance(value, tuple) else items
    return value


_GLOBAL = re.compile(r"GLOBAL\s+([\w.]+)")


def _read_checkpoint(path: Path, device: str) -> dict[str, Any]:
    """``torch.load(weights_only=True)``; DatasetError in one sentence for anything unsafe or odd."""
    try:
        ckpt = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as exc:
        m = _GLOBAL.search(str(exc))
        needs = f"the Python object {m.group(1)}" if m else "Python objects besides tensors and plain values"
        raise DatasetError(
            f"{path}: refused to load the checkpoint because it needs {needs}, which could run code; "
            "genrelab checkpoints hold tensors and plain values only (retrain to rewrite an old one)"
        ) from None
    except Exception as exc:
        raise DatasetError(f"{path}: not a genrelab model checkpoint ({type(exc).__name__}: {_line(exc)})") from None
    if not isinstance(ckpt, dict):
        raise DatasetError(f"{path}: not a genrelab model checkpoint (it holds a {type(ckpt).__name__}, not a dict)")
    for key, kind in (("name", str), ("config", dict), ("state_dict", dict), ("labels", list)):
        if not isinstance(ckpt.get(key), kind):
            raise DatasetError(f"{path}: not a genrelab model checkpoint ({key!r} missing or not a {kind.__name__})")
    return {k: v if k == "state_dict" else _as_numpy(v) for k, v in ckpt.items()}


def _line(exc: Exception) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]


def load_checkpoint(path: Path, *, device: str = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the module a checkpoint describes; returns ``(module in eval mode, checkpoint)``.

    The file is read with ``torch.load(weights_only=True)``: a checkpoint that needs any
    Python object besides tensors and plain values (a pickle that could run code, or one
    written by an older genrelab with numpy arrays) is refused with a :class:`DatasetError`
    naming the file. Tensors outside ``state_dict`` come back as numpy arrays.
    """
    from genrelab.errors import GenrelabError
    from genrelab.models import build_model

    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such model checkpoint")
    ckpt = _read_checkpoint(path, device)
    try:
        model = build_model(ckpt["name"], **ckpt["config"])
        model.load_state_dict(ckpt["state_dict"])
    except GenrelabError:
        raise
    except Exception as exc:
        raise DatasetError(f"{path}: not a genrelab model checkpoint ({type(exc).__name__}: {_line(exc)})") from None
    return model.to(device).eval(), ckpt


__all__ = [
    "TrainConfig",
    "FitResult",
    "fit",
    "train_epochs",
    "predict_proba",
    "group_holdout",
    "deterministic",
    "save_checkpoint",
    "load_checkpoint",
    "evaluate_loss",
    "SCHEDULES",
]
