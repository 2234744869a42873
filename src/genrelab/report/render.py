"""Render a run folder into one self-contained ``report.html``.

Everything is inlined: the CSS, plots as base64 PNG data URIs, recreated audio as base64 FLAC
(or Ogg Vorbis) in ``<audio controls>`` players. The file opens from disk with no network.
Each section reads only the run-folder files it needs; a part that was not run gets a short
"not run" note instead of an error. All text from files is escaped.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import json
import math
import platform
import zipfile
from importlib import metadata, resources
from pathlib import Path
from typing import Any, Iterable, Sequence

from genrelab.errors import DatasetError, ParameterError
from genrelab.io import write_text

CLASSIFIERS = ("dense", "cnn", "convlstm")
RECREATION = ("recreate-lstm", "recreate-dense")

# The source study's own numbers on real GTZAN (random splits, single runs).
SOURCE_CLAIMS = {
    "dense": ("Dense", "85-86 %"),
    "cnn": ("CNN", "82-83 %"),
    "convlstm": ("LSTM+CNN", "75 %"),
    "recreate-lstm": ("recreation with LSTM (reclassified)", "92 %"),
}
PACKAGES = ("genrelab", "numpy", "torch", "librosa", "scikit-learn", "pandas", "matplotlib", "soundfile")
FEATURE_SUMMARY = ("tempo", "spectral_centroid_mean", "rms_mean", "zero_crossing_rate_mean", "mfcc1_mean", "chroma_stft_mean")


def esc(value: Any) -> str:
    """HTML-escaped text of ``value``."""
    return html.escape(str(value), quote=True)


def _fmt(value: Any, *, pct: bool = False) -> str:
    """A number for a table cell (escaped); ``pct`` shows a 0..1 share as a percentage."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return esc(value)
    if isinstance(value, int):
        return esc(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        if pct:
            return f"{100 * value:.1f} %"
        if value != 0 and (abs(value) >= 1e4 or abs(value) < 1e-3):
            return f"{value:.3g}"
        return f"{value:.3f}"
    return esc(value)


def _read_json(path: Path) -> Any | None:
    """A JSON file's content, or None when missing or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _read_csv(path: Path):
    """A CSV as a DataFrame, or None when missing or unreadable."""
    import pandas as pd

    if not path.is_file():
        return None
    try:
        return pd.read_csv(path)
    except (OSError, ValueError):
        return None


def not_run(what: str) -> str:
    return f'<p class="notrun">{esc(what)}: not run (no results in this run folder).</p>'


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], *, num_from: int = 1,
          row_class: Sequence[str | None] | None = None, pct: bool = False) -> str:
    """An HTML table; cells from column ``num_from`` on are right-aligned numbers."""
    head = "".join(f'<th class="num">{esc(h)}</th>' if i >= num_from else f"<th>{esc(h)}</th>"
                   for i, h in enumerate(header))
    body = []
    for r, row in enumerate(rows):
        cls = row_class[r] if row_class and r < len(row_class) and row_class[r] else None
        cells = "".join(
            f'<td class="num">{_fmt(c, pct=pct)}</td>' if i >= num_from else f"<td>{_fmt(c)}</td>"
            for i, c in enumerate(row)
        )
        body.append(f'<tr class="{esc(cls)}">{cells}</tr>' if cls else f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def image(path: Path, caption: str) -> str:
    """A PNG inlined as a data URI in a figure; a note when missing or not a PNG."""
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return f'<p class="notrun">{esc(path.name)} is not a PNG image; left out.</p>'
    b64 = base64.b64encode(data).decode("ascii")
    return (f'<figure><img alt="{esc(caption)}" src="data:image/png;base64,{b64}">'
            f"<figcaption>{esc(caption)}</figcaption></figure>")


def figures(items: Sequence[tuple[Path, str]]) -> str:
    """A row of inlined figures, only those whose file exists."""
    inner = "".join(image(p, c) for p, c in items if p.is_file())
    return f'<div class="figs">{inner}</div>' if inner else ""


def audio_data_uri(path: Path, *, fmt: str = "ogg") -> str:
    """``data:`` URI of ``path`` re-encoded as FLAC (16-bit) or Ogg Vorbis."""
    import soundfile as sf

    y, sr = sf.read(str(path), dtype="float32", always_2d=False)
    buf = io.BytesIO()
    if fmt == "flac":
        sf.write(buf, y, sr, format="FLAC", subtype="PCM_16")
        mime = "audio/flac"
    elif fmt == "ogg":
        sf.write(buf, y, sr, format="OGG", subtype="VORBIS")
        mime = "audio/ogg"
    else:
        raise ParameterError(f"audio format {fmt!r}; choose from flac, ogg")
    return f"data:{mime};base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def player(path: Path, label: str, *, fmt: str = "ogg") -> str:
    """One ``<audio controls>`` with the clip inlined; a note when it cannot be read."""
    try:
        uri = audio_data_uri(path, fmt=fmt)
    except Exception as exc:  # a damaged wav must not stop the report
        return f'<div class="player"><span>{esc(label)}</span><p class="notrun">unreadable: {esc(exc)}</p></div>'
    return (f'<div class="player"><span>{esc(label)}</span>'
            f'<audio controls preload="metadata" src="{uri}"></audio></div>')


def json_tables(obj: Any, *, depth: int = 0) -> str:
    """A generic rendering of nested metrics: scalar dicts as key/value tables, dicts of
    scalar dicts as 2-D tables, lists of dicts as row tables, anything deeper as sub-headings."""
    def scalar(v: Any) -> bool:
        return v is None or isinstance(v, (int, float, str, bool))

    if scalar(obj):
        return f"<p>{_fmt(obj)}</p>"
    if isinstance(obj, list):
        if obj and all(isinstance(v, dict) and all(scalar(x) for x in v.values()) for v in obj):
            cols: list[str] = []
            for v in obj:
                cols += [k for k in v if k not in cols]
            return table(cols, [[v.get(c) for c in cols] for v in obj], num_from=1)
        if all(scalar(v) for v in obj):
            return f"<p>{', '.join(_fmt(v) for v in obj)}</p>"
        return "".join(json_tables(v, depth=depth + 1) for v in obj)
    if isinstance(obj, dict):
        if all(scalar(v) for v in obj.values()):
            return table(["", "value"], list(obj.items()))
        if all(isinstance(v, dict) and all(scalar(x) for x in v.values()) for v in obj.values()):
            cols = []
            for v in obj.values():
                cols += [k for k in v if k not in cols]
            return table([""] + cols, [[k] + [v.get(c) for c in cols] for k, v in obj.items()])
        out, simple = [], {k: v for k, v in obj.items() if scalar(v)}
        if simple:
            out.append(table(["", "value"], list(simple.items())))
        for k, v in obj.items():
            if not scalar(v):
                out.append(f"<h4>{esc(k)}</h4>" + json_tables(v, depth=depth + 1))
        return "".join(out)
    return f"<p>{esc(obj)}</p>"


# ---------------------------------------------------------------------------------------------
# sections


class _Run:
    """Cached access to the files of one run folder."""

    def __init__(self, run_dir: Path):
        self.dir = run_dir
        self.state = _read_json(run_dir / "state.json") or {}
        self.metrics = {p.stem: _read_json(p) for p in sorted((run_dir / "metrics").glob("*.json"))}

    def plot(self, name: str) -> Path:
        return self.dir / "plots" / name

    def steps(self) -> dict[str, Any]:
        return self.state.get("steps", {}) if isinstance(self.state, dict) else {}


def _pct(value: Any, std: Any = None) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "–"
    text = f"{100 * value:.1f} %"
    if isinstance(std, (int, float)) and not isinstance(std, bool) and std:
        text += f" ± {100 * std:.1f}"
    return text


def section_summary(run: _Run) -> str:
    rows, classes = [], []
    prot = run.metrics.get("protocols")
    prot_rows = [r for r in (prot.get("rows") or []) if isinstance(r, dict)] if isinstance(prot, dict) else []
    for name in CLASSIFIERS:
        m = run.metrics.get(name)
        label, claim = SOURCE_CLAIMS[name]
        if isinstance(m, dict):
            rows.append([f"{name} (ours)", m.get("protocol", "?"), m.get("repeats", "?"),
                         _pct(m.get("accuracy"), m.get("accuracy_std")), _pct(m.get("track_accuracy")),
                         m.get("macro_f1"), m.get("n_train"), m.get("n_test")])
        else:
            rows.append([f"{name} (ours)", "–", "–", "not run", "–", None, None, None])
        classes.append(None)
        for r in prot_rows:
            if r.get("model") == name and r.get("accuracy") is not None:
                rows.append([f"{name} (ours, protocol)", r.get("protocol"), r.get("repeats"),
                             _pct(r.get("accuracy"), r.get("accuracy_std")), _pct(r.get("track_accuracy")),
                             r.get("macro_f1"), r.get("n_train"), r.get("n_test")])
                classes.append(None)
        rows.append([f"{label}: source study's claim", "random split, real GTZAN", 1, claim, "–", None, None, None])
        classes.append("claim")
    fid = run.metrics.get("fidelity")
    table_ = fid.get("fidelity") if isinstance(fid, dict) else None
    found = False
    if isinstance(table_, dict):
        for clf, by_source in table_.items():
            e = by_source.get("lstm") if isinstance(by_source, dict) else None
            if not isinstance(e, dict):
                continue
            found = True
            oracle = by_source.get("oracle") if isinstance(by_source.get("oracle"), dict) else {}
            rows.append([f"recreate-lstm, reclassified by {clf} (ours)",
                         f"{e.get('n', '?')} recreated clips; oracle {_pct(oracle.get('overall'))}", "–",
                         _pct(e.get("overall")), "–", None, None, e.get("n")])
            classes.append(None)
    if not found:
        rows.append(["recreate-lstm, reclassified (ours)", "–", "–", "not run", "–", None, None, None])
        classes.append(None)
    label, claim = SOURCE_CLAIMS["recreate-lstm"]
    rows.append([f"{label}: source study's claim", "real GTZAN", 1, claim, "–", None, None, None])
    classes.append("claim")
    head = ["model", "protocol", "repeats", "accuracy", "track accuracy", "macro F1", "n train", "n test"]
    note = ('<p class="note">Rows in amber are the source study\'s own claims on real GTZAN with random '
            "splits (which put one artist on both sides); they are not reproduced here. Our rows "
            "state their protocol and the number of seeds (± is the standard deviation over them); "
            "accuracy is on held-out data only. For recreation, the share of recreated clips the "
            "classifier assigns to the intended genre; the oracle is real clips sent through MFCC and "
            "back to audio (what inversion alone costs).</p>")
    return _section("summary", "Results at a glance", note + table(head, rows, row_class=classes, num_from=2))


def fidelity_tables(fid: dict) -> str:
    """The fidelity table (source x classifier, per genre; oracle and real rows marked) and the
    Fréchet distances; a generic rendering when the layout is not the documented one."""
    table_ = fid.get("fidelity")
    if not isinstance(table_, dict):
        return json_tables(fid)
    genres = [str(g) for g in fid.get("genres", [])]
    rows, classes = [], []
    order = {"real": 2, "oracle": 1}
    for clf, by_source in table_.items():
        if not isinstance(by_source, dict):
            continue
        for source in sorted(by_source, key=lambda s: (order.get(s, 0), s)):
            e = by_source[source]
            if not isinstance(e, dict):
                continue
            pg = e.get("per_genre", {}) if isinstance(e.get("per_genre"), dict) else {}
            gs = genres or list(pg)
            shares = [(pg.get(g) or {}).get("share") if isinstance(pg.get(g), dict) else pg.get(g) for g in gs]
            label = {"oracle": "oracle (real -> MFCC -> audio)", "real": "real clips (unaltered)"}.get(source, source)
            rows.append([label, clf, e.get("n"), e.get("overall"), *shares])
            classes.append("oracle" if source in order else None)
    gs = genres or sorted({g for r in table_.values() if isinstance(r, dict) for e in r.values()
                           if isinstance(e, dict) for g in (e.get("per_genre") or {})})
    parts = [table(["source", "classifier", "clips", "overall", *gs], rows, num_from=2, row_class=classes, pct=True)]
    fr = fid.get("frechet")
    if isinstance(fr, dict):
        rows = []
        for clf, by_source in fr.items():
            if not isinstance(by_source, dict):
                continue
            for source, e in by_source.items():
                if isinstance(e, dict):
                    pg = e.get("per_genre") or {}
                    rows.append([source, clf, e.get("mean"), *[pg.get(g) for g in gs]])
        if rows:
            parts.append("<h4>Fréchet distance to real clips (classifier embeddings; lower is closer)</h4>"
                         + table(["source", "classifier", "mean", *gs], rows, num_from=2))
    settings = {k: fid.get(k) for k in ("per_genre", "seconds", "temperature", "guidance", "seed")
                if not isinstance(fid.get(k), (dict, list))}
    if settings:
        parts.append("<h4>Settings</h4>" + table(["", "value"], list(settings.items())))
    return "".join(parts)


def section_data(run: _Run) -> str:
    clips = _read_csv(run.dir / "features" / "clips.csv")
    if clips is None or "label" not in clips.columns:  # a feature-table input has no clips.csv
        clips = _read_csv(run.dir / "features" / "features.csv")
    skipped = _read_csv(run.dir / "features" / "skipped.csv")
    info = run.steps().get("features", {}).get("info", {}) if run.steps() else {}
    source = run.state.get("data") if isinstance(run.state, dict) else None
    parts = []
    if source:
        parts.append(f"<p>Data: <code>{esc(source)}</code></p>")
    elif "synth" in run.steps():
        parts.append("<p>Data: the synthesised ten-genre corpus (procedural music, not GTZAN), "
                     "in <code>corpus/</code> of this run folder.</p>")
    if clips is not None and "label" in clips.columns:
        counts = clips["label"].value_counts().sort_index()
        rows = [[g, int(n)] for g, n in counts.items()] + [["total", int(counts.sum())]]
        parts.append(f"<p>{len(counts)} genres, {int(counts.sum())} clips (rows).</p>" + table(["genre", "clips"], rows))
    elif info:
        parts.append(json_tables(info))
    else:
        return _section("data", "The data", not_run("feature preparation"))
    protocols = sorted({str(m.get("protocol")) for k, m in run.metrics.items()
                        if k in CLASSIFIERS and isinstance(m, dict) and m.get("protocol")})
    if protocols:
        parts.append(f"<p>Main split protocol(s): {esc(', '.join(protocols))}. Splits are made over "
                     "tracks, so segments of one track never fall on both sides.</p>")
    if skipped is not None and len(skipped):
        cols = [c for c in ("path", "reason") if c in skipped.columns] or list(skipped.columns)
        parts.append(f"<h3>Skipped files ({len(skipped)})</h3>" + table(cols, skipped[cols].values.tolist(), num_from=99))
    else:
        parts.append('<p class="note">No files were skipped.</p>')
    return _section("data", "The data", "".join(parts))


def _npz_shape(path: Path, key: str = "maps") -> tuple[int, ...] | None:
    """Shape of one array in an .npz, read from its header only."""
    import numpy as np

    try:
        with zipfile.ZipFile(path) as zf, zf.open(f"{key}.npy") as fh:
            version = np.lib.format.read_magic(fh)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, _ = read(fh)
            return tuple(int(s) for s in shape)
    except (OSError, KeyError, ValueError, AttributeError, zipfile.BadZipFile):
        return None


def section_features(run: _Run) -> str:
    feats = _read_csv(run.dir / "features" / "features.csv")
    if feats is None:
        return _section("features", "Features", not_run("feature extraction"))
    parts = [f"<p>{len(feats)} rows x {len([c for c in feats.columns if c not in ('filename', 'length', 'label', 'segment')])} "
             "features (the public GTZAN CSV layout: chroma, RMS, spectral centroid/bandwidth/roll-off, "
             "zero-crossing rate, harmonic/percussive, tempo, 20 MFCCs; means and variances).</p>"]
    shape = _npz_shape(run.dir / "features" / "maps.npz")
    if shape:
        parts.append(f"<p>MFCC maps for the CNN, ConvLSTM and recreation models: {esc(' x '.join(map(str, shape)))} "
                     "(segments x n_mfcc x frames).</p>")
    cols = [c for c in FEATURE_SUMMARY if c in feats.columns]
    if cols and "label" in feats.columns:
        means = feats.groupby("label")[cols].mean()
        parts.append("<h3>Per-genre means of a few features</h3>"
                     + table(["genre"] + cols, [[g] + [float(v) for v in row] for g, row in means.iterrows()]))
        png = _feature_boxplots(feats, cols[:4])
        if png:
            b64 = base64.b64encode(png).decode("ascii")
            parts.append('<div class="figs"><figure><img alt="feature distributions per genre" '
                         f'src="data:image/png;base64,{b64}"><figcaption>Distributions of four features per '
                         "genre (box: quartiles; whiskers: 1.5 IQR)</figcaption></figure></div>")
    return _section("features", "Features", "".join(parts))


def _feature_boxplots(feats, cols: Sequence[str]) -> bytes | None:
    """A small PNG: one box plot per feature, one box per genre (cheap: a table's columns)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        return None
    genres = sorted(feats["label"].astype(str).unique())
    fig, axes = plt.subplots(1, len(cols), figsize=(3.2 * len(cols), 3.0), dpi=90, squeeze=False)
    for ax, col in zip(axes[0], cols):
        data = [feats.loc[feats["label"].astype(str) == g, col].dropna().to_numpy() for g in genres]
        ax.boxplot(data, showfliers=False)
        ax.set_xticks(range(1, len(genres) + 1), genres, rotation=60, fontsize=7)
        ax.set_title(col, fontsize=9)
        ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def section_classifier(run: _Run, name: str) -> str:
    m = run.metrics.get(name)
    if not isinstance(m, dict):
        return _section(f"clf-{name}", f"Classifier: {name}", not_run(f"training of {name}"))
    summary = {k: m.get(k) for k in ("accuracy", "accuracy_std", "track_accuracy", "macro_f1", "protocol",
                                     "repeats", "n_train", "n_test") if k in m}
    parts = [table(["", "value"], list(summary.items()))]
    parts.append(figures([
        (run.plot(f"{name}_curves.png"), f"{name}: loss and accuracy per epoch"),
        (run.plot(f"{name}_confusion.png"), f"{name}: confusion matrix (rows = true genre)"),
    ]))
    per_class = m.get("per_class")
    if isinstance(per_class, dict) and per_class:
        rows = [[g, v.get("precision"), v.get("recall"), v.get("f1"), v.get("support")]
                for g, v in per_class.items() if isinstance(v, dict)]
        parts.append("<h3>Classification report</h3>" + table(["genre", "precision", "recall", "f1", "support"], rows))
    parts.append(figures([
        (run.plot(f"{name}_report.png"), f"{name}: classification report"),
        (run.plot(f"{name}_misclassified.png"),
         f"{name}: misclassified clips: their MFCCs beside the mean MFCCs of the true and predicted genres"),
    ]))
    return _section(f"clf-{name}", f"Classifier: {name}", "".join(parts))


def section_protocols(run: _Run) -> str:
    parts = []
    prot = run.metrics.get("protocols")
    if isinstance(prot, dict) and prot.get("rows"):
        rows = [[r.get("model"), r.get("protocol"), r.get("repeats"), r.get("accuracy"), r.get("accuracy_std"),
                 r.get("track_accuracy"), r.get("macro_f1"), r.get("note", "")] for r in prot["rows"]]
        parts.append("<h3>Honest protocols</h3><p class=\"note\">The same models rerun over several seeds; "
                     "fault-filtered is the Kereliuk/Sturm artist-filtered split (real GTZAN only).</p>"
                     + table(["model", "protocol", "repeats", "accuracy", "std", "track acc.", "macro F1", "note"],
                             rows, num_from=2))
    grid = run.metrics.get("grid")
    if isinstance(grid, dict) and grid.get("rows"):
        rows = [[r.get("model"), r.get("split"), r.get("epochs"), r.get("batch_size"), r.get("lr"),
                 r.get("accuracy"), r.get("macro_f1")] for r in grid["rows"]]
        parts.append("<h3>The source study's grid</h3>"
                     + table(["model", "split", "epochs", "batch", "lr", "accuracy", "macro F1"], rows, num_from=2))
    if not parts:
        return _section("protocols", "Protocols and grid", not_run("extra protocols and the grid"))
    return _section("protocols", "Protocols and grid", "".join(parts))


def section_recreation(run: _Run, *, fmt: str, players_per_genre: int, include_audio: bool) -> str:
    parts = []
    for name in RECREATION:
        m = run.metrics.get(name)
        if not isinstance(m, dict):
            parts.append(f"<h3>{esc(name)}</h3>" + not_run(f"training of {name}"))
            continue
        info = {k: m.get(k) for k in ("val_mse", "epochs", "n_train", "n_val") if k in m}
        parts.append(f"<h3>{esc(name)}</h3>" + (table(["", "value"], list(info.items())) if info else "")
                     + figures([(run.plot(f"{name}_mse.png"), f"{name}: train / validation MSE"),
                                (run.plot(f"{name}_true_vs_synthetic.png"),
                                 f"{name}: true vs synthetic MFCCs (held-out clip)")]))
    rec_dir = run.dir / "recreated"
    if include_audio and players_per_genre > 0 and rec_dir.is_dir():
        blocks = []
        for model_dir in sorted(p for p in rec_dir.iterdir() if p.is_dir()):
            for genre_dir in sorted(p for p in model_dir.iterdir() if p.is_dir()):
                wavs = sorted(genre_dir.glob("*.wav"))[:players_per_genre]
                blocks += [player(w, f"{model_dir.name} · {genre_dir.name} · {w.name}", fmt=fmt) for w in wavs]
        if blocks:
            parts.append("<h3>Listen: recreated clips</h3><p class=\"note\">Folders are the recreation models "
                         "(<code>lstm</code>, <code>dense</code>); <code>oracle</code> holds real held-out clips "
                         "sent through MFCC and back to audio, for comparison.</p><div class=\"players\">"
                         + "".join(blocks) + "</div>")
    fid = run.metrics.get("fidelity")
    if isinstance(fid, dict):
        parts.append("<h3>Fidelity: recreated clips reclassified</h3><p class=\"note\">Share of recreated "
                     "clips each classifier assigns to the intended genre. The oracle row is real held-out "
                     "clips through MFCC and back to audio: what inversion alone costs. Fréchet distances "
                     "compare penultimate-layer embeddings of real and recreated clips (lower is closer).</p>"
                     + fidelity_tables(fid))
    else:
        parts.append(not_run("recreation and reclassification"))
    return _section("recreation", "Recreation", "".join(parts))


def section_pca(run: _Run) -> str:
    pca = run.metrics.get("pca")
    figs = figures([(run.plot("pca_scatter.png"), "PC1 / PC2, recreated clips over faded originals"),
                    (run.plot("pca_variance.png"), "explained variance per component"),
                    (run.plot("pca_genre_variance.png"), "per-genre variance along the first components")])
    if not isinstance(pca, dict) and not figs:
        return _section("pca", "PCA", not_run("PCA"))
    return _section("pca", "PCA", figs + (pca_tables(pca) if isinstance(pca, dict) else ""))


def pca_tables(pca: dict) -> str:
    """Separability per source (silhouette, explained variance, mean genre overlap), the overlap
    matrices and per-genre variances; a generic rendering when the layout is not the documented one."""
    sources = pca.get("sources")
    if not isinstance(sources, dict) or not all(isinstance(v, dict) for v in sources.values()):
        return json_tables(pca)
    genres = [str(g) for g in pca.get("genres", [])]
    rows = []
    for src, r in sources.items():
        evr = [float(v) for v in (r.get("explained_variance_ratio") or [])]
        ov = r.get("overlap") or {}
        off = [v for g1, row in ov.items() if isinstance(row, dict) for g2, v in row.items()
               if g1 != g2 and isinstance(v, (int, float))]
        rows.append([src, r.get("n_clips"), r.get("silhouette"), r.get("silhouette_features"),
                     evr[0] if evr else None, evr[1] if len(evr) > 1 else None,
                     sum(evr[:2]) if evr else None, sum(off) / len(off) if off else None])
    parts = ["<h3>Separability</h3><p class=\"note\">Silhouette on the PC1/PC2 plane and on all standardised "
             "features (higher: genres more apart); explained variance of the first components; mean "
             "pairwise Bhattacharyya overlap of genres on the PC1/PC2 plane (lower: less overlap). Each source "
             "is standardised and PCA'd on its own.</p>",
             table(["source", "clips", "silhouette (PC1/2)", "silhouette (features)", "PC1 var.", "PC2 var.",
                    "PC1+2 var.", "mean overlap"], rows)]
    for src, r in sources.items():
        ov = r.get("overlap")
        if isinstance(ov, dict) and ov:
            gs = genres or list(ov)
            parts.append(f"<h4>Overlap between genres: {esc(src)}</h4>"
                         + table(["", *gs], [[g1, *[(ov.get(g1) or {}).get(g2) for g2 in gs]] for g1 in gs]))
    pv = {src: r.get("per_genre_variance") for src, r in sources.items() if isinstance(r.get("per_genre_variance"), dict)}
    if pv:
        gs = genres or sorted({g for v in pv.values() for g in v})
        def cell(v: Any) -> str:
            return " / ".join(f"{float(x):.2f}" for x in v) if isinstance(v, list) else "–"
        parts.append("<h4>Per-genre variance along the first components</h4>"
                     + table(["genre", *pv], [[g, *[cell(v.get(g)) for v in pv.values()]] for g in gs], num_from=99))
    if pca.get("note"):
        parts.append(f'<p class="note">{esc(pca["note"])}</p>')
    return "".join(parts)


def _versions() -> list[list[str]]:
    rows = [["python", platform.python_version()], ["platform", platform.platform()]]
    for pkg in PACKAGES:
        try:
            rows.append([pkg, metadata.version(pkg)])
        except metadata.PackageNotFoundError:
            rows.append([pkg, "not installed"])
    return rows


def section_run(run: _Run) -> str:
    parts = []
    steps = run.steps()
    if steps:
        rows = [[name, s.get("seconds"), s.get("finished", ""), s.get("hash", "")] for name, s in steps.items()]
        total = sum(float(s.get("seconds") or 0) for s in steps.values())
        rows.append(["total", total, "", ""])
        parts.append("<h3>Step timings</h3>" + table(["step", "seconds", "finished", "config hash"], rows, num_from=1))
    else:
        parts.append(not_run("the study's step record (state.json)"))
    parts.append("<h3>Versions</h3>" + table(["package", "version"], _versions(), num_from=99))
    cfg = run.dir / "config.toml"
    if cfg.is_file():
        parts.append("<h3>Configuration</h3><pre>" + esc(cfg.read_text(encoding="utf-8")) + "</pre>")
    return _section("run", "Configuration, versions and timings", "".join(parts))


def _section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{esc(anchor)}"><h2>{esc(title)}</h2>{body}</section>'


def _css() -> str:
    return resources.files("genrelab.report").joinpath("style.css").read_text(encoding="utf-8")


def render_report(run_dir: Path, *, out: Path | None = None, title: str = "genrelab study",
                  audio_format: str = "ogg", players_per_genre: int = 2, include_audio: bool = True) -> Path:
    """Write ``run_dir/report.html`` (or ``out``) from whatever the run folder holds; return its path."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DatasetError(f"run folder {str(run_dir)!r} does not exist")
    if audio_format not in ("flac", "ogg"):
        raise ParameterError(f"audio_format={audio_format!r}; choose from flac, ogg")
    run = _Run(run_dir)
    sections = [
        section_summary(run), section_data(run), section_features(run),
        *(section_classifier(run, n) for n in CLASSIFIERS), section_protocols(run),
        section_recreation(run, fmt=audio_format, players_per_genre=players_per_genre, include_audio=include_audio),
        section_pca(run), section_run(run),
    ]
    nav = [("summary", "Summary"), ("data", "Data"), ("features", "Features"), ("clf-dense", "Dense"),
           ("clf-cnn", "CNN"), ("clf-convlstm", "ConvLSTM"), ("protocols", "Protocols"),
           ("recreation", "Recreation"), ("pca", "PCA"), ("run", "Run")]
    preset = run.state.get("preset") if isinstance(run.state, dict) else None
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    sub = f"run folder {run_dir.resolve().name}" + (f" · preset {preset}" if preset else "") + f" · rendered {stamp}"
    doc = (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<link rel=\"icon\" href=\"data:,\">"
        f"<title>{esc(title)}</title><style>{_css()}</style></head><body>"
        f"<header><h1>{esc(title)}</h1><p>{esc(sub)}</p></header>"
        "<nav>" + "".join(f'<a href="#{a}">{esc(t)}</a>' for a, t in nav) + "</nav>"
        "<main>" + "".join(sections) + "</main>"
        "<footer>Made by genrelab. Self-contained: images and audio are inlined.</footer>"
        "</body></html>\n"
    )
    return write_text(out or run_dir / "report.html", doc)
