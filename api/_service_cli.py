"""``search serve`` (the REST service) and ``search jobs ...`` (its command-line client)."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from coexplore.api._common import fail, guard

jobs_app = typer.Typer(help="Submit and follow jobs on a coexplore server.", no_args_is_help=True)

ServerOpt = Annotated[
    str,
    typer.Option(envvar="COEXPLORE_SERVER", help="The server's URL."),
]
TokenOpt = Annotated[
    str | None,
    typer.Option(envvar="COEXPLORE_TOKEN", help="Bearer token (when the server has one)."),
]
DEFAULT_SERVER = "http://127.0.0.1:8000"


def _serve(host: str, port: int, db: str | None, workers: int, executor: str,
           ray_address: str | None, token: str | None, runs: Path, allow_user_code: bool,
           allow_local_files: bool) -> None:  # fmt: skip
    import uvicorn

    from coexplore.api.app import Settings, create_app
    from coexplore.api.store import default_db_url

    settings = Settings(
        db_url=db or default_db_url(), runs_root=str(runs), workers=workers, executor=executor,
        ray_address=ray_address, token=token, allow_user_code=allow_user_code,
        allow_local_files=allow_local_files,
    )  # fmt: skip
    app = create_app(settings)
    typer.echo(f"coexplore serving on http://{host}:{port} (jobs in {settings.db_url}, runs in "
               f"{runs}, {workers} {executor} worker(s){', token required' if token else ''})",
               err=True)  # fmt: skip
    uvicorn.run(app, host=host, port=port, log_level="info")


def _client(server: str, token: str | None):  # noqa: ANN202
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=server.rstrip("/"), headers=headers, timeout=30)


def _check(resp: Any) -> Any:
    if resp.status_code >= 400:
        try:
            detail = resp.json().get("detail", resp.text)
        except ValueError:
            detail = resp.text
        code = 2 if resp.status_code in (400, 403, 409, 413, 422) else 1
        raise fail(f"{resp.request.method} {resp.request.url.path}: {resp.status_code} {detail}",
                   code)  # fmt: skip
    return resp.json()


def _request(fn: Any) -> Any:
    import httpx

    try:
        return _check(fn())
    except httpx.TransportError as exc:
        msg = f"cannot reach the server: {exc}. Is `search serve` running there?"
        raise fail(msg, 1) from None


def _print_job(job: dict[str, Any]) -> None:
    typer.echo(f"{job['id']}  {job['kind']}  {job['status']}"
               + (f"  ({job['error'].splitlines()[0]})" if job.get("error") else ""))  # fmt: skip
    for ev in job.get("progress") or []:
        total = f"/{ev['total']:g}" if ev.get("total") else ""
        typer.echo(f"  {ev['phase']}: {ev['done']:g}{total} {ev['message']}")
    if job.get("metrics"):
        typer.echo("  " + json.dumps(job["metrics"]))


def register(app: typer.Typer) -> None:
    app.add_typer(jobs_app, name="jobs")

    @app.command()
    @guard
    def serve(
        host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
        db: Annotated[
            str | None,
            typer.Option(help="Job store URL: sqlite:///results/jobs.db (default) or "
                         "postgresql+psycopg://user:password@host/db."),  # fmt: skip
        ] = None,
        workers: Annotated[int, typer.Option(min=0, max=64, help="Jobs run at a time.")] = 1,
        executor: Annotated[str, typer.Option(help="local (a process per job) or ray.")] = "local",
        ray_address: Annotated[str | None, typer.Option(help="Ray cluster address.")] = None,
        token: Annotated[
            str | None,
            typer.Option(envvar="COEXPLORE_TOKEN", help="Bearer token for mutating requests."),
        ] = None,
        runs: Annotated[Path, typer.Option(help="Folder for the jobs' run folders.")] = Path(
            "results/runs"
        ),
        allow_user_code: Annotated[
            bool, typer.Option(help="Accept package.module:factory models in job specs.")
        ] = False,
        allow_local_files: Annotated[
            bool, typer.Option(help="Accept server file paths (weights, data) in job specs.")
        ] = False,
    ) -> None:
        """Serve the REST API (jobs, progress, results) with workers that run the jobs.

        Example: search serve --port 8000 --workers 2
        """
        if executor not in ("local", "ray"):
            raise fail(f"--executor must be local or ray, got {executor!r}.", 2)
        _serve(host, port, db, workers, executor, ray_address, token, runs, allow_user_code,
               allow_local_files)  # fmt: skip

    @jobs_app.command("submit")
    @guard
    def submit(
        spec_file: Annotated[
            Path, typer.Argument(help="A run spec as JSON (run.json's `spec`, spec.json); - "
                                 "reads stdin.")  # fmt: skip
        ],
        server: ServerOpt = DEFAULT_SERVER,
        token: TokenOpt = None,
        key: Annotated[str | None, typer.Option(help="Idempotency key.")] = None,
        wait: Annotated[bool, typer.Option(help="Follow the job until it ends.")] = False,
    ) -> None:
        """Submit a job; prints its id (and, with --wait, follows it to the end)."""
        text = sys.stdin.read() if str(spec_file) == "-" else _read(spec_file)
        try:
            spec = json.loads(text)
        except json.JSONDecodeError as exc:
            raise fail(f"{spec_file}: not JSON ({exc}).", 2) from None
        headers = {"Idempotency-Key": key} if key else {}
        with _client(server, token) as c:
            job = _request(lambda: c.post("/jobs", json={"spec": spec}, headers=headers))
            typer.echo(job["id"])
            if wait:
                _follow(c, job["id"])

    @jobs_app.command("list")
    @guard
    def list_(
        server: ServerOpt = DEFAULT_SERVER,
        status: Annotated[str | None, typer.Option(help="queued, running, succeeded...")] = None,
        kind: Annotated[str | None, typer.Option(help="co-search, hardware-sweep...")] = None,
        limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Jobs, newest first."""
        params = {k: v for k, v in (("status", status), ("kind", kind)) if v}
        with _client(server, None) as c:
            out = _request(lambda: c.get("/jobs", params={**params, "limit": limit}))
        if as_json:
            typer.echo(json.dumps(out, indent=2))
            return
        for job in out["jobs"]:
            _print_job(job)
        typer.echo(f"{len(out['jobs'])} of {out['total']} jobs", err=True)

    @jobs_app.command("show")
    @guard
    def show(
        job_id: str,
        server: ServerOpt = DEFAULT_SERVER,
        as_json: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """A job's status, latest progress per phase, and metrics."""
        with _client(server, None) as c:
            job = _request(lambda: c.get(f"/jobs/{job_id}"))
        typer.echo(json.dumps(job, indent=2)) if as_json else _print_job(job)

    @jobs_app.command("cancel")
    @guard
    def cancel(job_id: str, server: ServerOpt = DEFAULT_SERVER, token: TokenOpt = None) -> None:
        """Cancel a queued or running job."""
        with _client(server, token) as c:
            _print_job(_request(lambda: c.post(f"/jobs/{job_id}/cancel")))

    @jobs_app.command("wait")
    @guard
    def wait_(job_id: str, server: ServerOpt = DEFAULT_SERVER) -> None:
        """Follow a job's live progress until it ends; exit 1 unless it succeeded."""
        with _client(server, None) as c:
            _follow(c, job_id)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror}.", 2) from None


