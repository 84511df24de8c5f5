"""Scheduled jobs (APScheduler 3), run by exactly one scheduler at a time, each slot at most once.

Two guards, either of which is enough on its own:

1. **Leader election** — a lease row (``scheduler_lease``) taken with a conditional ``UPDATE … WHERE holder =
   me OR expires_at < now`` and renewed by a heartbeat every third of its life. It works the same on SQLite
   and PostgreSQL, in a ``talents scheduler`` process or inside web workers (``TALENTS_SCHEDULER_IN_APP``):
   only the holder runs APScheduler; the others wait and take over once the lease expires (holder crashed).
2. **One row per (job, slot)** — before running, a job inserts ``job_run(job, slot)`` where ``slot`` is its
   scheduled time truncated to its period; the unique constraint makes a second scheduler's insert fail, so
   a slot runs at most once even when two schedulers overlap (a paused leader waking up after losing its
   lease, clocks that disagree, a second process started by mistake without election).

A slot whose runner died mid-job stays ``running`` and is not retried (at-most-once per slot); the next
slot runs normally. Every job opens its own sessions.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import sqlalchemy as sa
import typer
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine

from notifications import outbox, reminders
from notifications.channels import build_channels
from notifications.dispatcher import dispatch_once
from notifications.models import JobRun, SchedulerLease
from talents.assignments.models import COMMITTED_STATES
from talents.auth.retention import purge
from talents.kernel.db import as_utc, get_engine, migrate, session_scope, utcnow
from talents.kernel.logs import configure_logging, get_logger
from talents.kernel.settings import get_settings

__all__ = [
    "Job",
    "LeaderLease",
    "SchedulerRunner",
    "default_jobs",
    "on_startup",
    "register",
    "run_job",
    "slot_of",
    "start_in_app",
    "stop_in_app",
]

log = get_logger("talents.scheduler")
# The tables live with the outbox (migration 0003, ``notifications.models``); typed, so SQLite stores
# datetimes the way the rest of the app reads them.
_RUN = JobRun.__table__  # type: ignore[attr-defined]
_LEASE = SchedulerLease.__table__  # type: ignore[attr-defined]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Job:
    """A job: ``func(engine, now)``; every ``period_s`` seconds, or daily at ``hour`` UTC when ``daily``."""

    name: str
    func: Callable[[Engine, datetime], Any]
    period_s: int = 60
    daily_hour: int | None = None

    @property
    def slot_seconds(self) -> int:
        return 86400 if self.daily_hour is not None else self.period_s


def slot_of(job: Job, now: datetime) -> datetime:
    """The slot of a run at ``now``: the scheduled time truncated to the job's period (UTC)."""
    now = as_utc(now)
    offset = (job.daily_hour or 0) * 3600 if job.daily_hour is not None else 0
    seconds = int((now - _EPOCH).total_seconds()) - offset
    return _EPOCH + timedelta(seconds=seconds - seconds % job.slot_seconds + offset)


def run_job(engine: Engine, job: Job, now: datetime, runner: str) -> str:
    """Run ``job`` for the slot of ``now`` unless that slot already ran: ``ran``, ``skipped`` or ``failed``."""
    slot = slot_of(job, now)
    try:
        with engine.begin() as conn:
            conn.execute(
                _RUN.insert().values(
                    job=job.name,
                    slot=slot,
                    runner=runner[:120],
                    status="running",
                    started_at=utcnow(),
                    result="",
                )
            )
    except sa.exc.IntegrityError:
        return "skipped"
    status, result = "done", ""
    try:
        result = repr(job.func(engine, now))
    except Exception as exc:  # noqa: BLE001 - a failing job is recorded, the scheduler goes on
        status, result = "failed", f"{type(exc).__name__}: {exc}"
        log.exception("job_failed", job=job.name, slot=slot.isoformat())
    with engine.begin() as conn:
        conn.execute(
            _RUN.update()
            .where(_RUN.c.job == job.name, _RUN.c.slot == slot)
            .values(status=status, finished_at=utcnow(), result=result[:2000])
        )
    if status == "done" and job.slot_seconds >= 60:
        log.info("job_done", job=job.name, slot=slot.isoformat(), result=result[:200])
    return "ran" if status == "done" else "failed"


