"""Report sections about the models: results at a glance, each classifier, protocols, recreation.

Each ``section_*`` takes a :class:`RunFolder` and returns the section's HTML body (a "not run"
note when the run folder holds nothing for it); headings and anchors live in
:data:`genrelab.report.render.SECTIONS`.
"""

from __future__ import annotations

from typing import Any, Callable

from genrelab.report.fragments import figures, heading, json_tables, key_values, not_run, percent, player, table
from genrelab.report.judge_tables import judge_table
from genrelab.report.run_folder import CLASSIFIERS, RECREATION, RunFolder

# The source study's own numbers on real GTZAN (random splits, single runs).
SOURCE_CLAIMS = {
    "dense": ("Dense", "85-86 %"),
    "cnn": ("CNN", "82-83 %"),
    "convlstm": ("LSTM+CNN", "75 %"),
    "recreate-lstm": ("recreation with LSTM (reclassified)", "92 %"),
}

Row = tuple[list[Any], str | None]  # table cells and the row's CSS class

SUMMARY_NOTE = (
    '<p class="note">Rows in amber are the source study\'s own claims on real GTZAN with random '
    "splits (which put one artist on both sides); they are not reproduced here. Our rows "
    "state their protocol and the number of seeds (± is the standard deviation over them); "
    "accuracy is on held-out data only. For recreation, the share of recreated clips the "
    "classifier assigns to the intended genre; the oracle is real clips sent through MFCC and "
    "back to audio (what inversion alone costs).</p>"
)
LISTEN_NOTE = (
    '<h3>Listen: recreated clips</h3><p class="note">Folders are the recreation models '
    "(<code>lstm</code>, <code>dense</code>); <code>oracle</code> holds real held-out clips "
    "sent through MFCC and back to audio, for comparison.</p>"
)
FIDELITY_NOTE = (
    '<h3>Fidelity: recreated clips reclassified</h3><p class="note">Share of recreated '
    "clips each classifier assigns to the intended genre. The oracle row is real held-out "
    "clips through MFCC and back to audio: what inversion alone costs. Fréchet distances "
    "compare penultimate-layer embeddings of real and recreated clips (lower is closer).</p>"
)
PROTOCOLS_NOTE = (
    '<h3>Honest protocols</h3><p class="note">The same models rerun over several seeds; '
    "fault-filtered is the Kereliuk/Sturm artist-filtered split (real GTZAN only).</p>"
)


def _accuracy_row(label: str, m: dict[str, Any], missing: str | None = "?") -> list[Any]:
    """One summary row from a metrics or protocol record (``missing`` for an unknown protocol or repeats)."""
    return [
        label,
        m.get("protocol", missing),
        m.get("repeats", missing),
        percent(m.get("accuracy"), m.get("accuracy_std")),
        percent(m.get("track_accuracy")),
        m.get("macro_f1"),
        m.get("n_train"),
        m.get("n_test"),
    ]


def _claim_row(name: str, protocol: str) -> list[Row]:
    """The source study's claim for ``name`` (none when it made no claim)."""
    if name not in SOURCE_CLAIMS:
        return []
    label, claim = SOURCE_CLAIMS[name]
    return [([f"{label}: source study's claim", protocol, 1, claim, "–", None, None, None], "claim")]


def _classifier_rows(run: RunFolder) -> list[Row]:
    """Per classifier: our main result, our extra protocol runs, the source study's claim."""
    prot = run.metric("protocols")
    prot_rows = [r for r in (prot.get("rows") or []) if isinstance(r, dict)] if prot else []
    rows: list[Row] = []
    for name in CLASSIFIERS:
        m = run.metric(name)
        if m is not None:
            rows.append((_accuracy_row(f"{name} (ours)", m), None))
        else:
            rows.append(([f"{name} (ours)", "–", "–", "not run", "–", None, None, None], None))
        rows += [
            (_accuracy_row(f"{name} (ours, protocol)", r, missing=None), None)
            for r in prot_rows
            if r.get("model") == name and r.get("accuracy") is not None
        ]
        rows += _claim_row(name, "random split, real GTZAN")
    return rows


def _recreation_rows(run: RunFolder) -> list[Row]:
    """recreate-lstm's clips reclassified by each classifier, then the source study's claim."""
    fid = run.metric("fidelity")
    by_clf = fid.get("fidelity") if fid else None
    rows: list[Row] = []
    for clf, by_source in by_clf.items() if isinstance(by_clf, dict) else ():
        e = by_source.get("lstm") if isinstance(by_source, dict) else None
        if not isinstance(e, dict):
            continue
        oracle = by_source.get("oracle") if isinstance(by_source.get("oracle"), dict) else {}
        rows.append(
            (
                [
                    f"recreate-lstm, reclassified by {clf} (ours)",
                    f"{e.get('n', '?')} recreated clips; oracle {percent(oracle.get('overall'))}",
                    "–",
                    percent(e.get("overall")),
                    "–",
                    None,
                    None,
                    e.get("n"),
                ],
                None,
            )
        )
    if not rows:
        rows.append((["recreate-lstm, reclassified (ours)", "–", "–", "not run", "–", None, None, None], None))
    return rows + _judge_rows(fid) + _claim_row("recreate-lstm", "real GTZAN")


