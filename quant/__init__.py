"""coexplore.quant: zero-shot quantization core (torch).

Quantizes a trained model with per-layer bit-widths using synthetic data only, and
evaluates it on real test data. Entry point: :func:`quantize`; see the README for the CLI.
"""

from coexplore._bare import refuse_bare_import

refuse_bare_import(__name__, "quant")

from coexplore.quant.bitmap import (  # noqa: E402
    PROTOCOLS,
    BitMap,
    LayerBits,
    fold_batchnorm,
    quantizable_layers,
    quantize_model,
)
from coexplore.quant.data import TestSet, load_test_set  # noqa: E402
from coexplore.quant.evaluate import top1  # noqa: E402
from coexplore.quant.kd import KDConfig  # noqa: E402
from coexplore.quant.models import MODELS, build_model, load_model  # noqa: E402
from coexplore.quant.pipeline import METHODS, Method, QuantResult, get_method, quantize  # noqa: E402
from coexplore.quant.reconstruct import ReconConfig  # noqa: E402
from coexplore.quant.synthetic import SyntheticConfig, SyntheticSet  # noqa: E402

__all__ = [
    "PROTOCOLS",
    "BitMap",
    "LayerBits",
    "fold_batchnorm",
    "quantizable_layers",
    "quantize_model",
    "TestSet",
    "load_test_set",
    "top1",
    "KDConfig",
    "MODELS",
    "build_model",
    "load_model",
    "METHODS",
    "Method",
    "QuantResult",
    "get_method",
    "quantize",
    "ReconConfig",
    "SyntheticConfig",
    "SyntheticSet",
]
