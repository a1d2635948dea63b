"""Real test data for evaluation (never used for quantization itself).

Three readers, each validating what it reads:
- ``.npz`` files with ``images`` uint8 (N, 32, 32, 3) and ``labels`` (the shared/data
  format: the lossless CIFAR-10 subset, the JPEG 10k set, CIFAR-100);
- the standard CIFAR-10/100 "python version" batches (``test_batch``, ``test``) for users who
  have the full sets. Those are pickles; they are read with an unpickler that admits only
  the numpy array types they contain, so a hostile file cannot run code;
- a folder holding either of the above.
"""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from coexplore.errors import ConfigError

__all__ = ["TestSet", "load_test_set", "read_cifar_python_batch", "default_data_dir"]


def default_data_dir() -> Path:
    """Where the offline test data is looked for: ``$COEXPLORE_SHARED_DATA``, else
    ``shared/data`` beside the checkout this package is installed from, else beside the
    current folder."""
    import os

    env = os.environ.get("COEXPLORE_SHARED_DATA")
    if env:
        return Path(env)
    import coexplore

    beside_checkout = Path(coexplore.__file__).resolve().parents[2] / "shared" / "data"
    if beside_checkout.is_dir():
        return beside_checkout
    return (Path.cwd().parent / "shared" / "data").resolve()


@dataclass(frozen=True)
class TestSet:
    """Images uint8 (N, H, W, 3), labels int64 (N,), and where they came from."""

    images: np.ndarray
    labels: np.ndarray
    source: str
    lossless: bool = True

    def __len__(self) -> int:
        return len(self.labels)

    def tensors(self, mean: tuple[float, ...], std: tuple[float, ...]):
        """(x, y) as torch tensors: x float (N, 3, H, W) normalised with ``mean``/``std``."""
        import torch

        x = torch.from_numpy(self.images).permute(0, 3, 1, 2).float().div_(255.0)
        m = torch.tensor(mean).view(1, 3, 1, 1)
        s = torch.tensor(std).view(1, 3, 1, 1)
        return (x - m) / s, torch.from_numpy(self.labels)


def _check(images: np.ndarray, labels: np.ndarray, source: str, size: int) -> None:
    if images.ndim != 4 or images.shape[1:] != (size, size, 3):
        raise ConfigError(
            f"test images in {source!r} have shape {images.shape}; expected (N, {size}, {size}, "
            "3) uint8 (HWC, RGB) as in torchvision's CIFAR .data. Transpose NCHW arrays with "
            "x.transpose(0, 2, 3, 1)."
        )
    if images.dtype != np.uint8:
        raise ConfigError(
            f"test images in {source!r} are {images.dtype}; expected uint8 pixels 0..255."
        )
    if labels.shape != (len(images),):
        raise ConfigError(
            f"{source!r} has {len(images)} images but labels of shape {labels.shape}; "
            "expected one integer label per image."
        )
    if len(labels) and labels.min() < 0:
        raise ConfigError(f"{source!r} has negative labels; labels are class indices >= 0.")


class _ArraysOnly(pickle.Unpickler):
    """Admits only what a CIFAR python batch needs (numpy arrays, dtypes)."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):  # noqa: ANN201 - pickle protocol
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data batch")


def read_cifar_python_batch(path: str | Path) -> TestSet:
    """Reads one CIFAR-10 (``data_batch_*``, ``test_batch``) or CIFAR-100 (``test``) batch.

    Raises:
        ConfigError: not a CIFAR python batch, or truncated.
    """
    path = Path(path)
    try:
        raw = _ArraysOnly(io.BytesIO(path.read_bytes()), encoding="bytes").load()
    except Exception as exc:  # noqa: BLE001 - anything unreadable is "not a batch"
        raise ConfigError(
            f"{str(path)!r} is not a readable CIFAR python batch ({exc}); expected the files "
            "of cifar-10-batches-py or cifar-100-python."
        ) from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{str(path)!r} is not a CIFAR python batch (no dict inside).")
    d = {k.decode() if isinstance(k, bytes) else k: v for k, v in raw.items()}
    key = "labels" if "labels" in d else "fine_labels"
    if "data" not in d or key not in d:
        raise ConfigError(f"{str(path)!r} has no 'data'/'labels' entries; not a CIFAR batch.")
    data = np.asarray(d["data"])
    if data.ndim != 2 or data.shape[1] != 3072:
        raise ConfigError(f"{str(path)!r}: 'data' has shape {data.shape}; expected (N, 3072).")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).astype(np.uint8)
    labels = np.asarray(d[key], dtype=np.int64)
    _check(images, labels, str(path), 32)
    return TestSet(np.ascontiguousarray(images), labels, str(path))


def load_test_set(path: str | Path, image_size: int = 32) -> TestSet:
    """Loads test data from an ``.npz`` file, a CIFAR python batch, or a folder with one.

    Raises:
        ConfigError: missing file, unknown format, wrong shapes or types.
    """
    path = Path(path)
    if path.is_dir():
        for name in ("test_batch", "test", "cifar-10-batches-py/test_batch"):
            if (path / name).is_file():
                return read_cifar_python_batch(path / name)
        raise ConfigError(
            f"folder {str(path)!r} holds no test_batch (CIFAR-10) or test (CIFAR-100) file."
        )
    if not path.is_file():
        raise ConfigError(f"test data {str(path)!r} does not exist.")
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            if "images" not in z or ("labels" not in z and "fine_labels" not in z):
                raise ConfigError(
                    f"{str(path)!r} needs arrays 'images' (N, {image_size}, {image_size}, 3) "
                    f"uint8 and 'labels' (N,); it has {sorted(z.files)}."
                )
            images = z["images"]
            labels = np.asarray(z["labels"] if "labels" in z else z["fine_labels"], np.int64)
        _check(images, labels, str(path), image_size)
        return TestSet(images, labels, str(path), lossless="jpeg" not in path.name.lower())
    return read_cifar_python_batch(path)
