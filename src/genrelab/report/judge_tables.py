"""The recreation's judge table: shares in both domains, Fréchet, motion and diversity ratios."""

from __future__ import annotations

from typing import Any

from genrelab.report.fragments import esc, heading, percent, table

__all__ = ["judge_table", "JUDGE_NOTE"]

JUDGE_NOTE = (
    "<p>The judge is a classifier of this run that took no part in making the clips (never the "
    "guidance model) and judges only real clips on its own test side. <em>Feature</em>: the judge on "
    "the generated MFCC maps before inversion; <em>audio</em>: on the audio, features extracted again. "
    "Motion and diversity are generated / real ratios against real held-out excerpts of the same "
    "length (1 = like real; a one-prototype-per-genre generator scores far below 1).</p>"
)


def _share(entry: Any) -> str:
    return percent(entry.get("overall")) if isinstance(entry, dict) else "–"


def _num(value: Any, digits: int = 2) -> str:
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) else "–"


def judge_table(fid: dict[str, Any]) -> str:
    """HTML for ``fidelity.json``'s ``judge`` and ``motion`` parts ('' when the run has none)."""
    judge, mot = fid.get("judge"), fid.get("motion")
    if not isinstance(judge, dict) or not isinstance(judge.get("shares"), dict):
        return ""
    mot = mot if isinstance(mot, dict) else {}
    ratios, div = mot.get("ratios") or {}, mot.get("diversity_ratio") or {}
    frechet = judge.get("frechet") or {}
    rows = []
    for source, sh in judge["shares"].items():
        r = ratios.get(source) or {}
        fd = (
            (frechet.get(source) or {}).get("mean")
            if source != "real"
            else (judge.get("frechet_real_halves") or {}).get("mean")
        )
        rows.append(
            [
                source,
                _share(sh.get("feature")),
                _share(sh.get("audio")),
                _num(fd, 1),
                _num(r.get("frame_change")),
                _num(r.get("beat_share")),
                _num(r.get("autocorr_peak")),
                _num(div.get(source)),
            ]
        )
    header = [
        "source",
        "judge: feature",
        "judge: audio",
        "Fréchet",
        "frame change",
        "beat band",
        "autocorr",
        "diversity",
    ]
    guide = judge.get("guide")
    caption = (
        f"<p>Judge: <code>{esc(judge.get('model'))}</code>; guidance: "
        f"{'<code>' + esc(guide) + '</code>' if guide else 'none'}. The Fréchet value of the "
        "<em>real</em> row is real against real (two halves of the real clips, split by track).</p>"
    )
    return heading("Judge, motion and diversity", 4) + JUDGE_NOTE + caption + table(header, rows, num_from=1)
