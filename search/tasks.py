"""Tasks: real labelled images with fixed, seeded train/val/test splits.

Every task gives uint8 images (N, 32, 32, 3) so the hardware workload of a searched network
is CIFAR-scale whatever the data. Nothing is downloaded:

* ``digits`` -- scikit-learn's handwritten digits (1,797 real 8x8 images, bundled with
  scikit-learn), upsampled to 32x32 (bilinear) and repeated over 3 channels. The default.
* ``cifar10`` -- from ``data``: a folder with the CIFAR-10 python batches (``data_batch_1..5``
  and ``test_batch``), or an ``.npz`` with ``images``/``labels`` (as ``search quantize`` reads;
  the 10k JPEG test set in shared/data serves as an offline stand-in, re-split, and says so).
* ``fashion-mnist`` -- from ``data``: a folder with the idx files (``train-images-idx3-ubyte``
  ... , optionally ``.gz``; Debian's ``dataset-fashion-mnist`` installs them), 28x28 padded
  to 32x32 and repeated over 3 channels.

Example:
    >>> data = load_task("digits", seed=0)
    >>> data.x_train.shape[1:], data.num_classes
    ((32, 32, 3), 10)
"""

from __future__ import annotations

import dataclasses
import gzip
from collections.abc import Callable
from pathlib import Path

import numpy as np

from coexplore.errors import ConfigError
from coexplore.registry import Registry

__all__ = ["TaskData", "TASKS", "load_task", "IMAGE_SIZE"]

IMAGE_SIZE = 32
#: share of a pooled set that goes to validation and to test when a task is re-split
VAL_SHARE, TEST_SHARE = 0.15, 0.15


