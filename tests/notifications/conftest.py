"""Fixtures of the notification tests: the outbox subscribed, settings per test, real SMTP and HTTP servers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from notif_servers import HttpServer, SmtpServer

from talents.kernel.settings import reset_settings


@pytest.fixture(autouse=True)
def outbox_subscribed() -> Iterator[None]:
    from notifications import outbox

    outbox.install()
    yield


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Set TALENTS_* variables for this test (the settings are re-read)."""

    def apply(**env: Any) -> None:
        for key, value in env.items():
            name = f"TALENTS_{key.upper()}"
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, str(value))
        reset_settings()

    # Fast, deterministic retries unless a test says otherwise; no channel configured by default.
    apply(notify_backoff_base_s=10, notify_backoff_max_s=600, notify_max_attempts=4, notify_lease_s=30,
          smtp_url=None, webhook_url=None, matrix_homeserver=None, matrix_room_id=None)
    yield apply
    monkeypatch.undo()
    reset_settings()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def http_server() -> Iterator[HttpServer]:
    server = HttpServer().start()
    yield server
    server.stop()

