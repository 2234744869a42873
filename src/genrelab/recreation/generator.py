"""A trained recreation model (:class:`Recreator`) and free-running generation of raw MFCC frames."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from genrelab.constants import HOP_LENGTH, SR
from genrelab.errors import DatasetError, ParameterError
from genrelab.models.recreate import RecreateConfig, RecreationModel
from genrelab.rundir import RunDir

EDGE = 2  # frames dropped at each end of a segment map (centre padding makes them quieter)


class Recreator:
    """A trained recreation model with its standardisation, ready to generate raw MFCC frames.

    ``ckpt`` needs ``name``, ``labels``, ``mfcc_mean``/``mfcc_std``/``residual_std`` ``(C,)``,
    ``genre_mean (n_genres, C)``; ``val_tracks`` and ``mfcc_min``/``mfcc_max`` ``(C,)`` are optional.
    """

    def __init__(self, model: RecreationModel, ckpt: dict[str, Any], device: str = "cpu") -> None:
        self.model, self.ckpt, self.device = model, ckpt, device
        self.name: str = ckpt["name"]
        self.config: RecreateConfig = model.config
        self.labels: list[str] = list(ckpt["labels"])
        self.mean = np.asarray(ckpt["mfcc_mean"], np.float32)
        self.std = np.asarray(ckpt["mfcc_std"], np.float32)
        self.residual_std = np.asarray(ckpt["residual_std"], np.float32)
        self.genre_mean = np.asarray(ckpt["genre_mean"], np.float32)
        self.val_tracks: list[str] = list(ckpt.get("val_tracks", []))
        # standardised range of the training frames (generation stays inside it); +-5 if unknown
        lo, hi = ckpt.get("mfcc_min"), ckpt.get("mfcc_max")
        self.z_min = (
            (np.asarray(lo, np.float32) - self.mean) / self.std if lo is not None else np.full_like(self.mean, -5.0)
        )
        self.z_max = (
            (np.asarray(hi, np.float32) - self.mean) / self.std if hi is not None else np.full_like(self.mean, 5.0)
        )

    @classmethod
    def load(cls, run_dir: str | Path | RunDir, name: str, *, device: str = "cpu") -> "Recreator":
        """Load ``RUN/models/<name>.pt``; DatasetError when absent."""
        from genrelab.train import load_checkpoint

        run = RunDir(run_dir)
        path = run.model(name)
        if not path.is_file():
            raise DatasetError(
                f"no trained recreation model {name!r} in {path.parent}; train it with "
                f"`genrelab train DATA --model {name} --out {run}`"
            )
        model, ckpt = load_checkpoint(path)
        if not isinstance(model, RecreationModel):
            raise DatasetError(f"{path} holds a {ckpt.get('kind')} model, not a recreation model")
        return cls(model.to(device).eval(), ckpt, device)

    def standardise(self, mfcc: np.ndarray) -> np.ndarray:
        """Raw ``(B, C, F)`` -> standardised ``(B, F, C)``."""
        return ((mfcc - self.mean[:, None]) / self.std[:, None]).transpose(0, 2, 1).astype(np.float32)

    def unstandardise(self, z: np.ndarray) -> np.ndarray:
        """Standardised ``(B, F, C)`` -> raw ``(B, C, F)``."""
        return (z * self.std + self.mean).transpose(0, 2, 1).astype(np.float32)


def _start(rec: Recreator, g: torch.Tensor, prompts: np.ndarray | None, gen: torch.Generator) -> torch.Tensor:
    """The standardised frames ``(B, P, C)`` a generation starts from (prompts, else genre means + noise)."""
    k, c, b = rec.config.context, rec.config.n_mfcc, len(g)
    if prompts is not None:
        prompts = np.asarray(prompts, np.float32)
        if prompts.ndim != 3 or prompts.shape[0] != b or prompts.shape[1] != c or prompts.shape[2] < k:
            raise ParameterError(f"prompts have shape {prompts.shape}; expected ({b}, {c}, P >= {k})")
        return torch.from_numpy(rec.standardise(prompts)).to(rec.device)  # (B, P, C)
    start = torch.from_numpy(rec.genre_mean).to(rec.device)[g][:, None, :].expand(b, k, c)
    noise = torch.randn(b, k, c, generator=gen).to(rec.device)
    return start + noise * torch.from_numpy(rec.residual_std).to(rec.device)


@torch.no_grad()
def generate(
    rec: Recreator,
    genres: Sequence[str],
    *,
    frames: int,
    prompts: np.ndarray | None = None,
    temperature: float = 0.5,
    seed: int = 0,
) -> np.ndarray:
    """Free-running generation, one sequence per entry of ``genres``.

    ``prompts (B, n_mfcc, P)`` raw MFCC frames (P > context) start the sequences; without
    them each starts from its genre's mean frame plus noise. At each step Gaussian noise
    ``residual_std * temperature`` (standardised units) is added to the predicted frame. The
    default 0.5 gave generated MFCCs the within-clip spread of real ones on the synthesised
    corpus (standardised time-std 0.63-0.67 vs 0.68 real); at 1.0 the dense model's output
    ran away (4.0).
    Each generated frame is clamped per coefficient to the range of the training frames, so a
    run-away step (seen with the dense model: frames 10^3 times louder than the rest, louder
    than any real audio) cannot feed back or set the clip's level.
    Returns raw MFCC ``(B, n_mfcc, frames)`` (the prompt is not included). Deterministic per ``seed``.
    """
    if frames < 1:
        raise ParameterError(f"frames={frames} must be a positive integer")
    if temperature < 0 or not math.isfinite(temperature):
        raise ParameterError(f"temperature={temperature} must be a finite number >= 0")
    unknown = [g for g in genres if g not in rec.labels]
    if unknown:
        raise ParameterError(f"unknown genre {unknown[0]!r} for {rec.name}; choose from {rec.labels}")
    k, c = rec.config.context, rec.config.n_mfcc
    b = len(genres)
    gen = torch.Generator().manual_seed(int(seed))
    g = torch.tensor([rec.labels.index(x) for x in genres], dtype=torch.long, device=rec.device)
    sigma = torch.from_numpy(rec.residual_std * float(temperature)).to(rec.device)  # (C,)
    seq = _start(rec, g, prompts, gen)  # (B, P, C)
    state = rec.model.warm_up(seq, g)
    window = seq[:, -k:]  # (B, k, C)
    out = torch.empty(b, frames, c, device=rec.device)
    lo = torch.from_numpy(rec.z_min).to(rec.device)  # (C,)
    hi = torch.from_numpy(rec.z_max).to(rec.device)
    for t in range(frames):
        mu, state = rec.model.step(window, g, state)  # (B, C)
        nxt = torch.minimum(torch.maximum(mu + torch.randn(b, c, generator=gen).to(rec.device) * sigma, lo), hi)
        out[:, t] = nxt
        window = torch.cat([window[:, 1:], nxt[:, None]], dim=1)
    return rec.unstandardise(out.cpu().numpy())


def frames_for(seconds: float, *, sr: int = SR, hop_length: int = HOP_LENGTH) -> int:
    """MFCC frames whose inversion (``(frames - 1) * hop_length`` samples) lasts at least ``seconds``."""
    return 1 + math.ceil(round(seconds * sr) / hop_length)


__all__ = ["Recreator", "generate", "frames_for", "EDGE"]
