"""The job store: jobs, their state machine, heartbeats and progress events, in a real
database through SQLAlchemy 2 (SQLite in WAL mode by default, PostgreSQL or any other
SQLAlchemy URL by ``--db``).

States::

    queued -> running -> succeeded | failed | cancelled
    queued -> cancelled                (cancelled before a worker took it)
    running -> queued                  (its worker died: re-queued, attempts + 1)

A worker claims a job atomically (a conditional UPDATE: two workers never run the same
job), beats every few seconds while it runs, and stores every progress event. After a crash,
:meth:`JobStore.recover` re-queues the jobs whose worker is gone (no heartbeat for
``stale_after_s``) and fails them with the reason once ``max_attempts`` is spent.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import uuid
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.exc import IntegrityError

from coexplore.errors import ConfigError

__all__ = ["JobStore", "Job", "JOB_STATES", "FINAL_STATES", "default_db_url"]

JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled")
FINAL_STATES = ("succeeded", "failed", "cancelled")

_meta = sa.MetaData()

jobs_table = sa.Table(
    "jobs",
    _meta,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("kind", sa.String(40), nullable=False, index=True),
    sa.Column("spec", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("idempotency_key", sa.String(200), unique=True, nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True)),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("heartbeat_at", sa.DateTime(timezone=True)),
    sa.Column("worker", sa.String(200)),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("max_attempts", sa.Integer, nullable=False, default=3),
    sa.Column("cancel_requested", sa.Boolean, nullable=False, default=False),
    sa.Column("error", sa.Text),
    sa.Column("run_folder", sa.Text),
    sa.Column("metrics", sa.Text),
)

events_table = sa.Table(
    "job_events",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job_id", sa.String(36), sa.ForeignKey("jobs.id"), nullable=False, index=True),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("phase", sa.String(60), nullable=False),
    sa.Column("done", sa.Float, nullable=False),
    sa.Column("total", sa.Float),
    sa.Column("message", sa.Text, nullable=False, default=""),
    sa.Column("metrics", sa.Text, nullable=False, default="{}"),
)


def default_db_url() -> str:
    """SQLite beside the run folders: ``sqlite:///results/jobs.db``."""
    return "sqlite:///results/jobs.db"


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


