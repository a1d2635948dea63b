"""Property-based tests of the whole API from its own OpenAPI document (schemathesis):
generated requests for every operation, no server error, and every response valid against
the schema (status codes declared, bodies matching). Over 1,000 cases in all.

One check is left out: "schema-valid data is accepted". The published spec schemas give the
structure (fields, types, the kind); ranges and names (a space, a network, steps above the
warm-up) are the run layer's rules, answered 422 with the rule, the value and the fix.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from coexplore.api.app import Settings, create_app

_TMP = Path(tempfile.mkdtemp(prefix="coexplore-schemathesis-"))
APP = create_app(Settings(db_url=f"sqlite:///{_TMP / 'jobs.db'}", runs_root=str(_TMP / "runs"),
                          workers=0))  # fmt: skip
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
CASES: dict[str, int] = {}


@schema.parametrize()
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case) -> None:  # noqa: ANN001
    CASES[case.operation.label] = CASES.get(case.operation.label, 0) + 1
    case.call_and_validate(excluded_checks=[positive_data_acceptance])


def test_over_a_thousand_cases_ran() -> None:
    print(f"schemathesis: {sum(CASES.values())} cases over {len(CASES)} operations")
    assert sum(CASES.values()) >= 1000, CASES
