"""One error story: the same JSON body for the API whatever raised the error, a French page for a browser."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from talents.workflow.tokens import make_approval_token

pytestmark = pytest.mark.integration

HTML = {"Accept": "text/html,application/xhtml+xml"}


def test_the_auth_middleware_answers_like_every_other_error(client):
    refused = client.get("/api/v1/agents")
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == "Bearer"
    assert refused.json() == {"detail": "sign in or send an API token", "status_code": 401}
    bad = client.get("/api/v1/agents", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and bad.json()["status_code"] == 401
    assert "invalid_token" in bad.headers["www-authenticate"]


def test_a_refusal_by_a_route_rule_names_the_field(client, as_role, admin):
    need = client.post("/api/v1/needs", json={
        "title": "Besoin", "lead_email": "owner@x.gouv.fr", "start": "2030-01-01", "end": "2030-02-01"},
        headers=admin)
    assert need.status_code == 201, need.text
    other_lead = as_role("other@x.gouv.fr", "lead")
    refused = client.patch(f"/api/v1/needs/{need.json()['id']}", json={"title": "x"}, headers=other_lead)
    assert refused.status_code == 403
    assert refused.json()["field"] == "need_id"
    assert refused.json()["detail"] == "only the need's lead may change it"


def test_validation_and_routing_errors_share_the_body(client, admin):
    invalid = client.post("/api/v1/agents", json={"name": "x"}, headers=admin)
    assert invalid.status_code == 400
    body = invalid.json()
    assert body["status_code"] == 400 and body["field"] in {e["key"] for e in body["extra"]}
    missing = client.get("/api/v1/nowhere", headers=admin)
    assert missing.status_code == 404 and missing.json()["status_code"] == 404
    wrong_method = client.put("/api/v1/needs", json={}, headers=admin)
    assert wrong_method.status_code == 405 and wrong_method.json()["status_code"] == 405


@pytest.mark.parametrize(("path", "status", "title"), [
    ("/nulle-part", 404, "Page introuvable"),
    ("/api/v1/agents", 401, None),  # the API answers JSON even to a browser
])
def test_a_browser_gets_a_french_page_in_the_sites_layout(client, path, status, title):
    response = client.get(path, headers=HTML)
    assert response.status_code == status
    if title is None:
        assert response.headers["content-type"].startswith("application/json")
        return
    assert response.headers["content-type"].startswith("text/html")
    assert f"<h1>{title}</h1>" in response.text
    assert 'class="fr-header"' in response.text and "Retour à l'accueil" in response.text


def test_a_browser_posting_to_a_get_only_page_reads_why_in_french(client):
    response = client.post("/besoins", headers=HTML)
    assert response.status_code in (403, 405)
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>" in response.text and "fr-alert" in response.text


def test_expired_and_damaged_approval_links_have_their_own_page(client):
    expired = make_approval_token(1, 1, datetime.now(UTC) - timedelta(seconds=5))
    page = client.get(f"/manager/approvals/{expired}", headers=HTML)
    assert page.status_code == 409 and "<h1>Lien expiré</h1>" in page.text
    damaged = client.get("/manager/approvals/not-a-token", headers=HTML)
    assert damaged.status_code == 404 and "<h1>Lien invalide</h1>" in damaged.text
    as_json = client.get("/manager/approvals/not-a-token")
    assert as_json.json() == {"detail": "this approval link is not valid", "status_code": 404}


def test_an_unexpected_error_is_a_500_page_for_a_browser_and_json_for_the_api(engine):
    from litestar import get
    from litestar.testing import TestClient

    from talents.app import create_app

    @get("/boom", opt={"public": True}, sync_to_thread=False)
    def boom() -> None:
        raise RuntimeError("unexpected")

    @get("/api/v1/boom", opt={"public": True}, sync_to_thread=False)
    def api_boom() -> None:
        raise RuntimeError("unexpected")

    with TestClient(create_app(extra_route_handlers=[boom, api_boom])) as c:
        page = c.get("/boom", headers=HTML)
        assert page.status_code == 500 and "<h1>Erreur du serveur</h1>" in page.text
        api = c.get("/api/v1/boom", headers=HTML)
        assert api.status_code == 500
        assert api.json() == {"detail": "Internal Server Error", "status_code": 500,
                              "request_id": api.headers["x-request-id"]}
