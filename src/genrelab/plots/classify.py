"""Classifier plots: training curves, confusion matrix, classification report, misclassified MFCCs.

Each function takes results (numbers) and returns a ``matplotlib.figure.Figure``; save it
with :func:`genrelab.plots.save_figure`.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from genrelab.plots import new_figure


def curves(history: Sequence[Mapping], *, title: str = "") -> Figure:
    """Loss and accuracy per epoch, train and validation (when present)."""
    fig = new_figure(width=9, height=3.6)
    ax_loss, ax_acc = fig.subplots(1, 2)
    ep = [h["epoch"] for h in history]
    for key, ax in (("loss", ax_loss), ("acc", ax_acc)):
        ax.plot(ep, [h[f"train_{key}"] for h in history], label="train")
        val = [h.get(f"val_{key}") for h in history]
        if any(v is not None for v in val):
            ax.plot(ep, [np.nan if v is None else v for v in val], label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss" if key == "loss" else "accuracy")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"{title} training curves".strip())
    return fig


def confusion(cm: np.ndarray, labels: Sequence[str], *, title: str = "") -> Figure:
    """Confusion matrix heatmap (rows = true, columns = predicted) with counts."""
    cm = np.asarray(cm)
    n = len(labels)
    fig = new_figure(width=1.6 + 0.55 * n, height=1.2 + 0.5 * n)
    ax = fig.subplots()
    im = ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(n), labels, rotation=45, ha="right")
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    top = cm.max() if cm.size else 0
    for i in range(n):
        for j in range(n):
            ax.text(
                j,
                i,
                int(cm[i, j]),
                ha="center",
                va="center",
                fontsize=8,
                color="white" if cm[i, j] > top / 2 else "black",
            )
    fig.colorbar(im, ax=ax, shrink=0.8)
    ax.set_title(f"{title} confusion".strip())
    return fig


def report(per_class: Mapping[str, Mapping[str, float]], *, title: str = "") -> Figure:
    """Classification report as a heatmap table: precision, recall, f1 per class, support as text."""
    labels = list(per_class)
    values = np.array([[per_class[l]["precision"], per_class[l]["recall"], per_class[l]["f1"]] for l in labels])
    fig = new_figure(width=5.5, height=1.2 + 0.35 * len(labels))
    ax = fig.subplots()
    ax.imshow(values, cmap="RdYlGn", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(4), ["precision", "recall", "f1", "support"])
    ax.set_yticks(range(len(labels)), labels)
    for i, lab in enumerate(labels):
        for j in range(3):
            ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=8)
        ax.text(3, i, str(per_class[lab]["support"]), ha="center", va="center", fontsize=8)
    ax.set_xlim(-0.5, 3.5)
    ax.set_title(f"{title} classification report".strip())
    return fig


def misclassified(
    examples: Sequence[tuple[str, str, str, np.ndarray]], genre_means: Mapping[str, np.ndarray], *, title: str = ""
) -> Figure:
    """For each ``(name, true, predicted, mfcc)``: the clip's MFCCs beside its true and predicted genre means.

    ``mfcc`` is a map ``(n_mfcc, T)`` (maps models: three images per row) or the 20
    ``mfcc*_mean`` values ``(n_mfcc,)`` (dense: one line plot per row).
    """
    if not examples:
        fig = new_figure(width=5, height=2)
        fig.text(0.5, 0.5, "no misclassified clips in the test set", ha="center", va="center")
        return fig
    is_map = np.asarray(examples[0][3]).ndim == 2
    rows = len(examples)
    if is_map:
        fig = new_figure(width=11, height=2.4 * rows)
        axes = np.atleast_2d(fig.subplots(rows, 3))
        for r, (name, true, pred, m) in enumerate(examples):
            panels = [
                (m, f"{name} (true {true}, predicted {pred})"),
                (genre_means.get(true), f"mean {true}"),
                (genre_means.get(pred), f"mean {pred}"),
            ]
            lo, hi = np.percentile(np.asarray(m)[1:], [2, 98])  # colour range without MFCC 0 (loudness)
            for ax, (img, label) in zip(axes[r], panels):
                if img is not None:
                    ax.imshow(img, origin="lower", aspect="auto", cmap="magma", vmin=lo, vmax=hi)
                ax.set_title(label, fontsize=8)
                ax.set_xlabel("frame", fontsize=7)
                ax.set_ylabel("MFCC", fontsize=7)
    else:
        fig = new_figure(width=7, height=2.4 * rows)
        axes = np.atleast_1d(fig.subplots(rows, 1))
        for ax, (name, true, pred, v) in zip(axes, examples):
            k = np.arange(1, len(v) + 1)
            ax.plot(k, v, "o-", color="black", label=name)
            # a genre absent from the rows given (one-genre test set: predicted genres the set
            # lacks) has no mean to draw
            for genre, marker, role in ((true, "s--", "true"), (pred, "^--", "predicted")):
                if genre in genre_means:
                    ax.plot(k, genre_means[genre], marker, label=f"mean {genre} ({role})")
            ax.set_xticks(k)
            ax.set_xlabel("MFCC coefficient (mean over the clip)", fontsize=7)
            ax.legend(fontsize=7)
            ax.grid(alpha=0.3)
    fig.suptitle(f"{title} misclassified clips".strip())
    return fig


__all__ = ["curves", "confusion", "report", "misclassified"]
