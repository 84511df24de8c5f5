"""One skill named twice under two names is one requirement (or one profile skill), with a warning —
never a refused line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from needs.importer import NeedImporter
from profiles.importer import AgentImporter
from profiles.taxonomy import SkillResolver
from talents.kernel.bulk import read_records

pytestmark = pytest.mark.integration

ROLE = {
    "title": "Expert·e sécurité",
    "share": 0.8,
    "skills": [
        {"name": "sécurité informatique", "level": 3, "weight": 1, "required": False},
        {"name": "Python", "level": 2},
        {"name": "cybersécurité", "level": 4, "weight": 2, "required": True},
    ],
}
NEED = {"external_id": "secu", "title": "Équipe flash — cyber", "priority": 1, "start": "2027-01-04",
        "end": "2027-03-31", "roles": [ROLE]}
AGENT = {"external_id": "ag-1", "name": "Camille", "email": "camille@interieur.gouv.fr", "ministry": "Intérieur",
         "skills": [{"name": "JS", "level": 2, "years": 3}, {"name": "JavaScript", "level": 4, "interest": 5},
                    {"name": "Python", "level": 3}],
         "availability": [{"start": "2027-01-01", "end": "2027-06-30", "share": 0.6}]}


def _role_skills(engine: sa.Engine) -> dict[str, tuple[int, float, bool]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT skill_id, level, weight, required FROM role_skill")).all()
    return {sid: (level, weight, bool(required)) for sid, level, weight, required in rows}


def _agent_skills(engine: sa.Engine) -> dict[str, tuple[int, float | None, int | None]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT skill_id, level, years, interest FROM agent_skill")).all()
    return {sid: (level, years, interest) for sid, level, years, interest in rows}


def test_a_need_naming_one_skill_twice_gets_one_requirement_and_a_warning(admin_client, engine) -> None:
    response = admin_client.post("/api/v1/needs", json={k: v for k, v in NEED.items() if k != "external_id"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert [(s["skill_id"], s["level"], s["weight"], s["required"]) for s in body["roles"][0]["skills"]] == [
        ("cybersecurite", 4, 2.0, True), ("python", 2, 1.0, False)]
    (warning,) = body["warnings"]
    assert warning.startswith("roles.0.skills.2.name") and "merged" in warning
    # The same through a role's own endpoint.
    role = admin_client.post(f"/api/v1/needs/{body['id']}/roles", json=ROLE)
    assert role.status_code == 201 and len(role.json()["skills"]) == 2
    assert role.json()["warnings"][0].startswith("skills.2.name")


def test_a_needs_import_merges_and_reports_a_warning_for_the_line(engine, tmp_path: Path) -> None:
    path = tmp_path / "needs.jsonl"
    path.write_text(json.dumps(NEED) + "\n", encoding="utf-8")
    report = NeedImporter(engine, SkillResolver).run(read_records(path))
    assert (report.created, report.errors) == (1, [])
    ((line, reason),) = [(w.line, w.reason) for w in report.warnings]
    assert line == 1 and "cybersécurité" in reason
    assert _role_skills(engine) == {"cybersecurite": (4, 2.0, True), "python": (2, 1.0, False)}
    assert report.to_dict()["warnings"][0]["external_id"] == "secu"


def test_an_agent_naming_one_skill_twice_gets_it_once_at_the_highest_level(admin_client, engine) -> None:
    response = admin_client.post("/api/v1/agents", json={k: v for k, v in AGENT.items() if k != "external_id"})
    assert response.status_code == 201, response.text
    assert sorted((s["skill_id"], s["level"]) for s in response.json()["skills"]) == [("javascript", 4),
                                                                                       ("python", 3)]
    assert response.json()["warnings"][0].startswith("skills.1.name")
    assert _agent_skills(engine)["javascript"] == (4, 3.0, 5)


def test_an_agents_import_merges_with_a_warning(engine, tmp_path: Path) -> None:
    path = tmp_path / "agents.jsonl"
    path.write_text(json.dumps(AGENT) + "\n", encoding="utf-8")
    report = AgentImporter(engine).run(read_records(path))
    assert (report.created, report.errors, [w.line for w in report.warnings]) == (1, [], [1])
    assert _agent_skills(engine) == {"javascript": (4, 3.0, 5), "python": (3, None, None)}
