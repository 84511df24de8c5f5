"""A web worker killed (SIGKILL) in the middle of applying an allocation run, on PostgreSQL.

The run is applied in one transaction: killed after writing its proposals but before committing, it leaves
nothing behind — no proposal, no run, no audit line, no notification — the 100 % rule holds, and the same run
done again after a restart writes what the plan said.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from faults_support import (
    backend_alive,
    count,
    holds_write_lock,
    overcommitted,
    seed_staffing,
    table_locked_against_writes,
    wait_until,
    waiting_on,
)
from served import Served

from talents.auth.testing import auth_headers, issue_token

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.timeout(240)]

RUNS = "/api/v1/allocations/runs"


def _seats(result: dict[str, Any]) -> set[tuple[str, int, str]]:
    return {(a["need"], a["role"], a["agent"]) for a in result["proposed"]}


def _what_the_run_leaves(engine: sa.Engine) -> dict[str, int]:
    return {
        "proposals": count(engine, "SELECT count(*) FROM assignment WHERE state = 'proposed'"),
        "runs": count(engine, "SELECT count(*) FROM allocation_run"),
        "audit": count(engine, "SELECT count(*) FROM audit_event WHERE action LIKE 'allocation.%' "
                               "OR action LIKE 'assignment.%'"),
        "notifications": count(engine, "SELECT count(*) FROM notification"),
    }


def test_a_worker_killed_mid_run_leaves_nothing_half_written_and_the_run_can_be_redone(
    engine: sa.Engine, tmp_path: Path
) -> None:
    seed_staffing(engine)
    headers = auth_headers(issue_token(engine, "revue@numerique.gouv.fr", "admin", "reviewer"))
    url = engine.url.render_as_string(hide_password=False)
    before = _what_the_run_leaves(engine)
    assert overcommitted(engine) == []

    # Lock waits longer than the test: the run must still be waiting when it is killed.
    env = {"TALENTS_DATABASE_LOCK_TIMEOUT_S": "120"}
    server = Served(url, tmp_path, env=env)
    try:
        server.wait_ready()
        plan = httpx.post(server.base + RUNS, json={"dry_run": True}, headers=headers, timeout=120)
        assert plan.status_code == 200, plan.text
        planned = _seats(plan.json())
        assert len(planned) >= 20, "the case must give the run many proposals to write"

        answer: dict[str, Any] = {}

        def apply() -> None:
            try:
                answer["status"] = httpx.post(server.base + RUNS, json={"dry_run": False}, headers=headers,
                                              timeout=120).status_code
            except httpx.HTTPError as exc:
                answer["error"] = exc

        # The run's record is written last, after every proposal: holding the table against writes stops the
        # run there, with all its proposals written and nothing committed — then the worker is killed.
        with table_locked_against_writes(engine, "allocation_run"):
            caller = threading.Thread(target=apply)
            caller.start()
            pid = wait_until(lambda: waiting_on(engine, "allocation_run"), 120, "the run to reach its record")
            assert holds_write_lock(engine, pid, "assignment"), "the run had not written its proposals yet"
            server.stop(signal.SIGKILL)
        caller.join(30)
        assert "error" in answer, f"the killed worker answered: {answer}"
        # Its database session ends once PostgreSQL sees the client gone; it never commits.
        wait_until(lambda: not backend_alive(engine, pid), 60, "the killed worker's session to end")
    finally:
        server.stop(signal.SIGKILL)

    assert _what_the_run_leaves(engine) == before
    assert overcommitted(engine) == []

    # After a restart the same run goes through, and writes what the plan said.
    server = Served(url, tmp_path, env=env)
    try:
        server.wait_ready()
        redo = httpx.post(server.base + RUNS, json={"dry_run": False}, headers=headers, timeout=120)
        assert redo.status_code == 200, redo.text
        done = redo.json()
        assert not done["skipped"]
        assert _seats(done) == planned
        again = httpx.post(server.base + RUNS, json={"dry_run": True}, headers=headers, timeout=120).json()
        assert again["proposed"] == [] and again["withdrawn"] == []  # the redone run is stable
    finally:
        server.stop()
    assert count(engine, "SELECT count(*) FROM allocation_run") == 1
    assert count(engine, "SELECT count(*) FROM assignment WHERE state = 'proposed' AND run_id = :r",
                 r=done["run_id"]) == len(planned)
    assert count(engine, "SELECT count(*) FROM assignment WHERE state = 'proposed'") == len(planned)
    assert overcommitted(engine) == []
