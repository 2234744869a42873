"""The procedural ten-genre corpus: files, determinism, validation, resume, and genre differences."""

from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf

from genrelab.audio import load
from genrelab.constants import GENRES
from genrelab.data.synth import instruments as ins
from genrelab.data.synth import render_clip, synthesise_corpus
from genrelab.errors import ParameterError

SR = 22050
DURATION = 5.0


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """2 clips per genre x 5 s, seed 0."""
    out = tmp_path_factory.mktemp("synth")
    return out, synthesise_corpus(out, clips_per_genre=2, duration=DURATION, sr=SR, seed=0, progress=False)


def test_corpus_layout_length_and_range(corpus):
    out, paths = corpus
    assert len(paths) == 20
    expected = sorted(out / g / f"{g}.{i:05d}.wav" for g in GENRES for i in range(2))
    assert sorted(paths) == expected
    assert sorted(p for p in out.rglob("*") if p.is_file()) == expected   # no temporary files left
    for p in paths:
        info = sf.info(str(p))
        assert (info.samplerate, info.channels, info.subtype) == (SR, 1, "PCM_16")
        assert info.frames == int(DURATION * SR)
        y = load(p, sr=SR)
        assert np.all(np.isfinite(y))
        assert np.max(np.abs(y)) <= 1.0
        assert np.sqrt(np.mean(y**2)) > 1e-3, f"{p.name} is (nearly) silent"


def test_render_clip_shape_dtype_and_peak():
    y = render_clip("jazz", index=3, duration=2.5, sr=16000, seed=7)
    assert y.shape == (40000,) and y.dtype == np.float32
    assert np.all(np.isfinite(y)) and 0.3 < np.max(np.abs(y)) <= 1.0


def test_same_seed_same_bytes_and_other_seed_differs(corpus, tmp_path):
    out, _ = corpus
    again = synthesise_corpus(tmp_path / "a", clips_per_genre=2, duration=DURATION, sr=SR, seed=0,
                              genres=["metal", "classical"], progress=False)
    for p in again:
        assert p.read_bytes() == (out / p.parent.name / p.name).read_bytes()
    other = synthesise_corpus(tmp_path / "b", clips_per_genre=1, duration=DURATION, sr=SR, seed=1,
                              genres=["metal"], progress=False)
    assert other[0].read_bytes() != (out / "metal" / "metal.00000.wav").read_bytes()
    # clips of one genre and seed differ from one another, too
    assert not np.array_equal(render_clip("pop", index=0, duration=1.0), render_clip("pop", index=1, duration=1.0))


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"clips_per_genre": 0}, "clips_per_genre=0"),
        ({"clips_per_genre": 2.5}, "clips_per_genre=2.5"),
        ({"duration": -1.0}, "duration=-1.0"),
        ({"duration": 0}, "duration=0"),
        ({"duration": 601.0}, "duration=601.0"),
        ({"duration": float("nan")}, "duration=nan"),
        ({"sr": 100}, "sr=100"),
        ({"sr": 200000}, "sr=200000"),
        ({"sr": 22050.0}, "sr=22050.0"),
        ({"seed": -3}, "seed=-3"),
        ({"genres": ["blues", "polka"]}, "'polka'"),
        ({"genres": []}, "genres"),
    ],
)
def test_bad_options_raise_parameter_error(tmp_path, kwargs, needle):
    with pytest.raises(ParameterError) as err:
        synthesise_corpus(tmp_path / "out", **{"clips_per_genre": 1, "duration": 1.0, "progress": False, **kwargs})
    assert needle in str(err.value)
    assert not (tmp_path / "out").exists()   # validation happens before any work


def test_unknown_genre_names_the_choices():
    with pytest.raises(ParameterError, match=r"unknown genre 'polka'.*classical"):
        render_clip("polka", index=0, duration=1.0)
    with pytest.raises(ParameterError, match="index=-1"):
        render_clip("rock", index=-1, duration=1.0)


