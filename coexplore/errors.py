"""One exception tree for the whole project.

Every message states the rule that was broken, the offending value and how to fix it, so the
CLI and the REST API can show it to the user as it is.
"""

from __future__ import annotations

__all__ = [
    "CoexploreError",
    "ConfigError",
    "UnknownComponentError",
    "InfeasibleDesignError",
    "JobNotFoundError",
]


class CoexploreError(Exception):
    """Base class of every error this project raises on purpose."""


class ConfigError(CoexploreError, ValueError):
    """A value given by the user breaks a rule (range, type, shape, consistency)."""


class UnknownComponentError(CoexploreError, KeyError):
    """A name was looked up in a registry that does not hold it."""

    def __str__(self) -> str:  # KeyError would quote the message; show it as written.
        return str(self.args[0]) if self.args else ""


class InfeasibleDesignError(CoexploreError):
    """No design meets the constraints, or a design cannot run a workload at all."""


class JobNotFoundError(CoexploreError, LookupError):
    """A job id that the job store does not know."""
