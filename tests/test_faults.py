"""Hostile input and faults (issue #14, part B): resumed steps check their outputs, stale
temporaries go, run folders are locked, every user error is one line, and the study checks its
config and its splits before it trains."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_study import Stages, small_config, stages, steps_run  # noqa: F401  (stages: a fixture)
from typer.testing import CliRunner

from genrelab import study as C
from genrelab.cli import app
from genrelab.errors import DatasetError, GenrelabError, ParameterError
from genrelab.features.columns import FEATURE_COLUMNS
from genrelab.features.maps import MapSet, save_maps
from genrelab.io import (
    FolderInUseError,
    atomic_path,
    folder_lock,
    is_temporary,
    remove_stale_temporaries,
    write_text,
)
from genrelab.rundir import RunDir
from genrelab.study import run_study, study_state
from genrelab.study.feasibility import check_splits

SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Count the report renders (the report step is real in the stand-in studies)."""
    import genrelab.report

    calls: list[Path] = []
    real = genrelab.report.render_report

    def counting(run_dir, **kw):
        calls.append(Path(run_dir))
        return real(run_dir, **kw)

    monkeypatch.setattr(genrelab.report, "render_report", counting)
    return calls


def one_line_error(result) -> str:
    """The single ``error:`` line of a failed command (asserting there is exactly one)."""
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


# ---------------------------------------------------------------------------------------------
# 1. a resumed step checks that its outputs read back


def test_corrupt_output_reruns_exactly_its_step(stages: Stages, renders: list[Path]) -> None:
    cfg = small_config()
    run_study(cfg, stages.run, progress=False)
    before = study_state(stages.run)["steps"]
    assert "metrics/dense.json" in before["classify:dense"]["outputs"]
    (stages.run / "metrics" / "dense.json").write_text('{"accuracy": 0.')  # truncated
    stages.calls.clear()
    renders.clear()
    run_study(cfg, stages.run, progress=False)
    # the stand-in writes the same metrics again: nothing built on them is out of date
    assert steps_run(stages) == {"train:dense:."}
    assert renders == []
    assert json.loads((stages.run / "metrics" / "dense.json").read_text())["accuracy"] == 0.5
    assert study_state(stages.run)["steps"]["recreate"] == before["recreate"]


