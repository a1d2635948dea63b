"""coexplore.search: search spaces, constraints and strategies (hardware sweep now; DANCE +
HDX co-search next), and :func:`run`, the entry point of every job.

Importing this package stays light (no torch); strategies import heavy dependencies when run.

Example:
    >>> from coexplore.search import Constraints, HardwareSweepSpec, run
    >>> result = run(HardwareSweepSpec(constraints=Constraints(fps_min=30)))
"""

from coexplore._bare import refuse_bare_import

refuse_bare_import(__name__, "search")

from coexplore.quant.spec import QuantSpec  # noqa: E402
from coexplore.search.constraints import Constraints  # noqa: E402
from coexplore.search.runner import run  # noqa: E402
from coexplore.search.specs import (  # noqa: E402
    CompareSpec,
    CoSearchSpec,
    DataFreeSpec,
    EvaluatorSpec,
    HardwareSweepSpec,
)
from coexplore.search.strategy import STRATEGIES, SearchStrategy, register_strategy  # noqa: E402

__all__ = [
    "Constraints",
    "HardwareSweepSpec",
    "CoSearchSpec",
    "DataFreeSpec",
    "CompareSpec",
    "EvaluatorSpec",
    "QuantSpec",
    "STRATEGIES",
    "SearchStrategy",
    "register_strategy",
    "run",
]