@dataclasses.dataclass(frozen=True)
class TaskData:
    """One task's splits: images uint8 (N, 32, 32, 3), labels int64 (N,)."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    source: str

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)}


TaskLoader = Callable[[str | None, int], TaskData]
TASKS: Registry[TaskLoader] = Registry("task")


def load_task(name: str, data: str | Path | None = None, seed: int = 0) -> TaskData:
    """Loads task ``name`` (reading ``data`` when the task needs it), split with ``seed``.

    Raises:
        UnknownComponentError: an unknown task; ConfigError: missing or malformed data (the
            message names the path, what was expected and how to get it).
    """
    return TASKS.get(name)(None if data is None else str(data), seed)


def _split(
    name: str, x: np.ndarray, y: np.ndarray, seed: int, source: str, test: tuple | None = None
) -> TaskData:
    """Seeded split of a pool into train/val(/test, unless ``test`` is given)."""
    order = np.random.default_rng(seed).permutation(len(y))
    n_val = int(round(VAL_SHARE * len(y)))
    n_test = 0 if test is not None else int(round(TEST_SHARE * len(y)))
    val, rest = order[:n_val], order[n_val:]
    tst, train = (rest[:n_test], rest[n_test:]) if test is None else (None, rest)
    x_test, y_test = (x[tst], y[tst]) if test is None else test
    classes = int(max(y.max(), y_test.max())) + 1
    return TaskData(name, x[train], y[train], x[val], y[val], x_test, y_test, classes, source)


def _to_rgb32(gray: np.ndarray) -> np.ndarray:
    """(N, H, W) uint8 with H, W <= 32 -> (N, 32, 32, 3), centred by zero padding."""
    n, h, w = gray.shape
    top, left = (IMAGE_SIZE - h) // 2, (IMAGE_SIZE - w) // 2
    out = np.zeros((n, IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    out[:, top : top + h, left : left + w] = gray
    return np.repeat(out[..., None], 3, axis=3)


@TASKS.decorator("digits")
def _digits(data: str | None, seed: int) -> TaskData:
    if data is not None:
        raise ConfigError(
            "task digits is built in (scikit-learn's handwritten digits); it reads no --data."
        )
    from scipy.ndimage import zoom
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = bunch.images.astype(np.float64) * (255.0 / 16.0)  # (N, 8, 8), 0..16 -> 0..255
    big = zoom(images, (1, IMAGE_SIZE / 8, IMAGE_SIZE / 8), order=1)  # (N, 32, 32)
    gray = np.clip(np.rint(big), 0, 255).astype(np.uint8)
    x = np.repeat(gray[..., None], 3, axis=3)
    y = bunch.target.astype(np.int64)
    return _split("digits", x, y, seed, "scikit-learn digits (1,797 images, 8x8 -> 32x32)")


@TASKS.decorator("cifar10")
def _cifar10(data: str | None, seed: int) -> TaskData:
    from coexplore.quant.data import load_test_set, read_cifar_python_batch

    how = (
        "pass --data with the folder cifar-10-batches-py (the CIFAR-10 python version from "
        "https://www.cs.toronto.edu/~kriz/cifar.html) or an .npz with 'images' (N, 32, 32, 3) "
        "uint8 and 'labels'"
    )
    if data is None:
        raise ConfigError(f"task cifar10 needs its data: {how}.")
    path = Path(data)
    if path.is_dir():
        batches = sorted(path.glob("data_batch_*"))
        if not batches or not (path / "test_batch").is_file():
            raise ConfigError(
                f"{str(path)!r} holds no data_batch_1..5 and test_batch files; {how}."
            )
        parts = [read_cifar_python_batch(b) for b in batches]
        x = np.concatenate([p.images for p in parts])
        y = np.concatenate([p.labels for p in parts])
        test = read_cifar_python_batch(path / "test_batch")
        return _split("cifar10", x, y, seed, f"CIFAR-10 python batches in {path}",
                      test=(test.images, test.labels))  # fmt: skip
    if not path.is_file():
        raise ConfigError(f"cifar10 data {str(path)!r} does not exist; {how}.")
    pool = load_test_set(path)
    kind = "lossless" if pool.lossless else "JPEG-compressed"
    return _split(
        "cifar10", pool.images, pool.labels, seed,
        f"stand-in: {len(pool):,} {kind} CIFAR-10 images from {path.name}, re-split "
        "70/15/15 (not the CIFAR-10 training set)",
    )  # fmt: skip


_IDX = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


@TASKS.decorator("fashion-mnist")
def _fashion_mnist(data: str | None, seed: int) -> TaskData:
    how = (
        "pass --data with the folder of the four idx files (train-images-idx3-ubyte, "
        "train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, optionally "
        ".gz); `apt-get install dataset-fashion-mnist` installs them"
    )
    if data is None:
        raise ConfigError(f"task fashion-mnist needs its data: {how}.")
    folder = Path(data)
    arrays = {}
    for key, stem in _IDX.items():
        found = [p for p in (folder / stem, folder / f"{stem}.gz") if p.is_file()]
        if not found:
            raise ConfigError(f"{str(folder)!r} has no {stem}[.gz]; {how}.")
        arrays[key] = read_idx(found[0])
    x_train, y_train = arrays["x_train"], arrays["y_train"].astype(np.int64)
    x_test, y_test = arrays["x_test"], arrays["y_test"].astype(np.int64)
    for x, y, what in ((x_train, y_train, "train"), (x_test, y_test, "t10k")):
        if x.ndim != 3 or len(x) != len(y):
            raise ConfigError(
                f"the {what} idx files in {str(folder)!r} do not match: images {x.shape}, "
                f"labels {y.shape}; expected (N, 28, 28) images and N labels."
            )
    return _split("fashion-mnist", _to_rgb32(x_train), y_train, seed,
                  f"Fashion-MNIST idx files in {folder}",
                  test=(_to_rgb32(x_test), y_test))  # fmt: skip


def read_idx(path: str | Path) -> np.ndarray:
    """Reads an idx file (MNIST format; gzip when the name ends in .gz) of unsigned bytes.

    Raises:
        ConfigError: not an idx file of unsigned bytes, or truncated.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise ConfigError(f"{str(path)!r} cannot be read ({exc}).") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ConfigError(
            f"{str(path)!r} is not an idx file of unsigned bytes (magic 0x0000 08 xx)."
        )
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if len(raw) != header + int(np.prod(shape)):
        raise ConfigError(
            f"{str(path)!r} is truncated: its header says {shape}, which needs "
            f"{int(np.prod(shape)):,} bytes after it, but {len(raw) - header:,} follow."
        )
    return np.frombuffer(raw, np.uint8, offset=header).reshape(shape)