def _follow(c: Any, job_id: str) -> None:
    """Streams the job's events (server-sent) and prints them; exit 1 unless it succeeded."""
    import httpx

    last = None
    while True:
        try:
            headers = {"Last-Event-ID": str(last)} if last else {}
            with c.stream("GET", f"/jobs/{job_id}/stream", headers=headers, timeout=None) as r:
                if r.status_code >= 400:
                    r.read()
                    _check(r)
                event, data = None, None
                for line in r.iter_lines():
                    if line.startswith("id: "):
                        last = int(line[4:])
                    elif line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: "):
                        data = json.loads(line[6:])
                    elif line == "" and event:
                        if event == "progress":
                            total = f"/{data['total']:g}" if data.get("total") else ""
                            typer.echo(f"[{data['phase']}] {data['done']:g}{total} "
                                       f"{data['message']}", err=True)  # fmt: skip
                        elif event == "end":
                            err = f": {data['error']}" if data.get("error") else ""
                            typer.echo(f"job {job_id} {data['status']}{err}")
                            if data["status"] != "succeeded":
                                raise typer.Exit(1)
                            return
                        event, data = None, None
        except httpx.TransportError:
            time.sleep(1.0)  # the server restarted: resume after the last event seen
            if os.environ.get("COEXPLORE_NO_RETRY"):
                raise
