"""OpenID Connect sign-in against a small provider started on 127.0.0.1; sessions, CSRF, sign-out, demo."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
import sqlalchemy as sa
from auth_oidc_provider import Provider

from talents.auth.service import UserService
from talents.kernel.db import session_scope
from talents.kernel.settings import reset_settings

pytestmark = pytest.mark.integration


@pytest.fixture
def provider(engine, monkeypatch) -> Iterator[Provider]:
    with Provider() as p:
        monkeypatch.setenv("TALENTS_OIDC_ISSUER", p.issuer)
        monkeypatch.setenv("TALENTS_OIDC_CLIENT_ID", p.client_id)
        monkeypatch.setenv("TALENTS_OIDC_CLIENT_SECRET", p.client_secret)
        reset_settings()
        yield p
    reset_settings()


@pytest.fixture
def app_client(provider, engine) -> Iterator[Any]:
    from litestar.testing import TestClient

    from talents.app import create_app

    with TestClient(create_app()) as c:
        yield c


def start(client: Any, next_path: str = "/") -> tuple[httpx.Response, dict[str, str]]:
    """Follow the flow up to the provider's redirect back to us; returns (redirect to us, its query)."""
    begin = client.get("/auth/login", params={"next": next_path}, follow_redirects=False)
    assert begin.status_code in (302, 303), begin.text
    back = httpx.get(begin.headers["location"], follow_redirects=False)
    assert back.status_code == 302
    query = {k: v[0] for k, v in parse_qs(urlparse(back.headers["location"]).query).items()}
    return begin, query


def sign_in(client: Any, next_path: str = "/") -> httpx.Response:
    _, query = start(client, next_path)
    return client.get("/auth/oidc/callback", params=query, follow_redirects=False)


def me(client: Any, **kwargs: Any) -> httpx.Response:
    return client.get("/api/v1/me", **kwargs)


def test_sign_in_follows_the_code_flow_with_state_nonce_and_pkce(app_client, provider):
    begin, query = start(app_client, "/besoins")
    asked = provider.authorize_requests[-1]
    assert len(asked["state"]) >= 32 and len(asked["nonce"]) >= 32
    assert asked["code_challenge_method"] == "S256" and len(asked["code_challenge"]) >= 43
    assert asked["scope"] == "openid given_name usual_name email uid siret idp_id"
    assert asked["redirect_uri"].endswith("/auth/oidc/callback")
    done = app_client.get("/auth/oidc/callback", params=query, follow_redirects=False)
    assert done.status_code in (302, 303) and done.headers["location"] == "/besoins"
    cookies = done.headers.get_list("set-cookie")
    session_cookie = next(c for c in cookies if c.startswith("talents_session="))
    assert "HttpOnly" in session_cookie and "SameSite=lax" in session_cookie.replace("Lax", "lax")
    body = me(app_client).json()
    assert body["email"] == "jeanne.martin@interieur.gouv.fr"
    assert body["roles"] == ["agent"] and body["via"] == "session" and body["csrf_token"]


def test_without_advertised_pkce_only_the_parameters_proconnect_knows_are_sent(app_client, provider):
    provider.pkce = False
    assert sign_in(app_client).status_code in (302, 303)
    asked = provider.authorize_requests[-1]
    assert "code_challenge" not in asked
    assert json.loads(asked["claims"]) == {"id_token": {"amr": {"essential": True}}}
    assert me(app_client).status_code == 200


def test_userinfo_as_plain_json_is_accepted_too(app_client, provider):
    provider.userinfo_as_jwt = False
    assert sign_in(app_client).status_code in (302, 303)
    assert me(app_client).json()["email"] == "jeanne.martin@interieur.gouv.fr"


@pytest.mark.parametrize("tamper", ["wrong_nonce", "bad_signature", "expired", "audience", "issuer", "unsigned",
                                    "hs256", "userinfo_sub"])
def test_an_untrustworthy_id_token_opens_no_session(app_client, provider, tamper):
    provider.tamper = {tamper}
    response = sign_in(app_client)
    assert response.status_code == 401
    assert "talents_session=" not in response.headers.get("set-cookie", "")
    assert me(app_client).status_code == 401


