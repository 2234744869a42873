"""Feature plots: per-genre distributions of a few table columns (results in, Figure out)."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure


def feature_boxplots(values: Mapping[str, Mapping[str, Sequence[float] | np.ndarray]], genres: Sequence[str]) -> Figure:
    """One box-plot panel per feature, one box per genre (quartiles; whiskers at 1.5 IQR; no fliers).

    ``values[feature][genre]`` holds that genre's values of the feature (NaN are dropped);
    panels follow the order of ``values``, boxes the order of ``genres``.
    """
    n = max(len(values), 1)
    fig = Figure(figsize=(3.2 * n, 3.0), dpi=90, layout="tight")
    axes = fig.subplots(1, n, squeeze=False)[0]
    for ax, (feature, by_genre) in zip(axes, values.items()):
        data = []
        for g in genres:
            v = np.asarray(by_genre.get(g, ()), dtype=float)
            data.append(v[~np.isnan(v)])
        ax.boxplot(data, showfliers=False)
        ax.set_xticks(range(1, len(genres) + 1), genres, rotation=60, fontsize=7)
        ax.set_title(feature, fontsize=9)
        ax.tick_params(axis="y", labelsize=7)
    return fig


__all__ = ["feature_boxplots"]
