"""Same seed, same network: torch's deterministic kernels while a search component trains."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

__all__ = ["deterministic"]


@contextlib.contextmanager
def deterministic() -> Iterator[None]:
    """Turns on ``torch.use_deterministic_algorithms`` for the block, then restores it.

    Without it, two runs with the same seed on the same 2-core machine end with different
    weights (some CPU backward kernels accumulate in thread order). Results still depend on
    the number of threads, which changes how reductions are split.
    """
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)
