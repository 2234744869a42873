"""The CPU Griffin-Lim loop of :mod:`genrelab.invert` for float32, in cache-sized blocks of frames.

One iteration is ``spec -> iSTFT -> y -> STFT -> rebuilt -> spec``. Done naively, every step
streams the whole ``(frames, n_fft)`` spectrogram through memory. Here one pass per iteration
walks the frames in blocks of ``_ROWS``: inverse FFT of a block (FFTW, :mod:`genrelab.dsp.fft`),
overlap-add into the signal, and as soon as a frame's samples have all their contributions
(``m = ceil(n_fft / hop) - 1`` frames later) that frame is cut out again, transformed forward and
given its new phase, all while the block is still in cache. The arithmetic is the one of
``invert.griffinlim``'s torch loop (the tests hold the two to float32 rounding). Where FFTW has
the plans, a run's pass in an iteration that does not refine is one compiled call
(:func:`genrelab.invert.fused.run_pass`, blocks of ``_FUSED_ROWS``, FFTW called from numba): no
Python between blocks, so threads do not queue for the GIL; the refining iterations call the same
steps from Python, with the same bits.

Threads share the work dynamically, as a wavefront over tasks (a pipelined stencil schedule):
each clip is cut into runs of frames (more runs than threads), each with its own overlap-add
buffer. Task ``T(c, i)`` is run ``c``'s pass of iteration ``i`` over its inner frames (those only
its own frames reach); task ``B(c, i)`` handles the ``2m`` frames around the cut before run ``c``:
it overlap-adds the ``4m`` time-domain frames around the cut (kept by the two runs' passes) into
a small buffer, in frame order from zero, exactly as one uncut pass sums those samples, so the
result is bit-identical whatever the number of threads and runs (FFTW and pocketfft give the
same bits for a frame in any row of any plan; the tests check the whole loop). ``B(c, i)``
needs ``T(c - 1, i)`` and ``T(c, i)``; ``T(c, i + 1)`` needs ``B(c, i)`` and ``B(c + 1, i)``.
Threads take whichever task is ready (lowest clip, then earliest iteration), so a thread that
another process slows delays only the tasks next to its own, and a batch's clips go to
threads as they free up.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from genrelab.dsp.fft import frame_fft, raw_plans
from genrelab.invert import fused

_ROWS = 64  # frames per block of the Python steps (refining iterations; pocketfft) and the unit of the cuts
_FUSED_ROWS = 16  # frames per block of the compiled passes (with the 16-row FFT plans all of a block stays in L2)
_MIN_RUN = 64  # frames per run below which a clip is not cut further
_EDGE_ROWS = 16  # rows of the FFT plan for the frames around a cut (2m = 6 for n_fft 2048, hop 512)
_RUNS_PER_THREAD = 2  # runs per clip and thread when clips are few (4 measured faster than 3, 6 and 8 at 2 threads)


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
    ``[f0 * hop, (f1 - 1) * hop + n_fft)``; it keeps its first and last ``2m`` inverse-transformed
    frames for the cuts (``head``/``tail`` ``(2m, n_fft)``, not kept at the clip's ends)."""

    def __init__(self, clip: _Clip, f0: int, f1: int, *, wsyn: np.ndarray, hop: int) -> None:
        self.clip, self.f0, self.f1, self.wsyn, self.hop = clip, f0, f1, wsyn, hop
        self.n_fft = n_fft = wsyn.size
        self.m = m = _overlap(n_fft, hop)
        frames = clip.spec.shape[0]
        self.acc = np.zeros((f1 - f0 - 1) * hop + n_fft, dtype=np.float32)
        self.head = np.empty((2 * m, n_fft), dtype=np.float32) if f0 > 0 else None
        self.tail = np.empty((2 * m, n_fft), dtype=np.float32) if f1 < frames else None
        # frames whose samples only this run's frames reach (the clip's own ends count as inside)
        self.inner0 = f0 if f0 == 0 else f0 + m
        self.inner1 = f1 if f1 == frames else f1 - m

    def istft(self, forward: Callable[[int, int, np.ndarray, int], None] | None) -> None:
        """Inverse FFT + overlap-add of this run's frames (keeping the edge frames); ``forward(j0, j1,
        acc, s0)`` on inner frames as soon as their samples are complete."""
        inv = frame_fft(self.n_fft, _ROWS, 0)
        spec, hop, f0, f1, m = self.clip.spec, self.hop, self.f0, self.f1, self.m
        done = self.inner0
        for b0 in range(f0, f1, _ROWS):
            b1 = min(b0 + _ROWS, f1)
            inv.spectra[: b1 - b0] = spec[b0:b1]
            inv.inverse()
            self._keep(inv.frames, b0, b1)
            fused.ola(inv.frames, b1 - b0, self.wsyn, hop, (b0 - f0) * hop, b0 == f0, self.acc)
            if forward is None:
                continue
            ready = self.inner1 if b1 == f1 else min(b1 - m, self.inner1)
            while done < ready:
                j1 = min(done + _ROWS, ready)
                forward(done, j1, self.acc, (done - f0) * hop)
                done = j1

    def fused_pass(self, window: np.ndarray, c: float, forward: bool) -> bool:
        """:meth:`istft`, with (``forward``) the cut, FFT and phase update of an iteration that does not
        refine, in one compiled call (:func:`genrelab.invert.fused.run_pass`, the same bits); False,
        having done nothing, where FFTW's raw plans are not available."""
        if not (frame_fft(self.n_fft, _ROWS, 0).fftw and frame_fft(self.n_fft, _ROWS, 1).fftw):
            return False  # the other steps run on pocketfft: every frame must go through one library
        inv, fwd = frame_fft(self.n_fft, _FUSED_ROWS, 0), frame_fft(self.n_fft, _FUSED_ROWS, 1)
        raw_inv, raw_fwd = raw_plans(inv), raw_plans(fwd)
        if raw_inv is None or raw_fwd is None:
            return False
        clip, none = self.clip, np.empty((0, self.n_fft), dtype=np.float32)
        fused.run_pass(
            clip.spec,
            clip.prev,
            clip.target,
            clip.inv_env,
            self.acc,
            none if self.head is None else self.head,
            none if self.tail is None else self.tail,
            self.f0,
            self.f1,
            self.inner0,
            self.inner1,
            self.m,
            self.hop,
            window,
            self.wsyn,
            c,
            forward,
            (inv.frames, inv.spectra, fwd.frames, fwd.spectra),
            (raw_inv.execute_c2r, raw_inv.c2r, raw_fwd.execute_r2c, raw_fwd.r2c),
        )
        return True

    def _keep(self, frames: np.ndarray, b0: int, b1: int) -> None:
        """Copy the block ``[b0, b1)``'s frames that are among the first or last ``2m`` of the run."""
        k = 2 * self.m
        if self.head is not None and b0 < self.f0 + k:
            j1 = min(b1, self.f0 + k)
            self.head[b0 - self.f0 : j1 - self.f0] = frames[: j1 - b0]
        if self.tail is not None and b1 > self.f1 - k:
            j0 = max(b0, self.f1 - k)
            self.tail[j0 - (self.f1 - k) : b1 - (self.f1 - k)] = frames[j0 - b0 : b1 - b0]

    def write_out(self) -> None:
        """The output samples that only this run's frames reach."""
        clip, hop, n_fft, half = self.clip, self.hop, self.n_fft, self.n_fft // 2
        a0 = self.f0 * hop
        g0 = max((self.f0 - 1) * hop + n_fft if self.f0 else 0, half)
        g1 = min(a0 + self.acc.size if self.tail is None else self.f1 * hop, half + clip.out.size)
        if g1 > g0:
            clip.out[g0 - half : g1 - half] = self.acc[g0 - a0 : g1 - a0] * clip.inv_env[g0:g1]


