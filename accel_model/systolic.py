"""Compute cycles of a systolic array: SCALE-Sim's closed forms (RESEARCH.md s.2) and the
fold-pipelined form the analytical model uses.

SCALE-Sim pays the array's fill and drain on every fold. The analytical model's ``ws`` and
``os`` dataflows pipeline consecutive folds (:func:`pipelined_cycles`), which equals the
closed form for a layer of one fold. Both are kept here on their own so tests can check
them against SCALE-Sim's published numbers and against each other.
"""

from __future__ import annotations

import numpy as np

__all__ = ["systolic_compute_cycles", "pipelined_cycles", "fold_pipeline", "gemm_view"]


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


def pipelined_cycles(sr, sc, t, rows, cols, dataflow: str, groups=1):  # noqa: ANN001, ANN201
    """Compute cycles with consecutive folds pipelined (the analytical model's ws and os).

    The next fold's weights shift in (ws, shadow weight registers) or the previous fold's
    outputs shift out (os, shadow accumulators) while the current fold computes, so the
    skew is paid once per layer and each later fold takes max(T, R) cycles.

    Returns:
        F*T + (F-1)*max(0, R-T) + R + C - 2, plus R for ws/is (the first weight load), with
        F = groups*ceil(sr/rows)*ceil(sc/cols) folds. Equals :func:`systolic_compute_cycles`
        when F = 1, and never exceeds it.
    """
    if dataflow not in ("ws", "is", "os"):
        raise ValueError(f"dataflow must be ws, is or os, got {dataflow!r}")
    rows, t = np.asarray(rows, dtype=np.float64), np.asarray(t, dtype=np.float64)
    folds = groups * np.ceil(np.divide(sr, rows)) * np.ceil(np.divide(sc, cols))
    return fold_pipeline(folds, t, rows, cols, rows if dataflow in ("ws", "is") else 0.0)


def fold_pipeline(folds, t, rows, cols, first_load):  # noqa: ANN001, ANN201
    """``folds`` pipelined folds of ``t`` cycles on a ``rows x cols`` array, plus
    ``first_load`` cycles before the first (the form of :func:`pipelined_cycles`; the
    analytical model calls it with per-element dataflows)."""
    return folds * t + (folds - 1) * np.maximum(rows - t, 0.0) + rows + cols - 2 + first_load


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
