"""coexplore.accel_model: analytical accelerator cost model (numpy only, never torch).

Example:
    >>> from coexplore.accel_model import AnalyticalModel, eyeriss, get_network
    >>> report = AnalyticalModel().report(get_network("alexnet-conv", batch=4).with_bits(16),
    ...                                   eyeriss())
    >>> report.feasible
    True
"""

from coexplore._bare import refuse_bare_import

refuse_bare_import(__name__, "accel_model")

from coexplore.accel_model.accelerator import (  # noqa: E402
    DATAFLOWS,
    MAC_MODES,
    Accelerator,
    AcceleratorBatch,
    eyeriss,
)
from coexplore.accel_model.analytical import LEVELS, AnalyticalModel, CostModel  # noqa: E402
from coexplore.accel_model.design_space import (  # noqa: E402
    DESIGN_SPACES,
    PARAMETERS,
    DesignSpace,
    get_design_space,
)
from coexplore.accel_model.networks import NETWORKS, get_network, network_names  # noqa: E402
from coexplore.accel_model.pareto import pareto_mask  # noqa: E402
from coexplore.accel_model.report import CostBatch, CostReport, LayerCost  # noqa: E402
from coexplore.accel_model.systolic import systolic_compute_cycles  # noqa: E402
from coexplore.accel_model.tech import DEFAULT_TECH, Tech  # noqa: E402
from coexplore.accel_model.workload import Layer, Workload  # noqa: E402

__all__ = [
    "DATAFLOWS",
    "MAC_MODES",
    "Accelerator",
    "AcceleratorBatch",
    "eyeriss",
    "LEVELS",
    "AnalyticalModel",
    "CostModel",
    "DESIGN_SPACES",
    "PARAMETERS",
    "DesignSpace",
    "get_design_space",
    "NETWORKS",
    "get_network",
    "network_names",
    "pareto_mask",
    "CostBatch",
    "CostReport",
    "LayerCost",
    "systolic_compute_cycles",
    "DEFAULT_TECH",
    "Tech",
    "Layer",
    "Workload",
    "workload_from_torch",
]


def workload_from_torch(module, input_shape, *, name=None, w_bits=8, a_bits=8):  # noqa: ANN001, ANN201
    """Extracts a :class:`Workload` from a torch module (imports torch only when called).

    See :func:`coexplore.accel_model._torch_bridge.workload_from_torch`.
    """
    from coexplore.accel_model._torch_bridge import workload_from_torch as _impl

    return _impl(module, input_shape, name=name, w_bits=w_bits, a_bits=a_bits)