def test_a_wrong_state_is_refused_and_the_flow_is_burnt(app_client, provider):
    _, query = start(app_client)
    forged = {**query, "state": "x" * 43}
    assert app_client.get("/auth/oidc/callback", params=forged, follow_redirects=False).status_code == 400
    # the flow was used once: the right state no longer works either
    assert app_client.get("/auth/oidc/callback", params=query, follow_redirects=False).status_code == 400
    assert me(app_client).status_code == 401


def test_a_callback_without_the_browser_that_started_it_is_refused(app_client, provider):
    _, query = start(app_client)
    app_client.cookies.clear()
    assert app_client.get("/auth/oidc/callback", params=query, follow_redirects=False).status_code == 400


def test_accounts_are_matched_on_e_mail_never_on_sub(app_client, provider, engine):
    sign_in(app_client)
    first = me(app_client).json()
    provider.user = {**provider.user, "sub": "another-idp-sub", "email": "JEANNE.MARTIN@interieur.gouv.fr"}
    sign_in(app_client)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM auth_user")).scalar() == 1
    assert me(app_client).json()["email"] == first["email"]


def test_reviewers_need_multi_factor_sign_in(app_client, provider, engine):
    with session_scope(engine) as s:
        UserService(s).ensure(provider.user["email"], ["reviewer"])
    provider.acr, provider.amr = "eidas1", ["pwd"]
    sign_in(app_client)
    body = me(app_client).json()
    assert "reviewer" not in body["roles"] and body["withheld_roles"] == ["reviewer"]
    refused = app_client.get("/api/v1/review/summary")
    assert refused.status_code == 403 and "multi-factor" in refused.json()["detail"]
    provider.amr = ["pwd", "mfa"]
    sign_in(app_client)
    assert "reviewer" in me(app_client).json()["roles"]
    assert app_client.get("/api/v1/review/summary").status_code == 200


def test_an_mfa_acr_also_counts(app_client, provider, engine):
    with session_scope(engine) as s:
        UserService(s).ensure(provider.user["email"], ["reviewer"])
    provider.acr, provider.amr = "eidas2", None
    sign_in(app_client)
    assert "reviewer" in me(app_client).json()["roles"]


def test_signing_in_again_rotates_the_session_id(app_client, provider):
    sign_in(app_client)
    old = app_client.cookies.get("talents_session")
    sign_in(app_client)
    new = app_client.cookies.get("talents_session")
    assert old and new and old != new
    assert me(app_client, cookies={"talents_session": old}).status_code == 401
    assert me(app_client).status_code == 200


def test_a_session_opened_on_one_instance_works_on_another(app_client, provider):
    from litestar.testing import TestClient

    from talents.app import create_app

    sign_in(app_client)
    with TestClient(create_app()) as other:  # another worker or instance, same database
        other.cookies.set("talents_session", app_client.cookies.get("talents_session"))
        assert me(other).json()["email"] == provider.user["email"]


def test_sign_out_needs_csrf_ends_the_session_and_goes_through_end_session(app_client, provider):
    sign_in(app_client)
    csrf = me(app_client).json()["csrf_token"]
    sid = app_client.cookies.get("talents_session")
    assert app_client.post("/auth/logout", follow_redirects=False).status_code == 403
    out = app_client.post("/auth/logout", headers={"X-CSRF-Token": csrf}, follow_redirects=False)
    assert out.status_code == 303
    target = urlparse(out.headers["location"])
    assert f"{target.scheme}://{target.netloc}" == provider.issuer and target.path == "/logout"
    q = {k: v[0] for k, v in parse_qs(target.query).items()}
    assert q["id_token_hint"].count(".") == 2 and len(q["state"]) >= 32
    assert q["post_logout_redirect_uri"].endswith("/auth/logged-out")
    assert me(app_client, cookies={"talents_session": sid}).status_code == 401