def _judge_rows(fid: dict[str, Any] | None) -> list[Row]:
    """Each generator's clips as the judge (never the guide) calls them, beside the real excerpts."""
    judge = (fid or {}).get("judge")
    shares = judge.get("shares") if isinstance(judge, dict) else None
    if not isinstance(shares, dict):
        return []
    real = (shares.get("real") or {}).get("audio") or {}
    rows: list[Row] = []
    for source, sh in shares.items():
        if source in ("real", "oracle", "oracle-mel") or not isinstance(sh, dict):
            continue
        a = sh.get("audio") or {}
        rows.append(
            (
                [
                    f"recreate-{source}, judged by {judge.get('model')} (ours)",
                    f"{a.get('n', '?')} recreated clips; real excerpts {percent(real.get('overall'))}",
                    "–",
                    percent(a.get("overall")),
                    "–",
                    None,
                    None,
                    a.get("n"),
                ],
                None,
            )
        )
    return rows


def section_summary(run: RunFolder) -> str:
    """Our accuracies beside the source study's claims, classifiers and recreation."""
    rows = _classifier_rows(run) + _recreation_rows(run)
    head = ["model", "protocol", "repeats", "accuracy", "track accuracy", "macro F1", "n train", "n test"]
    return SUMMARY_NOTE + table(head, [r for r, _ in rows], row_class=[c for _, c in rows], num_from=2)


def section_classifier(run: RunFolder, name: str) -> str:
    """One classifier: its scores, curves, confusion matrix, report and misclassified clips."""
    m = run.metric(name)
    if m is None:
        return not_run(f"training of {name}")
    summary = {
        k: m.get(k)
        for k in ("accuracy", "accuracy_std", "track_accuracy", "macro_f1", "protocol", "repeats", "n_train", "n_test")
        if k in m
    }
    parts = [
        key_values(summary),
        figures(
            [
                (run.plot(f"{name}_curves.png"), f"{name}: loss and accuracy per epoch"),
                (run.plot(f"{name}_confusion.png"), f"{name}: confusion matrix (rows = true genre)"),
            ]
        ),
    ]
    per_class = m.get("per_class")
    if isinstance(per_class, dict) and per_class:
        rows = [
            [g, v.get("precision"), v.get("recall"), v.get("f1"), v.get("support")]
            for g, v in per_class.items()
            if isinstance(v, dict)
        ]
        parts.append(heading("Classification report") + table(["genre", "precision", "recall", "f1", "support"], rows))
    parts.append(
        figures(
            [
                (run.plot(f"{name}_report.png"), f"{name}: classification report"),
                (
                    run.plot(f"{name}_misclassified.png"),
                    f"{name}: misclassified clips: their MFCCs beside the mean MFCCs of the true and predicted genres",
                ),
            ]
        )
    )
    return "".join(parts)


def classifier_builder(name: str) -> Callable[[RunFolder], str]:
    """:func:`section_classifier` bound to one classifier ``name``."""

    def build(run: RunFolder) -> str:
        """The body of the section of classifier ``name``."""
        return section_classifier(run, name)

    build.__name__ = f"section_classifier_{name}"
    return build


def section_protocols(run: RunFolder) -> str:
    """The extra protocol runs (several seeds, fault-filtered) and the source study's grid."""
    parts = []
    prot = run.metric("protocols")
    if prot and prot.get("rows"):
        rows = [
            [
                r.get("model"),
                r.get("protocol"),
                r.get("repeats"),
                r.get("accuracy"),
                r.get("accuracy_std"),
                r.get("track_accuracy"),
                r.get("macro_f1"),
                r.get("note", ""),
            ]
            for r in prot["rows"]
        ]
        parts.append(
            PROTOCOLS_NOTE
            + table(
                ["model", "protocol", "repeats", "accuracy", "std", "track acc.", "macro F1", "note"], rows, num_from=2
            )
        )
    grid = run.metric("grid")
    if grid and grid.get("rows"):
        rows = [
            [
                r.get("model"),
                r.get("split"),
                r.get("epochs"),
                r.get("batch_size"),
                r.get("lr"),
                r.get("accuracy"),
                r.get("macro_f1"),
            ]
            for r in grid["rows"]
        ]
        parts.append(
            heading("The source study's grid")
            + table(["model", "split", "epochs", "batch", "lr", "accuracy", "macro F1"], rows, num_from=2)
        )
    return "".join(parts) if parts else not_run("extra protocols and the grid")


