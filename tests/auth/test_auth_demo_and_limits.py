"""The demo's e-mail sign-in exists only in demo mode; sign-in and write rate limits hold across app instances."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from talents.auth.testing import auth_headers, issue_token
from talents.kernel.settings import get_settings, reset_settings
from talents.metrics import MULTIPROC_ENV

pytestmark = pytest.mark.integration


def _client() -> Any:
    from litestar.testing import TestClient

    from talents.app import create_app

    return TestClient(create_app())


@pytest.fixture
def demo_on(engine, monkeypatch) -> Iterator[None]:
    monkeypatch.setenv("TALENTS_DEMO", "true")
    reset_settings()
    yield
    monkeypatch.delenv("TALENTS_DEMO")
    reset_settings()


def test_demo_sign_in_is_off_by_default(client):
    assert client.get("/auth/demo").status_code == 404
    posted = client.post("/auth/demo", data={"email": "a@x.gouv.fr", "role": "admin"}, follow_redirects=False)
    assert posted.status_code == 404
    assert client.get("/api/v1/me").status_code == 401
    # without OpenID Connect configured, signing in says so instead of pretending
    assert client.get("/auth/login", follow_redirects=False).status_code == 503


def test_demo_sign_in_works_when_the_demo_is_on(demo_on):
    with _client() as c:
        assert c.get("/auth/login", follow_redirects=False).headers["location"].startswith("/auth/demo")
        assert "<form" in c.get("/auth/demo").text
        done = c.post("/auth/demo", data={"email": "lead@x.gouv.fr", "role": "lead", "next": "/besoins"},
                      follow_redirects=False)
        assert done.status_code == 303 and done.headers["location"] == "/besoins"
        me = c.get("/api/v1/me").json()
        assert me["email"] == "lead@x.gouv.fr" and me["roles"] == ["lead"] and me["via"] == "session"


class _ServedNothing:
    """Stands for uvicorn's server: serve runs it and reads whether it started; nothing listens."""

    called: dict[str, Any] = {}

    def __init__(self, config: Any) -> None:
        self.started = False

    def run(self) -> None:
        self.called["served"] = self.started = True
        self.called["metrics_dir"] = os.environ.get(MULTIPROC_ENV)  # the workers' shared folder, while they run
        self.called["metrics_dir_there"] = os.path.isdir(self.called["metrics_dir"] or "")

    @classmethod
    def recording(cls, called: dict[str, Any]) -> type[_ServedNothing]:
        return type("Recording", (cls,), {"called": called})


def test_serve_demo_turns_the_demo_on_and_the_test_leaves_the_process_as_it_found_it(monkeypatch):
    from typer.testing import CliRunner

    import talents.cli as cli

    before = dict(os.environ)
    demo_before = get_settings().app.demo
    called: dict[str, Any] = {}
    # serve writes to this process's environment (the demo switch, the metrics folder) and re-reads the
    # settings: every change goes through monkeypatch, which undoes them at the end of the context.
    with monkeypatch.context() as patch:
        patch.setattr(cli, "prepare", lambda: None)
        # serve imports these when it runs (so that other commands do not): patched where they live
        patch.setattr("talents.demo.seed_demo", lambda **kw: called.setdefault("seeded", True))
        patch.setattr("uvicorn.Server", _ServedNothing.recording(called))
        patch.setenv("TALENTS_DEMO", "false")
        patch.setenv(MULTIPROC_ENV, "")  # empty is unset for serve; set here, it is restored on the way out
        result = CliRunner().invoke(cli.app, ["serve", "--demo"])
        assert result.exit_code == 0, result.output
        assert os.environ.get("TALENTS_DEMO") == "true" and get_settings().app.demo and called.get("served")
        assert called["metrics_dir"] and called["metrics_dir_there"], "serve gives its workers a shared metrics folder"
        assert not os.path.exists(called["metrics_dir"]) and not os.environ.get(MULTIPROC_ENV), \
            "and removes it as it stops"
    reset_settings()  # the settings serve cached were read with the demo on
    assert dict(os.environ) == before and get_settings().app.demo == demo_before


def test_sign_in_attempts_are_limited_per_address_with_retry_after(engine, monkeypatch):
    monkeypatch.setenv("TALENTS_SIGNIN_RATE_PER_MINUTE", "3")
    reset_settings()
    with _client() as c:
        statuses = [c.get("/auth/login", follow_redirects=False).status_code for _ in range(5)]
    assert statuses[:3] == [503, 503, 503] and statuses[3:] == [429, 429]
    with _client() as c:
        limited = c.get("/auth/login", follow_redirects=False)
    assert limited.status_code == 429 and 1 <= int(limited.headers["retry-after"]) <= 60
    reset_settings()


def test_write_limits_are_shared_by_every_worker(engine, monkeypatch):
    monkeypatch.setenv("TALENTS_WRITE_RATE_PER_MINUTE", "4")
    reset_settings()
    headers = auth_headers(issue_token(engine, "busy@x.gouv.fr", "lead"))
    body = {"name": "P", "ministry": "Culture"}
    with _client() as first, _client() as second:  # two app instances, as two workers would be
        codes = [first.post("/api/v1/projects", json=body, headers=headers).status_code for _ in range(2)]
        codes += [second.post("/api/v1/projects", json=body, headers=headers).status_code for _ in range(2)]
        assert codes == [201, 201, 201, 201]
        refused = second.post("/api/v1/projects", json=body, headers=headers)
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert first.post("/api/v1/projects", json=body, headers=headers).status_code == 429
        # reads are not limited
        assert first.get("/api/v1/projects", headers=headers).status_code == 200
    reset_settings()