def _edge(before: _Run, after: _Run, forward: Callable[[int, int, np.ndarray, int], None] | None) -> None:
    """The cut between ``before`` and ``after`` (``f0 = after.f0``): overlap-add frames ``[f0 - 2m, f0 + 2m)``
    in order from zero, then ``forward`` frames ``[f0 - m, f0 + m)``, or (``forward`` None: the last
    pass) write the output samples ``[f0 * hop, (f0 - 1) * hop + n_fft)``."""
    m, hop, n_fft, f0, clip = after.m, after.hop, after.n_fft, after.f0, after.clip
    assert before.tail is not None and after.head is not None
    buf = np.empty((4 * m - 1) * hop + n_fft, dtype=np.float32)
    fused.ola(np.concatenate([before.tail, after.head]), 4 * m, after.wsyn, hop, 0, True, buf)
    g = (f0 - 2 * m) * hop  # buf[0] is padded sample g
    if forward is None:
        half = n_fft // 2
        g0, g1 = max(f0 * hop, half), min((f0 - 1) * hop + n_fft, half + clip.out.size)
        if g1 > g0:
            clip.out[g0 - half : g1 - half] = buf[g0 - g : g1 - g] * clip.inv_env[g0:g1]
        return
    for j0 in range(f0 - m, f0 + m, _ROWS):
        j1 = min(j0 + _ROWS, f0 + m)
        forward(j0, j1, buf, (j0 - f0 + 2 * m) * hop)


