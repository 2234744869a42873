"""The CPU Griffin-Lim loop of :mod:`genrelab.invert` for float32, in cache-sized blocks of frames.

One iteration is ``spec -> iSTFT -> y -> STFT -> rebuilt -> spec``. Done naively, every step
streams the whole ``(frames, n_fft)`` spectrogram through memory. Here one pass per iteration
walks the frames in blocks of ``_ROWS``: inverse FFT of a block (FFTW, :mod:`genrelab.dsp.fft`),
overlap-add into the signal, and as soon as a frame's samples have all their contributions
(``m = ceil(n_fft / hop) - 1`` frames later) that frame is cut out again, transformed forward and
given its new phase, all while the block is still in cache. The arithmetic is the one of
``invert.griffinlim``'s torch loop (the tests hold the two to float32 rounding).

Threads share the work dynamically, as a wavefront over (run, iteration) tasks (a pipelined
stencil schedule): each clip is cut into runs of frames (more runs than threads), and a task
is one run's pass of one iteration. Run ``c`` keeps its own overlap-add buffer, seeded with
the partial sums that run ``c - 1`` left in the samples they share, so every sample is summed
over its frames in the same order as in one uncut pass: the result is bit-identical whatever
the number of threads and runs. Run ``c`` also cuts and transforms the last ``m`` frames of run
``c - 1`` (their samples end in its buffer). Hence task ``(c, i)`` needs ``(c - 1, i)`` and
``(c + 1, i - 1)`` done; threads take whichever task is ready (the lowest clip, then the
earliest on the wavefront), so a thread slowed by another process only delays the tasks
next to its own, and a batch's clips go to threads as they free up.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np

from genrelab.dsp.fft import frame_fft

_ROWS = 64  # frames per block (FFT input + spectrum ~ 1 MB for n_fft 2048: about L2; 32 and 16 measured no faster)
_MIN_RUN = 64  # frames per run below which a clip is not cut further
_RUNS_PER_THREAD = 4  # runs per clip and thread: slack for a thread that another process slows


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
    zero-padded signal ``(length + n_fft,)``, 0 in the padding; ``out (length,)`` its output."""

    spec: np.ndarray
    prev: np.ndarray
    target: np.ndarray
    inv_env: np.ndarray
    out: np.ndarray


class _Run:
    """Frames ``[f0, f1)`` of a clip: its overlap-add buffer covers padded samples
    ``[f0 * hop, (f1 - 1) * hop + n_fft)``; ``before`` is the run ahead of it (None for the first)."""

    def __init__(
        self, clip: _Clip, f0: int, f1: int, before: _Run | None, *, wsyn: np.ndarray, hop: int
    ) -> None:
        self.clip, self.f0, self.f1, self.before, self.wsyn, self.hop = clip, f0, f1, before, wsyn, hop
        self.n_fft = n_fft = wsyn.size
        self.acc = np.zeros((f1 - f0 - 1) * hop + n_fft, dtype=np.float32)
        self.last = f1 == clip.spec.shape[0]

    def istft(self, forward: Callable[..., None] | None) -> None:
        """Inverse FFT + overlap-add of this run's frames onto the seed from the run before;
        ``forward(j0, j1, acc, s0)`` on frames as soon as their samples are complete: the run
        before's last ``m`` frames (from a stitched buffer), then this run's own, except its
        last ``m`` (the next run does those) unless it ends the clip."""
        n_fft, hop, spec, f0, f1 = self.n_fft, self.hop, self.clip.spec, self.f0, self.f1
        m = _overlap(n_fft, hop)
        before = self.before
        if before is not None:  # partial sums of the frames before f0 over the samples they share
            s = (f0 - before.f0) * hop
            self.acc[: n_fft - hop] = before.acc[s : s + n_fft - hop]
        inv = frame_fft(n_fft, _ROWS, 0)
        limit = f1 if self.last else f1 - m
        done = f0 if before is None else f0 - m
        for b0 in range(f0, f1, _ROWS):
            b1 = min(b0 + _ROWS, f1)
            inv.spectra[: b1 - b0] = spec[b0:b1]
            inv.inverse()
            _ola(inv.frames, b1 - b0, self.wsyn, hop, (b0 - f0) * hop, b0 == f0 and before is None, self.acc)
            if forward is None:
                continue
            ready = limit if b1 == f1 else min(b1 - m, limit)
            while done < ready:
                j1 = min(done + _ROWS, ready, f0) if done < f0 else min(done + _ROWS, ready)
                if done < f0:
                    forward(done, j1, self._stitch(done, j1), 0)
                else:
                    forward(done, j1, self.acc, (done - f0) * hop)
                done = j1

    def _stitch(self, j0: int, j1: int) -> np.ndarray:
        """Complete samples of frames ``[j0, j1)`` of the run before: its buffer up to ``f0 * hop``, then this one's."""
        before, hop = self.before, self.hop
        assert before is not None
        head = before.acc[(j0 - before.f0) * hop : (self.f0 - before.f0) * hop]
        return np.concatenate([head, self.acc[: (j1 - 1) * hop + self.n_fft - self.f0 * hop]])

    def write_out(self) -> None:
        """The output samples this run completes: padded ``[f0 * hop, next run's f0 * hop)``."""
        clip, hop, half = self.clip, self.hop, self.n_fft // 2
        a0 = self.f0 * hop
        g0 = max(a0, half)
        g1 = min(a0 + self.acc.size if self.last else self.f1 * hop, half + clip.out.size)
        if g1 > g0:
            clip.out[g0 - half : g1 - half] = self.acc[g0 - a0 : g1 - a0] * clip.inv_env[g0:g1]


