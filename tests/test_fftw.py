"""genrelab.dsp.fft: FFTW frame transforms (and the pocketfft fallback) against numpy, and
bit-for-bit repeatable results across processes (plans come from shipped wisdom, never measured)."""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pytest

from genrelab.dsp import fft as _fftw


@pytest.mark.parametrize("fftw", [True, False])
@pytest.mark.parametrize("n_fft, rows", [(2048, 64), (1024, 16), (512, 16), (1024, 3)])
def test_frame_fft_matches_numpy(monkeypatch, fftw: bool, n_fft: int, rows: int) -> None:
    if fftw and not _fftw.HAVE_FFTW:
        pytest.skip("pyfftw is not installed")
    monkeypatch.setattr(_fftw, "HAVE_FFTW", fftw)
    plan = _fftw.FrameFFT(n_fft, rows)
    assert plan.fftw == (fftw and (n_fft, rows) in _fftw.WISDOM_SIZES)  # other sizes: pocketfft
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


@pytest.mark.skipif(not _fftw.HAVE_FFTW, reason="pyfftw is not installed")
@pytest.mark.parametrize("n_fft, rows", _fftw.WISDOM_SIZES)
def test_raw_plans_give_pyfftws_bits_in_any_row_of_any_plan(n_fft: int, rows: int) -> None:
    """The raw plans (called here through ctypes, as the compiled loops call them) transform to the bits
    of the object's pyFFTW plans, and a frame gets the same bits in a 16-row and a 64-row plan."""
    import ctypes

    plan = _fftw.FrameFFT(n_fft, rows)
    raw = _fftw.raw_plans(plan)
    assert raw is not None and _fftw.raw_plans(plan) is raw
    execute = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)
    x = np.random.default_rng(n_fft + rows).standard_normal((64, n_fft)).astype(np.float32)
    plan.frames[...] = x[:rows]
    want = plan.forward().copy()
    plan.frames[...] = x[:rows]
    execute(raw.execute_r2c)(raw.r2c, plan.frames.ctypes.data, plan.spectra.ctypes.data)
    np.testing.assert_array_equal(plan.spectra.view(np.uint32), want.view(np.uint32))
    other = _fftw.FrameFFT(n_fft, 64 if rows == 16 else 16)
    k = min(rows, other.rows)
    other.frames[:k] = x[:k]
    np.testing.assert_array_equal(other.forward()[:k].view(np.uint32), want[:k].view(np.uint32))
    plan.spectra[...] = want
    back = plan.inverse().copy()
    plan.spectra[...] = want
    execute(raw.execute_c2r)(raw.c2r, plan.spectra.ctypes.data, plan.frames.ctypes.data)
    np.testing.assert_array_equal(plan.frames.view(np.uint32), back.view(np.uint32))
    other.spectra[:k] = want[:k]
    np.testing.assert_array_equal(other.inverse()[:k].view(np.uint32), back[:k].view(np.uint32))


def test_raw_plans_are_none_without_fftw(monkeypatch) -> None:
    """pocketfft plans have no raw FFTW plans; callers then take their Python loops."""
    monkeypatch.setattr(_fftw, "HAVE_FFTW", False)
    assert _fftw.raw_plans(_fftw.FrameFFT(2048, 16)) is None


@pytest.mark.skipif(not _fftw.HAVE_FFTW, reason="pyfftw is not installed")
def test_shipped_wisdom_covers_the_sizes_in_use() -> None:
    """If this fails, pyFFTW's FFTW no longer accepts the shipped wisdom: rerun bench/fftw_wisdom.py."""
    assert _fftw.load_wisdom()
    assert all(_fftw.FrameFFT(n_fft, rows).fftw for n_fft, rows in _fftw.WISDOM_SIZES)


