"""The strategy seam: every search the product runs is a :class:`SearchStrategy`.

A strategy is registered by name in :data:`STRATEGIES`; :func:`coexplore.search.run` picks it
from the spec (``spec.strategy``, or the spec's kind when it has no such field) and calls it
in this order, once each:

1. ``__init__(spec)`` -- keep the spec; no work, no I/O.
2. ``prepare(progress)`` -- load what the search needs (workloads, data, evaluators); every
   check on the spec that needs loaded state fails here, before long work.
3. ``search(progress)`` -- the search itself; emits :class:`~coexplore.progress.ProgressEvent`
   as it goes.
4. ``finalize()`` -- derive and verify the winners; return a :class:`~coexplore.runs.RunResult`
   whose artefacts the caller saves.

``run`` (the template method) times each phase into ``RunResult.timings_s``. A strategy that
finds nothing raises :class:`~coexplore.errors.InfeasibleDesignError` naming the closest miss.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from typing import ClassVar

from coexplore.errors import ConfigError
from coexplore.progress import ProgressFn
from coexplore.registry import Registry
from coexplore.runs import RunResult, RunSpec

__all__ = ["SearchStrategy", "STRATEGIES", "register_strategy"]


class SearchStrategy(ABC):
    """Base of every search; see the module docstring for the call order.

    Subclasses set ``name`` (the registry key) and ``spec_type`` (the spec class they run).
    """

    name: ClassVar[str] = ""
    spec_type: ClassVar[type[RunSpec]] = RunSpec

    def __init__(self, spec: RunSpec) -> None:
        if not isinstance(spec, self.spec_type):
            raise ConfigError(
                f"strategy {self.name!r} runs {self.spec_type.kind!r} specs, but got a "
                f"{spec.kind!r} spec."
            )
        self.spec = spec

    def prepare(self, progress: ProgressFn | None) -> None:  # noqa: B027 - optional hook
        """Loads what the search needs; the default needs nothing."""

    @abstractmethod
    def search(self, progress: ProgressFn | None) -> None:
        """Runs the search, keeping what ``finalize`` needs on ``self``."""

    @abstractmethod
    def finalize(self) -> RunResult:
        """Derives, verifies and returns the result."""

    def run(self, progress: ProgressFn | None = None) -> RunResult:
        """prepare -> search -> finalize, timing each."""
        timings: dict[str, float] = {}
        t = time.perf_counter()
        self.prepare(progress)
        timings["prepare"] = time.perf_counter() - t
        t = time.perf_counter()
        self.search(progress)
        timings["search"] = time.perf_counter() - t
        t = time.perf_counter()
        result = self.finalize()
        timings["finalize"] = time.perf_counter() - t
        result.timings_s = {**timings, **result.timings_s}
        return result


STRATEGIES: Registry[type[SearchStrategy]] = Registry("search strategy")


def register_strategy(cls: type[SearchStrategy]) -> type[SearchStrategy]:
    """Class decorator: adds a strategy to :data:`STRATEGIES` under ``cls.name``."""
    STRATEGIES.register(cls.name, cls)
    return cls
