"""The CPU Griffin-Lim loop of :mod:`genrelab.invert` for float32, in cache-sized blocks of frames.

One iteration is ``spec -> iSTFT -> y -> STFT -> rebuilt -> spec``. Done naively, every step
streams the whole ``(frames, n_fft)`` spectrogram through memory. Here one pass per iteration
walks the frames in blocks of ``_ROWS``: inverse FFT of a block (FFTW, :mod:`genrelab.dsp.fft`),
overlap-add into the signal, and as soon as a frame's samples have all their contributions
(``m = ceil(n_fft / hop) - 1`` frames later) that frame is cut out again, transformed forward and
given its new phase, all while the block is still in cache. The arithmetic is the one of
``invert.griffinlim``'s torch loop (the tests hold the two to float32 rounding).

Threads: clips of a batch go to separate threads; a single clip with ``threads > 1`` is cut
into ``threads`` runs of frames, each with its own overlap-add buffer. Frames within ``m`` of
a cut need both neighbours' sums: they wait for a barrier and read both buffers.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np

from genrelab.dsp.fft import frame_fft

_ROWS = 64  # frames per block (FFT input + spectrum ~ 1 MB for n_fft 2048: about L2; 32 and 16 measured no faster)
_MIN_RUN = 64  # frames per thread below which a clip is not cut


@numba.njit(cache=True, nogil=True, fastmath=True)
def _ola(frames, r, wsyn, hop, s0, fresh, acc):  # pragma: no cover - compiled
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


@numba.njit(cache=True, nogil=True, fastmath=True)
def _cut(acc, s0, inv_env, g0, window, hop, r, out):  # pragma: no cover - compiled
    """Frames ``out[:r] (R, n)``: ``acc`` from local sample ``s0`` (global ``g0``, in the zero-padded
    signal), divided by the overlap-added squared window (``inv_env``, 0 in the padding), times ``window``."""
    n = out.shape[1]
    for i in range(r):
        a = acc[s0 + i * hop : s0 + i * hop + n]
        e = inv_env[g0 + i * hop : g0 + i * hop + n]
        o = out[i]
        for q in range(n):
            o[q] = a[q] * e[q] * window[q]


@numba.njit(cache=True, nogil=True, fastmath=True)
def _phase(rebuilt, r, prev, c, target, out):  # pragma: no cover - compiled
    """``out = target * sgn(rebuilt - c * prev)`` (``sgn(0) = 0``) then ``prev = rebuilt``, for the
    first ``r`` rows; complex64 ``(R, F)``, ``target (r, F)`` float32. float32 throughout: a bin
    whose squared modulus underflows (below 1e-19 of a unit-peak spectrum) counts as zero."""
    f = target.shape[1]
    cc = np.float32(c)
    for k in range(r):
        x = rebuilt[k]
        p = prev[k]
        tg = target[k]
        o = out[k]
        for j in range(f):
            z = x[j] - cc * p[j]
            a2 = z.real * z.real + z.imag * z.imag
            o[j] = z * (tg[j] / np.sqrt(a2) if a2 > 0 else np.float32(0.0))
            p[j] = x[j]


def _overlap(n_fft: int, hop: int) -> int:
    """Frames on each side that overlap a frame."""
    return -(-n_fft // hop) - 1


@dataclass
class _Clip:
    """One clip's arrays: ``spec``/``prev`` complex64 and ``target`` float32 ``(T, F)``; ``inv_env`` over the
    zero-padded signal ``(length + n_fft,)``, 0 in the padding."""

    spec: np.ndarray
    prev: np.ndarray
    target: np.ndarray
    inv_env: np.ndarray


class _Run:
    """Frames ``[f0, f1)`` of a clip, worked by one thread: its overlap-add buffer covers padded samples
    ``[f0 * hop, (f1 - 1) * hop + n_fft)``."""

    def __init__(self, clip: _Clip, f0: int, f1: int, *, n_fft: int, hop: int) -> None:
        self.clip, self.f0, self.f1, self.n_fft, self.hop = clip, f0, f1, n_fft, hop
        frames = clip.spec.shape[0]
        self.m = _overlap(n_fft, hop)
        self.acc = np.zeros((f1 - f0 - 1) * hop + n_fft, dtype=np.float32)
        # frames whose samples only this run's frames reach (the clip's own ends count as inside)
        self.inner0 = f0 if f0 == 0 else min(f0 + self.m, f1)
        self.inner1 = f1 if f1 == frames else max(f1 - self.m, self.inner0)

    def istft(self, wsyn: np.ndarray, forward) -> None:
        """Inverse FFT + overlap-add of this run's frames; ``forward(j0, j1)`` is called on inner frames
        as soon as their samples are complete."""
        inv = frame_fft(self.n_fft, _ROWS, 0)
        spec, hop = self.clip.spec, self.hop
        done = self.inner0
        for b0 in range(self.f0, self.f1, _ROWS):
            b1 = min(b0 + _ROWS, self.f1)
            inv.spectra[: b1 - b0] = spec[b0:b1]
            inv.inverse()
            _ola(inv.frames, b1 - b0, wsyn, hop, (b0 - self.f0) * hop, b0 == self.f0, self.acc)
            ready = self.inner1 if b1 == self.f1 else min(b1 - self.m, self.inner1)
            while done < ready:
                j1 = min(done + _ROWS, ready)
                forward(done, j1)
                done = j1

    def samples(self, g0: int, g1: int) -> np.ndarray:
        """This run's overlap-added samples for padded ``[g0, g1)`` (zeros outside its buffer)."""
        out = np.zeros(g1 - g0, dtype=np.float32)
        a0 = self.f0 * self.hop
        lo, hi = max(g0, a0), min(g1, a0 + self.acc.size)
        if hi > lo:
            out[lo - g0 : hi - g0] = self.acc[lo - a0 : hi - a0]
        return out


