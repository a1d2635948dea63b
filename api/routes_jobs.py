"""``/jobs``: submit, list, status and progress, live events (server-sent), cancel, result
and artefacts."""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from coexplore.api.store import FINAL_STATES, JOB_STATES, Job, JobStore

SSE_POLL_S = 0.5


# -- HTTP models ---------------------------------------------------------------------------
class Error(BaseModel):
    detail: str


router = APIRouter(
    prefix="/jobs",
    tags=["jobs"],
    responses={
        400: {"model": Error, "description": "The body is not JSON."},
        422: {"model": Error, "description": "A parameter or the body is not valid."},
    },
)


def _spec_schemas() -> list[dict[str, Any]]:
    """The JSON schema of every runnable kind's spec, as the run layer writes them."""
    import coexplore.search  # noqa: F401 - registers the kinds
    from coexplore.runs import SPECS
    from coexplore.search.runner import runnable

    out = []
    for kind in SPECS.names():
        cls = SPECS.get(kind)
        if runnable(cls()):
            schema = cls.json_schema()
            schema["required"] = ["kind"]
            out.append(schema)
    return out


class JobRequest(BaseModel):
    """A job: its spec (any runnable kind; ``GET /kinds`` lists them with their schemas)."""

    model_config = ConfigDict(extra="forbid")

    spec: dict[str, Any] = Field(
        description="A run spec with its `kind` (co-search, hardware-sweep, quantize, "
        "evaluator); fields left out take their defaults.",
        json_schema_extra={"oneOf": _spec_schemas(),
                           "example": {"kind": "hardware-sweep", "accel_space": "tiny",
                                       "constraints": {"fps_min": 30}}},  # fmt: skip
    )
    max_attempts: int = Field(3, ge=1, le=10, description="Runs after worker crashes.")


class Event(BaseModel):
    id: int
    attempt: int
    at: str
    phase: str
    done: float
    total: float | None
    message: str
    metrics: dict[str, float | None]


class JobOut(BaseModel):
    id: str
    kind: str
    status: str = Field(description=" -> ".join(JOB_STATES))
    spec: dict[str, Any]
    idempotency_key: str | None
    created_at: str
    started_at: str | None
    finished_at: str | None
    heartbeat_at: str | None
    worker: str | None
    attempts: int
    max_attempts: int
    cancel_requested: bool
    error: str | None
    run_folder: str | None
    metrics: dict[str, Any] | None
    progress: list[Event] = Field(
        default_factory=list, description="The latest event of each phase (job status only)."
    )


class JobList(BaseModel):
    jobs: list[JobOut]
    total: int


class Artefact(BaseModel):
    name: str
    bytes: int | None = None
    media_type: str | None = None


_AUTH = {401: {"model": Error, "description": "Missing or wrong bearer token."}}
_NOT_FOUND = {404: {"model": Error, "description": "No such job."}}


# -- dependencies --------------------------------------------------------------------------
# Async on purpose: a plain ``def`` dependency costs a thread-pool round trip per request,
# and these only read app state (the status endpoint's hot path).
async def store_of(request: Request) -> JobStore:
    return request.app.state.store


StoreDep = Annotated[JobStore, Depends(store_of)]


async def require_token(request: Request, authorization: Annotated[str | None, Header()] = None):  # noqa: ANN201
    """With ``--token``, every mutating request needs ``Authorization: Bearer <token>``."""
    token = request.app.state.settings.token
    if not token:
        return
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), token.encode()):
        raise HTTPException(401, "this server needs `Authorization: Bearer <token>` for "
                            "requests that change state.",
                            headers={"WWW-Authenticate": "Bearer"})  # fmt: skip


def _job(store: JobStore, job_id: str) -> Job:
    job = store.get(job_id)
    if job is None:
        raise HTTPException(404, f"no job {job_id!r}; GET /jobs lists them.")
    return job


