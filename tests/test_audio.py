"""genrelab.audio: every format GTZAN copies come in, and the bad files a user meets."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from genrelab.audio import info, load, save
from genrelab.constants import GENRES
from genrelab.errors import AudioError, ParameterError

SR = 22050


def sine(freq: float = 440.0, seconds: float = 1.0, sr: int = SR, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_hz(y: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(y * np.hanning(y.size)))
    return float(np.fft.rfftfreq(y.size, 1 / sr)[spectrum.argmax()])


# --- formats ---------------------------------------------------------------------------------

LOSSLESS = [("wav", "WAV", "PCM_16"), ("au", "AU", "PCM_16"), ("aiff", "AIFF", "PCM_16"), ("flac", "FLAC", "PCM_16")]
LOSSY = [("ogg", "OGG", "VORBIS"), ("mp3", "MP3", "MPEG_LAYER_III")]


@pytest.mark.parametrize("ext,fmt,subtype", LOSSLESS)
def test_lossless_formats_read_back_exactly(tmp_path: Path, ext: str, fmt: str, subtype: str) -> None:
    y = sine()
    path = tmp_path / f"clip.{ext}"
    sf.write(path, y, SR, format=fmt, subtype=subtype)
    got = load(path)
    assert got.dtype == np.float32 and got.shape == y.shape
    np.testing.assert_allclose(got, y, atol=1.5 / 32768)  # 16-bit quantisation
    assert info(path) == (SR, 1, pytest.approx(1.0, abs=1e-9))


@pytest.mark.parametrize("ext,fmt,subtype", LOSSY)
def test_lossy_formats_keep_pitch_and_level(tmp_path: Path, ext: str, fmt: str, subtype: str) -> None:
    if fmt not in sf.available_formats():
        pytest.skip(f"this libsndfile ({sf.__libsndfile_version__}) cannot write {fmt}")
    y = sine(seconds=2.0)
    path = tmp_path / f"clip.{ext}"
    sf.write(path, y, SR, format=fmt, subtype=subtype)
    got = load(path)
    assert got.dtype == np.float32 and got.ndim == 1
    assert abs(got.size - y.size) <= 0.05 * SR  # encoder padding only
    assert peak_hz(got, SR) == pytest.approx(440.0, abs=2.0)
    rms = lambda a: float(np.sqrt(np.mean(a**2)))  # noqa: E731
    assert rms(got) == pytest.approx(rms(y), rel=0.1)


def test_stereo_44k_is_mixed_to_mono_22050(tmp_path: Path) -> None:
    left = sine(440.0, 2.0, 44100)
    stereo = np.stack([left, -left], axis=1)  # opposite channels cancel in the mix
    sf.write(tmp_path / "anti.wav", stereo, 44100, subtype="FLOAT")
    same = np.stack([left, left], axis=1)
    sf.write(tmp_path / "same.wav", same, 44100, subtype="FLOAT")

    anti = load(tmp_path / "anti.wav")
    assert anti.shape == (2 * SR,)
    assert np.max(np.abs(anti)) < 1e-6
    mono = load(tmp_path / "same.wav")
    assert mono.shape == (2 * SR,)
    assert peak_hz(mono, SR) == pytest.approx(440.0, abs=1.0)
    expected = sine(440.0, 2.0, SR)
    np.testing.assert_allclose(mono[1000:-1000], expected[1000:-1000], atol=2e-3)  # soxr HQ, away from edges

    both = load(tmp_path / "same.wav", mono=False, sr=None)
    assert both.shape == (2, 2 * 44100)


def test_offset_and_duration_select_the_right_samples(tmp_path: Path) -> None:
    y = np.linspace(-0.5, 0.5, SR, dtype=np.float32)
    sf.write(tmp_path / "ramp.wav", y, SR, subtype="FLOAT")
    got = load(tmp_path / "ramp.wav", offset=0.25, duration=0.5)
    np.testing.assert_array_equal(got, y[SR // 4 : SR // 4 + SR // 2])


def test_save_round_trip(tmp_path: Path) -> None:
    y = sine(220.0, 0.5)
    path = save(tmp_path / "sub" / "out.wav", y, sr=SR)
    np.testing.assert_allclose(load(path), y, atol=1.5 / 32768)
    assert [p.name for p in path.parent.iterdir()] == ["out.wav"]  # no temporary left behind


# --- bad files as users meet them ------------------------------------------------------------


def test_truncated_wav_au_aiff_are_reported(tmp_path: Path) -> None:
    """libsndfile reads these cut short without complaint; a cut download must not pass as a clip."""
    y = sine(seconds=1.0)
    for ext in ("wav", "au", "aiff"):
        full = tmp_path / f"full.{ext}"
        sf.write(full, y, SR, subtype="PCM_16")
        data = full.read_bytes()
        cut = tmp_path / f"cut.{ext}"
        cut.write_bytes(data[: len(data) // 2])
        with pytest.raises(AudioError, match="truncated"):
            load(cut)
        with pytest.raises(AudioError, match="truncated"):
            info(cut)
        assert load(full).size == y.size  # the whole file still reads


def test_header_only_wav(tmp_path: Path) -> None:
    sf.write(tmp_path / "full.wav", sine(), SR)
    (tmp_path / "head.wav").write_bytes((tmp_path / "full.wav").read_bytes()[:30])
    with pytest.raises(AudioError, match=r"head\.wav: not readable as audio"):
        load(tmp_path / "head.wav")


def test_truncated_flac_fails_on_load(tmp_path: Path) -> None:
    sf.write(tmp_path / "full.flac", np.random.default_rng(0).uniform(-0.5, 0.5, SR).astype(np.float32), SR)
    data = (tmp_path / "full.flac").read_bytes()
    (tmp_path / "cut.flac").write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioError, match="cut.flac"):
        load(tmp_path / "cut.flac")


@pytest.mark.parametrize("ext", ["wav", "au", "snd", "aiff", "flac", "ogg", "mp3"])
def test_text_file_named_as_audio(tmp_path: Path, ext: str) -> None:
    """libsndfile reads a .au without header as raw mu-law; genrelab must refuse it like the rest."""
    path = tmp_path / f"notes.{ext}"
    path.write_text("these are my notes, not audio\n" * 10)
    with pytest.raises(AudioError, match=rf"notes\.{ext}: not readable as audio"):
        load(path)
    with pytest.raises(AudioError, match="not readable"):
        info(path)


def test_kaggle_style_corrupt_header(tmp_path: Path) -> None:
    """Like the Kaggle copy's jazz.00054.wav: audio bytes without a RIFF header."""
    sf.write(tmp_path / "ok.wav", sine(), SR)
    (tmp_path / "jazz.00054.wav").write_bytes(b"\x00" * 4 + (tmp_path / "ok.wav").read_bytes()[4:])
    with pytest.raises(AudioError, match="jazz.00054.wav"):
        load(tmp_path / "jazz.00054.wav")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    path.touch()
    with pytest.raises(AudioError, match="empty file"):
        load(path)
    with pytest.raises(AudioError, match="empty file"):
        info(path)


