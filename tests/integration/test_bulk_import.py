"""The bulk contract: JSON Lines and CSV, upsert by external_id, bad lines reported, nothing half-written."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from profiles.importer import AgentImporter
from talents.kernel.bulk import read_records

pytestmark = pytest.mark.integration


def _agent(i: int, **extra) -> dict:
    return {
        "external_id": f"ext-{i}",
        "name": f"Agent {i}",
        "email": f"agent{i}@numerique.gouv.fr",
        "ministry": "DINUM",
        "skills": [{"name": "Python", "level": 3}, {"name": "SQL", "level": 2}],
        "availability": [{"start": "2027-01-01", "end": "2027-06-30", "share": 0.6}],
        **extra,
    }


def _write_jsonl(path: Path, lines: list) -> Path:
    path.write_text(
        "\n".join(x if isinstance(x, str) else json.dumps(x, ensure_ascii=False) for x in lines) + "\n",
        encoding="utf-8",
    )
    return path


def _skills_of(engine, external_id: str) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT s.skill_id, s.level FROM agent_skill s JOIN agent a ON a.id = s.agent_id "
                "WHERE a.external_id = :e"
            ),
            {"e": external_id},
        ).all()
    return dict(rows)


def test_bad_lines_are_reported_with_their_number_and_good_lines_go_in(engine, tmp_path):
    path = _write_jsonl(
        tmp_path / "agents.jsonl",
        [
            _agent(1),
            "{not json",
            _agent(3, email="not-an-email"),
            _agent(4, skills=[{"name": "Python", "level": 9}]),
            _agent(5, availability=[{"start": "2027-02-01", "end": "2027-01-01", "share": 0.6}]),
            _agent(6, email="agent1@numerique.gouv.fr"),  # another agent's e-mail
            {k: v for k, v in _agent(7).items() if k != "external_id"},
            "[1, 2]",
            _agent(9),
        ],
    )
    report = AgentImporter(engine).run(read_records(path))
    errors = {e.line: e.reason for e in report.errors}
    assert sorted(errors) == [2, 3, 4, 5, 6, 7, 8]
    assert "invalid JSON" in errors[2]
    assert errors[3].startswith("email:")
    assert "skills.0.level" in errors[4]
    assert "end must not be before start" in errors[5]
    assert "already belongs to another agent" in errors[6]
    assert "external_id" in errors[7]
    assert (report.created, report.updated, report.lines) == (2, 0, 9)
    assert _skills_of(engine, "ext-9") == {"python": 3, "sql": 2}


def test_reimport_upserts_by_external_id_and_replaces_skills(engine, tmp_path):
    AgentImporter(engine).run(read_records(_write_jsonl(tmp_path / "a.jsonl", [_agent(1), _agent(2)])))
    changed = _agent(1, name="Agent Un", skills=[{"name": "Kubernetes", "level": 5}])
    report = AgentImporter(engine).run(read_records(_write_jsonl(tmp_path / "b.jsonl", [changed, _agent(3)])))
    assert (report.created, report.updated) == (1, 1)
    assert _skills_of(engine, "ext-1") == {"kubernetes": 5}
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM agent")).scalar() == 3
        assert conn.execute(sa.text("SELECT name FROM agent WHERE external_id='ext-1'")).scalar() == "Agent Un"


def test_csv_with_a_skills_column(engine, tmp_path):
    path = tmp_path / "agents.csv"
    path.write_text(
        "external_id,name,email,ministry,skills,availability\n"
        "c1,Jeanne Dupont,jeanne.dupont@justice.gouv.fr,Ministère de la Justice,Python:4; Django:3,"
        "2027-01-01/2027-06-30:0.8\n"
        "c2,Sans courriel,,DINUM,Python:4,\n"
        "c3,Paul Durand,paul.durand@justice.gouv.fr,Ministère de la Justice,JS:2; dev front,\n",
        encoding="utf-8",
    )
    report = AgentImporter(engine).run(read_records(path), csv_rows=True)
    assert [e.line for e in report.errors] == [3]
    assert _skills_of(engine, "c1") == {"python": 4, "django": 3}
    assert _skills_of(engine, "c3") == {"javascript": 2, "developpement-front-end": 3}


def test_the_http_import_accepts_the_same_documents(admin_client, tmp_path):
    body = "\n".join(json.dumps(a) for a in [_agent(1), _agent(2, email="bad")])
    report = admin_client.post(
        "/api/v1/agents/import", content=body.encode(), headers={"content-type": "application/x-ndjson"}
    ).json()
    assert (report["created"], report["rejected"], report["errors"][0]["line"]) == (1, 1, 2)


def test_needs_import_upserts_and_keeps_role_ids(engine, tmp_path):
    from needs.importer import NeedImporter
    from profiles.taxonomy import SkillResolver

    need = {
        "external_id": "n1",
        "title": "Équipe flash",
        "priority": 1,
        "start": "2027-01-04",
        "end": "2027-03-31",
        "project": "brigade",
        "roles": [
            {
                "title": "Dev",
                "count": 2,
                "share": 0.8,
                "skills": [{"name": "Python", "level": 4, "weight": 2, "required": True}],
            }
        ],
    }
    path = _write_jsonl(
        tmp_path / "needs.jsonl",
        [
            need,
            {**need, "external_id": "n2", "roles": [{"title": "Dev", "share": 0.5}]},
            {**need, "external_id": "n3", "priority": 7},
        ],
    )
    report = NeedImporter(engine, SkillResolver).run(read_records(path))
    assert report.created == 1
    assert {e.line: e.reason for e in report.errors}.keys() == {2, 3}
    assert "roles.0.share" in report.errors[0].reason
    with engine.connect() as conn:
        role_id = conn.execute(sa.text("SELECT id FROM role")).scalar()
    again = {**need, "title": "Équipe flash (v2)", "roles": [*need["roles"], {"title": "PO", "share": 0.6}]}
    report = NeedImporter(engine, SkillResolver).run(read_records(_write_jsonl(tmp_path / "n2.jsonl", [again])))
    assert report.updated == 1
    with engine.connect() as conn:
        roles = conn.execute(sa.text("SELECT id, position FROM role ORDER BY position")).all()
        assert roles[0] == (role_id, 0) and len(roles) == 2
        assert conn.execute(sa.text("SELECT count(*) FROM project WHERE external_id='brigade'")).scalar() == 1


@pytest.mark.slow
def test_a_crash_mid_import_leaves_no_half_written_agent(engine, tmp_path):
    """Kill the importer while it writes; every agent present has all of its skills and windows."""
    many_skills = [{"name": n, "level": 3} for n in ("Python", "SQL", "Docker", "Figma", "Scrum", "RGAA")]
    lines = [_agent(i, skills=many_skills) for i in range(8_000)]
    path = _write_jsonl(tmp_path / "big.jsonl", lines)
    env = {**os.environ, "TALENTS_DATABASE_URL": engine.url.render_as_string(hide_password=False)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "talents.cli", "agents", "import", str(path), "--batch-size", "200"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            if conn.execute(sa.text("SELECT count(*) FROM agent")).scalar() >= 600:
                break
            conn.rollback()
            time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with engine.connect() as conn:
        agents = conn.execute(sa.text("SELECT count(*) FROM agent")).scalar()
        partial = conn.execute(
            sa.text(
                "SELECT count(*) FROM agent a WHERE (SELECT count(*) FROM agent_skill s WHERE s.agent_id = a.id) <> 6 "
                "OR (SELECT count(*) FROM availability w WHERE w.agent_id = a.id) <> 1"
            )
        ).scalar()
    assert 0 < agents < len(lines), "the import must have been interrupted part-way"
    assert partial == 0
    # Running the import again completes it.
    subprocess.run(
        [sys.executable, "-m", "talents.cli", "agents", "import", str(path)], env=env, check=True, capture_output=True
    )
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM agent")).scalar() == len(lines)
