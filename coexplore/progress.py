"""One progress protocol: the library emits :class:`ProgressEvent`s, the CLI draws them as
bars, the service stores and streams them.

A library function takes ``progress: ProgressFn | None`` and calls :func:`emit`; it never
prints. Events of one phase arrive in order (``done`` never decreases within a phase).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

__all__ = ["ProgressEvent", "ProgressFn", "emit", "collect"]


@dataclasses.dataclass(frozen=True)
class ProgressEvent:
    """How far one phase of a job has come.

    Args:
        phase: Short stable name of the phase (``"pricing"``, ``"evaluator"``, ``"synthetic"``).
        done: Units of work done in this phase.
        total: Units in the phase; ``None`` when unknown.
        message: One line for a person.
        metrics: Numbers worth plotting as they arrive (loss, predicted fps...).
    """

    phase: str
    done: float
    total: float | None = None
    message: str = ""
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)

    @property
    def fraction(self) -> float | None:
        """``done / total`` in [0, 1], or ``None`` when the total is unknown."""
        if not self.total:
            return None
        return min(1.0, max(0.0, self.done / self.total))

    def to_dict(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "done": self.done,
            "total": self.total,
            "message": self.message,
            # JSON has no inf/nan: a diverged loss is stored as null
            "metrics": {
                k: (float(v) if math.isfinite(float(v)) else None) for k, v in self.metrics.items()
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProgressEvent:
        return cls(
            phase=str(data["phase"]),
            done=data["done"],
            total=data.get("total"),
            message=data.get("message", ""),
            metrics={k: (math.nan if v is None else v) for k, v in data.get("metrics", {}).items()},
        )


ProgressFn = Callable[[ProgressEvent], None]


def emit(
    progress: ProgressFn | None,
    phase: str,
    done: float,
    total: float | None = None,
    message: str = "",
    **metrics: float,
) -> None:
    """Sends one event to ``progress`` (nothing when it is ``None``)."""
    if progress is not None:
        progress(ProgressEvent(phase, done, total, message, dict(metrics)))


def collect() -> tuple[list[ProgressEvent], ProgressFn]:
    """A list and a callback that appends every event to it (for tests and the job store)."""
    events: list[ProgressEvent] = []
    return events, events.append
