"""PCA and separability of the 57 features of recreated and original audio.

:func:`run_pca` extracts the 57 features (:func:`genrelab.features.extract_clip`) of every
recreated clip ``RUN/recreated/<source>/<genre>/*.wav`` of the chosen genres (sources: those
the last ``genrelab recreate`` wrote, per ``metrics/fidelity.json``), and takes the
original clips' rows of ``RUN/features/features.csv``. Each source (``lstm``, ``dense``,
``oracle``, ``original``) is standardised and PCA'd on its own (scikit-learn); the scatter
plot shows each recreated source in its own PC1/PC2 plane with the originals projected into
that plane, faded behind.

``RUN/metrics/pca.json``::

    {"genres": [...], "n_components": k, "overlap_method": "...",
     "sources": {source: {"n_clips", "n_per_genre": {g: n},
                          "explained_variance_ratio": [k floats, sum <= 1],
                          "per_genre_variance": {g: [var along PC1, PC2, PC3]},
                          "silhouette": s (PC1-PC2 plane, in [-1, 1]),
                          "silhouette_features": s (all standardised features),
                          "overlap": {g1: {g2: Bhattacharyya coefficient in [0, 1]}}}},
     "note": "..."}

Overlap is the Bhattacharyya coefficient of Gaussian fits to two genres' PC1-PC2 scores
(1 = identical distributions, 0 = disjoint); covariances get a small ridge (1e-3 of the
plane's mean variance) so that a handful of clips still gives a finite value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from genrelab.errors import DatasetError, ParameterError
from genrelab.progress import track
from genrelab.rundir import RunDir

DEFAULT_GENRES: tuple[str, ...] = ("classical", "pop", "metal", "blues")
OVERLAP_METHOD = "Bhattacharyya coefficient of 2-D Gaussian fits in the PC1-PC2 plane (ridge 1e-3)"
N_VARIANCE_PCS = 3


def fit_pca(x: np.ndarray, *, n_components: int | None = None):
    """Standardise ``x (N, d)`` and fit PCA; returns the fitted sklearn Pipeline (scaler, pca)."""
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.asarray(x, np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ParameterError(f"PCA needs at least 2 rows of features, got shape {x.shape}")
    k = min(n_components or 10, x.shape[0], x.shape[1])
    return make_pipeline(StandardScaler(), PCA(n_components=k)).fit(x)


def bhattacharyya(a: np.ndarray, b: np.ndarray, *, ridge: float = 0.0) -> float:
    """Bhattacharyya coefficient of Gaussian fits to ``a (n, d)`` and ``b (m, d)``, in [0, 1]."""
    ma, mb = a.mean(0), b.mean(0)
    eye = np.eye(a.shape[1]) * ridge
    sa = np.atleast_2d(np.cov(a, rowvar=False)) + eye
    sb = np.atleast_2d(np.cov(b, rowvar=False)) + eye
    s = (sa + sb) / 2
    diff = ma - mb
    _, logdet_s = np.linalg.slogdet(s)
    _, logdet_a = np.linalg.slogdet(sa)
    _, logdet_b = np.linalg.slogdet(sb)
    db = diff @ np.linalg.solve(s, diff) / 8 + 0.5 * (logdet_s - 0.5 * (logdet_a + logdet_b))
    return float(np.clip(np.exp(-db), 0.0, 1.0))


def separability(
    x: np.ndarray, labels: Sequence[str], genres: Sequence[str], *, n_components: int | None = None
) -> dict:
    """PCA summary of one source: ``x (N, d)`` features, ``labels (N,)`` genres.

    Returns ``(summary, pipeline)``: the summary holds explained variance ratios, per-genre
    variances along the first PCs, silhouette scores and the pairwise overlap table (see the
    module docstring); the pipeline is the fitted (StandardScaler, PCA).
    """
    from sklearn.metrics import silhouette_score

    labels = np.asarray([str(v) for v in labels])
    pipe = fit_pca(x, n_components=n_components)
    z = pipe.transform(np.asarray(x, np.float64))  # (N, k)
    std = pipe[0].transform(np.asarray(x, np.float64))  # (N, d)
    present = [g for g in genres if np.sum(labels == g) > 0]
    per_var, overlap = {}, {}
    plane = z[:, :2] if z.shape[1] >= 2 else np.pad(z, ((0, 0), (0, 2 - z.shape[1])))
    ridge = 1e-3 * float(plane.var(0).mean() or 1.0)
    for g in genres:
        zg = z[labels == g]
        per_var[g] = [float(v) for v in zg[:, :N_VARIANCE_PCS].var(0, ddof=1)] if len(zg) >= 2 else None
    for g1 in genres:
        overlap[g1] = {}
        for g2 in genres:
            a, b = plane[labels == g1], plane[labels == g2]
            overlap[g1][g2] = bhattacharyya(a, b, ridge=ridge) if len(a) >= 2 and len(b) >= 2 else None
    ok = 2 <= len(present) <= len(labels) - 1
    return {
        "n_clips": int(len(labels)),
        "n_per_genre": {g: int(np.sum(labels == g)) for g in genres},
        "explained_variance_ratio": [float(v) for v in pipe[1].explained_variance_ratio_],
        "per_genre_variance": per_var,
        "silhouette": float(silhouette_score(plane, labels)) if ok else None,
        "silhouette_features": float(silhouette_score(std, labels)) if ok else None,
        "overlap": overlap,
    }, pipe


def run_pca(run_dir: Path, *, genres: Sequence[str] = DEFAULT_GENRES, progress: bool = True) -> dict:
    """PCA of the recreated audio (and the originals) of ``genres`` in a run folder.

    Writes ``RUN/metrics/pca.json`` and ``RUN/plots/pca_scatter.png``, ``pca_variance.png``,
    ``pca_genre_variance.png``; returns the JSON dict. DatasetError when the run folder or its
    recreated audio is missing.
    """
    import pandas as pd

    from genrelab.features import FEATURE_COLUMNS

    run_dir = Path(run_dir)
    genres = list(genres)
    if not run_dir.is_dir():
        raise DatasetError(f"run folder {run_dir} does not exist")
    if len(genres) < 2:
        raise ParameterError(f"genres={genres} must name at least two genres for a separability analysis")
    rec_root = RunDir(run_dir).recreated
    sources = sorted(p.name for p in rec_root.iterdir() if p.is_dir()) if rec_root.is_dir() else []
    fidelity = RunDir(run_dir).metrics_file("fidelity")
    if fidelity.is_file():  # only the sources the last `genrelab recreate` wrote, not older leftovers
        from genrelab.io import read_json

        latest = set(read_json(fidelity).get("models", [])) | {"oracle"}
        sources = [s for s in sources if s in latest]
    data: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for source in sources:
        files = [(g, f) for g in genres for f in sorted((rec_root / source / g).glob("*.wav"))]
        if files:
            data[source] = _features_of(files, FEATURE_COLUMNS, description=f"features {source}", progress=progress)
    if not data:
        raise DatasetError(f"no recreated audio of {genres} in {rec_root}; run `genrelab recreate {run_dir}` first")
    table_path = RunDir(run_dir).features_csv
    if table_path.is_file():
        table = pd.read_csv(table_path)
        table = table[table["label"].astype(str).isin(genres)]
        if len(table) >= 2:
            data["original"] = (table[FEATURE_COLUMNS].to_numpy(np.float64), table["label"].astype(str).to_numpy())
    results, pipes = {}, {}
    for source, (x, y) in data.items():
        if len(x) >= 3:
            results[source], pipes[source] = separability(x, y, genres)
    if not results:
        raise DatasetError(f"too few recreated clips in {rec_root} for PCA (need at least 3 per source)")
    out = {
        "genres": genres,
        "n_components": {s: len(r["explained_variance_ratio"]) for s, r in results.items()},
        "overlap_method": OVERLAP_METHOD,
        "sources": results,
        "note": "each source is standardised and PCA'd on its own; recreated clips are short (seconds) "
        "while original rows come from the run's feature table (whole clips)",
    }
    RunDir(run_dir).write_metrics("pca", out)
    _plots(run_dir, data, pipes, results, genres)
    return out


def _features_of(files, columns, *, description: str, progress: bool) -> tuple[np.ndarray, np.ndarray]:
    """57 features ``(N, 57)`` and labels ``(N,)`` of ``[(genre, wav path), ...]``."""
    from genrelab.audio import load
    from genrelab.features import extract_clip

    rows, labels = [], []
    for genre, path in track(files, description=description, enabled=progress):
        feats = extract_clip(load(path, sr=22050))
        rows.append([feats[c] for c in columns])
        labels.append(genre)
    return np.asarray(rows, np.float64), np.asarray(labels)


def _plots(run_dir: Path, data, pipes, results, genres) -> None:
    from genrelab.plots import analysis as P
    from genrelab.plots import save_figure

    panels = []
    original = data.get("original")
    for source, pipe in pipes.items():
        if source == "original":
            continue
        x, y = data[source]
        bg = (pipe.transform(original[0])[:, :2], original[1]) if original is not None else None
        panels.append(
            {
                "title": source,
                "scores": pipe.transform(x)[:, :2],
                "labels": y,
                "background": bg,
                "ratio": results[source]["explained_variance_ratio"][:2],
            }
        )
    if "original" in pipes:
        x, y = data["original"]
        panels.append(
            {
                "title": "original",
                "scores": pipes["original"].transform(x)[:, :2],
                "labels": y,
                "background": None,
                "ratio": results["original"]["explained_variance_ratio"][:2],
            }
        )
    plots = RunDir(run_dir).plots
    save_figure(P.pca_scatter(panels, genres), plots / "pca_scatter.png")
    save_figure(
        P.explained_variance({s: r["explained_variance_ratio"] for s, r in results.items()}), plots / "pca_variance.png"
    )
    save_figure(
        P.genre_variance({s: r["per_genre_variance"] for s, r in results.items()}, genres),
        plots / "pca_genre_variance.png",
    )
