"""DINUM review: fill rate, time to staff, FTE per ministry against pledges, skills supply against demand.

Read-only aggregates over the whole database; the pages and ``/api/v1/review/*`` show them.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from needs.models import Need, Pledge, Project, Role, RoleSkill
from profiles.models import Agent, AgentSkill, Availability, Skill
from talents.assignments.models import COMMITTED_STATES, Assignment
from talents.kernel.errors import NotFoundError
from talents.kernel.settings import get_settings

__all__ = ["ReviewService", "csv_safe"]

# States that count as staffed seats (the agent and the manager said yes).
STAFFED = ("approved", "active", "completed")


def csv_safe(value: Any) -> Any:
    """Neutralise spreadsheet formulas in exported cells (=, +, -, @, tab, carriage return)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


@dataclass
class FteLine:
    project: str
    ministry: str
    pledged: float
    staffed: float
    proposed: float

    @property
    def gap(self) -> float:
        return round(self.pledged - self.staffed, 2)


# The headline counts, built once (the home page runs them on every visit). Agents not erased: the index on
# ``erased_at``; available agents: the covering index of windows by agent.
LIVE_AGENTS = select(func.count()).select_from(Agent).where(col(Agent.erased_at).is_(None))
AVAILABLE_AGENTS = select(func.count(func.distinct(Availability.agent_id))).where(
    Availability.end >= sa.bindparam("today"), Availability.share > sa.bindparam("floor"))
OPEN_NEEDS = select(func.count()).select_from(Need).where(Need.status == "open")
OPEN_SEATS = (select(func.coalesce(func.sum(Role.count), 0)).join(Need, col(Need.id) == Role.need_id)
              .where(Need.status == "open"))
STAFFED_SEATS = select(func.count()).select_from(Assignment).where(col(Assignment.state).in_(STAFFED))


