"""DINUM review: fill rate, time to staff, FTE per ministry against pledges, skills supply against demand.

Read-only aggregates over the whole database; the pages and ``/api/v1/review/*`` show them.

The figures over the whole pool of agents (how many, how many available, the skills' supply: tens of
milliseconds at 100 000 agents) are kept per worker (:meth:`ReviewService.pool`) and counted again when the
database's change stamps moved and they are older than :data:`POOL_MAX_AGE_S`: the dashboard says when they were
counted. Each worker checks the stamps in the database itself, so a change made through another worker is seen
the same way. The figures about needs, seats and pledges are small tables, read afresh on every view.
"""

from __future__ import annotations

import csv
import io
import threading
import time
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from needs.models import Need, Pledge, Project, Role, RoleSkill
from profiles.models import Agent, AgentSkill, Availability, Skill
from talents.assignments.models import COMMITTED_STATES, Assignment
from talents.kernel.db import bound_engine
from talents.kernel.errors import NotFoundError
from talents.kernel.settings import get_settings

__all__ = ["POOL_MAX_AGE_S", "PoolFigures", "ReviewService", "csv_safe", "forget_pool_figures"]

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

# The dashboard's tables, built once (every view runs them).
_LIVE_NEED = col(Need.status).in_(("open", "staffed"))
SEATS_BY_PRIORITY = (select(Need.priority, func.sum(Role.count)).join(Role, col(Role.need_id) == Need.id)
                     .where(_LIVE_NEED).group_by(Need.priority))
STATES_BY_PRIORITY = (select(Need.priority, Assignment.state, func.count())
                      .join(Assignment, col(Assignment.need_id) == Need.id)
                      .where(_LIVE_NEED).group_by(Need.priority, Assignment.state))
STAFFING_TIMES = (select(Need.priority, Need.created_at, Assignment.updated_at)
                  .join(Assignment, col(Assignment.need_id) == Need.id).where(col(Assignment.state).in_(STAFFED)))
FTE_NEEDED = select(Project.name, Project.fte_needed)
_PER_AGENT = (select(Assignment.agent_id, func.count().label("n"))
              .where(col(Assignment.state).in_(COMMITTED_STATES)).group_by(Assignment.agent_id).subquery())
HOLDINGS = select(_PER_AGENT.c.n, func.count()).group_by(_PER_AGENT.c.n)
PLEDGES = select(Project.name, Pledge.ministry, Pledge.fte).join(Pledge, col(Pledge.project_id) == Project.id)
SHARES = (select(Project.name, Agent.ministry, Assignment.state, func.sum(Assignment.share))
          .join(Need, col(Need.project_id) == Project.id)
          .join(Assignment, col(Assignment.need_id) == Need.id)
          .join(Agent, col(Agent.id) == Assignment.agent_id)
          .where(col(Assignment.state).in_(COMMITTED_STATES + ("completed",)))
          .group_by(Project.name, Agent.ministry, Assignment.state))

# How old the pool's figures may be while the pool keeps changing (agents edit their profiles all day): counted
# again at most this often per worker; as long as the change stamps stay the same, they stay as they are.
POOL_MAX_AGE_S = 60.0


def _stamp(model: Any) -> tuple[Any, Any]:
    """A table's last change and its row count (a count sees a deleted row, which leaves no stamp)."""
    return (select(func.max(model.updated_at)).scalar_subquery(),
            select(func.count()).select_from(model).scalar_subquery())


# What the pool's figures are counted from, in one statement: the agents (a change to their skills, windows or
# assignments stamps the agent, as the ranking index relies on), the needs (a change to their roles stamps the
# need) and the taxonomy's labels — the stamps the ranking index follows, with the needs'.
POOL_STAMP = sa.select(*_stamp(Agent), *_stamp(Need), *_stamp(Skill))


@dataclass(frozen=True)
class PoolFigures:
    """The figures over the whole pool of agents, and when they were last known to match the database."""

    agents: int
    available_agents: int
    skills_supply_demand: tuple[dict[str, Any], ...]
    as_of: datetime


@dataclass(frozen=True)
class _Kept:
    stamp: tuple[Any, ...]  # the day and the floor they were counted for, and the database's change stamps
    figures: PoolFigures
    checked: float  # time.monotonic() when they were counted or their stamps last checked


_kept: dict[str, _Kept] = {}  # per database
_kept_lock = threading.Lock()  # one count at a time: the requests meanwhile take its result


def forget_pool_figures() -> None:
    """Drop the pool's figures kept in this process (a database emptied under the same address)."""
    with _kept_lock:
        _kept.clear()


