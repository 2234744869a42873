"""Training the recreation models on a FeatureSet's segment maps (checkpoint, metrics, plots)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from genrelab.constants import HOP_LENGTH, N_FFT, SR
from genrelab.errors import DatasetError, ParameterError
from genrelab.models import MODELS
from genrelab.models.recreate import RecreateConfig, RecreationModel
from genrelab.recreation.generator import EDGE, Recreator, generate
from genrelab.rundir import RunDir

RECREATION_MODELS: tuple[str, ...] = tuple(n for n, s in MODELS.items() if s.kind == "recreation")
_FIXED = ("lstm", "n_mfcc", "n_genres")  # config fields set from the model name and the data


@dataclass(frozen=True)
class Segments:
    """The training data: raw maps ``x (N, n_mfcc, F)`` (edges dropped), genre indices ``y (N,)``,
    the sorted ``labels``, the train/validation row indices and the validation track ids."""

    x: np.ndarray
    y: np.ndarray
    labels: list[str]
    train: np.ndarray
    val: np.ndarray
    val_tracks: list[str]
    protocol: str
    n_excluded: int = 0


def _check_options(
    models: Sequence[str], epochs: int, batch_size: int, lr: float, val_fraction: float, config: dict[str, Any] | None
) -> dict[str, Any]:
    """Validate the options; return the RecreateConfig overrides."""
    for name in models:
        if name not in RECREATION_MODELS:
            raise ParameterError(f"unknown recreation model {name!r}; choose from {list(RECREATION_MODELS)}")
    for key, value, ok in (
        ("epochs", epochs, epochs >= 1),
        ("batch_size", batch_size, batch_size >= 1),
        ("lr", lr, lr > 0),
        ("val_fraction", val_fraction, 0 < val_fraction < 1),
    ):
        if not ok:
            raise ParameterError(
                f"{key}={value} is out of range (epochs, batch_size >= 1; lr > 0; 0 < val_fraction < 1)"
            )
    overrides = {k: v for k, v in (config or {}).items() if k not in _FIXED}
    unknown = sorted(set(overrides) - set(RecreateConfig.__dataclass_fields__))
    if unknown:
        raise ParameterError(
            f"unknown recreation config key {unknown[0]!r}; choose from "
            f"{sorted(set(RecreateConfig.__dataclass_fields__) - set(_FIXED))}"
        )
    return overrides


def _segments(features: Any, val_fraction: float, seed: int, exclude: set[str] | None = None) -> Segments:
    """The segment maps of ``features.maps`` (less the tracks in ``exclude``) split 80/20
    (``val_fraction``) by track: ``round(val_fraction * n)`` of each genre's n tracks (at least one
    when it has two) are validation (:func:`genrelab.train.group_holdout`), so a small corpus less
    the classifiers' test tracks still has a validation side."""
    from genrelab.train import group_holdout

    maps = getattr(features, "maps", None)
    if maps is None:
        raise DatasetError("recreation models need MFCC maps; prepare the features from an audio folder, not a CSV")
    n_excluded = len({str(t) for t in maps.track} & (exclude or set()))
    if exclude:
        keep = np.array([str(t) not in exclude for t in maps.track], dtype=bool)
        maps = SimpleNamespace(
            maps=np.asarray(maps.maps)[keep], label=np.asarray(maps.label)[keep], track=np.asarray(maps.track)[keep]
        )
    x_raw = np.asarray(maps.maps, dtype=np.float32)
    if x_raw.ndim != 3 or len(x_raw) == 0:
        raise DatasetError(f"MFCC maps have shape {x_raw.shape}; expected (segments, n_mfcc, frames)")
    labels = sorted(set(map(str, maps.label)))
    y = np.array([labels.index(str(v)) for v in maps.label], dtype=np.int64)
    tracks = np.asarray(maps.track).astype(str)
    train, val = group_holdout(tracks.tolist(), y, val_fraction, seed=seed)  # whole tracks, >= 1 per genre with 2+
    if len(train) == 0 or len(val) == 0:
        raise DatasetError(f"too few tracks ({len(set(tracks))}) for a {val_fraction:g} validation split by track")
    return Segments(
        x=x_raw[:, :, EDGE:-EDGE],
        y=y,
        labels=labels,
        train=train,
        val=val,
        val_tracks=sorted({str(t) for t in tracks[val]}),
        protocol=f"group holdout {val_fraction:g} of the tracks per genre, seed={seed}",
        n_excluded=n_excluded,
    )


