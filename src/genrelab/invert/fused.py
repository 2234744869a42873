"""The compiled steps of the CPU Griffin-Lim loop (:mod:`genrelab.invert.blocks`): overlap-add, the
cut of frames out of the signal, the phase update, and a whole pass over a run of frames that calls
FFTW itself (through :func:`genrelab.dsp.fft.raw_plans`), so no Python runs between blocks and a
thread holds the GIL only between tasks.

Strict IEEE arithmetic (no ``fastmath``): the same step gives the same bits whether Python calls it
or a compiled pass does (where the compiler may inline it), so a frame's result does not depend on
which task handled it, and so on the thread count.
"""

from __future__ import annotations

import numba
import numpy as np

from genrelab.dsp.fftw_call import call_fftw

__all__ = ["ola", "cut", "phase", "forward_rows", "run_pass"]


@numba.njit(cache=True, nogil=True)
def ola(frames, r, wsyn, hop, s0, fresh, acc):  # pragma: no cover - compiled
    """Overlap-add ``frames[:r] (R, n) * wsyn`` at ``hop`` into ``acc`` from sample ``s0``. Samples no
    earlier frame of the run touched are zeroed first (all of the first frame's when ``fresh``)."""
    n = frames.shape[1]
    for i in range(r):
        s = s0 + i * hop
        if fresh and i == 0:
            acc[s : s + n] = 0.0
        else:
            acc[s + n - hop : s + n] = 0.0
        dst = acc[s : s + n]
        src = frames[i]
        for q in range(n):
            dst[q] += src[q] * wsyn[q]


@numba.njit(cache=True, nogil=True)
def cut(acc, s0, inv_env, g0, window, hop, r, out):  # pragma: no cover - compiled
    """Frames ``out[:r] (R, n)``: ``acc`` from local sample ``s0`` (global ``g0``, in the zero-padded
    signal), divided by the overlap-added squared window (``inv_env``, 0 in the padding), times ``window``."""
    n = out.shape[1]
    for i in range(r):
        a = acc[s0 + i * hop : s0 + i * hop + n]
        e = inv_env[g0 + i * hop : g0 + i * hop + n]
        o = out[i]
        for q in range(n):
            o[q] = a[q] * e[q] * window[q]


@numba.njit(cache=True, nogil=True)
def phase(rebuilt, r, prev, c, target, out):  # pragma: no cover - compiled
    """``out = target * sgn(rebuilt - c * prev)`` (``sgn(0) = 0``) then ``prev = rebuilt``, for the
    first ``r`` rows; complex64 ``(R, F)``, ``target (r, F)`` float32. float32 throughout: a bin
    whose squared modulus underflows (below 1e-19 of a unit-peak spectrum) counts as zero."""
    f = target.shape[1]
    cc = np.float32(c)
    zero = np.float32(0.0)
    for k in range(r):
        x = rebuilt[k].view(np.float32)
        p = prev[k].view(np.float32)
        o = out[k].view(np.float32)
        tg = target[k]
        for j in range(f):
            zr = x[2 * j] - cc * p[2 * j]
            zi = x[2 * j + 1] - cc * p[2 * j + 1]
            a2 = zr * zr + zi * zi
            s = tg[j] / np.sqrt(a2) if a2 > zero else zero
            o[2 * j] = zr * s
            o[2 * j + 1] = zi * s
            p[2 * j] = x[2 * j]
            p[2 * j + 1] = x[2 * j + 1]


@numba.njit(cache=True, nogil=True)
def forward_rows(acc, s0, inv_env, g0, window, hop, r, frames, spectra, fft, prev, c, target, spec):  # pragma: no cover
    """Frames ``[j0, j0 + r)`` (``g0 = j0 * hop``) from ``acc`` at local sample ``s0``: :func:`cut` into
    ``frames``, FFTW forward into ``spectra`` (``fft = (execute_r2c, plan)``), :func:`phase` into ``spec``
    (``prev``, ``target``, ``spec``: the rows ``[j0, j0 + r)``)."""
    cut(acc, s0, inv_env, g0, window, hop, r, frames)
    call_fftw(fft[0], fft[1], frames.ctypes.data, spectra.ctypes.data)
    phase(spectra, r, prev, c, target, spec)


@numba.njit(cache=True, nogil=True)
def run_pass(
    spec, prev, target, inv_env, acc, head, tail, f0, f1, inner0, inner1, m, hop, window, wsyn, c, forward, bufs, ffts
):  # pragma: no cover - compiled
    """One pass of a run of frames ``[f0, f1)`` (``blocks._Run.istft`` compiled: the two change
    together; ``m`` frames on each side overlap a frame): blocks of ``R`` rows inverse-
    transformed (in place from ``spec`` when a whole aligned block, else through ``bufs[1]``),
    their first/last ``2m`` frames kept in ``head``/``tail`` (``(0, n)`` arrays when not kept),
    overlap-added into ``acc``; with ``forward``, the inner frames ``[inner0, inner1)`` cut, transformed
    and given their new phase as soon as their samples are complete. ``bufs = (inv_frames (R, n),
    inv_spectra (R, F), fwd_frames, fwd_spectra)``; ``ffts = (execute_c2r, c2r, execute_r2c, r2c)``."""
    inv_frames, inv_spectra, fwd_frames, fwd_spectra = bufs
    rows, n = inv_frames.shape
    if spec.shape[1] != inv_spectra.shape[1] or target.shape != spec.shape or fwd_spectra.shape != inv_spectra.shape:
        raise ValueError("run_pass: the spectrogram's bins do not match the FFT buffers")  # FFTW would overrun
    k = 2 * m  # frames kept at each end
    done = inner0
    for b0 in range(f0, f1, rows):
        b1 = min(b0 + rows, f1)
        r = b1 - b0
        src = spec[b0:b1]
        if r == rows and src.ctypes.data % 16 == 0:  # FFTW may overwrite these rows: this iteration is done with them
            call_fftw(ffts[0], ffts[1], src.ctypes.data, inv_frames.ctypes.data)
        else:
            inv_spectra[:r] = src
            call_fftw(ffts[0], ffts[1], inv_spectra.ctypes.data, inv_frames.ctypes.data)
        if head.shape[0] and b0 < f0 + k:
            j1 = min(b1, f0 + k)
            head[b0 - f0 : j1 - f0] = inv_frames[: j1 - b0]
        if tail.shape[0] and b1 > f1 - k:
            j0 = max(b0, f1 - k)
            tail[j0 - (f1 - k) : b1 - (f1 - k)] = inv_frames[j0 - b0 : b1 - b0]
        ola(inv_frames, r, wsyn, hop, (b0 - f0) * hop, b0 == f0, acc)
        if not forward:
            continue
        ready = inner1 if b1 == f1 else min(b1 - m, inner1)
        while done < ready:
            j1 = min(done + rows, ready)
            forward_rows(
                acc,
                (done - f0) * hop,
                inv_env,
                done * hop,
                window,
                hop,
                j1 - done,
                fwd_frames,
                fwd_spectra,
                (ffts[2], ffts[3]),
                prev[done:j1],
                c,
                target[done:j1],
                spec[done:j1],
            )
            done = j1
