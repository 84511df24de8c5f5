"""Tables and schemas of agents, their skills, availability windows and the skill taxonomy."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Literal

import sqlalchemy as sa
from pydantic import Field as PydanticField
from pydantic import field_validator
from sqlmodel import Field, SQLModel

from talents.kernel.db import UTCDateTime, utcnow
from talents.kernel.fields import Email, ProgrammeDate, StrictNumbers, period_end

__all__ = [
    "AccessLog",
    "Agent",
    "AgentCreate",
    "AgentListed",
    "AgentPublic",
    "AgentSkill",
    "AgentSkillCreate",
    "AgentSkillPublic",
    "AgentSkillUpdate",
    "AgentUpdate",
    "Availability",
    "AvailabilityCreate",
    "AvailabilityPublic",
    "Skill",
    "SkillCreate",
    "SkillInput",
    "SkillPublic",
    "SkillUpdate",
    "skill_link_rules",
]

_SLUG = re.compile(r"[a-z0-9][a-z0-9:._\-]*")
Visibility = Literal["public", "ministry", "private"]
SkillStatus = Literal["active", "pending", "retired"]



# --------------------------------------------------------------------------- taxonomy
class SkillBase(SQLModel):
    label_fr: str = Field(min_length=1, max_length=200)
    label_en: str = Field(default="", max_length=200)
    category: str = Field(default="", max_length=120)
    source: str | None = Field(default=None, max_length=500)
    description: str = Field(default="", max_length=4000)


class Skill(SkillBase, table=True):
    """A skill of the taxonomy. ``pending`` skills were typed by someone and await curation."""

    __tablename__ = "skill"

    id: str = Field(primary_key=True, max_length=200)
    aliases: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    related: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    # ids of the occupations that list the skill (ESCO occupation–skill relations), read by ranking
    occupations: list[str] = Field(
        default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False, server_default="[]")
    )
    status: str = Field(default="active", max_length=20, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class SkillCreate(SkillBase):
    id: str = Field(min_length=1, max_length=200, description="A lowercase slug: letters, digits, : . _ -")
    aliases: list[str] = Field(default_factory=list, max_length=100)
    related: list[str] = Field(default_factory=list, max_length=50)

    @field_validator("id")
    @classmethod
    def _id_is_a_slug(cls, v: str) -> str:
        if not _SLUG.fullmatch(v):
            raise ValueError("id must be a lowercase slug (letters, digits, ':', '.', '_', '-')")
        return v


class SkillUpdate(SQLModel):
    label_fr: str | None = Field(default=None, min_length=1, max_length=200)
    label_en: str | None = Field(default=None, max_length=200)
    category: str | None = Field(default=None, max_length=120)
    source: str | None = Field(default=None, max_length=500)
    description: str | None = Field(default=None, max_length=4000)
    aliases: list[str] | None = Field(default=None, max_length=100)
    related: list[str] | None = Field(default=None, max_length=50)
    status: SkillStatus | None = None


class SkillPublic(SkillBase):
    id: str
    aliases: list[str]
    related: list[str]
    status: str


# --------------------------------------------------------------------------- agents
class AgentBase(SQLModel):
    name: str = Field(min_length=1, max_length=200)
    ministry: str = Field(min_length=1, max_length=120, index=True)
    service: str = Field(default="", max_length=200)
    grade: str = Field(default="", max_length=120)
    location: str = Field(default="", max_length=120)
    remote: bool = True
    manager_email: str | None = Field(default=None, max_length=254)
    visibility: str = Field(default="public", max_length=20)
    bio: str = Field(default="", max_length=4000)


class Agent(AgentBase, table=True):
    """A civil servant with digital skills."""

    __tablename__ = "agent"
    # E-mails are unique whatever their case; the index also serves the lookups by e-mail.
    __table_args__ = (sa.Index("ux_agent_email_lower", sa.func.lower(sa.column("email")), unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    external_id: str | None = Field(default=None, max_length=200, unique=True)
    email: str = Field(max_length=254, unique=True)
    languages: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    erased_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)  # DINUM counts the others


class _AgentInputChecks(SQLModel):
    @field_validator("visibility", check_fields=False)
    @classmethod
    def _visibility_known(cls, v: str | None) -> str | None:
        if v is not None and v not in ("public", "ministry", "private"):
            raise ValueError("visibility must be one of public, ministry, private")
        return v


class SkillInput(StrictNumbers):
    """A skill as people type it: a taxonomy id or free text, normalised against the taxonomy."""

    name: str = PydanticField(min_length=1, max_length=200)
    level: int = PydanticField(ge=1, le=5)
    years: float | None = PydanticField(default=None, ge=0, le=60)
    last_used: date | None = None
    interest: int | None = PydanticField(default=None, ge=1, le=5)


class AvailabilityCreate(StrictNumbers):
    start: ProgrammeDate
    end: ProgrammeDate
    share: float = PydanticField(gt=0, le=1)

    _period = field_validator("end")(period_end)


class AgentCreate(AgentBase, _AgentInputChecks):
    email: Email
    external_id: str | None = Field(default=None, min_length=1, max_length=200)
    languages: list[str] = Field(default_factory=list, max_length=20)
    manager_email: Email | None = None
    visibility: Visibility = "public"
    skills: list[SkillInput] = Field(default_factory=list, max_length=200)
    availability: list[AvailabilityCreate] = Field(default_factory=list, max_length=100)


class AgentUpdate(_AgentInputChecks):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    email: Email | None = None
    ministry: str | None = Field(default=None, min_length=1, max_length=120)
    service: str | None = Field(default=None, max_length=200)
    grade: str | None = Field(default=None, max_length=120)
    location: str | None = Field(default=None, max_length=120)
    remote: bool | None = None
    manager_email: Email | None = None
    visibility: Visibility | None = None
    bio: str | None = Field(default=None, max_length=4000)
    languages: list[str] | None = Field(default=None, max_length=20)
    external_id: str | None = Field(default=None, min_length=1, max_length=200)


class AgentSkillBase(SQLModel):
    level: int = Field(ge=1, le=5)
    years: float | None = Field(default=None, ge=0, le=60)
    last_used: date | None = None
    interest: int | None = Field(default=None, ge=1, le=5)


class SkillLink(SQLModel):
    """What every row naming a taxonomy skill for someone or something holds (an agent's skill, a role's):
    the skill, and the words typed that resolved to it."""

    id: int | None = Field(default=None, primary_key=True)
    skill_id: str = Field(foreign_key="skill.id", index=True, max_length=200)
    typed: str = Field(default="", max_length=200)


def skill_link_rules(table: str, owner: str) -> tuple[sa.Constraint, ...]:
    """A skill at most once per owner, at a level from 1 to 5 (``uq_<table>``, ``ck_<table>_level``)."""
    return (
        sa.UniqueConstraint(owner, "skill_id", name=f"uq_{table}"),
        sa.CheckConstraint("level BETWEEN 1 AND 5", name=f"ck_{table}_level"),
    )


class AgentSkill(AgentSkillBase, SkillLink, table=True):
    """A skill on an agent's profile, with what they typed and how sure the normalisation was."""

    __tablename__ = "agent_skill"
    __table_args__ = (*skill_link_rules("agent_skill", "agent_id"),
                      # DINUM's skills supply reads agents at a level of a skill from this index alone.
                      sa.Index("ix_agent_skill_skill_level_agent", "skill_id", "level", "agent_id"))

    agent_id: int = Field(foreign_key="agent.id", index=True, ondelete="CASCADE")
    confidence: float = 1.0
    endorsements: int = 0


