"""The hardware objectives a search minimises (torch-free; works on numpy and torch)."""

from __future__ import annotations

from typing import Any

from coexplore.errors import ConfigError

__all__ = ["OBJECTIVES", "log_objective"]

#: Energy-delay product (default), latency, energy, area, energy-delay-area product.
OBJECTIVES = ("edp", "latency", "energy", "area", "edap")


def log_objective(name: str, log_lat_s: Any, log_energy: Any, log_area: Any) -> Any:
    """Log of the objective from log latency (s), log energy and log area (any units)."""
    if name == "edp":
        return log_lat_s + log_energy
    if name == "latency":
        return log_lat_s
    if name == "energy":
        return log_energy
    if name == "area":
        return log_area
    if name == "edap":
        return log_lat_s + log_energy + log_area
    raise ConfigError(f"unknown objective {name!r}; valid objectives: {', '.join(OBJECTIVES)}.")
