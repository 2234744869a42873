"""Local worker processes for batch extraction: how many, and that they die with their parent.

Bound: at most :data:`WORKERS_PER_CPU` per CPU core (``os.cpu_count()``) and never more than
:data:`WORKERS_CAP` in all; :func:`check_workers` refuses more in one sentence, so a typo like
``--workers 100000`` cannot fork thousands of processes.

Parent death: each worker runs :func:`_die_with_parent` as the pool initializer. On Linux it
asks the kernel for SIGKILL when the parent dies (``prctl(PR_SET_PDEATHSIG)``); everywhere a
daemon thread checks once a second that the parent pid is unchanged and exits otherwise. A
``kill -9`` of ``genrelab extract`` therefore leaves no orphaned workers.

Threads: the engine is single-threaded by design (one clip per process), its matrix products
included (:func:`genrelab.threads.on_one_blas_thread`), so no pool of spinning BLAS threads in
one worker competes with the other workers.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, Callable, Iterator

from genrelab.errors import ParameterError

#: Most local worker processes per CPU core, and at most in all.
WORKERS_PER_CPU, WORKERS_CAP = 4, 64


def max_workers() -> int:
    """The most local worker processes allowed here: 4 per CPU core, at most 64."""
    return max(1, min(WORKERS_CAP, WORKERS_PER_CPU * (os.cpu_count() or 1)))


def check_workers(workers: int) -> None:
    """ParameterError unless ``1 <= workers <= max_workers()``."""
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ParameterError(f"workers={workers!r} must be a positive integer")
    if workers > max_workers():
        raise ParameterError(
            f"workers={workers} is more than the {max_workers()} worker processes allowed on this machine "
            f"({WORKERS_PER_CPU} per CPU core, at most {WORKERS_CAP})"
        )


def run_local(
    task: Callable[[str, Any], dict],
    todo: list[tuple[int, str]],
    settings: Any,
    workers: int,
    executor: ProcessPoolExecutor | None = None,
) -> Iterator[tuple[int, dict]]:
    """``(index, task(path, settings))`` for ``todo`` ``(index, path)`` pairs, in completion order.

    ``workers == 1`` runs in this process; otherwise a :func:`pool` with at most two tasks
    per worker in flight (memory stays flat): ``executor`` when given (a pool of ``workers``
    started earlier, by :func:`start`; left running for its owner to close), else a new one.
    """
    if workers == 1:
        for i, path in todo:
            yield i, task(path, settings)
        return
    with contextlib.nullcontext(executor) if executor is not None else pool(workers) as executor:
        pending: dict[Any, int] = {}
        queue = iter(todo)
        for i, path in queue:  # keep at most 2 tasks per worker in flight: memory stays flat
            pending[executor.submit(task, path, settings)] = i
            if len(pending) >= 2 * workers:
                break
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                yield pending.pop(fut), fut.result()
                nxt = next(queue, None)
                if nxt is not None:
                    pending[executor.submit(task, nxt[1], settings)] = nxt[0]


def pool(workers: int, warm: Callable[[], object] | None = None) -> ProcessPoolExecutor:
    """A process pool of ``workers`` processes that exit when this process dies.

    ``warm`` (a module-level function) runs in each process as it starts, before its first
    task: loading what the tasks need (the feature engine's kernels) while this process
    does other work. An exception in it is ignored: the tasks load what they need themselves.
    """
    check_workers(workers)
    return ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(os.getpid(), warm))


def start(executor: ProcessPoolExecutor, workers: int) -> ProcessPoolExecutor:
    """Start ``executor``'s ``workers`` processes now rather than at its first task; returns it.

    A pool starts its processes when the first task is submitted (all at once with the fork
    start method, one per task otherwise), so this submits ``workers`` no-op tasks.
    """
    for _ in range(workers):
        executor.submit(os.getpid)
    return executor


def _init_worker(parent: int, warm: Callable[[], object] | None) -> None:
    """Pool initializer: :func:`_die_with_parent`, then ``warm()`` if given.

    The warm-up runs with the garbage collector off (its imports make some 200,000 objects and no
    garbage worth a collection: 15 % of its 0.45 s here), then freezes what it made (it lives as
    long as the process, so later collections need not scan it) and turns the collector back on.
    """
    _die_with_parent(parent)
    if warm is not None:
        gc.disable()
        try:
            warm()
        except Exception:  # noqa: BLE001 - a failed warm-up costs time, never a result
            pass
        finally:
            gc.freeze()
            gc.enable()


_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int, interval: float = 1.0) -> None:
    """Worker initializer: end this process when ``parent`` is gone.

    On Linux the kernel sends SIGKILL when the parent dies (``prctl(PR_SET_PDEATHSIG)``; it
    fires when the parent *thread* that started the worker ends, which is the thread running
    the extraction, alive as long as the pool). A daemon thread also checks every ``interval``
    seconds that the parent pid is unchanged (the portable fallback, and the cover for a
    parent that died before the prctl call).
    """
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - no libc prctl: the thread covers it
            pass
    ppid = os.getppid()  # the parent, or the forkserver (which exits when the parent does)
    if ppid == 1 or not _alive(parent):
        os._exit(1)

    def watch() -> None:
        while os.getppid() == ppid:
            time.sleep(interval)
        os._exit(1)

    threading.Thread(target=watch, name="genrelab-parent-watch", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - alive, owned by someone else
        return True
    return True


__all__ = ["WORKERS_CAP", "WORKERS_PER_CPU", "check_workers", "max_workers", "pool", "run_dask", "run_local", "start"]


def run_dask(
    fn: Callable[..., dict], todo: list[tuple[int, str]], settings: Any, address: str
) -> Iterator[tuple[int, dict]]:
    """``(index, fn(path, settings))`` for each of ``todo`` on the Dask scheduler at ``address``,
    as they finish; at most two tasks per worker in flight. ParameterError when it cannot connect."""
    try:
        from dask.distributed import Client, as_completed
    except ImportError as exc:  # pragma: no cover - dask is a dependency
        raise ParameterError(f"--scheduler needs dask.distributed ({exc})") from None
    try:
        client = Client(address, timeout="10s")
    except Exception as exc:
        raise ParameterError(f"scheduler={address!r}: cannot connect ({exc})") from None
    try:
        n_workers = max(1, len(client.scheduler_info().get("workers", {})))
        queue = iter(todo)
        futures = {}
        for i, path in queue:
            futures[client.submit(fn, path, settings, pure=False)] = i
            if len(futures) >= 2 * n_workers:
                break
        stream = as_completed(list(futures))
        for fut in stream:
            i = futures.pop(fut)
            result = fut.result()
            yield i, result
            nxt = next(queue, None)
            if nxt is not None:
                f = client.submit(fn, nxt[1], settings, pure=False)
                futures[f] = nxt[0]
                stream.add(f)
    finally:
        client.close()
