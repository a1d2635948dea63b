"""Crash test: a real uvicorn server with 2 worker processes and 6 jobs; one job process is
killed with SIGKILL mid-run, then the server itself; after a restart every job ends
succeeded or failed with a reason, none is lost and none runs twice to completion."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from coexplore.api.bench_api import free_port
from coexplore.api.store import JobStore

JOB = {"kind": "hardware-sweep", "accel_space": "edge", "constraints": {"fps_min": 30}}



def _serve(db: str, runs: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "coexplore.api.cli", "serve", "--port", str(port), "--db", db,
         "--runs", str(runs), "--workers", "2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    end = time.monotonic() + 60
    while time.monotonic() < end:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.3)
    proc.kill()
    raise AssertionError("the server did not come up")


def _job_processes(server_pid: int) -> list[int]:
    """The server's children that run jobs (not multiprocessing's resource tracker)."""
    out = subprocess.run(["pgrep", "-P", str(server_pid)], capture_output=True, text=True)
    pids = []
    for pid in map(int, out.stdout.split()):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "resource_tracker" not in cmd:
            pids.append(pid)
    return pids


def _wait_until(cond, timeout: float, what: str) -> None:  # noqa: ANN001
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def test_jobs_survive_a_killed_worker_and_a_killed_server(tmp_path: Path) -> None:
    db, runs, port = f"sqlite:///{tmp_path / 'jobs.db'}", tmp_path / "runs", free_port()
    store = JobStore(db)
    server = _serve(db, runs, port)
    orphans: list[int] = []
    try:
        url = f"http://127.0.0.1:{port}"
        ids = [httpx.post(f"{url}/jobs", json={"spec": JOB}).json()["id"] for _ in range(6)]
        _wait_until(lambda: len(_job_processes(server.pid)) == 2, 60, "two job processes")
        os.kill(_job_processes(server.pid)[0], signal.SIGKILL)  # a worker dies mid-run
        _wait_until(lambda: any(store.get(i).attempts == 1 and store.get(i).status == "queued"
                                or store.get(i).attempts == 2 for i in ids), 30,
                    "the killed job re-queued")  # fmt: skip
        _wait_until(lambda: len(_job_processes(server.pid)) == 2, 60, "two job processes again")
        orphans = _job_processes(server.pid)
        server.send_signal(signal.SIGKILL)  # the server dies; its job processes run on
        server.wait()
        server = _serve(db, runs, port)  # restart on the same store
        _wait_until(lambda: all(store.get(i).finished for i in ids), 600, "every job to end")
        jobs = [store.get(i) for i in ids]
        assert all(j.status in ("succeeded", "failed") for j in jobs)
        assert all(j.error for j in jobs if j.status == "failed")
        succeeded = [j for j in jobs if j.status == "succeeded"]
        assert len(succeeded) == 6, [(j.status, j.error) for j in jobs]
        # none ran twice to completion: one run folder per succeeded job, each its own
        folders = sorted(p for p in runs.iterdir() if (p / "run.json").is_file())
        assert len(folders) == len(succeeded)
        assert sorted(j.run_folder for j in succeeded) == [str(f) for f in folders]
        assert max(j.attempts for j in jobs) == 2
        for f in folders:
            assert json.loads((f / "run.json").read_text())["status"] == "succeeded"
    finally:
        server.kill()
        for pid in orphans:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