# --------------------------------------------------------------------------- leader election
class LeaderLease:
    """A named lease in ``scheduler_lease``: at most one holder whose lease has not expired."""

    def __init__(self, engine: Engine, holder: str, ttl_s: float, name: str = "scheduler") -> None:
        self.engine, self.holder, self.ttl, self.name = engine, holder, ttl_s, name

    def acquire(self, now: datetime | None = None) -> bool:
        """Take or renew the lease; False while someone else holds a live one."""
        now = now or utcnow()
        expires = now + timedelta(seconds=self.ttl)
        with self.engine.begin() as conn:
            taken = conn.execute(
                _LEASE.update()
                .where(
                    _LEASE.c.name == self.name,
                    sa.or_(_LEASE.c.holder == self.holder, _LEASE.c.expires_at < now),
                )
                .values(
                    expires_at=expires,
                    heartbeat_at=now,
                    term=sa.case((_LEASE.c.holder == self.holder, _LEASE.c.term), else_=_LEASE.c.term + 1),
                    holder=self.holder,
                )
            ).rowcount
            if taken == 1:
                return True
            if conn.execute(sa.select(_LEASE.c.name).where(_LEASE.c.name == self.name)).first() is not None:
                return False
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    _LEASE.insert().values(
                        name=self.name, holder=self.holder, expires_at=expires, heartbeat_at=now, term=1
                    )
                )
            return True
        except sa.exc.IntegrityError:
            return False

    def release(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                _LEASE.update()
                .where(_LEASE.c.name == self.name, _LEASE.c.holder == self.holder)
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )

    def holder_now(self) -> str | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(_LEASE.c.holder, _LEASE.c.expires_at).where(_LEASE.c.name == self.name)
            ).first()
        if row is None:
            return None
        return row.holder if as_utc(row.expires_at) > utcnow() else None


# --------------------------------------------------------------------------- the jobs
def _allocation_jobs() -> ModuleType:
    # The allocation engine (scipy, scikit-learn) loads when a job first needs it: scheduler processes start fast.
    from talents.workflow import allocation_job

    return allocation_job


def _dispatch_job() -> Callable[[Engine, datetime], Any]:
    channels = build_channels()  # built once: HTTP clients are reused, SMTP connects per round

    def dispatch(engine: Engine, _now: datetime) -> dict[str, int]:
        # Real time, not the slot's: leases and backoff are measured against the wall clock.
        return dispatch_once(engine, None, channels).to_dict()

    return dispatch


def _reminders(engine: Engine, now: datetime) -> dict[str, int]:
    return {
        "proposals": reminders.remind_pending_proposals(engine, now),
        "approvals": reminders.remind_pending_approvals(engine, now),
        "stale_profiles": reminders.remind_stale_profiles(engine, now),
    }


def _availability(engine: Engine, now: datetime) -> dict[str, Any]:
    return {"ending_soon": reminders.remind_availability_ending(engine, now)}


def _expiry(engine: Engine, now: datetime) -> Any:
    """Proposals and approvals past their deadline expire; approved assignments that have started activate."""
    return _allocation_jobs().expire_and_activate(engine, now)


def _triggers(engine: Engine, now: datetime) -> Any:
    """A new priority-1 need gets its allocation run at the next tick, not at the next periodic run."""
    return _allocation_jobs().process_allocation_triggers(engine, now)


def _digests(engine: Engine, now: datetime) -> dict[str, int]:
    return {
        "reviewers": reminders.reviewer_digest(engine, now, COMMITTED_STATES),
        "users": reminders.daily_user_digests(engine, now),
    }


def _allocation(engine: Engine, now: datetime) -> Any:
    return _allocation_jobs().run_scheduled_allocation(engine, now)


def _retention(engine: Engine, now: datetime) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with session_scope(engine) as session:
        out["auth"] = purge(session, now)
    with engine.begin() as conn:  # our own bookkeeping: job runs are kept 3 days (dispatch runs every 5 s)
        out["job_runs"] = conn.execute(_RUN.delete().where(_RUN.c.started_at < now - timedelta(days=3))).rowcount
    return out


def default_jobs() -> list[Job]:
    s = get_settings().scheduler
    return [
        Job("dispatch", _dispatch_job(), period_s=s.scheduler_dispatch_interval_s),
        Job("reminders", _reminders, period_s=s.scheduler_reminders_interval_s),
        Job("availability", _availability, daily_hour=s.scheduler_digest_hour_utc),
        Job("expiry", _expiry, period_s=s.scheduler_expiry_interval_s),
        Job("allocation_triggers", _triggers, period_s=s.scheduler_triggers_interval_s),
        Job("digests", _digests, daily_hour=s.scheduler_digest_hour_utc),
        Job("allocation", _allocation, period_s=s.scheduler_allocation_interval_s),
        Job("retention", _retention, daily_hour=(s.scheduler_digest_hour_utc + 21) % 24),
    ]


