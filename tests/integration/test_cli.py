"""The command line as a user runs it: a real process, a real database file."""

import json
import os
import subprocess
import sys

import pytest
import sqlalchemy as sa

pytestmark = pytest.mark.integration

ESCO_FR = (
    "conceptType,conceptUri,skillType,reuseLevel,preferredLabel,altLabels,hiddenLabels,status,modifiedDate,"
    "scopeNote,definition,inScheme,description\n"
    'KnowledgeSkillCompetence,http://data.europa.eu/esco/skill/aaaa-1111,skill/competence,sector-specific,'
    '"programmation informatique","codage\nprogrammation",,released,2023-01-01,,,,'
    '"Écrire des programmes."\n'
    'KnowledgeSkillCompetence,http://data.europa.eu/esco/skill/bbbb-2222,knowledge,cross-sector,'
    '"exploration de données","fouille de données",,released,2023-01-01,,,,"Extraire des données."\n'
)
ESCO_EN = (
    "conceptType,conceptUri,skillType,reuseLevel,preferredLabel,altLabels,hiddenLabels,status,modifiedDate,"
    "scopeNote,definition,inScheme,description\n"
    'KnowledgeSkillCompetence,http://data.europa.eu/esco/skill/aaaa-1111,skill/competence,sector-specific,'
    '"computer programming","coding\nsoftware programming",,released,2023-01-01,,,,"Write programs."\n'
)


@pytest.fixture
def run(engine):
    env = {**os.environ, "TALENTS_DATABASE_URL": engine.url.render_as_string(hide_password=False)}

    def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run([sys.executable, "-m", "talents.cli", *args], env=env, capture_output=True,
                                text=True, timeout=120)
        if check:
            assert result.returncode == 0, result.stderr
        return result

    return _run


def test_help_lists_the_commands():
    out = subprocess.run([sys.executable, "-m", "talents.cli", "--help"], capture_output=True, text=True).stdout
    for command in ("serve", "demo", "taxonomy", "agents", "needs", "db"):
        assert command in out


def test_esco_files_are_merged_by_concept(run, engine, tmp_path):
    (tmp_path / "skills_fr.csv").write_text(ESCO_FR, encoding="utf-8")
    (tmp_path / "skills_en.csv").write_text(ESCO_EN, encoding="utf-8")
    result = run("taxonomy", "import", str(tmp_path / "skills_fr.csv"), str(tmp_path / "skills_en.csv"), "--json")
    report = json.loads(result.stdout)
    # "programmation informatique" shares only an alias ("programmation") with a skill in place: pending
    assert report["created"] == 1 and [a["skill_id"] for a in report["ambiguous"]] == ["esco:aaaa-1111"]
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT label_fr, label_en, aliases, source FROM skill "
                                   "WHERE source = 'http://data.europa.eu/esco/skill/aaaa-1111'")).one()
    assert row.label_fr == "programmation informatique" and row.label_en == "computer programming"
    aliases = row.aliases if isinstance(row.aliases, list) else json.loads(row.aliases)
    assert {"codage", "coding", "software programming"} <= set(aliases)
    # Imported skills resolve like the others.
    assert "esco:" in run("taxonomy", "suggest", "fouille de données").stdout


def test_agents_import_reports_bad_lines_in_json(run, tmp_path):
    path = tmp_path / "agents.jsonl"
    path.write_text(json.dumps({"external_id": "a1", "name": "A", "email": "a@pm.gouv.fr", "ministry": "DINUM",
                                "skills": [{"name": "Python", "level": 4}]}) + "\n" + "{oops\n", encoding="utf-8")
    report = json.loads(run("agents", "import", str(path), "--json").stdout)
    assert (report["created"], report["rejected"], report["errors"][0]["line"]) == (1, 1, 2)


def test_a_missing_file_is_a_clear_usage_error(run):
    result = run("agents", "import", "/nonexistent.jsonl", check=False)
    assert result.returncode == 2 and "not a readable file" in result.stderr


def test_demo_seeds_agents_projects_and_flash_teams(run, engine):
    summary = json.loads(run("demo", "--agents", "200").stdout)
    assert summary == {"agents": 200, "rejected": 0, "projects": 4, "needs": 5}
    with engine.connect() as conn:
        pledges = dict(conn.execute(sa.text(
            "SELECT p.name, sum(g.fte) FROM project p JOIN pledge g ON g.project_id = p.id GROUP BY p.name")).all())
        ministries = conn.execute(sa.text("SELECT count(DISTINCT ministry) FROM agent")).scalar()
    assert pledges["Poste de travail du futur"] == 4
    assert pledges["Pilotage par la donnée"] == 6 and pledges["Brigade d'intervention numérique"] == 6
    assert ministries >= 8
    # Seeding again is idempotent.
    assert json.loads(run("demo", "--agents", "200").stdout)["projects"] == 0


def test_db_commands(run):
    assert "head: " in run("db", "current").stdout
