"""Demo data: agents of several ministries and the projects of the TECH.GOUV 2020–2021 programme.

The data (ministries, names, occupations, projects, needs) is in ``talents/data/demo/*.json``; the agents are
drawn from it, deterministically for a given seed, so a demo shows the same people every time.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from functools import cache
from importlib import resources
from typing import Any

from sqlmodel import func, select

from matching.normalise import strip_accents
from needs.models import Need, NeedCreate, ProjectCreate
from needs.service import NeedService, ProjectService
from profiles.importer import AgentImporter
from profiles.models import Agent
from profiles.taxonomy import SkillResolver
from talents.kernel.db import get_engine, session_scope

__all__ = ["demo_data", "seed_demo"]


@cache
def demo_data(name: str) -> Any:
    """One of the demo data files (``people``, ``occupations``, ``projects``, ``needs``), parsed."""
    text = resources.files("talents").joinpath("data", "demo", f"{name}.json").read_text(encoding="utf-8")
    return json.loads(text)


def _needs(today: date) -> list[dict[str, Any]]:
    """The flash-team needs, their dates counted from two weeks after ``today``."""
    soon = today + timedelta(days=14)
    out = []
    for n in demo_data("needs"):
        need = {k: v for k, v in n.items() if k not in ("start_in_days", "end_in_days")}
        need["start"] = soon + timedelta(days=n["start_in_days"])
        need["end"] = soon + timedelta(days=n["end_in_days"])
        out.append(need)
    return out


def _ascii(text: str) -> str:
    return strip_accents(text).replace(" ", "-")


def _agents(count: int, rng: random.Random, today: date) -> Iterator[tuple[int, dict[str, Any], None]]:
    people = demo_data("people")
    first_names, last_names = tuple(people["first_names"]), tuple(people["last_names"])
    ministries = tuple(m["name"] for m in people["ministries"])
    weights = tuple(m["weight"] for m in people["ministries"])
    domains = {m["name"]: m["domain"] for m in people["ministries"]}
    grades, cities = tuple(people["grades"]), tuple(people["cities"])
    occupations = [(o["title"], (tuple(o["core"]), tuple(o["extra"]))) for o in demo_data("occupations")]
    for i in range(count):
        first, last = rng.choice(first_names), rng.choice(last_names)
        ministry = rng.choices(ministries, weights=weights)[0]
        occupation, (core, extra) = rng.choice(occupations)
        skills = [
            {
                "name": s,
                "level": rng.choices((2, 3, 4, 5), weights=(2, 4, 3, 1))[0],
                "years": rng.randint(1, 15),
                "interest": rng.randint(2, 5),
                "last_used": (today - timedelta(days=rng.choice((10, 60, 200, 500, 1200)))).isoformat(),
            }
            for s in rng.sample(core, k=max(2, len(core) - rng.randint(0, 2)))
        ]
        skills += [{"name": s, "level": rng.randint(1, 4)} for s in rng.sample(extra, k=rng.randint(0, 3))]
        availability = []
        if rng.random() < 0.8:
            start = today + timedelta(days=rng.randint(-60, 45))
            share = rng.choices((0.6, 0.7, 0.8, 1.0), weights=(4, 2, 4, 2))[0]
            length = rng.choice((120, 180, 270, 365, 365))
            availability.append(
                {"start": start.isoformat(), "end": (start + timedelta(days=length)).isoformat(), "share": share}
            )
        ext = f"agent-{i + 1:06d}"
        yield (
            i + 1,
            {
                "external_id": ext,
                "name": f"{first} {last}",
                "email": f"{_ascii(first)}.{_ascii(last)}.{i + 1}@{domains[ministry]}",
                "ministry": ministry,
                "service": "DNUM" if ministry != "DINUM" else "Pôle Talents",
                "grade": rng.choice(grades),
                "location": rng.choice(cities),
                "remote": rng.random() < 0.7,
                "languages": ["fr", "en"] if rng.random() < 0.6 else ["fr"],
                "manager_email": f"manager.{rng.randint(1, 60)}@{domains[ministry]}",
                "bio": f"{occupation} au {ministry}.",
                "skills": skills,
                "availability": availability,
            },
            None,
        )


def seed_demo(
    agents: int = 3000,
    seed: int = 2020,
    *,
    if_empty: bool = False,
    progress: Callable[[int], None] | None = None,
    today: date | None = None,
) -> dict[str, Any]:
    """Seed agents, the TECH.GOUV projects with their pledges, and flash-team needs. Idempotent (upserts)."""
    today = today or date.today()
    with session_scope() as session:
        if if_empty and session.exec(select(func.count()).select_from(Agent)).one():
            return {"skipped": "the database already holds agents"}
    rng = random.Random(seed)
    report = AgentImporter(get_engine()).run(_agents(agents, rng, today), progress)
    projects = needs = 0
    with session_scope() as session:
        project_service = ProjectService(session)
        for p in demo_data("projects"):
            if project_service.get_by_external_id(p["external_id"]) is None:
                project_service.create(ProjectCreate.model_validate(p))
                projects += 1
        need_service = NeedService(session, SkillResolver(session))
        for n in _needs(today):
            if session.exec(select(Need).where(Need.external_id == n["external_id"])).first() is None:
                need_service.create(NeedCreate.model_validate(n))
                needs += 1
    return {"agents": report.imported, "rejected": len(report.errors), "projects": projects, "needs": needs}
