"""Train/test split protocols over tracks: ``random:<f>``, ``kfold:<k>`` and ``fault-filtered``.

Splits are made over track ids, so every row of one track (its 3 s segments, say) lands on
the same side; every split is checked with :func:`check_no_leak` before it is returned.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import NamedTuple, Sequence

import numpy as np

from genrelab.data.gtzan import track_id_of
from genrelab.errors import DatasetError, ParameterError

PROTOCOL_FORMS = ("random:<test_fraction> (0 < f < 1)", "kfold:<k> (k >= 2)", "fault-filtered")


@dataclass(frozen=True)
class Split:
    """One train/test split: row indices into the ``track_ids``/``labels`` it was made from."""

    name: str  # "random:0.3 seed=32", "fault-filtered", "kfold:5 fold 2/5"
    train: np.ndarray  # (n_train,) int64, sorted
    test: np.ndarray  # (n_test,) int64, sorted


class Protocol(NamedTuple):
    """A parsed protocol: ``kind`` is "random", "kfold" or "fault-filtered"."""

    kind: str
    value: float | int | None


def parse_protocol(protocol: str) -> Protocol:
    """Parse ``"random:0.3"``, ``"kfold:5"`` or ``"fault-filtered"``; ParameterError otherwise."""
    text = str(protocol).strip().lower()
    allowed = f"choose from {', '.join(PROTOCOL_FORMS)}"
    if text in ("fault-filtered", "fault_filtered"):
        return Protocol("fault-filtered", None)
    m = re.fullmatch(r"(random|kfold):\s*(\S+)", text)
    if not m:
        raise ParameterError(f"unknown split protocol {protocol!r}; {allowed}")
    kind, arg = m.groups()
    if kind == "random":
        try:
            f = float(arg)
        except ValueError:
            f = float("nan")
        if not 0.0 < f < 1.0:
            raise ParameterError(f"split protocol {protocol!r}: the test fraction must be between 0 and 1; {allowed}")
        return Protocol("random", f)
    if not arg.isdigit() or int(arg) < 2:
        raise ParameterError(f"split protocol {protocol!r}: k must be an integer >= 2; {allowed}")
    return Protocol("kfold", int(arg))


def make_splits(protocol: str, track_ids: Sequence[str], labels: Sequence[str], *, seed: int = 32) -> list[Split]:
    """Split rows into train/test by ``protocol``, over tracks, stratified by label.

    ``track_ids``/``labels``: one per row; track ids may be given as file or segment names
    (``blues.00012.wav``, ``blues.00012.3.wav``). Returns one Split for ``random:<f>`` and
    ``fault-filtered``, ``k`` for ``kfold:<k>``. In ``fault-filtered``, train+valid lists are
    train, the test list is test, and rows of tracks in no list are in neither.
    """
    proto = parse_protocol(protocol)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ParameterError(f"seed={seed!r} must be an integer")
    rows = _normalise(track_ids)
    labels = [str(x) for x in labels]
    if len(rows) != len(labels):
        raise ParameterError(f"got {len(rows)} track ids but {len(labels)} labels; give one of each per row")
    if not rows:
        raise DatasetError(f"cannot split an empty dataset with {protocol!r}")
    tracks, track_labels, row_track = _tracks(rows, labels)

    if proto.kind == "fault-filtered":
        lists = fault_filtered_lists()
        train_set = lists["train"] | lists["valid"]
        in_train = np.array([t in train_set for t in tracks])
        in_test = np.array([t in lists["test"] for t in tracks])
        if not in_train.any() or not in_test.any():
            raise DatasetError(
                f"fault-filtered needs GTZAN track ids such as blues.00012; of the {len(tracks)} tracks given, "
                f"{int(in_train.sum())} are in its train lists and {int(in_test.sum())} in its test list"
            )
        splits = [_rows_split("fault-filtered", in_train, in_test, row_track)]
    elif proto.kind == "random":
        from sklearn.model_selection import train_test_split

        idx = np.arange(len(tracks))
        try:
            tr, te = train_test_split(idx, test_size=proto.value, stratify=track_labels, random_state=int(seed))
        except ValueError as exc:
            raise DatasetError(
                f"cannot make a stratified {protocol} split of {len(tracks)} tracks in "
                f"{len(set(track_labels))} labels ({exc})"
            ) from None
        splits = [
            _rows_split(
                f"random:{proto.value:g} seed={seed}", _mask(tr, len(tracks)), _mask(te, len(tracks)), row_track
            )
        ]
    else:
        from sklearn.model_selection import StratifiedKFold

        k = int(proto.value)
        values, counts = np.unique(track_labels, return_counts=True)
        if counts.min() < k:
            raise DatasetError(
                f"kfold:{k} needs at least {k} tracks per label; label {str(values[counts.argmin()])!r} has {int(counts.min())}"
            )
        folds = StratifiedKFold(n_splits=k, shuffle=True, random_state=int(seed))
        splits = [
            _rows_split(f"kfold:{k} fold {i + 1}/{k}", _mask(tr, len(tracks)), _mask(te, len(tracks)), row_track)
            for i, (tr, te) in enumerate(folds.split(np.zeros(len(tracks)), track_labels))
        ]
    for split in splits:
        check_no_leak(split, rows)
    return splits


def check_no_leak(split: Split, track_ids: Sequence[str]) -> None:
    """Raise DatasetError when a row or a track is on both sides of ``split``."""
    rows = _normalise(track_ids)
    train, test = np.asarray(split.train), np.asarray(split.test)
    for side, idx in (("train", train), ("test", test)):
        if idx.size and (idx.min() < 0 or idx.max() >= len(rows)):
            raise DatasetError(f"split {split.name!r}: {side} indices out of range for {len(rows)} rows")
    shared_rows = np.intersect1d(train, test)
    if shared_rows.size:
        raise DatasetError(f"split {split.name!r} leaks: {shared_rows.size} rows are in both train and test")
    shared = sorted({rows[i] for i in train} & {rows[i] for i in test})
    if shared:
        more = f" and {len(shared) - 5} more" if len(shared) > 5 else ""
        raise DatasetError(
            f"split {split.name!r} leaks: tracks {', '.join(shared[:5])}{more} are in both train and test"
        )


@lru_cache(maxsize=1)
def fault_filtered_lists() -> dict[str, frozenset[str]]:
    """The Kereliuk/Sturm lists as track-id sets: ``{"train": 443, "valid": 197, "test": 290}``."""
    folder = resources.files("genrelab.data") / "splits"
    out = {}
    for part in ("train", "valid", "test"):
        text = (folder / f"{part}_filtered.txt").read_text(encoding="utf-8")
        out[part] = frozenset(track_id_of(line.strip()) for line in text.splitlines() if line.strip())
    return out


def _normalise(track_ids: Sequence[str]) -> list[str]:
    """Row track ids: the last path part through track_id_of, any folder prefix kept."""
    out = []
    for t in track_ids:
        t = os.fspath(t) if isinstance(t, os.PathLike) else str(t)
        head, _, tail = t.replace("\\", "/").rpartition("/")
        out.append(f"{head}/{track_id_of(tail)}" if head else track_id_of(tail))
    return out


def _tracks(rows: list[str], labels: list[str]) -> tuple[list[str], list[str], np.ndarray]:
    """Unique tracks (first-seen order), their one label each, and each row's track index."""
    index: dict[str, int] = {}
    track_labels: list[str] = []
    row_track = np.empty(len(rows), dtype=np.int64)
    for i, (t, label) in enumerate(zip(rows, labels)):
        j = index.setdefault(t, len(index))
        if j == len(track_labels):
            track_labels.append(label)
        elif track_labels[j] != label:
            raise DatasetError(f"track {t!r} has rows labelled both {track_labels[j]!r} and {label!r}")
        row_track[i] = j
    return list(index), track_labels, row_track


def _mask(idx: np.ndarray, n: int) -> np.ndarray:
    m = np.zeros(n, dtype=bool)
    m[idx] = True
    return m


def _rows_split(name: str, train_tracks: np.ndarray, test_tracks: np.ndarray, row_track: np.ndarray) -> Split:
    """Turn boolean masks over tracks into sorted row indices."""
    train = np.flatnonzero(train_tracks[row_track]).astype(np.int64)
    test = np.flatnonzero(test_tracks[row_track]).astype(np.int64)
    return Split(name=name, train=train, test=test)
