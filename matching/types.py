"""Plain data exchanged between the services and the matching core."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

__all__ = [
    "AgentSkill",
    "AvailabilityWindow",
    "CandidateProfile",
    "Commitment",
    "RoleRequirement",
    "SkillRequirement",
    "TaxonomySkill",
]


@dataclass(frozen=True, slots=True)
class TaxonomySkill:
    """One skill of the taxonomy: a stable id, labels, aliases, a category, related skills, occupations."""

    id: str
    label_fr: str
    label_en: str = ""
    aliases: tuple[str, ...] = ()
    category: str = ""
    related: tuple[str, ...] = ()
    source: str | None = None
    description: str = ""
    # ids of the occupations that list this skill (ESCO occupation–skill relations)
    occupations: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AvailabilityWindow:
    """A period (inclusive bounds) during which an agent declares a share of working time free."""

    start: date
    end: date
    share: float


@dataclass(frozen=True, slots=True)
class Commitment:
    """A share of working time already committed to an assignment over a period (inclusive)."""

    start: date
    end: date
    share: float


@dataclass(frozen=True, slots=True)
class AgentSkill:
    """A skill on an agent's profile. ``skill_id`` is a taxonomy id; ``level`` 1–5; ``interest`` 1–5."""

    skill_id: str
    level: int
    years: float | None = None
    last_used: date | None = None
    interest: int | None = None


@dataclass(slots=True)
class CandidateProfile:
    """Everything the engine knows of one agent."""

    agent_id: str
    skills: tuple[AgentSkill, ...] = ()
    availability: tuple[AvailabilityWindow, ...] = ()
    commitments: tuple[Commitment, ...] = ()
    text: str = ""
    ministry: str = ""
    location: str = ""
    remote: bool = True
    open_proposals: int = 0


@dataclass(frozen=True, slots=True)
class SkillRequirement:
    """A skill asked by a role: taxonomy id, required level 1–5, weight, and whether it is required."""

    skill_id: str
    level: int = 3
    weight: float = 1.0
    required: bool = False


@dataclass(slots=True)
class RoleRequirement:
    """A role of a need: what each member must know and commit, over which period."""

    role_id: str
    title: str
    share: float
    start: date
    end: date
    skills: tuple[SkillRequirement, ...] = ()
    count: int = 1
    description: str = ""
    priority: int = 3
    need_id: str = ""
    location: str = ""
    remote: bool = True
    extra: dict[str, object] = field(default_factory=dict)
