"""Blocks of real frame FFTs by FFTW (pyFFTW), planned once per thread and size.

The feature engine and the Griffin-Lim loop transform frames in cache-sized blocks of rows. On
this kind of CPU, FFTW's measured float32 plans take 2.6 ms for a 30 s clip's 1293 frames of
2048 where scipy's pocketfft takes 3.6 ms (forward) and 3.8 ms (inverse); see the README's
benchmarks. A :class:`FrameFFT` owns aligned buffers and both plans: fill ``frames``, call
:meth:`forward`, read ``spectra`` (and the reverse with :meth:`inverse`). Without pyFFTW, or for
a size without shipped plans, the same object runs pocketfft on the same buffers, so callers
never branch.

Reproducibility: FFTW_MEASURE times candidate algorithms and, on a busy machine, does not pick
the same one every time, and another algorithm rounds differently; Griffin-Lim's 32 iterations
turn such 1e-7 differences into different audio. So plans never measure at run time: they come
from wisdom shipped with the package (``fftw_wisdom.txt``, measured once with FFTW_PATIENT by
``bench/fftw_wisdom.py`` for n_fft 1024/2048/4096 and 16/64 rows), and sizes it does not cover
run on pocketfft (FFTW_ESTIMATE is deterministic too, but slower than pocketfft here). Either way
a given input gives the same bits in every process.

FrameFFT is float32 only (complex64 spectra); :func:`rfft_into` and :func:`irfft_into` are pocketfft
with an output array, for any dtype (the float64 paths and the fallback use them).
"""

from __future__ import annotations

import ctypes
import functools
import importlib.machinery
import importlib.util
import sys
import threading
import weakref
from importlib import resources
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np


def load_extension(dotted: str) -> ModuleType:
    """The compiled module ``dotted`` (``"pyfftw.pyfftw"``), loaded without running its packages' ``__init__``.

    pyFFTW's ``__init__`` imports ``pyfftw.interfaces`` and through it scipy.fftpack and
    dask.array; ``scipy.fft``'s imports ``scipy._lib._array_api``, numpy.testing, f2py and
    scipy.special: 0.13 s of a process's start-up each here, for nothing this module uses. The
    extension file is found in the top package's folder (located without importing it) and
    registered under its name, so a later ``import pyfftw`` or ``import scipy.fft`` uses this same
    module. Already imported, or not found that way (another layout): a plain import.
    """
    if dotted in sys.modules:
        return sys.modules[dotted]
    top, *middle, name = dotted.split(".")
    if top in sys.modules:  # the top package alone is cheap (numba imports scipy's)
        folders = list(getattr(sys.modules[top], "__path__", []))
    else:
        spec = importlib.util.find_spec(top)  # finds the package, does not import it
        folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in map(Path, folders):
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = folder.joinpath(*middle, name + suffix)
            if path.is_file():
                loader = importlib.machinery.ExtensionFileLoader(dotted, str(path))
                ext_spec = importlib.util.spec_from_file_location(dotted, path, loader=loader)
                if ext_spec is not None:
                    module = importlib.util.module_from_spec(ext_spec)
                    loader.exec_module(module)
                    sys.modules[dotted] = module
                    return module
    return importlib.import_module(dotted)


try:
    pyfftw: Any = load_extension("pyfftw.pyfftw")
except ImportError:  # pragma: no cover - pyfftw is a dependency; this keeps a broken install usable
    pyfftw = None

# the transforms behind scipy.fft.rfft/irfft (pocketfft), without the per-call dispatch (~6 us),
# with an output array to reuse, and without importing scipy.fft
try:
    _pocket: Any = load_extension("scipy.fft._pocketfft.pypocketfft")
except ImportError:  # pragma: no cover - a scipy that moved its private module: the public functions
    _pocket = None

__all__ = [
    "FrameFFT",
    "frame_fft",
    "rfft_into",
    "irfft_into",
    "next_fast_len",
    "load_extension",
    "HAVE_FFTW",
    "WISDOM_SIZES",
    "load_wisdom",
    "measure_wisdom",
    "RawPlans",
    "raw_plans",
]

HAVE_FFTW = pyfftw is not None
WISDOM_SIZES = ((1024, 16), (1024, 64), (2048, 16), (2048, 64), (4096, 16), (4096, 64))  # (n_fft, rows)
_WISDOM_FILE = "fftw_wisdom.txt"
_PLAN_LOCK = threading.Lock()  # FFTW's planner is not thread-safe; executing plans is
_local = threading.local()


