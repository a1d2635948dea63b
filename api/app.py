"""The REST service: ``create_app(settings)`` builds the FastAPI application that
``search serve`` runs under uvicorn.

Resources (one router each): ``/jobs`` (submit, list, status, progress, live events, cancel,
result, artefacts), ``/kinds`` (the job kinds and their spec schemas), ``/health``. Job
specs are the run layer's :class:`~coexplore.runs.RunSpec` records: the HTTP edge validates
a submitted spec with the same code as the CLI and publishes the same JSON schemas.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from coexplore.api.store import JobStore, default_db_url

__all__ = ["Settings", "create_app"]

log = logging.getLogger("coexplore.api")


@dataclasses.dataclass(frozen=True)
class Settings:
    """What ``search serve`` configures.

    Args:
        db_url: SQLAlchemy URL of the job store (SQLite by default, PostgreSQL by URL).
        runs_root: Where jobs save their run folders.
        workers: Jobs run at a time (0: the server only queues; another server runs them).
        executor: ``local`` (one process per job) or ``ray``.
        ray_address: A Ray cluster's address for ``ray`` (a local instance when empty).
        token: When set, every mutating request needs ``Authorization: Bearer <token>``.
        allow_user_code: Accept specs naming ``package.module:factory`` models.
        allow_local_files: Accept specs naming files on the server (weights, data, layer
            files).
        max_body_bytes: Largest request body.
    """

    db_url: str = dataclasses.field(default_factory=default_db_url)
    runs_root: str = "results/runs"
    workers: int = 1
    executor: str = "local"
    ray_address: str | None = None
    token: str | None = None
    allow_user_code: bool = False
    allow_local_files: bool = False
    max_body_bytes: int = 1 << 20


class _BodyLimit:
    """Refuses request bodies over ``limit`` bytes (413), whether declared or streamed."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await _too_large(self.limit)(scope, receive, send)
            return
        seen = 0

        async def limited() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await _too_large(self.limit)(scope, receive, send)


class _TooLarge(Exception):
    pass


def _too_large(limit: int) -> JSONResponse:
    return JSONResponse(
        {"detail": f"request body over {limit:,} bytes; send a smaller spec."}, status_code=413
    )


def create_app(settings: Settings | None = None, start_workers: bool = True) -> FastAPI:
    """The application. With ``start_workers`` and ``settings.workers > 0``, an executor
    runs queued jobs while the app is up (and recovers jobs left running by a crash)."""
    from coexplore.api import dashboards, routes_jobs, routes_meta
    from coexplore.api.workers import make_executor

    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = JobStore(settings.db_url)
        app.state.store = store
        app.state.executor = None
        if start_workers and settings.workers > 0:
            ex = make_executor(settings.executor, store, settings.runs_root, settings.workers,
                               settings.ray_address)  # fmt: skip
            ex.start()
            app.state.executor = ex
        # Everything imported so far lives as long as the server: keep it out of the cyclic
        # collector, whose full passes over it were the status endpoint's worst latencies.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            if app.state.executor is not None:
                app.state.executor.stop()
            store.close()

    app = FastAPI(
        title="coexplore",
        summary="Hardware-aware co-search of networks, accelerators and per-layer bit-widths.",
        version=_version(),
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    Path(settings.runs_root).mkdir(parents=True, exist_ok=True)
    app.include_router(routes_jobs.router)
    app.include_router(routes_meta.router)
    app.include_router(dashboards.router)
    app.add_middleware(_BodyLimit, limit=settings.max_body_bytes)
    return app


async def _http_error(request: Any, exc: StarletteHTTPException) -> JSONResponse:
    """FastAPI's error body; a 405 lists every method of the path in ``Allow`` (Starlette
    names only the first route's when a GET and a POST route share a path)."""
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        from starlette.routing import Match

        methods: set[str] = set()
        for route in request.app.routes:
            match, _ = route.matches({**request.scope, "method": "GET"})
            if match != Match.NONE and getattr(route, "methods", None):
                methods |= set(route.methods)
            match, _ = route.matches({**request.scope, "method": "POST"})
            if match != Match.NONE and getattr(route, "methods", None):
                methods |= set(route.methods)
        headers["Allow"] = ", ".join(sorted(methods))
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)


async def _validation_error(request: Any, exc: RequestValidationError) -> JSONResponse:
    """422 with one readable line per problem: where, what is wrong, what was given."""
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()))
        given = err.get("input")
        shown = "" if isinstance(given, dict | list) else f" (got {str(given)[:60]!r})"
        lines.append(f"{where}: {err.get('msg', 'invalid')}{shown}")
    return JSONResponse({"detail": "; ".join(lines) or "invalid request"}, status_code=422)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("coexplore")
    except PackageNotFoundError:
        return "0"
