"""Hostile input: pickled code in checkpoints, symbolic links out of a dataset, FIFOs, fork bombs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from genrelab.audio import info, load
from genrelab.cli import app
from genrelab.data import discover
from genrelab.errors import AudioError, DatasetError, ParameterError
from genrelab.features import FEATURE_COLUMNS, FeatureSet, extract_table
from genrelab.features.workers import WORKERS_CAP, max_workers, pool
from genrelab.models import build_model
from genrelab.train import load_checkpoint, predict_proba, save_checkpoint

torch.set_num_threads(1)
SR = 22050
REPO = Path(__file__).resolve().parents[1]


def _tone(path: Path, seconds: float = 3.5, freq: float = 440.0) -> Path:
    t = np.arange(int(seconds * SR)) / SR
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, (0.4 * np.sin(2 * np.pi * freq * t)).astype(np.float32), SR)
    return path


# --- 1. checkpoints load weights only --------------------------------------------------------------


class _Payload:
    """Unpickling this calls ``open(marker, "w")``: it creates a file, as any code could."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _payload_checkpoint(path: Path, marker: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"name": "dense", "config": {}, "state_dict": {}, "labels": [], "x": _Payload(marker)}, path)
    return path


def test_pickle_payload_is_refused_and_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    ckpt = _payload_checkpoint(tmp_path / "dense.pt", marker)
    # the payload is live: an unsafe load creates the marker
    torch.load(ckpt, weights_only=False)
    assert marker.exists()
    marker.unlink()

    with pytest.raises(DatasetError) as err:
        load_checkpoint(ckpt)
    assert not marker.exists()
    msg = str(err.value)
    assert str(ckpt) in msg and "refused" in msg and "open" in msg
    assert "\n" not in msg


def test_cli_predict_with_a_payload_model_is_one_sentence_and_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    run = tmp_path / "run"
    _payload_checkpoint(run / "models" / "dense.pt", marker)
    clip = _tone(tmp_path / "x.wav")
    result = CliRunner().invoke(app, ["predict", str(run), str(clip), "--model", "dense"])
    assert not marker.exists()
    assert result.exit_code == 2, result.output
    assert "refused" in result.output and "Traceback" not in result.output


def test_a_checkpoint_that_is_not_a_dict_or_lacks_fields_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "list.pt"
    torch.save([1, 2, 3], bad)
    with pytest.raises(DatasetError, match="not a genrelab model checkpoint"):
        load_checkpoint(bad)
    torch.save({"name": "dense"}, bad)
    with pytest.raises(DatasetError, match="'config' missing"):
        load_checkpoint(bad)
    (tmp_path / "junk.pt").write_bytes(b"not a zip, not a pickle")
    with pytest.raises(DatasetError, match="junk.pt"):
        load_checkpoint(tmp_path / "junk.pt")


def test_unstorable_extra_is_a_parameter_error_at_save(tmp_path: Path) -> None:
    model = build_model("dense", n_features=4, n_classes=2, members=1, hidden=[8])
    with pytest.raises(ParameterError, match="extra_thing"):
        save_checkpoint(tmp_path / "m.pt", name="dense", kind="features", model=model, labels=["a", "b"],
                        extra={"extra_thing": object()})
    assert not (tmp_path / "m.pt").exists()


def test_save_load_round_trip_gives_identical_predictions_and_values(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 6)).astype(np.float32)
    model = build_model("dense", n_features=6, n_classes=3, members=2, hidden=[16])
    model.set_normalisation(torch.from_numpy(x))
    model.eval()
    mean, scale = model.mean.numpy().copy(), model.scale.numpy().copy()
    extra = {
        "scaler": {"mean": mean, "scale": scale},
        "feature_columns": [f"c{i}" for i in range(6)],
        "frames": np.int64(130),
        "val_tracks": np.array(["blues.00001", "jazz.00002"]),
        "where": tmp_path,
    }
    path = save_checkpoint(tmp_path / "dense.pt", name="dense", kind="features", model=model,
                           labels=["a", "b", "c"], extra=extra)
    torch.load(path, weights_only=True)  # plain torch can read it safely too
    loaded, ckpt = load_checkpoint(path)
    np.testing.assert_array_equal(predict_proba(loaded, x), predict_proba(model, x))
    assert isinstance(ckpt["scaler"]["mean"], np.ndarray)
    np.testing.assert_array_equal(ckpt["scaler"]["mean"], mean)
    np.testing.assert_array_equal(ckpt["scaler"]["scale"], scale)
    assert ckpt["frames"] == 130 and isinstance(ckpt["frames"], int)
    assert ckpt["val_tracks"] == ["blues.00001", "jazz.00002"]
    assert ckpt["labels"] == ["a", "b", "c"] and ckpt["where"] == str(tmp_path)