def rfft_into(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``scipy.fft.rfft(x, axis=-1)`` for a C-contiguous ``x (..., n)``, written into ``out (..., n // 2 + 1)``."""
    if _pocket is None:  # pragma: no cover
        import scipy.fft

        out[...] = scipy.fft.rfft(x, axis=-1)
        return out
    return _pocket.r2c(x, (x.ndim - 1,), True, 0, out, 1)


def next_fast_len(n: int) -> int:
    """``scipy.fft.next_fast_len(n, real=True)``: the smallest fast real-FFT length ``>= n``."""
    if _pocket is None:  # pragma: no cover
        import scipy.fft

        return int(scipy.fft.next_fast_len(int(n), real=True))
    return int(_pocket.good_size(int(n), True))


def irfft_into(X: np.ndarray, n: int, out: np.ndarray, *, normalise: bool = True) -> np.ndarray:
    """``scipy.fft.irfft(X, n=n, axis=-1)`` written into ``out (..., n)``; ``normalise=False`` leaves out
    the ``1 / n`` (FFTW's convention)."""
    if _pocket is None:  # pragma: no cover
        import scipy.fft

        out[...] = scipy.fft.irfft(X, n=n, axis=-1) * (1 if normalise else n)
        return out
    return _pocket.c2r(X, (X.ndim - 1,), n, False, 2 if normalise else 0, out, 1)


@functools.cache
def load_wisdom() -> bool:
    """Import the shipped single-precision wisdom into FFTW once per process; whether FFTW took it
    (False without pyfftw, without the file, or for an FFTW build that rejects it)."""
    if not HAVE_FFTW:
        return False
    try:
        text = resources.files("genrelab.dsp").joinpath(_WISDOM_FILE).read_bytes()
        return bool(pyfftw.import_wisdom((b"", text, b""))[1])
    except (OSError, ValueError):
        return False


class FrameFFT:
    """Real FFTs of ``rows`` frames of ``n_fft`` float32 samples, both ways.

    ``frames [shape=(rows, n_fft)]`` float32 and ``spectra [shape=(rows, 1 + n_fft // 2)]``
    complex64 are the object's own buffers (64-byte aligned). :meth:`forward` is
    ``spectra = rfft(frames)``; :meth:`inverse` is ``frames = n_fft * irfft(spectra)``
    (unnormalised, like FFTW) and may overwrite ``spectra``.
    """

    def __init__(self, n_fft: int, rows: int, *, patient: bool = False) -> None:
        """``patient``: measure the plans with FFTW_PATIENT (only to generate the shipped wisdom)."""
        self.n_fft, self.rows = int(n_fft), int(rows)
        shape_t, shape_f = (self.rows, self.n_fft), (self.rows, self.n_fft // 2 + 1)
        plans = None
        if HAVE_FFTW:
            self.frames = pyfftw.zeros_aligned(shape_t, dtype=np.float32)
            self.spectra = pyfftw.zeros_aligned(shape_f, dtype=np.complex64)
            with _PLAN_LOCK:
                plans = _plans(self.frames, self.spectra, patient)
            self.frames[...] = 0.0  # FFTW_PATIENT (wisdom generation) scribbles on the buffers
            self.spectra[...] = 0.0
        else:  # without pyfftw (the tests run this branch too)
            self.frames = np.zeros(shape_t, dtype=np.float32)
            self.spectra = np.zeros(shape_f, dtype=np.complex64)
        self._fwd, self._inv = plans if plans is not None else (None, None)
        self.fftw = plans is not None  # False: pocketfft on the same buffers
        self._raw: RawPlans | None = None  # raw_plans(self), made on first use

    def forward(self) -> np.ndarray:
        """``spectra = rfft(frames, axis=1)``; returns ``spectra``."""
        if self.fftw:
            self._fwd.execute()
        else:
            rfft_into(self.frames, self.spectra)
        return self.spectra

    def inverse(self) -> np.ndarray:
        """``frames = n_fft * irfft(spectra, n=n_fft, axis=1)`` (unnormalised); returns ``frames``."""
        if self.fftw:
            self._inv.execute()
        else:
            irfft_into(self.spectra, self.n_fft, self.frames, normalise=False)
        return self.frames


def _plans(frames: np.ndarray, spectra: np.ndarray, patient: bool) -> tuple | None:
    """The forward and inverse FFTW plans on these buffers: from the shipped wisdom, or measured
    with FFTW_PATIENT when generating it; None for a size the wisdom does not cover."""

    def make(rigour: tuple[str, ...]) -> tuple:
        fwd = pyfftw.FFTW(frames, spectra, axes=(1,), direction="FFTW_FORWARD", flags=rigour, threads=1)
        inv = pyfftw.FFTW(
            spectra, frames, axes=(1,), direction="FFTW_BACKWARD", flags=(*rigour, "FFTW_DESTROY_INPUT"), threads=1
        )
        return fwd, inv

    if patient:
        return make(("FFTW_PATIENT",))
    if load_wisdom():
        try:
            return make(("FFTW_MEASURE", "FFTW_WISDOM_ONLY"))
        except RuntimeError:  # not in the wisdom: pocketfft (measuring here would not be repeatable)
            return None
    return None


def measure_wisdom() -> bytes:
    """Plan every size of :data:`WISDOM_SIZES` with FFTW_PATIENT and return FFTW's single-precision
    wisdom (what ``bench/fftw_wisdom.py`` writes to the package). Slow: run it on a quiet machine."""
    if not HAVE_FFTW:
        raise RuntimeError("pyfftw is not installed")
    pyfftw.forget_wisdom()
    load_wisdom.cache_clear()  # FFTW's wisdom is now only what is measured here
    for n_fft, rows in WISDOM_SIZES:
        FrameFFT(n_fft, rows, patient=True)
    return pyfftw.export_wisdom()[1]


class RawPlans(NamedTuple):
    """FFTW's own plans on a :class:`FrameFFT`'s buffers and the addresses of FFTW's new-array execute
    functions, for compiled loops that call FFTW without Python (:mod:`genrelab.invert.fused`):
    ``execute_r2c(r2c, frames, spectra)`` and ``execute_c2r(c2r, spectra, frames)`` on pointers."""

    execute_r2c: int
    execute_c2r: int
    r2c: int
    c2r: int


_FFTW_FLAGS = {"FFTW_MEASURE": 0, "FFTW_DESTROY_INPUT": 1, "FFTW_WISDOM_ONLY": 1 << 21}  # fftw3.h


@functools.cache
def _fftwf_library() -> ctypes.CDLL | None:
    """The single-precision FFTW that pyFFTW's extension is linked to (its wisdom is ours), through
    the extension's own handle (a symbol lookup there searches its dependencies too); None where it
    cannot be opened or lacks the functions (no pyFFTW, another build)."""
    if not HAVE_FFTW or not load_wisdom():
        return None
    try:
        lib = ctypes.CDLL(pyfftw.__file__)  # already loaded: the same library and planner state
        for name in ("fftwf_plan_many_dft_r2c", "fftwf_plan_many_dft_c2r"):
            getattr(lib, name).restype = ctypes.c_void_p
            getattr(lib, name).argtypes = _PLAN_ARGS
        lib.fftwf_destroy_plan.argtypes = [ctypes.c_void_p]
        lib.fftwf_destroy_plan.restype = None
        lib.fftwf_execute_dft_r2c, lib.fftwf_execute_dft_c2r  # noqa: B018 - present, or AttributeError
    except (OSError, AttributeError, TypeError):
        return None
    return lib


_PLAN_ARGS = [ctypes.c_int, ctypes.POINTER(ctypes.c_int), ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
_PLAN_ARGS += [ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_uint]
_NO_RAW = RawPlans(0, 0, 0, 0)  # a FrameFFT for which raw plans were tried and are not available


def _destroy_plans(lib: ctypes.CDLL, *plans: int) -> None:
    """FFTW's planner is not thread-safe, and destroying a plan is planning."""
    with _PLAN_LOCK:
        for plan in plans:
            lib.fftwf_destroy_plan(plan)


def raw_plans(plan: FrameFFT) -> RawPlans | None:
    """:class:`RawPlans` for ``plan``'s buffers, made once per object from the shipped wisdom (the same
    algorithm as its :meth:`FrameFFT.forward` / :meth:`FrameFFT.inverse`, so the same bits) and
    destroyed with it; None when ``plan`` runs on pocketfft or FFTW's library cannot be reached.
    Planning holds this module's plan lock (not pyFFTW's own): genrelab plans only under it."""
    if not plan.fftw:
        return None
    if plan._raw is not None:
        return None if plan._raw is _NO_RAW else plan._raw
    plan._raw = _NO_RAW
    lib = _fftwf_library()
    if lib is None:
        return None
    n, rows, bins = plan.n_fft, plan.rows, plan.n_fft // 2 + 1
    size = (ctypes.c_int * 1)(n)
    flags = _FFTW_FLAGS["FFTW_MEASURE"] | _FFTW_FLAGS["FFTW_WISDOM_ONLY"]
    frames, spectra = plan.frames.ctypes.data, plan.spectra.ctypes.data
    with _PLAN_LOCK:
        r2c = lib.fftwf_plan_many_dft_r2c(1, size, rows, frames, None, 1, n, spectra, None, 1, bins, flags)
        flags |= _FFTW_FLAGS["FFTW_DESTROY_INPUT"]
        c2r = lib.fftwf_plan_many_dft_c2r(1, size, rows, spectra, None, 1, bins, frames, None, 1, n, flags)
    made = [p for p in (r2c, c2r) if p]
    if len(made) < 2:  # not in the wisdom under these flags
        _destroy_plans(lib, *made)
        return None
    weakref.finalize(plan, _destroy_plans, lib, r2c, c2r)
    addr = (
        ctypes.cast(lib.fftwf_execute_dft_r2c, ctypes.c_void_p).value,
        ctypes.cast(lib.fftwf_execute_dft_c2r, ctypes.c_void_p).value,
    )
    plan._raw = RawPlans(int(addr[0] or 0), int(addr[1] or 0), int(r2c), int(c2r))
    return plan._raw


def frame_fft(n_fft: int, rows: int, slot: int = 0) -> FrameFFT:
    """This thread's :class:`FrameFFT` number ``slot`` for ``(n_fft, rows)`` (a caller that needs two
    sets of buffers at once asks for two slots), planned on first use."""
    cache = getattr(_local, "plans", None)
    if cache is None:
        cache = _local.plans = {}
    key = (int(n_fft), int(rows), int(slot))
    if key not in cache:
        cache[key] = FrameFFT(n_fft, rows)
    return cache[key]