class ReviewService:
    def __init__(self, session: Session) -> None:
        self.floor = get_settings().matching.floor  # the programme's floor: only a larger share counts
        self.session = session

    def figures(self, today: date | None = None) -> dict[str, Any]:
        """Headline numbers: agents, available agents (a window above the floor covering today or later), needs.

        Counted afresh on every call (the home page shows them): each from an index alone."""
        return {**self._pool_counts(today or date.today()), **self._need_counts()}

    def _pool_counts(self, today: date) -> dict[str, int]:
        run = self.session.execute
        return {"agents": int(run(LIVE_AGENTS).scalar_one()),
                "available_agents": int(run(AVAILABLE_AGENTS, {"today": today, "floor": self.floor}).scalar_one())}

    def _need_counts(self) -> dict[str, int]:
        run = self.session.execute
        return {"open_needs": int(run(OPEN_NEEDS).scalar_one()), "open_seats": int(run(OPEN_SEATS).scalar_one()),
                "staffed_seats": int(run(STAFFED_SEATS).scalar_one())}

    def pool(self, today: date | None = None) -> PoolFigures:
        """The figures over the whole pool, kept by this worker: the same while the database's change stamps
        stay the same, and at most :data:`POOL_MAX_AGE_S` old when they moved."""
        today = today or date.today()
        database = bound_engine(self.session).url.render_as_string(hide_password=True)
        with _kept_lock:
            kept = _kept.get(database)
            fresh = kept is not None and kept.stamp[:2] == (today, self.floor)
            if kept is not None and fresh and time.monotonic() - kept.checked < POOL_MAX_AGE_S:
                return kept.figures
            stamp = (today, self.floor, *self.session.execute(POOL_STAMP).one())
            if kept is not None and kept.stamp == stamp:  # nothing changed: they are still the figures of now
                figures = replace(kept.figures, as_of=datetime.now(UTC))
            else:
                counts = self._pool_counts(today)
                figures = PoolFigures(counts["agents"], counts["available_agents"],
                                      tuple(self.skills_supply_demand(today=today)), datetime.now(UTC))
            _kept[database] = _Kept(stamp, figures, time.monotonic())
            return figures

    def fill_by_priority(self) -> list[dict[str, Any]]:
        """For open needs, seats asked and seats staffed/proposed, by priority."""
        seats = dict(self.session.exec(SEATS_BY_PRIORITY).all())
        rows = self.session.exec(STATES_BY_PRIORITY).all()
        out = []
        for priority in (1, 2, 3, 4):
            by_state = {state: n for p, state, n in rows if p == priority}
            asked = int(seats.get(priority) or 0)
            staffed = sum(by_state.get(s, 0) for s in STAFFED)
            proposed = by_state.get("proposed", 0) + by_state.get("accepted", 0)
            out.append({"priority": priority, "seats": asked, "staffed": staffed, "proposed": proposed,
                        "fill_rate": round(staffed / asked, 3) if asked else None})
        return out

    def staffing_days(self) -> list[tuple[int, float]]:
        """Each staffed assignment's priority and days from its need's creation to its last change."""
        rows = self.session.exec(STAFFING_TIMES).all()
        return [(p, max(0.0, (b - a).total_seconds() / 86400)) for p, a, b in rows if a and b]

    def time_to_staff_days(self, priority: int | None = None,
                           days: list[tuple[int, float]] | None = None) -> float | None:
        """Median days from a need's creation to each staffed assignment's last change (of one tier, if given)."""
        ordered = sorted(d for p, d in (self.staffing_days() if days is None else days)
                         if priority is None or p == priority)
        return round(ordered[len(ordered) // 2], 1) if ordered else None

    def time_to_staff_by_priority(self, days: list[tuple[int, float]] | None = None) -> list[dict[str, Any]]:
        days = self.staffing_days() if days is None else days
        return [{"priority": p, "days": self.time_to_staff_days(p, days)} for p in (1, 2, 3, 4)]

    def fte_by_project(self, lines: list[FteLine] | None = None) -> list[dict[str, Any]]:
        """The programme's table: per project, FTE needed, pledged by DINUM and by the ministries, and supplied
        (from ``lines``, :meth:`fte_by_ministry`, when the caller has them already)."""
        needed = dict(self.session.exec(FTE_NEEDED).all())
        out: dict[str, dict[str, Any]] = {
            name: {"project": name, "needed": float(fte or 0), "pledged_dinum": 0.0, "pledged_ministries": 0.0,
                   "staffed": 0.0, "proposed": 0.0} for name, fte in needed.items()}
        for line in self.fte_by_ministry() if lines is None else lines:
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
        counts = dict(self.session.exec(HOLDINGS).all())
        buckets = [(1, "1"), (2, "2"), (3, "3 ou plus")]
        return [{"holds": label,
                 "agents": int(sum(v for k, v in counts.items() if (k >= n if n == 3 else k == n)))}
                for n, label in buckets]

    def fte_by_ministry(self) -> list[FteLine]:
        """Per project and ministry: FTE pledged, FTE staffed (sum of shares) and FTE proposed."""
        pledges = self.session.exec(PLEDGES).all()
        shares = self.session.exec(SHARES).all()
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
        """The headline figures and the main tables; those over the whole pool from :meth:`pool`."""
        return self._summary(self.pool(), self.staffing_days(), self.fte_by_ministry())

    def _summary(self, pool: PoolFigures, days: list[tuple[int, float]], lines: list[FteLine]) -> dict[str, Any]:
        return {
            "figures": {"agents": pool.agents, "available_agents": pool.available_agents, **self._need_counts()},
            "fill_by_priority": self.fill_by_priority(),
            "time_to_staff_days": self.time_to_staff_days(days=days),
            "fte_by_ministry": [{**asdict(x), "gap": x.gap} for x in lines],
            "skills_supply_demand": [dict(s) for s in pool.skills_supply_demand],  # copies: the kept ones are shared
        }

    def dashboard(self) -> dict[str, Any]:
        """Everything DINUM's dashboard shows: the summary, the programme's FTE table, time to staff, exposure, and
        when the pool's figures were counted (``pool_as_of``). Each table read once."""
        pool, days, lines = self.pool(), self.staffing_days(), self.fte_by_ministry()
        return {**self._summary(pool, days, lines), "fte_by_project": self.fte_by_project(lines),
                "time_to_staff_by_priority": self.time_to_staff_by_priority(days), "exposure": self.exposure(),
                "pool_as_of": pool.as_of}

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