# --------------------------------------------------------------------------- the runner
@dataclass
class SchedulerRunner:
    """Elects itself (or waits), then runs APScheduler with the jobs until :meth:`stop`."""

    engine: Engine
    jobs: list[Job]
    lease_s: float = 30.0
    holder: str = field(default_factory=lambda: f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:6]}")
    elect: bool = True

    def __post_init__(self) -> None:
        self.lease = LeaderLease(self.engine, self.holder, self.lease_s)
        self._stop = threading.Event()
        self._leading = False
        self._scheduler: Any = None
        self._thread: threading.Thread | None = None

    @property
    def leading(self) -> bool:
        return self._leading

    def _start_jobs(self) -> None:
        # A scheduler of our own with an in-memory store: job stores are never shared between schedulers.
        sched = BackgroundScheduler(
            timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30}
        )
        now = utcnow()
        for job in self.jobs:
            if job.daily_hour is not None:
                trigger: Any = CronTrigger(hour=job.daily_hour, minute=0, timezone=UTC)
            else:
                # Aligned on multiples of the period, so a run's time truncates to its own slot.
                first = slot_of(job, now) + timedelta(seconds=job.period_s)
                trigger = IntervalTrigger(seconds=job.period_s, start_date=first, timezone=UTC)
            sched.add_job(self._run, trigger, args=[job], id=job.name, name=job.name)
        sched.start()
        self._scheduler = sched
        log.info("scheduler_leading", holder=self.holder, jobs=[j.name for j in self.jobs])

    def _stop_jobs(self, wait: bool = False) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=wait)
            self._scheduler = None

    def _run(self, job: Job) -> None:
        if not self._leading or self._stop.is_set():
            return
        run_job(self.engine, job, utcnow(), self.holder)

    def _tick(self) -> None:
        """One heartbeat: keep or take the lease, start or stop the jobs accordingly."""
        try:
            holds = self.lease.acquire() if self.elect else True
        except sa.exc.OperationalError as exc:  # database busy or down: cannot prove leadership
            log.warning("scheduler_lease_error", error=str(exc)[:200])
            holds = False
        if holds and not self._leading:
            self._leading = True
            self._start_jobs()
        elif not holds and self._leading:
            self._leading = False
            self._stop_jobs()
            log.warning("scheduler_lost_lease", holder=self.holder)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._tick()
            self._stop.wait(self.lease_s / 3)

    def start(self) -> SchedulerRunner:
        self._thread = threading.Thread(target=self._loop, name="talents-scheduler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the heartbeat first (else a tick under way could start the jobs again), then the jobs,
        waiting for one still running: once this returns, nothing of the scheduler runs."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._leading = False
        self._stop_jobs(wait=True)
        if self.elect:
            with contextlib.suppress(sa.exc.SQLAlchemyError):  # it expires by itself anyway
                self.lease.release()

    def run_forever(self, duration_s: float | None = None) -> None:
        """Block (the ``talents scheduler`` process) until SIGTERM/SIGINT or ``duration_s``."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self._stop.set())
        self.start()
        deadline = time.monotonic() + duration_s if duration_s else None
        try:
            while not self._stop.is_set():
                if deadline is not None and time.monotonic() >= deadline:
                    break
                self._stop.wait(0.2)
        finally:
            self.stop()


# --------------------------------------------------------------------------- app and CLI hooks
_in_app: SchedulerRunner | None = None


def start_in_app() -> None:
    """Start a scheduler candidate in this web worker when ``TALENTS_SCHEDULER_IN_APP`` is on."""
    global _in_app
    settings = get_settings().scheduler
    if not settings.scheduler_in_app or _in_app is not None:
        return
    outbox.install()
    _in_app = SchedulerRunner(get_engine(), default_jobs(), lease_s=settings.scheduler_lease_s).start()


def stop_in_app() -> None:
    global _in_app
    if _in_app is not None:
        _in_app.stop()
        _in_app = None


# Wired by talents.app (started with the app, stopped with it) and talents.cli (``talents scheduler``).
on_startup: list[Any] = [start_in_app]
on_shutdown: list[Any] = [stop_in_app]


def register(app: Any) -> None:
    """``talents scheduler``: the scheduler as its own process."""

    @app.command("scheduler")
    def scheduler_command(
        once: str = typer.Option("", help="Run this one job now (for its current slot) and exit"),
        list_jobs: bool = typer.Option(False, "--list", help="List the jobs and exit"),
    ) -> None:
        """Run the scheduled jobs (dispatch, reminders, digests, allocation, retention); one process at a time
        is elected through the database, the others wait as stand-bys."""
        main(once=once or None, list_jobs=list_jobs)


def main(once: str | None = None, list_jobs: bool = False) -> None:
    settings = get_settings()
    configure_logging(settings.app.log_level, settings.app.log_json)
    migrate()
    outbox.install()
    jobs = default_jobs()
    if list_jobs:
        for job in jobs:
            when = f"daily at {job.daily_hour:02d}:00 UTC" if job.daily_hour is not None else f"every {job.period_s}s"
            print(f"{job.name:20} {when}")  # noqa: T201
        return
    if once:
        chosen = next((j for j in jobs if j.name == once), None)
        if chosen is None:
            raise SystemExit(f"unknown job {once!r}; see --list")
        print(run_job(get_engine(), chosen, utcnow(), f"cli:{os.getpid()}"))  # noqa: T201
        return
    SchedulerRunner(get_engine(), jobs, lease_s=get_settings().scheduler.scheduler_lease_s).run_forever()


if __name__ == "__main__":  # python -m talents.scheduler [--list] [--once JOB]
    _cli = typer.Typer(add_completion=False)
    register(_cli)
    _cli()
