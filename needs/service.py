"""Projects, their FTE pledges, needs and roles. Business rules live here, not in handlers."""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from needs.models import (
    Need,
    NeedCreate,
    NeedPublic,
    NeedUpdate,
    Pledge,
    PledgeInput,
    Project,
    ProjectCreate,
    ProjectPublic,
    ProjectUpdate,
    Role,
    RoleBase,
    RoleCreate,
    RolePublic,
    RoleSkill,
    RoleSkillInput,
    RoleSkillPublic,
    RoleUpdate,
)
from profiles.models import Skill
from talents.kernel.api import as_dicts
from talents.kernel.db import utcnow
from talents.kernel.errors import ConflictError, NotFoundError, ValidationFailedError
from talents.kernel.events import Event, publish
from talents.kernel.fields import check_period, refuse_nulls
from talents.kernel.policy import check_share_above_floor
from talents.kernel.prepared import Prepared

__all__ = ["NeedFilters", "NeedService", "ProjectService", "SkillPort", "merge_role_skills", "needs_page"]


@runtime_checkable
class SkillPort(Protocol):
    """How this package reaches the taxonomy (the app passes the profiles' resolver)."""

    def skill_id_for(self, text: str) -> tuple[str, float]: ...


# --------------------------------------------------------------------------- projects
class ProjectService:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, project_id: int) -> Project:
        project = self.session.get(Project, project_id)
        if project is None:
            raise NotFoundError(f"project {project_id} not found", field="project_id")
        return project

    def get_by_external_id(self, external_id: str) -> Project | None:
        return self.session.exec(select(Project).where(Project.external_id == external_id)).first()

    def list(
        self, *, ministry: str | None = None, q: str | None = None, lead_email: str | None = None,
        limit: int = 50, offset: int = 0,
    ) -> tuple[Sequence[Project], int]:
        query = select(Project)
        if lead_email:
            query = query.where(func.lower(Project.lead_email) == lead_email.lower())
        if ministry:
            query = query.where(Project.ministry == ministry)
        if q:
            query = query.where(func.lower(Project.name).like(f"%{q.lower()}%"))
        total = self.session.exec(select(func.count()).select_from(query.subquery())).one()
        rows = self.session.exec(query.order_by(col(Project.id)).offset(offset).limit(limit)).all()
        return rows, int(total)

    def create(self, data: ProjectCreate) -> Project:
        if data.external_id and self.get_by_external_id(data.external_id):
            raise ConflictError(f"a project with external_id {data.external_id!r} already exists", field="external_id")
        project = Project.model_validate(data.model_dump(exclude={"pledges"}))
        project.lead_email = str(data.lead_email) if data.lead_email else None
        self.session.add(project)
        self.session.flush()
        self._set_pledges(project, data.pledges)
        return project

    def update(self, project_id: int, data: ProjectUpdate) -> Project:
        project = self.get(project_id)
        changes = data.model_dump(exclude_unset=True, exclude={"pledges"})
        refuse_nulls(changes, "name", "ministry", "description", "fte_needed")
        if changes.get("lead_email") is not None:
            changes["lead_email"] = str(changes["lead_email"])
        project.sqlmodel_update(changes)
        self.session.add(project)
        if data.pledges is not None:
            ministries = [p.ministry for p in data.pledges]
            if len(ministries) != len(set(ministries)):
                raise ValidationFailedError("pledges: one pledge per ministry", field="pledges")
            self._set_pledges(project, data.pledges)
        self.session.flush()
        return project

    def delete(self, project_id: int) -> None:
        self.session.delete(self.get(project_id))
        self.session.flush()

    def pledges(self, project_id: int) -> builtins.list[PledgeInput]:
        rows = self.session.exec(select(Pledge).where(Pledge.project_id == project_id).order_by(col(Pledge.id))).all()
        return [PledgeInput(ministry=p.ministry, fte=p.fte) for p in rows]

    def to_public(self, project: Project) -> ProjectPublic:
        return self.to_public_many([project])[0]

    def to_public_many(self, projects: Sequence[Project]) -> builtins.list[ProjectPublic]:
        """The projects as the API shows them, the pledges of the whole page read in one query."""
        rows = self.session.exec(
            select(Pledge).where(col(Pledge.project_id).in_([p.id for p in projects])).order_by(col(Pledge.id))
        ).all() if projects else []
        pledges: dict[int, builtins.list[PledgeInput]] = {}
        for row in rows:
            pledges.setdefault(row.project_id, []).append(PledgeInput(ministry=row.ministry, fte=row.fte))
        return [ProjectPublic.model_validate({**p.model_dump(), "pledges": pledges.get(p.id, [])})  # type: ignore[arg-type]
                for p in projects]

    def _set_pledges(self, project: Project, pledges: Iterable[PledgeInput]) -> None:
        self.session.execute(sa.delete(Pledge).where(col(Pledge.project_id) == project.id))
        for p in pledges:
            self.session.add(Pledge(project_id=project.id, ministry=p.ministry, fte=p.fte))  # type: ignore[arg-type]
        self.session.flush()


