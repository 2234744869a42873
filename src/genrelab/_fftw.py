"""Blocks of real frame FFTs by FFTW (pyFFTW), planned once per thread and size.

The feature engine and the Griffin-Lim loop transform frames in cache-sized blocks of rows. On
this kind of CPU, FFTW's measured float32 plans take 2.6 ms for a 30 s clip's 1293 frames of
2048 where scipy's pocketfft takes 3.6 ms (forward) and 3.8 ms (inverse); see the README's
benchmarks. A :class:`FrameFFT` owns aligned buffers and both plans: fill ``frames``, call
:meth:`forward`, read ``spectra`` (and the reverse with :meth:`inverse`). Without pyFFTW the
same object runs pocketfft on the same buffers, so callers never branch.

float32 only (complex64 spectra): the float64 paths use ``scipy.fft`` directly.
"""

from __future__ import annotations

import threading

import numpy as np

try:
    import pyfftw
except ImportError:  # pragma: no cover - pyfftw is a dependency; this keeps a broken install usable
    pyfftw = None

from scipy.fft._pocketfft.pypocketfft import c2r as _pocket_c2r
from scipy.fft._pocketfft.pypocketfft import r2c as _pocket_r2c

__all__ = ["FrameFFT", "frame_fft", "HAVE_FFTW"]

HAVE_FFTW = pyfftw is not None
_PLAN_LOCK = threading.Lock()  # FFTW's planner is not thread-safe; executing plans is
_local = threading.local()


class FrameFFT:
    """Real FFTs of ``rows`` frames of ``n_fft`` float32 samples, both ways.

    ``frames [shape=(rows, n_fft)]`` float32 and ``spectra [shape=(rows, 1 + n_fft // 2)]``
    complex64 are the object's own buffers (64-byte aligned). :meth:`forward` is
    ``spectra = rfft(frames)``; :meth:`inverse` is ``frames = n_fft * irfft(spectra)``
    (unnormalised, like FFTW) and may overwrite ``spectra``.
    """

    def __init__(self, n_fft: int, rows: int) -> None:
        self.n_fft, self.rows = int(n_fft), int(rows)
        shape_t, shape_f = (self.rows, self.n_fft), (self.rows, self.n_fft // 2 + 1)
        if HAVE_FFTW:
            self.frames = pyfftw.zeros_aligned(shape_t, dtype=np.float32)
            self.spectra = pyfftw.zeros_aligned(shape_f, dtype=np.complex64)
            with _PLAN_LOCK:  # FFTW_MEASURE overwrites the buffers while planning: zero them after
                self._fwd = pyfftw.FFTW(self.frames, self.spectra, axes=(1,), direction="FFTW_FORWARD",
                                        flags=("FFTW_MEASURE",), threads=1)
                self._inv = pyfftw.FFTW(self.spectra, self.frames, axes=(1,), direction="FFTW_BACKWARD",
                                        flags=("FFTW_MEASURE", "FFTW_DESTROY_INPUT"), threads=1)
            self.frames[...] = 0.0
            self.spectra[...] = 0.0
        else:  # without pyfftw (the tests run this branch too)
            self.frames = np.zeros(shape_t, dtype=np.float32)
            self.spectra = np.zeros(shape_f, dtype=np.complex64)

    def forward(self) -> np.ndarray:
        """``spectra = rfft(frames, axis=1)``; returns ``spectra``."""
        if HAVE_FFTW:
            self._fwd.execute()
        else:
            _pocket_r2c(self.frames, (1,), True, 0, self.spectra, 1)
        return self.spectra

    def inverse(self) -> np.ndarray:
        """``frames = n_fft * irfft(spectra, n=n_fft, axis=1)`` (unnormalised); returns ``frames``."""
        if HAVE_FFTW:
            self._inv.execute()
        else:
            _pocket_c2r(self.spectra, (1,), self.n_fft, False, 0, self.frames, 1)
        return self.frames


def frame_fft(n_fft: int, rows: int, slot: int = 0) -> FrameFFT:
    """This thread's :class:`FrameFFT` number ``slot`` for ``(n_fft, rows)`` (a caller that needs two
    sets of buffers at once asks for two slots), planned on first use (FFTW_MEASURE: ~0.1 s for
    the first size in a process, then its wisdom makes later plans quick)."""
    cache = getattr(_local, "plans", None)
    if cache is None:
        cache = _local.plans = {}
    key = (int(n_fft), int(rows), int(slot))
    if key not in cache:
        cache[key] = FrameFFT(n_fft, rows)
    return cache[key]
