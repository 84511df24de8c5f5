"""API tokens and the principal: deny by default, tokens stored hashed, CLI and admin API."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from talents.auth.service import UserService
from talents.auth.testing import auth_headers, issue_token
from talents.kernel.db import session_scope

pytestmark = pytest.mark.integration


def test_api_routes_refuse_anonymous_callers(client):
    response = client.get("/api/v1/needs")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_health_and_schema_stay_public(client):
    assert client.get("/healthz").status_code == 200
    assert client.get("/schema/openapi.json").status_code == 200


def test_a_real_token_authenticates_and_names_its_principal(client, engine):
    token = issue_token(engine, "Lea.Martin@Finances.gouv.fr", "lead")
    me = client.get("/api/v1/me", headers=auth_headers(token)).json()
    assert me["email"] == "Lea.Martin@Finances.gouv.fr"
    assert me["roles"] == ["lead"]
    assert me["via"] == "token"
    assert client.get("/api/v1/needs", headers=auth_headers(token)).status_code == 200


def test_unknown_or_malformed_tokens_are_401_not_anonymous(client):
    for header in ("Bearer tal_nope", "Bearer ", "Basic Zm9vOmJhcg==", "Bearer " + "x" * 5000):
        assert client.get("/api/v1/me", headers={"Authorization": header}).status_code == 401


def test_a_revoked_token_stops_working(client, engine, admin):
    token = issue_token(engine, "a@x.gouv.fr", "agent")
    assert client.get("/api/v1/me", headers=auth_headers(token)).status_code == 200
    listed = client.get("/api/v1/admin/tokens", params={"email": "a@x.gouv.fr"}, headers=admin).json()
    assert client.delete(f"/api/v1/admin/tokens/{listed[0]['id']}", headers=admin).status_code == 204
    assert client.get("/api/v1/me", headers=auth_headers(token)).status_code == 401


def test_reads_that_check_the_caller_with_their_read_refuse_a_bad_or_revoked_token_before_any_other_answer(
    client, engine, admin
):
    # On PostgreSQL the needs list and the profile read check the caller in their read's trip to a thread: a bad
    # or revoked token is still a 401, before a refused parameter (400) or an unknown profile (404) is said.
    token = issue_token(engine, "lecture@x.gouv.fr", "lead")
    paths = ("/api/v1/needs?limit=20", "/api/v1/needs?limit=0", "/api/v1/agents/1", "/api/v1/agents/999999")
    assert client.get(paths[0], headers=auth_headers(token)).status_code == 200
    assert client.get(paths[1], headers=auth_headers(token)).status_code == 400
    assert client.get(paths[3], headers=auth_headers(token)).status_code == 404
    for path in paths:
        assert client.get(path, headers={"Authorization": "Bearer tal_nope"}).status_code == 401, path
    listed = client.get("/api/v1/admin/tokens", params={"email": "lecture@x.gouv.fr"}, headers=admin).json()
    assert client.delete(f"/api/v1/admin/tokens/{listed[0]['id']}", headers=admin).status_code == 204
    for path in paths:
        assert client.get(path, headers=auth_headers(token)).status_code == 401, path


def test_tokens_are_stored_hashed_never_in_clear(engine):
    token = issue_token(engine, "b@x.gouv.fr", "agent")
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT token_hash, prefix FROM auth_token")).all()
    assert rows and all(token not in " ".join(map(str, r)) for r in rows)
    assert rows[0].prefix == token[:10]


def test_emails_are_one_account_whatever_the_case(engine):
    with session_scope(engine) as session:
        first = UserService(session).ensure("Jean.Dupont@Interieur.gouv.fr", ["agent"])
        second = UserService(session).ensure("jean.dupont@interieur.gouv.fr", ["lead"])
        assert first.id == second.id
        assert set(second.roles) == {"agent", "lead"}


def test_admin_api_shows_a_new_token_once_and_only_admins_may_call_it(client, admin, as_role):
    body = {"email": "c@x.gouv.fr", "roles": ["lead"], "name": "ci"}
    created = client.post("/api/v1/admin/tokens", json=body, headers=admin)
    assert created.status_code == 201
    token = created.json()["token"]
    assert client.get("/api/v1/me", headers=auth_headers(token)).json()["roles"] == ["lead"]
    listing = client.get("/api/v1/admin/tokens", headers=admin)
    assert token not in listing.text
    assert client.get("/api/v1/admin/tokens", headers=auth_headers(token)).status_code == 403
    reviewer = as_role("r@x.gouv.fr", "reviewer")
    refused = client.post("/api/v1/admin/tokens", json={"email": "d@x.gouv.fr"}, headers=reviewer)
    assert refused.status_code == 403


def test_admin_api_refuses_unknown_roles(client, admin):
    body = {"email": "c@x.gouv.fr", "roles": ["king"]}
    response = client.post("/api/v1/admin/tokens", json=body, headers=admin)
    assert response.status_code == 422


def test_cli_prints_the_token_alone_on_its_last_line_then_lists_and_revokes(client, engine):
    from talents.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["tokens", "create", "--email", "cli@x.gouv.fr", "--role", "reviewer",
                                 "--role", "agent", "--name", "batch"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("tal_") and " " not in token
    me = client.get("/api/v1/me", headers=auth_headers(token)).json()
    assert set(me["roles"]) == {"reviewer", "agent"}
    listed = runner.invoke(app, ["tokens", "list", "--email", "cli@x.gouv.fr", "--json"])
    assert token not in listed.stdout
    import json

    token_id = json.loads(listed.stdout)[0]["id"]
    assert runner.invoke(app, ["tokens", "revoke", str(token_id)]).exit_code == 0
    assert client.get("/api/v1/me", headers=auth_headers(token)).status_code == 401
    assert runner.invoke(app, ["tokens", "revoke", "999999"]).exit_code == 1
    other = runner.invoke(app, ["tokens", "create", "--email", "cli@x.gouv.fr"]).stdout.strip().splitlines()[-1]
    assert runner.invoke(app, ["tokens", "revoke", other]).exit_code == 0
    assert client.get("/api/v1/me", headers=auth_headers(other)).status_code == 401
    assert runner.invoke(app, ["tokens", "create", "--email", "x@y.fr", "--role", "king"]).exit_code == 2
