"""The workflow over HTTP with real API tokens: permissions, transitions, manager links, runs, audit."""

from __future__ import annotations

import csv
import io
from urllib.parse import urlparse

import pytest
from factories import make_agent, make_need
from wfhelpers import LEAD_EMAIL

from talents.auth.testing import issue_token

pytestmark = pytest.mark.integration
# Backend-independent logic: SQLite only (the PostgreSQL-specific paths are covered by the other tests).
SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"])



@pytest.fixture
def tokens(engine):
    def headers(email: str, *roles: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_token(engine, email, *roles)}"}

    return {
        "lead": headers(LEAD_EMAIL, "lead"),
        "reviewer": headers("revue@numerique.gouv.fr", "reviewer"),
        "x": headers("x@agents.gouv.fr", "agent"),
        "y": headers("y@agents.gouv.fr", "agent"),
    }


@pytest.fixture
def world(engine):
    ids = {"x": make_agent(engine, "x", skills=[("python", 5)]),
           "y": make_agent(engine, "y", skills=[("python", 3)])}
    ids["n1"] = make_need(engine, "n1")
    return ids


def test_the_life_of_an_assignment_over_http(client, tokens, world, events, others_edits_seen):
    n = world["n1"]
    others_edits_seen()  # the agents were written after the app started
    r = client.get(f"/api/v1/needs/{n}/roles/0/candidates?top=5", headers=tokens["lead"])
    assert r.status_code == 200, r.text
    assert [c["agent"] for c in r.json()["candidates"]] == ["x", "y"]
    assert client.get(f"/api/v1/needs/{n}/roles/0/candidates", headers=tokens["x"]).status_code == 403
    assert client.get(f"/api/v1/needs/{n}/team", headers=tokens["lead"]).json()["seats"][0]["agent"] == "x"

    dry = client.post("/api/v1/allocations/runs", json={"dry_run": True}, headers=tokens["reviewer"])
    assert dry.status_code == 200, dry.text
    assert [(a["need"], a["agent"]) for a in dry.json()["proposed"]] == [("n1", "x")]
    assert client.get("/api/v1/assignments", headers=tokens["reviewer"]).json()["count"] == 0
    assert client.post("/api/v1/allocations/runs", json={"dry_run": False}, headers=tokens["lead"]).status_code == 403
    run = client.post("/api/v1/allocations/runs", json={"dry_run": False, "need_ids": [n]},
                      headers=tokens["reviewer"])
    assert run.status_code == 200 and run.json()["applied"]["proposed"] == 1

    mine = client.get("/api/v1/assignments", headers=tokens["x"]).json()
    assert mine["count"] == 1 and client.get("/api/v1/assignments", headers=tokens["y"]).json()["count"] == 0
    a = mine["data"][0]
    assert a["state"] == "proposed" and a["agent_external_id"] == "x" and a["role_position"] == 0
    aid = a["id"]
    assert client.get(f"/api/v1/assignments/{aid}", headers=tokens["y"]).status_code == 404
    assert client.post(f"/api/v1/assignments/{aid}/accept", json={}, headers=tokens["y"]).status_code in (403, 404)
    stale = client.post(f"/api/v1/assignments/{aid}/accept", json={"version": 9}, headers=tokens["x"])
    assert stale.status_code == 409 and "changed meanwhile" in stale.json()["detail"]
    r = client.post(f"/api/v1/assignments/{aid}/accept", json={"version": a["version"]}, headers=tokens["x"])
    assert r.status_code == 200 and r.json()["state"] == "accepted"
    bad = client.post(f"/api/v1/assignments/{aid}/activate", headers=tokens["lead"])
    assert bad.status_code == 409 and "it is accepted" in bad.json()["detail"]

    link = urlparse(events.last("assignment.approval_requested").data["approval_url"]).path
    view = client.get(link)  # no account
    assert view.status_code == 200 and view.json()["usable"] is True
    page = client.get(link, headers={"Accept": "text/html"})  # the manager's browser: the site's layout
    assert "Accepter" in page.text and "fr-header" in page.text and 'lang="fr"' in page.text
    assert page.headers["referrer-policy"] == "no-referrer" and page.headers["cache-control"] == "no-store"
    r = client.post(link, data={"decision": "approve", "reason": ""})  # the manager's browser sends the form
    assert r.status_code == 200 and "Vous avez accepté" in r.text and "fr-header" in r.text
    assert client.get(f"/api/v1/assignments/{aid}", headers=tokens["x"]).json()["state"] == "approved"
    again = client.post(link, json={"decision": "refuse"})
    assert again.status_code == 409 and "already been used" in again.json()["detail"]
    assert client.get(link[:-3] + "abc").status_code == 404

    assert client.post(f"/api/v1/assignments/{aid}/activate", headers=tokens["lead"]).status_code == 200
    r = client.post(f"/api/v1/assignments/{aid}/complete", json={"feedback": "Remarquable", "endorse": ["python"]},
                    headers=tokens["lead"])
    assert r.status_code == 200 and r.json()["state"] == "completed"
    profile = client.get(f"/api/v1/agents/{world['x']}", headers=tokens["reviewer"]).json()
    assert [s["endorsements"] for s in profile["skills"] if s["skill_id"] == "python"] == [1]

    audit = client.get("/api/v1/audit?limit=100", headers=tokens["reviewer"])
    assert audit.status_code == 200
    actions = [e["action"] for e in audit.json()["data"]]
    assert {"allocation.run", "assignment.proposed", "assignment.accepted", "assignment.approved",
            "assignment.activated", "assignment.completed"} <= set(actions)
    assert client.get("/api/v1/audit", headers=tokens["lead"]).status_code == 403
    export = client.get("/api/v1/audit/export.csv?action=assignment.", headers=tokens["reviewer"])
    assert export.status_code == 200 and export.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(export.text)))
    assert rows[0][0] == "id" and len(rows) == 1 + sum(a.startswith("assignment.") for a in actions)