def train_recreation(
    features: Any,
    models: Sequence[str],
    out: str | Path | RunDir,
    *,
    epochs: int = 20,
    batch_size: int = 32,
    lr: float = 1e-4,
    val_fraction: float = 0.2,
    seed: int = 32,
    device: str = "cpu",
    progress: bool = True,
    config: dict[str, Any] | None = None,
    exclude_tracks: Sequence[str] | None = None,
) -> dict[str, dict]:
    """Train each of ``models`` (``recreate-lstm``/``recreate-dense``) on ``features.maps``.

    Writes ``out/models/<name>.pt``, ``out/metrics/<name>.json`` and the plots
    ``out/plots/<name>_mse.png``, ``<name>_true_vs_synthetic.png``; returns ``{name: metrics}``.
    ``config`` overrides :class:`RecreateConfig` fields (e.g. ``{"hidden": 64}``); its ``"diffusion"``
    entry holds ``recreate-diffusion``'s settings (:data:`genrelab.recreation.diffusion.DEFAULTS`),
    which trains on the clips' log-mel segments instead of the MFCC maps.
    ``exclude_tracks``: tracks the models must not see; None = the test tracks of every
    classifier already trained in ``out``, so the real clips that fidelity compares against
    are unseen by the generators as well as by the classifiers.
    """
    from genrelab.recreation.diffusion import NAME as DIFFUSION
    from genrelab.recreation.diffusion import train_diffusion
    from genrelab.recreation.heldout import classifiers_test_side

    models = list(models)
    diffusion_settings = dict((config or {}).get("diffusion", {}))
    config = {k: v for k, v in (config or {}).items() if k != "diffusion"}
    overrides = _check_options(models, epochs, batch_size, lr, val_fraction, config)
    run = RunDir(out)
    exclude = set(map(str, exclude_tracks)) if exclude_tracks is not None else classifiers_test_side(run)
    results: dict[str, dict] = {}
    if DIFFUSION in models:
        results[DIFFUSION] = train_diffusion(
            features,
            run,
            exclude=exclude,
            seed=seed,
            val_fraction=val_fraction,
            device=device,
            progress=progress,
            settings=diffusion_settings,
        )
        models = [m for m in models if m != DIFFUSION]
        if not models:
            return results
    data = _segments(features, val_fraction, seed, exclude)
    for name in models:
        torch.manual_seed(seed)  # seeded initialisation (and dropout)
        cfg = RecreateConfig(
            n_mfcc=data.x.shape[1], n_genres=len(data.labels), lstm=name == "recreate-lstm", **overrides
        )
        if data.x.shape[2] <= cfg.context + 1:
            raise DatasetError(
                f"segment maps have {data.x.shape[2]} frames; recreation needs more than {cfg.context + 1}"
            )
        results[name] = _fit_one(
            name,
            cfg,
            data,
            run,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            seed=seed,
            device=device,
            progress=progress,
        )
    return results


