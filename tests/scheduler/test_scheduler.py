"""The scheduler: slots, one run per (job, slot), leader election — and two real processes at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from notifications.models import JobRun
from talents.scheduler import Job, LeaderLease, run_job, slot_of

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
T = datetime(2026, 12, 1, 8, 17, 42, 500000, tzinfo=UTC)


def job_runs(engine, job="tick"):
    t = JobRun.__table__  # typed: SQLite hands back datetimes, not strings
    with engine.connect() as conn:
        return conn.execute(sa.select(t.c.slot, t.c.runner, t.c.status, t.c.result).where(t.c.job == job)
                            .order_by(t.c.slot)).all()


@pytest.mark.unit
def test_a_slot_is_the_scheduled_time_truncated_to_the_period():
    assert slot_of(Job("a", print, period_s=5), T) == datetime(2026, 12, 1, 8, 17, 40, tzinfo=UTC)
    assert slot_of(Job("b", print, period_s=3600), T) == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    daily = Job("c", print, daily_hour=6)
    assert slot_of(daily, T) == datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
    assert slot_of(daily, T.replace(hour=5)) == datetime(2026, 11, 30, 6, 0, tzinfo=UTC)


@pytest.mark.integration
def test_a_slot_runs_once_and_a_failure_is_recorded(engine):
    calls: list[datetime] = []
    job = Job("once", lambda _e, now: calls.append(now) or len(calls), period_s=60)
    assert run_job(engine, job, T, "a") == "ran"
    assert run_job(engine, job, T + timedelta(seconds=10), "b") == "skipped"  # same minute
    assert run_job(engine, job, T + timedelta(seconds=60), "b") == "ran"
    assert len(calls) == 2
    assert [(r.runner, r.status) for r in job_runs(engine, "once")] == [("a", "done"), ("b", "done")]

    def boom(_e, _now):
        raise ValueError("nope")

    assert run_job(engine, Job("boom", boom, period_s=60), T, "a") == "failed"
    [row] = job_runs(engine, "boom")
    assert row.status == "failed" and "ValueError: nope" in row.result


@pytest.mark.integration
def test_the_lease_has_one_holder_until_it_expires_or_is_released(engine):
    a, b = LeaderLease(engine, "a", ttl_s=30), LeaderLease(engine, "b", ttl_s=30)
    assert a.acquire(T) and not b.acquire(T + timedelta(seconds=1))
    assert a.acquire(T + timedelta(seconds=20))  # renewed: lives until T+50
    assert not b.acquire(T + timedelta(seconds=45))
    assert b.acquire(T + timedelta(seconds=51)) and not a.acquire(T + timedelta(seconds=52))
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT holder, term FROM scheduler_lease")).one() == ("b", 2)
    b.release()
    assert a.acquire()


@pytest.mark.integration
def test_every_job_is_wired_and_runs(engine):
    from talents import scheduler

    jobs = {j.name: j for j in scheduler.default_jobs()}
    assert set(jobs) == {"dispatch", "reminders", "availability", "expiry", "allocation_triggers", "digests",
                         "allocation", "retention"}
    assert run_job(engine, jobs["retention"], T, "t") == "ran"
    assert run_job(engine, jobs["digests"], T, "t") == "ran"


def _start(engine, tmp_path, name, duration, elect, lease, start_file=None):
    url = engine.url.render_as_string(hide_password=False)
    env = {**os.environ, "TALENTS_DATABASE_URL": url, "PYTHONPATH": str(ROOT), "TALENTS_LOG_LEVEL": "WARNING"}
    stats = tmp_path / f"{name}.json"
    args = [sys.executable, str(HERE / "sched_runner.py"), url, str(tmp_path / "side"),
            str(duration), "1" if elect else "0", str(lease), str(stats)]
    proc = subprocess.Popen(args + ([str(start_file)] if start_file else []), env=env, cwd=ROOT)
    return proc, stats


def _start_together(procs, start_file, timeout=60):
    """Let the processes schedule only once all are up: on a loaded machine one may take seconds to import."""
    deadline = time.monotonic() + timeout
    while len(list(start_file.parent.glob(f"{start_file.name}.*"))) < len(procs):
        assert time.monotonic() < deadline, "the scheduler processes never got ready"
        assert all(p.poll() is None for p, _ in procs), "a scheduler process died before starting"
        time.sleep(0.05)
    start_file.touch()


def _side_effects(tmp_path):
    lines = (tmp_path / "side").read_text().split()
    return Counter(lines[0::2]), set(lines[1::2])


@pytest.mark.slow
@pytest.mark.integration
def test_two_scheduler_processes_elect_one_and_each_slot_runs_exactly_once_even_across_a_crash(engine, tmp_path):
    procs = [_start(engine, tmp_path, f"p{i}", duration=6, elect=True, lease=1.2) for i in range(2)]
    lease = LeaderLease(engine, "observer", ttl_s=1)
    try:
        deadline = time.monotonic() + 15
        while (holder := lease.holder_now()) is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert holder is not None, "nobody took the lead"
        time.sleep(2)
        leader_pid = int(holder.split(":")[1])
        leader = next(p for p, _ in procs if p.pid == leader_pid)
        leader.send_signal(signal.SIGKILL)  # no release: the follower must wait for the lease to expire
        for p, _ in procs:
            p.wait(timeout=30)
    finally:
        for p, _ in procs:
            if p.poll() is None:
                p.kill()
    runs = job_runs(engine)
    slots = Counter(r.slot for r in runs)
    assert runs and set(slots.values()) == {1}
    effects, pids = _side_effects(tmp_path)
    assert set(effects.values()) == {1}  # the job's own effect: once per slot, never twice
    assert len(effects) >= len([r for r in runs if r.status == "done"]) >= 4
    assert pids == {str(p.pid) for p, _ in procs}  # the follower took over after the crash
    survivor = json.loads(next(s for p, s in procs if p.pid != leader_pid).read_text())
    assert survivor["ran"] >= 1


@pytest.mark.slow
@pytest.mark.integration
def test_without_election_two_schedulers_still_run_each_slot_exactly_once(engine, tmp_path):
    start = tmp_path / "start"
    procs = [_start(engine, tmp_path, f"p{i}", duration=3.5, elect=False, lease=5, start_file=start)
             for i in range(2)]
    _start_together(procs, start)
    for p, _ in procs:
        p.wait(timeout=30)
    runs = job_runs(engine)
    slots = sorted(r.slot for r in runs)
    assert len(slots) >= 3 and len(set(slots)) == len(slots)
    first, last = slots[0], slots[-1]
    span = int((last - first).total_seconds()) + 1
    assert len(slots) == span  # no slot skipped, none doubled
    effects, _ = _side_effects(tmp_path)
    assert set(effects.values()) == {1} and len(effects) == len(slots)
    stats = [json.loads(s.read_text()) for _, s in procs]
    assert sum(s["ran"] for s in stats) == len(slots)
    assert sum(s["skipped"] for s in stats) >= len(slots) - 2  # they really competed for the same slots


@pytest.mark.integration
def test_the_in_app_scheduler_starts_only_when_asked_and_takes_the_lease(engine, monkeypatch):
    from talents import scheduler
    from talents.kernel.settings import reset_settings

    monkeypatch.setenv("TALENTS_SCHEDULER_IN_APP", "false")
    reset_settings()
    scheduler.start_in_app()
    assert scheduler._in_app is None
    monkeypatch.setenv("TALENTS_SCHEDULER_IN_APP", "true")
    monkeypatch.setenv("TALENTS_SCHEDULER_LEASE_S", "3")
    reset_settings()
    try:
        scheduler.start_in_app()
        deadline = time.monotonic() + 5
        while not scheduler._in_app.leading and time.monotonic() < deadline:
            time.sleep(0.05)
        assert scheduler._in_app.leading
        assert LeaderLease(engine, "observer", 1).holder_now() == scheduler._in_app.holder
    finally:
        scheduler.stop_in_app()
        monkeypatch.undo()
        reset_settings()
    assert LeaderLease(engine, "observer", 1).holder_now() is None  # released on stop


@pytest.mark.integration
def test_the_cli_lists_and_runs_one_job(engine):
    from typer import Typer
    from typer.testing import CliRunner

    from talents import scheduler

    app = Typer()
    scheduler.register(app)
    app.command("noop")(lambda: None)  # a second command keeps typer from collapsing the group
    listed = CliRunner().invoke(app, ["scheduler", "--list"])
    assert listed.exit_code == 0 and "dispatch" in listed.output and "daily at" in listed.output
    ran = CliRunner().invoke(app, ["scheduler", "--once", "retention"])
    assert ran.exit_code == 0 and ran.output.strip().splitlines()[-1] in {"ran", "skipped"}


@pytest.mark.integration
def test_the_in_app_scheduler_stops_with_the_app_and_nothing_runs_or_logs_after(engine, monkeypatch):
    import logging
    import threading

    from litestar.testing import TestClient

    from talents import scheduler
    from talents.app import create_app
    from talents.kernel.settings import reset_settings

    monkeypatch.setenv("TALENTS_SCHEDULER_IN_APP", "true")
    monkeypatch.setenv("TALENTS_SCHEDULER_LEASE_S", "1.5")
    monkeypatch.setenv("TALENTS_SCHEDULER_DISPATCH_INTERVAL_S", "1")
    monkeypatch.setenv("TALENTS_SCHEDULER_TRIGGERS_INTERVAL_S", "1")
    reset_settings()
    records: list[tuple[float, str]] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append((time.monotonic(), record.getMessage()))

    keep = Keep()
    try:
        with TestClient(create_app()):
            logging.getLogger().addHandler(keep)  # after the app configured the logs
            deadline = time.monotonic() + 10
            while not job_runs(engine, "dispatch") and time.monotonic() < deadline:
                time.sleep(0.05)
            assert job_runs(engine, "dispatch"), "the in-app scheduler never ran a job"
        stopped = time.monotonic()
        assert scheduler._in_app is None
        assert LeaderLease(engine, "observer", 1).holder_now() is None  # the lease is given back
        runs = len(job_runs(engine, "dispatch")) + len(job_runs(engine, "allocation_triggers"))
        time.sleep(2.5)  # more than two periods of the fastest jobs and of the heartbeat
        assert len(job_runs(engine, "dispatch")) + len(job_runs(engine, "allocation_triggers")) == runs
        alive = [t.name for t in threading.enumerate() if t.name in ("talents-scheduler", "APScheduler")]
        assert alive == []
        assert [m for t, m in records if t > stopped] == []
    finally:
        logging.getLogger().removeHandler(keep)
        scheduler.stop_in_app()
        monkeypatch.undo()
        reset_settings()
