"""Fixtures shared by the matching unit tests: a small hand-made taxonomy."""

from __future__ import annotations

from datetime import date

import pytest

from matching.taxonomy import Taxonomy
from matching.types import (
    AgentSkill,
    AvailabilityWindow,
    CandidateProfile,
    Commitment,
    RoleRequirement,
    SkillRequirement,
)
from matching.types import TaxonomySkill as T


def _small_taxonomy() -> Taxonomy:
    return Taxonomy(
        [
            T("py", "Python", "Python", ("py",), "dev"),
            T("js", "JavaScript", "JavaScript", ("JS", "ECMAScript"), "dev", ("ts",)),
            T("ts", "TypeScript", "TypeScript", ("TS",), "dev"),
            T("k8s", "Kubernetes", "Kubernetes", ("k8s",), "ops"),
            T("front", "Développement front-end", "Front-end development", (), "dev"),
            T("rssi", "Responsable de la sécurité des systèmes d'information", "CISO", (), "secu"),
            T("ml", "Apprentissage automatique", "Machine learning", ("ML",), "data"),
            T("pm", "Gestion de projet", "Project management", (), "pm"),
            T("cpp", "C++", "C++", (), "dev"),
            T("c", "C", "C", (), "dev"),
            T("sql", "SQL", "SQL", (), "data", ("pg",)),
            T("pg", "PostgreSQL", "PostgreSQL", ("postgres",), "data"),
            T("rare", "COBOL", "COBOL", (), "dev"),
            T("a11y", "Accessibilité numérique", "Digital accessibility", ("RGAA",), "ux"),
        ]
    )


@pytest.fixture(scope="session")
def small_taxonomy() -> Taxonomy:
    """Fourteen skills with aliases, categories and one-sided relations (js–ts, sql–pg)."""
    return _small_taxonomy()


# Helpers for hand-made profiles and roles: one year of 80 % availability by default.
YEAR = (date(2027, 1, 1), date(2027, 12, 31))


def agent(
    agent_id: str,
    skills: list[tuple[str, int]] | tuple[tuple[str, int], ...] = (),
    *,
    share: float = 0.8,
    start: date = YEAR[0],
    end: date = YEAR[1],
    windows: tuple[AvailabilityWindow, ...] | None = None,
    commitments: tuple[Commitment, ...] = (),
    text: str = "",
    open_proposals: int = 0,
    skill_objects: tuple[AgentSkill, ...] = (),
) -> CandidateProfile:
    avail = windows if windows is not None else (AvailabilityWindow(start, end, share),)
    skills_ = tuple(AgentSkill(s, lvl) for s, lvl in skills) + skill_objects
    return CandidateProfile(agent_id, skills_, avail, commitments, text=text, open_proposals=open_proposals)


def role(
    skills: list[tuple[str, int]] | tuple[tuple[str, int], ...] = (("py", 3),),
    *,
    required: tuple[str, ...] = (),
    share: float = 0.6,
    start: date = date(2027, 3, 1),
    end: date = date(2027, 5, 31),
    title: str = "",
    description: str = "",
    count: int = 1,
    role_id: str = "r1",
    priority: int = 3,
) -> RoleRequirement:
    reqs = tuple(SkillRequirement(s, lvl, required=s in required) for s, lvl in skills)
    return RoleRequirement(
        role_id, title, share, start, end, reqs, count=count, description=description, priority=priority
    )


@pytest.fixture
def make_agent():
    """Factory of hand-made agent profiles (see :func:`agent`)."""
    return agent


@pytest.fixture
def make_role():
    """Factory of hand-made roles (see :func:`role`)."""
    return role
