"""Motion and diversity measures on known signals (genrelab.motion)."""

from __future__ import annotations

import numpy as np
import pytest

from genrelab import motion
from genrelab.errors import ParameterError

SR = 22050


def _clicks(rate_hz: float, seconds: float = 6.0, sr: int = SR) -> np.ndarray:
    y = np.zeros(int(seconds * sr), np.float32)
    rng = np.random.default_rng(0)
    click = (rng.standard_normal(256) * np.exp(-np.arange(256) / 40.0)).astype(np.float32)
    for start in np.arange(0.1, seconds - 0.05, 1.0 / rate_hz):
        i = int(start * sr)
        y[i : i + 256] += click
    return y + 1e-4 * rng.standard_normal(y.size).astype(np.float32)


@pytest.mark.parametrize("rate", [2.0, 3.0])
def test_click_train_peaks_at_its_rate(rate):
    share, peak = motion.beat_band(_clicks(rate), SR)
    assert peak == pytest.approx(rate, abs=0.1)
    assert 0.0 < share <= 1.0
    r, period = motion.onset_autocorr_peak(_clicks(rate), SR)
    beats = period * rate  # the best lag is a whole number of periods (frame rounding decides which)
    assert round(beats) >= 1 and beats == pytest.approx(round(beats), abs=0.05)
    assert r > 0.5


def test_noise_has_weaker_pulse_than_clicks():
    rng = np.random.default_rng(1)
    noise = (0.1 * rng.standard_normal(6 * SR)).astype(np.float32)
    assert motion.onset_autocorr_peak(noise, SR)[0] < motion.onset_autocorr_peak(_clicks(2.0), SR)[0] - 0.3
    assert motion.beat_band(noise, SR)[0] < motion.beat_band(_clicks(2.0), SR)[0]


def test_silence_is_flat():
    y = np.zeros(3 * SR, np.float32)
    share, peak = motion.beat_band(y, SR)
    assert share == 0.0 and np.isnan(peak)
    assert motion.onset_autocorr_peak(y, SR)[0] == 0.0


def test_frame_change_constant_zero_and_shapes():
    const = np.full((20, 50), -3.0)
    assert float(motion.frame_change(const)) == 0.0
    ramp = np.tile(np.arange(50.0), (20, 1))
    assert float(motion.frame_change(ramp)) == pytest.approx(1.0)
    batch = np.stack([const, ramp, 2 * ramp])
    np.testing.assert_allclose(motion.frame_change(batch), [0.0, 1.0, 2.0])
    with pytest.raises(ParameterError, match="at least 2 frames"):
        motion.frame_change(np.zeros((20, 1)))


def test_diversity_identical_zero_and_known_value():
    x = np.tile(np.arange(6.0), (5, 1))
    assert motion.diversity(x) == 0.0
    pts = np.array([[0.0, 0.0], [3.0, 4.0]])
    assert motion.diversity(pts) == pytest.approx(5.0)
    assert motion.diversity(pts, scale=np.array([3.0, 4.0])) == pytest.approx(np.sqrt(2.0))
    grouped = motion.grouped_diversity(np.vstack([pts, x[:2, :2]]), ["a", "a", "b", "b"])
    assert grouped == {"a": pytest.approx(5.0), "b": 0.0}
    with pytest.raises(ParameterError, match="at least 2 clips"):
        motion.diversity(pts[:1])


def test_ratios():
    out = motion.ratios({"a": 1.0, "b": 2.0, "c": 1.0}, {"a": 2.0, "b": 0.0})
    assert out["a"] == 0.5 and np.isnan(out["b"]) and "c" not in out


def test_genre_mean_frame_repeated_scores_below_real_clips():
    from genrelab.data.synth import render_clip
    from genrelab.features import mfcc
    from genrelab.invert import mfcc_to_audio

    real = np.stack([render_clip("disco", index=i, duration=6.0, seed=3) for i in range(4)])
    maps = np.stack([mfcc(y) for y in real])  # (4, 20, T)
    proto = np.repeat(maps.mean(axis=(0, 2))[None, :, None], maps.shape[-1], axis=2)
    protos = np.repeat(proto, 4, axis=0)  # (4, 20, T): one prototype, four times
    assert float(motion.frame_change(protos).mean()) < 0.1 * float(motion.frame_change(maps).mean())
    assert motion.diversity(motion.clip_summary(protos)) < 0.1 * motion.diversity(motion.clip_summary(maps))
    audio = mfcc_to_audio(protos.astype(np.float32))
    fake = motion.audio_motion(audio, SR)
    true = motion.audio_motion(real, SR)
    assert fake["beat_share"].mean() < true["beat_share"].mean()
    assert fake["autocorr_peak"].mean() < true["autocorr_peak"].mean()
    re_maps = np.stack([mfcc(y) for y in audio])
    assert float(motion.frame_change(re_maps).mean()) < float(motion.frame_change(maps).mean())
