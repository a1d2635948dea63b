"""Tasks load real data and split it reproducibly; bad data is refused with the fix."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
import pytest

from coexplore import ConfigError, UnknownComponentError
from coexplore.search.tasks import TASKS, load_task, read_idx


def test_digits_is_built_in_and_split_reproducibly() -> None:
    a, b, c = load_task("digits", seed=0), load_task("digits", seed=0), load_task("digits", seed=1)
    assert a.sizes() == {"train": 1257, "val": 270, "test": 270} and a.num_classes == 10
    assert a.x_train.shape[1:] == (32, 32, 3) and a.x_train.dtype == np.uint8
    assert np.array_equal(a.x_val, b.x_val) and np.array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.y_val, c.y_val)
    # every image lands in exactly one split
    total = sum(a.sizes().values())
    assert total == 1797
    assert sorted(np.concatenate([a.y_train, a.y_val, a.y_test])) == sorted(
        np.concatenate([c.y_train, c.y_val, c.y_test])
    )
    # real digits: the 32x32 images keep the 8x8 originals' ink (mean pixel > 0, < 255)
    assert 20 < a.x_train.mean() < 120 and (a.x_train[..., 0] == a.x_train[..., 2]).all()
    with pytest.raises(ConfigError, match="reads no --data"):
        load_task("digits", data="x")


def test_cifar10_npz_stand_in_says_what_it_is(shared_data: Path) -> None:
    t = load_task("cifar10", shared_data / "cifar10_test_first1017.npz", seed=0)
    assert sum(t.sizes().values()) == 1017 and t.num_classes == 10
    assert "stand-in" in t.source and "not the CIFAR-10 training set" in t.source


def _cifar_batch(path: Path, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, size=n)]
    path.write_bytes(pickle.dumps({b"data": data, b"labels": labels}))


def test_cifar10_python_batches_keep_the_official_test_set(tmp_path: Path) -> None:
    for i in range(1, 3):
        _cifar_batch(tmp_path / f"data_batch_{i}", 40, i)
    _cifar_batch(tmp_path / "test_batch", 30, 9)
    t = load_task("cifar10", tmp_path, seed=0)
    assert t.sizes() == {"train": 68, "val": 12, "test": 30}
    (tmp_path / "test_batch").unlink()
    with pytest.raises(ConfigError, match="no data_batch_1..5 and test_batch"):
        load_task("cifar10", tmp_path)
    with pytest.raises(ConfigError, match="needs its data.*cifar-10-batches-py"):
        load_task("cifar10")
    with pytest.raises(ConfigError, match="does not exist"):
        load_task("cifar10", tmp_path / "nope.npz")


def _idx(path: Path, arr: np.ndarray) -> None:
    head = bytes([0, 0, 8, arr.ndim]) + b"".join(d.to_bytes(4, "big") for d in arr.shape)
    body = head + arr.astype(np.uint8).tobytes()
    (gzip.open if path.suffix == ".gz" else open)(path, "wb").write(body)


def test_fashion_mnist_reads_idx_files_plain_or_gzipped(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    _idx(tmp_path / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (50, 28, 28)))
    _idx(tmp_path / "train-labels-idx1-ubyte.gz", rng.integers(0, 10, 50))
    _idx(tmp_path / "t10k-images-idx3-ubyte", rng.integers(0, 256, (20, 28, 28)))
    _idx(tmp_path / "t10k-labels-idx1-ubyte", np.arange(20) % 10)
    t = load_task("fashion-mnist", tmp_path, seed=0)
    assert t.sizes() == {"train": 42, "val": 8, "test": 20}
    assert t.x_test.shape == (20, 32, 32, 3) and (t.x_test[:, :2] == 0).all()  # padded
    raw = read_idx(tmp_path / "t10k-images-idx3-ubyte")
    assert np.array_equal(t.x_test[:, 2:30, 2:30, 0], raw)
    # a truncated file and a wrong magic number are named
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 20, 1, 2]))
    with pytest.raises(ConfigError, match="truncated"):
        load_task("fashion-mnist", tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"PK\x03\x04zip")
    with pytest.raises(ConfigError, match="not an idx file"):
        load_task("fashion-mnist", tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(ConfigError, match="no t10k-labels-idx1-ubyte.*dataset-fashion-mnist"):
        load_task("fashion-mnist", tmp_path)


def test_unknown_task_lists_the_known_ones() -> None:
    assert {"digits", "cifar10", "fashion-mnist"} <= set(TASKS.names())
    with pytest.raises(UnknownComponentError, match="unknown task 'mnist'; choose one of"):
        load_task("mnist")
