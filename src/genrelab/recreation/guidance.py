"""Classifier guidance: steer generated raw MFCCs towards a genre of a frozen map classifier."""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from genrelab.errors import ParameterError


def guide(
    mfcc: np.ndarray,
    targets: Sequence[int],
    module: nn.Module,
    *,
    weight: float,
    frames: int,
    std: np.ndarray,
    steps: int = 30,
    lr: float = 0.05,
    device: str = "cpu",
    to_mfcc: Callable[[torch.Tensor], torch.Tensor] | None = None,
    per_frame: bool = True,
) -> np.ndarray:
    """Steer raw MFCC ``(B, n_mfcc, T)`` towards class ``targets[b]`` of a frozen map classifier.

    ``module`` takes raw maps ``(B', n_mfcc, frames)`` and returns logits. Minimises
    ``mean(((x - x0) / std)^2) - weight * mean(log p(target | window))`` over windows of
    ``frames`` frames (half-overlapping; the sequence is tiled when shorter) with Adam.
    Returns the guided raw MFCC, same shape. ``weight == 0`` returns the input unchanged.
    ``to_mfcc``, when given, maps the steered array to the MFCCs the classifier sees (e.g. the
    DCT of a log-mel ``(B, n_mels, T)``, with ``std (n_mels,)``): the log-mel is what moves.
    ``per_frame=False`` moves each clip by one offset per row for all its frames: it changes the
    timbre only, never the frame-to-frame change nor the onsets (a log-mel's spectral flux).
    """
    if weight < 0 or not math.isfinite(weight):
        raise ParameterError(f"guidance={weight} must be a finite number >= 0")
    if weight == 0 or steps <= 0:
        return np.asarray(mfcc, np.float32)
    x0 = torch.as_tensor(np.asarray(mfcc, np.float32), device=device)  # (B, C, T)
    s = torch.as_tensor(np.asarray(std, np.float32), device=device)[None, :, None]
    tgt = torch.as_tensor(list(targets), dtype=torch.long, device=device)
    was_training = module.training
    module.eval()
    flags = [(p, p.requires_grad) for p in module.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    shape = x0.shape if per_frame else (*x0.shape[:2], 1)
    delta = torch.zeros(shape, dtype=x0.dtype, device=device, requires_grad=True)  # standardised units
    opt = torch.optim.Adam([delta], lr=lr)
    for _ in range(steps):
        x = x0 + delta * s
        w, owner = _windows(x if to_mfcc is None else to_mfcc(x), frames)  # (W, C, frames), (W,)
        logp = torch.log_softmax(module(w), dim=-1)[torch.arange(len(owner)), tgt[owner]]
        loss = (delta**2).mean() - weight * logp.mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    for p, flag in flags:
        p.requires_grad_(flag)
    module.train(was_training)
    return (x0 + delta.detach() * s).cpu().numpy()


def _windows(x: torch.Tensor, frames: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``x (B, C, T)`` -> windows ``(W, C, frames)`` and the sequence index of each ``(W,)``."""
    b, _, t = x.shape
    if t < frames:
        x = x.repeat(1, 1, -(-frames // t))[:, :, :frames]
        t = frames
    starts = list(range(0, t - frames + 1, max(frames // 2, 1)))
    if starts[-1] != t - frames:
        starts.append(t - frames)
    w = torch.stack([x[:, :, s : s + frames] for s in starts], dim=1)  # (B, S, C, frames)
    owner = torch.arange(b, device=x.device).repeat_interleave(len(starts))
    return w.reshape(b * len(starts), x.shape[1], frames), owner


def target_log_prob(mfcc: np.ndarray, targets: Sequence[int], module: nn.Module, *, frames: int) -> np.ndarray:
    """Mean log-probability of ``targets`` over the windows of each sequence: ``(B,)``."""
    with torch.no_grad():
        x = torch.as_tensor(np.asarray(mfcc, np.float32), device=next(module.parameters()).device)
        w, owner = _windows(x, frames)
        logp = torch.log_softmax(module.eval()(w), dim=-1)
        tgt = torch.as_tensor(list(targets), device=x.device)[owner]
        vals = logp[torch.arange(len(owner)), tgt]
        return torch.zeros(x.shape[0], dtype=vals.dtype).index_add_(0, owner.cpu(), vals.cpu()).numpy() / (
            np.bincount(owner.cpu().numpy(), minlength=x.shape[0])
        )


__all__ = ["guide", "target_log_prob"]