# --------------------------------------------------------------------------- needs
_ROLE_FIELDS = ("id", "need_id", "position", *RoleBase.model_fields)
_SKILL_OF_ROLE = tuple(f for f in RoleSkillPublic.model_fields if f != "label")  # the label comes last

# Built once, run on the driver's cursor: every list of needs runs it (the ids are bound as an expanding IN). The
# roles of the needs with their skills and the skills' labels, in one query: a role without skills comes once, with
# nulls for the skill.
_ROLES_WITH_SKILLS_OF = Prepared(
    sa.select(*(getattr(Role, f) for f in _ROLE_FIELDS), *(getattr(RoleSkill, f) for f in _SKILL_OF_ROLE),
              func.coalesce(Skill.label_fr, RoleSkill.typed).label("label"))
    .outerjoin(RoleSkill, col(RoleSkill.role_id) == Role.id)
    .outerjoin(Skill, col(Skill.id) == RoleSkill.skill_id)
    .where(col(Role.need_id).in_(sa.bindparam("ids", expanding=True)))
    .order_by(col(Role.need_id), col(Role.position), col(RoleSkill.id)))


# A need's public fields as columns labelled with their names, and the count of all the needs the query matches
# on each row (a window: computed before the page is cut); the usual page and its count built once.
_NEED_COLUMNS = tuple(getattr(Need, f).label(f) for f in NeedPublic.model_fields if f not in ("roles", "warnings"))
_TOTAL = "total_matching"
_WITH_TOTAL = (*_NEED_COLUMNS, func.count().over().label(_TOTAL))
_NEED_ORDER = (col(Need.priority), col(Need.start), col(Need.id))
_COUNT_NEEDS = Prepared(sa.select(func.count()).select_from(Need))
_PAGE_OF_NEEDS = Prepared(sa.select(*_WITH_TOTAL).order_by(*_NEED_ORDER)
                          .limit(sa.bindparam("limit")).offset(sa.bindparam("offset")))


@dataclass(frozen=True)
class NeedFilters:
    status: str | None = None
    priority: int | None = None
    project_id: int | None = None
    ministry: str | None = None
    flash: bool | None = None
    q: str | None = None
    lead_email: str | None = None  # needs this person leads, directly or through their project


_NO_FILTERS = NeedFilters()

def merge_role_skills(
    resolved: Sequence[tuple[str, RoleSkillInput]], where: str = "skills"
) -> tuple[builtins.list[tuple[str, RoleSkillInput]], builtins.list[str]]:
    """One requirement per skill: names that resolve to the same skill ("sécurité informatique" and
    "cybersécurité") become one, at the highest level and weight, required if either is; each merge is
    said in a warning."""
    merged: dict[str, tuple[int, RoleSkillInput]] = {}
    warnings: builtins.list[str] = []
    for i, (skill_id, s) in enumerate(resolved):
        if skill_id not in merged:
            merged[skill_id] = (i, s)
            continue
        first_at, first = merged[skill_id]
        one = first.model_copy(update={"level": max(first.level, s.level), "weight": max(first.weight, s.weight),
                                       "required": first.required or s.required})
        merged[skill_id] = (first_at, one)
        warnings.append(
            f"{where}.{i}.name: {s.name!r} is the same skill as {where}.{first_at} ({first.name!r}, {skill_id}); "
            f"merged into one requirement: level {one.level}, {'required' if one.required else 'optional'}"
        )
    return [(sid, s) for sid, (_, s) in merged.items()], warnings


