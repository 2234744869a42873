"""genrelab._fftw: FFTW frame transforms (and the pocketfft fallback) against numpy."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from genrelab import _fftw


@pytest.mark.parametrize("fftw", [True, False])
@pytest.mark.parametrize("n_fft, rows", [(2048, 64), (512, 16), (1024, 3)])
def test_frame_fft_matches_numpy(monkeypatch, fftw: bool, n_fft: int, rows: int) -> None:
    if fftw and not _fftw.HAVE_FFTW:
        pytest.skip("pyfftw is not installed")
    monkeypatch.setattr(_fftw, "HAVE_FFTW", fftw)
    plan = _fftw.FrameFFT(n_fft, rows)
    assert plan.frames.shape == (rows, n_fft) and plan.frames.dtype == np.float32
    assert plan.spectra.shape == (rows, n_fft // 2 + 1) and plan.spectra.dtype == np.complex64
    x = np.random.default_rng(n_fft).standard_normal((rows, n_fft)).astype(np.float32)
    plan.frames[...] = x
    X = plan.forward().copy()
    ref = np.fft.rfft(x.astype(np.float64), axis=1)
    np.testing.assert_allclose(X, ref, rtol=0, atol=1e-5 * np.abs(ref).max())
    plan.spectra[...] = X
    back = plan.inverse()  # unnormalised, like FFTW
    np.testing.assert_allclose(back / n_fft, x, rtol=0, atol=1e-5 * np.abs(x).max())


def test_frame_fft_is_cached_per_thread_and_slot() -> None:
    a = _fftw.frame_fft(256, 8)
    assert _fftw.frame_fft(256, 8) is a
    assert _fftw.frame_fft(256, 8, slot=1) is not a
    other: list = []
    t = threading.Thread(target=lambda: other.append(_fftw.frame_fft(256, 8)))
    t.start()
    t.join()
    assert other[0] is not a  # another thread gets its own buffers
