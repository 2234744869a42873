"""The compiled HPSS and tempo steps against the numpy/scipy/librosa expressions they replace, bit for bit:
the tiled median filters, the row medians of the onset envelope, the soft mask, the iSTFT's
overlap-add and the mean tempogram."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft
import scipy.ndimage

from genrelab.dsp import filters
from genrelab.features.hpss import harmonic_mask, hpss_waveforms, istft
from genrelab.features.median import median_filter_columns, median_filter_rows, row_medians
from genrelab.features.tempo import tempogram_mean


def _adversarial(rng: np.random.Generator, shape: tuple[int, int], kind: int, dtype: type) -> np.ndarray:
    """Random values, few distinct values (ties), zeros and +-inf, or long constant runs."""
    x = (rng.random(shape) ** 3).astype(dtype)
    if kind == 1:
        x = np.round(x * 4) / 4
    elif kind == 2:
        x[:, ::5] = 0.0
        x.flat[::97] = np.inf
        x.flat[5::89] = -np.inf
    elif kind == 3:
        x[:] = 0.5
        x[::7] = 0.25
        x[:, ::9] = 0.75
    return x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "shape,size",
    [((8, 3), 31), ((9, 70), 31), ((15, 64), 15), ((16, 65), 16), ((100, 200), 17), ((300, 70), 63), ((129, 64), 31)],
)
def test_tiled_median_equals_scipy_on_both_axes(shape, size, dtype) -> None:
    """Tile and column-block edges (n of 8, 9, 15, 16, 129; widths around 64), even windows,
    windows longer than the signal (reflection wraps), ties, zeros, infinities and constant runs."""
    rng = np.random.default_rng(shape[0] * 31 + size)
    for kind in range(4):
        x = _adversarial(rng, shape, kind, dtype)
        cols = median_filter_columns(x, size=size)
        np.testing.assert_array_equal(cols, scipy.ndimage.median_filter(x, size=(size, 1), mode="reflect"))
        xt = np.ascontiguousarray(x.T)
        rows = median_filter_rows(xt, size=size)
        np.testing.assert_array_equal(rows, scipy.ndimage.median_filter(xt, size=(1, size), mode="reflect"))
        np.testing.assert_array_equal(rows.view(np.uint8), cols.T.copy().view(np.uint8))
        out = np.empty_like(xt)
        assert median_filter_rows(xt, size=size, out=out) is out


def test_hpss_medians_equal_librosa_hpss_masks() -> None:
    """librosa.decompose.hpss's harmonic spectrum from the two filters and the mask, on a real-like
    magnitude spectrogram (frame-major here, frequency-major in librosa)."""
    import librosa

    rng = np.random.default_rng(2)
    D = (rng.standard_normal((300, 129)) + 1j * rng.standard_normal((300, 129))).astype(np.complex64)
    D[:, 40:44] = 0
    mag = np.abs(D).astype(np.float32)
    harm = median_filter_columns(mag, size=31)
    perc = median_filter_rows(mag, size=31)
    np.testing.assert_array_equal(harm.T, scipy.ndimage.median_filter(mag.T, size=(1, 31), mode="reflect"))
    np.testing.assert_array_equal(perc.T, scipy.ndimage.median_filter(mag.T, size=(31, 1), mode="reflect"))
    out = np.empty_like(D)
    assert not harmonic_mask(D.view(np.float32), harm, perc, float(np.finfo(np.float32).tiny), out.view(np.float32))
    H, _ = librosa.decompose.hpss(D.T)
    np.testing.assert_allclose(out.T, H, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_soft_mask_equals_the_complex_product(dtype) -> None:
    """``D * (a / (a + b))`` as numpy multiplies a complex by a real (signed zeros included), 0 where
    both medians are below tiny, and the flag for a non-zero bin there."""
    rng = np.random.default_rng(4)
    t, f = 200, 257
    tiny = np.float32(np.finfo(np.float32).tiny)
    for trial in range(3):
        D = (rng.standard_normal((t, f)) + 1j * rng.standard_normal((t, f))).astype(dtype)
        D.real[::7, ::3] = -0.0
        D.imag[::5, ::2] = -0.0
        harm = np.abs(rng.standard_normal((t, f))).astype(np.float32)
        perc = np.abs(rng.standard_normal((t, f))).astype(np.float32)
        harm[::4, ::3] = 0
        perc[::3, ::4] = 0
        harm[::2, :9] = perc[::2, :9] = 1e-39  # below tiny
        if trial == 1:
            D[:, :9] = 0  # nothing lost
        if trial == 2:
            harm[5, 20:30] = perc[5, 25:35] = np.inf  # an overflowing clip: NaN masks, as numpy computes them
        z = np.maximum(harm, perc)
        with np.errstate(divide="ignore", invalid="ignore"):
            a, b = (harm / z) * (harm / z), (perc / z) * (perc / z)
            ref = np.where(z < tiny, 0, D * (a / (a + b))).astype(np.complex64)
        ref[np.isnan(ref)] = np.nan  # one NaN (numpy's complex product may give either sign)
        lost_ref = bool(((z < tiny) & (D != 0)).any())
        out = np.empty((t, f), dtype=np.complex64)
        assert harmonic_mask(D.view(D.real.dtype), harm, perc, float(tiny), out.view(np.float32)) == lost_ref
        nan = np.isnan(out)
        np.testing.assert_array_equal(nan, np.isnan(ref))
        np.testing.assert_array_equal(out[~nan].view(np.uint32), ref[~nan].view(np.uint32))


def test_istft_inverts_and_hpss_parts_sum_to_the_signal() -> None:
    rng = np.random.default_rng(6)
    y = (0.1 * rng.standard_normal(22050)).astype(np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(np.pad(y, 1024), 2048)[::512]
    D = np.fft.rfft(frames * filters.hann(2048, dtype=np.float64), axis=1).astype(np.complex64)
    back = istft(D, hop_length=512, length=y.size)
    np.testing.assert_allclose(back, y, atol=1e-6)
    mag = np.abs(D).astype(np.float32)
    harmonic, percussive = hpss_waveforms(y, D, mag, hop_length=512)
    np.testing.assert_allclose(harmonic + percussive, y, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1292, 128), (70, 128), (3, 128), (100, 7), (65, 1), (64, 2), (130, 255)])
def test_row_medians_equal_numpy(shape, dtype) -> None:
    rng = np.random.default_rng(shape[0] + shape[1])
    for kind in range(3):
        x = rng.standard_normal(shape).astype(dtype)
        if kind == 1:
            x = np.maximum(0, x)  # the onset differences: many exact zeros
        elif kind == 2:
            x = np.abs(np.round(x * 2) / 2)  # ties
            x.flat[::7] = np.inf
        ours = row_medians(x)
        assert ours.dtype == x.dtype
        np.testing.assert_array_equal(ours.view(np.uint8), np.median(x, axis=1).view(np.uint8))
    x[::3, -1] = np.nan  # inf - inf in an overflowing clip's log-mel differences: NaN rows, as numpy gives
    np.testing.assert_array_equal(row_medians(x), np.median(x, axis=1))


def _numpy_tempogram_mean(onset: np.ndarray, win: int) -> np.ndarray:
    """The numpy expression tempogram_mean replaced."""
    n, half = onset.shape[0], win // 2
    padded = np.pad(onset, (half, half), mode="linear_ramp", end_values=(0, 0))
    frames = np.lib.stride_tricks.sliding_window_view(padded, win)[:n]
    x = frames * filters.hann(win, dtype=np.float64).astype(frames.dtype)
    n_pad = scipy.fft.next_fast_len(2 * win - 1, real=True)
    spec = scipy.fft.rfft(x, n=n_pad, axis=1)
    ac = scipy.fft.irfft(spec.real**2 + spec.imag**2, n=n_pad, axis=1)[:, :win]
    peak = np.max(np.abs(ac), axis=1, keepdims=True)
    peak[peak < np.finfo(ac.dtype).tiny] = 1.0
    return np.mean(ac / peak, axis=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tempogram_mean_equals_the_numpy_expression(dtype) -> None:
    rng = np.random.default_rng(8)
    for n in (50, 344, 1293, 2600):
        for kind in range(3):
            env = (rng.random(n) ** 4).astype(dtype)
            if kind == 1:
                env[::3] = 0
            elif kind == 2:
                env[:] = 0
                env[n // 2] = 1
            for win in (344, 100):
                ours = tempogram_mean(env, win)
                assert ours.dtype == env.dtype
                np.testing.assert_array_equal(ours.view(np.uint8), _numpy_tempogram_mean(env, win).view(np.uint8))
    env[n // 3] = np.nan
    np.testing.assert_array_equal(tempogram_mean(env, 344), _numpy_tempogram_mean(env, 344))  # NaN where numpy's is