def _cuts(frames: int, runs: int, min_run: int) -> list[int]:
    """Run boundaries: ``runs`` near-equal runs, fewer when a run would be shorter than ``min_run``."""
    runs = max(1, min(runs, frames // max(min_run, 1)))
    return [int(v) for v in np.linspace(0, frames, runs + 1).round()]


class _Wavefront:
    """Dynamic scheduler of the tasks ``(clip b, run c, iteration i)``: ``next[b][c]`` is run c's next
    iteration; it is ready when run ``c - 1`` has done iteration ``i`` and run ``c + 1`` iteration ``i - 1``."""

    def __init__(self, runs: list[list[_Run]], n_iter: int) -> None:
        self.runs, self.n_iter = runs, n_iter
        self.next = [[0] * len(r) for r in runs]
        self.busy = [[False] * len(r) for r in runs]
        self.left = sum(len(r) for r in runs) * (n_iter + 1)
        self.first = 0  # clips before this one are finished
        self.cond = threading.Condition()
        self.error: BaseException | None = None

    def _ready(self, b: int) -> tuple[int, int] | None:
        """Clip ``b``'s ready task nearest the front of the wavefront: ``(c, i)``, or None."""
        nxt, busy, best = self.next[b], self.busy[b], None
        for c, i in enumerate(nxt):
            if busy[c] or i > self.n_iter or (c and nxt[c - 1] <= i) or (c + 1 < len(nxt) and nxt[c + 1] < i):
                continue
            if best is None or 2 * i + c < 2 * best[1] + best[0]:
                best = (c, i)
        return best

    def take(self) -> tuple[int, int, int] | None:
        """Claim a ready task ``(b, c, i)``, waiting for one; None when all are done or one failed."""
        with self.cond:
            while self.error is None and self.left:
                while self.first < len(self.runs) and min(self.next[self.first]) > self.n_iter:
                    self.first += 1
                for b in range(self.first, len(self.runs)):
                    task = self._ready(b)
                    if task is not None:
                        self.busy[b][task[0]] = True
                        return b, task[0], task[1]
                self.cond.wait()
            return None

    def finish(self, b: int, c: int) -> None:
        with self.cond:
            self.next[b][c] += 1
            self.busy[b][c] = False
            self.left -= 1
            self.cond.notify_all()

    def fail(self, error: BaseException) -> None:
        with self.cond:
            if self.error is None:
                self.error = error
            self.cond.notify_all()


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
    refine_step: Callable[[int, int, int, np.ndarray], None] | None = None,
    runs: int | None = None,
) -> np.ndarray:
    """Fast Griffin-Lim, float32: ``target [shape=(B, T, F)]`` magnitudes, ``spec`` (same shape, complex64)
    the start (overwritten), ``window (n_fft,)``, ``inv_env (length,)`` -> ``y [shape=(B, length)]``.

    ``refine_step(b, j0, j1, rebuilt_rows)``, called every ``refine``-th iteration before the phase
    update, rescales ``target[b, j0:j1]`` in place. ``runs``: runs per clip (default one with one
    thread, else ``_RUNS_PER_THREAD * threads``; fewer where runs would be under ``_MIN_RUN`` frames).
    The result does not depend on ``threads`` or ``runs``.
    """
    b_n, frames, _ = target.shape
    n_fft = window.size
    length = inv_env.size
    half = n_fft // 2
    m = _overlap(n_fft, hop)
    wsyn = (window / n_fft).astype(np.float32)  # FFTW's inverse is unnormalised
    window = window.astype(np.float32)
    env_pad = np.zeros(length + n_fft, dtype=np.float32)
    env_pad[half : half + length] = inv_env
    y = np.empty((b_n, length), dtype=np.float32)
    if runs is None:
        runs = 1 if threads <= 1 else _RUNS_PER_THREAD * threads
    cuts = _cuts(frames, runs, max(_MIN_RUN, m + 1))
    all_runs = []
    for b in range(b_n):
        clip = _Clip(spec[b], np.zeros_like(spec[b]), target[b], env_pad, y[b])
        row: list[_Run] = []
        for f0, f1 in zip(cuts[:-1], cuts[1:]):
            row.append(_Run(clip, f0, f1, row[-1] if row else None, wsyn=wsyn, hop=hop))
        all_runs.append(row)
    sched = _Wavefront(all_runs, n_iter)
    step = _Steps(window, c=c, refine=refine, refine_step=refine_step, n_iter=n_iter)

    def work(_: int) -> None:
        try:
            while (task := sched.take()) is not None:
                b, k, i = task
                step(b, all_runs[b][k], i)
                sched.finish(b, k)
        except BaseException as e:
            sched.fail(e)

    _in_threads(work, list(range(max(1, min(threads, b_n * (len(cuts) - 1))))))
    if sched.error is not None:
        raise sched.error
    return y


class _Steps:
    """One task: run ``run`` of clip ``b``, iteration ``i`` (the last, ``n_iter``, only overlap-adds and
    writes the output)."""

    def __init__(self, window: np.ndarray, *, c: float, refine: int, refine_step, n_iter: int) -> None:
        self.window, self.c, self.refine, self.refine_step, self.n_iter = window, c, refine, refine_step, n_iter

    def __call__(self, b: int, run: _Run, i: int) -> None:
        if i == self.n_iter:
            run.istft(None)
            run.write_out()
            return
        clip, hop, n_fft = run.clip, run.hop, run.n_fft
        fwd = frame_fft(n_fft, _ROWS, 1)
        momentum = self.c if i else 0.0
        refining = bool(self.refine) and i % self.refine == self.refine - 1
        window, refine_step = self.window, self.refine_step

        def forward(j0: int, j1: int, acc: np.ndarray, s0: int) -> None:
            """Frames ``[j0, j1)`` from ``acc`` at local sample ``s0``: cut, FFT, refinement, phase update."""
            r = j1 - j0
            _cut(acc, s0, clip.inv_env, j0 * hop, window, hop, r, fwd.frames)
            fwd.forward()
            if refining:
                refine_step(b, j0, j1, fwd.spectra[:r])
            _phase(fwd.spectra, r, clip.prev[j0:j1], momentum, clip.target[j0:j1], clip.spec[j0:j1])

        run.istft(forward)


_POOL: ThreadPoolExecutor | None = None
_POOL_SIZE = 0
_POOL_LOCK = threading.Lock()  # one call at a time uses the pool


def _in_threads(fn: Callable[[int], None], items: list[int]) -> None:
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
        for f in [_POOL.submit(fn, item) for item in items]:
            f.result()