class ReviewService:
    def __init__(self, session: Session) -> None:
        self.floor = get_settings().matching.floor  # the programme's floor: only a larger share counts
        self.session = session

    def figures(self, today: date | None = None) -> dict[str, Any]:
        """Headline numbers: agents, available agents (a window above the floor covering today or later), needs.

        Counted afresh on every call (the home page and the dashboard show them): each from an index alone."""
        today = today or date.today()
        run = self.session.execute
        return {"agents": int(run(LIVE_AGENTS).scalar_one()),
                "available_agents": int(run(AVAILABLE_AGENTS, {"today": today, "floor": self.floor}).scalar_one()),
                "open_needs": int(run(OPEN_NEEDS).scalar_one()), "open_seats": int(run(OPEN_SEATS).scalar_one()),
                "staffed_seats": int(run(STAFFED_SEATS).scalar_one())}

    def fill_by_priority(self) -> list[dict[str, Any]]:
        """For open needs, seats asked and seats staffed/proposed, by priority."""
        seats = dict(
            self.session.exec(
                select(Need.priority, func.sum(Role.count)).join(Role, col(Role.need_id) == Need.id)
                .where(Need.status.in_(("open", "staffed"))).group_by(Need.priority)  # type: ignore[attr-defined]
            ).all()
        )
        rows = self.session.exec(
            select(Need.priority, Assignment.state, func.count()).join(Assignment, col(Assignment.need_id) == Need.id)
            .where(Need.status.in_(("open", "staffed"))).group_by(Need.priority, Assignment.state)  # type: ignore[attr-defined]
        ).all()
        out = []
        for priority in (1, 2, 3, 4):
            by_state = {state: n for p, state, n in rows if p == priority}
            asked = int(seats.get(priority) or 0)
            staffed = sum(by_state.get(s, 0) for s in STAFFED)
            proposed = by_state.get("proposed", 0) + by_state.get("accepted", 0)
            out.append({"priority": priority, "seats": asked, "staffed": staffed, "proposed": proposed,
                        "fill_rate": round(staffed / asked, 3) if asked else None})
        return out

    def time_to_staff_days(self, priority: int | None = None) -> float | None:
        """Median days from a need's creation to each staffed assignment's last change (of one tier, if given)."""
        query = (select(Need.created_at, Assignment.updated_at).join(Assignment, col(Assignment.need_id) == Need.id)
                 .where(col(Assignment.state).in_(STAFFED)))
        if priority is not None:
            query = query.where(Need.priority == priority)
        rows = self.session.exec(query).all()
        days = sorted(max(0.0, (b - a).total_seconds() / 86400) for a, b in rows if a and b)
        return round(days[len(days) // 2], 1) if days else None

    def time_to_staff_by_priority(self) -> list[dict[str, Any]]:
        return [{"priority": p, "days": self.time_to_staff_days(p)} for p in (1, 2, 3, 4)]

    def fte_by_project(self) -> list[dict[str, Any]]:
        """The programme's table: per project, FTE needed, pledged by DINUM and by the ministries, and supplied."""
        needed = dict(self.session.exec(select(Project.name, Project.fte_needed)).all())
        out: dict[str, dict[str, Any]] = {
            name: {"project": name, "needed": float(fte or 0), "pledged_dinum": 0.0, "pledged_ministries": 0.0,
                   "staffed": 0.0, "proposed": 0.0} for name, fte in needed.items()}
        for line in self.fte_by_ministry():
            row = out.setdefault(line.project, {"project": line.project, "needed": 0.0, "pledged_dinum": 0.0,
                                                "pledged_ministries": 0.0, "staffed": 0.0, "proposed": 0.0})
            row["pledged_dinum" if line.ministry.upper() == "DINUM" else "pledged_ministries"] += line.pledged
            row["staffed"] += line.staffed
            row["proposed"] += line.proposed
        for row in out.values():
            row["pledged"] = row["pledged_dinum"] + row["pledged_ministries"]
            row["gap"] = round(row["pledged"] - row["staffed"], 2)
        return sorted(out.values(), key=lambda r: (-r["needed"], r["project"]))

    def exposure(self) -> list[dict[str, Any]]:
        """How exposed agents are: how many hold 1, 2, 3 or more live proposals or assignments at once."""
        per_agent = (select(Assignment.agent_id, func.count().label("n"))
                     .where(col(Assignment.state).in_(COMMITTED_STATES)).group_by(Assignment.agent_id).subquery())
        counts = dict(self.session.exec(select(per_agent.c.n, func.count()).group_by(per_agent.c.n)).all())
        buckets = [(1, "1"), (2, "2"), (3, "3 ou plus")]
        return [{"holds": label,
                 "agents": int(sum(v for k, v in counts.items() if (k >= n if n == 3 else k == n)))}
                for n, label in buckets]

    def fte_by_ministry(self) -> list[FteLine]:
        """Per project and ministry: FTE pledged, FTE staffed (sum of shares) and FTE proposed."""
        pledges = self.session.exec(
            select(Project.name, Pledge.ministry, Pledge.fte).join(Pledge, col(Pledge.project_id) == Project.id)
        ).all()
        shares = self.session.exec(
            select(Project.name, Agent.ministry, Assignment.state, func.sum(Assignment.share))
            .join(Need, col(Need.project_id) == Project.id)
            .join(Assignment, col(Assignment.need_id) == Need.id)
            .join(Agent, col(Agent.id) == Assignment.agent_id)
            .where(col(Assignment.state).in_(COMMITTED_STATES + ("completed",)))
            .group_by(Project.name, Agent.ministry, Assignment.state)
        ).all()
        lines: dict[tuple[str, str], FteLine] = {
            (p, m): FteLine(p, m, float(f), 0.0, 0.0) for p, m, f in pledges
        }
        for project, ministry, state, total in shares:
            line = lines.setdefault((project, ministry), FteLine(project, ministry, 0.0, 0.0, 0.0))
            if state in STAFFED:
                line.staffed = round(line.staffed + float(total), 2)
            else:
                line.proposed = round(line.proposed + float(total), 2)
        return sorted(lines.values(), key=lambda x: (x.project, -x.pledged, x.ministry))

    def skills_supply_demand(self, limit: int = 15, today: date | None = None) -> list[dict[str, Any]]:
        """The skills open roles ask for most, beside how many available agents have them at the level asked."""
        today = today or date.today()
        demand = self.session.exec(
            select(RoleSkill.skill_id, Skill.label_fr, func.sum(Role.count), func.min(RoleSkill.level))
            .join(Role, col(Role.id) == RoleSkill.role_id)
            .join(Need, col(Need.id) == Role.need_id)
            .join(Skill, col(Skill.id) == RoleSkill.skill_id)
            .where(Need.status == "open")
            .group_by(RoleSkill.skill_id, Skill.label_fr)
            .order_by(sa.desc(func.sum(Role.count)))
            .limit(limit)
        ).all()
        # Every skill in demand in one statement, each agent at most once per skill (unique agent and skill), a
        # window checked per agent: read from covering indexes, and PostgreSQL hashes the available agents once
        # for all the skills, where one statement per skill hashed them again for each.
        available = sa.exists().where(Availability.agent_id == AgentSkill.agent_id, Availability.end >= today,
                                      Availability.share > self.floor)
        asked = {skill_id: int(level) for skill_id, _, _, level in demand}
        supply: dict[str, int] = {}
        if asked:
            supply = {skill_id: int(n) for skill_id, n in self.session.execute(
                select(AgentSkill.skill_id, func.count())
                .where(col(AgentSkill.skill_id).in_(list(asked)), available,
                       AgentSkill.level >= sa.case(asked, value=AgentSkill.skill_id))
                .group_by(col(AgentSkill.skill_id))).all()}
        out = []
        for skill_id, label, seats, level in demand:
            n = supply.get(skill_id, 0)
            out.append({"skill_id": skill_id, "label": label, "seats": int(seats), "level": int(level),
                        "supply": n, "ratio": round(n / seats, 1) if seats else None})
        return out

    def summary(self) -> dict[str, Any]:
        return {
            "figures": self.figures(),
            "fill_by_priority": self.fill_by_priority(),
            "time_to_staff_days": self.time_to_staff_days(),
            "fte_by_ministry": [{**asdict(x), "gap": x.gap} for x in self.fte_by_ministry()],
            "skills_supply_demand": self.skills_supply_demand(),
        }

    def dashboard(self) -> dict[str, Any]:
        """Everything DINUM's dashboard shows: the summary, the programme's FTE table, time to staff, exposure."""
        return {**self.summary(), "fte_by_project": self.fte_by_project(),
                "time_to_staff_by_priority": self.time_to_staff_by_priority(), "exposure": self.exposure()}

    def table_csv(self, name: str) -> str:
        """One of the dashboard's tables as CSV (formula-safe cells), with French headers."""
        columns, rows = self._table(name)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow([label for _, label in columns])
        for row in rows:
            writer.writerow([csv_safe(row.get(key)) for key, _ in columns])
        return out.getvalue()

    def _table(self, name: str) -> tuple[list[tuple[str, str]], list[dict[str, Any]]]:
        if name == "remplissage":
            return ([("priority", "priorité"), ("seats", "places"), ("staffed", "pourvues"), ("proposed", "proposées"),
                     ("fill_rate", "taux de remplissage")], self.fill_by_priority())
        if name == "delais":
            return [("priority", "priorité"), ("days", "délai médian (jours)")], self.time_to_staff_by_priority()
        if name == "etp-projets":
            return ([("project", "projet"), ("needed", "ETP nécessaires"), ("pledged_dinum", "ETP DINUM"),
                     ("pledged_ministries", "ETP ministères"), ("pledged", "ETP promis"), ("staffed", "ETP pourvus"),
                     ("proposed", "ETP proposés"), ("gap", "écart")], self.fte_by_project())
        if name == "etp-ministeres":
            return ([("project", "projet"), ("ministry", "ministère"), ("pledged", "ETP promis"),
                     ("staffed", "ETP pourvus"), ("proposed", "ETP proposés"), ("gap", "écart")],
                    [{**asdict(x), "gap": x.gap} for x in self.fte_by_ministry()])
        if name == "competences":
            return ([("label", "compétence"), ("seats", "places qui la demandent"), ("level", "niveau"),
                     ("supply", "agents disponibles à ce niveau")], self.skills_supply_demand())
        if name == "exposition":
            return [("holds", "propositions ou missions en cours"), ("agents", "agents")], self.exposure()
        raise NotFoundError(f"no table named {name!r}", field="name")

    def fte_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["projet", "ministère", "ETP promis", "ETP pourvus", "ETP proposés", "écart"])
        for x in self.fte_by_ministry():
            writer.writerow([csv_safe(x.project), csv_safe(x.ministry), x.pledged, x.staffed, x.proposed, x.gap])
        return out.getvalue()