def test_trained_classifier_loads_and_predicts_the_same_twice(tmp_path: Path) -> None:
    from genrelab.classify import Classifier, train_classifiers

    rng = np.random.default_rng(1)
    labels = np.repeat(["blues", "jazz", "pop"], 12)
    data = rng.normal(size=(len(labels), len(FEATURE_COLUMNS))) + np.arange(len(labels))[:, None] % 3
    table = pd.DataFrame(np.abs(data), columns=FEATURE_COLUMNS)
    table.insert(0, "length", 661794)
    table.insert(0, "filename", [f"{g}.{i:05d}.wav" for i, g in enumerate(labels)])
    table["label"] = labels
    fs = FeatureSet(table=table, maps=None, clips=None, skipped=pd.DataFrame(columns=["path", "reason"]))
    train_classifiers(fs, ["dense"], tmp_path, epochs=2, progress=False, plots=False,
                      model_config={"dense": {"members": 1, "hidden": [16]}})
    torch.load(tmp_path / "models" / "dense.pt", weights_only=True)
    a = Classifier.load(tmp_path, "dense").predict_proba_features(table)
    b = Classifier.load(tmp_path, "dense").predict_proba_features(table)
    assert a.shape == (len(table), 3) and np.all(np.isfinite(a))
    np.testing.assert_array_equal(a, b)
    assert isinstance(Classifier.load(tmp_path, "dense").checkpoint["scaler"]["mean"], np.ndarray)