def test_remade_output_reruns_the_steps_built_on_it(
    stages: Stages, renders: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = small_config()
    run_study(cfg, stages.run, progress=False)
    real = stages.train_classifiers

    def better(features, models, out, **kw):  # retraining gives other numbers
        result = real(features, models, out, **kw)
        m = dict(result[models[0]], accuracy=0.75)
        (Path(out) / "metrics" / f"{models[0]}.json").write_text(json.dumps(m))
        return {models[0]: m}

    monkeypatch.setattr(sys.modules["genrelab.classify"], "train_classifiers", better)  # the stand-in module
    (stages.run / "metrics" / "cnn.json").write_bytes(b"\x00" * 10)
    stages.calls.clear()
    renders.clear()
    run_study(cfg, stages.run, progress=False)
    # recreation models do not read the classifiers; reclassification (recreate) and the report
    # do; the PCA reads recreate's clips, which the stand-in makes the same again
    assert steps_run(stages) == {"train:cnn:.", "recreate"}
    assert len(renders) == 1
    stages.calls.clear()
    run_study(cfg, stages.run, progress=False)
    assert steps_run(stages) == set()


def test_truncated_features_rerun_the_features_step(stages: Stages) -> None:
    cfg = small_config()
    run_study(cfg, stages.run, progress=False)
    csv = stages.run / "features" / "features.csv"
    whole = csv.read_bytes()
    csv.write_bytes(whole[: len(whole) // 2])
    stages.calls.clear()
    run_study(cfg, stages.run, progress=False)
    assert stages.calls["prepare"] == 1 and steps_run(stages) == set()  # same table made again
    assert csv.read_bytes() == whole


def test_entries_without_fingerprints_are_parsed(stages: Stages) -> None:
    """A state.json written before fingerprints: a main output that does not parse reruns."""
    cfg = small_config()
    run_study(cfg, stages.run, progress=False)
    state_file = stages.run / "state.json"
    state = json.loads(state_file.read_text())
    for entry in state["steps"].values():
        entry.pop("outputs", None)
        entry.pop("inputs", None)
    state_file.write_text(json.dumps(state))
    (stages.run / "metrics" / "pca.json").write_text("[1, 2")
    stages.calls.clear()
    run_study(cfg, stages.run, progress=False)
    assert steps_run(stages) == {"pca"}


def test_report_of_a_corrupt_run_names_the_unreadable_files(stages: Stages) -> None:
    from genrelab.report import render_report

    run_study(small_config(), stages.run, progress=False)
    (stages.run / "metrics" / "dense.json").write_text('{"accuracy": 0.')
    csv = stages.run / "features" / "features.csv"
    csv.write_bytes(csv.read_bytes()[:-7])
    html = render_report(stages.run).read_text(encoding="utf-8")
    assert "Unreadable files (corrupt or cut short; rerunning the study remakes them): " \
           "metrics/dense.json, features/features.csv." in html


# ---------------------------------------------------------------------------------------------
# 2. stale temporaries


def _temporary_name(folder: Path, name: str) -> str:
    """The name atomic_path gives the temporary of ``folder/name``."""
    with pytest.raises(RuntimeError), atomic_path(folder / name) as tmp:
        seen = tmp.name
        raise RuntimeError
    return seen


def test_temporary_pattern_matches_atomic_path_names(tmp_path: Path) -> None:
    for name in ("dense.json", "features.csv", "maps.npz", "recreate-lstm.pt", "report.html", "noext"):
        assert is_temporary(_temporary_name(tmp_path, name)), name
    for name in ("dense.json", ".lock", "blues.00012.wav", ".hidden.tmp", ".x.tmp.json"):
        assert not is_temporary(name), name
    assert list(tmp_path.iterdir()) == []  # a failed write leaves nothing


def test_study_removes_temporaries_older_than_itself(stages: Stages) -> None:
    run = stages.run
    (run / "metrics").mkdir(parents=True)
    (run / "features" / "cache").mkdir(parents=True)
    old = [run / "metrics" / _temporary_name(run / "metrics", "dense.json"),
           run / "features" / "cache" / _temporary_name(run / "features" / "cache", "abc.npz")]
    fresh = run / "metrics" / _temporary_name(run / "metrics", "cnn.json")
    other = run / "metrics" / ".notes.tmp"
    for p in [*old, fresh, other]:
        p.write_bytes(b"half")
    an_hour_ago = time.time() - 3600
    for p in [*old, other]:
        os.utime(p, (an_hour_ago, an_hour_ago))
    future = time.time() + 3600  # a writer still filling its temporary touches it after our start
    os.utime(fresh, (future, future))
    run_study(small_config(), run, progress=False)
    assert not any(p.exists() for p in old)
    assert fresh.exists() and other.exists()


def test_remove_stale_temporaries_does_not_follow_symlinks(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / _temporary_name(outside, "x.json")
    victim.write_text("keep")
    os.utime(victim, (0, 0))
    run = tmp_path / "run"
    run.mkdir()
    (run / "link").symlink_to(outside, target_is_directory=True)
    assert remove_stale_temporaries(run, older_than=time.time()) == []
    assert victim.exists()


# ---------------------------------------------------------------------------------------------
# 3. locks

HOLD = """
import sys, time
from genrelab.io import folder_lock
with folder_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(120)
"""


@pytest.fixture
def holder(tmp_path: Path):
    """A separate process holding the lock of ``tmp_path/run`` until it is killed."""
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(run)], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    yield run, proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def test_second_study_on_a_locked_folder_says_so(stages: Stages, holder) -> None:
    run, proc = holder
    with pytest.raises(FolderInUseError, match=rf"in use by another genrelab process \(process {proc.pid}\)"):
        run_study(small_config(), run, progress=False)
    assert stages.calls == {}  # nothing ran
    r = CliRunner().invoke(app, ["study", "--out", str(run), "--quiet", "--device", "cpu"])
    assert "run folder" in one_line_error(r) and r.exit_code == 2
    r = CliRunner().invoke(app, ["pca", str(run), "--quiet"])
    assert "in use" in one_line_error(r)


def test_lock_is_released_when_its_holder_is_killed(stages: Stages, holder) -> None:
    run, proc = holder
    proc.kill()  # SIGKILL: no cleanup code runs; the kernel drops the flock
    proc.wait()
    assert (run / ".lock").exists()
    run_study(small_config(), run, progress=False)
    assert "report" in study_state(run)["steps"]


def test_lock_is_reentrant_in_one_process(tmp_path: Path) -> None:
    with folder_lock(tmp_path / "r") as lock, folder_lock(tmp_path / "r"):
        assert lock is not None and lock.read_text().strip() == str(os.getpid())
    with folder_lock(tmp_path / "missing", create=False) as none:
        assert none is None
    assert not (tmp_path / "missing").exists()


# ---------------------------------------------------------------------------------------------
# 4. one line for every user error


@pytest.fixture(scope="module")
def feature_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small feature CSV in the public layout: 4 genres x 6 tracks of random features."""
    rng = np.random.default_rng(0)
    genres = ["blues", "classical", "metal", "pop"]
    rows = [{"filename": f"{g}.{k:05d}.wav", "length": 661794, **dict(zip(FEATURE_COLUMNS, rng.normal(size=57) + i)),
             "label": g} for i, g in enumerate(genres) for k in range(6)]
    path = tmp_path_factory.mktemp("csv") / "features.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def trained(feature_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("trained") / "run"
    r = CliRunner().invoke(app, ["train", str(feature_csv), "-o", str(run), "--epochs", "1", "-q", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    return run


def test_bad_devices_are_one_line(feature_csv: Path, tmp_path: Path) -> None:
    import torch

    r = CliRunner().invoke(app, ["train", str(feature_csv), "-o", str(tmp_path / "r"), "--device", "foo"])
    assert "device='foo' is not usable here" in one_line_error(r)
    if not torch.cuda.is_available():
        r = CliRunner().invoke(app, ["train", str(feature_csv), "-o", str(tmp_path / "r"), "--device", "cuda"])
        assert "device='cuda' is not usable here" in one_line_error(r)
    assert not (tmp_path / "r").exists()  # checked before anything was written


def test_out_that_is_a_file_is_one_line(feature_csv: Path, tmp_path: Path) -> None:
    f = tmp_path / "afile"
    f.write_text("x")
    r = CliRunner().invoke(app, ["train", str(feature_csv), "-o", str(f)])
    assert "is a file" in one_line_error(r)
    r = CliRunner().invoke(app, ["train", str(feature_csv), "-o", str(f / "sub")])
    assert "is a file, not a folder" in one_line_error(r)


def test_extract_onto_a_folder_is_one_line(tmp_path: Path) -> None:
    import soundfile as sf

    clip = tmp_path / "blues.00000.wav"
    t = np.arange(22050 * 4) / 22050
    sf.write(clip, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 22050)
    out = tmp_path / "out"
    out.mkdir()
    r = CliRunner().invoke(app, ["extract", str(clip), "-o", str(out), "--no-progress"])
    assert f"cannot write {str(out)!r}: it is a folder" in one_line_error(r)


def test_unlabelled_row_is_one_line(feature_csv: Path, tmp_path: Path) -> None:
    df = pd.read_csv(feature_csv)
    df.loc[3, "label"] = np.nan
    bad = tmp_path / "nan.csv"
    df.to_csv(bad, index=False)
    r = CliRunner().invoke(app, ["train", str(bad), "-o", str(tmp_path / "r"), "-q", "--device", "cpu"])
    assert "1 row(s) without a label: ['blues.00003.wav']" in one_line_error(r)


def test_evaluate_on_one_genre_works(trained: Path, feature_csv: Path, tmp_path: Path) -> None:
    one = tmp_path / "one_genre.csv"
    pd.read_csv(feature_csv).query("label == 'metal'").to_csv(one, index=False)
    r = CliRunner().invoke(app, ["evaluate", str(trained), str(one), "-q", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    m = json.loads((trained / "metrics" / "dense.one_genre.json").read_text())
    assert m["n_test"] == 6
    assert (trained / "plots" / "dense.one_genre_misclassified.png").is_file()


def test_truncated_checkpoint_is_one_line(trained: Path) -> None:
    ckpt = trained / "models" / "recreate-lstm.pt"
    data = (trained / "models" / "dense.pt").read_bytes()
    ckpt.write_bytes(data[: len(data) // 3])
    try:
        r = CliRunner().invoke(app, ["recreate", str(trained), "--model", "lstm", "-q", "--device", "cpu"])
        assert "recreate-lstm.pt" in one_line_error(r)
    finally:
        ckpt.unlink()


def test_unexpected_os_error_is_one_line(trained: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import genrelab.analysis

    def denied(*a, **kw):
        raise PermissionError(13, "Permission denied", str(trained / "metrics" / "pca.json"))

    monkeypatch.setattr(genrelab.analysis, "run_pca", denied)
    r = CliRunner().invoke(app, ["pca", str(trained), "-q"])
    assert one_line_error(r) == f"error: Permission denied: {str(trained / 'metrics' / 'pca.json')!r}"


def test_multi_line_messages_become_one_line(monkeypatch: pytest.MonkeyPatch, trained: Path) -> None:
    import genrelab.analysis

    def two_lines(*a, **kw):
        raise DatasetError("first part\nsecond part")

    monkeypatch.setattr(genrelab.analysis, "run_pca", two_lines)
    r = CliRunner().invoke(app, ["pca", str(trained), "-q"])
    assert one_line_error(r) == "error: first part second part"


def test_atomic_writes_refuse_folders(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="it is a folder"):
        write_text(tmp_path, "x")
    (tmp_path / "f").write_text("x")
    with pytest.raises(ParameterError, match="is a file, not a folder"):
        write_text(tmp_path / "f" / "g" / "h.txt", "x")


# ---------------------------------------------------------------------------------------------
# 5. config values and splits checked before the run


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[recreation]\nseconds = 2.0\n", r"recreation.seconds = 2.0 must be between 3 and 60"),
        ("[recreation]\nseconds = 61\n", r"recreation.seconds = 61.0 must be between 3 and 60"),
        ("[recreation]\ntemperature = -1\n", r"recreation.temperature = -1.0 must be a finite number >= 0"),
        ("[recreation]\ngenres = []\n", r"recreation.genres is empty"),
        ("[recreation]\ngenres = ['pop']\n", r"the PCA step needs at least two genres"),
        ("[pca]\ngenres = ['rock', 'pop']\n", r"pca.genres names rock, which recreation.genres does not recreate"),
        ("[recreation]\nper_genre = 1\ngenres = ['pop', 'rock']\n", r"the PCA step needs at least 3"),
        ("[classifiers.dense]\nlr = inf\n", r"classifiers.dense.lr = inf must be positive"),
    ],
)
def test_config_values_that_would_fail_later_fail_at_load(toml: str, message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        C.from_toml(toml, base=C.demo())


def test_temperature_zero_agrees_with_recreate() -> None:
    import inspect

    from genrelab.cli.commands_recreate import recreate

    assert C.from_toml("[recreation]\ntemperature = 0\n", base=C.demo()).recreation.temperature == 0.0
    assert "0: deterministic" in str(inspect.signature(recreate).parameters["temperature"].default.help)


def test_impossible_split_stops_the_study_before_training(stages: Stages) -> None:
    dense = C.ModelConfig(split="random:0.1")
    cfg = small_config(classifiers=dataclasses.replace(C.demo().classifiers, dense=dense))
    with pytest.raises(DatasetError) as err:
        run_study(cfg, stages.run, progress=False)
    assert str(err.value).startswith("classifiers.dense.split (random:0.1) does not fit this corpus "
                                     "(12 tracks in 4 labels, 3 per label)")
    assert not [k for k in stages.calls if k.startswith("train")]
    cfg = small_config(protocols=C.ProtocolsConfig(splits=("kfold:5",)))
    with pytest.raises(DatasetError, match=r"protocols.splits \(kfold:5\) .*kfold:5 needs at least 5 tracks"):
        run_study(cfg, stages.run, progress=False)


def _corpus(run: Path, tracks_per_label: int, labels: int) -> RunDir:
    """features.csv and maps.npz of a corpus (numbers irrelevant) in run folder ``run``."""
    rd = RunDir(run)
    genres = [f"g{i}" for i in range(labels)]
    names = [f"{g}.{k:05d}" for g in genres for k in range(tracks_per_label)]
    label = [n.split(".")[0] for n in names]
    rd.features.mkdir(parents=True)
    pd.DataFrame({"filename": [f"{n}.wav" for n in names], "label": label}).to_csv(rd.features_csv, index=False)
    seg = np.repeat(names, 2)
    save_maps(rd.maps_npz, MapSet(maps=np.zeros((len(seg), 2, 3)), filename=[f"{t}.{i % 2}.wav" for i, t in
                                                                              enumerate(seg)],
                                  track=seg, label=np.repeat(label, 2), segment=np.tile([0, 1], len(names))))
    return rd


def test_paper_preset_on_20_tracks_names_the_split(tmp_path: Path) -> None:
    run = _corpus(tmp_path / "run", 2, 10)
    with pytest.raises(DatasetError) as err:
        check_splits(C.paper(), run, has_maps=True)
    assert str(err.value).startswith("classifiers.")
    assert "does not fit this corpus (20 tracks in 10 labels, 2 per label)" in str(err.value)
    assert check_splits(C.paper(), _corpus(tmp_path / "big", 10, 10), has_maps=True) > 5


def test_maps_file_is_byte_stable(tmp_path: Path) -> None:
    run = _corpus(tmp_path / "run", 2, 2)
    first = run.maps_npz.read_bytes()
    from genrelab.features.maps import load_maps

    time.sleep(1.1)  # np.savez would stamp the new second into the zip members
    save_maps(run.maps_npz, load_maps(run.maps_npz))
    assert run.maps_npz.read_bytes() == first


def test_errors_are_genrelab_errors() -> None:
    assert issubclass(FolderInUseError, GenrelabError)


def test_second_extract_into_a_locked_folder_says_so(holder, tiny_corpus: Path) -> None:
    run, proc = holder
    out = run / "features.csv"
    r = CliRunner().invoke(app, ["extract", str(tiny_corpus), "-o", str(out), "--no-progress"])
    assert r.exit_code == 2 and "in use by another genrelab process" in one_line_error(r)
    assert not out.exists()


def test_extract_removes_temporaries_left_by_a_killed_run(tiny_corpus: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    stale = out_dir / ".features.abcd1234.tmp.csv"
    stale.write_text("half a table")
    os.utime(stale, (0, 0))  # from long before this process started
    r = CliRunner().invoke(app, ["extract", str(tiny_corpus), "-o", str(out_dir / "features.csv"), "--no-progress"])
    assert r.exit_code == 0, r.output
    assert not stale.exists() and (out_dir / "features.csv").is_file()
