"""Pareto filtering of many designs (numpy only)."""

from __future__ import annotations

import numpy as np

__all__ = ["pareto_mask"]


def pareto_mask(objectives: np.ndarray) -> np.ndarray:
    """Marks the non-dominated rows of ``objectives`` (n, k), every column to be minimised.

    A row is dominated when another row is <= in every column and < in at least one.
    Exact duplicates are both kept. Rows with a non-finite value are never on the front.

    Returns:
        Boolean mask of shape (n,).
    """
    obj = np.asarray(objectives, dtype=np.float64)
    n = obj.shape[0]
    keep = np.zeros(n, dtype=bool)
    finite = np.isfinite(obj).all(axis=1)
    idx = np.flatnonzero(finite)
    if idx.size == 0:
        return keep
    # Sorted lexicographically, a row can only be dominated by rows before it.
    order = idx[np.lexsort(obj[idx].T[::-1])]
    front: list[int] = []
    front_vals = np.empty((0, obj.shape[1]))
    for i in order:
        v = obj[i]
        if front_vals.shape[0]:
            le = (front_vals <= v).all(axis=1)
            lt = (front_vals < v).any(axis=1)
            if np.any(le & lt):
                continue
        front.append(i)
        front_vals = np.vstack([front_vals, v])
    keep[front] = True
    return keep
