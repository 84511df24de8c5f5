"""What an agent may not grant themselves, what a list of agents shows, and the headers every response carries."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, timedelta

import pytest
from sqlmodel import col, select

from profiles.models import AccessLog
from talents.auth.testing import auth_headers, issue_token
from talents.kernel.db import session_scope
from talents.kernel.settings import reset_settings

pytestmark = pytest.mark.integration
SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"])
A = "/api/v1/agents"


def _profile(client, headers, email: str, **extra: object) -> dict:
    start = date.today() + timedelta(days=30)
    body = {"name": email.split("@")[0], "email": email, "ministry": "Culture", "bio": "Ma bio",
            "skills": [{"name": "Python", "level": 4}],
            "availability": [{"start": start.isoformat(), "end": (start + timedelta(days=60)).isoformat(),
                              "share": 0.8}], **extra}
    created = client.post(A, json=body, headers=headers)
    assert created.status_code == 201, created.text
    return created.json()


@SQLITE_ONLY
def test_an_agent_cannot_hand_their_profile_to_another_account(client, engine):
    me = auth_headers(issue_token(engine, "moi@culture.gouv.fr", "agent"))
    mine = _profile(client, me, "moi@culture.gouv.fr")
    other = auth_headers(issue_token(engine, "autre@culture.gouv.fr", "agent"))
    moved = client.patch(f"{A}/{mine['id']}", json={"email": "autre@culture.gouv.fr"}, headers=me)
    assert moved.status_code == 403 and moved.json()["field"] == "email"
    assert client.get("/api/v1/me", headers=other).json()["agent_id"] is None
    assert client.get("/api/v1/me/export", headers=other).json().get("agent") in (None, [], {})
    # the same address in another case is no change
    assert client.patch(f"{A}/{mine['id']}", json={"email": "Moi@culture.gouv.fr"}, headers=me).status_code == 200
    # DINUM may correct an address
    reviewer = auth_headers(issue_token(engine, "revue@numerique.gouv.fr", "reviewer"))
    fixed = client.patch(f"{A}/{mine['id']}", json={"email": "moi.nom@culture.gouv.fr"}, headers=reviewer)
    assert fixed.status_code == 200


@SQLITE_ONLY
def test_an_agent_creates_their_profile_without_naming_their_manager(client, engine):
    me = auth_headers(issue_token(engine, "moi@culture.gouv.fr", "agent"))
    start = {"name": "Moi", "email": "moi@culture.gouv.fr", "ministry": "Culture"}
    refused = client.post(A, json={**start, "manager_email": "complice@culture.gouv.fr"}, headers=me)
    assert refused.status_code == 403 and refused.json()["field"] == "manager_email"
    assert client.post(A, json={**start, "external_id": "someone-else"}, headers=me).status_code == 403
    assert client.post(A, json=start, headers=me).status_code == 201


def test_production_refuses_to_start_with_the_demo_on(tmp_path):
    env = {**os.environ, "TALENTS_ENV": "production", "TALENTS_DEMO": "true",
           "TALENTS_SECRET_KEY": "s" * 48, "TALENTS_DATABASE_URL": f"sqlite:///{tmp_path / 'prod.db'}"}
    result = subprocess.run([sys.executable, "-m", "talents.cli", "serve", "--port", "0"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "Error: invalid settings: TALENTS_DEMO cannot be on in production" in result.stderr
    assert "Traceback" not in result.stderr and "ValidationError" not in result.stderr  # one line, not a dump


@SQLITE_ONLY
def test_lists_of_agents_show_what_the_caller_may_see_and_are_logged(client, engine):
    admin = auth_headers(issue_token(engine, "admin@numerique.gouv.fr", "admin"))
    public = _profile(client, admin, "public@culture.gouv.fr", manager_email="chef@culture.gouv.fr")
    private = _profile(client, admin, "prive@culture.gouv.fr", visibility="private")
    lead = auth_headers(issue_token(engine, "porteur@numerique.gouv.fr", "lead"))

    listed = client.get(A, headers=lead)
    assert listed.status_code == 200
    rows = {r["id"]: r for r in listed.json()["data"]}
    assert private["id"] not in rows and listed.json()["count"] == 1
    assert rows[public["id"]]["email"] is None and rows[public["id"]]["manager_email"] is None
    assert rows[public["id"]]["bio"] is None and rows[public["id"]]["name"] == "public"
    assert client.get(A, params={"q": "public@"}, headers=lead).json()["count"] == 0  # no search by e-mail
    assert client.get(f"{A}/{private['id']}", headers=lead).status_code == 404
    assert client.get(f"{A}/{private['id']}/skills", headers=lead).status_code == 404

    reviewer = auth_headers(issue_token(engine, "revue@numerique.gouv.fr", "reviewer"))
    everything = {r["id"]: r for r in client.get(A, headers=reviewer).json()["data"]}
    assert everything[private["id"]]["email"] == "prive@culture.gouv.fr"
    assert everything[public["id"]]["manager_email"] == "chef@culture.gouv.fr"

    with session_scope(engine) as s:
        logged = s.exec(select(AccessLog.viewer_email, AccessLog.agent_id, AccessLog.action)
                        .where(col(AccessLog.action) == "list")).all()
    assert ("porteur@numerique.gouv.fr", public["id"], "list") in logged
    assert ("revue@numerique.gouv.fr", private["id"], "list") in logged
    assert ("porteur@numerique.gouv.fr", private["id"], "list") not in logged


@SQLITE_ONLY
@pytest.mark.parametrize("path", ["/", "/api/v1/needs", "/nulle-part", "/schema/swagger", "/static/js/swagger-init.js"])
def test_every_response_carries_the_security_headers(client, path):
    response = client.get(path, headers={"Accept": "text/html"})
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"]
    assert "strict-transport-security" not in response.headers  # development: http


@SQLITE_ONLY
def test_the_api_explorer_runs_no_inline_script(client):
    page = client.get("/schema/swagger")
    assert page.status_code == 200
    html = page.text
    assert "<script>" not in html and "<script type" not in html
    assert html.count("<script src=") == 3 and "/static/js/swagger-init.js" in html
    spec = client.get("/schema/openapi.json")
    assert spec.status_code == 200 and spec.json()["info"]["title"].startswith("Talents")


@SQLITE_ONLY
def test_production_adds_hsts(engine, monkeypatch):
    from litestar.testing import TestClient

    from talents.app import create_app

    monkeypatch.setenv("TALENTS_ENV", "production")
    monkeypatch.setenv("TALENTS_SECRET_KEY", "p" * 48)
    reset_settings()
    try:
        with TestClient(create_app()) as c:
            assert "max-age=" in c.get("/healthz").headers["strict-transport-security"]
    finally:
        monkeypatch.delenv("TALENTS_ENV")
        monkeypatch.delenv("TALENTS_SECRET_KEY")
        reset_settings()


@SQLITE_ONLY
def test_ranked_candidates_shown_to_a_lead_are_written_to_the_access_log(client, engine, others_edits_seen):
    admin = auth_headers(issue_token(engine, "admin@numerique.gouv.fr", "admin"))
    agent = _profile(client, admin, "candidat@culture.gouv.fr")
    start = date.today() + timedelta(days=35)
    need = client.post("/api/v1/needs", json={
        "title": "Équipe flash", "lead_email": "porteur@numerique.gouv.fr", "start": start.isoformat(),
        "end": (start + timedelta(days=20)).isoformat(),
        "roles": [{"title": "Dev", "share": 0.6, "skills": [{"name": "Python", "level": 3}]}]}, headers=admin).json()
    lead = auth_headers(issue_token(engine, "porteur@numerique.gouv.fr", "lead"))
    others_edits_seen()  # the profile is the admin's edit
    ranked = client.get(f"/api/v1/needs/{need['id']}/roles/0/candidates", headers=lead)
    assert ranked.status_code == 200 and [c["agent_id"] for c in ranked.json()["candidates"]] == [agent["id"]]
    assert client.get(f"/besoins/{need['id']}", headers={**lead, "Accept": "text/html"}).status_code == 200
    with session_scope(engine) as s:
        paths = s.exec(select(AccessLog.path).where(AccessLog.agent_id == agent["id"],
                                                    col(AccessLog.action) == "candidates")).all()
    assert f"/api/v1/needs/{need['id']}/roles/0/candidates" in paths and f"/besoins/{need['id']}" in paths
