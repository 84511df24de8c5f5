"""Tables and schemas of projects, FTE pledges, needs, roles and the skills roles ask for."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

import sqlalchemy as sa
from pydantic import field_validator, model_validator
from sqlmodel import Field, SQLModel

from profiles.models import SkillLink, skill_link_rules
from talents.kernel.db import UTCDateTime, utcnow
from talents.kernel.fields import Email, ProgrammeDate, StrictNumbers, period_end

__all__ = [
    "NEED_STATUSES",
    "Need",
    "NeedCreate",
    "NeedPublic",
    "NeedUpdate",
    "Pledge",
    "PledgeInput",
    "Project",
    "ProjectCreate",
    "ProjectPublic",
    "ProjectUpdate",
    "Role",
    "RoleCreate",
    "RolePublic",
    "RoleSkill",
    "RoleSkillInput",
    "RoleSkillPublic",
    "RoleUpdate",
]

NeedStatus = Literal["draft", "open", "staffed", "closed", "cancelled"]
NEED_STATUSES: tuple[str, ...] = ("draft", "open", "staffed", "closed", "cancelled")



# --------------------------------------------------------------------------- projects
class ProjectBase(SQLModel):
    name: str = Field(min_length=1, max_length=200)
    ministry: str = Field(min_length=1, max_length=120, index=True)
    lead_email: str | None = Field(default=None, max_length=254)
    description: str = Field(default="", max_length=8000)
    fte_needed: float = Field(default=0, ge=0, le=1000)


class Project(ProjectBase, table=True):
    __tablename__ = "project"

    id: int | None = Field(default=None, primary_key=True)
    external_id: str | None = Field(default=None, max_length=200, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Pledge(SQLModel, table=True):
    """FTE (ETP) a ministry pledged to a project."""

    __tablename__ = "pledge"
    __table_args__ = (
        sa.UniqueConstraint("project_id", "ministry", name="uq_pledge_project_ministry"),
        sa.CheckConstraint("fte >= 0", name="ck_pledge_fte"),
    )

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="project.id", index=True, ondelete="CASCADE")
    ministry: str = Field(max_length=120)
    fte: float


class PledgeInput(SQLModel, StrictNumbers):
    ministry: str = Field(min_length=1, max_length=120)
    fte: float = Field(ge=0, le=1000)


class ProjectCreate(ProjectBase, StrictNumbers):
    external_id: str | None = Field(default=None, min_length=1, max_length=200)
    lead_email: Email | None = None
    pledges: list[PledgeInput] = Field(default_factory=list, max_length=100)

    @model_validator(mode="after")
    def _one_pledge_per_ministry(self) -> ProjectCreate:
        seen = [p.ministry for p in self.pledges]
        if len(seen) != len(set(seen)):
            raise ValueError("pledges: one pledge per ministry")
        return self


class ProjectUpdate(SQLModel, StrictNumbers):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    ministry: str | None = Field(default=None, min_length=1, max_length=120)
    lead_email: Email | None = None
    description: str | None = Field(default=None, max_length=8000)
    fte_needed: float | None = Field(default=None, ge=0, le=1000)
    pledges: list[PledgeInput] | None = Field(default=None, max_length=100)


class ProjectPublic(ProjectBase):
    id: int
    external_id: str | None
    created_at: datetime
    pledges: list[PledgeInput] = Field(default_factory=list)


# --------------------------------------------------------------------------- needs
class NeedBase(SQLModel):
    title: str = Field(min_length=1, max_length=300)
    description: str = Field(default="", max_length=8000)
    ministry: str = Field(default="", max_length=120)
    priority: int = Field(default=3, ge=1, le=4, description="1 = government priority / crisis … 4 = lowest")
    flash: bool = Field(default=True, description="An équipe flash: a small multi-role team for a critical project")
    lead_email: str | None = Field(default=None, max_length=254)


class Need(NeedBase, table=True):
    __tablename__ = "need"
    __table_args__ = (
        sa.CheckConstraint("priority BETWEEN 1 AND 4", name="ck_need_priority"),
        sa.CheckConstraint("end_date >= start_date", name="ck_need_period"),
        # The order of every list of needs (highest priority, then soonest): a page reads the index, no sort.
        sa.Index("ix_need_priority_start", "priority", "start_date", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    external_id: str | None = Field(default=None, max_length=200, unique=True)
    project_id: int | None = Field(default=None, foreign_key="project.id", index=True, ondelete="SET NULL")
    start: date = Field(sa_column=sa.Column("start_date", sa.Date, nullable=False))
    end: date = Field(sa_column=sa.Column("end_date", sa.Date, nullable=False))
    status: str = Field(default="open", max_length=20, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class RoleSkillInput(SQLModel, StrictNumbers):
    """A skill a role asks for: taxonomy id or free text, the level, its weight, required or not."""

    name: str = Field(min_length=1, max_length=200)
    level: int = Field(default=3, ge=1, le=5)
    weight: float = Field(default=1.0, gt=0, le=10)
    required: bool = False


class RoleBase(SQLModel):
    title: str = Field(min_length=1, max_length=200)
    count: int = Field(default=1, ge=1, le=50)
    share: float = Field(gt=0, le=1, description="Share of working time each member gives; above the floor")
    location: str = Field(default="", max_length=120)
    remote: bool = True
    description: str = Field(default="", max_length=4000)
    strict: bool = Field(default=False, description="Only agents with every required skill at level")


class Role(RoleBase, table=True):
    __tablename__ = "role"
    __table_args__ = (
        sa.UniqueConstraint("need_id", "position", name="uq_role_need_position"),
        sa.CheckConstraint("share > 0 AND share <= 1", name="ck_role_share"),
        sa.CheckConstraint("count >= 1", name="ck_role_count"),
    )

    id: int | None = Field(default=None, primary_key=True)
    need_id: int = Field(foreign_key="need.id", index=True, ondelete="CASCADE")
    position: int = Field(ge=0)


class RoleSkill(SkillLink, table=True):
    """A skill a role asks for: level, weight, and whether it is required."""

    __tablename__ = "role_skill"
    __table_args__ = skill_link_rules("role_skill", "role_id")

    role_id: int = Field(foreign_key="role.id", index=True, ondelete="CASCADE")
    level: int = 3
    weight: float = 1.0
    required: bool = False


class RoleCreate(RoleBase, StrictNumbers):
    skills: list[RoleSkillInput] = Field(default_factory=list, max_length=50)


class RoleUpdate(SQLModel, StrictNumbers):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    count: int | None = Field(default=None, ge=1, le=50)
    share: float | None = Field(default=None, gt=0, le=1)
    location: str | None = Field(default=None, max_length=120)
    remote: bool | None = None
    description: str | None = Field(default=None, max_length=4000)
    strict: bool | None = None
    skills: list[RoleSkillInput] | None = Field(default=None, max_length=50)


class RoleSkillPublic(SQLModel):
    skill_id: str
    label: str
    typed: str
    level: int
    weight: float
    required: bool


class RolePublic(RoleBase):
    id: int
    need_id: int
    position: int
    skills: list[RoleSkillPublic] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list, description="What the write changed in what was sent "
                                                                  "(e.g. one skill named twice, merged)")


class NeedCreate(NeedBase, StrictNumbers):
    external_id: str | None = Field(default=None, min_length=1, max_length=200)
    project_id: int | None = Field(default=None, ge=1)
    project: str | None = Field(default=None, max_length=200, description="A project external id")
    start: ProgrammeDate
    end: ProgrammeDate
    status: NeedStatus = "open"
    lead_email: Email | None = None
    roles: list[RoleCreate] = Field(default_factory=list, max_length=30)

    _period = field_validator("end")(period_end)


class NeedUpdate(SQLModel, StrictNumbers):
    title: str | None = Field(default=None, min_length=1, max_length=300)
    description: str | None = Field(default=None, max_length=8000)
    ministry: str | None = Field(default=None, max_length=120)
    priority: int | None = Field(default=None, ge=1, le=4)
    flash: bool | None = None
    start: ProgrammeDate | None = None
    end: ProgrammeDate | None = None
    status: NeedStatus | None = None
    project_id: int | None = Field(default=None, ge=1)
    lead_email: Email | None = None
    # Not a column: why the priority changed, written to the need's audit trail with the change.
    reason: str | None = Field(default=None, max_length=2000)


class NeedPublic(NeedBase):
    id: int
    external_id: str | None
    project_id: int | None
    start: date
    end: date
    status: str
    created_at: datetime
    updated_at: datetime
    roles: list[RolePublic] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list, description="What the write changed in what was sent "
                                                                  "(e.g. one skill named twice, merged)")
