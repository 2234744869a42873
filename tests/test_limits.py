"""Costly or broken input: absurd sample rates, huge declared lengths, overflowing samples, full disks."""

from __future__ import annotations

import errno
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from typer.testing import CliRunner

import genrelab.features.table as table_mod
from genrelab.audio import MAX_SAMPLE_RATE, MAX_SECONDS, info, load
from genrelab.cli import app
from genrelab.data import discover
from genrelab.errors import AudioError, DatasetError
from genrelab.features import extract_table

SR = 22050


def _tone(path: Path, seconds: float = 3.5, freq: float = 440.0, sr: int = SR) -> Path:
    t = np.arange(int(seconds * sr)) / sr
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, (0.4 * np.sin(2 * np.pi * freq * t)).astype(np.float32), sr)
    return path


def _au(path: Path, *, rate: int, n_samples: int = 8000) -> Path:
    """A valid big-endian 16-bit PCM ``.au`` whose header declares ``rate`` Hz."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = struct.pack(">4sIIIII", b".snd", 24, 2 * n_samples, 3, rate, 1)
    samples = (np.sin(np.arange(n_samples) / 5) * 8000).astype(">i2").tobytes()
    path.write_bytes(header + samples)
    return path


def _sparse_wav(path: Path, *, data_bytes: int, sr: int = SR) -> Path:
    """A 16-bit mono WAV with a valid header for ``data_bytes`` of audio, made sparse by truncate."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = (
        b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE"
        + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, sr, 2 * sr, 2, 16)
        + b"data" + struct.pack("<I", data_bytes)
    )
    with open(path, "wb") as f:
        f.write(header)
        f.truncate(len(header) + data_bytes)
    return path


# --- 4. what a file may cost, bounded before decoding ------------------------------------------------


@pytest.mark.parametrize("rate", [1, 10, 999, MAX_SAMPLE_RATE + 1])
def test_absurd_sample_rates_are_refused_before_decoding(tmp_path: Path, rate: int) -> None:
    path = _au(tmp_path / "x.au", rate=rate)
    assert sf.info(str(path)).samplerate == rate  # libsndfile itself accepts the header
    for fn in (info, load):
        with pytest.raises(AudioError, match=f"sample rate {rate} Hz .* outside the supported 1000-384000 Hz"):
            fn(path)


def test_sane_au_rate_still_loads(tmp_path: Path) -> None:
    y = load(_au(tmp_path / "ok.au", rate=8000), sr=None)
    assert y.shape == (8000,)


def test_huge_declared_length_is_refused_without_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _sparse_wav(tmp_path / "huge.wav", data_bytes=2_000_000_000)
    assert path.stat().st_size > 2e9
    assert path.stat().st_blocks * 512 < 10_000_000  # sparse: the test writes almost nothing
    read_calls: list[int] = []
    real_read = sf.SoundFile.read
    monkeypatch.setattr(sf.SoundFile, "read", lambda self, *a, **k: read_calls.append(1) or real_read(self, *a, **k))
    for fn in (info, load):
        with pytest.raises(AudioError, match=r"too long \(755\.9 min at 22050 Hz, the limit is 30 min"):
            fn(path)
    assert read_calls == []


def test_a_part_of_a_long_file_can_still_be_read(tmp_path: Path) -> None:
    path = _sparse_wav(tmp_path / "long.wav", data_bytes=2 * SR * int(MAX_SECONDS + 60))  # 31 min of zeros
    y = load(path, sr=None, offset=60.0, duration=2.0)
    assert y.shape == (2 * SR,) and not np.any(y)
    with pytest.raises(AudioError, match="the part to read is too long"):
        load(path, sr=None, offset=1.0)  # still 30 min
    with pytest.raises(AudioError, match="too long"):
        load(path, sr=None, duration=MAX_SECONDS + 1)