def _cuts(frames: int, runs: int, min_run: int) -> list[int]:
    """Run boundaries: ``runs`` near-equal runs cut at multiples of ``_ROWS`` (so no run has a part-empty
    FFT block but the clip's last), fewer when a run would be shorter than ``min_run``."""
    runs = max(1, min(runs, frames // max(min_run, 1)))
    step = _ROWS if frames >= runs * max(min_run, _ROWS) else 1
    cuts = [0]
    for k in range(1, runs):
        f = round(k * frames / runs / step) * step
        if f - cuts[-1] >= min_run and frames - f >= min_run:
            cuts.append(f)
    return [*cuts, frames]


class _Wavefront:
    """Dynamic scheduler of the tasks of every clip ``b``: ``t[b][c]`` is the next iteration of ``T(c)``,
    ``e[b][c]`` that of ``B(c)`` (the cut before run ``c``; ``e[b][0]`` unused)."""

    def __init__(self, runs: list[list[_Run]], n_iter: int) -> None:
        self.runs, self.n_iter = runs, n_iter
        self.t = [[0] * len(r) for r in runs]
        self.e = [[0] + [0] * (len(r) - 1) for r in runs]
        self.busy: set[tuple[int, str, int]] = set()
        self.left = sum(2 * len(r) - 1 for r in runs) * (n_iter + 1)
        self.first = 0  # clips before this one are finished
        self.cond = threading.Condition()
        self.error: BaseException | None = None

    def _ready(self, b: int) -> tuple[str, int, int] | None:
        """Clip ``b``'s ready task of the earliest iteration: ``(kind, c, i)``, or None."""
        t, e, n, best = self.t[b], self.e[b], len(self.t[b]), None
        for c in range(n):
            i = t[c]
            if (
                i <= self.n_iter
                and (b, "T", c) not in self.busy
                and (i == 0 or ((c == 0 or e[c] >= i) and (c + 1 == n or e[c + 1] >= i)))
            ):
                if best is None or 2 * i < best[0]:
                    best = (2 * i, "T", c, i)
            i = e[c]
            if c and i <= self.n_iter and (b, "B", c) not in self.busy and t[c - 1] > i and t[c] > i:
                if best is None or 2 * i + 1 < best[0]:
                    best = (2 * i + 1, "B", c, i)
        return None if best is None else best[1:]

    def take(self) -> tuple[int, str, int, int] | None:
        """Claim a ready task ``(b, kind, c, i)``, waiting for one; None when all are done or one failed."""
        with self.cond:
            while self.error is None and self.left:
                while (
                    self.first < len(self.runs)
                    and min(self.t[self.first]) > self.n_iter
                    and (len(self.e[self.first]) == 1 or min(self.e[self.first][1:]) > self.n_iter)
                ):
                    self.first += 1
                for b in range(self.first, len(self.runs)):
                    task = self._ready(b)
                    if task is not None:
                        self.busy.add((b, task[0], task[1]))
                        return (b, *task)
                self.cond.wait()
            return None

    def finish(self, b: int, kind: str, c: int) -> None:
        with self.cond:
            (self.t if kind == "T" else self.e)[b][c] += 1
            self.busy.discard((b, kind, c))
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
    update, rescales ``target[b, j0:j1]`` in place. ``runs``: runs per clip (default: one with one thread
    or at least two clips per thread, else ``_RUNS_PER_THREAD * threads``; fewer where runs would be
    under ``_MIN_RUN`` frames).
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
        runs = 1 if threads <= 1 or b_n >= 2 * threads else _RUNS_PER_THREAD * threads
    cuts = _cuts(frames, runs, max(_MIN_RUN, 2 * m))
    all_runs = []
    for b in range(b_n):
        clip = _Clip(spec[b], np.zeros_like(spec[b]), target[b], env_pad, y[b])
        all_runs.append([_Run(clip, f0, f1, wsyn=wsyn, hop=hop) for f0, f1 in zip(cuts[:-1], cuts[1:])])
    sched = _Wavefront(all_runs, n_iter)
    step = _Steps(window, c=c, refine=refine, refine_step=refine_step, n_iter=n_iter)

    def work(_: int) -> None:
        """Take ready tasks until none are left. On a busy machine every thread keeps taking tasks: a
        thread that another process slows only holds up the tasks next to its own, and two threads
        with one core busy, or both, still get more CPU than one (``bench/invert.py --busy``)."""
        try:
            while (task := sched.take()) is not None:
                b, kind, k, i = task
                step(b, all_runs[b], kind, k, i)
                sched.finish(b, kind, k)
        except BaseException as e:
            sched.fail(e)

    workers = list(range(max(1, min(threads, b_n * (2 * len(cuts) - 3)))))
    _in_threads(work, workers)
    if sched.error is not None:
        raise sched.error
    return y


class _Steps:
    """One task: ``T`` (run ``k``'s pass) or ``B`` (the cut before run ``k``) of clip ``b``, iteration ``i``
    (the last, ``n_iter``, only overlap-adds and writes the output)."""

    def __init__(self, window: np.ndarray, *, c: float, refine: int, refine_step, n_iter: int) -> None:
        self.window, self.c, self.refine, self.refine_step, self.n_iter = window, c, refine, refine_step, n_iter

    def __call__(self, b: int, runs: list[_Run], kind: str, k: int, i: int) -> None:
        run = runs[k]
        if i == self.n_iter:
            if kind == "T":
                if not run.fused_pass(self.window, 0.0, False):
                    run.istft(None)
                run.write_out()
            else:
                _edge(runs[k - 1], run, None)
            return
        clip, hop = run.clip, run.hop
        fwd = frame_fft(run.n_fft, _ROWS, 1)
        if kind == "B" and 2 * run.m <= min(_EDGE_ROWS, _ROWS):  # a cut's frames fit a smaller plan ...
            edge = frame_fft(run.n_fft, _EDGE_ROWS, 1)
            fwd = edge if edge.fftw == fwd.fftw else fwd  # ... by the same library (the same bits)
        momentum = self.c if i else 0.0
        refining = bool(self.refine) and i % self.refine == self.refine - 1
        window, refine_step = self.window, self.refine_step
        if kind == "T" and not refining and run.fused_pass(window, momentum, True):
            return

        def forward(j0: int, j1: int, acc: np.ndarray, s0: int) -> None:
            """Frames ``[j0, j1)`` from ``acc`` at local sample ``s0``: cut, FFT, refinement, phase update."""
            r = j1 - j0
            fused.cut(acc, s0, clip.inv_env, j0 * hop, window, hop, r, fwd.frames)
            fwd.forward()
            if refining:
                refine_step(b, j0, j1, fwd.spectra[:r])
            fused.phase(fwd.spectra, r, clip.prev[j0:j1], momentum, clip.target[j0:j1], clip.spec[j0:j1])

        if kind == "T":
            run.istft(forward)
        else:
            _edge(runs[k - 1], run, forward)


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
