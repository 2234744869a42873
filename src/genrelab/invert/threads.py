"""Torch's thread count for the inversion's set-up steps (mel inversion, phase start)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = ["one_torch_thread"]


@contextmanager
def one_torch_thread(enabled: bool = True) -> Iterator[None]:
    """Run torch's CPU ops on one thread inside the block, then restore the caller's count.

    The set-up steps are many small ops (the NNLS iterates sparse products on ``(n, K)``
    columns); with two threads each op hands work to an OpenMP thread, which costs more than
    it gains and, when another process holds a core, waits for that core. The results do not
    depend on the thread count (the golden test holds 1 and 2 threads to the same bits).
    torch's count is per calling thread, so save and restore here are too.
    """
    before = torch.get_num_threads()
    if not enabled or before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
