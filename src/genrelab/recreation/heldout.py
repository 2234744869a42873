"""Which real clips the recreation compares against (held out from the models), and prompts."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from genrelab.errors import DatasetError
from genrelab.recreation.generator import EDGE, Recreator
from genrelab.rundir import RunDir


def classifier_test_tracks(run: RunDir, name: str) -> set[str] | None:
    """Track ids on the test side of classifier ``name``'s checkpoint split (its metrics' ``test_tracks``).

    None when that is not known: no ``metrics/<name>.json``, or one without ``test_tracks``
    (written before classifiers recorded it). A metrics file that cannot be read, or whose
    ``test_tracks`` is not a list, is a DatasetError.
    """
    metrics = run.read_metrics(name)  # None when absent; DatasetError when unreadable
    if metrics is None or "test_tracks" not in metrics:
        return None
    tracks = metrics["test_tracks"]
    if not isinstance(tracks, list):
        raise DatasetError(
            f"{run.metrics_file(name)}: test_tracks is a {type(tracks).__name__}, "
            "expected a list of track ids; retrain the classifier to rewrite it"
        )
    return set(map(str, tracks))


def classifiers_test_side(run: RunDir) -> set[str]:
    """The union of the recorded test tracks of every classifier trained in ``run`` (empty without any)."""
    from genrelab.models import CLASSIFIERS

    out: set[str] = set()
    for name in CLASSIFIERS:
        out |= classifier_test_tracks(run, name) or set()
    return out


def heldout_clips(
    run: RunDir, genres: Sequence[str], val_tracks: Sequence[str], classifiers: Sequence[str], *, n: int
) -> tuple[dict[str, list[Path]], dict[str, dict]]:
    """Up to ``n`` real clip paths per genre, preferring tracks no model trained on.

    Preference: tracks on the test side of every classifier whose ``test_tracks`` are known
    (:func:`classifier_test_tracks`) and on the recreation validation side; then on the
    classifiers' test side; then on the recreation validation side; then any clip of the genre.
    Returns the paths and, per genre, how many are unseen by the classifiers (None when no
    classifier's test side is known) / by the recreation models. Empty lists when the run has
    no ``features/clips.csv``.
    """
    import pandas as pd

    if not run.clips_csv.is_file():
        return {g: [] for g in genres}, {}
    clips = pd.read_csv(run.clips_csv)
    tests = [t for t in (classifier_test_tracks(run, c) for c in classifiers) if t is not None]
    val = set(val_tracks)
    out, info = {}, {}
    for g in genres:
        rows = clips[clips["label"].astype(str) == g]
        tracks = list(rows["track"].astype(str))
        unseen_clf = {t for t in tracks if tests and all(t in ts for ts in tests)}
        order = sorted(tracks, key=lambda t: (t not in unseen_clf or t not in val, t not in unseen_clf, t not in val))
        paths = dict(zip(rows["track"].astype(str), rows["path"].astype(str)))
        picked = order[:n]
        out[g] = [_resolve(Path(paths[t]), run) for t in picked]
        info[g] = {
            "n": len(picked),
            "tracks": picked,
            "unseen_by_classifiers": sum(t in unseen_clf for t in picked) if tests else None,
            "unseen_by_recreation": sum(t in val for t in picked),
        }
    return out, info


def _resolve(path: Path, run: RunDir) -> Path:
    """A clip path from clips.csv: as written, else relative to the run folder."""
    return path if path.is_absolute() or path.exists() else run.root / path


def prompts_for(
    run: RunDir,
    rec: Recreator,
    genres: Sequence[str],
    heldout: Mapping[str, Sequence[Path]],
    per_genre: int,
    prompt_frames: int,
) -> dict[str, np.ndarray]:
    """``{genre: (per_genre, n_mfcc, prompt_frames)}`` raw frames from held-out segment maps.

    Segments of the genre's held-out clips and of the model's validation tracks, else of any
    track of the genre; ``{}`` without ``features/maps.npz``.
    """
    if not run.maps_npz.is_file():
        return {}
    from genrelab.features import load_maps

    ms = load_maps(run.maps_npz)
    out = {}
    for g in genres:
        tracks = {Path(p).name.rsplit(".", 1)[0] for p in heldout.get(g, [])} | {
            t for t in rec.val_tracks if t.split(".")[0] == g
        }
        idx = [i for i in range(len(ms.label)) if str(ms.label[i]) == g and str(ms.track[i]) in tracks]
        if not idx:
            idx = [i for i in range(len(ms.label)) if str(ms.label[i]) == g]
        if not idx or ms.maps.shape[2] < prompt_frames + EDGE:
            continue
        pick = [idx[(k * 7) % len(idx)] for k in range(per_genre)]
        out[g] = np.stack([ms.maps[i][:, EDGE : EDGE + prompt_frames] for i in pick]).astype(np.float32)
    return out


__all__ = ["classifier_test_tracks", "classifiers_test_side", "heldout_clips", "prompts_for"]