class NeedService:
    def __init__(self, session: Session, skills: SkillPort) -> None:
        self.session = session
        self.skills = skills
        # What the writes of this service changed in what was sent (merged skills), for the response.
        self.warnings: builtins.list[str] = []

    # ---------------------------------------------------------------- needs
    def get(self, need_id: int) -> Need:
        need = self.session.get(Need, need_id)
        if need is None:
            raise NotFoundError(f"need {need_id} not found", field="need_id")
        return need

    def get_by_external_id(self, external_id: str) -> Need | None:
        return self.session.exec(select(Need).where(Need.external_id == external_id)).first()

    def list(self, filters: NeedFilters, *, limit: int = 50, offset: int = 0) -> tuple[Sequence[Need], int]:
        query = self._filtered(select(Need), filters)
        total = self.session.exec(select(func.count()).select_from(query.subquery())).one()
        rows = self.session.exec(
            query.order_by(col(Need.priority), col(Need.start), col(Need.id)).offset(offset).limit(limit)
        ).all()
        return rows, int(total)

    @staticmethod
    def _filtered(query: Any, filters: NeedFilters) -> Any:
        if filters.status:
            query = query.where(Need.status == filters.status)
        if filters.priority:
            query = query.where(Need.priority == filters.priority)
        if filters.project_id:
            query = query.where(Need.project_id == filters.project_id)
        if filters.ministry:
            query = query.where(Need.ministry == filters.ministry)
        if filters.flash is not None:
            query = query.where(Need.flash == filters.flash)
        if filters.q:
            query = query.where(func.lower(Need.title).like(f"%{filters.q.lower()}%"))
        if filters.lead_email:
            email = filters.lead_email.lower()
            led = select(Project.id).where(func.lower(Project.lead_email) == email)
            query = query.where(sa.or_(func.lower(Need.lead_email) == email, col(Need.project_id).in_(led)))
        return query

    def create(self, data: NeedCreate) -> Need:
        if data.external_id and self.get_by_external_id(data.external_id):
            raise ConflictError(f"a need with external_id {data.external_id!r} already exists", field="external_id")
        for i, role in enumerate(data.roles):
            check_share_above_floor(role.share, f"roles.{i}.share")
        need = Need.model_validate(data.model_dump(exclude={"roles", "project"}))
        need.lead_email = str(data.lead_email) if data.lead_email else None
        need.project_id = self._project_id(data)
        self.session.add(need)
        self.session.flush()
        for i, role in enumerate(data.roles):
            self.add_role(need.id, role, where=f"roles.{i}.skills")  # type: ignore[arg-type]
        publish(self.session, Event("need.created", {**self._event_data(need), "event_id": f"need-{need.id}-created"}))
        return need

    def update(self, need_id: int, data: NeedUpdate, actor: str = "system") -> Need:
        need = self.get(need_id)
        changes = data.model_dump(exclude_unset=True, exclude={"reason"})
        refuse_nulls(changes, "title", "description", "ministry", "priority", "start", "end", "status", "flash")
        if changes.get("project_id") is not None:
            ProjectService(self.session).get(changes["project_id"])
        if changes.get("lead_email") is not None:
            changes["lead_email"] = str(changes["lead_email"])
        try:
            check_period(changes.get("start", need.start), changes.get("end", need.end))
        except ValueError as exc:
            raise ValidationFailedError(str(exc), field="end") from exc
        old_priority = need.priority
        need.sqlmodel_update(changes)
        need.updated_at = utcnow()
        self.session.add(need)
        self.session.flush()
        if need.priority != old_priority:
            reason = (data.reason or "").strip()
            publish(self.session, Event(
                "need.priority_changed",
                {**self._event_data(need), "old_priority": old_priority, **({"reason": reason} if reason else {})},
                actor=actor,
            ))
        return need

    def _event_data(self, need: Need) -> dict[str, object]:
        """What subscribers (notifications) need to know of a need, without reading this package."""
        return {
            "need_id": need.id,
            "need_title": need.title,
            "priority": need.priority,
            "lead_email": need.lead_email,
            "start": need.start.isoformat(),
            "end": need.end.isoformat(),
        }

    def delete(self, need_id: int) -> None:
        self.session.delete(self.get(need_id))
        self.session.flush()

    def to_public(self, need: Need) -> NeedPublic:
        return self.to_public_many([need])[0]

    def to_public_many(self, needs: Sequence[Need]) -> builtins.list[NeedPublic]:
        """The needs as the API shows them, their roles and skills read in three queries for the whole page.

        Rows the database gave back are valid already: the public models are built without validating again."""
        roles = self._roles_of([n.id for n in needs if n.id is not None])
        return [
            NeedPublic.model_construct(**need.model_dump(), roles=roles.get(need.id, []),  # type: ignore[arg-type]
                                       warnings=list(self.warnings))
            for need in needs
        ]

    def role_public(self, need_id: int, role_id: int) -> RolePublic:
        """A role as the API shows it, with the warnings of the write that just changed it."""
        public = next(r for r in self.roles(need_id) if r.id == role_id)
        return public.model_copy(update={"warnings": list(self.warnings)})

    def _project_id(self, data: NeedCreate) -> int | None:
        projects = ProjectService(self.session)
        if data.project_id is not None:
            return projects.get(data.project_id).id
        if data.project:
            project = projects.get_by_external_id(data.project)
            if project is None:  # the bulk contract: an unknown project is created
                project = projects.create(
                    ProjectCreate(name=data.project, external_id=data.project, ministry=data.ministry or "Non précisé")
                )
            return project.id
        return None

    # ---------------------------------------------------------------- roles
    def roles(self, need_id: int) -> builtins.list[RolePublic]:
        return self._roles_of([need_id]).get(need_id, [])

    def _roles_of(self, need_ids: Sequence[int]) -> dict[int, builtins.list[RolePublic]]:
        """The roles of these needs as public models (built without validating again: the rows are valid)."""
        return {need_id: [RolePublic.model_construct(**{**role, "skills": [RoleSkillPublic.model_construct(**s)
                                                                            for s in role["skills"]]})
                          for role in roles]
                for need_id, roles in _role_rows_of(self.session, need_ids).items()}

    def role_at(self, need_id: int, position: int) -> Role:
        role = self.session.exec(select(Role).where(Role.need_id == need_id, Role.position == position)).first()
        if role is None:
            raise NotFoundError(f"need {need_id} has no role at position {position}", field="role")
        return role

    def add_role(self, need_id: int, data: RoleCreate, where: str = "skills") -> Role:
        need = self.get(need_id)
        check_share_above_floor(data.share, "share")
        position = self.session.exec(select(func.count()).where(Role.need_id == need_id)).one()
        role = Role.model_validate({**data.model_dump(exclude={"skills"}), "need_id": need.id, "position": position})
        self.session.add(role)
        self.session.flush()
        self._set_role_skills(role, data.skills, where)
        self._touch(need)
        return role

    def update_role(self, need_id: int, position: int, data: RoleUpdate) -> Role:
        role = self.role_at(need_id, position)
        changes = data.model_dump(exclude_unset=True, exclude={"skills"})
        refuse_nulls(changes, "title", "count", "share", "location", "remote", "description", "strict")
        if "share" in changes:
            check_share_above_floor(changes["share"], "share")
        role.sqlmodel_update(changes)
        self.session.add(role)
        if data.skills is not None:
            self._set_role_skills(role, data.skills)
        self._touch(self.get(need_id))
        return role

    def delete_role(self, need_id: int, position: int) -> None:
        role = self.role_at(need_id, position)
        self.session.delete(role)
        self.session.flush()
        # Positions stay contiguous (the CLI and the bulk contract address roles by position);
        # two passes so the unique (need, position) constraint never sees a duplicate.
        later = self.session.exec(
            select(Role).where(Role.need_id == need_id, Role.position > position).order_by(col(Role.position))
        ).all()
        for r in later:
            r.position = -r.position
            self.session.add(r)
        self.session.flush()
        for r in later:
            r.position = -r.position - 1
            self.session.add(r)
        self._touch(self.get(need_id))

    def replace_roles(self, need: Need, roles: Sequence[RoleCreate]) -> None:
        """Upsert by position (imports): keep role ids — assignments point at them — drop extra roles."""
        existing = {r.position: r for r in self.session.exec(select(Role).where(Role.need_id == need.id)).all()}
        for i, data in enumerate(roles):
            check_share_above_floor(data.share, f"roles.{i}.share")
            role = existing.pop(i, None)
            if role is None:
                role = Role(need_id=need.id, position=i, **data.model_dump(exclude={"skills"}))  # type: ignore[arg-type]
            else:
                role.sqlmodel_update(data.model_dump(exclude={"skills"}))
            self.session.add(role)
            self.session.flush()
            self._set_role_skills(role, data.skills, f"roles.{i}.skills")
        for role in existing.values():
            self.session.delete(role)
        self.session.flush()

    def _set_role_skills(self, role: Role, skills: Iterable[RoleSkillInput], where: str = "skills") -> None:
        self.session.execute(sa.delete(RoleSkill).where(col(RoleSkill.role_id) == role.id))
        resolved = [(self.skills.skill_id_for(s.name)[0], s) for s in skills]
        merged, warnings = merge_role_skills(resolved, where)
        self.warnings.extend(warnings)
        for skill_id, s in merged:
            self.session.add(
                RoleSkill(
                    role_id=role.id,
                    skill_id=skill_id,
                    typed=s.name.strip()[:200],  # type: ignore[arg-type]
                    level=s.level,
                    weight=s.weight,
                    required=s.required,
                )
            )
        self.session.flush()

    def _touch(self, need: Need) -> None:
        need.updated_at = utcnow()
        self.session.add(need)
        self.session.flush()


