"""GDPR: export (JSON, formula-safe CSV), erasure keeping anonymous statistics, the append-only access log and
the retention purge."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from talents.auth.gdpr import csv_safe
from talents.auth.testing import auth_headers, issue_token
from talents.kernel.db import session_scope, utcnow

pytestmark = pytest.mark.integration


@pytest.fixture
def agent(client, engine) -> dict[str, Any]:
    """An agent with a profile (some cells look like formulas), a skill, availability and a proposal."""
    admin = auth_headers(issue_token(engine, "admin@x.gouv.fr", "admin"))
    start = date.today() + timedelta(days=20)
    created = client.post("/api/v1/agents", headers=admin, json={
        "name": "=HYPERLINK(\"http://evil\")", "email": "marie.curie@recherche.gouv.fr", "ministry": "Recherche",
        "bio": "+33 6 12 34 56 78", "skills": [{"name": "Python", "level": 4}],
        "availability": [{"start": start.isoformat(), "end": (start + timedelta(days=60)).isoformat(),
                          "share": 0.8}]})
    assert created.status_code == 201, created.text
    need = client.post("/api/v1/needs", headers=admin, json={
        "title": "Équipe flash", "lead_email": "lead@x.gouv.fr", "start": start.isoformat(),
        "end": (start + timedelta(days=30)).isoformat(),
        "roles": [{"title": "Dev", "count": 1, "share": 0.6, "skills": [{"name": "Python", "level": 3}]}]})
    assert need.status_code == 201, need.text
    proposal = client.post("/api/v1/assignments", headers=admin, json={
        "need_id": need.json()["id"], "role": 0, "agent_id": created.json()["id"]})
    assert proposal.status_code < 300, proposal.text
    with engine.begin() as conn:
        if sa.inspect(conn).has_table("notification"):
            conn.execute(sa.text(
                "INSERT INTO notification (key, kind, channel, recipient, subject, data, status, attempts, "
                "max_attempts, next_attempt_at, last_error, created_at) VALUES ('k1', 'assignment.proposed', "
                "'inapp', 'marie.curie@recherche.gouv.fr', '@SUM(1)', '{}', 'sent', 1, 8, :now, '', :now)"),
                {"now": utcnow()})
    return {"id": created.json()["id"], "headers": auth_headers(issue_token(engine, "marie.curie@recherche.gouv.fr",
                                                                            "agent")),
            "admin": admin, "need_id": need.json()["id"], "proposed": proposal.status_code < 300}


def test_export_as_json_holds_all_of_my_data(client, agent):
    data = client.get("/api/v1/me/export", headers=agent["headers"]).json()
    assert data["profile"][0]["email"] == "marie.curie@recherche.gouv.fr"
    assert data["skills"][0]["skill_id"] and data["availability"][0]["share"] == 0.8
    assert data["account"][0]["roles"] == ["agent"]
    assert "token_hash" not in json.dumps(data)
    if agent["proposed"]:
        assert data["assignments"][0]["need_title"] == "Équipe flash"
    if "notifications" in data:
        assert "@SUM(1)" in [n["subject"] for n in data["notifications"]]


def test_export_as_csv_cannot_run_formulas_in_a_spreadsheet(client, agent):
    response = client.get("/api/v1/me/export", params={"format": "csv"}, headers=agent["headers"])
    assert response.status_code == 200 and response.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["content-disposition"]
    cells = [cell for row in csv.reader(io.StringIO(response.text)) for cell in row]
    assert "'=HYPERLINK(\"http://evil\")" in cells and "'+33 6 12 34 56 78" in cells
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]


@given(st.text(max_size=40))
def test_csv_cells_never_start_a_formula(text):
    cell = csv_safe(text)
    assert cell[:1] not in ("=", "+", "-", "@", "\t", "\r")
    assert cell == text or cell == "'" + text


def test_erasure_removes_identity_and_keeps_anonymous_statistics(client, agent, engine):
    erased = client.delete("/api/v1/me", headers=agent["headers"])
    assert erased.status_code == 200 and erased.json()["profile"] == 1
    assert client.get("/api/v1/me", headers=agent["headers"]).status_code == 401  # account and tokens gone
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT name, email, bio, ministry, erased_at FROM agent WHERE id = :i"),
                           {"i": agent["id"]}).one()
        assert row.name == "—" and "marie" not in row.email and row.bio == "" and row.erased_at is not None
        assert row.ministry == "Recherche"  # still counted per ministry
        assert conn.execute(sa.text("SELECT count(*) FROM agent_skill WHERE agent_id = :i"),
                            {"i": agent["id"]}).scalar() == 1
        assert conn.execute(sa.text("SELECT count(*) FROM availability WHERE agent_id = :i"),
                            {"i": agent["id"]}).scalar() == 0
        if agent["proposed"]:
            # The seat not yet started is given back (withdrawn, audited), the row stays without identity.
            states = conn.execute(sa.text("SELECT state FROM assignment WHERE agent_id = :i"),
                                  {"i": agent["id"]}).scalars().all()
            assert states == ["withdrawn"]
            assert erased.json()["assignments_withdrawn"] == 1
        if sa.inspect(conn).has_table("notification"):
            left = conn.execute(sa.text("SELECT count(*) FROM notification WHERE recipient LIKE 'marie%'")).scalar()
            assert left == 0
    assert client.get(f"/api/v1/agents/{agent['id']}", headers=agent["admin"]).status_code == 404


def test_views_of_a_profile_by_someone_else_are_logged_not_my_own(client, agent, engine):
    lead = auth_headers(issue_token(engine, "lead@x.gouv.fr", "lead"))
    assert client.get(f"/api/v1/agents/{agent['id']}", headers=lead).status_code == 200
    assert client.get(f"/api/v1/agents/{agent['id']}/skills", headers=agent["admin"]).status_code == 200
    assert client.get(f"/api/v1/agents/{agent['id']}", headers=agent["headers"]).status_code == 200
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT viewer_email, agent_id, path FROM access_log ORDER BY id")).all()
    assert [(r.viewer_email, r.agent_id) for r in rows] == [("lead@x.gouv.fr", agent["id"]),
                                                            ("admin@x.gouv.fr", agent["id"])]
    views = client.get("/api/v1/me/export", headers=agent["headers"]).json()["profile_views"]
    assert [v["viewer_email"] for v in views] == ["lead@x.gouv.fr", "admin@x.gouv.fr"]


def _log_a_view(engine, days_ago: int = 0) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO access_log (at, viewer_email, viewer_roles, agent_id, action, path) "
                             "VALUES (:at, 'x@y.fr', 'lead', 1, 'view', '/api/v1/agents/1')"),
                     {"at": utcnow() - timedelta(days=days_ago)})


def test_the_database_refuses_to_change_or_delete_the_access_log(engine):
    _log_a_view(engine)
    for statement in ("UPDATE access_log SET viewer_email = 'nobody'", "DELETE FROM access_log"):
        with pytest.raises(sa.exc.DatabaseError), engine.begin() as conn:
            conn.execute(sa.text(statement))
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT viewer_email FROM access_log")).scalar() == "x@y.fr"


def test_purge_deletes_only_what_outlived_its_retention(engine):
    from talents.auth.retention import purge

    _log_a_view(engine, days_ago=400)
    _log_a_view(engine, days_ago=10)
    with session_scope(engine) as session:
        counts = purge(session, utcnow())
    assert counts["access_log"] == 1
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM access_log")).scalar() == 1
        assert conn.execute(sa.text("SELECT count(*) FROM access_log_purge")).scalar() == 0
    # and outside a purge, the recent row still cannot go
    with pytest.raises(sa.exc.DatabaseError), engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM access_log"))


def test_purge_forgets_old_sessions_tokens_and_sign_in_flows(engine, client):
    token = issue_token(engine, "old@x.gouv.fr", "agent")
    long_ago = utcnow() - timedelta(days=400)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE auth_token SET revoked_at = :t"), {"t": long_ago})
        conn.execute(sa.text("INSERT INTO auth_login_flow (flow_hash, state, nonce, code_verifier, next_url, "
                             "created_at) VALUES ('h', 's', 'n', 'v', '/', :t)"), {"t": long_ago})
    result = CliRunner().invoke(__import__("talents.cli", fromlist=["app"]).app, ["gdpr", "purge", "--json"])
    assert result.exit_code == 0, result.output
    counts = json.loads(result.stdout.strip().splitlines()[-1])
    assert counts["revoked_tokens"] == 1 and counts["login_flows"] == 1
    assert client.get("/api/v1/me", headers=auth_headers(token)).status_code == 401


def test_purge_keeps_notifications_still_owed(engine):
    """Old deliveries that are finished go; pending, held-for-digest and mid-delivery ones stay."""
    from datetime import timedelta

    from talents.auth.retention import purge

    old = utcnow() - timedelta(days=3650)
    with engine.begin() as conn:
        for i, status in enumerate(("sent", "failed", "digested", "cancelled", "pending", "held", "sending")):
            conn.execute(sa.text(
                "INSERT INTO notification (key, kind, channel, recipient, subject, data, status, attempts, "
                "max_attempts, next_attempt_at, last_error, created_at) VALUES (:k, 'assignment.proposed', "
                "'email', 'a@pm.gouv.fr', '', '{}', :s, 0, 8, :t, '', :t)"), {"k": f"key-{i}", "s": status, "t": old})
    with session_scope(engine) as session:
        assert purge(session, utcnow())["notifications"] == 4
    with engine.connect() as conn:
        left = {r[0] for r in conn.execute(sa.text("SELECT status FROM notification"))}
    assert left == {"pending", "held", "sending"}
