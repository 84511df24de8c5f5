"""Agents: profiles, skills and availability windows. Business rules live here, not in handlers."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from profiles.models import (
    Agent,
    AgentCreate,
    AgentListed,
    AgentPublic,
    AgentSkill,
    AgentSkillCreate,
    AgentSkillPublic,
    AgentSkillUpdate,
    AgentUpdate,
    Availability,
    AvailabilityCreate,
    AvailabilityPublic,
    Skill,
    SkillInput,
)
from profiles.policy import MANAGER_IS_SOMEONE_ELSE, PROFILE_AS_SHOWN, manager_of, profile_seen_by_check
from profiles.taxonomy import SkillResolver
from talents.kernel.db import utcnow
from talents.kernel.errors import ConflictError, NotFoundError, ValidationFailedError
from talents.kernel.fields import refuse_nulls
from talents.kernel.policy import check_share_above_floor
from talents.kernel.prepared import Prepared

__all__ = ["AgentFilters", "AgentService", "merge_agent_skills"]

T = TypeVar("T")


@dataclass(frozen=True)
class AgentFilters:
    """What the agent list can be filtered by."""

    ministry: str | None = None
    skill: str | None = None
    min_level: int | None = None
    location: str | None = None
    q: str | None = None
    available_on: date | None = None
    include_private: bool = True  # private profiles: their owner and DINUM only
    personal: bool = True  # False: ``q`` does not search e-mails (callers who do not see them)


def _highest(a: T | None, b: T | None) -> T | None:
    return b if a is None else a if b is None else max(a, b)  # type: ignore[type-var]


def merge_agent_skills(
    resolved: Sequence[tuple[str, float, SkillInput]], where: str = "skills"
) -> tuple[builtins.list[tuple[str, float, SkillInput]], builtins.list[str]]:
    """One entry per skill on a profile: names that resolve to the same skill ("JS" and "JavaScript") become
    one, at the highest level (and years, last use, interest); each merge is said in a warning."""
    merged: dict[str, tuple[int, float, SkillInput]] = {}
    warnings: builtins.list[str] = []
    for i, (skill_id, confidence, s) in enumerate(resolved):
        if skill_id not in merged:
            merged[skill_id] = (i, confidence, s)
            continue
        first_at, first_confidence, first = merged[skill_id]
        one = first.model_copy(update={
            "level": max(first.level, s.level),
            "years": _highest(first.years, s.years),
            "last_used": _highest(first.last_used, s.last_used),
            "interest": _highest(first.interest, s.interest),
        })
        merged[skill_id] = (first_at, max(first_confidence, confidence), one)
        warnings.append(
            f"{where}.{i}.name: {s.name!r} is the same skill as {where}.{first_at} ({first.name!r}, {skill_id}); "
            f"merged into one, at level {one.level}"
        )
    return [(sid, c, s) for sid, (_, c, s) in merged.items()], warnings


# Built once: every profile read runs them.
_SKILL_COLUMNS = {**{f: getattr(AgentSkill, f) for f in AgentSkillPublic.model_fields if f not in ("label", "status")},
                  "label": col(Skill.label_fr).label("label"), "status": Skill.status}
_SKILLS_OF = (
    select(AgentSkill.agent_id, *_SKILL_COLUMNS.values())
    .join(Skill, col(Skill.id) == AgentSkill.skill_id)
    .where(col(AgentSkill.agent_id).in_(sa.bindparam("ids", expanding=True)))
    .order_by(col(AgentSkill.level).desc(), col(AgentSkill.id))
)
# One agent's skills as its profile shows them: a statement whose text never changes (an expanding IN is rendered
# again on every run), which PostgreSQL keeps prepared. Run on the driver's cursor, as the other reads of one profile.
_SKILLS_OF_ONE = Prepared(
    select(*_SKILL_COLUMNS.values())
    .join(Skill, col(Skill.id) == AgentSkill.skill_id)
    .where(AgentSkill.agent_id == sa.bindparam("agent_id"))
    .order_by(col(AgentSkill.level).desc(), col(AgentSkill.id))
)
# One agent's skills with their fields in the order of AgentSkillPublic, as its list answers them.
_SKILLS_LISTED = Prepared(
    select(*(_SKILL_COLUMNS[f] for f in AgentSkillPublic.model_fields))
    .join(Skill, col(Skill.id) == AgentSkill.skill_id)
    .where(AgentSkill.agent_id == sa.bindparam("agent_id"))
    .order_by(col(AgentSkill.level).desc(), col(AgentSkill.id))
)
_IS_LIVE = Prepared(select(Agent.id).where(Agent.id == sa.bindparam("agent_id"), col(Agent.erased_at).is_(None)))
_TOUCH = (sa.update(Agent).where(col(Agent.id) == sa.bindparam("agent_id"), col(Agent.erased_at).is_(None))
          .values(updated_at=sa.bindparam("now")))
_SKILL_LABEL = select(Skill.label_fr, Skill.status).where(Skill.id == sa.bindparam("skill_id"))
_WINDOWS_OF = Prepared(select(*(getattr(Availability, f).label(f) for f in AvailabilityPublic.model_fields))
                       .where(Availability.agent_id == sa.bindparam("agent_id")).order_by(col(Availability.start)))


class AgentService:
    def __init__(self, session: Session) -> None:
        self.session = session
        self._resolver: SkillResolver | None = None
        # What the writes of this service changed in what was sent (merged skills), for the response.
        self.warnings: builtins.list[str] = []

    @property
    def resolver(self) -> SkillResolver:
        if self._resolver is None:
            self._resolver = SkillResolver(self.session)
        return self._resolver

    # ---------------------------------------------------------------- agents
    def get(self, agent_id: int) -> Agent:
        agent = self.session.get(Agent, agent_id)
        if agent is None or agent.erased_at is not None:
            raise NotFoundError(f"agent {agent_id} not found", field="agent_id")
        return agent

    def require(self, agent_id: int) -> None:
        """404 unless the agent exists and is not erased (one indexed lookup, no mapped object)."""
        if _IS_LIVE.first(self.session.connection(), {"agent_id": agent_id}) is None:
            raise NotFoundError(f"agent {agent_id} not found", field="agent_id")

    def skills_view(self, agent_id: int) -> builtins.list[dict[str, Any]]:
        """An agent's skills as the API lists them (the fields of ``AgentSkillPublic``), as plain dicts."""
        self.require(agent_id)
        return _SKILLS_LISTED.dicts(self.session.connection(), {"agent_id": agent_id})

    def availability_view(self, agent_id: int) -> builtins.list[dict[str, Any]]:
        """An agent's windows as the API lists them (the fields of ``AvailabilityPublic``), as plain dicts."""
        self.require(agent_id)
        return _WINDOWS_OF.dicts(self.session.connection(), {"agent_id": agent_id})

    def get_by_email(self, email: str) -> Agent | None:
        return self.session.exec(select(Agent).where(func.lower(Agent.email) == email.lower())).first()

    def list(self, filters: AgentFilters, *, limit: int = 50, offset: int = 0) -> tuple[Sequence[Agent], int]:
        query = select(Agent).where(col(Agent.erased_at).is_(None))
        if not filters.include_private:
            query = query.where(Agent.visibility != "private")
        if filters.ministry:
            query = query.where(Agent.ministry == filters.ministry)
        if filters.location:
            query = query.where(func.lower(Agent.location) == filters.location.lower())
        if filters.q:
            like = f"%{filters.q.lower()}%"
            searched = [func.lower(Agent.name).like(like)]
            if filters.personal:
                searched.append(func.lower(Agent.email).like(like))
            query = query.where(sa.or_(*searched))
        if filters.skill:
            skill_id = self.resolver.resolve(filters.skill).skill_id or filters.skill
            having = select(AgentSkill.agent_id).where(AgentSkill.skill_id == skill_id)
            if filters.min_level:
                having = having.where(AgentSkill.level >= filters.min_level)
            query = query.where(col(Agent.id).in_(having))
        if filters.available_on:
            day = filters.available_on
            query = query.where(
                col(Agent.id).in_(
                    select(Availability.agent_id).where(Availability.start <= day, Availability.end >= day)
                )
            )
        total = self.session.exec(select(func.count()).select_from(query.subquery())).one()
        rows = self.session.exec(query.order_by(col(Agent.id)).offset(offset).limit(limit)).all()
        return rows, int(total)

    def create(self, data: AgentCreate) -> Agent:
        self._check_unique(email=str(data.email), external_id=data.external_id)
        for i, window in enumerate(data.availability):
            check_share_above_floor(window.share, f"availability.{i}.share")
        agent = Agent.model_validate(data.model_dump(exclude={"skills", "availability"}))
        agent.email = str(data.email)
        agent.manager_email = str(data.manager_email) if data.manager_email else None
        self._check_manager(agent)
        self.session.add(agent)
        self.session.flush()
        resolved = [(*self.resolver.skill_id_for(skill.name), skill) for skill in data.skills]
        merged, warnings = merge_agent_skills(resolved)
        self.warnings.extend(warnings)
        for skill_id, confidence, skill in merged:
            self._add_skill_row(agent.id, skill_id, confidence, skill)  # type: ignore[arg-type]
        for window in data.availability:
            self.add_availability(agent.id, window)  # type: ignore[arg-type]
        return agent

    def update(self, agent_id: int, data: AgentUpdate) -> Agent:
        agent = self.get(agent_id)
        changes = data.model_dump(exclude_unset=True)
        for key in ("email", "manager_email"):
            if changes.get(key) is not None:
                changes[key] = str(changes[key])
        if changes.get("email") and changes["email"].lower() != agent.email.lower():
            self._check_unique(email=changes["email"])
        if changes.get("external_id") and changes["external_id"] != agent.external_id:
            self._check_unique(external_id=changes["external_id"])
        refuse_nulls(changes, "name", "email", "ministry", "service", "grade", "location", "remote", "visibility",
                     "bio", "languages")
        agent.sqlmodel_update(changes)
        self._check_manager(agent)
        self.touch(agent)
        return agent

    @staticmethod
    def _check_manager(agent: Agent) -> None:
        if agent.manager_email and manager_of(agent) is None:
            raise ValidationFailedError(MANAGER_IS_SOMEONE_ELSE, field="manager_email")

    def delete(self, agent_id: int) -> None:
        agent = self.get(agent_id)
        self.session.delete(agent)
        self.session.flush()

    def touch(self, agent: Agent) -> None:
        """Mark the profile changed: the ranking index refreshes changed agents only."""
        agent.updated_at = utcnow()
        self.session.add(agent)
        self.session.flush()

    def touch_id(self, agent_id: int) -> None:
        """:meth:`touch` by the agent's id, without loading the profile; 404 if there is no such agent."""
        if not self.session.connection().execute(_TOUCH, {"agent_id": agent_id, "now": utcnow()}).rowcount:
            raise NotFoundError(f"agent {agent_id} not found", field="agent_id")

    def public_view(self, agent_id: int) -> dict[str, Any]:
        """A profile as the API shows it (the fields of ``AgentPublic``), read as rows into plain dicts, which the
        response encodes as they are: no mapped object, no model built."""
        self.session.flush()  # what this request wrote is read back (the connection does not autoflush)
        conn = self.session.connection()
        profile = profile_seen_by_check(self.session, agent_id)
        if profile is None:
            profile = PROFILE_AS_SHOWN.first(conn, {"agent_id": agent_id})
            if profile is None:
                raise NotFoundError(f"agent {agent_id} not found", field="agent_id")
        skills = _SKILLS_OF_ONE.dicts(conn, {"agent_id": agent_id})
        windows = _WINDOWS_OF.dicts(conn, {"agent_id": agent_id})
        return {**profile, "skills": skills, "availability": windows, "warnings": list(self.warnings)}

    def to_public(self, agent: Agent) -> AgentPublic:
        # Rows the database gave back are valid already: built without validating them again (every field
        # given: pydantic inspects a default factory's signature each time it calls one).
        return AgentPublic.model_construct(
            **agent.model_dump(), skills=self.skills(agent.id), availability=self.availability(agent.id),  # type: ignore[arg-type]
            warnings=list(self.warnings),
        )

    def to_listed_many(self, agents: Sequence[Agent], *, personal: bool) -> builtins.list[AgentListed]:
        """Agents as a list shows them, the skills and windows of the whole page read in two queries."""
        ids = [a.id for a in agents if a.id is not None]
        skills = self._skills_of(ids)
        windows: dict[int, builtins.list[AvailabilityPublic]] = {}
        if ids:
            for w in self.session.exec(select(Availability).where(col(Availability.agent_id).in_(ids))
                                       .order_by(col(Availability.start))).all():
                windows.setdefault(w.agent_id, []).append(AvailabilityPublic.model_validate(w))
        hidden = {} if personal else {"email": None, "manager_email": None, "bio": None}
        return [
            AgentListed.model_validate({**a.model_dump(), "skills": skills.get(a.id, []),  # type: ignore[arg-type]
                                        "availability": windows.get(a.id, []), **hidden})  # type: ignore[arg-type]
            for a in agents
        ]

    def _check_unique(self, *, email: str | None = None, external_id: str | None = None) -> None:
        if email and self.get_by_email(email) is not None:
            raise ConflictError(f"an agent with e-mail {email} already exists", field="email")
        if external_id and self.session.exec(select(Agent.id).where(Agent.external_id == external_id)).first():
            raise ConflictError(f"an agent with external_id {external_id!r} already exists", field="external_id")

    # ---------------------------------------------------------------- skills
    def skills(self, agent_id: int) -> builtins.list[AgentSkillPublic]:
        return self._skills_of([agent_id]).get(agent_id, [])

    def _skills_of(self, agent_ids: Sequence[int]) -> dict[int, builtins.list[AgentSkillPublic]]:
        if not agent_ids:
            return {}
        out: dict[int, builtins.list[AgentSkillPublic]] = {}
        self.session.flush()  # what this request wrote is read back (the connection does not autoflush)
        for row in self.session.connection().execute(_SKILLS_OF, {"ids": list(agent_ids)}).all():
            fields = row._asdict()
            out.setdefault(fields.pop("agent_id"), []).append(AgentSkillPublic.model_construct(**fields))
        return out

    def add_skill(self, agent_id: int, data: AgentSkillCreate) -> AgentSkillPublic:
        agent = self.get(agent_id)
        skill_id, confidence = self.resolver.skill_id_for(data.name)
        existing = self.session.exec(
            select(AgentSkill).where(AgentSkill.agent_id == agent_id, AgentSkill.skill_id == skill_id)
        ).first()
        if existing is not None:
            raise ConflictError(
                f"the profile already has skill {skill_id!r} (typed {existing.typed!r}); update it instead",
                field="name",
            )
        row = self._add_skill_row(agent_id, skill_id, confidence, data)
        self.touch(agent)
        return self._skill_public(row)

    def _add_skill_row(self, agent_id: int, skill_id: str, confidence: float, data: SkillInput) -> AgentSkill:
        row = AgentSkill(
            agent_id=agent_id,
            skill_id=skill_id,
            typed=data.name.strip()[:200],
            confidence=confidence,
            level=data.level,
            years=data.years,
            last_used=data.last_used,
            interest=data.interest,
        )
        self.session.add(row)
        return row

    def update_skill(self, agent_id: int, skill_row_id: int, data: AgentSkillUpdate) -> AgentSkillPublic:
        row = self._skill_row(agent_id, skill_row_id)
        changes = data.model_dump(exclude_unset=True)
        refuse_nulls(changes, "level")
        row.sqlmodel_update(changes)
        self.session.add(row)
        self.touch_id(agent_id)
        return self._skill_public(row)

    def remove_skill(self, agent_id: int, skill_row_id: int) -> None:
        row = self._skill_row(agent_id, skill_row_id)
        self.session.delete(row)
        self.touch_id(agent_id)

    def _skill_row(self, agent_id: int, skill_row_id: int) -> AgentSkill:
        row = self.session.get(AgentSkill, skill_row_id)
        if row is None or row.agent_id != agent_id:
            raise NotFoundError(f"skill {skill_row_id} not found on agent {agent_id}", field="skill_id")
        return row

    def _skill_public(self, row: AgentSkill) -> AgentSkillPublic:
        self.session.flush()
        skill = self.session.connection().execute(_SKILL_LABEL, {"skill_id": row.skill_id}).first()
        return AgentSkillPublic.model_validate(
            {
                **row.model_dump(),
                "label": skill.label_fr if skill else row.typed,
                "status": skill.status if skill else "pending",
            }
        )

    # ---------------------------------------------------------------- availability
    def availability(self, agent_id: int) -> builtins.list[AvailabilityPublic]:
        rows = self.session.execute(_WINDOWS_OF.statement, {"agent_id": agent_id}).all()
        return [AvailabilityPublic.model_construct(**r._asdict()) for r in rows]

    def add_availability(self, agent_id: int, data: AvailabilityCreate) -> AvailabilityPublic:
        agent = self.get(agent_id)
        check_share_above_floor(data.share, "share")
        row = Availability(agent_id=agent_id, start=data.start, end=data.end, share=data.share)
        self.session.add(row)
        self.touch(agent)
        return AvailabilityPublic.model_validate(row)

    def update_availability(self, agent_id: int, window_id: int, data: AvailabilityCreate) -> AvailabilityPublic:
        row = self._window(agent_id, window_id)
        check_share_above_floor(data.share, "share")
        row.start, row.end, row.share = data.start, data.end, data.share
        self.session.add(row)
        self.touch_id(agent_id)
        return AvailabilityPublic.model_validate(row)

    def remove_availability(self, agent_id: int, window_id: int) -> None:
        self.session.delete(self._window(agent_id, window_id))
        self.touch_id(agent_id)

    def _window(self, agent_id: int, window_id: int) -> Availability:
        row = self.session.get(Availability, window_id)
        if row is None or row.agent_id != agent_id:
            raise NotFoundError(f"availability window {window_id} not found on agent {agent_id}", field="window_id")
        return row
