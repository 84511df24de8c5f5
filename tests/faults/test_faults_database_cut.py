"""The database connections cut under a served app, on PostgreSQL.

``pg_terminate_backend`` on every session during traffic: the service answers again without a restart, and
only requests caught in flight fail — with a 503 naming the lost connection, never a 500. The database made
unreachable (a TCP proxy in front of it, stopped, or taking connections and never answering): ``/readyz`` says
not ready and requests get 503 — none hangs; once it is back, ready again, still without a restart.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from faults_support import TcpProxy, backend_alive, seed_staffing, wait_until
from served import Served
from sqlmodel import Session

from talents.auth.testing import auth_headers, issue_token
from talents.kernel.db import finish

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.timeout(240)]


def _terminate_every_session(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar_one())


class Traffic:
    """Threads calling reads and writes of the API in a loop; every answer recorded with its time."""

    def __init__(self, base: str, headers: dict[str, str], needs: list[int], agents: list[int],
                 threads: int = 6) -> None:
        self.base, self.headers, self.needs, self.agents = base, headers, needs, agents
        self.answers: list[tuple[float, str, int, str]] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, args=(i,), daemon=True) for i in range(threads)]

    def _call(self, client: httpx.Client, i: int, n: int) -> tuple[str, int, str]:
        kind = (i + n) % 3
        if kind == 0:
            r = client.get(f"{self.base}/api/v1/needs?limit=20")
        elif kind == 1:
            r = client.get(f"{self.base}/api/v1/agents/{self.agents[n % len(self.agents)]}")
        else:  # a write: a proposal by hand (201), or a conflict once the seats are taken (409)
            body = {"need_id": self.needs[n % len(self.needs)], "role": 0,
                    "agent_id": self.agents[(i * 7 + n) % len(self.agents)], "reason": "test"}
            r = client.post(f"{self.base}/api/v1/assignments", json=body)
        detail = r.json().get("detail", "") if r.status_code >= 400 else ""
        return r.request.method, r.status_code, str(detail)

    def _loop(self, i: int) -> None:
        with httpx.Client(headers=self.headers, timeout=60) as client:
            n = 0
            while not self._stop.is_set():
                try:
                    method, status, detail = self._call(client, i, n)
                except httpx.HTTPError as exc:
                    method, status, detail = "?", -1, repr(exc)
                self.answers.append((time.monotonic(), method, status, detail))
                n += 1

    def __enter__(self) -> Traffic:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(90)

    def since(self, t: float) -> list[tuple[float, str, int, str]]:
        return [a for a in self.answers if a[0] >= t]


def test_a_unit_of_work_rolled_back_on_a_cut_connection_ends_without_an_error_of_its_own(engine: sa.Engine) -> None:
    # A handler failed (a 409, a lost connection) and its session is rolled back on a connection the server has
    # just cut: the rollback has nothing to undo and must not replace the handler's error (that made a 500).
    session = Session(engine)
    pid = session.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
    wait_until(lambda: not backend_alive(engine, pid), 10, "the backend to go")
    finish(session, commit=False)  # raised OperationalError before
    assert session.execute(sa.text("SELECT 1")).scalar_one() == 1  # the session works again on a fresh connection
    session.close()


def test_sessions_terminated_during_traffic_fail_at_most_the_requests_in_flight_with_a_503(
    engine: sa.Engine, tmp_path: Path
) -> None:
    ids = seed_staffing(engine, agents=30, needs=6, busy=0)
    headers = auth_headers(issue_token(engine, "revue@numerique.gouv.fr", "admin", "reviewer"))
    server = Served(engine.url.render_as_string(hide_password=False), tmp_path, workers=2)
    try:
        server.wait_ready()
        pid = server.proc.pid
        with Traffic(server.base, headers, ids["needs"], ids["agents"]) as traffic:
            wait_until(lambda: len(traffic.answers) >= 30, 60, "traffic to flow")
            terminated = 0
            for _ in range(3):
                terminated += _terminate_every_session(engine)
                time.sleep(0.3)
            cut_done = time.monotonic()
            # Every thread gets answers again, without anything restarted.
            wait_until(lambda: len([a for a in traffic.since(cut_done) if a[2] in (200, 201, 409)]) >= 30, 60,
                       "the service to answer again")
        assert server.proc.poll() is None and server.proc.pid == pid
        assert terminated >= 2, "the workers held no database session to cut"
        statuses = Counter(a[2] for a in traffic.answers)
        log = server.log()
        assert set(statuses) <= {200, 201, 409, 503}, f"{statuses}\n{traffic.answers[-5:]}\n{log}"
        failed = [a for a in traffic.answers if a[2] == 503]
        assert all("connection" in a[3] for a in failed), failed
        assert len(failed) <= terminated, f"more requests failed than sessions were cut: {statuses}"
        assert httpx.get(server.base + "/readyz", timeout=10).status_code == 200
    finally:
        took = server.stop(signal.SIGTERM)
    assert took < 30, server.log()


def test_readyz_says_not_ready_while_the_database_is_unreachable_and_ready_once_it_is_back(
    engine: sa.Engine, tmp_path: Path
) -> None:
    ids = seed_staffing(engine, agents=5, needs=2, busy=0)
    headers = auth_headers(issue_token(engine, "revue@numerique.gouv.fr", "admin", "reviewer"))
    url = engine.url
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432).start()
    through_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    server = Served(through_proxy, tmp_path, env={"TALENTS_DATABASE_LOCK_TIMEOUT_S": "3"})
    needs = f"/api/v1/needs/{ids['needs'][0]}"
    try:
        server.wait_ready()
        pid = server.proc.pid
        assert httpx.get(server.base + needs, headers=headers, timeout=10).status_code == 200

        proxy.stop()
        ready = httpx.get(server.base + "/readyz", timeout=30)
        assert ready.status_code == 503, ready.text
        assert ready.json()["status"] == "not ready" and "unreachable" in ready.json()["checks"]["database"]
        down = httpx.get(server.base + needs, headers=headers, timeout=30)
        assert down.status_code == 503, down.text
        assert down.headers.get("retry-after")
        assert httpx.get(server.base + "/healthz", timeout=10).status_code == 200  # alive, just not ready

        proxy.start()
        wait_until(lambda: httpx.get(server.base + "/readyz", timeout=30).status_code == 200, 30,
                   "/readyz to say ready again")
        assert httpx.get(server.base + needs, headers=headers, timeout=10).status_code == 200

        # A host that takes connections and never answers: new connections give up after the lock timeout.
        proxy.silence()
        ready = httpx.get(server.base + "/readyz", timeout=30)
        assert ready.status_code == 503, ready.text
        down = httpx.get(server.base + needs, headers=headers, timeout=60)
        assert down.status_code == 503, down.text
        proxy.stop()
        proxy.start()
        wait_until(lambda: httpx.get(server.base + "/readyz", timeout=30).status_code == 200, 30,
                   "/readyz to say ready again after the silence")
        assert httpx.get(server.base + needs, headers=headers, timeout=10).status_code == 200
        assert server.proc.poll() is None and server.proc.pid == pid
    finally:
        server.stop(signal.SIGTERM)
        proxy.stop()