def _out(store: JobStore, job: Job, with_progress: bool) -> JobOut:
    d = job.to_dict()
    if with_progress:
        d["progress"] = store.latest_events(job.id)
    return JobOut(**d)


# -- routes --------------------------------------------------------------------------------
@router.post(
    "",
    status_code=201,
    response_model=JobOut,
    dependencies=[Depends(require_token)],
    responses={
        200: {"model": JobOut, "description": "Already submitted with this Idempotency-Key."},
        **_AUTH,
        403: {"model": Error, "description": "The spec names code or files this server "
              "does not accept."},  # fmt: skip
        409: {"model": Error, "description": "The Idempotency-Key was used for another spec."},
        413: {"model": Error, "description": "Request body too large."},
        422: {"model": Error, "description": "The spec is not valid (the rule and the fix)."},
    },
)
def submit_job(
    body: JobRequest,
    request: Request,
    response: Response,
    store: StoreDep,
    idempotency_key: Annotated[
        str | None,
        Header(max_length=200, description="Retrying with the same key never queues twice."),
    ] = None,
) -> JobOut:
    """Queues a job. Returns it (201), or the job already queued with the same key (200)."""
    from coexplore.api.security import refused_references
    from coexplore.errors import CoexploreError
    from coexplore.runs import spec_from_dict
    from coexplore.search.runner import runnable

    try:
        spec = spec_from_dict(body.spec)
    except CoexploreError as exc:
        raise HTTPException(422, str(exc).strip("'\"")) from None
    except (TypeError, ValueError) as exc:  # a value of the wrong JSON type
        raise HTTPException(422, f"the spec is not valid: {exc}") from None
    if not runnable(spec):
        raise HTTPException(422, f"jobs of kind {spec.kind!r} have no runner in this version.")
    refused = refused_references(spec, request.app.state.settings)
    if refused:
        raise HTTPException(403, refused)
    canonical = json.loads(json.dumps(spec.to_dict()))  # as stored: lists, not tuples
    job, created = store.submit(canonical, idempotency_key, body.max_attempts)
    if not created:
        if job.spec != canonical:
            raise HTTPException(409, f"Idempotency-Key {idempotency_key!r} was used for "
                                f"another spec (job {job.id}); use a new key.")  # fmt: skip
        response.status_code = 200
    response.headers["Location"] = f"/jobs/{job.id}"
    return _out(store, job, with_progress=False)


