"""Concurrent reads against a real ``talents serve``: rankings, profile reads and lists, side by side.

Each ranking shown to a lead writes its candidates to the access log. On SQLite that write used to turn the
request's read into a write: when another request had committed since the read began, SQLite refused the
write at once ("database is locked") and the lead got a 503 — most of the rankings asked by 4 or 8 clients
at a time. The access log is now written after the read, in a short transaction of its own.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from served import Served, add_python_agent

from needs.models import Need, Role, RoleSkill
from talents.auth.testing import auth_headers, issue_token
from talents.kernel.db import session_scope

pytestmark = [pytest.mark.integration, pytest.mark.slow]

AGENTS = 6
PARALLEL = 8
ROUNDS = 6


def _seed(engine: sa.Engine) -> tuple[int, list[int]]:
    with session_scope(engine) as s:
        agents = []
        for i in range(AGENTS):
            agents.append(add_python_agent(s, f"r{i}", 2 + i % 4, name=f"Agent {i}"))
        n = Need(external_id="lecture", title="Besoin lu en parallèle", priority=2, start=date(2027, 3, 1),
                 end=date(2027, 6, 30), lead_email="lead@numerique.gouv.fr", status="open")
        s.add(n)
        s.flush()
        r = Role(need_id=n.id, position=0, title="Développeur", count=2, share=0.6)
        s.add(r)
        s.flush()
        s.add(RoleSkill(role_id=r.id, skill_id="python", level=3, typed="python"))
        return int(n.id), agents  # type: ignore[arg-type]


def _access_log_lines(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM access_log")).scalar_one())


def test_parallel_rankings_and_profile_reads_all_answer_and_are_all_logged(
    engine: sa.Engine, tmp_path: Path
) -> None:
    need, agents = _seed(engine)
    lead = auth_headers(issue_token(engine, "lead@numerique.gouv.fr", "lead"))
    server = Served(engine.url.render_as_string(hide_password=False), tmp_path)
    try:
        server.wait_ready()
        with httpx.Client(base_url=server.base, headers=lead, timeout=60) as http:
            warm = http.get(f"/api/v1/needs/{need}/roles/0/candidates?top=20&near=10")
            assert warm.status_code == 200, warm.text
        shown = len(warm.json()["candidates"]) + len(warm.json()["near_misses"])
        assert shown > 0
        before = _access_log_lines(engine)

        def client(i: int) -> list[tuple[str, int]]:
            answers = []
            with httpx.Client(base_url=server.base, headers=lead, timeout=60) as http:  # one connection each
                for j in range(ROUNDS):
                    kind = ("ranking", "profile", "needs")[(i + j) % 3]
                    path = {"ranking": f"/api/v1/needs/{need}/roles/0/candidates?top=20&near=10",
                            "profile": f"/api/v1/agents/{agents[(i + j) % AGENTS]}",
                            "needs": "/api/v1/needs?limit=20"}[kind]
                    answers.append((kind, http.get(path).status_code))
            return answers

        with ThreadPoolExecutor(PARALLEL) as pool:
            answers = [a for batch in pool.map(client, range(PARALLEL)) for a in batch]
        statuses = Counter(status for _, status in answers)
        assert statuses == {200: len(answers)}, f"{statuses}\n{server.log()}"
        kinds = Counter(kind for kind, _ in answers)
        # Every ranking logged every agent it showed; every profile read logged one line.
        assert _access_log_lines(engine) - before == kinds["ranking"] * shown + kinds["profile"]
    finally:
        server.stop()


def test_a_burst_larger_than_the_connection_pool_is_served_in_turn_not_refused(
    engine: sa.Engine, tmp_path: Path
) -> None:
    # Four connections, 24 clients at once: half read pages signed in (their first query runs before the
    # handler's turn for a thread), half sign in (their first query runs in the handler's thread). Requests
    # used to take a connection, then wait for a thread, while the threads waited for a connection: nothing
    # moved until the pool's timeout, then 503s. Now the requests beyond the pool wait their turn holding none.
    need, _ = _seed(engine)
    lead = auth_headers(issue_token(engine, "lead@numerique.gouv.fr", "lead"))
    server = Served(engine.url.render_as_string(hide_password=False), tmp_path,
                    env={"TALENTS_DATABASE_POOL_SIZE": "4", "TALENTS_DATABASE_MAX_OVERFLOW": "0",
                         "TALENTS_DATABASE_LOCK_TIMEOUT_S": "20", "TALENTS_DEMO": "true",
                         "TALENTS_SIGNIN_RATE_PER_MINUTE": "1000000"})
    try:
        server.wait_ready()

        def reader(i: int) -> list[int]:
            with httpx.Client(base_url=server.base, headers=lead, timeout=120) as http:
                paths = [f"/besoins/{need}", "/besoins", f"/api/v1/needs/{need}/roles/0/candidates?top=20"]
                return [http.get(paths[(i + j) % len(paths)]).status_code for j in range(ROUNDS)]

        def signer(i: int) -> list[int]:
            with httpx.Client(base_url=server.base, timeout=120) as http:
                return [http.post("/auth/demo", data={"email": f"agent{i}.{j}@interieur.gouv.fr", "role": "agent"}
                                  ).status_code for j in range(ROUNDS)]

        with ThreadPoolExecutor(24) as pool:
            batches = list(pool.map(lambda i: (reader if i % 2 else signer)(i), range(24)))
        statuses = Counter(s for batch in batches for s in batch)
        assert statuses == {200: 12 * ROUNDS, 303: 12 * ROUNDS}, f"{statuses}\n{server.log()}"
        assert httpx.get(server.base + "/healthz", timeout=10).status_code == 200
    finally:
        server.stop()
