"""Before any training: can every split the study will make be made on this corpus?

A stratified ``random:<f>`` split needs at least one track per label on each side, and
``kfold:<k>`` needs ``k`` tracks per label. The study makes splits for the classifiers, the
protocols, the grid and the recreation models' validation; :func:`check_splits` makes each of
them once on the corpus's tracks (right after the features step), so an impossible one stops
the study in seconds with one sentence naming the config key and the numbers, instead of after
the steps before it have trained.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from genrelab.errors import DatasetError
from genrelab.models import MODELS
from genrelab.rundir import RunDir
from genrelab.study.config import StudyConfig


def planned_splits(config: StudyConfig, *, has_maps: bool) -> list[tuple[str, str, str]]:
    """``(config key, protocol, rows)`` for every split the study will make; rows: "table" or "maps".

    Map models and the recreation models split the maps' tracks; the dense model the table's.
    ``fault-filtered`` is left out: a protocols cell that cannot make it is noted, not fatal. The
    recreation models' validation split is a per-genre group holdout that any corpus with two
    tracks per genre can make, so it is not listed.
    """

    def rows(model: str) -> str:
        return "maps" if MODELS[model].kind == "maps" else "table"

    out: list[tuple[str, str, str]] = []
    c = config.classifiers
    for name in c.models:
        if rows(name) == "table" or has_maps:
            out.append((f"classifiers.{name}.split", getattr(c, name).split, rows(name)))
    p = config.protocols
    for split in p.splits:
        for model in p.models:
            if rows(model) == "table" or has_maps:
                out.append(("protocols.splits", split, rows(model)))
    g = config.grid
    if g.enabled:
        for split in g.splits:
            for model in g.models:
                if rows(model) == "table" or has_maps:
                    out.append(("grid.splits", split, rows(model)))
    keep = [s for s in out if s[1].strip().lower().replace("_", "-") != "fault-filtered"]
    return list(dict.fromkeys(keep))


def corpus_tracks(run: RunDir) -> dict[str, tuple[list[str], list[str]] | None]:
    """``{"table": (track ids, labels), "maps": (...) or None without a maps file}`` of the run."""
    import pandas as pd

    from genrelab.data.gtzan import track_id_of

    out: dict[str, tuple[list[str], list[str]] | None] = {}
    table = pd.read_csv(run.features_csv, usecols=["filename", "label"])
    names = [track_id_of(str(n)) for n in table["filename"]]
    out["table"] = (names, [str(x) for x in table["label"]])
    out["maps"] = _maps_tracks(run.maps_npz)
    return out


def _maps_tracks(path: Path) -> tuple[list[str], list[str]] | None:
    """Track ids and labels of a maps ``.npz`` (without reading the maps), or None."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return [str(t) for t in z["track"]], [str(x) for x in z["label"]]
    except (OSError, KeyError, ValueError):
        return None


def _counts(labels: Sequence[str], tracks: Sequence[str]) -> str:
    """ "N tracks in L labels, m to M per label" for a message."""
    per = Counter(dict(zip(tracks, labels)).values())
    lo, hi = min(per.values()), max(per.values())
    return f"{len(set(tracks))} tracks in {len(per)} labels, {lo}{'' if lo == hi else f' to {hi}'} per label"


def check_splits(config: StudyConfig, run: RunDir, *, has_maps: bool, seed: int = 32) -> int:
    """DatasetError naming the first split of the study that cannot be made; the number checked."""
    from genrelab.data.splits import make_splits

    planned = planned_splits(config, has_maps=has_maps)
    if not planned:
        return 0
    try:
        rows = corpus_tracks(run)
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{run.features_csv} is not a readable feature table ({exc})") from None
    checked = 0
    for where, split, source in planned:
        found = rows[source]
        if found is None:  # no maps file to read the maps' tracks from: nothing to check
            continue
        tracks, labels = found
        try:
            make_splits(split, tracks, labels, seed=seed)
        except DatasetError as exc:
            raise DatasetError(
                f"{where} ({split}) does not fit this corpus ({_counts(labels, tracks)}): {exc}"
            ) from None
        checked += 1
    return checked


__all__ = ["check_splits", "corpus_tracks", "planned_splits"]
