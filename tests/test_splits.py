"""genrelab.data.splits: every protocol splits over tracks, stratified, and never leaks."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from genrelab.constants import GENRES
from genrelab.data import Split, check_no_leak, make_splits, parse_protocol, track_id_of
from genrelab.data.splits import fault_filtered_lists
from genrelab.errors import DatasetError, ParameterError

FULL_IDS = [f"{g}.{i:05d}" for g in GENRES for i in range(100)]  # a full GTZAN listing
FULL_LABELS = [t.split(".")[0] for t in FULL_IDS]


def segment_rows(n_segments: int = 3, seed: int = 0) -> tuple[list[str], list[str]]:
    """Every GTZAN track cut into segments ``blues.00012.3.wav``, rows in shuffled order."""
    rows = [(f"{t}.{s}.wav", t.split(".")[0]) for t in FULL_IDS for s in range(n_segments)]
    order = np.random.default_rng(seed).permutation(len(rows))
    return [rows[i][0] for i in order], [rows[i][1] for i in order]


def assert_sides_by_track(split: Split, names: list[str]) -> None:
    """Every track's rows are all on one side (or on none)."""
    side: dict[str, set[str]] = {}
    for i in split.train:
        side.setdefault(track_id_of(names[i]), set()).add("train")
    for i in split.test:
        side.setdefault(track_id_of(names[i]), set()).add("test")
    assert all(len(s) == 1 for s in side.values())


# --- parsing -----------------------------------------------------------------------------------


def test_parse_protocol() -> None:
    assert parse_protocol("random:0.3") == ("random", 0.3)
    assert parse_protocol(" kfold:10 ") == ("kfold", 10)
    assert parse_protocol("fault-filtered") == ("fault-filtered", None)


@pytest.mark.parametrize("bad", ["random:1.5", "random:0", "random:x", "kfold:1", "kfold:2.5", "bogus", "", "random"])
def test_parse_errors_list_the_allowed_forms(bad: str) -> None:
    with pytest.raises(ParameterError) as err:
        parse_protocol(bad)
    message = str(err.value)
    assert repr(bad) in message
    assert "random:<test_fraction>" in message and "kfold:<k>" in message and "fault-filtered" in message


# --- fault-filtered --------------------------------------------------------------------------


def test_fault_filtered_on_a_full_listing() -> None:
    (split,) = make_splits("fault-filtered", FULL_IDS, FULL_LABELS)
    assert split.name == "fault-filtered"
    assert (len(split.train), len(split.test)) == (640, 290)
    lists = fault_filtered_lists()
    assert {FULL_IDS[i] for i in split.train} == lists["train"] | lists["valid"]
    assert {FULL_IDS[i] for i in split.test} == lists["test"]
    assert len(set(FULL_IDS) - lists["train"] - lists["valid"] - lists["test"]) == 70  # faulty tracks: neither side
    for i in np.concatenate([split.train, split.test]):  # list genre folders agree with the labels
        assert FULL_LABELS[i] == FULL_IDS[i].split(".")[0]


def test_fault_filtered_segments_and_file_names() -> None:
    names, labels = segment_rows()
    (split,) = make_splits("fault-filtered", names, labels)
    assert (len(split.train), len(split.test)) == (3 * 640, 3 * 290)
    assert_sides_by_track(split, names)


def test_fault_filtered_needs_gtzan_ids() -> None:
    with pytest.raises(DatasetError, match="fault-filtered needs GTZAN track ids"):
        make_splits("fault-filtered", ["song a", "song b"], ["x", "y"])


def test_packaged_lists_equal_the_shared_ones(gtzan_dir: Path) -> None:
    lists = fault_filtered_lists()
    for part in ("train", "valid", "test"):
        shared = (gtzan_dir / "splits" / f"{part}_filtered.txt").read_text().split()
        assert lists[part] == {track_id_of(line) for line in shared}
        assert len(lists[part]) == len(shared)


# --- random ------------------------------------------------------------------------------------


def test_random_is_stratified_over_tracks() -> None:
    names, labels = segment_rows()
    (split,) = make_splits("random:0.3", names, labels)
    assert split.name == "random:0.3 seed=32"
    assert_sides_by_track(split, names)
    assert len(split.train) + len(split.test) == len(names)
    assert np.intersect1d(split.train, split.test).size == 0
    test_tracks = Counter(labels[i] for i in {track_id_of(names[i]): i for i in split.test}.values())
    assert test_tracks == {g: 30 for g in GENRES}  # 30 % of each genre's 100 tracks


