"""Thread counts of the libraries underneath: torch's for the inversion's set-up steps (mel
inversion, phase start), BLAS's (numpy's OpenBLAS) for the feature engine.

Why BLAS on one thread: the engine's few matrix products (mel bank, DCT, chroma) are small, and
OpenBLAS's worker threads spin while they wait, so with two extraction workers on two cores
they fought each other (100 real 15 s clips: 6.6 s wall and 10.9 s CPU, 4.2 s and 6.1 s on one
BLAS thread). And a product's rounding depends on how many threads split it: on one thread the
57 features are the same bits on a 2-core laptop and a 64-core server.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable, TypeVar

__all__ = ["one_torch_thread", "blas_threads", "on_one_blas_thread"]

F = TypeVar("F", bound=Callable[..., Any])


_CONTROLLER: list[Any] = []


def blas_threads(n: int) -> Any:
    """Context manager: BLAS pools (OpenBLAS, MKL) limited to ``n`` threads inside, restored after.

    threadpoolctl's controller lists the loaded libraries once per process (about 1 ms with torch
    loaded); each limit after that costs microseconds. The libraries are those loaded by the
    first call: numpy's OpenBLAS, which the engine's products use, loads with numpy."""
    if not _CONTROLLER:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0].limit(limits=n, user_api="blas")


def on_one_blas_thread(fn: F) -> F:
    """Decorator: ``fn`` runs with BLAS on one thread (the caller's count comes back after)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with blas_threads(1):
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


@contextmanager
def one_torch_thread(enabled: bool = True) -> Iterator[None]:
    """Run torch's CPU ops on one thread inside the block, then restore the caller's count.

    The set-up steps are many small ops (the NNLS iterates sparse products on ``(n, K)``
    columns); with two threads each op hands work to an OpenMP thread, which costs more than
    it gains and, when another process holds a core, waits for that core. The results do not
    depend on the thread count (the golden test holds 1 and 2 threads to the same bits).
    torch's count is process-wide: call this from one Python thread at a time (the inversion
    does); two threads entering it at once could restore each other's count in the wrong order.
    """
    import torch

    before = torch.get_num_threads()
    if not enabled or before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
