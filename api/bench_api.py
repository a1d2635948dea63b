"""``search bench api``: the service under load, on this machine, against a real server.

* Status latency: a uvicorn server (no workers) with a job in its store; ``clients``
  concurrent HTTP clients each send ``GET /jobs/{id}`` ``requests_per_client`` times; p50,
  p99 and the error count (target p99 <= 100 ms, 0 errors).
* Throughput: a server with 2 worker processes; ``jobs`` short jobs (a hardware sweep of the
  ``tiny`` space) submitted at once; jobs per minute from the first submit to the last end.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from coexplore.progress import ProgressFn, emit

__all__ = ["run_api_bench", "render_api_markdown"]

SHORT_JOB = {"kind": "hardware-sweep", "accel_space": "tiny", "constraints": {"fps_min": 30}}


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Server:
    def __init__(self, folder: Path, workers: int) -> None:
        import httpx

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "coexplore.api.cli", "serve", "--port", str(self.port),
             "--db", f"sqlite:///{folder / 'jobs.db'}", "--runs", str(folder / "runs"),
             "--workers", str(workers)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        end = time.monotonic() + 60
        while time.monotonic() < end:
            try:
                if httpx.get(f"{self.url}/health").status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("the server did not start within 60 s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


async def _status_load(url: str, job_id: str, clients: int, per_client: int) -> dict[str, Any]:
    import httpx

    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as c:

        async def client() -> None:
            nonlocal errors
            for _ in range(per_client):
                t = time.perf_counter()
                try:
                    r = await c.get(f"/jobs/{job_id}")
                    ok = r.status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - t)
                errors += not ok

        t0 = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        wall = time.perf_counter() - t0
    lat = np.array(latencies) * 1e3
    return {
        "clients": clients, "requests": len(lat), "errors": errors, "wall_s": wall,
        "p50_ms": float(np.percentile(lat, 50)), "p99_ms": float(np.percentile(lat, 99)),
        "max_ms": float(lat.max()), "requests_per_s": len(lat) / wall,
    }  # fmt: skip


def run_api_bench(
    clients: int = 200,
    requests_per_client: int = 25,
    jobs: int = 12,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    import httpx

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "latency"
        folder.mkdir()
        server = _Server(folder, workers=0)
        try:
            job_id = httpx.post(f"{server.url}/jobs", json={"spec": SHORT_JOB}).json()["id"]
            httpx.get(f"{server.url}/jobs/{job_id}")  # warm
            emit(progress, "bench", 0, 2, f"{clients} clients x {requests_per_client} requests")
            out["status"] = asyncio.run(
                _status_load(server.url, job_id, clients, requests_per_client)
            )
        finally:
            server.stop()
        emit(progress, "bench", 1, 2, f"{jobs} short jobs on 2 workers")
        folder = Path(tmp) / "throughput"
        folder.mkdir()
        server = _Server(folder, workers=2)
        try:
            t0 = time.perf_counter()
            ids = [httpx.post(f"{server.url}/jobs", json={"spec": SHORT_JOB}).json()["id"]
                   for _ in range(jobs)]  # fmt: skip
            states: dict[str, str] = {}
            while len(states) < jobs and time.perf_counter() - t0 < 1800:
                for i in ids:
                    if i not in states:
                        st = httpx.get(f"{server.url}/jobs/{i}").json()["status"]
                        if st in ("succeeded", "failed", "cancelled"):
                            states[i] = st
                time.sleep(0.2)
            wall = time.perf_counter() - t0
        finally:
            server.stop()
        ok = sum(s == "succeeded" for s in states.values())
        out["throughput"] = {"jobs": jobs, "succeeded": ok, "workers": 2, "wall_s": wall,
                             "jobs_per_minute": 60.0 * ok / wall}  # fmt: skip
        emit(progress, "bench", 2, 2, f"{out['throughput']['jobs_per_minute']:.1f} jobs/min")
    return out


def render_api_markdown(res: dict[str, Any], command: str) -> str:
    s, t = res["status"], res["throughput"]
    return (
        "# The REST service under load\n\n"
        f"Produced by `{command}` against a real uvicorn server on this machine (SQLite store; "
        "the clients run on the same machine). Every figure was measured in that run.\n\n"
        "| measure | value | target |\n|---|---|---|\n"
        f"| status requests (`GET /jobs/{{id}}`), {s['clients']} concurrent clients | "
        f"{s['requests']:,} requests in {s['wall_s']:.1f} s ({s['requests_per_s']:.0f}/s) | |\n"
        f"| p50 latency | {s['p50_ms']:.1f} ms | |\n"
        f"| p99 latency | {s['p99_ms']:.1f} ms | <= 100 ms "
        f"({'met' if s['p99_ms'] <= 100 else 'missed'}) |\n"
        f"| errors | {s['errors']} | 0 |\n"
        f"| short jobs (hardware sweep, tiny space) with {t['workers']} worker processes | "
        f"{t['succeeded']} of {t['jobs']} succeeded in {t['wall_s']:.1f} s: "
        f"{t['jobs_per_minute']:.1f} jobs/min | |\n"
    )
