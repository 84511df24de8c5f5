"""A profile change reaches the rankings of every worker within 2 s (two workers of ``talents serve``)."""

from __future__ import annotations

import time
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

WITHIN_S = 2.0
SAMPLES = 12  # rankings asked on new connections: both workers answer some of them


def _seed(engine: sa.Engine) -> tuple[int, list[int]]:
    with session_scope(engine) as s:
        ids = []
        for i in range(5):
            ids.append(add_python_agent(s, f"f{i}", 3 + i % 3, name=f"Agent {i}"))
        n = Need(external_id="fresh", title="Besoin frais", priority=2, start=date(2027, 3, 1), end=date(2027, 6, 30),
                 lead_email="lead@numerique.gouv.fr", status="open")
        s.add(n)
        s.flush()
        r = Role(need_id=n.id, position=0, title="Développeur", count=1, share=0.6)
        s.add(r)
        s.flush()
        s.add(RoleSkill(role_id=r.id, skill_id="python", level=3, required=True, typed="python"))
        return int(n.id), ids  # type: ignore[arg-type]


def _agreed_since(base: str, headers: dict[str, str], need: int, agent: int, present: bool) -> float:
    """When the run of ``SAMPLES`` rankings in a row, each on a new connection, that agree on ``agent`` began
    (the monotonic time the first of them was asked); infinity if none within 60 s."""
    deadline = time.monotonic() + 60
    streak, since = 0, 0.0
    while time.monotonic() < deadline and streak < SAMPLES:
        asked = time.monotonic()
        with httpx.Client(base_url=base, headers=headers, timeout=10) as http:  # a new connection each time
            ranked = http.get(f"/api/v1/needs/{need}/roles/0/candidates?top=50").json()["candidates"]
        if any(c["agent_id"] == agent for c in ranked) == present:
            since = since if streak else asked
            streak += 1
        else:
            streak = 0
    return since if streak >= SAMPLES else float("inf")


def test_a_profile_change_is_in_every_workers_rankings_within_two_seconds(
    engine: sa.Engine, tmp_path: Path
) -> None:
    need, agents = _seed(engine)
    headers = auth_headers(issue_token(engine, "revue@numerique.gouv.fr", "admin", "reviewer"))
    server = Served(engine.url.render_as_string(hide_password=False), tmp_path, workers=2)
    try:
        server.wait_ready()
        agent = agents[-1]
        assert _agreed_since(server.base, headers, need, agent, present=True) < float("inf")
        for visibility, present in (("private", False), ("public", True)):  # the index drops private profiles
            r = httpx.patch(f"{server.base}/api/v1/agents/{agent}", json={"visibility": visibility}, headers=headers)
            assert r.status_code == 200, r.text
            committed = time.monotonic()
            lag = _agreed_since(server.base, headers, need, agent, present=present) - committed
            assert lag <= WITHIN_S, f"{visibility}: every worker agreed only {lag:.2f} s after the change"
    finally:
        server.stop()