def test_many_channels_are_bounded_by_samples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import genrelab.audio as audio

    path = tmp_path / "st.wav"
    sf.write(path, np.zeros((SR, 2), np.float32), SR)
    monkeypatch.setattr(audio, "MAX_SAMPLES", SR)  # one channel's worth
    with pytest.raises(AudioError, match="too large to decode \\(2 channels x 22050 frames"):
        load(path)
    assert load(path, duration=0.5).shape == (SR // 2,)


def test_costly_files_are_skipped_and_the_good_clips_extracted(tmp_path: Path) -> None:
    root = tmp_path / "data"
    good = [_tone(root / "blues" / f"blues.{i:05d}.wav", freq=220 * (i + 1)) for i in range(2)]
    one_hz = _au(root / "blues" / "blues.00002.au", rate=1)
    huge = _sparse_wav(root / "blues" / "blues.00003.wav", data_bytes=2_000_000_000)
    out = tmp_path / "out" / "features.csv"
    result = CliRunner().invoke(app, ["extract", str(root), "-o", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert sorted(table["filename"]) == [p.name for p in good]
    skipped = dict(pd.read_csv(out.parent / "skipped.csv").itertuples(index=False))
    assert set(skipped) == {str(one_hz), str(huge)}
    assert "sample rate 1 Hz" in skipped[str(one_hz)] and "too long" in skipped[str(huge)]
    # the same without discovery's header check: the loader refuses them inside the batch
    df = extract_table([*good, one_hz, huge], progress=False)
    assert len(df) == 2 and {p for p, _ in df.attrs["skipped"]} == {str(one_hz), str(huge)}


# --- 5. data quality: no NaN/inf rows, and an empty result is an error --------------------------------


def test_overflowing_float_samples_are_skipped_not_written(tmp_path: Path) -> None:
    root = tmp_path / "data"
    good = _tone(root / "pop" / "pop.00000.wav")
    loud = root / "pop" / "pop.00001.wav"
    t = np.arange(int(3.5 * SR)) / SR
    sf.write(loud, (1e30 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), SR, subtype="FLOAT")
    assert np.all(np.isfinite(sf.read(loud, dtype="float32")[0]))  # finite samples, the features overflow
    out = tmp_path / "out" / "features.csv"
    result = CliRunner().invoke(app, ["extract", str(root), "-o", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert list(table["filename"]) == [good.name]
    assert np.all(np.isfinite(table.select_dtypes("number").to_numpy()))
    skipped = pd.read_csv(out.parent / "skipped.csv")
    assert list(skipped["path"]) == [str(loud)]
    assert "NaN or infinite" in skipped["reason"][0] and "1e+30" in skipped["reason"][0]
    # segmented, and with maps: neither a row nor a map from the loud clip
    df = extract_table([good, loud], segment=3.0, maps_dir=tmp_path / "maps", progress=False)
    assert set(df["filename"]) == {"pop.00000.0.wav"} and np.all(np.isfinite(df.select_dtypes("number")))


def test_extract_exits_non_zero_when_nothing_was_extracted(tmp_path: Path) -> None:
    root = tmp_path / "data"
    _tone(root / "jazz" / "jazz.00000.wav", seconds=0.3)  # under the 0.5 s floor
    out = tmp_path / "out" / "features.csv"
    result = CliRunner().invoke(app, ["extract", str(root), "-o", str(out), "--segment", "3", "--no-progress"])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: nothing was extracted from") and result.output.count("\n") == 1
    assert str(out.parent / "skipped.csv") in result.output.replace("\n", "")
    skipped = pd.read_csv(out.parent / "skipped.csv")
    assert len(skipped) == 1 and skipped["reason"][0].startswith("too short")


def test_extract_of_a_folder_with_no_audio_exits_non_zero(tmp_path: Path) -> None:
    (tmp_path / "data" / "jazz").mkdir(parents=True)
    (tmp_path / "data" / "jazz" / "notes.txt").write_text("hi")
    result = CliRunner().invoke(app, ["extract", str(tmp_path / "data"), "-o", str(tmp_path / "o.csv")])
    assert result.exit_code == 2 and result.output.startswith("error: no audio files")


def test_extract_when_every_clip_is_unreadable_writes_skipped_and_fails(tmp_path: Path) -> None:
    root = tmp_path / "data"
    (root / "jazz").mkdir(parents=True)
    (root / "jazz" / "jazz.00000.wav").write_text("not audio")
    out = tmp_path / "out" / "features.csv"
    result = CliRunner().invoke(app, ["extract", str(root), "-o", str(out), "--no-progress"])
    assert result.exit_code == 2 and "nothing was extracted" in result.output
    assert (out.parent / "skipped.csv").is_file()
    assert "not readable as audio" in pd.read_csv(out.parent / "skipped.csv")["reason"][0]


# --- 7. a full disk ----------------------------------------------------------------------------------


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("target", ["to_csv", "to_parquet"])
def test_full_disk_is_one_sentence_and_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    clip = _tone(tmp_path / "blues" / "blues.00000.wav")
    out = tmp_path / "out" / "features.csv"
    monkeypatch.setattr(pd.DataFrame, target, _enospc)
    with pytest.raises(DatasetError) as err:
        extract_table([clip], out=out, progress=False)
    msg = str(err.value)
    assert msg.startswith(f"could not write features.csv in {out.parent}: No space left on device (ENOSPC)")
    assert "\n" not in msg and out.parent.is_dir()
    assert not out.exists() and not out.with_suffix(".parquet").exists()
    assert [p.name for p in out.parent.iterdir() if p.name != "cache"] == []  # no temporary left over


def test_full_disk_keeps_the_previous_table_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clip = _tone(tmp_path / "blues" / "blues.00000.wav")
    out = tmp_path / "out" / "features.csv"
    extract_table([clip], out=out, progress=False)
    before = out.read_bytes(), out.with_suffix(".parquet").read_bytes()
    monkeypatch.setattr(pd.DataFrame, "to_parquet", _enospc)
    with pytest.raises(DatasetError, match="ENOSPC"):
        table_mod.write_table(pd.DataFrame({"a": [1]}), out)
    assert (out.read_bytes(), out.with_suffix(".parquet").read_bytes()) == before


def test_full_disk_in_the_cache_and_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "data"
    _tone(root / "blues" / "blues.00000.wav")
    monkeypatch.setattr(np, "savez", _enospc)
    out = tmp_path / "out" / "features.csv"
    result = CliRunner().invoke(app, ["extract", str(root), "-o", str(out), "--no-progress"])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: could not write ") and "(ENOSPC)" in result.output
    assert not any(p.is_file() for p in (out.parent / "cache").glob("*"))


def test_discovery_reports_costly_headers(tmp_path: Path) -> None:
    root = tmp_path / "data"
    _tone(root / "rock" / "rock.00000.wav")
    _au(root / "rock" / "rock.00001.au", rate=10)
    ds = discover(root)
    assert len(ds.clips) == 1
    assert ds.skipped == [(root / "rock" / "rock.00001.au",
                           "sample rate 10 Hz in its header is outside the supported 1000-384000 Hz")]