def standardisation(train_x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-coefficient float32 ``mean``, ``std + 1e-6`` ``(C,)`` of raw maps ``train_x (N, C, F)``.

    Population std (numpy's ``ddof=0``); :class:`genrelab.models._maps.MfccNorm` uses torch's
    unbiased std clamped at 1e-6, so it is not the same normaliser and is not shared here.
    """
    mean = train_x.mean(axis=(0, 2)).astype(np.float32)  # (C,)
    std = (train_x.std(axis=(0, 2)) + 1e-6).astype(np.float32)
    return mean, std


@torch.no_grad()
def evaluate_teacher_forced(
    model: RecreationModel, z: torch.Tensor, g: torch.Tensor, *, batch_size: int, device: str
) -> tuple[float, np.ndarray]:
    """Teacher-forced MSE on ``z (N, F, C)``, genres ``g (N,)``, and the per-coefficient residual RMS ``(C,)``."""
    model.eval()
    sq = torch.zeros(z.shape[-1], dtype=torch.float64)
    n = 0
    for i in range(0, len(z), batch_size):
        xb, gb = z[i : i + batch_size].to(device), g[i : i + batch_size].to(device)
        r = (model(xb, gb) - xb[:, model.config.context :]).double().cpu()  # (B, F-k, C)
        sq += (r**2).sum(dim=(0, 1))
        n += r.shape[0] * r.shape[1]
    per = (sq / max(n, 1)).numpy()
    return float(per.mean()), np.sqrt(per)


def _train(
    model: RecreationModel,
    z_t: torch.Tensor,
    y_t: torch.Tensor,
    data: Segments,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    device: str,
    progress: bool,
    name: str,
) -> list[dict]:
    """Fit ``model`` on standardised ``z_t (N, F, C)`` with :func:`genrelab.train.train_epochs`; the
    best-validation weights are restored. Returns the history ``[{epoch, train_loss, val_loss}]``."""
    from genrelab.train import train_epochs

    tr, va = torch.from_numpy(data.train), torch.from_numpy(data.val)
    k = model.config.context
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)

    def batch_loss(idx: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        xb, gb = z_t[idx].to(device), y_t[idx].to(device)
        return nn.functional.mse_loss(model(xb, gb), xb[:, k:]), {}

    def validate() -> dict[str, float]:
        val_loss, _ = evaluate_teacher_forced(model, z_t[va], y_t[va], batch_size=max(batch_size, 64), device=device)
        return {"val_loss": val_loss}

    result = train_epochs(
        model,
        opt,
        epochs=epochs,
        batch_size=batch_size,
        order=lambda: tr[torch.randperm(len(tr), generator=gen)],
        batch_loss=batch_loss,
        validate=validate,
        progress=progress,
        description=f"train {name}",
    )
    return result.history


def _fit_one(
    name: str,
    cfg: RecreateConfig,
    data: Segments,
    run: RunDir,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    device: str,
    progress: bool,
) -> dict[str, Any]:
    """Fit one model; write checkpoint, metrics and plots; return the metrics."""
    from genrelab.train import save_checkpoint

    train_x = data.x[data.train]
    mean, std = standardisation(train_x)
    z = ((data.x - mean[None, :, None]) / std[None, :, None]).transpose(0, 2, 1)  # (N, F, n_mfcc)
    z_t, y_t = torch.from_numpy(np.ascontiguousarray(z)), torch.from_numpy(data.y)
    va = torch.from_numpy(data.val)
    model = RecreationModel(cfg).to(device)
    history = _train(
        model,
        z_t,
        y_t,
        data,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        device=device,
        progress=progress,
        name=name,
    )
    val_mse, residual_std = evaluate_teacher_forced(
        model, z_t[va], y_t[va], batch_size=max(batch_size, 64), device=device
    )
    zv = z[data.val]
    k = cfg.context
    persistence = float(np.mean((zv[:, k:] - zv[:, k - 1 : -1]) ** 2))  # "repeat the last frame"
    genre_mean = _genre_means(z[data.train], data.y[data.train], n_genres=len(data.labels))
    extra = {
        "mfcc_mean": mean,
        "mfcc_std": std,
        "residual_std": residual_std.astype(np.float32),
        "genre_mean": genre_mean.astype(np.float32),
        "frames": int(data.x.shape[2]),
        "val_tracks": data.val_tracks,
        "mfcc_min": train_x.min(axis=(0, 2)).astype(np.float32),
        "mfcc_max": train_x.max(axis=(0, 2)).astype(np.float32),
        "protocol": data.protocol,
        "sr": SR,
        "n_fft": N_FFT,
        "hop_length": HOP_LENGTH,
    }
    save_checkpoint(
        run.model(name), name=name, kind="recreation", model=model, labels=data.labels, extra=extra, config=asdict(cfg)
    )
    metrics = _metrics(name, cfg, data, history, val_mse, persistence, lr=lr, batch_size=batch_size)
    run.write_metrics(name, metrics)
    rec = Recreator(model.eval(), {"name": name, "labels": data.labels, **extra}, device)
    _training_plots(
        rec, z_t[va[0]].numpy(), data.labels[int(data.y[va[0]])], history, run, seed=seed, baseline=persistence
    )
    return metrics


def _metrics(
    name: str,
    cfg: RecreateConfig,
    data: Segments,
    history: list[dict],
    val_mse: float,
    persistence: float,
    *,
    lr: float,
    batch_size: int,
) -> dict[str, Any]:
    """``metrics/<name>.json`` of a next-frame model."""
    return {
        "model": name,
        "history": history,
        "val_mse": val_mse,
        "val_mse_persistence": persistence,
        "labels": data.labels,
        "config": asdict(cfg),
        "protocol": data.protocol,
        "n_train": int(len(data.train)),
        "n_val": int(len(data.val)),
        "n_val_tracks": len(data.val_tracks),
        "n_excluded_tracks": data.n_excluded,
        "epochs": len(history),
        "lr": lr,
        "batch_size": batch_size,
    }


def _genre_means(z_train: np.ndarray, y_train: np.ndarray, *, n_genres: int) -> np.ndarray:
    """Mean standardised frame per genre ``(n_genres, C)`` of ``z_train (N, F, C)``; zeros for a genre without rows."""
    c = z_train.shape[-1]
    return np.stack(
        [
            z_train[y_train == g].mean(axis=(0, 1)) if np.any(y_train == g) else np.zeros(c, np.float32)
            for g in range(n_genres)
        ]
    )


def _training_plots(
    rec: Recreator,
    z_val: np.ndarray,
    genre: str,
    history: list[dict],
    run: RunDir,
    *,
    seed: int,
    baseline: float | None = None,
) -> None:
    """``<name>_mse.png`` and ``<name>_true_vs_synthetic.png`` for one held-out segment ``z_val (F, C)``."""
    from genrelab.plots import save_figure
    from genrelab.plots.recreate import mse_curves, true_vs_synthetic

    name = rec.name
    k = rec.config.context
    with torch.no_grad():
        zt = torch.from_numpy(z_val)[None].to(rec.device)
        g = torch.tensor([rec.labels.index(genre)], device=rec.device)
        teacher = rec.model(zt, g)[0].cpu().numpy()  # (F-k, C)
    real = rec.unstandardise(z_val[None])[0]  # (C, F)
    teacher_raw = np.concatenate([real[:, :k], rec.unstandardise(teacher[None])[0]], axis=1)
    free = generate(rec, [genre], frames=real.shape[1] - 2 * k, prompts=real[None, :, : 2 * k], seed=seed)[0]
    free_raw = np.concatenate([real[:, : 2 * k], free], axis=1)
    save_figure(mse_curves(history, title=name, baseline=baseline), run.plot(f"{name}_mse"))
    fig = true_vs_synthetic(
        real,
        teacher_raw,
        free_raw,
        sr=SR,
        hop_length=HOP_LENGTH,
        prompt_frames=2 * k,
        title=f"{name}: held-out {genre} segment",
    )
    save_figure(fig, run.plot(f"{name}_true_vs_synthetic"))


__all__ = ["train_recreation", "standardisation", "evaluate_teacher_forced", "RECREATION_MODELS", "Segments"]
