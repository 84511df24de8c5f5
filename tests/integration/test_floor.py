"""The policy floor: a contribution counts only strictly above it (50 % of working time by default), for what
an agent declares (availability windows) and what a role asks (its share), in the API and in imports."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from profiles.importer import AgentImporter
from talents.kernel.bulk import read_records
from talents.kernel.settings import reset_settings

pytestmark = pytest.mark.integration

RULE = "the programme counts a contribution only above 50% of working time"


def _agent(i: int, share: float = 0.6, **extra: object) -> dict[str, object]:
    return {
        "external_id": f"floor-{i}",
        "name": f"Agent {i}",
        "email": f"floor{i}@numerique.gouv.fr",
        "ministry": "DINUM",
        "skills": [{"name": "Python", "level": 3}],
        "availability": [{"start": "2027-01-01", "end": "2027-06-30", "share": share}],
        **extra,
    }


def _external_ids(engine: sa.Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(sa.text("SELECT external_id FROM agent")).scalars())


@pytest.fixture
def floor_of_60_percent(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TALENTS_FLOOR", "0.6")
    reset_settings()
    yield
    monkeypatch.delenv("TALENTS_FLOOR")
    reset_settings()


@pytest.mark.parametrize("share", [0.5, 0.4])
def test_an_agent_declaring_a_window_at_or_below_the_floor_is_refused(admin_client, share: float) -> None:
    body = {k: v for k, v in _agent(1, share).items() if k != "external_id"}
    response = admin_client.post("/api/v1/agents", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "availability.0.share"
    assert RULE in response.json()["detail"]
    assert admin_client.get("/api/v1/agents").json()["count"] == 0


def test_adding_or_changing_a_window_keeps_above_the_floor(admin_client) -> None:
    agent = admin_client.post("/api/v1/agents", json={**_agent(1), "external_id": None}).json()
    window = agent["availability"][0]
    url = f"/api/v1/agents/{agent['id']}/availability"
    added = admin_client.post(url, json={"start": "2027-09-01", "end": "2027-12-31", "share": 0.5})
    assert added.status_code == 422 and added.json()["field"] == "share" and RULE in added.json()["detail"]
    changed = admin_client.put(f"{url}/{window['id']}", json={**window, "share": 0.45})
    assert changed.status_code == 422 and changed.json()["field"] == "share"
    assert admin_client.post(url, json={"start": "2027-09-01", "end": "2027-12-31", "share": 0.51}).status_code == 201
    shares = sorted(w["share"] for w in admin_client.get(f"/api/v1/agents/{agent['id']}").json()["availability"])
    assert shares == [0.51, 0.6]


def test_an_import_reports_the_line_below_the_floor_and_keeps_the_others(engine, tmp_path: Path) -> None:
    path = tmp_path / "agents.jsonl"
    path.write_text("\n".join(json.dumps(a) for a in (_agent(1), _agent(2, 0.5), _agent(3, 0.9))) + "\n")
    report = AgentImporter(engine).run(read_records(path))
    assert report.created == 2
    ((line, reason),) = [(e.line, e.reason) for e in report.errors]
    assert line == 2 and reason.startswith("availability.0.share") and RULE in reason
    assert _external_ids(engine) == {"floor-1", "floor-3"}


def test_a_csv_import_applies_the_floor_too(engine, tmp_path: Path) -> None:
    path = tmp_path / "agents.csv"
    path.write_text(
        "external_id,name,email,ministry,skills,availability\n"
        "c1,Agent Un,c1@numerique.gouv.fr,DINUM,Python:4,2027-01-01/2027-06-30:0.4\n"
        "c2,Agent Deux,c2@numerique.gouv.fr,DINUM,Python:4,2027-01-01/2027-06-30:0.8\n",
        encoding="utf-8",
    )
    report = AgentImporter(engine).run(read_records(path), csv_rows=True)
    assert [e.line for e in report.errors] == [2] and _external_ids(engine) == {"c2"}


def test_the_http_import_reports_the_floor_by_line(admin_client) -> None:
    body = "\n".join(json.dumps(a) for a in (_agent(1, 0.3), _agent(2)))
    report = admin_client.post(
        "/api/v1/agents/import", content=body.encode(), headers={"content-type": "application/x-ndjson"}
    ).json()
    assert (report["created"], report["rejected"], report["errors"][0]["line"]) == (1, 1, 1)
    assert RULE in report["errors"][0]["reason"]


def test_a_role_share_at_the_floor_is_refused_with_the_rule(admin_client) -> None:
    need = {"title": "Équipe flash", "start": "2027-01-04", "end": "2027-03-31",
            "roles": [{"title": "Dev", "share": 0.5}]}
    response = admin_client.post("/api/v1/needs", json=need)
    assert response.status_code == 422 and response.json()["field"] == "roles.0.share"
    assert RULE in response.json()["detail"]


def test_the_floor_is_a_setting(admin_client, floor_of_60_percent: None) -> None:
    url = "/api/v1/agents"
    at_floor = admin_client.post(url, json={**_agent(1, 0.6), "external_id": None})
    assert at_floor.status_code == 422 and "above 60% of working time" in at_floor.json()["detail"]
    assert admin_client.post(url, json={**_agent(2, 0.7), "external_id": None}).status_code == 201
