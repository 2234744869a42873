"""Measure the FFTW plans genrelab ships (``src/genrelab/dsp/fftw_wisdom.txt``).

    .venv/bin/python bench/fftw_wisdom.py [--check]

Plans every (n_fft, rows) of ``genrelab.dsp.fft.WISDOM_SIZES`` with FFTW_PATIENT on this machine
and writes FFTW's single-precision wisdom into the package, so that every later process uses
these plans instead of measuring (measuring is not repeatable on a busy machine, and another
plan rounds differently). Run it on a quiet machine after changing pyFFTW's version or the
sizes. ``--check`` prints, per size, the time of the shipped plans against FFTW_ESTIMATE and
scipy's pocketfft (what a size without shipped plans runs) instead of writing anything.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pyfftw

from genrelab.dsp import fft as _fftw

TARGET = Path(__file__).resolve().parents[1] / "src" / "genrelab" / "dsp" / "fftw_wisdom.txt"


def _best(fn, n: int = 30) -> float:
    fn()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def check() -> None:
    print("| n_fft | rows | shipped plan us/frame | runs FFTW | FFTW_ESTIMATE us/frame | pocketfft us/frame |")
    print("|---:|---:|---:|---|---:|---:|")
    for n_fft, rows in _fftw.WISDOM_SIZES:
        plan = _fftw.FrameFFT(n_fft, rows)
        plan.frames[...] = np.random.default_rng(0).standard_normal(plan.frames.shape)
        shipped = _best(plan.forward) / rows * 1e6
        pyfftw.forget_wisdom()  # FFTW_ESTIMATE with no wisdom at all, for comparison
        est = pyfftw.FFTW(plan.frames.copy(), plan.spectra.copy(), axes=(1,), flags=("FFTW_ESTIMATE",), threads=1)
        _fftw.load_wisdom.cache_clear()
        _fftw.load_wisdom()
        estimate = _best(est) / rows * 1e6
        out = np.empty_like(plan.spectra)
        pocket = _best(lambda: _fftw.rfft_into(plan.frames, out)) / rows * 1e6
        print(f"| {n_fft} | {rows} | {shipped:.2f} | {plan.fftw} | {estimate:.2f} | {pocket:.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="time the shipped plans; write nothing")
    args = ap.parse_args()
    if args.check:
        check()
        return
    wisdom = _fftw.measure_wisdom()
    tmp = TARGET.with_suffix(".tmp")
    tmp.write_bytes(wisdom)
    tmp.replace(TARGET)
    print(f"wrote {TARGET} ({len(wisdom)} bytes) for {len(_fftw.WISDOM_SIZES)} sizes")


if __name__ == "__main__":
    main()
