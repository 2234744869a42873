"""Report sections about the inputs and the run: the data, the features, PCA, configuration.

Each ``section_*`` takes a :class:`RunFolder` and returns the section's HTML body (a "not run"
note when the run folder holds nothing for it); headings and anchors live in
:data:`genrelab.report.render.SECTIONS`.
"""

from __future__ import annotations

import platform
from importlib import metadata
from typing import TYPE_CHECKING, Any, Sequence

from genrelab.report.fragments import esc, figure_row, figures, heading, json_tables, not_run, png_figure, table
from genrelab.report.run_folder import CLASSIFIERS, RunFolder, npz_shape, read_csv

if TYPE_CHECKING:
    import pandas as pd

PACKAGES = ("genrelab", "numpy", "torch", "librosa", "scikit-learn", "pandas", "matplotlib", "soundfile")
FEATURE_SUMMARY = (
    "tempo",
    "spectral_centroid_mean",
    "rms_mean",
    "zero_crossing_rate_mean",
    "mfcc1_mean",
    "chroma_stft_mean",
)
NOT_FEATURES = ("filename", "length", "label", "segment")

SEPARABILITY_NOTE = (
    '<h3>Separability</h3><p class="note">Silhouette on the PC1/PC2 plane and on all standardised '
    "features (higher: genres more apart); explained variance of the first components; mean "
    "pairwise Bhattacharyya overlap of genres on the PC1/PC2 plane (lower: less overlap). Each source "
    "is standardised and PCA'd on its own.</p>"
)


def _data_source(run: RunFolder) -> str:
    """Where the clips came from: a data path, the synthesised corpus, or nothing known."""
    source = run.state.get("data") if isinstance(run.state, dict) else None
    if source:
        return f"<p>Data: <code>{esc(source)}</code></p>"
    if "synth" in run.steps():
        return (
            "<p>Data: the synthesised ten-genre corpus (procedural music, not GTZAN), "
            "in <code>corpus/</code> of this run folder.</p>"
        )
    return ""


def _skipped(run: RunFolder) -> str:
    """The files feature preparation skipped, with the reason; a note when there were none."""
    skipped = read_csv(run.paths.skipped_csv)
    if skipped is None or not len(skipped):
        return '<p class="note">No files were skipped.</p>'
    cols = [c for c in ("path", "reason") if c in skipped.columns] or list(skipped.columns)
    return heading(f"Skipped files ({len(skipped)})") + table(cols, skipped[cols].values.tolist(), num_from=99)


def section_data(run: RunFolder) -> str:
    """Genres and clip counts, the main split protocol(s) and the skipped files."""
    clips = read_csv(run.paths.clips_csv)
    if clips is None or "label" not in clips.columns:  # a feature-table input has no clips.csv
        clips = read_csv(run.paths.features_csv)
    info = run.steps().get("features", {}).get("info", {}) if run.steps() else {}
    parts = [_data_source(run)]
    if clips is not None and "label" in clips.columns:
        counts = clips["label"].value_counts().sort_index()
        rows = [[g, int(n)] for g, n in counts.items()] + [["total", int(counts.sum())]]
        parts.append(
            f"<p>{len(counts)} genres, {int(counts.sum())} clips (rows).</p>" + table(["genre", "clips"], rows)
        )
    elif info:
        parts.append(json_tables(info))
    else:
        return not_run("feature preparation")
    protocols = sorted(
        {
            str(m.get("protocol"))
            for k, m in run.metrics.items()
            if k in CLASSIFIERS and isinstance(m, dict) and m.get("protocol")
        }
    )
    if protocols:
        parts.append(
            f"<p>Main split protocol(s): {esc(', '.join(protocols))}. Splits are made over "
            "tracks, so segments of one track never fall on both sides.</p>"
        )
    parts.append(_skipped(run))
    return "".join(parts)


def _boxplots_png(feats: pd.DataFrame, cols: Sequence[str]) -> bytes | None:
    """PNG bytes of :func:`genrelab.plots.features.feature_boxplots` for ``cols`` (None without matplotlib)."""
    try:
        from genrelab.plots import figure_png
        from genrelab.plots.features import feature_boxplots
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        return None
    labels = feats["label"].astype(object).where(feats["label"].notna(), "").astype(str)  # no label: ""
    genres = sorted(g for g in labels.unique() if g)
    values = {c: {g: feats.loc[labels == g, c].to_numpy(dtype=float) for g in genres} for c in cols}
    return figure_png(feature_boxplots(values, genres))


def section_features(run: RunFolder) -> str:
    """The feature table's size, the MFCC maps' shape, per-genre means and distributions."""
    feats = read_csv(run.paths.features_csv)
    if feats is None:
        return not_run("feature extraction")
    n_features = len([c for c in feats.columns if c not in NOT_FEATURES])
    parts = [
        f"<p>{len(feats)} rows x {n_features} "
        "features (the public GTZAN CSV layout: chroma, RMS, spectral centroid/bandwidth/roll-off, "
        "zero-crossing rate, harmonic/percussive, tempo, 20 MFCCs; means and variances).</p>"
    ]
    shape = npz_shape(run.paths.maps_npz)
    if shape:
        parts.append(
            f"<p>MFCC maps for the CNN, ConvLSTM and recreation models: {esc(' x '.join(map(str, shape)))} "
            "(segments x n_mfcc x frames).</p>"
        )
    cols = [c for c in FEATURE_SUMMARY if c in feats.columns]
    if cols and "label" in feats.columns:
        means = feats.groupby("label")[cols].mean()
        parts.append(
            heading("Per-genre means of a few features")
            + table(["genre"] + cols, [[g] + [float(v) for v in row] for g, row in means.iterrows()])
        )
        png = _boxplots_png(feats, cols[:4])
        if png:
            parts.append(
                figure_row(
                    png_figure(
                        png,
                        "Distributions of four features per genre (box: quartiles; whiskers: 1.5 IQR)",
                        alt="feature distributions per genre",
                    )
                )
            )
    return "".join(parts)