def test_silence_loads_as_zeros(tmp_path: Path) -> None:
    sf.write(tmp_path / "silence.wav", np.zeros(SR, dtype=np.float32), SR)
    y = load(tmp_path / "silence.wav")
    assert y.shape == (SR,) and not np.any(y)


def test_too_short_for_the_callers_minimum(tmp_path: Path) -> None:
    sf.write(tmp_path / "short.wav", sine(seconds=2.0), SR)
    with pytest.raises(AudioError, match=r"short\.wav: too short \(2\.00 s < 3 s\)"):
        load(tmp_path / "short.wav", min_duration=3.0)
    assert load(tmp_path / "short.wav", min_duration=2.0).size == 2 * SR


def test_nan_samples(tmp_path: Path) -> None:
    y = sine()
    y[100:200] = np.nan
    sf.write(tmp_path / "some_nan.wav", y, SR, subtype="FLOAT")
    with pytest.raises(AudioError, match="contains NaN"):
        load(tmp_path / "some_nan.wav")
    sf.write(tmp_path / "all_nan.wav", np.full(SR, np.nan, dtype=np.float32), SR, subtype="FLOAT")
    with pytest.raises(AudioError, match="all samples are NaN"):
        load(tmp_path / "all_nan.wav")


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="no such file"):
        load(tmp_path / "nowhere" / "clip.wav")
    with pytest.raises(AudioError, match="no such file"):
        info(tmp_path / "clip.wav")
    with pytest.raises(AudioError, match="is a folder"):
        load(tmp_path)


def test_bad_parameters(tmp_path: Path) -> None:
    sf.write(tmp_path / "a.wav", sine(), SR)
    for kwargs in ({"sr": 0}, {"offset": -1.0}, {"duration": 0.0}):
        with pytest.raises(ParameterError):
            load(tmp_path / "a.wav", **kwargs)


# --- the real GTZAN .au clips ----------------------------------------------------------------


def test_real_gtzan_au_clips(gtzan_dir: Path) -> None:
    with open(gtzan_dir / "features_30_sec.csv", newline="") as f:
        lengths = {row["filename"]: int(row["length"]) for row in csv.DictReader(f)}
    for genre in GENRES:
        path = gtzan_dir / "genres" / genre / f"{genre}.00000.au"
        if not path.is_file():
            pytest.skip(f"{path} not found")
        sr, channels, seconds = info(path)
        assert (sr, channels) == (SR, 1)
        y = load(path)
        assert y.dtype == np.float32 and y.shape == (lengths[f"{genre}.00000.wav"],)
        assert seconds == pytest.approx(y.size / SR)
        assert 0.0 < np.max(np.abs(y)) <= 1.0


def test_samples_that_overflow_when_mixed_are_an_audio_error(tmp_path) -> None:
    """Finite float samples near the float32 limit overflow in the mono mix-down: one reason, no inf output."""
    import soundfile as sf

    from genrelab.audio import load
    from genrelab.errors import AudioError

    path = tmp_path / "huge.wav"
    y = np.full((4096, 2), 3.0e38, dtype=np.float32)
    sf.write(path, y, 22050, subtype="FLOAT")
    with pytest.raises(AudioError, match="overflow"):
        load(path, sr=22050)
