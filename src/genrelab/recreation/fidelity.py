"""Fidelity: reclassify every clip with every classifier; shares and Fréchet distances per source."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from genrelab.constants import SR
from genrelab.metrics import frechet_distance, shares
from genrelab.progress import track

FRECHET_COVARIANCE = (
    "Ledoit-Wolf shrinkage covariance of the penultimate embeddings "
    "(few clips per genre); reference = the real held-out clips"
)

Audio = Mapping[str, Mapping[str, Sequence[np.ndarray]]]  # {source: {genre: [clip (n,)]}}


def _classify(
    clf: Any, by_genre: Mapping[str, Sequence[np.ndarray]], genres: Sequence[str], *, description: str, progress: bool
) -> tuple[list[str], list[str], dict[str, np.ndarray]]:
    """One classifier over one source: intended and predicted genres, embeddings ``{genre: (n, d)}``."""
    intended, preds, emb = [], [], {}
    for genre in track(genres, description=description, enabled=progress):
        vecs = []
        for y in by_genre.get(genre, []):
            p, vec = clf.predict_and_embed_audio(y, sr=SR)  # one feature extraction for both
            intended.append(genre)
            preds.append(str(clf.labels[int(np.argmax(p))]))
            vecs.append(np.asarray(vec, np.float64))
        emb[genre] = np.stack(vecs) if vecs else np.zeros((0, 0))
    return intended, preds, emb


def _frechet(emb: Mapping[str, Mapping[str, np.ndarray]], genres: Sequence[str]) -> dict[str, dict]:
    """``{source: {"per_genre": {genre: d | None}, "mean": d | None}}`` against the ``real`` embeddings."""
    out = {}
    for source in emb:
        if source == "real":
            continue
        per = {}
        for g in genres:
            a, b = emb["real"][g], emb[source][g]
            per[g] = frechet_distance(a, b) if len(a) >= 2 and len(b) >= 2 else None
        vals = [v for v in per.values() if v is not None]
        out[source] = {"per_genre": per, "mean": float(np.mean(vals)) if vals else None}
    return out


def reclassify(
    classifiers: Mapping[str, Any], audio: Audio, files: list[dict[str, Any]], genres: Sequence[str], *, progress: bool
) -> dict[str, Any]:
    """Reclassify every clip with every classifier.

    Returns ``{"fidelity", "frechet", "frechet_covariance", "clips"}`` (fidelity.json's
    parts); ``files`` (``{"source", "genre", "file"}`` in the order of ``audio``'s clips per
    source and genre) gain ``"predicted": {classifier: label}``.
    """
    fidelity: dict[str, dict[str, dict]] = {}
    frechet: dict[str, dict[str, dict]] = {}
    predicted: dict[tuple[str, str, int], dict[str, str]] = {}
    for cname, clf in classifiers.items():
        fidelity[cname] = {}
        emb: dict[str, dict[str, np.ndarray]] = {}
        for source, by_genre in audio.items():
            intended, preds, emb[source] = _classify(
                clf, by_genre, genres, description=f"{cname}: {source}", progress=progress
            )
            seen: dict[str, int] = {}
            for genre, label in zip(intended, preds):
                i = seen.get(genre, 0)
                seen[genre] = i + 1
                predicted.setdefault((source, genre, i), {})[cname] = label
            fidelity[cname][source] = shares(intended, preds, genres)
        frechet[cname] = _frechet(emb, genres)
    counters: dict[tuple[str, str], int] = {}
    for f in files:
        key = (f["source"], f["genre"])
        i = counters.get(key, 0)
        counters[key] = i + 1
        f["predicted"] = predicted.get((f["source"], f["genre"], i), {})
    return {"fidelity": fidelity, "frechet": frechet, "frechet_covariance": FRECHET_COVARIANCE, "clips": files}


__all__ = ["reclassify", "shares", "frechet_distance", "FRECHET_COVARIANCE"]