def section_pca(run: RunFolder) -> str:
    """PCA plots and, when ``metrics/pca.json`` exists, its tables."""
    pca = run.metric("pca")
    figs = figures(
        [
            (run.plot("pca_scatter.png"), "PC1 / PC2, recreated clips over faded originals"),
            (run.plot("pca_variance.png"), "explained variance per component"),
            (run.plot("pca_genre_variance.png"), "per-genre variance along the first components"),
        ]
    )
    if pca is None and not figs:
        return not_run("PCA")
    return figs + (pca_tables(pca) if pca is not None else "")


def _separability_row(src: str, r: dict[str, Any]) -> list[Any]:
    """Clips, silhouettes, explained variance of PC1/PC2 and mean off-diagonal overlap of one source."""
    evr = [float(v) for v in (r.get("explained_variance_ratio") or [])]
    ov = r.get("overlap") or {}
    off = [
        v
        for g1, row in ov.items()
        if isinstance(row, dict)
        for g2, v in row.items()
        if g1 != g2 and isinstance(v, (int, float))
    ]
    return [
        src,
        r.get("n_clips"),
        r.get("silhouette"),
        r.get("silhouette_features"),
        evr[0] if evr else None,
        evr[1] if len(evr) > 1 else None,
        sum(evr[:2]) if evr else None,
        sum(off) / len(off) if off else None,
    ]


def _variance_cell(v: Any) -> str:
    """Per-genre variances along the first components as ``"1.00 / 0.50"``."""
    return " / ".join(f"{float(x):.2f}" for x in v) if isinstance(v, list) else "–"


def pca_tables(pca: dict[str, Any]) -> str:
    """Separability per source (silhouette, explained variance, mean genre overlap), the overlap
    matrices and per-genre variances; a generic rendering when the layout is not the documented one."""
    sources = pca.get("sources")
    if not isinstance(sources, dict) or not all(isinstance(v, dict) for v in sources.values()):
        return json_tables(pca)
    genres = [str(g) for g in pca.get("genres", [])]
    parts = [
        SEPARABILITY_NOTE,
        table(
            [
                "source",
                "clips",
                "silhouette (PC1/2)",
                "silhouette (features)",
                "PC1 var.",
                "PC2 var.",
                "PC1+2 var.",
                "mean overlap",
            ],
            [_separability_row(src, r) for src, r in sources.items()],
        ),
    ]
    for src, r in sources.items():
        ov = r.get("overlap")
        if isinstance(ov, dict) and ov:
            gs = genres or list(ov)
            parts.append(
                heading(f"Overlap between genres: {src}", 4)
                + table(["", *gs], [[g1, *[(ov.get(g1) or {}).get(g2) for g2 in gs]] for g1 in gs])
            )
    pv = {
        src: r.get("per_genre_variance") for src, r in sources.items() if isinstance(r.get("per_genre_variance"), dict)
    }
    if pv:
        gs = genres or sorted({g for v in pv.values() for g in v})
        parts.append(
            heading("Per-genre variance along the first components", 4)
            + table(["genre", *pv], [[g, *[_variance_cell(v.get(g)) for v in pv.values()]] for g in gs], num_from=99)
        )
    if pca.get("note"):
        parts.append(f'<p class="note">{esc(pca["note"])}</p>')
    return "".join(parts)


def _versions() -> list[list[str]]:
    """Python, the platform and the installed versions of the packages that matter."""
    rows = [["python", platform.python_version()], ["platform", platform.platform()]]
    for pkg in PACKAGES:
        try:
            rows.append([pkg, metadata.version(pkg)])
        except metadata.PackageNotFoundError:
            rows.append([pkg, "not installed"])
    return rows


def section_run(run: RunFolder) -> str:
    """Step timings from ``state.json``, package versions and the run's ``config.toml``."""
    parts = []
    steps = run.steps()
    if steps:
        rows = [[name, s.get("seconds"), s.get("finished", ""), s.get("hash", "")] for name, s in steps.items()]
        total = sum(float(s.get("seconds") or 0) for s in steps.values())
        rows.append(["total", total, "", ""])
        parts.append(heading("Step timings") + table(["step", "seconds", "finished", "config hash"], rows, num_from=1))
    else:
        parts.append(not_run("the study's step record (state.json)"))
    parts.append(heading("Versions") + table(["package", "version"], _versions(), num_from=99))
    cfg = run.dir / "config.toml"
    if cfg.is_file():
        parts.append(heading("Configuration") + "<pre>" + esc(cfg.read_text(encoding="utf-8")) + "</pre>")
    return "".join(parts)