def griffinlim_blocks(
    target: np.ndarray,
    spec: np.ndarray,
    window: np.ndarray,
    inv_env: np.ndarray,
    *,
    n_iter: int,
    hop: int,
    c: float,
    threads: int,
    refine: int = 0,
    refine_step=None,
) -> np.ndarray:
    """Fast Griffin-Lim, float32: ``target [shape=(B, T, F)]`` magnitudes, ``spec`` (same shape, complex64)
    the start (overwritten), ``window (n_fft,)``, ``inv_env (length,)`` -> ``y [shape=(B, length)]``.

    ``refine_step(b, j0, j1, rebuilt_rows)``, called every ``refine``-th iteration before the phase
    update, rescales ``target[b, j0:j1]`` in place.
    """
    b_n, frames, _ = target.shape
    n_fft = window.size
    length = inv_env.size
    half = n_fft // 2
    wsyn = (window / n_fft).astype(np.float32)  # FFTW's inverse is unnormalised
    window = window.astype(np.float32)
    env_pad = np.zeros(length + n_fft, dtype=np.float32)
    env_pad[half : half + length] = inv_env
    clips = [_Clip(spec[b], np.zeros_like(spec[b]), target[b], env_pad) for b in range(b_n)]
    y = np.empty((b_n, length), dtype=np.float32)
    parts = 1 if b_n >= threads else max(1, min(threads, frames // max(_MIN_RUN, 2 * _overlap(n_fft, hop) + 1)))
    if parts == 1:
        jobs = [[b for b in range(b_n) if b % threads == w] for w in range(min(threads, b_n))]

        def work(bs: list[int]) -> None:
            for b in bs:
                _iterate(
                    b,
                    clips[b],
                    [_Run(clips[b], 0, frames, n_fft=n_fft, hop=hop)],
                    0,
                    None,
                    y,
                    wsyn,
                    window,
                    n_iter=n_iter,
                    c=c,
                    refine=refine,
                    refine_step=refine_step,
                )

        _in_threads(work, jobs)
        return y
    cuts = np.linspace(0, frames, parts + 1).round().astype(int)
    for b in range(b_n):
        runs = [_Run(clips[b], int(cuts[k]), int(cuts[k + 1]), n_fft=n_fft, hop=hop) for k in range(parts)]
        barrier = threading.Barrier(parts)
        _in_threads(
            lambda k: _iterate(
                b,
                clips[b],
                runs,
                k,
                barrier,
                y,
                wsyn,
                window,
                n_iter=n_iter,
                c=c,
                refine=refine,
                refine_step=refine_step,
            ),
            list(range(parts)),
        )
    return y


def _iterate(
    b: int,
    clip: _Clip,
    runs: list[_Run],
    k: int,
    barrier: threading.Barrier | None,
    y: np.ndarray,
    wsyn: np.ndarray,
    window: np.ndarray,
    *,
    n_iter: int,
    c: float,
    refine: int,
    refine_step,
) -> None:
    """All iterations for run ``k`` of clip ``b`` (the only run when ``barrier`` is None)."""
    run = runs[k]
    n_fft, hop = run.n_fft, run.hop
    fwd = frame_fft(n_fft, _ROWS, 1)
    momentum, refining = 0.0, False  # this iteration's; read by forward()

    def forward(j0: int, j1: int, frames: np.ndarray | None = None) -> None:
        """Frames ``[j0, j1)`` (cut from this run's buffer, or given): FFT, refinement, phase update."""
        r = j1 - j0
        if frames is None:
            _cut(run.acc, (j0 - run.f0) * hop, clip.inv_env, j0 * hop, window, hop, r, fwd.frames)
        else:
            fwd.frames[:r] = frames
        fwd.forward()
        if refining:
            refine_step(b, j0, j1, fwd.spectra[:r])
        _phase(fwd.spectra, r, clip.prev[j0:j1], momentum, clip.target[j0:j1], clip.spec[j0:j1])

    try:
        for i in range(n_iter + 1):
            last = i == n_iter
            refining = bool(refine) and i % refine == refine - 1
            run.istft(wsyn, (lambda j0, j1: None) if last else forward)
            if barrier is None:
                if last:
                    half = n_fft // 2
                    y[b] = run.acc[half : half + y.shape[1]] * clip.inv_env[half : half + y.shape[1]]
            else:
                barrier.wait()  # every run's overlap-add is complete
                if last:
                    _write_out(y[b], runs, k, clip.inv_env, n_fft)
                else:
                    for a0, a1 in ((run.f0, run.inner0), (run.inner1, run.f1)):
                        for j0 in range(a0, a1, _ROWS):  # frames near a cut: both neighbours' sums
                            j1 = min(j0 + _ROWS, a1)
                            g0, g1 = j0 * hop, (j1 - 1) * hop + n_fft
                            seg = sum(other.samples(g0, g1) for other in runs) * clip.inv_env[g0:g1]
                            idx = np.arange(j1 - j0)[:, None] * hop + np.arange(n_fft)
                            forward(j0, j1, seg[idx] * window)
                barrier.wait()  # nobody overwrites a buffer another run still reads
            momentum = c
    except BaseException:
        if barrier is not None:
            barrier.abort()  # the other runs stop waiting and fail too
        raise


def _write_out(out: np.ndarray, runs: list[_Run], k: int, inv_env: np.ndarray, n_fft: int) -> None:
    """Run ``k``'s share of the output: the samples from its first frame's start up to the next run's."""
    run, hop, half = runs[k], runs[k].hop, n_fft // 2
    g0 = run.f0 * hop if k else 0
    g1 = runs[k + 1].f0 * hop if k + 1 < len(runs) else inv_env.size
    g0, g1 = max(g0, half), min(g1, half + out.size)
    if g1 > g0:
        out[g0 - half : g1 - half] = sum(other.samples(g0, g1) for other in runs) * inv_env[g0:g1]


_POOL: ThreadPoolExecutor | None = None
_POOL_SIZE = 0
_POOL_LOCK = threading.Lock()  # one call at a time uses the pool: runs of a clip wait on each other


def _in_threads(fn, items: list) -> None:
    """``fn(item)`` for each item, all at once on a persistent pool (its threads keep their FFTW plans);
    just a call when there is one item."""
    global _POOL, _POOL_SIZE
    if len(items) == 1:
        fn(items[0])
        return
    with _POOL_LOCK:
        if _POOL is None or _POOL_SIZE < len(items):
            if _POOL is not None:
                _POOL.shutdown()
            _POOL, _POOL_SIZE = ThreadPoolExecutor(len(items), thread_name_prefix="genrelab-griffinlim"), len(items)
        futures = [_POOL.submit(fn, item) for item in items]
        errors = [f.exception() for f in futures]
    errors = [e for e in errors if e is not None]
    if errors:  # the first real failure, not the broken barriers it caused in the other runs
        raise next((e for e in errors if not isinstance(e, threading.BrokenBarrierError)), errors[0])
