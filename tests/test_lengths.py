"""Clips of any length through the commands (#13): part of a long file, short and long files in
``predict``, one progress switch, ``--version``, and skipped.csv behind every message naming it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from typer.testing import CliRunner

import genrelab
from genrelab.cli import app
from genrelab.errors import DatasetError
from genrelab.features import FEATURE_COLUMNS, FeatureSet, MapSet

runner = CliRunner()
SR = 22050


def _long_signal(seconds: float = 20.0) -> np.ndarray:
    """A signal whose content changes over time (a rising tone plus noise bursts), so parts differ."""
    rng = np.random.default_rng(3)
    t = np.arange(int(seconds * SR)) / SR
    y = np.sin(2 * np.pi * (110 + 20 * t) * t) + 0.3 * rng.standard_normal(t.size) * (np.sin(2 * np.pi * 0.7 * t) > 0.5)
    return (0.5 * y / np.max(np.abs(y))).astype(np.float32)


@pytest.fixture(scope="module")
def long_and_cut(tmp_path_factory) -> tuple[Path, Path]:
    """A 20 s file and, cut by hand, its part from 10 s to 15 s (float WAV: the same samples)."""
    root = tmp_path_factory.mktemp("long")
    y = _long_signal()
    sf.write(root / "long.wav", y, SR, subtype="FLOAT")
    sf.write(root / "cut.wav", y[10 * SR : 15 * SR], SR, subtype="FLOAT")
    return root / "long.wav", root / "cut.wav"


# -- 1. one progress switch, --version ------------------------------------------------------


def test_version_prints_the_package_version():
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0
    assert res.output.strip() == f"genrelab {genrelab.__version__}"


@pytest.mark.parametrize("command", ["extract", "train", "evaluate", "recreate", "pca", "study"])
def test_every_long_command_takes_quiet(command):
    res = runner.invoke(app, [command, "--help"], terminal_width=200)
    assert res.exit_code == 0, res.output
    assert "--quiet" in res.output and "-q" in res.output
    assert "--no-progress" not in res.output  # the old extract spelling is a hidden alias


def test_extract_quiet_and_the_old_no_progress_both_work(long_and_cut, tmp_path):
    _, cut = long_and_cut
    for flag in ("-q", "--no-progress"):
        out = tmp_path / flag.strip("-") / "t.csv"
        res = runner.invoke(app, ["extract", str(cut), "-o", str(out), flag])
        assert res.exit_code == 0, res.output
        assert len(pd.read_csv(out)) == 1


# -- 2. --offset / --duration -------------------------------------------------------------


def test_extract_offset_duration_equals_the_part_cut_by_hand(long_and_cut, tmp_path):
    long, cut = long_and_cut
    part, by_hand, whole = tmp_path / "part" / "t.csv", tmp_path / "hand" / "t.csv", tmp_path / "whole" / "t.csv"
    res = runner.invoke(app, ["extract", str(long), "-o", str(part), "--offset", "10", "--duration", "5", "-q"])
    assert res.exit_code == 0, res.output
    assert runner.invoke(app, ["extract", str(cut), "-o", str(by_hand), "-q"]).exit_code == 0
    assert runner.invoke(app, ["extract", str(long), "-o", str(whole), "-q"]).exit_code == 0
    a, b, w = pd.read_csv(part), pd.read_csv(by_hand), pd.read_csv(whole)
    assert a["length"].tolist() == b["length"].tolist() == [5 * SR]
    np.testing.assert_allclose(a[FEATURE_COLUMNS].to_numpy(), b[FEATURE_COLUMNS].to_numpy(), rtol=1e-6, atol=1e-9)
    assert w["length"].tolist() == [20 * SR]
    assert not np.allclose(a[FEATURE_COLUMNS].to_numpy(), w[FEATURE_COLUMNS].to_numpy(), rtol=1e-3)


def test_a_different_offset_is_not_served_from_the_cache(long_and_cut, tmp_path):
    long, _ = long_and_cut
    out = tmp_path / "t.csv"

    def run(*span: str) -> tuple[str, np.ndarray]:
        res = runner.invoke(app, ["extract", str(long), "-o", str(out), "-q", *span])
        assert res.exit_code == 0, res.output
        return res.output, pd.read_csv(out)[FEATURE_COLUMNS].to_numpy()

    first, f0 = run("--offset", "0", "--duration", "5")
    assert "(1 extracted, 0 from cache)" in first
    second, f10 = run("--offset", "10", "--duration", "5")
    assert "(1 extracted, 0 from cache)" in second
    assert not np.allclose(f0, f10, rtol=1e-3)
    third, again = run("--offset", "10", "--duration", "5")
    assert "(0 extracted, 1 from cache)" in third
    np.testing.assert_array_equal(again, f10)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--offset", "-1"], "offset=-1.0 must be a number of seconds >= 0"),
        (["--duration", "0"], "duration=0.0 must be a positive number of seconds"),
        (["--duration", "-2"], "duration=-2.0 must be a positive number of seconds"),
    ],
)
def test_bad_offset_or_duration_is_one_sentence(long_and_cut, tmp_path, args, message):
    long, _ = long_and_cut
    res = runner.invoke(app, ["extract", str(long), "-o", str(tmp_path / "t.csv"), "-q", *args])
    assert res.exit_code == 2
    assert f"error: {message}" in res.output
    assert not (tmp_path / "t.csv").exists()


# -- 2, 3. predict: part of a file, short and long files ----------------------------------


def _maps(labels=("blues", "metal"), tracks: int = 4, segments: int = 2) -> MapSet:
    rng = np.random.default_rng(0)
    maps, names, track, lab, seg = [], [], [], [], []
    for li, label in enumerate(labels):
        for t in range(tracks):
            for s in range(segments):
                m = rng.normal(0, 4, size=(20, 130))
                m[0] -= 200
                m[8 * li : 8 * li + 8] += 15
                maps.append(m)
                names.append(f"{label}.{t:05d}.{s}.wav")
                track.append(f"{label}.{t:05d}")
                lab.append(label)
                seg.append(s)
    return MapSet(maps=np.array(maps, dtype=np.float32), filename=np.array(names), track=np.array(track),
                  label=np.array(lab), segment=np.array(seg))


@pytest.fixture(scope="module")
def cnn_run(tmp_path_factory) -> Path:
    """A run folder with a small cnn (3 s windows of 130 MFCC frames), trained for two epochs."""
    from genrelab.classify import train_classifiers

    out = tmp_path_factory.mktemp("run")
    table = pd.DataFrame(columns=["filename", "length", *FEATURE_COLUMNS, "label"])
    fs = FeatureSet(table=table, maps=_maps(), clips=None, skipped=pd.DataFrame(columns=["path", "reason"]))
    train_classifiers(fs, ["cnn"], out, epochs=2, progress=False, plots=False,
                      model_config={"cnn": {"channels": [4, 8, 8], "hidden": 8}},
                      train_config={"cnn": {"val_fraction": 0.0}})
    return out


def _predict_json(run: Path, *args: str) -> tuple[int, list[dict]]:
    res = runner.invoke(app, ["predict", str(run), *args, "--json", "--device", "cpu"])
    return res.exit_code, json.loads(res.stdout)


def test_predict_part_of_a_long_file_equals_the_part_cut_by_hand(cnn_run, long_and_cut):
    long, cut = long_and_cut
    code, [part] = _predict_json(cnn_run, str(long), "--offset", "10", "--duration", "5")
    assert code == 0, part
    code, [hand] = _predict_json(cnn_run, str(cut))
    assert code == 0, hand
    assert (part["offset"], part["duration"], part["seconds"]) == (10.0, 5.0, 5.0)
    assert (hand["offset"], hand["duration"], hand["seconds"]) == (0.0, None, 5.0)
    assert part["windows"] == hand["windows"] == 1 and "note" not in part
    assert part["probabilities"] == pytest.approx(hand["probabilities"], abs=1e-6)


def test_predict_a_long_file_says_it_averaged_windows(cnn_run, long_and_cut):
    long, _ = long_and_cut
    code, [row] = _predict_json(cnn_run, str(long))
    assert code == 0, row
    assert row["seconds"] == 20.0 and row["windows"] == 6  # 862 MFCC frames // 130
    assert "mean of the probabilities of 6 windows of 3 s" in row["note"]
    assert sum(row["probabilities"].values()) == pytest.approx(1.0, abs=1e-6)
    res = runner.invoke(app, ["predict", str(cnn_run), str(long), "--device", "cpu"], terminal_width=300)
    assert res.exit_code == 0
    assert "20.0 s; mean of the probabilities of 6 windows" in res.output


def test_predict_a_file_under_the_floor_names_it_and_the_floor(cnn_run, long_and_cut, tmp_path):
    long, cut = long_and_cut
    short = tmp_path / "short.wav"
    sf.write(short, _long_signal(0.3), SR)
    code, rows = _predict_json(cnn_run, str(short), str(cut))
    assert code == 1
    assert rows[0]["error"].startswith(f"{short}: too short (0.30 s read); a cnn prediction needs at least 0.5 s")
    assert "genre" in rows[1]
    code, [row] = _predict_json(cnn_run, str(long), "--offset", "19.8")  # 0.2 s left after the offset
    assert code == 1 and row["error"].startswith(f"{long}: too short (0.20 s read from 19.8 s)")
    res = runner.invoke(app, ["predict", str(cnn_run), str(cut), "--duration", "0", "--device", "cpu"])
    assert res.exit_code == 2 and "error: duration=0.0 must be a positive number of seconds" in res.output


# -- 4. skipped.csv exists whenever a message names it -------------------------------------


@pytest.fixture()
def all_short(tmp_path) -> Path:
    root = tmp_path / "short"
    for genre in ("blues", "pop"):
        (root / genre).mkdir(parents=True)
        for k in range(2):
            sf.write(root / genre / f"{genre}.{k:05d}.wav", _long_signal(0.3 + k * 0.1), SR)
    return root


def test_prepare_writes_skipped_csv_before_it_points_to_it(all_short, tmp_path):
    from genrelab.features import prepare

    run = tmp_path / "run"
    for attempt in range(2):  # the second run reads the failures from the cache and says them again
        with pytest.raises(DatasetError) as err:
            prepare(all_short, run, progress=False)
        skipped_csv = run / "features" / "skipped.csv"
        assert f"see {skipped_csv}" in str(err.value), attempt
        assert "too short (0.30 s); a clip needs at least 0.5 s" in str(err.value)
        df = pd.read_csv(skipped_csv)
        assert len(df) == 4 and df["reason"].str.startswith("too short").all(), attempt
    assert len(list((run / "features" / "cache").glob("*.npz"))) == 4


def test_extract_cli_failure_points_to_a_written_skipped_csv_each_run(all_short, tmp_path):
    out = tmp_path / "o" / "t.csv"
    for attempt in range(2):
        res = runner.invoke(app, ["extract", str(all_short), "-o", str(out), "-q"], terminal_width=400)
        assert res.exit_code == 2, attempt
        assert f"reasons in {out.parent / 'skipped.csv'}" in res.output and "too short" in res.output
        df = pd.read_csv(out.parent / "skipped.csv")
        assert len(df) == 4 and df["reason"].str.startswith("too short").all(), attempt