@router.get("", response_model=JobList, responses={422: {"model": Error}})
def list_jobs(
    store: StoreDep,
    status: Annotated[str | None, Query(pattern="^(" + "|".join(JOB_STATES) + ")$")] = None,
    kind: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> JobList:
    """Jobs, newest first, filtered by status and kind."""
    jobs, total = store.list(status=status, kind=kind, limit=limit, offset=offset)
    return JobList(jobs=[_out(store, j, with_progress=False) for j in jobs], total=total)


@router.get("/{job_id}", response_model=JobOut, responses=_NOT_FOUND)
async def get_job(job_id: str, store: StoreDep) -> JobOut:
    """A job's status, its latest progress per phase and, when finished, its metrics."""
    # The hot path (clients poll it): one thread-pool hop for the store, response validated
    # on the loop (a sync endpoint costs two hops, which dominate under 200 clients).
    found = await asyncio.to_thread(store.status, job_id)
    if found is None:
        raise HTTPException(404, f"no job {job_id!r}; GET /jobs lists them.")
    job, progress = found
    return JobOut(**job.to_dict(), progress=progress)


@router.get("/{job_id}/events", response_model=list[Event], responses=_NOT_FOUND)
def job_events(
    job_id: str,
    store: StoreDep,
    after: Annotated[int, Query(ge=0, description="Only events after this id.")] = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[dict[str, Any]]:
    """Stored progress events, oldest first."""
    _job(store, job_id)
    return store.events(job_id, after=after, limit=limit)


@router.get(
    "/{job_id}/stream",
    responses={200: {"content": {"text/event-stream": {}},
                     "description": "`progress` events, then one `end` event."},
               **_NOT_FOUND},  # fmt: skip
    response_class=StreamingResponse,
)
async def stream_job(
    job_id: str,
    request: Request,
    store: StoreDep,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """Live progress as server-sent events (resumes after ``Last-Event-ID``); ends with an
    ``end`` event carrying the final status."""
    await asyncio.to_thread(_job, store, job_id)
    after = int(last_event_id) if last_event_id and last_event_id.isdigit() else 0

    async def events() -> AsyncIterator[str]:
        nonlocal after
        while True:
            batch = await asyncio.to_thread(store.events, job_id, after)
            for ev in batch:
                after = ev["id"]
                yield f"id: {ev['id']}\nevent: progress\ndata: {json.dumps(ev)}\n\n"
            if not batch:
                job = await asyncio.to_thread(store.get, job_id)
                if job is None or job.status in FINAL_STATES:
                    end = {"status": None if job is None else job.status,
                           "error": None if job is None else job.error}  # fmt: skip
                    yield f"event: end\ndata: {json.dumps(end)}\n\n"
                    return
                if await request.is_disconnected():
                    return
                yield ": keep-alive\n\n"
                await asyncio.sleep(SSE_POLL_S)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})  # fmt: skip


@router.post(
    "/{job_id}/cancel",
    response_model=JobOut,
    status_code=202,
    dependencies=[Depends(require_token)],
    responses={**_AUTH, **_NOT_FOUND, 409: {"model": Error, "description": "Already finished."}},
)
def cancel_job(job_id: str, store: StoreDep) -> JobOut:
    """Cancels a queued job at once; a running one is stopped by its executor."""
    job = _job(store, job_id)
    if job.finished:
        raise HTTPException(409, f"job {job_id} already {job.status}; nothing to cancel.")
    return _out(store, store.cancel(job_id), with_progress=False)


def _manifest(store: JobStore, job_id: str):  # noqa: ANN202
    from coexplore.runs import read_run

    job = _job(store, job_id)
    if job.status != "succeeded" or not job.run_folder:
        raise HTTPException(409, f"job {job_id} is {job.status}; results exist once it "
                            "has succeeded.")  # fmt: skip
    if not Path(job.run_folder).is_dir():
        raise HTTPException(410, f"the run folder of job {job_id} is gone.")
    return read_run(job.run_folder)


_RESULT = {**_NOT_FOUND, 409: {"model": Error, "description": "Not succeeded (yet)."},
           410: {"model": Error, "description": "Run folder deleted."}}  # fmt: skip


@router.get("/{job_id}/result", responses=_RESULT)
def job_result(job_id: str, store: StoreDep) -> dict[str, Any]:
    """The run's manifest (``run.json``) and its typed result (``result.json``)."""
    import dataclasses

    m = _manifest(store, job_id)
    manifest = {k: v for k, v in dataclasses.asdict(m).items() if k != "folder"}
    return {"manifest": manifest, "result": m.result()}


@router.get("/{job_id}/artefacts", response_model=list[Artefact], responses=_RESULT)
def job_artefacts(job_id: str, store: StoreDep) -> list[dict[str, Any]]:
    """The run folder's artefacts, by name."""
    return [{k: a.get(k) for k in ("name", "bytes", "media_type")}
            for a in _manifest(store, job_id).artefacts]  # fmt: skip


@router.get(
    "/{job_id}/artefacts/{name}",
    response_class=FileResponse,
    responses={**_RESULT, 200: {"content": {"application/octet-stream": {}}}},
)
def job_artefact(job_id: str, name: str, store: StoreDep) -> FileResponse:
    """One artefact of the run folder; names outside its artefact list are 404."""
    from coexplore.errors import CoexploreError

    m = _manifest(store, job_id)
    try:
        path = m.path(name)
    except CoexploreError:
        raise HTTPException(404, f"job {job_id} has no artefact {name!r}.") from None
    return FileResponse(path, filename=Path(path).name)
