"""Bad input is the client's: a 4xx naming the field and the reason, never a 500; an import reports the bad
line by number and keeps the good ones (CLI included, on every backend)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

pytestmark = pytest.mark.integration

AGENT = {"name": "Camille Martin", "email": "camille@interieur.gouv.fr", "ministry": "Intérieur",
         "skills": [{"name": "Python", "level": 4}],
         "availability": [{"start": "2027-01-04", "end": "2027-06-30", "share": 0.6}]}
NEED = {"title": "Équipe flash", "start": "2027-01-04", "end": "2027-03-31",
        "roles": [{"title": "Dev", "share": 0.8, "skills": [{"name": "Python", "level": 3}]}]}


def _field(response) -> str:  # noqa: ANN001 - a test client response
    body = response.json()
    return body.get("field") or ",".join(e.get("key", "") for e in body.get("extra", []))


def test_json_nested_a_thousand_deep_is_a_400(admin_client) -> None:
    deep = "[" * 1000 + "]" * 1000
    for path in ("/api/v1/needs", "/api/v1/agents", "/api/v1/taxonomy/skills"):
        response = admin_client.post(path, content=deep, headers={"content-type": "application/json"})
        assert response.status_code == 400, (path, response.text)
        assert _field(response) == "body" and "nested" in response.json()["detail"]
    ok = admin_client.post("/api/v1/needs", json=NEED)
    assert ok.status_code == 201, ok.text


@pytest.mark.parametrize(("document", "field"), [
    ({**AGENT, "name": "Camille\u0000"}, "name"),
    ({**AGENT, "skills": [{"name": "Py\u0000thon", "level": 3}]}, "skills.0.name"),
    ({**AGENT, "bio\u0000": "x"}, "bio"),
])
def test_a_nul_character_in_any_string_is_a_400_naming_the_field(admin_client, engine, document, field) -> None:
    response = admin_client.post("/api/v1/agents", json=document)
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field and "NUL" in response.json()["detail"]
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM agent")).scalar() == 0


def test_a_nul_character_in_the_query_is_a_400_naming_the_parameter(admin_client) -> None:
    response = admin_client.get("/api/v1/agents", params={"q": "cam\u0000"})
    assert response.status_code == 400 and response.json()["field"] == "q"


def test_an_import_reports_the_line_with_a_nul_and_keeps_the_others(admin_client) -> None:
    lines = [{**AGENT, "external_id": f"x{i}", "email": f"x{i}@interieur.gouv.fr"} for i in range(3)]
    lines[1]["skills"] = [{"name": "SQL\u0000", "level": 2}]
    body = "\n".join([*map(json.dumps, lines), "[" * 5000 + "]" * 5000])
    report = admin_client.post("/api/v1/agents/import", content=body.encode(),
                               headers={"content-type": "application/x-ndjson"}).json()
    assert (report["created"], [e["line"] for e in report["errors"]]) == (2, [2, 4])
    assert report["errors"][0]["reason"].startswith("skills.0.name: NUL")
    assert "nested too deeply" in report["errors"][1]["reason"]


def test_the_cli_import_reports_the_bad_line_without_a_traceback(engine, tmp_path: Path) -> None:
    agents = tmp_path / "agents.jsonl"
    good = {**AGENT, "external_id": "good"}
    agents.write_text(json.dumps(good) + "\n" + json.dumps({**good, "external_id": "bad", "email": "b@x.gouv.fr",
                                                             "name": "Nul\u0000"}) + "\n", encoding="utf-8")
    needs = tmp_path / "needs.jsonl"
    needs.write_text(json.dumps({**NEED, "external_id": "n1"}) + "\n"
                     + json.dumps({**NEED, "external_id": "n2", "title": "T\u0000"}) + "\n", encoding="utf-8")
    env = {**os.environ, "TALENTS_DATABASE_URL": engine.url.render_as_string(hide_password=False)}
    for kind, path, bad_field in (("agents", agents, "name"), ("needs", needs, "title")):
        result = subprocess.run([sys.executable, "-m", "talents.cli", kind, "import", str(path), "--json"],
                                env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
        report = json.loads(result.stdout)
        assert (report["imported"], report["errors"][0]["line"]) == (1, 2)
        assert report["errors"][0]["reason"].startswith(f"{bad_field}: NUL")


def test_a_skill_update_setting_a_list_to_null_is_a_422(admin_client) -> None:
    for field in ("related", "aliases", "label_fr"):
        response = admin_client.patch("/api/v1/taxonomy/skills/python", json={field: None})
        assert response.status_code == 422, response.text
        assert response.json()["field"] == field
    assert admin_client.get("/api/v1/taxonomy/skills/python").json()["label_fr"]


def test_an_agent_update_setting_a_required_field_to_null_is_a_422(admin_client) -> None:
    agent = admin_client.post("/api/v1/agents", json=AGENT).json()
    response = admin_client.patch(f"/api/v1/agents/{agent['id']}", json={"remote": None})
    assert response.status_code == 422 and response.json()["field"] == "remote"


@pytest.mark.parametrize(("path", "document", "field"), [
    ("/api/v1/agents", {**AGENT, "skills": [{"name": "Python", "level": True}]}, "skills.0.level"),
    ("/api/v1/agents", {**AGENT, "availability": [{**AGENT["availability"][0], "share": True}]},
     "availability.0.share"),
    ("/api/v1/needs", {**NEED, "priority": True}, "priority"),
    ("/api/v1/needs", {**NEED, "roles": [{**NEED["roles"][0], "count": True}]}, "roles.0.count"),
    ("/api/v1/allocations/runs", {"dry_run": True, "need_ids": [1, True]}, "need_ids"),
])
def test_a_boolean_is_not_a_number(admin_client, path, document, field) -> None:
    response = admin_client.post(path, json=document)
    assert response.status_code == 400, response.text
    assert _field(response) == field and "boolean" in response.text


@pytest.mark.parametrize(("change", "field"), [
    ({"start": "0001-01-01"}, "start"),
    ({"end": "9999-12-31"}, "end"),
    ({"start": "2027-01-01", "end": "2037-01-01"}, "end"),  # a period of ten years
])
def test_dates_stay_within_what_the_programme_needs(admin_client, change, field) -> None:
    for path, document in (("/api/v1/needs", {**NEED, **change}),
                           ("/api/v1/agents", {**AGENT, "availability": [{**AGENT["availability"][0], **change}]})):
        response = admin_client.post(path, json=document)
        assert response.status_code == 400, (path, response.text)
        assert field in _field(response) and ("2000-01-01" in response.text or "5 years" in response.text)
    need = admin_client.post("/api/v1/needs", json=NEED).json()
    too_long = admin_client.patch(f"/api/v1/needs/{need['id']}", json={"end": "2035-01-01"})
    assert too_long.status_code == 422 and too_long.json()["field"] == "end"