def test_frame_fft_is_cached_per_thread_and_slot() -> None:
    a = _fftw.frame_fft(256, 8)
    assert _fftw.frame_fft(256, 8) is a
    assert _fftw.frame_fft(256, 8, slot=1) is not a
    other: list = []
    t = threading.Thread(target=lambda: other.append(_fftw.frame_fft(256, 8)))
    t.start()
    t.join()
    assert other[0] is not a  # another thread gets its own buffers


_FINGERPRINT = """
import hashlib, numpy as np, torch
torch.set_num_threads(2)
from genrelab.features.engine import extract_features, mfcc_frames
from genrelab.invert import mfcc_to_audio
rng = np.random.default_rng(7)
t = np.arange(6 * 22050) / 22050
y = (0.3 * np.sin(2 * np.pi * 220 * t) + 0.1 * rng.standard_normal(t.size)).astype(np.float32)
feats, _ = extract_features(y)
audio = mfcc_to_audio(np.ascontiguousarray(mfcc_frames(y).T), n_iter=8)
h = hashlib.sha1(np.array(list(feats.values())).tobytes() + audio.tobytes())
print(h.hexdigest())
"""


def test_features_and_inversion_repeat_bit_for_bit_across_processes() -> None:
    """Three fresh processes (each plans its own FFTs, the inversion on two threads) agree exactly."""
    prints = {
        subprocess.run([sys.executable, "-c", _FINGERPRINT], check=True, capture_output=True, text=True).stdout.strip()
        for _ in range(3)
    }
    assert len(prints) == 1, prints


CORE_PROBE = """
import json, sys
if sys.argv[1] == "scipy-first":
    import scipy  # as numba does: the top package, not scipy.fft
import genrelab.dsp.fft as F
plan = F.frame_fft(2048, 64)
print(json.dumps({"fftw": plan.fftw, "core": F.pyfftw.__name__,
                  "loaded": [m for m in ("pyfftw.interfaces", "dask", "scipy.fft", "scipy.linalg") if m in sys.modules]}))
"""


@pytest.mark.skipif(not _fftw.HAVE_FFTW, reason="pyfftw is not installed")
@pytest.mark.parametrize("first", ["nothing", "scipy-first"])
def test_the_core_extensions_load_without_their_packages(first: str) -> None:
    """pyfftw.pyfftw without pyfftw's __init__ (interfaces, dask.array), pocketfft without scipy.fft's."""
    import json
    import os
    from pathlib import Path

    src = str(Path(__file__).resolve().parents[1] / "src")
    out = subprocess.run(
        [sys.executable, "-c", CORE_PROBE, first],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env=dict(os.environ, PYTHONPATH=src),
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"fftw": True, "core": "pyfftw.pyfftw", "loaded": []}


def test_loaded_extensions_are_the_ones_the_packages_use() -> None:
    """A later ``import pyfftw`` / ``import scipy.fft`` reuses the modules loaded first (one FFTW state)."""
    import scipy.fft
    import scipy.fft._pocketfft.basic as basic

    assert basic.pfft is _fftw.load_extension("scipy.fft._pocketfft.pypocketfft")
    if _fftw.HAVE_FFTW:
        import pyfftw

        assert pyfftw.FFTW is _fftw.pyfftw.FFTW
    x = np.random.default_rng(0).standard_normal((3, 250))
    assert np.array_equal(_fftw.rfft_into(x, np.empty((3, 126), dtype=complex)), scipy.fft.rfft(x, axis=-1))
    assert all(_fftw.next_fast_len(n) == scipy.fft.next_fast_len(n, real=True) for n in (1, 687, 1000, 4097))


def test_load_extension_falls_back_to_a_plain_import() -> None:
    import json.decoder

    assert _fftw.load_extension("json.decoder") is json.decoder  # already imported
    sys.modules.pop("email.quoprimime", None)
    mod = _fftw.load_extension("email.quoprimime")  # pure Python: no extension file, imported as usual
    assert mod.__name__ == "email.quoprimime" and "email.quoprimime" in sys.modules
    with pytest.raises(ImportError):
        _fftw.load_extension("no_such_package_here.core")