def test_random_with_unequal_classes() -> None:
    sizes = {"a": 20, "b": 50, "c": 31}
    ids = [f"{g}.{i:05d}" for g, n in sizes.items() for i in range(n)]
    labels = [t[0] for t in ids]
    (split,) = make_splits("random:0.25", ids, labels, seed=5)
    got = Counter(labels[i] for i in split.test)
    for g, n in sizes.items():
        assert abs(got[g] - 0.25 * n) <= 1
    assert len(split.test) == pytest.approx(0.25 * len(ids), abs=1)


def test_random_seed() -> None:
    a = make_splits("random:0.3", FULL_IDS, FULL_LABELS)[0]
    b = make_splits("random:0.3", FULL_IDS, FULL_LABELS, seed=32)[0]
    c = make_splits("random:0.3", FULL_IDS, FULL_LABELS, seed=33)[0]
    np.testing.assert_array_equal(a.test, b.test)
    assert not np.array_equal(a.test, c.test)
    assert c.name == "random:0.3 seed=33"


def test_random_too_few_tracks() -> None:
    with pytest.raises(DatasetError, match="cannot make a stratified random:0.3 split"):
        make_splits("random:0.3", ["a.1", "a.2", "a.3", "b.1"], ["a", "a", "a", "b"])


# --- kfold -------------------------------------------------------------------------------------


def test_kfold_partitions_tracks_stratified() -> None:
    names, labels = segment_rows(n_segments=2)
    splits = make_splits("kfold:5", names, labels)
    assert [s.name for s in splits] == [f"kfold:5 fold {i}/5" for i in range(1, 6)]
    all_test = np.concatenate([s.test for s in splits])
    assert sorted(all_test.tolist()) == list(range(len(names)))  # each row is tested exactly once
    for s in splits:
        assert_sides_by_track(s, names)
        np.testing.assert_array_equal(np.sort(np.concatenate([s.train, s.test])), np.arange(len(names)))
        per_genre = Counter(labels[i] for i in s.test)
        assert per_genre == {g: 2 * 20 for g in GENRES}  # 20 tracks x 2 segments per genre per fold


def test_kfold_needs_k_tracks_per_label() -> None:
    ids = [f"a.{i}" for i in range(10)] + ["b.1", "b.2", "b.3"]
    with pytest.raises(DatasetError, match=r"kfold:5 needs at least 5 tracks per label; label 'b' has 3"):
        make_splits("kfold:5", ids, [t[0] for t in ids])


# --- tracks and leaks --------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["random:0.3", "kfold:3", "fault-filtered"])
def test_every_protocol_keeps_segments_together(protocol: str) -> None:
    names, labels = segment_rows(n_segments=4, seed=1)
    for split in make_splits(protocol, names, labels):
        assert_sides_by_track(split, names)
        check_no_leak(split, names)
        assert split.train.dtype == np.int64 and np.all(np.diff(split.train) > 0)


def test_folder_prefixed_ids_are_distinct_tracks() -> None:
    ids = [f"{g}/{n:02d}" for g in ("live", "studio") for n in range(10)]
    labels = ["rock" if n < 5 else "pop" for _ in range(2) for n in range(10)]
    (split,) = make_splits("random:0.5", ids, labels, seed=0)
    assert len(split.train) == len(split.test) == 10  # 20 distinct tracks, not 10


def test_a_track_with_two_labels_is_refused() -> None:
    with pytest.raises(DatasetError, match="blues.00001"):
        make_splits("random:0.3", ["blues.00001.0.wav", "blues.00001.1.wav"], ["blues", "jazz"])


def test_lengths_must_match() -> None:
    with pytest.raises(ParameterError, match="3 track ids but 2 labels"):
        make_splits("random:0.3", ["a.1", "a.2", "a.3"], ["a", "a"])


def test_empty_input() -> None:
    with pytest.raises(DatasetError, match="empty"):
        make_splits("kfold:2", [], [])


def test_check_no_leak_catches_leaks() -> None:
    names = ["blues.00001.0.wav", "blues.00001.1.wav", "blues.00002.0.wav"]
    check_no_leak(Split("ok", np.array([0, 1]), np.array([2])), names)
    with pytest.raises(DatasetError, match=r"leaks: tracks blues\.00001"):
        check_no_leak(Split("bad", np.array([0]), np.array([1, 2])), names)
    with pytest.raises(DatasetError, match="rows are in both"):
        check_no_leak(Split("bad", np.array([0, 2]), np.array([2])), names)
    with pytest.raises(DatasetError, match="out of range"):
        check_no_leak(Split("bad", np.array([0]), np.array([3])), names)
