"""``recreate-diffusion``: train the log-mel diffusion model of a run, and generate with it.

Beyond the source study: a genre-conditioned diffusion model
(:mod:`genrelab.models.recreate_diffusion`) that draws whole 3 s log-mel segments at once, so a
beat pattern survives instead of averaging away frame by frame. It works in the top principal
components of the per-band standardised log-mel frames (:class:`MelProjection`); generated maps
are decoded to 128-band log-mel (dB), clamped to the training range, and become MFCCs by the DCT
(for the map classifiers and the plots) and audio by :func:`genrelab.invert.mel_to_audio`.

Data: the run's clips (``features.clips``), cut into the same 3 s segments as the MFCC maps, less
the classifiers' test tracks; a per-genre group holdout of the rest validates (EMA weights).
``RUN/models/recreate-diffusion.pt`` holds the weights (EMA), the config, the labels, the
projection (``mel_mean``/``mel_std`` (128,), ``basis`` (128, k), ``scale`` (k,)), ``mel_min`` and
``mel_max``, ``val_tracks`` and the training settings, and the style prior (``style_mean``
(G, 2 S), ``style_chol`` (G, 2 S, 2 S)).

Style: genre alone leaves every clip of a genre near the genre's average timbre (diversity 0.44
of the real clips' on the demo). So the model is also conditioned on a per-clip style, the mean
and log std over time of the first ``style`` components (all 32 by default); for generation a
style is drawn for each clip from a per-genre Gaussian fitted on the training segments
(:class:`StylePrior`), and with ``match_style`` the sampled maps are then given exactly that
mean and std (:func:`match_style`). ``style = 0`` is the genre-only model.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from genrelab.constants import N_MFCC, SEGMENT_SECONDS, SR
from genrelab.errors import DatasetError, ParameterError
from genrelab.models.recreate_diffusion import (
    DiffusionConfig,
    MelDiffusion,
    MelProjection,
    StylePrior,
    fit_projection,
    fit_style_prior,
    match_style,
)
from genrelab.progress import track
from genrelab.rundir import RunDir

NAME = "recreate-diffusion"
DEFAULTS: dict[str, Any] = {
    "steps": 700,
    "batch_size": 32,
    "lr": 2e-3,
    "crop": 128,
    "components": 32,
    "ema": 0.995,
    "sample_steps": 40,
    "guidance": 1.0,
    "eta": 1.0,
    "style": 32,
    "match_style": True,
}

__all__ = ["MelGenerator", "train_diffusion", "mel_segments", "NAME", "DEFAULTS"]


def mel_segments(clips: Any, *, exclude: set[str], progress: bool = True) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Log-mel segments ``(N, 128, 130)`` dB of the clips (a table with ``path``, ``track``, ``label``),
    cut as the MFCC maps are (consecutive 3 s pieces), without the tracks in ``exclude``:
    ``(maps, track id per segment (N,), label per segment)``."""
    from genrelab.audio import load
    from genrelab.errors import AudioError
    from genrelab.features import log_mel

    n = int(round(SEGMENT_SECONDS * SR))
    maps, tracks, labels = [], [], []
    rows = [r for r in clips.itertuples(index=False) if str(r.track) not in exclude]
    for r in track(rows, description="log-mel segments", enabled=progress):
        try:
            y = load(Path(str(r.path)), sr=SR)
        except AudioError:
            continue
        for i in range(y.size // n):
            maps.append(log_mel(y[i * n : (i + 1) * n], sr=SR))
            tracks.append(str(r.track))
            labels.append(str(r.label))
    if not maps:
        raise DatasetError("no clip of at least 3 s left to train recreate-diffusion on")
    return np.stack(maps).astype(np.float32), np.asarray(tracks), labels


def _schedule(opt: torch.optim.Optimizer, steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over 5 % of the steps, then cosine decay to 0."""
    warm = max(1, steps // 20)
    return torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: min(1.0, (i + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(i, steps) / steps))
    )


def train_diffusion(
    features: Any,
    run: RunDir,
    *,
    exclude: set[str],
    seed: int = 32,
    val_fraction: float = 0.2,
    device: str = "cpu",
    progress: bool = True,
    settings: dict[str, Any] | None = None,
) -> dict:
    """Train ``recreate-diffusion`` on the run's clips; write its checkpoint and metrics; return the metrics."""
    from genrelab.train import group_holdout, save_checkpoint

    s = {**DEFAULTS, **(settings or {})}
    unknown = sorted(set(s) - set(DEFAULTS))
    if unknown:
        raise ParameterError(f"unknown recreate-diffusion setting {unknown[0]!r}; choose from {sorted(DEFAULTS)}")
    clips = getattr(features, "clips", None)
    if clips is None:
        raise DatasetError("recreate-diffusion needs the audio clips; prepare the features from an audio folder")
    mel, tracks, label_list = mel_segments(clips, exclude=exclude, progress=progress)
    labels = sorted(set(label_list))
    y = np.array([labels.index(v) for v in label_list], dtype=np.int64)
    train, val = group_holdout(tracks.tolist(), y, val_fraction, seed=seed)
    proj = fit_projection(mel[train], int(s["components"]))
    x = torch.from_numpy(proj.encode(mel))  # (N, k, 130)
    g = torch.from_numpy(y)
    style = min(int(s["style"]), int(s["components"]))  # components whose mean and std over time are the style
    cfg = DiffusionConfig(n_mels=int(s["components"]), n_genres=len(labels), style_dim=style, style_std=True)
    ema, result, n_steps = _fit_ema(cfg, x, g, train, val, s, seed=seed, device=device, progress=progress)
    styles = ema.style_of(x[torch.from_numpy(train)])  # (N_train, S) or None
    extra = {
        "mel_mean": proj.mean,
        "mel_std": proj.std,
        "basis": proj.basis,
        "scale": proj.scale,
        "mel_min": float(mel[train].min()),
        "mel_max": float(mel[train].max()),
        "val_tracks": sorted(set(tracks[val].tolist())),
        "settings": s,
        "frames": int(mel.shape[-1]),
    }
    if styles is not None:
        prior = fit_style_prior(styles.numpy(), y[train], len(labels))
        extra.update(style_mean=prior.mean, style_chol=prior.chol)
    save_checkpoint(
        run.model(NAME), name=NAME, kind="recreation", model=ema, labels=labels, extra=extra, config=asdict(cfg)
    )
    metrics = {
        "model": NAME,
        "history": result.history,
        "labels": labels,
        "config": asdict(cfg),
        "settings": s,
        "n_train": int(len(train)),
        "n_val": int(len(val)),
        "n_excluded_tracks": len(exclude),
        "val_loss_ema": result.history[-1].get("ema_val_loss") if result.history else None,
        "optimiser_steps": n_steps,
        "protocol": f"group holdout {val_fraction:g} of the tracks per genre",
    }
    run.write_metrics(NAME, metrics)
    _plots(
        MelGenerator(ema, {"name": NAME, "labels": labels, **extra}, device),
        mel[val[0]],
        labels[int(y[val[0]])],
        result.history,
        run,
        seed=seed,
    )
    return metrics


def _plots(
    gen: "MelGenerator", real_mel: np.ndarray, genre: str, history: list[dict], run: RunDir, *, seed: int
) -> None:
    """``recreate-diffusion_mse.png`` (training curves) and ``recreate-diffusion_true_vs_synthetic.png``
    (a held-out segment's MFCCs beside a generated segment of its genre)."""
    from genrelab.plots import save_figure
    from genrelab.plots.recreate import mse_curves, real_vs_generated

    curves = [{"epoch": h["epoch"], "train_loss": h["train_loss"], "val_loss": h.get("ema_val_loss")} for h in history]
    save_figure(mse_curves(curves, title=NAME), run.plot(f"{NAME}_mse"))
    real = gen.mfcc_of(real_mel[None])[0]  # (20, F)
    mfcc, _ = gen.generate([genre], frames=real_mel.shape[1], seed=seed)
    save_figure(
        real_vs_generated(real, mfcc[0], title=f"{NAME}: held-out {genre} segment vs generated"),
        run.plot(f"{NAME}_true_vs_synthetic"),
    )


def _fit_ema(
    cfg: DiffusionConfig,
    x: torch.Tensor,
    g: torch.Tensor,
    train: np.ndarray,
    val: np.ndarray,
    s: dict[str, Any],
    *,
    seed: int,
    device: str,
    progress: bool,
) -> tuple[MelDiffusion, Any, int]:
    """Train through :func:`genrelab.train.train_epochs` on random crops of ``x (N, k, F)``; keep an
    exponential moving average of the weights (validated each epoch). Returns ``(ema, FitResult, steps)``."""
    from genrelab.train import train_epochs

    torch.manual_seed(seed)
    model = MelDiffusion(cfg).to(device)
    ema = copy.deepcopy(model)
    opt = torch.optim.AdamW(model.parameters(), lr=float(s["lr"]), weight_decay=0.0)
    batch, crop = int(s["batch_size"]), min(int(s["crop"]), x.shape[-1])
    per_epoch = max(1, len(train) // batch)
    epochs = max(1, math.ceil(int(s["steps"]) / per_epoch))
    gen = torch.Generator().manual_seed(seed)
    step = [0]

    def order() -> torch.Tensor:
        return torch.from_numpy(train)[torch.randperm(len(train), generator=gen)][: per_epoch * batch]

    def batch_loss(idx: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        off = int(torch.randint(x.shape[-1] - crop + 1, (1,), generator=gen))
        xb = x[idx, :, off : off + crop].to(device)  # (B, k, crop)
        return model.loss(xb, g[idx].to(device), generator=gen), {}

    def after_step() -> None:
        step[0] += 1
        decay = min(float(s["ema"]), step[0] / (step[0] + 9))
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.lerp_(pm, 1 - decay)

    def validate() -> dict[str, float]:
        vg = torch.Generator().manual_seed(seed + 1)  # the same noise every epoch: comparable numbers
        with torch.no_grad():
            xv = x[torch.from_numpy(val)].to(device)
            return {"ema_val_loss": float(ema.loss(xv, g[torch.from_numpy(val)].to(device), generator=vg))}

    result = train_epochs(
        model,
        opt,
        epochs=epochs,
        batch_size=batch,
        order=order,
        batch_loss=batch_loss,
        validate=validate,
        scheduler=_schedule(opt, epochs * per_epoch),
        clip_grad_norm=1.0,
        after_step=after_step,
        progress=progress,
        description=f"train {NAME}",
    )
    return ema.eval(), result, step[0]


class MelGenerator:
    """A trained ``recreate-diffusion`` ready to generate log-mel and MFCC maps."""

    def __init__(self, model: MelDiffusion, ckpt: dict[str, Any], device: str = "cpu") -> None:
        self.model, self.ckpt, self.device = model, ckpt, device
        self.name: str = str(ckpt["name"])
        self.labels: list[str] = list(ckpt["labels"])
        self.val_tracks: list[str] = list(ckpt.get("val_tracks", []))
        as_np = lambda k: np.asarray(ckpt[k], np.float32)  # noqa: E731
        self.projection = MelProjection(as_np("mel_mean"), as_np("mel_std"), as_np("basis"), as_np("scale"))
        self.mel_range = (float(ckpt["mel_min"]), float(ckpt["mel_max"]))
        self.settings: dict[str, Any] = {**DEFAULTS, **dict(ckpt.get("settings", {}))}
        self.style_prior = (
            StylePrior(np.asarray(ckpt["style_mean"], np.float64), np.asarray(ckpt["style_chol"], np.float64))
            if "style_mean" in ckpt
            else None
        )

    @classmethod
    def load(cls, run_dir: str | Path | RunDir, *, device: str = "cpu") -> "MelGenerator":
        """Load ``RUN/models/recreate-diffusion.pt``; DatasetError when absent or of another kind."""
        from genrelab.train import load_checkpoint

        run = RunDir(run_dir)
        if not run.has_model(NAME):
            raise DatasetError(
                f"no trained recreation model {NAME!r} in {run.models}; train it with "
                f"`genrelab train DATA --model {NAME} --out {run}`"
            )
        model, ckpt = load_checkpoint(run.model(NAME), device=device)
        if not isinstance(model, MelDiffusion):
            raise DatasetError(f"{run.model(NAME)} holds a {ckpt.get('kind')} model, not {NAME}")
        return cls(model.eval(), ckpt, device)

    def generate(self, genres: Sequence[str], *, frames: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """``(mfcc (B, 20, frames), log_mel (B, 128, frames) dB)`` for one clip per entry of ``genres``."""

        unknown = [g for g in genres if g not in self.labels]
        if unknown:
            raise ParameterError(f"unknown genre {unknown[0]!r} for {self.name}; choose from {self.labels}")
        ids = torch.tensor([self.labels.index(g) for g in genres], dtype=torch.long)
        gen = torch.Generator().manual_seed(int(seed))
        s = self.settings
        style = self.style_prior.sample(ids.numpy(), gen) if self.style_prior is not None else None  # (B, S)
        z = self.model.generate(
            ids,
            frames=int(frames),
            steps=int(s["sample_steps"]),
            guidance=float(s["guidance"]),
            generator=gen,
            eta=float(s["eta"]),
            style=style,
        )  # (B, k, frames)
        if style is not None and s["match_style"] and self.model.config.style_std:
            z = match_style(z, style.to(z.device))  # (B, k, frames): the drawn means and stds, exactly
        mel_db = np.clip(self.projection.decode(z.cpu().numpy()), *self.mel_range)  # (B, 128, frames)
        return self.mfcc_of(mel_db), mel_db.astype(np.float32)

    @staticmethod
    def mfcc_of(mel_db: np.ndarray) -> np.ndarray:
        """Log-mel ``(B, n_mels, T)`` dB -> MFCC ``(B, 20, T)`` float32: the DCT the features use."""
        from genrelab.dsp.filters import dct_basis

        basis = dct_basis(mel_db.shape[1], N_MFCC).astype(np.float32)  # (n_mels, 20)
        return np.einsum("mc,bmt->bct", basis, mel_db).astype(np.float32)