def test_recreation_checkpoint_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import genrelab.train
    from genrelab.recreation import train_recreation
    from genrelab.recreation.generator import Recreator

    saved: dict = {}
    real_save = genrelab.train.save_checkpoint

    def spy(path, **kw):
        saved.update(kw["extra"])
        return real_save(path, **kw)

    monkeypatch.setattr(genrelab.train, "save_checkpoint", spy)

    rng = np.random.default_rng(0)
    n, frames = 16, 40
    maps = (rng.normal(size=(n, 20, frames)) * 5 - np.linspace(200, 0, 20)[None, :, None]).astype(np.float32)
    labels = np.repeat(["blues", "pop"], n // 2)
    tracks = np.array([f"{g}.{i:05d}" for i, g in enumerate(labels)])
    fs = types.SimpleNamespace(maps=types.SimpleNamespace(
        maps=maps, label=labels, track=tracks, segment=np.zeros(n, int), filename=np.array([f"{t}.wav" for t in tracks])))
    train_recreation(fs, ["recreate-dense"], tmp_path, epochs=1, batch_size=8, progress=False, config={"hidden": 16})
    raw = torch.load(tmp_path / "models" / "recreate-dense.pt", weights_only=True)
    assert isinstance(raw["mfcc_mean"], torch.Tensor)
    rec = Recreator.load(tmp_path, "recreate-dense")
    assert isinstance(saved["mfcc_mean"], np.ndarray)  # the trainer's own values, as numpy
    for key, attr in (("mfcc_mean", "mean"), ("mfcc_std", "std"), ("genre_mean", "genre_mean"),
                      ("residual_std", "residual_std")):
        np.testing.assert_array_equal(getattr(rec, attr), saved[key])
        assert isinstance(rec.ckpt[key], np.ndarray)
    assert rec.mean.dtype == np.float32 and rec.genre_mean.shape == (2, 20)
    z = rec.standardise(maps[:1])
    np.testing.assert_allclose(rec.unstandardise(z), maps[:1], rtol=1e-4, atol=1e-3)


# --- 2. symbolic links stay inside the root -------------------------------------------------------


def test_symlinked_label_folder_outside_the_root_is_skipped(tmp_path: Path) -> None:
    root, elsewhere = tmp_path / "data", tmp_path / "elsewhere"
    _tone(root / "blues" / "blues.00000.wav")
    _tone(elsewhere / "secret" / "secret.00000.wav")
    os.symlink(elsewhere / "secret", root / "jazz")
    ds = discover(root)
    assert [c.path.name for c in ds.clips] == ["blues.00000.wav"]
    assert ds.skipped == [
        (root / "jazz", f"symbolic link to {(elsewhere / 'secret').resolve()} outside {root.resolve()}")
    ]


def test_symlinked_clip_to_a_system_file_is_never_opened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "data"
    _tone(root / "blues" / "blues.00000.wav")
    outside = tmp_path / "outside.txt"
    outside.write_text("root:x:0:0:root:/root:/bin/bash\n")
    os.symlink(outside, root / "blues" / "blues.00001.wav")
    opened: list[str] = []
    import genrelab.data.gtzan as gtzan

    monkeypatch.setattr(gtzan, "info", lambda p: opened.append(str(p)) or info(p))
    for check in (True, False):
        ds = discover(root, check=check)
        assert [c.path.name for c in ds.clips] == ["blues.00000.wav"]
        assert len(ds.skipped) == 1 and ds.skipped[0][0] == root / "blues" / "blues.00001.wav"
        assert ds.skipped[0][1].startswith(f"symbolic link to {outside.resolve()} outside")
    assert all("blues.00001" not in p for p in opened)


def test_symlinks_inside_the_root_are_followed_and_loops_end(tmp_path: Path) -> None:
    root = tmp_path / "data"
    _tone(root / "rock" / "live" / "a.wav")
    _tone(root / "pool" / "b.wav")
    os.symlink(root / "pool" / "b.wav", root / "rock" / "b_link.wav")  # a clip link inside the root
    os.symlink(root / "rock", root / "rock" / "live" / "loop")  # a folder loop
    ds = discover(root)
    rock = sorted(c.path.name for c in ds.clips if c.label == "rock")
    assert rock == ["a.wav", "b_link.wav"]
    assert ds.skipped == []


def test_only_outside_links_is_one_sentence(tmp_path: Path) -> None:
    root, elsewhere = tmp_path / "data", tmp_path / "elsewhere"
    root.mkdir()
    _tone(elsewhere / "x.wav")
    os.symlink(elsewhere, root / "jazz")
    with pytest.raises(DatasetError, match="symbolic link"):
        discover(root)


# --- 6. FIFOs and devices are named, never opened ------------------------------------------------


def test_fifo_is_not_a_regular_file(tmp_path: Path) -> None:
    fifo = tmp_path / "blues" / "blues.00001.wav"
    _tone(tmp_path / "blues" / "blues.00000.wav")
    os.mkfifo(fifo)
    for fn in (info, load):
        with pytest.raises(AudioError, match=r"not a regular file \(FIFO\)"):
            fn(fifo)
    ds = discover(tmp_path)
    assert ds.skipped == [(fifo, "not a regular file (FIFO)")]
    with pytest.raises(AudioError, match=r"not a regular file \(character device\)"):
        load("/dev/null")


# --- 3. worker processes: bounded, and they die with the parent ----------------------------------


def test_huge_worker_counts_are_refused(tmp_path: Path) -> None:
    clip = _tone(tmp_path / "blues" / "blues.00000.wav")
    with pytest.raises(ParameterError, match=f"at most {WORKERS_CAP}"):
        extract_table([clip], workers=100000, progress=False)
    with pytest.raises(ParameterError, match="more than"):
        extract_table([clip], workers=max_workers() + 1, progress=False)
    result = CliRunner().invoke(app, ["extract", str(tmp_path), "-o", str(tmp_path / "o.csv"), "--workers", "100000",
                                      "--no-progress"])
    assert result.exit_code == 2 and "error: workers=100000 is more than" in result.output
    assert not (tmp_path / "o.csv").exists()


_ORPHAN_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys, time
    sys.path.insert(0, {src!r})
    from genrelab.features.workers import pool

    ex = pool(2)
    pids = [ex.submit(os.getpid).result() for _ in range(6)]
    print(" ".join(map(str, sorted(ex._processes))), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_exit_when_the_parent_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "orphan.py"
    script.write_text(_ORPHAN_SCRIPT.format(src=str(REPO / "src")))
    log = tmp_path / "pids.txt"
    with open(log, "w") as out:  # a file, not a pipe: orphans holding a pipe would block the wait
        proc = subprocess.run([sys.executable, str(script)], stdout=out, stderr=subprocess.PIPE, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    pids = [int(p) for p in log.read_text().split()]
    assert len(pids) == 2
    deadline = time.monotonic() + 60  # generous: the kernel signal is immediate, the watchdog polls each second
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [p for p in pids if _alive(p)]
    for p in left:  # never leave them behind, even when the test fails
        os.kill(p, signal.SIGKILL)
    assert left == []


def test_pool_refuses_too_many_workers() -> None:
    with pytest.raises(ParameterError):
        pool(max_workers() + 1)