def needs_page(session: Session, filters: NeedFilters, *, limit: int = 50, offset: int = 0) -> tuple[
        builtins.list[dict[str, Any]], int]:
    """A page of needs as the API shows them (the fields of ``NeedPublic``), and the count of all that match:
    rows read on the session's connection and laid out as plain dicts, which the response encodes as they are
    (no mapped objects, no models built or validated again)."""
    conn = session.connection()
    if filters == _NO_FILTERS:  # the usual page: statements built once
        rows = _PAGE_OF_NEEDS.dicts(conn, {"limit": limit, "offset": offset})
        # The count comes with the page's rows; a page past the end has none to carry it: then it is counted apart.
        total = rows[0][_TOTAL] if rows else _COUNT_NEEDS.scalar(conn)
    else:
        query = NeedService._filtered(sa.select(*_WITH_TOTAL), filters)
        rows = as_dicts(conn.execute(query.order_by(*_NEED_ORDER).offset(offset).limit(limit)))
        count = sa.select(func.count()).select_from(NeedService._filtered(sa.select(Need.id), filters).subquery())
        total = rows[0][_TOTAL] if rows else conn.execute(count).scalar_one()
    roles = _role_rows_of(session, [r["id"] for r in rows])
    for row in rows:
        del row[_TOTAL]
        row["roles"], row["warnings"] = roles.get(row["id"], []), []
    return rows, int(total)


def _role_rows_of(session: Session, need_ids: Sequence[int]) -> dict[int, builtins.list[dict[str, Any]]]:
    """The roles of these needs as the API shows them (the fields of ``RolePublic``, in plain dicts), by need, in
    position order, with their skills and labels: rows, not mapped objects (nothing here is changed)."""
    if not need_ids:
        return {}
    session.flush()  # what this request wrote is read back (the connection does not autoflush)
    out: dict[int, builtins.list[dict[str, Any]]] = {}
    role: dict[str, Any] = {}
    skill_keys = (*_SKILL_OF_ROLE, "label")
    n = len(_ROLE_FIELDS)
    _, rows = _ROLES_WITH_SKILLS_OF.tuples(session.connection(), {"ids": list(need_ids)})
    for row in rows:
        if row[0] != role.get("id"):
            role = dict(zip(_ROLE_FIELDS, row[:n], strict=True))
            role["skills"], role["warnings"] = [], []
            out.setdefault(role["need_id"], []).append(role)
        if row[n] is not None:  # the skill's id: none for a role without skills
            role["skills"].append(dict(zip(skill_keys, row[n:], strict=True)))
    return out
