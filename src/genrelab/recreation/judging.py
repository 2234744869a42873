"""Fidelity that cannot be gamed: a judge that took no part, and measures that see prototypes.

The judge is a trained map classifier of the run (``convlstm`` by default) that is never the
guidance model and never trained on the real clips it judges (both checked by the caller,
:func:`genrelab.recreation.recreate`). For each source (a generator, the oracles, the real
held-out clips) and genre it reports:

- the share the judge assigns to the intended genre in the *feature domain* (the generated
  MFCC maps, before inversion) and in the *audio domain* (after inversion, MFCCs extracted again);
- the Fréchet distance of the judge's penultimate embeddings to the real held-out clips, beside
  real against real (two halves of the real clips, split by track);
- motion against real held-out excerpts of the same length: frame-to-frame MFCC change, the
  onset envelope's share of modulation energy in 0.5-10 Hz, its autocorrelation peak;
- diversity: mean pairwise distance of the clips' MFCC mean/std summaries within a genre.

Motion and diversity are reported as generated / real ratios (1 = like the real clips); a
generator that emits one prototype per genre scores far below 1 on both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from genrelab import motion
from genrelab.constants import SR
from genrelab.metrics import frechet_distance, shares
from genrelab.progress import track

__all__ = ["Clips", "judge_sources", "motion_report", "MEASURES"]

MEASURES: dict[str, str] = {
    "frame_change": "mean |MFCC[t+1] - MFCC[t]| in dB, MFCCs extracted from the audio",
    "beat_share": "share of the onset envelope's modulation energy between 0.5 and 10 Hz",
    "autocorr_peak": "highest normalised autocorrelation of the onset envelope at lags of 0.1-2 s",
    "diversity": "mean pairwise distance of per-clip MFCC mean/std (scaled by the real clips' std) within a genre",
}


@dataclass
class Clips:
    """One source's clips of one genre: ``audio`` ``[(n,)]`` and, for generators, the generated
    MFCC ``maps`` ``[(n_mfcc, T)]`` before inversion; ``groups`` (track ids) for real clips."""

    audio: list[np.ndarray]
    maps: list[np.ndarray] | None = None
    groups: list[str] = field(default_factory=list)


Sources = Mapping[str, Mapping[str, Clips]]  # {source: {genre: Clips}}


def _judge_one(judge: Any, clips: Clips) -> tuple[list[str], list[str] | None, np.ndarray]:
    """Audio-domain labels, feature-domain labels (None without maps) and embeddings ``(n, d)``."""
    audio_labels, vecs = [], []
    for y in clips.audio:
        p, vec = judge.predict_and_embed_audio(y, sr=SR)
        audio_labels.append(str(judge.labels[int(np.argmax(p))]))
        vecs.append(np.asarray(vec, np.float64))
    feature_labels = None
    if clips.maps is not None:
        feature_labels = [str(judge.labels[int(np.argmax(judge.predict_proba_mfcc(m)))]) for m in clips.maps]
    return audio_labels, feature_labels, (np.stack(vecs) if vecs else np.zeros((0, 0)))


def _halves(emb: np.ndarray, groups: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Split rows into two halves by group (alternate tracks), so no track is on both sides."""
    order = list(dict.fromkeys(groups))
    side = np.array([order.index(g) % 2 for g in groups]) if len(groups) == len(emb) else np.arange(len(emb)) % 2
    return emb[side == 0], emb[side == 1]


def _frechet_mean(per: dict[str, float | None]) -> dict[str, Any]:
    vals = [v for v in per.values() if v is not None]
    return {"per_genre": per, "mean": float(np.mean(vals)) if vals else None}