class AgentSkillCreate(SkillInput):
    pass


class AgentSkillUpdate(SQLModel, StrictNumbers):
    level: int | None = Field(default=None, ge=1, le=5)
    years: float | None = Field(default=None, ge=0, le=60)
    last_used: date | None = None
    interest: int | None = Field(default=None, ge=1, le=5)


class AgentSkillPublic(AgentSkillBase):
    id: int
    skill_id: str
    label: str = ""
    typed: str
    confidence: float
    status: str = "active"
    endorsements: int = 0


class Availability(SQLModel, table=True):
    """A window of time an agent can give: inclusive dates and a share of working time."""

    __tablename__ = "availability"
    __table_args__ = (
        sa.CheckConstraint("share > 0 AND share <= 1", name="ck_availability_share"),
        sa.CheckConstraint("end_date >= start_date", name="ck_availability_period"),
        sa.Index("ix_availability_agent_end_share", "agent_id", "end_date", "share"),
    )

    id: int | None = Field(default=None, primary_key=True)
    agent_id: int = Field(foreign_key="agent.id", index=True, ondelete="CASCADE")
    start: date = Field(sa_column=sa.Column("start_date", sa.Date, nullable=False))
    end: date = Field(sa_column=sa.Column("end_date", sa.Date, nullable=False))
    share: float


class AvailabilityPublic(SQLModel):
    id: int
    start: date
    end: date
    share: float


class AgentPublic(AgentBase):
    id: int
    external_id: str | None
    email: str
    languages: list[str]
    created_at: datetime
    updated_at: datetime
    skills: list[AgentSkillPublic] = Field(default_factory=list)
    availability: list[AvailabilityPublic] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list, description="What the write changed in what was sent "
                                                                  "(e.g. one skill named twice, merged)")


class AgentListed(AgentPublic):
    """An agent in a list. The personal fields (e-mail, manager, biography) are null for callers who read them
    only profile by profile (leads: each such read is written to the access log)."""

    email: str | None = None  # type: ignore[assignment]
    bio: str | None = None  # type: ignore[assignment]


# --------------------------------------------------------------------------- who read personal data
class AccessLog(SQLModel, table=True):
    """Who viewed whose profile, and when. Append-only: the database refuses updates and deletes."""

    __tablename__ = "access_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    viewer_email: str = Field(max_length=254, index=True)
    viewer_roles: str = Field(default="", max_length=200)
    agent_id: int = Field(index=True)
    action: str = Field(default="view", max_length=40)
    path: str = Field(default="", max_length=300)