def test_sign_out_form_carries_the_csrf_token(app_client, provider):
    sign_in(app_client)
    page = app_client.get("/auth/logout")
    csrf = me(app_client).json()["csrf_token"]
    assert f'value="{csrf}"' in page.text
    out = app_client.post("/auth/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert out.status_code == 303
    assert me(app_client).status_code == 401


def test_cookie_authenticated_writes_need_the_csrf_header_bearer_ones_do_not(app_client, provider, engine):
    from talents.auth.testing import auth_headers, issue_token

    sign_in(app_client)
    csrf = me(app_client).json()["csrf_token"]
    body = {"name": "Jeanne Martin", "email": "jeanne.martin@interieur.gouv.fr", "ministry": "Intérieur"}
    assert app_client.post("/api/v1/agents", json=body).status_code == 403
    assert app_client.post("/api/v1/agents", json=body, headers={"X-CSRF-Token": "nope" * 11}).status_code == 403
    assert app_client.post("/api/v1/agents", json=body, headers={"X-CSRF-Token": csrf}).status_code == 201
    token = issue_token(engine, "robot@x.gouv.fr", "reviewer")
    other = {**body, "email": "paul@x.gouv.fr"}
    app_client.cookies.clear()
    assert app_client.post("/api/v1/agents", json=other, headers=auth_headers(token)).status_code == 201


def test_sessions_end_after_the_idle_and_the_absolute_timeouts(app_client, provider, engine):
    sign_in(app_client)
    assert me(app_client).status_code == 200
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE auth_session SET last_seen_at = :t"),
                     {"t": _ago(hours=2)})
    assert me(app_client).status_code == 401
    sign_in(app_client)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE auth_session SET expires_at = :t WHERE ended_at IS NULL"),
                     {"t": _ago(seconds=1)})
    assert me(app_client).status_code == 401


def _ago(**delta: float) -> Any:
    from datetime import timedelta

    from talents.kernel.db import utcnow

    return utcnow() - timedelta(**delta)


def test_session_cookies_are_secure_when_configured(provider, engine, monkeypatch):
    from litestar.testing import TestClient

    from talents.app import create_app

    monkeypatch.setenv("TALENTS_COOKIE_SECURE", "true")
    reset_settings()
    with TestClient(create_app(), base_url="https://testserver.local") as c:
        response = sign_in(c)
    cookies = response.headers.get_list("set-cookie")
    assert all("Secure" in c for c in cookies if c.startswith(("talents_session=", "talents_csrf=")))


def test_cookie_secure_cannot_be_turned_off_in_production(monkeypatch):
    from talents.kernel.settings import get_settings

    monkeypatch.setenv("TALENTS_ENV", "production")
    monkeypatch.setenv("TALENTS_SECRET_KEY", "p" * 40)
    monkeypatch.setenv("TALENTS_COOKIE_SECURE", "false")
    reset_settings()
    try:
        with pytest.raises(ValueError, match="COOKIE_SECURE"):
            get_settings()
    finally:
        monkeypatch.undo()
        reset_settings()


def test_an_es256_provider_works_too(engine, monkeypatch):
    from litestar.testing import TestClient

    from talents.app import create_app

    with Provider(alg="ES256") as p:
        monkeypatch.setenv("TALENTS_OIDC_ISSUER", p.issuer)
        monkeypatch.setenv("TALENTS_OIDC_CLIENT_ID", p.client_id)
        monkeypatch.setenv("TALENTS_OIDC_CLIENT_SECRET", p.client_secret)
        reset_settings()
        with TestClient(create_app()) as c:
            assert sign_in(c).status_code in (302, 303)
            assert me(c).status_code == 200
    reset_settings()


def test_next_cannot_send_people_to_another_site():
    from talents.auth.web import safe_next

    for bad in ("https://evil.example", "//evil.example", "/\\evil.example", "javascript:alert(1)", "", None,
                "/ok\r\nSet-Cookie: x=1"):
        assert safe_next(bad) == "/"
    assert safe_next("/besoins/3?x=1") == "/besoins/3?x=1"


def test_capability_links_do_not_need_the_csrf_token_even_with_a_session(app_client, provider):
    sign_in(app_client)
    answer = app_client.post("/manager/approvals/not-a-real-token", data={"decision": "approve"})
    assert answer.status_code != 403 or "CSRF" not in answer.text
    assert answer.status_code < 500


def test_a_disabled_account_cannot_sign_in(app_client, provider, engine):
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO auth_user (email, email_key, name, roles, active, created_at) "
                             "VALUES (:e, :e, '', '[]', :f, :t)"),
                     {"e": provider.user["email"], "f": False, "t": _ago(seconds=0)})
    assert sign_in(app_client).status_code == 403
    assert me(app_client).status_code == 401
