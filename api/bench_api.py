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


async def _get_loop(
    port: int, path: str, n: int, think_s: float, start_s: float, lat: list[float]
) -> int:
    """One client on its own keep-alive connection: ``n`` GETs, ``think_s`` apart (after a
    ``start_s`` offset), each timed from write to the last body byte. Returns the errors.

    A bare asyncio HTTP/1.1 client: the load generator shares the server's two cores, so
    it should spend as little of them as it can."""
    await asyncio.sleep(start_s)
    errors = 0
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return n
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    try:
        for i in range(n):
            t = time.perf_counter()
            try:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                ok = head.split(b" ", 2)[1] == b"200"
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                lat.append(time.perf_counter() - t)
                return errors + n - i
            lat.append(time.perf_counter() - t)
            errors += not ok
            if think_s > 0:
                await asyncio.sleep(max(0.0, think_s - (time.perf_counter() - t)))
    finally:
        writer.close()
    return errors


async def _status_load(
    port: int, job_id: str, clients: int, per_client: int, think_s: float
) -> dict[str, Any]:
    """``clients`` clients at once, each polling ``GET /jobs/{id}`` every ``think_s`` seconds
    (0: back to back), starts spread over one period."""
    rng = np.random.default_rng(0)
    offsets = rng.uniform(0.0, think_s, clients) if think_s > 0 else np.zeros(clients)
    lat: list[float] = []
    t0 = time.perf_counter()
    errors = await asyncio.gather(*(
        _get_loop(port, f"/jobs/{job_id}", per_client, think_s, float(o), lat) for o in offsets
    ))  # fmt: skip
    wall = time.perf_counter() - t0
    ms = np.array(lat) * 1e3
    return {
        "clients": clients, "think_s": think_s, "requests": len(ms), "errors": int(sum(errors)),
        "wall_s": wall, "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)), "max_ms": float(ms.max()),
        "requests_per_s": len(ms) / wall,
    }  # fmt: skip


def run_api_bench(
    clients: int = 200,
    requests_per_client: int = 25,
    jobs: int = 12,
    think_s: float = 1.0,
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
            emit(progress, "bench", 0, 3, f"{clients} clients polling every {think_s:g} s")
            out["status"] = asyncio.run(
                _status_load(server.port, job_id, clients, requests_per_client, think_s)
            )
            emit(progress, "bench", 1, 3, f"{clients} clients back to back")
            out["saturation"] = asyncio.run(
                _status_load(server.port, job_id, clients, requests_per_client, 0.0)
            )
        finally:
            server.stop()
        emit(progress, "bench", 2, 3, f"{jobs} short jobs on 2 workers")
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
        emit(progress, "bench", 3, 3, f"{out['throughput']['jobs_per_minute']:.1f} jobs/min")
    return out


def render_api_markdown(res: dict[str, Any], command: str) -> str:
    s, z, t = res["status"], res["saturation"], res["throughput"]
    met = "met" if s["p99_ms"] <= 100 and s["errors"] == 0 else "missed"
    # Little's law for a closed loop: latency = clients / throughput.
    needed = z["clients"] / 0.1
    return (
        "# The REST service under load\n\n"
        f"Produced by `{command}` against a real uvicorn server on this machine (SQLite store, "
        "one server process; the clients run on the same 2 cores). Every figure was measured "
        "in that run.\n\n"
        f"Status requests (`GET /jobs/{{id}}` of a stored job, its latest progress included), "
        f"{s['clients']} concurrent clients on their own keep-alive connections:\n\n"
        "| load | requests | throughput | p50 | p99 | max | errors | target |\n"
        "|---|---|---|---|---|---|---|---|\n"
        f"| each client polls every {s['think_s']:g} s (the dashboards poll every 2 s) | "
        f"{s['requests']:,} | {s['requests_per_s']:.0f}/s | {s['p50_ms']:.1f} ms | "
        f"{s['p99_ms']:.1f} ms | {s['max_ms']:.1f} ms | {s['errors']} | "
        f"p99 <= 100 ms, 0 errors ({met}) |\n"
        f"| back to back (saturation) | {z['requests']:,} | {z['requests_per_s']:.0f}/s | "
        f"{z['p50_ms']:.1f} ms | {z['p99_ms']:.1f} ms | {z['max_ms']:.1f} ms | "
        f"{z['errors']} | |\n\n"
        f"Back to back, every client always waits on the server, so latency is clients / "
        f"throughput (Little's law): a p99 of 100 ms at {z['clients']} such clients needs at "
        f"least {needed:,.0f} requests/s, {needed / max(z['requests_per_s'], 1e-9):.1f}x "
        "what one server process measured here.\n\n"
        f"Short jobs (a hardware sweep of the tiny space) with {t['workers']} worker processes: "
        f"{t['succeeded']} of {t['jobs']} succeeded in {t['wall_s']:.1f} s, "
        f"**{t['jobs_per_minute']:.1f} jobs/min**.\n"
    )
