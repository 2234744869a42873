"""The fused engine against librosa (genrelab.features.reference) and known answers."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage

from genrelab.errors import AudioError, ParameterError
from genrelab.features import FEATURE_COLUMNS, extract_clip, mfcc
from genrelab.features.engine import extract_features, stft
from genrelab.features.hpss import istft
from genrelab.features.median import median_filter_columns, median_filter_rows
from genrelab.features.reference import reference_features
from genrelab.features.tempo import tempo_from_onset

SR = 22050
RTOL = 1e-3


def _sine(freq: float, seconds: float = 3.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _chirp(seconds: float = 3.0) -> np.ndarray:
    import scipy.signal

    t = np.arange(int(seconds * SR)) / SR
    return (0.4 * scipy.signal.chirp(t, f0=100, t1=seconds, f1=8000, method="logarithmic")).astype(np.float32)


def _noise(seconds: float = 3.0, seed: int = 0) -> np.ndarray:
    return (0.2 * np.random.default_rng(seed).standard_normal(int(seconds * SR))).astype(np.float32)


def _clicks(bpm: float = 120.0, seconds: float = 6.0) -> np.ndarray:
    y = np.zeros(int(seconds * SR), dtype=np.float32)
    period = int(round(60.0 / bpm * SR))
    burst = np.hanning(64).astype(np.float32) * np.sin(np.arange(64) * 1.3).astype(np.float32)
    for start in range(0, y.size - 64, period):
        y[start:start + 64] += burst
    return y


def _mixture(seconds: float = 4.0) -> np.ndarray:
    return (_sine(220, seconds, 0.3) + _sine(660, seconds, 0.1) + 0.5 * _clicks(100, seconds)
            + 0.02 * _noise(seconds, seed=3)).astype(np.float32)


SIGNALS = {"sine": _sine(440.0), "chirp": _chirp(), "noise": _noise(), "clicks": _clicks(seconds=4.0),
           "mixture": _mixture(3.0)}


def _atol(name: str, ref: dict[str, float]) -> float:
    """Absolute tolerance where a value can sit near zero: 1e-3 of the feature's typical scale.

    The typical scale of a waveform or MFCC mean is its own spread (sqrt of the matching *_var);
    MFCC means are in dB, where the scale is at least 1 dB.
    """
    if name.endswith("_mean") and name.split("_")[0] in ("harmony", "perceptr"):
        return 1e-3 * np.sqrt(ref[name.replace("_mean", "_var")])
    if name.startswith("mfcc") and name.endswith("_mean"):
        return 1e-3 * max(1.0, np.sqrt(ref[name.replace("_mean", "_var")]))
    return 0.0


@pytest.fixture(scope="module")
def references() -> dict[str, dict[str, float]]:
    return {name: reference_features(y, sr=SR) for name, y in SIGNALS.items()}


@pytest.mark.parametrize("name", sorted(SIGNALS))
def test_every_feature_matches_librosa(name: str, references) -> None:
    ref = references[name]
    got = extract_clip(SIGNALS[name], sr=SR)
    assert list(got) == FEATURE_COLUMNS
    bad = {c: (got[c], ref[c]) for c in FEATURE_COLUMNS
           if not np.isclose(got[c], ref[c], rtol=RTOL, atol=_atol(c, ref))}
    assert not bad, f"{name}: features outside rtol {RTOL}: {bad}"


def test_subset_equals_full_on_shared_columns() -> None:
    y = SIGNALS["mixture"]
    full, _ = extract_features(y)
    sub, _ = extract_features(y, subset=True)
    assert set(sub) == set(FEATURE_COLUMNS) - {"harmony_mean", "harmony_var", "perceptr_mean", "perceptr_var", "tempo"}
    assert all(sub[c] == full[c] for c in sub)


def test_mfcc_equals_librosa() -> None:
    import librosa

    for y in (SIGNALS["noise"], SIGNALS["mixture"]):
        ours = mfcc(y, sr=SR)
        ref = librosa.feature.mfcc(y=y, sr=SR)
        assert ours.shape == ref.shape == (20, 1 + y.size // 512)
        np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-3)  # dB units


def test_stft_and_istft_match_librosa() -> None:
    import librosa

    y = SIGNALS["chirp"]
    D = stft(y)
    ref = librosa.stft(y)
    np.testing.assert_allclose(D.T, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())
    back = istft(D, hop_length=512, length=y.size)
    np.testing.assert_allclose(back, librosa.istft(ref, length=y.size), atol=1e-5)
    np.testing.assert_allclose(back, y, atol=1e-5)


@pytest.mark.parametrize("subset", [True, False])
def test_compiled_spectral_blocks_give_the_bits_of_the_python_loop(monkeypatch, subset: bool) -> None:
    """The STFT + spectral pass in one compiled call (FFTW from numba, 16-frame blocks) gives every
    feature the bits of the engine's Python loop over 64-frame blocks, and it is the path taken."""
    from genrelab.dsp import fft
    from genrelab.features import engine, stft_blocks

    if not fft.HAVE_FFTW:
        pytest.skip("pyfftw is not installed")
    rng = np.random.default_rng(11)
    y = (0.2 * rng.standard_normal(22050 * 3) + 0.3 * np.sin(np.arange(22050 * 3) * 0.07)).astype(np.float32)
    calls = {"n": 0}
    real = stft_blocks.fftw_spectral_blocks

    def counting(*args):
        calls["n"] += 1
        return real(*args)

    monkeypatch.setattr(engine, "fftw_spectral_blocks", counting)
    fused = extract_features(y, subset=subset)[0]
    assert calls["n"] == 1
    monkeypatch.setattr(engine, "raw_plans", lambda plan: None)
    loop = extract_features(y, subset=subset)[0]
    assert calls["n"] == 1 and fused.keys() == loop.keys()
    for key in fused:
        np.testing.assert_array_equal(np.float64(fused[key]), np.float64(loop[key]), err_msg=key)


