"""Prometheus metrics: latency per route template, database figures, and counts right across workers."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from served import Served

from talents.auth.testing import auth_headers, issue_token

pytestmark = [pytest.mark.integration]

ROUTE = "/api/v1/needs"


def _count(text: str, route: str = ROUTE, status: str = "200") -> float:
    pattern = (r'^talents_http_request_duration_seconds_count\{method="GET",route="' + re.escape(route)
               + r'",status="' + status + r'"\} (\S+)$')
    found = re.search(pattern, text, re.M)
    return float(found.group(1)) if found else 0.0


def _insert_notifications(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        for i, status in enumerate(("pending", "pending", "failed", "sent")):
            conn.execute(sa.text(
                "INSERT INTO notification (key, kind, channel, recipient, subject, data, status, attempts, "
                "max_attempts, next_attempt_at, last_error, created_at) VALUES (:k, 'x', 'email', 'a@b.fr', '', "
                "'{}', :s, 0, 8, CURRENT_TIMESTAMP, '', CURRENT_TIMESTAMP)"), {"k": f"k{i}", "s": status})


def test_metrics_count_requests_per_route_and_read_the_backlog(admin_client: Any, engine: sa.Engine) -> None:
    before = _count(admin_client.get("/metrics").text)
    for _ in range(3):
        assert admin_client.get(f"{ROUTE}?limit=5").status_code == 200
    admin_client.get(f"{ROUTE}/999999")  # another route template, not this one's count
    _insert_notifications(engine)
    response = admin_client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    text = response.text
    assert _count(text) - before == 3
    assert 'talents_notifications_backlog{channel="email"} 2.0' in text
    assert 'talents_notifications_failed{channel="email"} 1.0' in text
    assert "talents_allocation_runs_total 0.0" in text


def test_metrics_ask_for_an_admin_token_unless_public(
    client: Any, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from talents.kernel.settings import get_settings

    assert client.get("/metrics").status_code == 200
    monkeypatch.setattr(get_settings().app, "metrics_public", False)
    assert client.get("/metrics").status_code == 401
    lead = auth_headers(issue_token(engine, "lead@numerique.gouv.fr", "lead"))
    assert client.get("/metrics", headers=lead).status_code == 401
    admin = auth_headers(issue_token(engine, "admin@numerique.gouv.fr", "admin"))
    assert client.get("/metrics", headers=admin).status_code == 200


@pytest.mark.slow
def test_two_workers_report_every_request_whichever_answers_the_scrape(
    engine: sa.Engine, tmp_path: Path
) -> None:
    headers = auth_headers(issue_token(engine, "admin@numerique.gouv.fr", "admin"))
    server = Served(engine.url.render_as_string(hide_password=False), tmp_path, workers=2)
    try:
        server.wait_ready()
        with httpx.Client(base_url=server.base, headers=headers, timeout=30) as http:
            before = _count(http.get("/metrics").text)

            def one(_: int) -> int:
                with httpx.Client(base_url=server.base, headers=headers, timeout=30) as own:  # new connections
                    return own.get(f"{ROUTE}?limit=5").status_code

            with ThreadPoolExecutor(8) as pool:
                assert set(pool.map(one, range(60))) == {200}
            scrapes = [_count(http.get("/metrics").text) - before for _ in range(6)]
        assert scrapes == [60.0] * 6, server.log()
    finally:
        server.stop()
