"""coexplore: hardware-aware co-exploration of networks, accelerators and bit-widths.

Subpackages: ``coexplore.accel_model`` (analytical accelerator cost model, numpy only),
``coexplore.quant`` (zero-shot quantization), ``coexplore.search`` (co-search),
``coexplore.api`` (REST service and the ``search`` CLI).
"""

from coexplore.errors import (
    CoexploreError,
    ConfigError,
    InfeasibleDesignError,
    JobNotFoundError,
    UnknownComponentError,
)
from coexplore.registry import Registry

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "CoexploreError",
    "ConfigError",
    "InfeasibleDesignError",
    "JobNotFoundError",
    "UnknownComponentError",
    "Registry",
]
