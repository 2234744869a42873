"""Plots: results in, matplotlib ``Figure`` out (Agg, no pyplot state), saved atomically.

Plot functions build ``matplotlib.figure.Figure`` objects directly, so they never touch a GUI
backend or pyplot's global figure list; :func:`save_figure` writes one as PNG via
:mod:`genrelab.io`, :func:`figure_png` returns the PNG bytes (for inlining, e.g. in the report).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from matplotlib.figure import Figure

from genrelab.io import write_with


def new_figure(*, width: float = 6.4, height: float = 4.8, dpi: int = 100) -> Figure:
    """A fresh Agg-renderable Figure (not registered with pyplot)."""
    return Figure(figsize=(width, height), dpi=dpi, layout="constrained")


def _use_agg(fig: Figure) -> None:
    """Attach an Agg canvas to ``fig`` unless it already has one."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if fig.canvas is None or not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)


def save_figure(fig: Figure, path: str | os.PathLike[str], *, dpi: int | None = None) -> Path:
    """Write ``fig`` as PNG to ``path`` atomically and return the path."""
    _use_agg(fig)
    return write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi or fig.dpi))


def figure_png(fig: Figure, *, dpi: int | None = None) -> bytes:
    """The PNG bytes of ``fig`` (nothing written to disk)."""
    _use_agg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi or fig.dpi)
    return buf.getvalue()


__all__ = ["new_figure", "save_figure", "figure_png"]
