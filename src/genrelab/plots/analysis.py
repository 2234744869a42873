"""PCA plots: PC1/PC2 scatter per source, explained variance, per-genre variance (Figure out)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.figure import Figure


def _colours(genres: Sequence[str]) -> dict[str, tuple]:
    import matplotlib

    cmap = matplotlib.colormaps["tab10"]
    return {g: cmap(i % 10) for i, g in enumerate(genres)}


def pca_scatter(panels: Sequence[dict], genres: Sequence[str]) -> Figure:
    """One PC1/PC2 panel per source.

    Each panel: ``{"title", "scores" (N, 2), "labels" (N,), "background": None or
    ((M, 2) scores, (M,) labels) drawn faded behind, "ratio": [PC1, PC2] explained variance}``.
    """
    n = max(len(panels), 1)
    fig = Figure(figsize=(4.2 * n, 4.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, n, squeeze=False)[0])
    colours = _colours(genres)
    for ax, panel in zip(axes, panels):
        bg = panel.get("background")
        if bg is not None:
            for g in genres:
                m = np.asarray(bg[1]) == g
                ax.scatter(bg[0][m, 0], bg[0][m, 1], s=12, color=colours[g], alpha=0.15, linewidths=0)
        for g in genres:
            m = np.asarray(panel["labels"]) == g
            ax.scatter(
                panel["scores"][m, 0],
                panel["scores"][m, 1],
                s=30,
                color=colours[g],
                edgecolor="k",
                linewidths=0.4,
                label=g,
            )
        pts = [np.asarray(panel["scores"])]
        if bg is not None and len(bg[0]):
            pts.append(np.percentile(bg[0], [2, 98], axis=0))  # far-off originals do not stretch the axes
        lo, hi = np.min([p.min(0) for p in pts], axis=0), np.max([p.max(0) for p in pts], axis=0)
        pad = 0.08 * np.maximum(hi - lo, 1e-9)
        ax.set_xlim(lo[0] - pad[0], hi[0] + pad[0])
        ax.set_ylim(lo[1] - pad[1], hi[1] + pad[1])
        r = panel.get("ratio") or [float("nan")] * 2
        ax.set_xlabel(f"PC1 ({100 * r[0]:.0f} %)")
        ax.set_ylabel(f"PC2 ({100 * r[1]:.0f} %)" if len(r) > 1 else "PC2")
        ax.set_title(panel["title"] + (" (originals faded)" if bg is not None else ""), fontsize=10)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    return fig


def explained_variance(ratios: dict[str, Sequence[float]]) -> Figure:
    """Explained variance ratio per component (bars) and cumulative (lines), one colour per source."""
    fig = Figure(figsize=(6.5, 4), layout="constrained")
    ax = fig.add_subplot()
    k = max(len(r) for r in ratios.values())
    width = 0.8 / max(len(ratios), 1)
    for i, (source, r) in enumerate(ratios.items()):
        pcs = np.arange(1, len(r) + 1)
        bars = ax.bar(pcs + (i - (len(ratios) - 1) / 2) * width, r, width=width, label=source)
        ax.plot(pcs, np.cumsum(r), marker="o", ms=3, color=bars.patches[0].get_facecolor())
    ax.set_xticks(np.arange(1, k + 1))
    ax.set_xlabel("principal component")
    ax.set_ylabel("explained variance ratio (bars), cumulative (lines)")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    return fig


def genre_variance(per_genre: dict[str, dict[str, Sequence[float] | None]], genres: Sequence[str]) -> Figure:
    """Per-genre variance of the PC scores along the first components, one panel per source."""
    n = max(len(per_genre), 1)
    fig = Figure(figsize=(3.6 * n, 3.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, n, squeeze=False, sharey=True)[0])
    colours = _colours(genres)
    for ax, (source, table) in zip(axes, per_genre.items()):
        k = max((len(v) for v in table.values() if v), default=0)
        width = 0.8 / max(len(genres), 1)
        for i, g in enumerate(genres):
            v = table.get(g)
            if v:
                ax.bar(
                    np.arange(1, len(v) + 1) + (i - (len(genres) - 1) / 2) * width,
                    v,
                    width=width,
                    color=colours[g],
                    label=g,
                )
        ax.set_xticks(np.arange(1, k + 1), [f"PC{j}" for j in range(1, k + 1)])
        ax.set_title(source, fontsize=10)
        ax.grid(alpha=0.3, axis="y")
    axes[0].set_ylabel("variance of PC scores")
    axes[0].legend(fontsize=8)
    return fig