def test_sine_centroid_is_its_frequency() -> None:
    for freq in (500.0, 1000.0, 3000.0):
        feats = extract_clip(_sine(freq))
        assert feats["spectral_centroid_mean"] == pytest.approx(freq, rel=0.01)
        assert feats["rms_mean"] == pytest.approx(0.5 / np.sqrt(2), rel=0.02)


@pytest.mark.parametrize("period", [10, 50, 100])
def test_square_wave_zero_crossing_rate_is_two_over_period(period: int) -> None:
    # 20 s, so the two half-padded frames at each end (edge padding: no crossings) weigh < 0.2 %
    n = 20 * SR
    y = np.where((np.arange(n) % period) < period // 2, 0.5, -0.5).astype(np.float32)
    feats, _ = extract_features(y, subset=True)
    assert abs(feats["zero_crossing_rate_mean"] - 2.0 / period) < 0.005 * 2.0 / period


def test_click_train_tempo() -> None:
    feats = extract_clip(_clicks(120.0, seconds=10.0))
    assert feats["tempo"] == pytest.approx(120.0, rel=0.03)


def test_tempo_estimate_equals_librosa_on_random_envelopes() -> None:
    import librosa

    rng = np.random.default_rng(1)
    for n in (50, 400, 1300):
        env = rng.random(n).astype(np.float32) ** 4
        ref = float(librosa.feature.tempo(onset_envelope=env, sr=SR)[0])
        assert tempo_from_onset(env, sr=SR, hop_length=512) == ref


@pytest.mark.parametrize("shape,size", [((7, 300), 31), ((3, 10), 31), ((5, 64), 5), ((2, 1), 3), ((4, 50), 4)])
def test_median_filter_equals_scipy(shape, size) -> None:
    rng = np.random.default_rng(sum(shape) + size)
    x = rng.standard_normal(shape).astype(np.float32)
    x[:, ::4] = 0.25  # ties
    ours = median_filter_rows(x, size=size)
    ref = scipy.ndimage.median_filter(x, size=(1, size), mode="reflect")
    assert ours.dtype == x.dtype
    np.testing.assert_array_equal(ours, ref)


def test_median_filter_equals_scipy_with_heavy_ties_and_infinities() -> None:
    rng = np.random.default_rng(7)
    x = rng.integers(0, 4, size=(6, 400)).astype(np.float64)  # four distinct values only
    x[0] = 2.0  # a constant row
    x[1, ::9] = np.inf
    x[2, ::11] = -np.inf
    np.testing.assert_array_equal(median_filter_rows(x, size=31),
                                  scipy.ndimage.median_filter(x, size=(1, 31), mode="reflect"))


def _sorted_window_median(x: np.ndarray, size: int) -> np.ndarray:
    """The plain definition along the last axis: sort each reflected window, take rank size // 2."""
    h = size // 2
    n = x.shape[1]
    ext = x[:, _reflect(n, h, size)]
    windows = np.lib.stride_tricks.sliding_window_view(ext, size, axis=1)[:, :n]
    return np.sort(windows, axis=-1)[..., h]


def _reflect(n: int, h: int, k: int) -> np.ndarray:
    """scipy's "reflect" source index of each extended position ``-h .. n - h + k - 2``."""
    idx = np.arange(-h, n - h + k - 1) % (2 * n)
    return np.where(idx < n, idx, 2 * n - 1 - idx)


def _ring_median_rows(x: np.ndarray, k: int) -> np.ndarray:
    """The previous implementation in plain Python (ring buffer per row, rank tracked by counting),
    kept as a reference: the new filter must give the very same numbers."""
    h = k // 2
    out = np.empty_like(x)
    for r in range(x.shape[0]):
        ext = x[r, _reflect(x.shape[1], h, k)]
        ring = list(ext[:k])
        m = sorted(ring)[h]
        out[r, 0] = m
        for i in range(1, x.shape[1]):
            ring[(i - 1) % k] = ext[i - 1 + k]
            below = sum(v < m for v in ring)
            upto = sum(v <= m for v in ring)
            if below > h:
                m = max(v for v in ring if v < m)
            elif upto <= h:
                m = min(v for v in ring if v > m)
            out[r, i] = m
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,size", [((70, 131), 31), ((40, 9), 31), ((3, 200), 5), ((65, 64), 4), ((1, 1), 31)])
def test_median_filter_columns_is_the_exact_order_statistic(shape, size, dtype) -> None:
    """Bit for bit against the sorted-window definition and scipy on both axes, with ties, zeros,
    +-inf and blocks of columns that do not divide the width."""
    rng = np.random.default_rng(shape[0] * 7 + size)
    x = (rng.random(shape) ** 3).astype(dtype)
    x[:, ::5] = 0.0
    x[::3, 1::7] = dtype(0.125)
    if x.size > 100:
        x.flat[::97] = np.inf
        x.flat[5::89] = -np.inf
    cols = median_filter_columns(x, size=size)
    assert cols.dtype == x.dtype
    np.testing.assert_array_equal(cols, _sorted_window_median(x.T, size).T)
    np.testing.assert_array_equal(cols, scipy.ndimage.median_filter(x, size=(size, 1), mode="reflect"))
    rows = median_filter_rows(x, size=size)
    np.testing.assert_array_equal(rows, _sorted_window_median(x, size))
    out = np.empty_like(x)
    assert median_filter_columns(x, size=size, out=out) is out
    np.testing.assert_array_equal(out, cols)


def test_median_filter_equals_the_previous_implementation_bit_for_bit() -> None:
    """A magnitude-like spectrogram (heavy-tailed, exact zeros, repeated values): the new filter
    gives the same bits as the ring-buffer filter it replaced, along both axes."""
    rng = np.random.default_rng(11)
    mag = (rng.standard_exponential((40, 120)) ** 2).astype(np.float32)
    mag[:, 50:53] = 0.0
    mag[7] = mag[8]
    mag = np.round(mag, 2)  # many ties
    np.testing.assert_array_equal(median_filter_rows(mag, size=31).view(np.uint32),
                                  _ring_median_rows(mag, 31).view(np.uint32))
    np.testing.assert_array_equal(median_filter_columns(mag, size=31).T.view(np.uint32),
                                  _ring_median_rows(np.ascontiguousarray(mag.T), 31).view(np.uint32))


def test_median_filter_rejects_bad_size() -> None:
    with pytest.raises(ParameterError, match="size=0"):
        median_filter_rows(np.zeros((2, 5)), size=0)


def test_bad_signals_raise_audio_error() -> None:
    with pytest.raises(AudioError, match="silent"):
        extract_clip(np.zeros(SR, dtype=np.float32))
    with pytest.raises(AudioError, match="too short"):
        extract_clip(np.ones(100, dtype=np.float32))
    y = _noise(1.0)
    y[10] = np.nan
    with pytest.raises(AudioError, match="NaN"):
        extract_clip(y)
    with pytest.raises(AudioError, match="mono"):
        extract_clip(np.stack([_noise(1.0), _noise(1.0)]))


def test_bad_parameters_raise_parameter_error() -> None:
    y = _noise(1.0)
    with pytest.raises(ParameterError, match="hop_length=0"):
        extract_clip(y, hop_length=0)
    with pytest.raises(ParameterError, match="n_fft=2047"):
        extract_clip(y, n_fft=2047)
    with pytest.raises(ParameterError, match="device"):
        extract_clip(y, device="tpu")


def _torch_devices() -> list[str]:
    import torch

    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", _torch_devices())
def test_torch_engine_matches_librosa(device: str) -> None:
    """The PyTorch engine (what ``extract_clip(device="cuda")`` runs), here on 2 s signals."""
    from genrelab.features.engine_torch import extract_features_torch

    for name in ("mixture",):
        y = SIGNALS[name][: 2 * SR]
        ref = reference_features(y, sr=SR)
        got = extract_features_torch(y, sr=SR, device=device)
        assert list(got) == FEATURE_COLUMNS
        bad = {c: (got[c], ref[c]) for c in FEATURE_COLUMNS
               if not np.isclose(got[c], ref[c], rtol=RTOL, atol=_atol(c, ref))}
        assert not bad, f"{name} on {device}: {bad}"


def test_torch_median_equals_scipy() -> None:
    import torch

    from genrelab.features.engine_torch import median_filter

    x = np.random.default_rng(3).standard_normal((40, 9)).astype(np.float32)
    x[::5] = 0.1
    for dim, size in ((0, 31), (1, 31), (1, 4), (0, 5)):
        shape = [1, 1]
        shape[dim] = size
        ref = scipy.ndimage.median_filter(x, size=tuple(shape), mode="reflect")
        np.testing.assert_array_equal(median_filter(torch.from_numpy(x), size=size, dim=dim).numpy(), ref)


def test_unavailable_device_is_a_parameter_error() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(ParameterError, match="CUDA is not available"):
        extract_clip(_noise(1.0), device="cuda")
