"""Executors: run queued jobs of the store, each in its own process, N at a time.

* :class:`LocalExecutor` (``--executor local``): a dispatcher thread in the server claims
  queued jobs and starts one spawned process per job, so a job that crashes (or is killed)
  cannot take the server down. The job process beats, stores its progress events, saves
  its run folder and finishes the job; the dispatcher notices a process that died without
  finishing and re-queues (or fails) its job, and stops a job whose cancel was requested.
* :class:`RayExecutor` (``--executor ray``): the same job function as Ray tasks (a local
  Ray instance, or a cluster by address), the same store.

Both call :func:`run_job`, the one function that runs a stored job.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import socket
import threading
import time
import traceback
import uuid
from pathlib import Path
from typing import Any

from coexplore.api.store import JobStore

__all__ = ["run_job", "LocalExecutor", "RayExecutor", "make_executor"]

log = logging.getLogger("coexplore.api.workers")

HEARTBEAT_S = 2.0
EVENT_FLUSH_S = 0.5
EVENT_MIN_GAP_S = 0.2  # per phase: the first, the last and one every 0.2 s are stored


def run_job(db_url: str, job_id: str, worker: str, runs_root: str) -> str:
    """Runs stored job ``job_id`` as ``worker``: heartbeats, progress events, the run folder,
    the final state. Returns the final state (or ``"lost"`` when the job stopped being this
    worker's, e.g. re-queued after a presumed crash)."""
    from coexplore.errors import CoexploreError
    from coexplore.progress import ProgressEvent
    from coexplore.runs import save_run, spec_from_dict
    from coexplore.search.runner import run

    store = JobStore(db_url)
    job = store.get(job_id)
    if job is None or job.worker != worker or job.status != "running":
        return "lost"
    stop = threading.Event()
    lost = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT_S):
            try:
                if not store.heartbeat(job_id, worker):
                    lost.set()
                    log.warning("job %s is no longer %s's; stopping", job_id, worker)
                    os._exit(3)  # the store gave the job to someone else, or cancelled it
            except Exception:  # a database hiccup: try again at the next beat
                log.exception("heartbeat of job %s failed", job_id)

    pending: list[dict[str, Any]] = []
    last_flush = [time.monotonic()]
    last_kept: dict[str, float] = {}

    def flush() -> None:
        if pending:
            store.add_events(job_id, job.attempts, list(pending))
            pending.clear()
        last_flush[0] = time.monotonic()

    def progress(ev: ProgressEvent) -> None:
        now = time.monotonic()
        final = ev.total is not None and ev.done >= ev.total
        if ev.phase in last_kept and not final and now - last_kept[ev.phase] < EVENT_MIN_GAP_S:
            return
        last_kept[ev.phase] = now
        pending.append(ev.to_dict())
        if now - last_flush[0] >= EVENT_FLUSH_S:
            flush()

    threading.Thread(target=beat, daemon=True, name=f"heartbeat-{job_id[:8]}").start()
    try:
        spec = spec_from_dict(job.spec)
        result = run(spec, progress)
        flush()
        folder = save_run(result, runs_root)
        status = "succeeded"
        ok = store.finish(job_id, worker, status, run_folder=str(folder),
                          metrics=_jsonable(result.metrics))  # fmt: skip
    except CoexploreError as exc:  # bad input, nothing feasible: the user's answer
        flush()
        status = "failed"
        ok = store.finish(job_id, worker, status, error=f"{type(exc).__name__}: {exc}")
    except Exception as exc:  # a bug: keep the end of the traceback for the report
        flush()
        status = "failed"
        tb = "".join(traceback.format_exception(exc)[-3:])
        ok = store.finish(job_id, worker, status, error=f"internal error: {exc!r}\n{tb}")
    finally:
        stop.set()
    store.close()
    return status if ok else "lost"


def _jsonable(metrics: dict[str, Any]) -> dict[str, Any]:
    import json

    return json.loads(json.dumps(metrics, default=str))


def _process_main(db_url: str, job_id: str, worker: str, runs_root: str) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    run_job(db_url, job_id, worker, runs_root)


