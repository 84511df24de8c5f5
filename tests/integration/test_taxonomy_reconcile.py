"""Importing ESCO over the taxonomy in place: one concept, one skill; people and roles follow; idempotent."""

import json
import os
import subprocess
import sys
from datetime import date

import pytest
import sqlalchemy as sa
from sqlmodel import select

from matching.types import TaxonomySkill
from needs.models import Need, Role, RoleSkill
from profiles.models import Agent, AgentSkill, Skill
from profiles.taxonomy import TaxonomyService
from profiles.taxonomy_files import read_esco
from talents.kernel.db import session_scope

pytestmark = pytest.mark.integration

U = "http://data.europa.eu/esco/skill/"
HEADER = (
    "conceptType,conceptUri,skillType,reuseLevel,preferredLabel,altLabels,hiddenLabels,status,modifiedDate,"
    "scopeNote,definition,inScheme,description\n"
)


def _row(uuid: str, label: str, alts: str = "") -> str:
    return f'KnowledgeSkillCompetence,{U}{uuid},knowledge,sector-specific,"{label}","{alts}",,released,,,,,""\n'


SKILLS_EN = HEADER + "".join(
    [
        _row("py-1", "Python (computer programming)", "Python\nPy3K"),
        _row("git-2", "Git (version control)", "Git"),
        _row("hs-3", "Haskell"),
        _row("dv-4", "DevOps"),
        _row("sec-5", "container orchestration", "Docker\nKubernetes"),
    ]
)
RELATIONS = "originalSkillUri,relationType,relatedSkillUri\n" + f"{U}hs-3,optional,{U}py-1\n"


@pytest.fixture
def esco_files(tmp_path):
    (tmp_path / "skills_en.csv").write_text(SKILLS_EN, encoding="utf-8")
    (tmp_path / "skillSkillRelations_en.csv").write_text(RELATIONS, encoding="utf-8")
    return [tmp_path / "skills_en.csv", tmp_path / "skillSkillRelations_en.csv"]


def _people(engine, skill_ids):
    """An agent holding each skill, and a need asking for each (required)."""
    with session_scope(engine) as s:
        agent = Agent(external_id="a1", email="a1@agents.gouv.fr", name="A1", ministry="Intérieur")
        need = Need(external_id="n1", title="Besoin", priority=2, start=date(2027, 3, 1), end=date(2027, 6, 30))
        s.add(agent)
        s.add(need)
        s.flush()
        role = Role(need_id=need.id, position=0, title="Dév", count=1, share=0.6)
        s.add(role)
        s.flush()
        for sid in skill_ids:
            s.add(AgentSkill(agent_id=agent.id, skill_id=sid, level=4, typed=sid))
            s.add(RoleSkill(role_id=role.id, skill_id=sid, level=3, required=True, typed=sid))


def _skills_of_people(engine):
    with session_scope(engine) as s:
        return (
            sorted(s.exec(select(AgentSkill.skill_id)).all()),
            sorted(s.exec(select(RoleSkill.skill_id)).all()),
        )


def _dump(engine):
    with session_scope(engine) as s:
        return [
            (r.id, r.label_fr, r.label_en, sorted(r.aliases), sorted(r.related), r.source, r.status)
            for r in s.exec(select(Skill).order_by(Skill.id)).all()
        ]


def _reconcile(engine, files):
    skills, errors = read_esco(files)
    assert errors == []
    with session_scope(engine) as s:
        return TaxonomyService(s).reconcile(skills, referencing=[(RoleSkill, "role_id")])


def test_esco_merges_into_the_skills_in_place_and_adds_the_rest(engine, esco_files):
    report = _reconcile(engine, esco_files)
    merged = {m["skill_id"]: m["into"] for m in report.merged}
    assert merged == {"esco:py-1": "python", "esco:git-2": "git", "esco:dv-4": "devops"}
    assert report.added == ["esco:hs-3"]
    assert [a["skill_id"] for a in report.ambiguous] == ["esco:sec-5"]
    assert len(report.ambiguous[0]["candidates"]) >= 2
    with session_scope(engine) as s:
        python = s.get(Skill, "python")
        assert python.source == U + "py-1" and "Python (computer programming)" in python.aliases
        assert s.get(Skill, "esco:py-1") is None
        assert s.get(Skill, "esco:hs-3").related == ["python"]  # the ESCO relation, re-pointed
        assert s.get(Skill, "esco:sec-5").status == "pending"


def test_a_concept_already_there_twice_becomes_one_and_people_and_roles_follow(engine, esco_files):
    skills, _ = read_esco(esco_files)
    with session_scope(engine) as s:  # what a plain import used to do: Git and Python twice
        TaxonomyService(s).upsert_many(skills)
    _people(engine, ["esco:git-2", "esco:py-1", "python"])
    report = _reconcile(engine, esco_files)
    assert {m["skill_id"]: m["into"] for m in report.merged} == {
        "esco:py-1": "python",
        "esco:git-2": "git",
        "esco:dv-4": "devops",
    }
    agents, roles = _skills_of_people(engine)
    assert agents == ["git", "python"] and roles == ["git", "python"]  # nothing lost, no duplicate row
    with session_scope(engine) as s:
        assert s.get(Skill, "esco:git-2") is None and s.get(Skill, "git").source == U + "git-2"


def test_importing_again_changes_nothing(engine, esco_files):
    _reconcile(engine, esco_files)
    before = _dump(engine)
    report = _reconcile(engine, esco_files)
    assert _dump(engine) == before
    assert report.added == [] and len(report.merged) == 3 and len(report.ambiguous) == 1


def test_the_cli_reports_merged_added_and_ambiguous(engine, esco_files):
    env = {**os.environ, "TALENTS_DATABASE_URL": engine.url.render_as_string(hide_password=False)}
    cmd = [sys.executable, "-m", "talents.cli", "taxonomy", "import", *map(str, esco_files), "--json"]
    first = json.loads(subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=True).stdout)
    assert (first["created"], len(first["merged"]), len(first["ambiguous"])) == (1, 3, 1)
    second = json.loads(subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=True).stdout)
    assert (second["created"], second["updated"], len(second["merged"])) == (0, 1, 3)
    with engine.connect() as conn:
        n = conn.execute(sa.text("SELECT count(*) FROM skill WHERE source LIKE :u"), {"u": U + "%"}).scalar()
    assert n == 5  # three skills in place now carry their ESCO URI, plus the added and the pending one


def test_a_plain_project_file_reimported_keeps_what_merges_brought(engine, esco_files):
    _reconcile(engine, esco_files)
    with session_scope(engine) as s:
        TaxonomyService(s).reconcile([TaxonomySkill("python", "Python", "Python", ("py",), "Dév")])
        python = s.get(Skill, "python")
        assert python.source == U + "py-1" and "Py3K" in python.aliases and "py" in python.aliases
