"""Clips of any length (#13): the 0.5 s floor, the tempo fallback, padded maps, segment length end
to end, a folder of 2-3 s excerpts through extract/train/predict, and a 10-minute stereo file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from typer.testing import CliRunner

from genrelab.cli import app
from genrelab.data.synth import render_clip
from genrelab.features import FEATURE_COLUMNS, extract_clip, extract_table, load_maps, mfcc
from genrelab.features.lengths import TEMPO_FALLBACK_BPM, pad_to

runner = CliRunner()
SR = 22050
GENRES = ("blues", "classical", "metal", "pop")
FLOOR = "needs at least 0.5 s (11025 samples at 22050 Hz: enough STFT frames for every feature)"


def _clip(seconds: float, genre: str = "rock", index: int = 0) -> np.ndarray:
    return render_clip(genre, index=index, duration=max(seconds, 1.0))[: int(round(seconds * SR))]


@pytest.fixture(scope="module")
def short_files(tmp_path_factory) -> dict[float, Path]:
    """0.3, 0.6, 1.5 and 2.9 s clips cut from synthesised rock (16-bit WAV)."""
    root = tmp_path_factory.mktemp("short")
    files = {}
    for sec in (0.3, 0.6, 1.5, 2.9):
        files[sec] = root / f"rock.{int(sec * 10):05d}.wav"
        sf.write(files[sec], _clip(sec), SR, subtype="FLOAT")
    return files


@pytest.fixture(scope="module")
def excerpts(tmp_path_factory) -> Path:
    """A real-shaped collection of excerpts: 4 genres x 4 synthesised clips of 2.0-2.9 s."""
    root = tmp_path_factory.mktemp("excerpts")
    for genre in GENRES:
        (root / genre).mkdir()
        for k in range(4):
            y = render_clip(genre, index=k, duration=3.0)[: int((2.0 + 0.3 * k) * SR)]
            sf.write(root / genre / f"{genre}.{k:05d}.wav", y, SR)
    return root


@pytest.fixture(scope="module")
def runs(excerpts, tmp_path_factory) -> Path:
    """One run folder with a dense and a cnn model trained on the excerpts through the CLI."""
    run = tmp_path_factory.mktemp("run")
    for model, epochs in (("dense", "30"), ("cnn", "2")):
        res = runner.invoke(app, ["train", str(excerpts), "-m", model, "-o", str(run), "--epochs", epochs,
                                  "--device", "cpu", "-q"])
        assert res.exit_code == 0, res.output
    return run


def _predict(run: Path, *args: str) -> tuple[int, list[dict]]:
    res = runner.invoke(app, ["predict", str(run), *args, "--json", "--device", "cpu"])
    return res.exit_code, json.loads(res.stdout)


# -- the floor, the tempo fallback and padded maps -----------------------------------------


def test_short_clips_give_rows_and_padded_maps_and_03s_is_skipped_naming_the_floor(short_files, tmp_path):
    out = tmp_path / "t" / "t.csv"
    table = extract_table(list(short_files.values()), segment=3.0, out=out, maps_dir=tmp_path / "m", progress=False)
    assert table["filename"].tolist() == ["rock.00006.0.wav", "rock.00015.0.wav", "rock.00029.0.wav"]
    assert table["length"].tolist() == [int(round(s * SR)) for s in (0.6, 1.5, 2.9)]
    [(path, reason)] = table.attrs["skipped"]
    assert path == str(short_files[0.3]) and reason == f"too short (0.30 s); a clip {FLOOR}"
    # every feature of a short clip is the engine's on the same samples, except a fallback tempo
    for sec, row in zip((0.6, 1.5, 2.9), table.to_dict("records")):
        y, _ = sf.read(short_files[sec], dtype="float32")
        want = extract_clip(y)
        cols = [c for c in FEATURE_COLUMNS if c != "tempo"]
        np.testing.assert_allclose([row[c] for c in cols], [want[c] for c in cols], rtol=1e-6)
        assert row["tempo"] == (TEMPO_FALLBACK_BPM if sec < 2 else pytest.approx(want["tempo"]))
    notes = pd.read_csv(out.parent / "notes.csv")
    assert notes["filename"].tolist() == ["rock.00006.0.wav", "rock.00015.0.wav"]
    assert notes["note"][1] == ("tempo: 1.50 s is under the 2 s a tempo estimate needs; "
                                "tempo set to 120 bpm (the estimator's prior centre)")
    maps = load_maps(tmp_path / "m" / "maps.npz")
    assert maps.maps.shape == (3, 20, 130) and maps.segment_seconds == 3.0 and maps.pad == "reflect"
    assert maps.padded.tolist() == [True, True, True]
    np.testing.assert_allclose(maps.seconds, [0.6, 1.5, 2.9])
    y, _ = sf.read(short_files[1.5], dtype="float32")
    np.testing.assert_allclose(maps.maps[1], mfcc(pad_to(y, 3 * SR, mode="reflect")), rtol=1e-5, atol=1e-3)
    assert not np.allclose(maps.maps[1], mfcc(pad_to(y, 3 * SR, mode="zeros")), atol=1.0)


def test_a_clip_of_a_whole_segment_is_not_padded_and_other_pads_are_chosen(short_files, tmp_path):
    long = tmp_path / "rock.00040.wav"
    sf.write(long, _clip(4.0), SR, subtype="FLOAT")
    extract_table([short_files[1.5], long], segment=3.0, maps_dir=tmp_path / "m", progress=False, pad="zeros")
    maps = load_maps(tmp_path / "m" / "maps.npz")
    assert maps.padded.tolist() == [True, False] and maps.pad == "zeros"
    np.testing.assert_allclose(maps.seconds, [1.5, 3.0])
    y, _ = sf.read(short_files[1.5], dtype="float32")
    np.testing.assert_allclose(maps.maps[0], mfcc(pad_to(y, 3 * SR, mode="zeros")), rtol=1e-5, atol=1e-3)
    res = runner.invoke(app, ["extract", str(long), "-o", str(tmp_path / "x.csv"), "--pad", "mirror", "-q"])
    assert res.exit_code == 2
    assert "error: pad='mirror' is not a padding mode; choose from ['reflect', 'repeat', 'zeros']" in res.output


def test_extract_cli_prints_the_notes_and_an_offset_past_the_end(short_files, tmp_path):
    out = tmp_path / "o" / "t.csv"
    res = runner.invoke(app, ["extract", str(short_files[0.6]), "-o", str(out), "-q"], terminal_width=400)
    assert res.exit_code == 0, res.output
    assert f"1 row(s) with a note (see {out.parent / 'notes.csv'}), the first: tempo: 0.60 s" in " ".join(
        res.output.split()
    )
    res = runner.invoke(app, ["extract", str(short_files[1.5]), "-o", str(out), "--offset", "5", "-q"],
                        terminal_width=400)
    assert res.exit_code == 2
    text = " ".join(res.output.split())
    assert f"{short_files[1.5]}: offset 5 s is past the end of the file, which is 1.50 s long" in text


# -- the excerpt folder through train and predict ----------------------------------------


def test_excerpts_train_dense_and_cnn_and_record_the_segment(runs, excerpts):
    import torch

    ckpt = torch.load(runs / "models" / "cnn.pt", weights_only=True)
    assert ckpt["frames"] == 130 and ckpt["segment_seconds"] == 3.0 and ckpt["pad"] == "reflect"
    assert ckpt["config"]["segment_seconds"] == 3.0
    maps = load_maps(runs / "features" / "maps.npz")
    assert len(maps) == 16 and maps.padded.all() and maps.seconds.max() < 3.0
    table = pd.read_csv(runs / "features" / "features.csv")
    assert len(table) == 16 and np.isfinite(table[FEATURE_COLUMNS].to_numpy()).all()
    metrics = json.loads((runs / "metrics" / "dense.json").read_text())
    assert metrics["n_train"] + metrics["n_test"] == 16


def test_predict_short_clips_says_padded_and_seconds(runs, short_files):
    files = [str(short_files[s]) for s in (0.3, 0.6, 1.5, 2.9)]
    code, rows = _predict(runs, *files, "-m", "cnn")
    assert code == 1
    assert rows[0]["error"] == f"{files[0]}: too short (0.30 s read); a cnn prediction {FLOOR}"
    for sec, row in zip((0.6, 1.5, 2.9), rows[1:]):
        assert row["padded"] is True and row["seconds"] == sec and row["windows"] == 1, row
        assert row["window_seconds"] == 3.0
        assert row["note"] == f"{sec:.2f} s is shorter than the model's 3 s window: padded (reflect) to one window"
        assert sum(row["probabilities"].values()) == pytest.approx(1.0, abs=1e-6)
    res = runner.invoke(app, ["predict", str(runs), files[2], "-m", "cnn", "--device", "cpu"], terminal_width=300)
    text = " ".join(res.output.split())  # rich wraps at its own width
    assert res.exit_code == 0 and "1.5 s; 1.50 s is shorter than the model's 3 s window: padded (reflect)" in text
    code, [dense] = _predict(runs, files[2], "-m", "dense")
    assert code == 0 and "padded" not in dense and dense["windows"] == 1
    assert dense["note"].startswith("tempo feature set to 120 bpm: 1.50 s is under the 2 s")


def test_the_padded_prediction_is_the_prediction_of_the_padded_map(runs, short_files):
    from genrelab.classify import Classifier

    clf = Classifier.load(runs, "cnn")
    y, _ = sf.read(short_files[1.5], dtype="float32")
    want = clf.proba(mfcc(pad_to(y, 3 * SR, mode="reflect"))[None]).mean(0)
    np.testing.assert_allclose(clf.predict_proba_audio(y), want, rtol=1e-5, atol=1e-6)


def test_a_model_refuses_maps_of_another_segment_length(runs, excerpts, tmp_path):
    res = runner.invoke(app, ["evaluate", str(runs), str(excerpts), "-m", "cnn", "--segment", "2", "--device", "cpu",
                              "-q"], terminal_width=400)
    assert res.exit_code == 2
    assert res.output.startswith("error: the cnn model takes 3 s maps, not 2 s; evaluate it with --segment 3")
    assert res.output.count("\n") == 1
    assert not (runs / "evaluations" / excerpts.name / "features" / "maps.npz").exists()  # refused before extracting
    res = runner.invoke(app, ["evaluate", str(runs), str(excerpts), "-m", "cnn", "--device", "cpu", "-q"])
    assert res.exit_code == 0, res.output  # without --segment: the model's own 3 s
    from genrelab.classify import Classifier
    from genrelab.errors import ParameterError
    from genrelab.features import MapSet

    two = MapSet(maps=np.zeros((1, 20, 87)), filename=["a.wav"], track=["a"], label=["pop"], segment=[0],
                 segment_seconds=2.0)
    with pytest.raises(ParameterError, match="MFCC maps of 2 s segments \\(shape \\(20, 87\\)\\), but the cnn"):
        Classifier.load(runs, "cnn").check_maps(two, where="X")
    assert json.loads((runs / "metrics" / f"cnn.{excerpts.name}.json").read_text())["n_test"] == 16


def test_segment_length_is_a_parameter_end_to_end(excerpts, tmp_path):
    run = tmp_path / "run2"
    res = runner.invoke(app, ["train", str(excerpts), "-m", "convlstm", "-o", str(run), "--epochs", "1",
                              "--segment", "1", "--device", "cpu", "-q"])
    assert res.exit_code == 0, res.output
    import torch

    ckpt = torch.load(run / "models" / "convlstm.pt", weights_only=True)
    assert (ckpt["frames"], ckpt["segment_seconds"], ckpt["config"]["segment_seconds"]) == (44, 1.0, 1.0)
    maps = load_maps(run / "features" / "maps.npz")
    assert maps.segment_seconds == 1.0 and not maps.padded.any() and len(maps) == 16 * 2
    code, [row] = _predict(run, str(next((excerpts / "pop").glob("*.wav"))))
    assert code == 0 and row["window_seconds"] == 1.0 and row["windows"] == 2 and row["padded"] is False
    assert "mean of the probabilities of 2 windows of 1 s" in row["note"]
    res = runner.invoke(app, ["train", str(excerpts), "-m", "cnn", "-o", str(run), "--segment", "0.2", "-q"])
    assert res.exit_code == 2 and "error: segment=0.2 must be a number of seconds >= 0.5" in res.output


# -- a 10-minute stereo 44.1 kHz file ---------------------------------------------------


def test_a_ten_minute_stereo_file_through_extract_and_predict(runs, tmp_path):
    rate, seconds = 44100, 600
    rng = np.random.default_rng(7)
    t = np.arange(rate * seconds, dtype=np.float32) / rate
    left = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(t.size, dtype=np.float32)
    right = 0.3 * np.sin(2 * np.pi * 330 * t) * (np.sin(2 * np.pi * 0.5 * t) > 0)
    song = tmp_path / "song.wav"
    sf.write(song, np.stack([left, right], axis=1), rate, subtype="PCM_16")
    del t, left, right
    out = tmp_path / "o" / "t.csv"
    res = runner.invoke(app, ["extract", str(song), "-o", str(out), "-q"])
    assert res.exit_code == 0, res.output
    row = pd.read_csv(out).iloc[0]
    assert row["length"] == SR * seconds and np.isfinite(row[FEATURE_COLUMNS].to_numpy(dtype=float)).all()
    code, [p] = _predict(runs, str(song), "-m", "cnn")
    assert code == 0, p
    assert p["seconds"] == 600.0 and p["padded"] is False and p["windows"] == (1 + SR * seconds // 512) // 130
    assert f"mean of the probabilities of {p['windows']} windows of 3 s" in p["note"]
    code, [d] = _predict(runs, str(song), "-m", "dense")
    assert code == 0 and d["seconds"] == 600.0 and "note" not in d



def test_a_too_short_cached_under_the_old_3s_floor_is_extracted_again(short_files, tmp_path):
    from genrelab.features.cache import cache_write

    out = tmp_path / "o" / "t.csv"
    extract_table([short_files[1.5]], out=out, progress=False)
    [entry] = (tmp_path / "o" / "cache").glob("*.npz")
    cache_write(entry, {"error": "too short (1.50 s < 3 s)"})  # what the 3 s floor cached
    table = extract_table([short_files[1.5]], out=out, progress=False)
    assert table.attrs["n_computed"] == 1 and table["length"].tolist() == [int(1.5 * SR)]
    cache_write(entry, {"error": "silent"})  # any other cached failure is served as it is
    table = extract_table([short_files[1.5]], out=out, progress=False)
    assert table.attrs["n_cached"] == 1 and table.attrs["skipped"] == [(str(short_files[1.5]), "silent")]