def _recreation_model(run: RunFolder, name: str) -> str:
    """One recreation model: its training numbers and plots."""
    m = run.metric(name)
    if m is None:
        return heading(name) + not_run(f"training of {name}")
    info = {k: m.get(k) for k in ("val_mse", "epochs", "n_train", "n_val") if k in m}
    return (
        heading(name)
        + (key_values(info) if info else "")
        + figures(
            [
                (run.plot(f"{name}_mse.png"), f"{name}: train / validation MSE"),
                (run.plot(f"{name}_true_vs_synthetic.png"), f"{name}: true vs synthetic MFCCs (held-out clip)"),
            ]
        )
    )


def _players(run: RunFolder) -> str:
    """Players for the first clips of each ``recreated/<model>/<genre>/`` folder (none when off)."""
    rec_dir, opts = run.paths.recreated, run.audio
    if not (opts.include and opts.players_per_genre > 0 and rec_dir.is_dir()):
        return ""
    blocks = []
    for model_dir in sorted(p for p in rec_dir.iterdir() if p.is_dir()):
        for genre_dir in sorted(p for p in model_dir.iterdir() if p.is_dir()):
            wavs = sorted(genre_dir.glob("*.wav"))[: opts.players_per_genre]
            blocks += [player(w, f"{model_dir.name} · {genre_dir.name} · {w.name}", fmt=opts.fmt) for w in wavs]
    return (LISTEN_NOTE + '<div class="players">' + "".join(blocks) + "</div>") if blocks else ""


def section_recreation(run: RunFolder) -> str:
    """The recreation models, players for recreated clips, and the fidelity tables."""
    parts = [_recreation_model(run, name) for name in RECREATION]
    parts.append(_players(run))
    fid = run.metric("fidelity")
    parts.append(
        (judge_table(fid) + FIDELITY_NOTE + fidelity_tables(fid))
        if fid is not None
        else not_run("recreation and reclassification")
    )
    return "".join(parts)


def _fidelity_rows(by_clf: dict[str, Any], genres: list[str]) -> tuple[list[list[Any]], list[str | None]]:
    """Rows (source, classifier, clips, overall, per-genre shares), oracle and real rows last and marked."""
    rows, classes = [], []
    order = {"real": 2, "oracle": 1}
    labels = {"oracle": "oracle (real -> MFCC -> audio)", "real": "real clips (unaltered)"}
    for clf, by_source in by_clf.items():
        if not isinstance(by_source, dict):
            continue
        for source in sorted(by_source, key=lambda s: (order.get(s, 0), s)):
            e = by_source[source]
            if not isinstance(e, dict):
                continue
            pg = e.get("per_genre", {}) if isinstance(e.get("per_genre"), dict) else {}
            shares = [
                (pg.get(g) or {}).get("share") if isinstance(pg.get(g), dict) else pg.get(g) for g in genres or list(pg)
            ]
            rows.append([labels.get(source, source), clf, e.get("n"), e.get("overall"), *shares])
            classes.append("oracle" if source in order else None)
    return rows, classes


def _frechet_table(fr: Any, genres: list[str]) -> str:
    """Fréchet distances per source and classifier (nothing when absent)."""
    if not isinstance(fr, dict):
        return ""
    rows = []
    for clf, by_source in fr.items():
        if not isinstance(by_source, dict):
            continue
        for source, e in by_source.items():
            if isinstance(e, dict):
                pg = e.get("per_genre") or {}
                rows.append([source, clf, e.get("mean"), *[pg.get(g) for g in genres]])
    if not rows:
        return ""
    return heading("Fréchet distance to real clips (classifier embeddings; lower is closer)", 4) + table(
        ["source", "classifier", "mean", *genres], rows, num_from=2
    )


def fidelity_tables(fid: dict[str, Any]) -> str:
    """The fidelity table (source x classifier, per genre; oracle and real rows marked) and the
    Fréchet distances; a generic rendering when the layout is not the documented one."""
    by_clf = fid.get("fidelity")
    if not isinstance(by_clf, dict):
        return json_tables(fid)
    genres = [str(g) for g in fid.get("genres", [])]
    rows, classes = _fidelity_rows(by_clf, genres)
    gs = genres or sorted(
        {
            g
            for r in by_clf.values()
            if isinstance(r, dict)
            for e in r.values()
            if isinstance(e, dict)
            for g in (e.get("per_genre") or {})
        }
    )
    parts = [
        table(["source", "classifier", "clips", "overall", *gs], rows, num_from=2, row_class=classes, pct=True),
        _frechet_table(fid.get("frechet"), gs),
    ]
    settings = {
        k: fid.get(k)
        for k in ("per_genre", "seconds", "temperature", "guidance", "seed")
        if not isinstance(fid.get(k), (dict, list))
    }
    if settings:
        parts.append(heading("Settings", 4) + key_values(settings))
    return "".join(parts)
