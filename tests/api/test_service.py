"""The REST service: the job store's state machine, the HTTP API in-process, and jobs run
end to end by real worker processes (including one killed mid-run)."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from coexplore.api.app import Settings, create_app
from coexplore.api.bench_api import free_port
from coexplore.api.store import JobStore
from coexplore.api.workers import LocalExecutor

SWEEP = {"kind": "hardware-sweep", "accel_space": "tiny", "constraints": {"fps_min": 30}}


PG_URL = os.environ.get(
    "COEXPLORE_TEST_POSTGRES_URL", "postgresql://coexplore:coexplore@localhost/coexplore_test"
)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same tests on SQLite (a file) and on a real PostgreSQL server, emptied first."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'jobs.db'}"
    import sqlalchemy as sa

    from coexplore.api import store as store_mod

    try:
        engine = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://"))
        store_mod._meta.drop_all(engine)
        engine.dispose()
    except sa.exc.OperationalError as exc:
        msg = (f"PostgreSQL is not reachable at {PG_URL} ({str(exc).splitlines()[0]}); "
               ".ci/run installs and starts one, or set COEXPLORE_TEST_POSTGRES_URL.")  # fmt: skip
        if os.environ.get("COEXPLORE_REQUIRE_POSTGRES"):
            pytest.fail(msg)
        pytest.skip(msg)
    return PG_URL


# -- the store -----------------------------------------------------------------------------
def test_store_state_machine_claims_once_and_is_idempotent(db: str) -> None:
    store = JobStore(db)
    a, created = store.submit(SWEEP, "key-1")
    again, created_again = store.submit(SWEEP, "key-1")
    assert created and not created_again and again.id == a.id and a.status == "queued"
    b, _ = store.submit(SWEEP)
    first, second = store.claim("w1"), store.claim("w2")
    assert {first.id, second.id} == {a.id, b.id} and store.claim("w3") is None
    assert first.status == "running" and first.attempts == 1 and first.worker == "w1"
    assert store.heartbeat(first.id, "w1") and not store.heartbeat(first.id, "w2")
    assert store.finish(first.id, "w1", "succeeded", metrics={"fps": 31.0})
    assert not store.finish(first.id, "w1", "failed")  # no second finish
    done = store.get(first.id)
    assert done.status == "succeeded" and done.metrics == {"fps": 31.0} and done.finished_at
    store.add_events(second.id, 1, [{"phase": "pricing", "done": 1, "total": 2}])
    evs = store.events(second.id)
    assert [e["phase"] for e in evs] == ["pricing"] and store.events(second.id, evs[0]["id"]) == []


def test_store_requeues_a_dead_workers_job_then_fails_it_with_the_reason(db: str) -> None:
    store = JobStore(db)
    job, _ = store.submit(SWEEP, max_attempts=2)
    store.claim("w1")
    assert store.recover(stale_after_s=60) == []  # beating recently: left alone
    assert store.recover(stale_after_s=-1) == [(job.id, "queued")]
    assert store.get(job.id).worker is None
    store.claim("w2")
    assert store.release(job.id, "w1", "gone") is None  # not w1's any more
    assert store.release(job.id, "w2", "its process exited with code -9") == "failed"
    failed = store.get(job.id)
    assert failed.status == "failed" and "exited with code -9" in failed.error
    assert "2 of 2 attempts" in failed.error


def test_store_cancels_queued_at_once_and_flags_running(db: str) -> None:
    store = JobStore(db)
    queued, _ = store.submit(SWEEP)
    running, _ = store.submit(SWEEP)
    store.claim("w")  # takes the older one
    assert store.cancel(queued.id).status == "running"  # the claimed one was `queued`
    assert store.get(queued.id).cancel_requested
    assert store.cancel(running.id).status == "cancelled"


def test_a_bad_db_url_names_the_forms(tmp_path: Path) -> None:
    from coexplore.errors import ConfigError

    with pytest.raises(ConfigError, match="sqlite:///jobs.db"):
        JobStore("not a url")


# -- the HTTP API, in-process --------------------------------------------------------------
@pytest.fixture
def api(db: str, tmp_path: Path):  # noqa: ANN201
    settings = Settings(db_url=db, runs_root=str(tmp_path / "runs"), workers=0, token="s3cret",
                        max_body_bytes=4096)  # fmt: skip
    with TestClient(create_app(settings)) as client:
        client.headers["Authorization"] = "Bearer s3cret"
        yield client


def test_submit_validates_with_the_run_layer_and_is_idempotent(api: TestClient) -> None:
    r = api.post("/jobs", json={"spec": SWEEP}, headers={"Idempotency-Key": "k1"})
    assert r.status_code == 201 and r.headers["location"] == f"/jobs/{r.json()['id']}"
    job = r.json()
    assert job["status"] == "queued" and job["spec"]["version"] == 1  # canonical spec stored
    again = api.post("/jobs", json={"spec": SWEEP}, headers={"Idempotency-Key": "k1"})
    assert again.status_code == 200 and again.json()["id"] == job["id"]
    other = {**SWEEP, "accel_space": "edge"}
    reused = api.post("/jobs", json={"spec": other}, headers={"Idempotency-Key": "k1"})
    assert reused.status_code == 409
    bad = api.post("/jobs", json={"spec": {**SWEEP, "bitz": [4]}})
    assert bad.status_code == 422 and "bitz" in bad.json()["detail"]
    assert api.post("/jobs", json={"spec": {"kind": "nope"}}).status_code == 422
    assert api.post("/jobs", json={"spec": {**SWEEP, "bits": "x"}}).status_code == 422
    listed = api.get("/jobs", params={"status": "queued", "kind": "hardware-sweep"}).json()
    assert listed["total"] == 1 and listed["jobs"][0]["id"] == job["id"]
    assert api.get("/jobs", params={"status": "bogus"}).status_code == 422
    assert api.get(f"/jobs/{job['id']}").json()["progress"] == []
    assert api.get("/jobs/nope").status_code == 404


def test_security_token_code_files_and_body_size(api: TestClient) -> None:
    no_token = api.post("/jobs", json={"spec": SWEEP}, headers={"Authorization": ""})
    assert no_token.status_code == 401 and no_token.headers["www-authenticate"] == "Bearer"
    wrong = api.post("/jobs", json={"spec": SWEEP}, headers={"Authorization": "Bearer x"})
    assert wrong.status_code == 401
    assert api.get("/jobs").status_code == 200  # reading needs no token
    code = api.post("/jobs", json={"spec": {**SWEEP, "network": "os:system",
                                            "input_shape": [1, 3, 8, 8]}})  # fmt: skip
    assert code.status_code == 403 and "--allow-user-code" in code.json()["detail"]
    quant = {"kind": "quantize", "weights": "/etc/passwd"}
    files = api.post("/jobs", json={"spec": quant})
    assert files.status_code == 403 and "--allow-local-files" in files.json()["detail"]
    big = api.post("/jobs", json={"spec": {**SWEEP, "pad": "x" * 5000}})
    assert big.status_code == 413


def test_cancel_and_results_of_unfinished_jobs(api: TestClient) -> None:
    job = api.post("/jobs", json={"spec": SWEEP}).json()
    assert api.get(f"/jobs/{job['id']}/result").status_code == 409
    r = api.post(f"/jobs/{job['id']}/cancel")
    assert r.status_code == 202 and r.json()["status"] == "cancelled"
    assert api.post(f"/jobs/{job['id']}/cancel").status_code == 409
    stream = api.get(f"/jobs/{job['id']}/stream")
    assert stream.status_code == 200 and "event: end" in stream.text
    assert '"status": "cancelled"' in stream.text


def test_openapi_declares_every_status_code_and_the_spec_schemas(api: TestClient) -> None:
    doc = api.get("/openapi.json").json()
    post = doc["paths"]["/jobs"]["post"]["responses"]
    assert {"200", "201", "401", "403", "409", "413", "422"} <= set(post)
    assert {"404", "409", "410"} <= set(doc["paths"]["/jobs/{job_id}/artefacts/{name}"]["get"]
                                        ["responses"])  # fmt: skip
    kinds = {k["kind"]: k for k in api.get("/kinds").json()}
    assert all(k["runnable"] for k in kinds.values())
    assert "constraints" in kinds["co-search"]["spec_schema"]["properties"]
    health = api.get("/health").json()
    assert health["status"] == "ok" and health["database"] and health["executor"] is None


# -- jobs run by worker processes ------------------------------------------------------------
def _wait(client: TestClient, job_id: str, states: tuple[str, ...], timeout: float = 180) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        job = client.get(f"/jobs/{job_id}").json()
        if job["status"] in states:
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job_id} still {job['status']} after {timeout} s")


def test_a_job_runs_in_a_worker_process_end_to_end(db: str, tmp_path: Path) -> None:
    settings = Settings(db_url=db, runs_root=str(tmp_path / "runs"), workers=1)
    with TestClient(create_app(settings)) as client:
        job = client.post("/jobs", json={"spec": SWEEP}).json()
        done = _wait(client, job["id"], ("succeeded", "failed"))
        assert done["status"] == "succeeded", done["error"]
        assert done["metrics"]["pareto"] >= 1 and done["metrics"]["best_energy_fps"] >= 30
        assert {e["phase"] for e in done["progress"]} >= {"pricing"}
        res = client.get(f"/jobs/{job['id']}/result").json()
        assert res["manifest"]["kind"] == "hardware-sweep" and res["result"]["pareto"]
        names = {a["name"] for a in client.get(f"/jobs/{job['id']}/artefacts").json()}
        assert "pareto.csv" in names
        csv = client.get(f"/jobs/{job['id']}/artefacts/pareto.csv")
        assert csv.status_code == 200 and csv.text.startswith("fps,")
        assert client.get(f"/jobs/{job['id']}/artefacts/..%2Fjobs.db").status_code == 404
        assert client.get(f"/jobs/{job['id']}/artefacts/run.json").status_code in (200, 404)
        stream = client.get(f"/jobs/{job['id']}/stream").text
        assert "event: progress" in stream and '"status": "succeeded"' in stream
        bad = client.post("/jobs", json={"spec": {**SWEEP, "constraints": {"fps_min": 1e9}}})
        failed = _wait(client, bad.json()["id"], ("succeeded", "failed"))
        assert failed["status"] == "failed" and "InfeasibleDesignError" in failed["error"]


def test_a_killed_worker_process_is_rerun_and_finishes_once(db: str, tmp_path: Path) -> None:
    store = JobStore(db)
    spec = {"kind": "co-search", "space": "tiny", "steps": 400, "warmup_steps": 390,
            "finetune_steps": 0, "top_k": 1, "quantize": False,
            "constraints": {"fps_min": 30}}  # fmt: skip
    job, _ = store.submit(spec, max_attempts=2)
    ex = LocalExecutor(store, tmp_path / "runs", workers=1, poll_s=0.2)
    ex.start()
    try:
        end = time.monotonic() + 120
        while time.monotonic() < end and not store.events(job.id):
            time.sleep(0.2)  # running: its first progress events are stored
        (proc, _), = ex.procs.values()
        os.kill(proc.pid, signal.SIGKILL)
        end = time.monotonic() + 60
        while time.monotonic() < end and store.get(job.id).attempts < 2:
            time.sleep(0.2)
        again = store.get(job.id)
        assert again.attempts == 2 and again.status == "running"
        store.cancel(job.id)  # the second attempt is stopped by its executor
        end = time.monotonic() + 30
        while time.monotonic() < end and store.get(job.id).status == "running":
            time.sleep(0.2)
        final = store.get(job.id)
        assert final.status == "cancelled" and final.run_folder is None
        assert {e["attempt"] for e in store.events(job.id, limit=10_000)} <= {1, 2}
    finally:
        ex.stop(kill_jobs=True)


def test_jobs_cli_talks_to_the_api(db: str, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    import httpx
    from typer.testing import CliRunner

    from coexplore.api import _service_cli
    from coexplore.api.cli import app

    settings = Settings(db_url=db, runs_root=str(tmp_path / "runs"), workers=0, token="t")
    with TestClient(create_app(settings)) as client:
        def fake_client(server: str, token: str | None) -> httpx.Client:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            client.headers.update(headers)
            return client

        monkeypatch.setattr(_service_cli, "_client", fake_client)
        path = tmp_path / "spec.json"
        path.write_text(json.dumps(SWEEP))
        runner = CliRunner()
        r = runner.invoke(app, ["jobs", "submit", str(path), "--token", "t"])
        assert r.exit_code == 0, r.output
        job_id = r.output.strip()
        listed = runner.invoke(app, ["jobs", "list"])
        assert job_id in listed.output and "queued" in listed.output
        assert runner.invoke(app, ["jobs", "cancel", job_id, "--token", "t"]).exit_code == 0
        assert "cancelled" in runner.invoke(app, ["jobs", "show", job_id]).output
        assert runner.invoke(app, ["jobs", "wait", job_id]).exit_code == 1  # not succeeded
        path.write_text(json.dumps({"kind": "hardware-sweep", "bits": [5]}))
        bad = runner.invoke(app, ["jobs", "submit", str(path), "--token", "t"])
        assert bad.exit_code == 2 and "422" in bad.output



def test_a_real_server_runs_a_job_submitted_by_the_cli(tmp_path: Path) -> None:
    """`search serve` under uvicorn in its own process; `search jobs submit --wait` follows
    the job over server-sent events to its end."""
    import subprocess
    import sys

    import httpx

    port = free_port()
    search = [sys.executable, "-m", "coexplore.api.cli"]
    server = subprocess.Popen(
        [*search, "serve", "--port", str(port), "--db", f"sqlite:///{tmp_path / 'jobs.db'}",
         "--runs", str(tmp_path / "runs"), "--workers", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        end = time.monotonic() + 60
        while time.monotonic() < end:
            try:
                if httpx.get(f"{url}/health").json()["status"] == "ok":
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        spec = tmp_path / "spec.json"
        spec.write_text(json.dumps(SWEEP))
        got = subprocess.run([*search, "jobs", "submit", str(spec), "--server", url, "--wait"],
                             capture_output=True, text=True, timeout=240)  # fmt: skip
        assert got.returncode == 0, got.stdout + got.stderr
        job_id = got.stdout.splitlines()[0]
        assert f"job {job_id} succeeded" in got.stdout and "[pricing]" in got.stderr
        runs = list((tmp_path / "runs").iterdir())
        assert len(runs) == 1 and (runs[0] / "run.json").is_file()
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


def test_ray_executor_runs_the_same_jobs_in_the_same_store(tmp_path: Path) -> None:
    """A local Ray instance runs the job function as a task; the store sees the same
    states, events and run folder as with the local executor."""
    pytest.importorskip("ray")
    from coexplore.api.workers import RayExecutor

    store = JobStore(f"sqlite:///{tmp_path / 'jobs.db'}")
    job, _ = store.submit(SWEEP)
    ex = RayExecutor(store, tmp_path / "runs", workers=1, poll_s=0.2)
    ex.start()
    try:
        end = time.monotonic() + 240
        while time.monotonic() < end and store.get(job.id).status in ("queued", "running"):
            time.sleep(0.3)
        done = store.get(job.id)
        assert done.status == "succeeded", done.error
        assert done.worker.startswith("ray:") and store.events(job.id)
        assert Path(done.run_folder, "run.json").is_file()
    finally:
        ex.stop()
        import ray

        ray.shutdown()
