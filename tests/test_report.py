"""The HTML report, rendered from a fake run folder built here (fast; no training)."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from genrelab.errors import DatasetError
from genrelab.report import render_report

GENRES4 = ("blues", "classical", "metal", "pop")
SR = 22050


def _png(path: Path, seed: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2), dpi=50)
    ax.plot(np.random.default_rng(seed).standard_normal(20))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    plt.close(fig)


def _metrics(name: str, rng: np.random.Generator) -> dict:
    cm = rng.integers(0, 5, size=(4, 4)) + np.eye(4, dtype=int) * 6
    support = cm.sum(axis=1)
    per_class = {g: {"precision": 0.7, "recall": float(cm[i, i] / support[i]), "f1": 0.7, "support": int(support[i])}
                 for i, g in enumerate(GENRES4)}
    return {
        "accuracy": float(np.trace(cm) / cm.sum()), "accuracy_std": 0.02, "macro_f1": 0.66,
        "per_class": per_class, "labels": list(GENRES4), "confusion_matrix": cm.tolist(),
        "protocol": "random:0.3 seed=32", "repeats": 2, "n_train": 40, "n_test": int(cm.sum()),
        "history": [{"epoch": e, "train_loss": 1.0 / e, "train_acc": 0.5, "val_loss": 1.1 / e, "val_acc": 0.45}
                    for e in range(1, 4)],
    }


def make_fake_run(root: Path, *, with_audio: bool = True, partial: bool = False) -> Path:
    """A run folder with the documented files: metrics JSONs, small PNGs, short wavs."""
    rng = np.random.default_rng(0)
    run = root / "run"
    (run / "metrics").mkdir(parents=True)
    (run / "features").mkdir()
    clips = [{"filename": f"{g}.{k:05d}.wav", "track": f"{g}.{k:05d}", "label": g, "path": f"/x/{g}.{k:05d}.wav"}
             for g in GENRES4 for k in range(3)]
    import pandas as pd

    pd.DataFrame(clips).to_csv(run / "features" / "clips.csv", index=False)
    pd.DataFrame({"path": ["/x/jazz.00054.wav"], "reason": ["not a RIFF file <script>"]}).to_csv(
        run / "features" / "skipped.csv", index=False)
    table = pd.DataFrame({"filename": [c["filename"] for c in clips], "length": 132300,
                          "tempo": rng.uniform(80, 160, len(clips)),
                          "spectral_centroid_mean": rng.uniform(900, 3000, len(clips)),
                          "rms_mean": rng.uniform(0.01, 0.2, len(clips)), "label": [c["label"] for c in clips]})
    table.to_csv(run / "features" / "features.csv", index=False)
    models = ("dense",) if partial else ("dense", "cnn", "convlstm")
    for i, name in enumerate(models):
        (run / "metrics" / f"{name}.json").write_text(json.dumps(_metrics(name, rng)))
        for kind in ("curves", "confusion", "report", "misclassified"):
            _png(run / "plots" / f"{name}_{kind}.png", i)
    if partial:
        return run
    for name in ("recreate-lstm", "recreate-dense"):
        (run / "metrics" / f"{name}.json").write_text(json.dumps(
            {"history": [{"epoch": 1, "train_loss": 1.0, "val_loss": 1.2}], "val_mse": 0.8}))
        _png(run / "plots" / f"{name}_mse.png", 5)
        _png(run / "plots" / f"{name}_true_vs_synthetic.png", 6)
    def entry(share: float) -> dict:
        return {"overall": share, "n": 4, "correct": int(4 * share),
                "per_genre": {g: {"share": share, "n": 1, "correct": int(share)} for g in GENRES4}}

    fidelity = {
        "genres": list(GENRES4), "models": ["lstm", "dense"], "per_genre": 2, "seconds": 1.5,
        "classifiers": ["dense", "cnn"],
        "fidelity": {"dense": {"lstm": entry(0.25), "dense": entry(0.25), "oracle": entry(0.75), "real": entry(1.0)},
                     "cnn": {"lstm": entry(0.5), "dense": entry(0.25), "oracle": entry(0.75), "real": entry(1.0)}},
        "frechet": {"cnn": {"lstm": {"per_genre": {g: 12.5 for g in GENRES4}, "mean": 12.5}}},
        "clips": [{"source": "lstm", "genre": "pop", "file": "x.wav", "predicted": {"cnn": "pop"}}],
    }
    (run / "metrics" / "fidelity.json").write_text(json.dumps(fidelity))
    (run / "metrics" / "protocols.json").write_text(json.dumps({"rows": [
        {"model": "dense", "protocol": "random:0.3", "repeats": 3, "accuracy": 0.625, "accuracy_std": 0.05},
        {"model": "dense", "protocol": "fault-filtered", "note": "not run: the synthesised corpus has no GTZAN artists"},
    ]}))
    def source(sil: float) -> dict:
        return {"n_clips": 8, "explained_variance_ratio": [0.5, 0.25, 0.1], "silhouette": sil,
                "silhouette_features": sil / 2, "per_genre_variance": {g: [1.0, 0.5] for g in GENRES4},
                "overlap": {a: {b: (1.0 if a == b else 0.125) for b in GENRES4} for a in GENRES4}}

    (run / "metrics" / "pca.json").write_text(json.dumps(
        {"genres": list(GENRES4), "sources": {"lstm": source(0.25), "original": source(0.5)}, "note": "n < 2"}))
    for p in ("pca_scatter", "pca_variance", "pca_genre_variance"):
        _png(run / "plots" / f"{p}.png", 7)
    if with_audio:
        t = np.arange(int(1.5 * SR)) / SR
        for model in ("lstm", "dense"):
            for gi, g in enumerate(GENRES4):
                d = run / "recreated" / model / g
                d.mkdir(parents=True)
                for k in range(2):
                    sf.write(d / f"{g}.{k:02d}.wav", (0.3 * np.sin(2 * np.pi * 220 * (gi + 1) * t)).astype(np.float32), SR)
    (run / "config.toml").write_text('preset = "demo"\n[report]\ntitle = "x & <y>"\n')
    (run / "state.json").write_text(json.dumps({
        "version": 1, "preset": "demo", "data": None,
        "steps": {"synth": {"hash": "a", "seconds": 1.5, "finished": "2026-01-01T00:00:00"},
                  "features": {"hash": "b", "seconds": 2.5, "finished": "2026-01-01T00:00:03"}}}))
    return run


def _data_uris(text: str, mime: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(rf'src="data:{mime};base64,([A-Za-z0-9+/=]+)"', text)]


def test_report_is_self_contained(tmp_path: Path) -> None:
    run = make_fake_run(tmp_path)
    out = render_report(run, players_per_genre=1, audio_format="flac")
    text = out.read_text(encoding="utf-8")
    assert out == run / "report.html"
    # no external references of any kind
    assert not re.search(r'(src|href)="(?!data:|#)', text)
    assert "http://" not in text and "https://" not in text
    pngs = _data_uris(text, "image/png")
    assert len(pngs) == 3 * 4 + 2 * 2 + 3 + 1  # + the feature box plots
    assert all(p.startswith(b"\x89PNG") for p in pngs)
    flacs = _data_uris(text, "audio/flac")
    assert len(flacs) == 2 * 4  # one player per model and genre
    y, sr = sf.read(io.BytesIO(flacs[0]))
    assert sr == SR and abs(len(y) - int(1.5 * SR)) <= 1
    assert text.count("<audio controls") == 8


def test_report_escapes_text_and_shows_claims(tmp_path: Path) -> None:
    run = make_fake_run(tmp_path)
    text = render_report(run).read_text(encoding="utf-8")
    assert "<script>" not in text and "not a RIFF file &lt;script&gt;" in text
    assert "x &amp; &lt;y&gt;" in text  # the config is shown escaped
    for claim in ("85-86 %", "82-83 %", "75 %", "92 %"):
        assert claim in text
    assert "source study" in text
    # our LSTM fidelity per classifier (cnn: 0.5, oracle 0.75) is shown beside the claim
    assert "recreate-lstm, reclassified by cnn (ours)" in text and "50.0 %" in text
    assert "oracle 75.0 %" in text
    assert "dense (ours, protocol)" in text and "62.5 % ± 5.0" in text and "no GTZAN artists" in text
    assert "oracle (real -&gt; MFCC -&gt; audio)" in text and "12.500" in text
    # PCA: explained variance of PC1+PC2 and the mean off-diagonal overlap
    assert "0.750" in text and "0.125" in text and "n &lt; 2" in text


def test_report_missing_parts_say_not_run(tmp_path: Path) -> None:
    run = make_fake_run(tmp_path, partial=True)
    text = render_report(run).read_text(encoding="utf-8")
    assert text.count("not run") >= 5  # cnn, convlstm, recreation models, fidelity, pca, state
    assert "data:image/png" in text  # the dense plots are still there


def test_report_ogg_audio(tmp_path: Path) -> None:
    run = make_fake_run(tmp_path)
    text = render_report(run, players_per_genre=1).read_text(encoding="utf-8")  # ogg is the default
    oggs = _data_uris(text, "audio/ogg")
    assert len(oggs) == 8 and all(o.startswith(b"OggS") for o in oggs)


def test_report_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        render_report(tmp_path / "nope")
    run = make_fake_run(tmp_path, partial=True)
    (run / "plots" / "dense_curves.png").write_text("not a png")
    (run / "metrics" / "cnn.json").write_text("{broken")
    text = render_report(run).read_text(encoding="utf-8")
    assert "is not a PNG image" in text


def test_report_nav_follows_declared_sections(tmp_path: Path) -> None:
    from genrelab.models import MODELS
    from genrelab.report.render import CLASSIFIERS, RECREATION, SECTIONS

    run = make_fake_run(tmp_path, partial=True)
    text = render_report(run, title='a <b> & "c"').read_text(encoding="utf-8")
    nav = re.search(r"<nav>(.*?)</nav>", text, re.S).group(1)
    anchors = [s.anchor for s in SECTIONS]
    assert re.findall(r'href="#([^"]+)"', nav) == anchors
    assert re.findall(r'<section id="([^"]+)">', text) == anchors
    assert len(set(anchors)) == len(anchors)
    assert anchors[:4] == ["summary", "data", "features", "clf-dense"] and anchors[-1] == "run"
    assert CLASSIFIERS == ("dense", "cnn", "convlstm")
    assert RECREATION == ("recreate-lstm", "recreate-dense", "recreate-diffusion")
    assert set(CLASSIFIERS + RECREATION) == set(MODELS)
    # the title is escaped by the template, in <title> and <h1>
    assert "<b>" not in text and text.count("a &lt;b&gt; &amp; ") == 2
    assert "--accent: #2f5d9e" in text and '"Segoe UI"' in text  # the CSS is inlined verbatim


def test_feature_boxplots_returns_a_figure() -> None:
    from matplotlib.figure import Figure

    from genrelab.plots import figure_png
    from genrelab.plots.features import feature_boxplots

    rng = np.random.default_rng(1)
    values = {f: {g: np.append(rng.standard_normal(5), np.nan) for g in GENRES4} for f in ("tempo", "rms_mean")}
    fig = feature_boxplots(values, GENRES4)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert [ax.get_title() for ax in fig.axes] == ["tempo", "rms_mean"]
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == list(GENRES4)
    assert figure_png(fig).startswith(b"\x89PNG\r\n\x1a\n")


def test_judge_table_shows_both_domains_and_ratios() -> None:
    from genrelab.report.judge_tables import judge_table

    share = lambda v: {"overall": v, "n": 4, "correct": int(4 * v), "per_genre": {}}  # noqa: E731
    fid = {
        "judge": {"model": "convlstm", "guide": None,
                  "shares": {"diffusion": {"feature": share(0.75), "audio": share(0.5)},
                             "real": {"feature": None, "audio": share(1.0)}},
                  "frechet": {"diffusion": {"mean": 12.5}}, "frechet_real_halves": {"mean": 4.25}},
        "motion": {"ratios": {"diffusion": {"frame_change": 0.9, "beat_share": 1.1, "autocorr_peak": 0.5},
                              "real": {"frame_change": 1.0, "beat_share": 1.0, "autocorr_peak": 1.0}},
                   "diversity_ratio": {"diffusion": 0.8, "real": 1.0}},
    }
    html = judge_table(fid)
    for text in ("convlstm", "diffusion", "75.0 %", "50.0 %", "12.5", "4.2", "0.90", "1.10", "0.80"):
        assert text in html, text
    assert judge_table({"fidelity": {}}) == ""
