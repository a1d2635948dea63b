"""coexplore.quant: zero-shot quantization core (torch).

Quantizes a trained model with per-layer bit-widths using synthetic data only, and
evaluates it on real test data. Entry points: :func:`run_quantize` (a :class:`QuantSpec`
in, a :class:`QuantReport` out: what the CLI and the service call) and :func:`quantize`
(a model and a bit map in, a fake-quantized copy out).

Importing the package is light: the spec is torch-free, and the torch-based names below are
imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from coexplore._bare import refuse_bare_import

refuse_bare_import(__name__, "quant")

from coexplore.quant.spec import MAX_BITS, MIN_BITS, PROTOCOLS, QuantSpec  # noqa: E402

# public name -> module that defines it (imported when the name is first used)
_LAZY = {
    "BitMap": "bitmap",
    "LayerBits": "bitmap",
    "fold_batchnorm": "bitmap",
    "quantizable_layers": "bitmap",
    "quantize_model": "bitmap",
    "TestSet": "data",
    "load_test_set": "data",
    "top1": "evaluate",
    "KDConfig": "kd",
    "MODELS": "models",
    "build_model": "models",
    "load_model": "models",
    "METHODS": "pipeline",
    "DEFAULT_METHOD": "pipeline",
    "Method": "pipeline",
    "QuantResult": "pipeline",
    "get_method": "pipeline",
    "quantize": "pipeline",
    "ReconConfig": "reconstruct",
    "SyntheticConfig": "synthetic",
    "SyntheticSet": "synthetic",
    "QuantReport": "job",
    "run_quantize": "job",
    "resolve_model": "job",
}

__all__ = ["MAX_BITS", "MIN_BITS", "PROTOCOLS", "QuantSpec", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
