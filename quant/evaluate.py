"""Top-1 accuracy on real test data, and the memory/time bookkeeping of a run."""

from __future__ import annotations

import resource
import sys

import torch
from torch import nn

__all__ = ["top1", "peak_memory_mb", "describe_device", "resolve_device"]


@torch.no_grad()
def top1(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device, batch: int = 500
) -> float:
    """Top-1 accuracy in percent of ``model`` on (x, y)."""
    model.eval()
    correct = 0
    for i in range(0, len(x), batch):
        pred = model(x[i : i + batch].to(device)).argmax(1).cpu()
        correct += int((pred == y[i : i + batch]).sum())
    return 100.0 * correct / max(1, len(x))


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
