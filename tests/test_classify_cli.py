"""`genrelab train / evaluate / predict` through typer's CliRunner: outputs, files, clear errors."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from genrelab.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory, gtzan_dir):
    """300 rows of the real CSV (30 per genre), none of the ten *.00000 clips."""
    df = pd.read_csv(gtzan_dir / "features_30_sec.csv")
    df = df[~df["filename"].str.contains(r"\.00000\.")]
    df = df.groupby("label", group_keys=False).head(30)
    path = tmp_path_factory.mktemp("csv") / "small.csv"
    df.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory, small_csv):
    out = tmp_path_factory.mktemp("run") / "run"
    res = runner.invoke(app, ["train", str(small_csv), "--model", "dense", "--out", str(out), "--epochs", "6",
                              "--repeats", "2", "--device", "cpu", "--quiet"])
    assert res.exit_code == 0, res.output
    return out, res.output


def test_train_via_cli_prints_accuracy_and_writes_run(cli_run):
    out, output = cli_run
    assert "dense: accuracy" in output and "random:0.3" in output
    m = json.loads((out / "metrics" / "dense.json").read_text())
    assert m["repeats"] == 2 and m["train_config"]["epochs"] == 6 and m["train_config"]["lr"] == 2e-3
    assert (out / "models" / "dense.pt").is_file()
    assert (out / "plots" / "dense_confusion.png").is_file()


def test_evaluate_via_cli(cli_run, gtzan_dir, tmp_path):
    out, _ = cli_run
    df = pd.read_csv(gtzan_dir / "features_30_sec.csv")
    df[df["filename"].str.contains(r"\.00000\.")].to_csv(tmp_path / "firsts.csv", index=False)
    res = runner.invoke(app, ["evaluate", str(out), str(tmp_path / "firsts.csv"), "--device", "cpu", "--quiet"])
    assert res.exit_code == 0, res.output
    assert "dense on firsts: accuracy" in res.output
    assert json.loads((out / "metrics" / "dense.firsts.json").read_text())["n_test"] == 10


def test_predict_json_and_bad_file(cli_run, gtzan_dir, tmp_path):
    out, _ = cli_run
    clips = sorted((gtzan_dir / "genres").glob("*/*.00000.au"))[:2]
    if len(clips) < 2:
        pytest.skip("real .au clips absent")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF....WAVE garbage")
    res = runner.invoke(app, ["predict", str(out), str(clips[0]), str(bad), str(clips[1]), "--json", "--device", "cpu"])
    assert res.exit_code == 1  # documented: non-zero when any file failed
    rows = json.loads(res.stdout)
    assert [r["file"] for r in rows] == [str(clips[0]), str(bad), str(clips[1])]
    assert "error" in rows[1] and "bad.wav" in rows[1]["error"]
    for r in (rows[0], rows[2]):
        assert {"file", "genre", "probabilities", "offset", "duration", "seconds"} <= set(r)
        assert sum(r["probabilities"].values()) == pytest.approx(1.0, abs=1e-6)
    res = runner.invoke(app, ["predict", str(out), str(clips[0]), "--device", "cpu"])
    assert res.exit_code == 0 and clips[0].name in res.output and "%" in res.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "resnet"], "unknown model 'resnet'"),
        (["--split", "random:2"], "split protocol 'random:2'"),
        (["--split", "shuffle"], "unknown split protocol"),
        (["--model", "cnn"], "cnn needs audio (MFCC maps); a feature table has none"),
    ],
)
def test_train_bad_options_are_clear_errors(small_csv, tmp_path, args, message):
    res = runner.invoke(app, ["train", str(small_csv), "--out", str(tmp_path / "r"), "--quiet", "--device", "cpu", *args])
    assert res.exit_code == 2
    assert message in res.output.replace("\n", " ")


def test_predict_and_evaluate_missing_run_dir(tmp_path, small_csv):
    res = runner.invoke(app, ["predict", str(tmp_path / "none"), str(small_csv)])
    assert res.exit_code == 2 and "does not exist" in res.output
    res = runner.invoke(app, ["evaluate", str(tmp_path / "none"), str(small_csv)])
    assert res.exit_code == 2 and "does not exist" in res.output
    res = runner.invoke(app, ["predict", str(tmp_path), str(small_csv), "--model", "svm"])
    assert res.exit_code == 2 and "unknown model 'svm'" in res.output


def test_train_without_out_uses_runs_folder_named_after_data(small_csv, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["train", str(small_csv), "--model", "dense", "--epochs", "2", "--quiet", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    run = tmp_path / "runs" / small_csv.stem
    assert (run / "models" / "dense.pt").is_file()
    assert (run / "metrics" / "dense.json").is_file()