class LocalExecutor:
    """Runs up to ``workers`` jobs at a time, each in a spawned process.

    Args:
        store: The job store (the dispatcher's connection).
        runs_root: Where run folders are saved.
        workers: Jobs at a time.
        stale_after_s: A running job without a heartbeat for this long is presumed dead.
    """

    name = "local"

    def __init__(
        self,
        store: JobStore,
        runs_root: str | Path,
        workers: int = 1,
        stale_after_s: float = 30.0,
        poll_s: float = 0.5,
    ) -> None:
        self.store, self.runs_root, self.workers = store, str(runs_root), workers
        self.stale_after_s, self.poll_s = stale_after_s, poll_s
        self.host = f"{socket.gethostname()}:{os.getpid()}"
        self.procs: dict[str, tuple[Any, str]] = {}  # job id -> (process, worker)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ctx = mp.get_context("spawn")

    def start(self) -> None:
        for job_id, state in self.store.recover(self.stale_after_s):
            log.info("recovered job %s after a restart: %s", job_id, state)
        self._thread = threading.Thread(target=self._loop, daemon=True, name="dispatcher")
        self._thread.start()

    def stop(self, kill_jobs: bool = False) -> None:
        """Stops dispatching. Running jobs go on to completion unless ``kill_jobs``."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if kill_jobs:
            for proc, _ in self.procs.values():
                proc.kill()

    @property
    def busy(self) -> int:
        return len(self.procs)

    def _loop(self) -> None:
        last_recover = time.monotonic()
        while not self._stop.is_set():
            try:
                self._reap()
                self._cancel()
                self._fill()
                if time.monotonic() - last_recover > self.stale_after_s / 2:
                    self.store.recover(self.stale_after_s)
                    last_recover = time.monotonic()
            except Exception:  # the dispatcher must outlive a database hiccup
                log.exception("dispatcher step failed")
            self._stop.wait(self.poll_s)

    worker_prefix = ""

    def _fill(self) -> None:
        while len(self.procs) < self.workers:
            worker = f"{self.worker_prefix}{self.host}:{uuid.uuid4().hex[:8]}"
            job = self.store.claim(worker)
            if job is None:
                return
            self.procs[job.id] = (self._start(job.id, worker), worker)
            log.info("job %s (%s) started by %s", job.id, job.kind, worker)

    def _start(self, job_id: str, worker: str) -> Any:
        """Starts ``run_job`` for a claimed job; returns a handle with the process interface
        (``is_alive``, ``join``, ``terminate``, ``kill``, ``exitcode``)."""
        proc = self._ctx.Process(
            target=_process_main, args=(self.store.url, job_id, worker, self.runs_root),
            name=f"job-{job_id[:8]}", daemon=False,
        )  # fmt: skip
        proc.start()
        return proc

    def _reap(self) -> None:
        for job_id, (proc, worker) in list(self.procs.items()):
            if proc.is_alive():
                continue
            proc.join()
            del self.procs[job_id]
            job = self.store.get(job_id)
            if job is not None and job.status == "running" and job.worker == worker:
                # died without finishing (killed, out of memory, a segfault)
                self.store.release(job_id, worker, f"its process exited with code {proc.exitcode}")

    def _cancel(self) -> None:
        for job_id, (proc, worker) in list(self.procs.items()):
            job = self.store.get(job_id)
            if job is not None and job.cancel_requested and job.status == "running":
                proc.terminate()
                proc.join(timeout=10)
                if proc.is_alive():
                    proc.kill()
                    proc.join()
                del self.procs[job_id]
                self.store.finish(job_id, worker, "cancelled", error="cancelled by request")


class RayExecutor(LocalExecutor):
    """The same jobs as Ray tasks (``ray.init(address)``; a local instance by default)."""

    name = "ray"

    def __init__(self, *args: Any, address: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        try:
            import ray
        except ImportError:
            from coexplore.errors import ConfigError

            raise ConfigError("--executor ray needs Ray: pip install -e '.[ray]'.") from None
        self.ray = ray
        if not ray.is_initialized():
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        self._task = ray.remote(max_retries=0)(run_job)

    worker_prefix = "ray:"

    def _start(self, job_id: str, worker: str) -> Any:
        return _RayHandle(self.ray, self._task.remote(self.store.url, job_id, worker,
                                                      self.runs_root))  # fmt: skip


class _RayHandle:
    """A Ray task seen through the process interface the dispatcher uses."""

    def __init__(self, ray: Any, ref: Any) -> None:
        self.ray, self.ref, self.exitcode = ray, ref, None

    def is_alive(self) -> bool:
        done, _ = self.ray.wait([self.ref], timeout=0)
        return not done

    def join(self, timeout: float | None = None) -> None:
        try:
            self.ray.get(self.ref, timeout=timeout)
            self.exitcode = 0
        except Exception:
            self.exitcode = 1

    def terminate(self) -> None:
        self.ray.cancel(self.ref, force=True)

    kill = terminate


def make_executor(kind: str, store: JobStore, runs_root: str | Path, workers: int,
                  address: str | None = None) -> LocalExecutor:  # fmt: skip
    if kind == "local":
        return LocalExecutor(store, runs_root, workers)
    if kind == "ray":
        return RayExecutor(store, runs_root, workers, address=address)
    from coexplore.errors import ConfigError

    raise ConfigError(f"--executor must be local or ray, got {kind!r}.")
