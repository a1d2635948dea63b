"""Same seed, same network: torch's deterministic kernels while a search component trains."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

__all__ = ["deterministic", "fixed_threads", "SEARCH_THREADS"]

# CPU threads of a co-search. The split of a reduction depends on the thread count, so the
# same seed on 2 and on 16 threads ends in different designs (measured: winner fps 154 on 2
# threads, 114 on 1, seed 0). A fixed count makes a seed's result the same on any machine
# with the same torch build and CPU instruction set; 2 is this project's reference machine.
SEARCH_THREADS = 2


@contextlib.contextmanager
def fixed_threads(threads: int) -> Iterator[None]:
    """torch's CPU thread count fixed to ``threads`` for the block, then restored."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def deterministic(threads: int | None = None) -> Iterator[None]:
    """Turns on ``torch.use_deterministic_algorithms`` for the block (and, with ``threads``,
    fixes torch's CPU thread count), then restores both.

    Without it, two runs with the same seed on the same 2-core machine end with different
    weights (some CPU backward kernels accumulate in thread order). Without ``threads``,
    results still depend on the number of threads, which changes how reductions are split.
    """
    before = torch.are_deterministic_algorithms_enabled()
    threads_before = torch.get_num_threads()
    torch.use_deterministic_algorithms(True)
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)
        torch.set_num_threads(threads_before)