def judge_sources(judge: Any, sources: Sources, genres: Sequence[str], *, progress: bool = True) -> dict[str, Any]:
    """The judge's shares (feature and audio domain) and Fréchet distances for every source.

    Returns ``{"model", "shares": {source: {"audio": shares, "feature": shares | None}},
    "frechet": {source: {"per_genre", "mean"}}, "frechet_real_halves": {"per_genre", "mean"}}``
    (shares as :func:`genrelab.metrics.shares`); ``sources`` must hold ``"real"``.
    """
    out_shares: dict[str, dict[str, Any]] = {}
    emb: dict[str, dict[str, np.ndarray]] = {}
    for source, by_genre in sources.items():
        intended, audio_pred, feature_pred, emb[source] = [], [], [], {}
        has_maps = all(c.maps is not None for c in by_genre.values())
        for genre in track(genres, description=f"judge {judge.name}: {source}", enabled=progress):
            clips = by_genre.get(genre, Clips(audio=[]))
            a, f, emb[source][genre] = _judge_one(judge, clips)
            intended += [genre] * len(a)
            audio_pred += a
            feature_pred += f or []
        out_shares[source] = {
            "audio": shares(intended, audio_pred, genres),
            "feature": shares(intended, feature_pred, genres) if has_maps else None,
        }
    frechet = {}
    for source in sources:
        if source != "real":
            frechet[source] = _frechet_mean({g: _fd(emb["real"][g], emb[source][g]) for g in genres})
    halves = {g: _fd(*_halves(emb["real"][g], sources["real"][g].groups)) for g in genres if g in sources["real"]}
    return {"model": judge.name, "shares": out_shares, "frechet": frechet, "frechet_real_halves": _frechet_mean(halves)}


def _fd(a: np.ndarray, b: np.ndarray) -> float | None:
    return frechet_distance(a, b) if len(a) >= 2 and len(b) >= 2 else None


def motion_report(sources: Sources, genres: Sequence[str], *, mfcc_of: Any, progress: bool = True) -> dict[str, Any]:
    """Motion and diversity of every source's audio, and their ratios to the ``real`` source.

    ``mfcc_of(y) -> (n_mfcc, T)`` extracts the MFCCs from audio. Returns ``{"values": {source:
    {measure: mean}}, "ratios": {source: {measure: generated / real}}, "diversity": {source:
    {"per_genre", "mean"}}, "diversity_ratio": {source: mean over genres of generated / real},
    "definitions"}``.
    """
    values: dict[str, dict[str, float]] = {}
    summaries: dict[str, dict[str, np.ndarray]] = {}
    for source, by_genre in sources.items():
        fc, beat, ac = [], [], []
        summaries[source] = {}
        for genre in track(genres, description=f"motion: {source}", enabled=progress):
            ys = by_genre[genre].audio if genre in by_genre else []
            if not ys:
                continue
            n = min(len(y) for y in ys)
            maps = np.stack([mfcc_of(y[:n]) for y in ys])  # (clips, n_mfcc, T)
            fc += list(np.atleast_1d(motion.frame_change(maps)))
            onset = motion.audio_motion(np.stack([y[:n] for y in ys]), SR)
            beat += list(onset["beat_share"])
            ac += list(onset["autocorr_peak"])
            summaries[source][genre] = motion.clip_summary(maps)
        values[source] = {"frame_change": _mean(fc), "beat_share": _mean(beat), "autocorr_peak": _mean(ac)}
    real_rows = [s for s in summaries.get("real", {}).values()]
    scale = np.concatenate(real_rows).std(axis=0) + 1e-9 if real_rows else None
    diversity: dict[str, dict[str, Any]] = {}
    for source, per in summaries.items():
        d = {g: motion.diversity(s, scale=scale) if len(s) >= 2 else None for g, s in per.items()}
        diversity[source] = _frechet_mean(d)
    real_div = diversity.get("real", {}).get("per_genre", {})
    div_ratio = {}
    for source in sources:
        rs = [
            diversity[source]["per_genre"][g] / real_div[g]
            for g in diversity.get(source, {}).get("per_genre", {})
            if diversity[source]["per_genre"][g] is not None and real_div.get(g)
        ]
        div_ratio[source] = float(np.mean(rs)) if rs else None
    ratios = {s: motion.ratios(v, values["real"]) for s, v in values.items()} if "real" in values else {}
    return {
        "values": values,
        "ratios": ratios,
        "diversity": diversity,
        "diversity_ratio": div_ratio,
        "definitions": MEASURES,
    }


def _mean(v: Sequence[float]) -> float:
    a = np.asarray([x for x in v if np.isfinite(x)], dtype=np.float64)
    return float(a.mean()) if a.size else float("nan")
