"""``/health`` and ``/kinds``: is the service up, and which jobs it takes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

router = APIRouter(tags=["service"])


class Health(BaseModel):
    status: str
    database: bool
    executor: str | None
    workers: int
    running: int
    version: str


_DOWN = {503: {"model": Health, "description": "The job store is unreachable."}}


@router.get("/health", response_model=Health, responses=_DOWN)
def health(request: Request) -> Any:
    """Up, with the job store reachable: 200; the store unreachable: 503."""
    app = request.app
    ex = app.state.executor
    try:
        db = app.state.store.ping()
    except Exception:
        db = False
    body = Health(status="ok" if db else "degraded", database=db,
                  executor=None if ex is None else ex.name,
                  workers=0 if ex is None else ex.workers,
                  running=0 if ex is None else ex.busy, version=app.version)  # fmt: skip
    if not db:
        return JSONResponse(body.model_dump(), status_code=503)
    return body


class Kind(BaseModel):
    kind: str
    runnable: bool
    spec_schema: dict[str, Any]


@router.get("/kinds", response_model=list[Kind])
def kinds() -> list[Kind]:
    """Every job kind, whether this version runs it, and its spec's JSON schema (the
    same records the CLI builds)."""
    import coexplore.search  # noqa: F401 - registers the kinds
    from coexplore.runs import SPECS
    from coexplore.search.runner import runnable

    return [Kind(kind=k, runnable=runnable(SPECS.get(k)()), spec_schema=SPECS.get(k).json_schema())
            for k in SPECS.names()]  # fmt: skip