def test_out_that_is_a_file_is_refused(tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("x")
    with pytest.raises(ParameterError, match="not a folder"):
        synthesise_corpus(f, clips_per_genre=1, duration=1.0, progress=False)


def test_resume_keeps_complete_files_and_redoes_broken_ones(tmp_path):
    kw = dict(clips_per_genre=2, duration=1.5, sr=SR, seed=0, genres=["reggae", "rock"], progress=False)
    paths = synthesise_corpus(tmp_path, **kw)
    original = {p: p.read_bytes() for p in paths}
    stamps = {p: p.stat().st_mtime_ns for p in paths}
    broken, short = paths[0], paths[3]
    broken.write_bytes(b"not a wav file")
    sf.write(str(short), np.zeros(100, dtype=np.float32), SR, subtype="PCM_16")   # readable but too short
    again = synthesise_corpus(tmp_path, **kw)
    assert again == paths
    for p in paths:
        assert p.read_bytes() == original[p]
        if p not in (broken, short):
            assert p.stat().st_mtime_ns == stamps[p], f"{p.name} was rewritten although complete"


def _percussive_fraction(y: np.ndarray) -> float:
    S = np.abs(librosa.stft(y))
    _, P = librosa.decompose.hpss(S)
    return float(np.sum(P**2) / np.sum(S**2))


def test_genres_differ_the_way_real_ones_do(corpus):
    out, _ = corpus
    clips = {g: [load(out / g / f"{g}.{i:05d}.wav", sr=SR) for i in range(2)] for g in ("classical", "metal")}
    perc = {g: [_percussive_fraction(y) for y in ys] for g, ys in clips.items()}
    flat = {g: [float(librosa.feature.spectral_flatness(y=y).mean()) for y in ys] for g, ys in clips.items()}
    cent = {g: [float(librosa.feature.spectral_centroid(y=y, sr=SR).mean()) for y in ys] for g, ys in clips.items()}
    crest = {g: [float(np.max(np.abs(y)) / np.sqrt(np.mean(y**2))) for y in ys] for g, ys in clips.items()}
    # classical: no drums; metal: double kick and cymbals (seen values ~0.01 vs ~0.07-0.16)
    assert max(perc["classical"]) < 0.5 * min(perc["metal"]), perc
    # distorted guitars are noise-like and bright (seen ~0.001 vs >0.02; ~1300 Hz vs >2200 Hz)
    assert max(flat["classical"]) * 5 < min(flat["metal"]), flat
    assert max(cent["classical"]) < min(cent["metal"]), cent
    # classical keeps its dynamics, metal is compressed (seen crest ~4-10 vs ~2-3)
    assert min(crest["classical"]) > max(crest["metal"]), crest


def test_tempo_ranges_follow_the_genres():
    from genrelab.data.synth import clip_rng
    from genrelab.data.synth.genres import ARRANGERS

    def bpm(genre: str, i: int) -> float:
        score, _ = ARRANGERS[genre](clip_rng(genre, index=i, seed=0), SR, SR)
        return score.bpm

    hiphop = [bpm("hiphop", i) for i in range(5)]
    disco = [bpm("disco", i) for i in range(5)]
    reggae = [bpm("reggae", i) for i in range(5)]
    assert max(hiphop) < min(disco) and max(reggae) < min(disco)
    assert all(80 <= b <= 100 for b in hiphop) and all(110 <= b <= 132 for b in disco)


@pytest.mark.parametrize("midi", [40, 57, 69, 81])
def test_karplus_strong_is_in_tune(midi):
    f0 = ins.hz(midi)
    y = ins.karplus_strong(f0, SR, SR, np.random.default_rng(0), brightness=0.5, decay=3.0)
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y)), n=8 * len(y)))
    freqs = np.fft.rfftfreq(8 * len(y), 1 / SR)
    band = (freqs > 0.8 * f0) & (freqs < 1.2 * f0)
    peak = freqs[band][np.argmax(spec[band])]
    assert abs(peak / f0 - 1) < 0.003, (peak, f0)   # within ~5 cents


def test_karplus_strong_blockwise_matches_a_sample_loop():
    rng_a, rng_b = np.random.default_rng(1), np.random.default_rng(1)
    f0, n = 233.0, 3000
    fast = ins.karplus_strong(f0, n, SR, rng_a, brightness=0.7, decay=1.0, pick=0.2)
    # the same recursion, one sample at a time
    period = SR / f0
    m = int(np.floor(period - 0.5))
    frac = period - 0.5 - m
    g = 10.0 ** (-3.0 / (1.0 * f0))
    c = (g * 0.5 * (1 - frac), g * 0.5, g * 0.5 * frac)
    length = int(np.ceil(period))
    from scipy import signal

    a = 1.0 - 0.95 * 0.7
    burst = signal.lfilter([1 - a], [1, -a], rng_b.uniform(-1, 1, length))
    shift = int(0.2 * length)
    burst[shift:] -= burst[:-shift]
    burst -= burst.mean()
    x = np.zeros(n)
    x[:length] = burst
    y = np.zeros(n)
    for i in range(n):
        fb = sum(ck * y[i - m - k] for k, ck in enumerate(c) if i - m - k >= 0)
        y[i] = x[i] + fb
    np.testing.assert_allclose(fast, y / np.max(np.abs(y)), atol=1e-9)
