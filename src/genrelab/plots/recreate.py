"""Recreation plots: training curves and true vs synthetic MFCCs (results in, Figure out)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.figure import Figure


def mse_curves(history: Sequence[dict], *, title: str = "", baseline: float | None = None) -> Figure:
    """Train and validation MSE per epoch from ``history`` (``{epoch, train_loss, val_loss}``);
    ``baseline`` (e.g. the validation MSE of repeating the last frame) as a dashed line."""
    fig = Figure(figsize=(5.5, 3.5))
    ax = fig.add_subplot()
    epochs = [h["epoch"] for h in history]
    ax.plot(epochs, [h["train_loss"] for h in history], marker="o", ms=3, label="train")
    ax.plot(epochs, [h["val_loss"] for h in history], marker="o", ms=3, label="validation")
    if baseline is not None:
        ax.axhline(baseline, color="grey", ls="--", lw=1, label="repeat last frame (validation)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("MSE (standardised MFCC)")
    ax.set_title(f"{title} training curves" if title else "training curves")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def true_vs_synthetic(
    real: np.ndarray,
    teacher: np.ndarray,
    free: np.ndarray,
    *,
    sr: int = 22050,
    hop_length: int = 512,
    prompt_frames: int = 0,
    title: str = "",
) -> Figure:
    """Three MFCC panels ``(n_mfcc, F)`` on one colour scale: real, teacher-forced, free-running.

    A dashed line marks where the free-running generation leaves the real prompt.
    """
    fig = Figure(figsize=(8, 7))
    axes = fig.subplots(3, 1, sharex=True)
    vmin, vmax = np.percentile(real[1:], [1, 99])
    seconds = real.shape[1] * hop_length / sr
    names = ("real", "teacher-forced prediction", "free-running generation")
    for ax, m, name in zip(axes, (real, teacher, free), names):
        im = ax.imshow(
            m[1:],
            origin="lower",
            aspect="auto",
            cmap="magma",
            vmin=vmin,
            vmax=vmax,
            extent=(0, m.shape[1] * hop_length / sr, 1.5, m.shape[0] - 0.5),
        )
        ax.set_ylabel("MFCC")
        ax.set_title(name, fontsize=10)
        ax.set_xlim(0, seconds)
        if name.startswith("free") and prompt_frames:
            ax.axvline(prompt_frames * hop_length / sr, color="cyan", ls="--", lw=1)
    axes[-1].set_xlabel("time (s)")
    fig.colorbar(im, ax=list(axes), shrink=0.8, label="MFCC value (coefficients 2-20)")
    if title:
        fig.suptitle(title)
    return fig


def real_vs_generated(
    real: np.ndarray, generated: np.ndarray, *, sr: int = 22050, hop_length: int = 512, title: str = ""
) -> Figure:
    """Two MFCC panels ``(n_mfcc, F)`` on one colour scale: a real held-out segment and a generated one."""
    fig = Figure(figsize=(8, 4.2))
    axes = fig.subplots(2, 1, sharex=True)
    lo = float(min(real.min(), generated.min()))
    hi = float(max(real.max(), generated.max()))
    seconds = max(real.shape[1], generated.shape[1]) * hop_length / sr
    for ax, m, name in zip(axes, (real, generated), ("real (held out)", "generated (whole segment at once)")):
        im = ax.imshow(
            m,
            aspect="auto",
            origin="lower",
            vmin=lo,
            vmax=hi,
            cmap="magma",
            extent=(0, m.shape[1] * hop_length / sr, 0, m.shape[0]),
        )
        ax.set_ylabel("MFCC")
        ax.set_title(name, fontsize=9)
        ax.set_xlim(0, seconds)
    axes[-1].set_xlabel("seconds")
    fig.colorbar(im, ax=list(axes), shrink=0.8, label="dB")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
