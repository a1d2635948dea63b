"""Workloads users bring: a built-in name, a layer file (JSON/YAML in the
``Workload.to_dict`` format), an ONNX graph, or a torch model factory
(``package.module:factory`` with an input shape). All end in the same :class:`Layer` records.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Sequence
from pathlib import Path

from coexplore.accel_model.networks import get_network, network_names
from coexplore.accel_model.workload import Workload
from coexplore.errors import ConfigError

__all__ = ["load_workload", "is_factory_ref", "parse_shape", "USER_WORKLOAD_SUFFIXES"]

LAYER_FILES = (".json", ".yaml", ".yml")
USER_WORKLOAD_SUFFIXES = (*LAYER_FILES, ".onnx")


def is_factory_ref(ref: str) -> bool:
    """``package.module:factory``: Python code to import (refused over REST by default)."""
    head, sep, tail = ref.partition(":")
    modules = head.split(".")
    return bool(sep) and all(m.isidentifier() for m in modules) and tail.isidentifier()


def parse_shape(text: str | Sequence[int]) -> tuple[int, ...]:
    """``1,3,32,32`` (or a sequence) -> (1, 3, 32, 32); every dimension a positive integer."""
    parts = text.replace("x", ",").split(",") if isinstance(text, str) else list(text)
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        shape = ()
    if len(shape) < 2 or min(shape) < 1:
        raise ConfigError(
            f"input shape must be positive integers separated by commas, batch first (e.g. "
            f"1,3,32,32), got {text!r}."
        )
    return shape


def load_workload(
    ref: str,
    input_shape: str | Sequence[int] | None = None,
    batch: int = 1,
) -> Workload:
    """The workload ``ref`` names.

    Args:
        ref: A built-in name (``search networks``); a ``.json``/``.yaml`` layer file; an
            ``.onnx`` graph; or ``package.module:factory`` returning a ``torch.nn.Module``.
        input_shape: (N, C, H, W) for a factory; for an ONNX graph with symbolic input
            dimensions, the concrete shape.
        batch: Images per call (replaces the file's or the shape's batch when not 1).

    Raises:
        ConfigError: naming what was expected and how to fix it.
    """
    if ref in network_names():
        return get_network(ref, batch=batch)
    path = Path(ref)
    if path.suffix.lower() in USER_WORKLOAD_SUFFIXES:
        if not path.is_file():
            raise ConfigError(f"workload file {ref!r} does not exist.")
        if path.suffix.lower() == ".onnx":
            from coexplore.accel_model._onnx_bridge import workload_from_onnx

            shape = None if input_shape is None else parse_shape(input_shape)
            wl = workload_from_onnx(path, input_shape=shape)
        else:
            wl = Workload.from_dict(_read_layer_file(path))
        return wl.with_batch(batch) if batch != 1 else wl
    if is_factory_ref(ref):
        if input_shape is None:
            raise ConfigError(
                f"model {ref!r} needs an input shape: --input-shape N,C,H,W (e.g. 1,3,32,32)."
            )
        from coexplore.accel_model._torch_bridge import workload_from_torch

        shape = parse_shape(input_shape)
        wl = workload_from_torch(_import_factory(ref)(), shape, name=ref.partition(":")[2])
        return wl.with_batch(batch) if batch != 1 else wl
    raise ConfigError(
        f"unknown network {ref!r}: give a built-in name ({', '.join(network_names())}), a "
        f"layer file ({', '.join(LAYER_FILES)}, the `Workload.to_dict` format), an .onnx "
        "graph, or package.module:factory with --input-shape."
    )


def _read_layer_file(path: Path) -> dict:
    text = path.read_text()
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text)
        import yaml

        return yaml.safe_load(text)
    except (json.JSONDecodeError, ValueError) as exc:
        raise ConfigError(f"{path}: not valid {path.suffix[1:].upper()}: {exc}") from None
    except Exception as exc:  # yaml.YAMLError
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None


def _import_factory(ref: str):  # noqa: ANN202
    mod_name, _, attr = ref.partition(":")
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as exc:
        raise ConfigError(
            f"cannot import {mod_name!r} for model {ref!r}: {exc}. Is the package installed "
            "or on PYTHONPATH?"
        ) from None
    factory = getattr(mod, attr, None)
    if not callable(factory):
        raise ConfigError(f"{mod_name!r} has no callable {attr!r} (model {ref!r}).")
    return factory
