"""SCALE-Sim's closed-form compute cycles of a systolic array (RESEARCH.md s.2).

The analytical model's ``ws`` and ``os`` dataflows use these forms; they are kept here on
their own so tests can check them against SCALE-Sim's published numbers.
"""

from __future__ import annotations

import numpy as np

__all__ = ["systolic_compute_cycles", "gemm_view"]


def systolic_compute_cycles(sr, sc, t, rows, cols, dataflow: str):  # noqa: ANN001, ANN201
    """Compute cycles of a GEMM-ified layer on a ``rows x cols`` systolic array.

    Args:
        sr, sc, t: Spatial rows, spatial columns and temporal length of the GEMM view.
        rows, cols: Array size.
        dataflow: ``ws``/``is`` (weight-/input-stationary) or ``os`` (output-stationary).

    Returns:
        ceil(sr/rows)*ceil(sc/cols)*(2*rows + cols + t - 2) for ws/is,
        ceil(sr/rows)*ceil(sc/cols)*(t + rows + cols - 2) for os.
    """
    folds = np.ceil(np.divide(sr, rows)) * np.ceil(np.divide(sc, cols))
    if dataflow in ("ws", "is"):
        return folds * (2 * np.asarray(rows) + cols + t - 2)
    if dataflow == "os":
        return folds * (np.asarray(t) + rows + cols - 2)
    raise ValueError(f"dataflow must be ws, is or os, got {dataflow!r}")


def gemm_view(layer, dataflow: str) -> tuple[int, int, int]:  # noqa: ANN001
    """(Sr, Sc, T) of a layer as SCALE-Sim GEMM-ifies it, per group."""
    crs = (layer.in_channels // layer.groups) * layer.kernel_h * layer.kernel_w
    npq = layer.batch * layer.out_h * layer.out_w
    k = layer.out_channels // layer.groups
    if dataflow == "ws":
        return crs, k, npq
    if dataflow == "os":
        return npq, k, crs
    if dataflow == "is":
        return crs, npq, k
    raise ValueError(f"dataflow must be ws, is or os, got {dataflow!r}")
