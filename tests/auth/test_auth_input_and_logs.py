"""Bad input (oversized bodies, odd strings) and logs that never carry a secret."""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from talents.auth.testing import auth_headers, issue_token
from talents.kernel.settings import reset_settings

pytestmark = pytest.mark.integration


def _client() -> Any:
    from litestar.testing import TestClient

    from talents.app import create_app

    return TestClient(create_app())


def test_oversized_bodies_are_refused_with_413(sqlite_engine, monkeypatch):
    monkeypatch.setenv("TALENTS_MAX_BODY_BYTES", "2000")
    reset_settings()
    headers = auth_headers(issue_token(sqlite_engine, "big@x.gouv.fr", "reviewer"))
    body = {"name": "x", "email": "big@x.gouv.fr", "ministry": "Culture", "bio": "b" * 3000}
    with _client() as c:
        assert c.post("/api/v1/agents", json=body, headers=headers).status_code == 413
        assert c.post("/api/v1/agents/import", content=b"{}\n" * 1000, headers=headers).status_code == 413
        small = {**body, "bio": "short"}
        assert c.post("/api/v1/agents", json=small, headers=headers).status_code == 201
    reset_settings()


@given(st.one_of(st.none(), st.text(max_size=60)))
def test_next_targets_are_always_local_paths(value):
    from talents.auth.web import safe_next

    target = safe_next(value)
    assert target.startswith("/") and not target.startswith("//") and "\\" not in target
    assert not any(ord(c) < 32 for c in target)
    assert target == "/" or target == value


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=300))
def test_any_bearer_string_is_either_a_token_or_nobody(sqlite_engine, text):
    from talents.auth.service import TokenService
    from talents.kernel.db import session_scope
    from talents.kernel.principal import ANONYMOUS

    with session_scope(sqlite_engine) as session:
        assert TokenService(session).resolve(text) == ANONYMOUS


@given(st.text(max_size=80))
def test_only_plausible_addresses_become_accounts(text):
    from talents.auth.service import email_key

    assert email_key(email_key(text)) == email_key(text)


@settings(max_examples=50, deadline=None)
@given(st.floats(min_value=0, max_value=4e9, allow_nan=False), st.integers(min_value=1, max_value=3600))
def test_retry_after_is_within_the_window(now, window):
    from talents.auth.ratelimit import hit

    class FakeSession:
        hits = 0

        def get_bind(self) -> Any:
            return type("B", (), {"dialect": type("D", (), {"name": "sqlite"})()})()

        def execute(self, _stmt: Any, _params: Any = None) -> Any:
            self.hits += 1
            return type("R", (), {"scalar_one": lambda _self: self.hits})()

    fake: Any = FakeSession()
    assert hit(fake, "k", 1, window, now=now) is None
    retry = hit(fake, "k", 1, window, now=now)
    assert retry is not None and 1 <= retry <= window + 1


def test_logs_never_carry_tokens_cookies_or_oidc_secrets(engine, monkeypatch, capsys):
    from auth_oidc_provider import Provider

    logging.getLogger("httpx").setLevel(logging.WARNING)  # the test client's own request lines
    token = issue_token(engine, "robot@x.gouv.fr", "reviewer")
    with Provider() as p:
        monkeypatch.setenv("TALENTS_OIDC_ISSUER", p.issuer)
        monkeypatch.setenv("TALENTS_OIDC_CLIENT_ID", p.client_id)
        monkeypatch.setenv("TALENTS_OIDC_CLIENT_SECRET", p.client_secret)
        monkeypatch.setenv("TALENTS_LOG_LEVEL", "DEBUG")
        reset_settings()
        with _client() as c:
            begin = c.get("/auth/login", follow_redirects=False)
            back = httpx.get(begin.headers["location"], follow_redirects=False)
            query = {k: v[0] for k, v in parse_qs(urlparse(back.headers["location"]).query).items()}
            c.get("/auth/oidc/callback", params=query, follow_redirects=False)
            sid = c.cookies.get("talents_session")
            csrf = c.get("/api/v1/me").json()["csrf_token"]
            c.post("/api/v1/projects", json={"name": "P", "ministry": "Culture"}, headers={"X-CSRF-Token": csrf})
            c.post("/api/v1/projects", json={"name": "P", "ministry": "Culture"})  # CSRF refused: logged
            c.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
            c.get("/api/v1/me", headers={"Authorization": "Bearer tal_wrong-token-value-123456"})
            c.post("/auth/logout", headers={"X-CSRF-Token": csrf}, follow_redirects=False)
        id_token = p.end_session_requests[-1]["id_token_hint"] if p.end_session_requests else ""
        asked = p.authorize_requests[-1]
        secrets_ = [token, sid, csrf, p.client_secret, query["code"], asked["state"], asked["nonce"],
                    asked["code_challenge"], "tal_wrong-token-value-123456", *p.access]
        if id_token:
            secrets_.append(id_token)
    reset_settings()
    logged = capsys.readouterr().err
    assert "signed_in" in logged and "csrf_rejected" in logged and "auth_rejected" in logged
    with capsys.disabled():  # hand the log handler back a live stream
        from talents.kernel.logs import configure_logging

        configure_logging("INFO", True)
    names = ["api token", "session", "csrf", "client secret", "code", "state", "nonce", "challenge", "bad token",
             *["access token"] * len(p.access), "id_token"]
    leaked = [(n, [line for line in logged.splitlines() if s in line][:1]) for n, s in zip(names, secrets_)
              if s and s in logged]
    assert not leaked, f"secrets found in the logs: {leaked}"
    assert not re.search(r"Bearer\s+tal_", logged)
