"""Factories of test data written straight through the ORM (fast, no HTTP)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Engine

from needs.models import Need, Role, RoleSkill
from profiles.models import Agent, AgentSkill, Availability
from talents.kernel.db import session_scope

START = date(2027, 3, 1)
END = date(2027, 6, 30)


def make_agent(
    engine: Engine,
    ext: str,
    skills: Sequence[tuple[str, int]] = (("python", 4),),
    windows: Sequence[tuple[date, date, float]] = ((date(2027, 1, 1), date(2027, 12, 31), 1.0),),
    *,
    email: str | None = None,
    manager_email: str | None = "chef@interieur.gouv.fr",
    ministry: str = "Intérieur",
    name: str | None = None,
) -> int:
    with session_scope(engine) as s:
        a = Agent(external_id=ext, email=email or f"{ext}@agents.gouv.fr", name=name or f"Agent {ext}",
                  ministry=ministry, manager_email=manager_email)
        s.add(a)
        s.flush()
        for sid, level in skills:
            s.add(AgentSkill(agent_id=a.id, skill_id=sid, level=level, typed=sid))
        for st, en, sh in windows:
            s.add(Availability(agent_id=a.id, start=st, end=en, share=sh))
        return int(a.id)  # type: ignore[arg-type]


def make_need(
    engine: Engine,
    ext: str,
    roles: Sequence[dict[str, Any]] = ({"title": "Développeur Python", "share": 0.6,
                                        "skills": [("python", 3, True)]},),
    *,
    priority: int = 3,
    start: date = START,
    end: date = END,
    lead_email: str | None = "lead@numerique.gouv.fr",
    status: str = "open",
    title: str | None = None,
) -> int:
    with session_scope(engine) as s:
        n = Need(external_id=ext, title=title or f"Besoin {ext}", priority=priority, start=start, end=end,
                 lead_email=lead_email, status=status)
        s.add(n)
        s.flush()
        for i, r in enumerate(roles):
            role = Role(need_id=n.id, position=i, title=r.get("title", f"Rôle {i}"), count=r.get("count", 1),
                        share=r.get("share", 0.6))
            s.add(role)
            s.flush()
            for sid, level, required in r.get("skills", [("python", 3, True)]):
                s.add(RoleSkill(role_id=role.id, skill_id=sid, level=level, required=required, typed=sid))
        return int(n.id)  # type: ignore[arg-type]