@SQLITE_ONLY
def test_overrides_over_http_need_a_reviewer_a_reason_and_capacity(client, tokens, world, engine):
    n2 = make_need(engine, "n2")
    body = {"action": "force", "agent_id": world["x"], "need_id": world["n1"], "role": 0}
    assert client.post("/api/v1/allocations/overrides", json=body, headers=tokens["lead"]).status_code == 403
    r = client.post("/api/v1/allocations/overrides", json=body, headers=tokens["reviewer"])
    assert r.status_code == 422 and "reason" in r.json()["detail"]
    r = client.post("/api/v1/allocations/overrides", json={**body, "reason": "priorité ministre"},
                    headers=tokens["reviewer"])
    assert r.status_code == 200 and r.json()["forced"] is True
    r = client.post("/api/v1/allocations/overrides", json={**body, "need_id": n2, "reason": "aussi"},
                    headers=tokens["reviewer"])
    assert r.status_code == 409 and "100 %" in r.json()["detail"]
    aid = client.get("/api/v1/assignments", headers=tokens["reviewer"]).json()["data"][0]["id"]
    r = client.post(f"/api/v1/assignments/{aid}/withdraw", json={"reason": "non"}, headers=tokens["lead"])
    assert r.status_code == 403  # a forced assignment is the reviewers' to remove
    r = client.post("/api/v1/allocations/overrides", json={"action": "remove", "assignment_id": aid,
                                                           "reason": "levée"}, headers=tokens["reviewer"])
    assert r.status_code == 200 and r.json()["state"] == "withdrawn"


def test_a_priority_change_is_in_the_needs_audit_trail(client, tokens, world):
    n = world["n1"]
    r = client.patch(f"/api/v1/needs/{n}", json={"priority": 1, "reason": "demande du cabinet"},
                     headers=tokens["reviewer"])
    assert r.status_code == 200, r.text
    assert r.json()["priority"] == 1 and "reason" not in r.json()
    # Another field, the same priority: nothing about the priority to trace.
    assert client.patch(f"/api/v1/needs/{n}", json={"priority": 1, "title": "Renommé"},
                        headers=tokens["reviewer"]).status_code == 200
    assert client.patch(f"/api/v1/needs/{n}", json={"priority": 2}, headers=tokens["reviewer"]).status_code == 200
    trail = client.get(f"/api/v1/audit?subject_type=need&subject_id={n}&action=need.priority_changed",
                       headers=tokens["reviewer"])
    assert trail.status_code == 200, trail.text
    rows = trail.json()["data"]
    assert [(e["actor"], e["data"]["old_priority"], e["data"]["priority"], e["reason"]) for e in rows] == [
        ("revue@numerique.gouv.fr", 1, 2, ""),
        ("revue@numerique.gouv.fr", 3, 1, "demande du cabinet"),
    ]
    assert all(e["at"] for e in rows)


@SQLITE_ONLY
def test_unknown_filters_and_anonymous_calls_are_refused(client, tokens, world):
    assert client.get("/api/v1/assignments").status_code == 401
    assert client.get("/api/v1/assignments?state=flying", headers=tokens["reviewer"]).status_code in (400, 422)
    r = client.get(f"/api/v1/assignments?need_id={world['n1']}&state=proposed", headers=tokens["reviewer"])
    assert r.status_code == 200 and r.json()["count"] == 0
