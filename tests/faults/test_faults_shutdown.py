"""Graceful shutdown of ``talents serve`` on PostgreSQL: SIGTERM while a slow request is in progress.

The slow request is a real one: an allocation run (``POST /api/v1/allocations/runs``) held up on a lock that
the test holds on the table of runs, as another run's transaction would. On SIGTERM the server stops accepting
connections, lets the run finish (200, its proposals written), stops the in-app scheduler and gives its lease
back, removes its workers' metrics, and exits 0 — well within the grace period. With one worker, or with several
under uvicorn's supervisor (whose copy of the listening socket used to go on accepting connections that nobody
read).
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from faults_support import count, seed_staffing, table_locked_against_writes, wait_until, waiting_on
from served import Served

from talents.auth.testing import auth_headers, issue_token
from talents.scheduler import LeaderLease

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.timeout(240)]

GRACE_S = 60


def _lease(engine: sa.Engine) -> tuple[str, bool] | None:
    """The scheduler lease's holder and whether it is still live, as the table says."""
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT holder, expires_at > now() FROM scheduler_lease "
                                   "WHERE name = 'scheduler'")).first()
    return None if row is None else (str(row[0]), bool(row[1]))


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_lets_the_request_in_progress_finish_releases_the_lease_and_exits_0(
    engine: sa.Engine, tmp_path: Path, workers: int
) -> None:
    seed_staffing(engine, agents=20, needs=5, busy=0)
    headers = auth_headers(issue_token(engine, "revue@numerique.gouv.fr", "admin", "reviewer"))
    temporary = tmp_path / "tmp"  # where the server makes its temporary files (its metrics' directory)
    temporary.mkdir()
    server = Served(engine.url.render_as_string(hide_password=False), tmp_path, workers=workers, env={
        "TMPDIR": str(temporary),
        "TALENTS_SCHEDULER_IN_APP": "true",
        "TALENTS_SCHEDULER_LEASE_S": "600",  # a lease that ends by itself only long after the test
        "TALENTS_SHUTDOWN_GRACE_S": str(GRACE_S),
        "TALENTS_DATABASE_LOCK_TIMEOUT_S": "120",
    })
    answer: dict[str, Any] = {}

    def run() -> None:
        try:
            answer["response"] = httpx.post(server.base + "/api/v1/allocations/runs", json={"dry_run": False},
                                            headers=headers, timeout=120)
        except httpx.HTTPError as exc:
            answer["error"] = exc

    try:
        server.wait_ready()
        holder = wait_until(lambda: (lease := _lease(engine)) and lease[1] and lease[0], 60,
                            "the in-app scheduler to take the lease")
        with table_locked_against_writes(engine, "allocation_run"):
            caller = threading.Thread(target=run)
            caller.start()
            wait_until(lambda: waiting_on(engine, "allocation_run"), 120, "the run to be in progress")
            term_sent = time.monotonic()
            server.proc.send_signal(signal.SIGTERM)
            # New connections are refused while the run is still held up.
            wait_until(lambda: _refused(server.base), 30, "new connections to be refused")
            assert caller.is_alive() and server.proc.poll() is None, "the run did not wait for its lock"
        caller.join(GRACE_S)
        exit_code = server.proc.wait(GRACE_S)
        took = time.monotonic() - term_sent
    finally:
        server.stop(signal.SIGKILL)

    assert "error" not in answer, f"{answer}\n{server.log()}"
    response = answer["response"]
    assert response.status_code == 200, response.text
    assert count(engine, "SELECT count(*) FROM allocation_run WHERE id = :r", r=response.json()["run_id"]) == 1
    assert count(engine, "SELECT count(*) FROM assignment WHERE state = 'proposed'") == len(
        response.json()["proposed"]) > 0
    assert exit_code == 0, server.log()
    assert took < GRACE_S
    assert _lease(engine) == (holder, False), "the lease was not given back"
    assert LeaderLease(engine, "observer", 1).holder_now() is None
    assert list(temporary.iterdir()) == [], "the workers' metrics are left behind"


def _refused(base: str) -> bool:
    try:
        httpx.get(base + "/healthz", timeout=5)
    except httpx.ConnectError:
        return True
    except httpx.HTTPError:
        return False
    return False
