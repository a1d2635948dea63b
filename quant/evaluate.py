"""Top-1 accuracy on real test data, and the memory/time bookkeeping of a run."""

from __future__ import annotations

import math
import resource
import sys

import numpy as np
import torch
from torch import nn

__all__ = [
    "top1",
    "correct",
    "paired_difference",
    "peak_memory_mb",
    "describe_device",
    "resolve_device",
]


@torch.no_grad()
def correct(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device, batch: int = 500
) -> np.ndarray:
    """Whether ``model``'s top-1 prediction is right, per image of (x, y) (bool array)."""
    model.eval()
    out = []
    for i in range(0, len(x), batch):
        pred = model(x[i : i + batch].to(device)).argmax(1).cpu()
        out.append((pred == y[i : i + batch]).numpy())
    return np.concatenate(out) if out else np.zeros(0, dtype=bool)


def top1(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device, batch: int = 500
) -> float:
    """Top-1 accuracy in percent of ``model`` on (x, y)."""
    return 100.0 * float(correct(model, x, y, device, batch).sum()) / max(1, len(x))


def paired_difference(a: np.ndarray, b: np.ndarray, z: float = 1.96) -> tuple[float, float]:
    """Top-1 of ``a`` minus top-1 of ``b`` in points, and the half-width of its normal
    confidence interval (``z`` = 1.96: 95 %), from two models' per-image correctness on the
    same images. Paired, so only the images the two disagree on add variance (the standard
    error of McNemar's setting): two quantized versions of one network that differ by 0.2
    points on 10,000 images are told apart only if few images flip."""
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise ValueError(f"need two per-image vectors of one length, got {a.shape}, {b.shape}")
    n = len(a)
    d = a.astype(np.float64) - b.astype(np.float64)  # +1, 0 or -1 per image
    mean = float(d.mean())
    se = math.sqrt(max(float((d * d).mean()) - mean * mean, 0.0) / n)
    return 100.0 * mean, 100.0 * z * se


def peak_memory_mb(device: torch.device) -> float:
    """Peak GPU memory allocated by torch on CUDA, else the process's peak resident set."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when a GPU is there (asked only now, never at import)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"