def _aware(value: _dt.datetime | None) -> _dt.datetime | None:
    """SQLite hands back naive datetimes: they were stored in UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=_dt.UTC)
    return value


@dataclasses.dataclass(frozen=True)
class Job:
    """One row of the store."""

    id: str
    kind: str
    spec: dict[str, Any]
    status: str
    idempotency_key: str | None
    created_at: _dt.datetime
    started_at: _dt.datetime | None
    finished_at: _dt.datetime | None
    heartbeat_at: _dt.datetime | None
    worker: str | None
    attempts: int
    max_attempts: int
    cancel_requested: bool
    error: str | None
    run_folder: str | None
    metrics: dict[str, Any] | None

    @classmethod
    def from_row(cls, row: Any) -> Job:
        m = row._mapping
        return cls(
            id=m["id"], kind=m["kind"], spec=json.loads(m["spec"]), status=m["status"],
            idempotency_key=m["idempotency_key"], created_at=_aware(m["created_at"]),
            started_at=_aware(m["started_at"]), finished_at=_aware(m["finished_at"]),
            heartbeat_at=_aware(m["heartbeat_at"]), worker=m["worker"],
            attempts=m["attempts"], max_attempts=m["max_attempts"],
            cancel_requested=bool(m["cancel_requested"]), error=m["error"],
            run_folder=m["run_folder"],
            metrics=None if m["metrics"] is None else json.loads(m["metrics"]),
        )  # fmt: skip

    @property
    def finished(self) -> bool:
        return self.status in FINAL_STATES

    def to_dict(self) -> dict[str, Any]:
        # Shallow on purpose (asdict deep-copies the spec; this is the status hot path): the
        # dicts are parsed from the row for this Job alone.
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for k in ("created_at", "started_at", "finished_at", "heartbeat_at"):
            out[k] = None if out[k] is None else out[k].isoformat()
        return out


class JobStore:
    """Jobs and their events in one database.

    Args:
        url: A SQLAlchemy URL: ``sqlite:///path.db`` (WAL mode, the default) or
            ``postgresql+psycopg://user:pass@host/db``.
    """

    def __init__(self, url: str | None = None) -> None:
        self.url = url or default_db_url()
        try:
            parsed = sa.engine.make_url(self.url)
        except sa.exc.ArgumentError:
            raise ConfigError(
                f"--db {self.url!r} is not a database URL; use sqlite:///jobs.db or "
                "postgresql+psycopg://user:password@host/db."
            ) from None
        if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")  # psycopg 3, not psycopg2
        kwargs: dict[str, Any] = {"pool_pre_ping": True}
        self.sqlite = parsed.get_backend_name() == "sqlite"
        if self.sqlite:
            db = parsed.database
            if db and db != ":memory:":
                from pathlib import Path

                Path(db).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        self.engine = sa.create_engine(parsed, **kwargs)
        if self.sqlite:
            sa_event.listen(self.engine, "connect", _sqlite_pragmas)
        _meta.create_all(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # -- jobs ------------------------------------------------------------------------------
    def submit(
        self, spec: dict[str, Any], idempotency_key: str | None = None, max_attempts: int = 3
    ) -> tuple[Job, bool]:
        """Queues a job. Returns (job, created): with an ``idempotency_key`` already used,
        the existing job and ``False`` (a retried request never queues twice)."""
        if idempotency_key is not None:
            found = self.by_idempotency_key(idempotency_key)
            if found is not None:
                return found, False
        job_id = str(uuid.uuid4())
        row = {
            "id": job_id, "kind": str(spec["kind"]), "spec": json.dumps(spec),
            "status": "queued", "idempotency_key": idempotency_key, "created_at": _now(),
            "attempts": 0, "max_attempts": max_attempts, "cancel_requested": False,
        }  # fmt: skip
        try:
            with self.engine.begin() as c:
                c.execute(jobs_table.insert().values(**row))
        except IntegrityError:  # a concurrent request with the same key won
            found = self.by_idempotency_key(idempotency_key or "")
            if found is None:
                raise
            return found, False
        return self.get(job_id), True

    def by_idempotency_key(self, key: str) -> Job | None:
        with self.engine.connect() as c:
            row = c.execute(
                jobs_table.select().where(jobs_table.c.idempotency_key == key)
            ).first()
        return None if row is None else Job.from_row(row)

    def get(self, job_id: str) -> Job | None:
        with self.engine.connect() as c:
            row = c.execute(jobs_table.select().where(jobs_table.c.id == job_id)).first()
        return None if row is None else Job.from_row(row)

    def list(
        self,
        status: str | None = None,
        kind: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[Job], int]:
        """Newest first; returns (jobs, total matching)."""
        q = jobs_table.select()
        count = sa.select(sa.func.count()).select_from(jobs_table)
        for col, value in (("status", status), ("kind", kind)):
            if value is not None:
                q = q.where(jobs_table.c[col] == value)
                count = count.where(jobs_table.c[col] == value)
        q = q.order_by(jobs_table.c.created_at.desc(), jobs_table.c.id).limit(limit).offset(offset)
        with self.engine.connect() as c:
            rows = c.execute(q).fetchall()
            total = int(c.execute(count).scalar_one())
        return [Job.from_row(r) for r in rows], total

    def claim(self, worker: str, kinds: Iterable[str] | None = None) -> Job | None:
        """Takes the oldest queued job for ``worker`` (atomically), or ``None``."""
        for _ in range(5):  # another worker may take the candidate first: try the next
            q = sa.select(jobs_table.c.id).where(jobs_table.c.status == "queued")
            if kinds is not None:
                q = q.where(jobs_table.c.kind.in_(list(kinds)))
            q = q.order_by(jobs_table.c.created_at, jobs_table.c.id).limit(1)
            with self.engine.begin() as c:
                job_id = c.execute(q).scalar()
                if job_id is None:
                    return None
                now = _now()
                got = c.execute(
                    jobs_table.update()
                    .where(jobs_table.c.id == job_id, jobs_table.c.status == "queued")
                    .values(status="running", worker=worker, started_at=now, heartbeat_at=now,
                            attempts=jobs_table.c.attempts + 1)  # fmt: skip
                )
                if got.rowcount == 1:
                    break
        else:
            return None
        return self.get(job_id)

    def heartbeat(self, job_id: str, worker: str) -> bool:
        """Marks the job alive. ``False`` when it is no longer this worker's running job
        (re-queued after a presumed crash, or cancelled): the worker should stop."""
        with self.engine.begin() as c:
            got = c.execute(
                jobs_table.update()
                .where(jobs_table.c.id == job_id, jobs_table.c.worker == worker,
                       jobs_table.c.status == "running")  # fmt: skip
                .values(heartbeat_at=_now())
            )
        return got.rowcount == 1

    def finish(
        self,
        job_id: str,
        worker: str,
        status: str,
        error: str | None = None,
        run_folder: str | None = None,
        metrics: dict[str, Any] | None = None,
    ) -> bool:
        """Ends a running job of ``worker``. ``False`` if it was not (no double finish)."""
        if status not in FINAL_STATES:
            raise ValueError(f"finish status must be one of {FINAL_STATES}, got {status!r}")
        stored = None if metrics is None else json.dumps(metrics, default=str)
        with self.engine.begin() as c:
            got = c.execute(
                jobs_table.update()
                .where(jobs_table.c.id == job_id, jobs_table.c.worker == worker,
                       jobs_table.c.status == "running")  # fmt: skip
                .values(status=status, error=error, run_folder=run_folder, finished_at=_now(),
                        metrics=stored)  # fmt: skip
            )
        return got.rowcount == 1

    def cancel(self, job_id: str) -> Job | None:
        """A queued job is cancelled at once; a running one is flagged, and its executor
        stops it. A finished job is left as it is."""
        with self.engine.begin() as c:
            c.execute(
                jobs_table.update()
                .where(jobs_table.c.id == job_id, jobs_table.c.status == "queued")
                .values(status="cancelled", finished_at=_now(), cancel_requested=True,
                        error="cancelled before it started")  # fmt: skip
            )
            c.execute(
                jobs_table.update()
                .where(jobs_table.c.id == job_id, jobs_table.c.status == "running")
                .values(cancel_requested=True)
            )
        return self.get(job_id)

    def recover(self, stale_after_s: float) -> list[tuple[str, str]]:
        """Running jobs whose worker is gone (no heartbeat for ``stale_after_s`` seconds):
        each is released (:meth:`release`). Returns (job id, new status)."""
        cutoff = _now() - _dt.timedelta(seconds=stale_after_s)
        changed = []
        running, _ = self.list(status="running", limit=100_000)
        for job in running:
            if job.heartbeat_at is None or job.heartbeat_at < cutoff:
                reason = f"no heartbeat from its worker ({job.worker}) for {stale_after_s:g} s"
                new = self.release(job.id, job.worker or "", reason)
                if new is not None:
                    changed.append((job.id, new))
        return changed

    def release(self, job_id: str, worker: str, reason: str) -> str | None:
        """A running job whose worker stopped without finishing: re-queued while attempts
        remain, else failed with ``reason``; cancelled if a cancel was requested. Returns the
        new state, or ``None`` when the job was not ``worker``'s running job any more."""
        job = self.get(job_id)
        if job is None or job.status != "running" or (job.worker or "") != worker:
            return None
        if job.cancel_requested:
            new, err = "cancelled", f"cancelled; {reason}"
        elif job.attempts >= job.max_attempts:
            new, err = "failed", f"{reason}; {job.attempts} of {job.max_attempts} attempts used"
        else:
            new, err = "queued", None
        values: dict[str, Any] = {"status": new, "error": err, "worker": None}
        if new != "queued":
            values["finished_at"] = _now()
        with self.engine.begin() as c:
            got = c.execute(
                jobs_table.update()
                .where(jobs_table.c.id == job_id, jobs_table.c.status == "running",
                       jobs_table.c.worker == job.worker)  # fmt: skip
                .values(**values)
            )
        return new if got.rowcount == 1 else None

    # -- events ----------------------------------------------------------------------------
    def add_events(self, job_id: str, attempt: int, events: list[dict[str, Any]]) -> None:
        if not events:
            return
        rows = [
            {"job_id": job_id, "attempt": attempt, "at": e.get("at") or _now(),
             "phase": e["phase"], "done": float(e["done"]),
             "total": None if e.get("total") is None else float(e["total"]),
             "message": e.get("message", ""), "metrics": json.dumps(e.get("metrics") or {})}
            for e in events
        ]  # fmt: skip
        with self.engine.begin() as c:
            c.execute(events_table.insert(), rows)

    def events(self, job_id: str, after: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        """Events with id > ``after``, oldest first; each with its ``id`` (an SSE cursor)."""
        q = (
            events_table.select()
            .where(events_table.c.job_id == job_id, events_table.c.id > after)
            .order_by(events_table.c.id)
            .limit(limit)
        )
        with self.engine.connect() as c:
            rows = c.execute(q).fetchall()
        return [_event(r) for r in rows]

    def latest_events(self, job_id: str) -> list[dict[str, Any]]:
        """The latest event of each phase (one query)."""
        with self.engine.connect() as c:
            return [_event(r) for r in c.execute(_latest_events_query(job_id)).fetchall()]

    def status(self, job_id: str) -> tuple[Job, list[dict[str, Any]]] | None:
        """A job and its latest event per phase, on one connection (the status endpoint's
        hot path: clients poll it)."""
        with self.engine.connect() as c:
            row = c.execute(jobs_table.select().where(jobs_table.c.id == job_id)).first()
            if row is None:
                return None
            events = c.execute(_latest_events_query(job_id)).fetchall()
        return Job.from_row(row), [_event(r) for r in events]

    def ping(self) -> bool:
        with self.engine.connect() as c:
            c.execute(sa.text("SELECT 1"))
        return True


def _latest_events_query(job_id: str) -> sa.Select:
    last = (
        sa.select(sa.func.max(events_table.c.id))
        .where(events_table.c.job_id == job_id)
        .group_by(events_table.c.phase)
    )
    return events_table.select().where(events_table.c.id.in_(last)).order_by(events_table.c.id)


def _event(row: Any) -> dict[str, Any]:
    m = row._mapping
    return {
        "id": m["id"], "attempt": m["attempt"], "at": _aware(m["at"]).isoformat(),
        "phase": m["phase"], "done": m["done"], "total": m["total"],
        "message": m["message"], "metrics": json.loads(m["metrics"]),
    }  # fmt: skip


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()
