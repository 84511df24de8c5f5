"""The SMTP server down for a while under a served app with its in-app scheduler, on PostgreSQL.

What exists elsewhere: ``tests/notifications/test_notifications_delivery.py`` retries against a stopped aiosmtpd
by calling the dispatcher in the test's process, with the test's clock. Here the whole chain is real: proposals
made through the API, the outbox written with them, the elected scheduler of the web worker dispatching on its
own clock, the mails sent while the server is down retried, then delivered once it is back — each exactly
once, as its Message-ID shows.
"""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from faults_support import count, seed_staffing, wait_until
from notif_servers import SmtpServer
from served import Served

from talents.auth.testing import auth_headers, issue_token

pytestmark = [pytest.mark.integration, pytest.mark.postgres, pytest.mark.timeout(240)]

PROPOSALS = 6


def _mails(engine: sa.Engine) -> list[tuple[str, str, int]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(  # type: ignore[misc]
            "SELECT key, status, attempts FROM notification WHERE channel = 'email' ORDER BY id")).all()]


def test_mails_made_while_smtp_is_down_are_delivered_exactly_once_when_it_is_back(
    engine: sa.Engine, tmp_path: Path
) -> None:
    ids = seed_staffing(engine, agents=PROPOSALS, needs=PROPOSALS, busy=0)
    headers = auth_headers(issue_token(engine, "revue@numerique.gouv.fr", "admin", "reviewer"))
    smtp = SmtpServer()  # its port chosen, not listening yet: the relay is down
    server = Served(engine.url.render_as_string(hide_password=False), tmp_path, env={
        "TALENTS_SCHEDULER_IN_APP": "true",
        "TALENTS_SCHEDULER_LEASE_S": "3",
        "TALENTS_SCHEDULER_DISPATCH_INTERVAL_S": "1",
        "TALENTS_SMTP_URL": smtp.url,
        "TALENTS_SMTP_TIMEOUT_S": "2",
        "TALENTS_NOTIFY_BACKOFF_BASE_S": "0.5",
        "TALENTS_NOTIFY_BACKOFF_MAX_S": "1",
        "TALENTS_NOTIFY_MAX_ATTEMPTS": "50",
    })
    try:
        server.wait_ready()
        for agent_id, need_id in zip(ids["agents"], ids["needs"], strict=True):
            r = httpx.post(server.base + "/api/v1/assignments", headers=headers, timeout=60,
                           json={"need_id": need_id, "role": 0, "agent_id": agent_id, "reason": "urgence"})
            assert r.status_code == 201, r.text
        # Every mail tried, and tried again, while the relay is down: nothing sent, nothing given up.
        wait_until(lambda: (rows := _mails(engine)) and all(a >= 2 and s == "pending" for _, s, a in rows), 60,
                   "every mail to be retried while SMTP is down")
        assert smtp.received == []

        smtp.start()
        rows = wait_until(lambda: (rows := _mails(engine)) and all(s == "sent" for _, s, _ in rows) and rows, 60,
                          "every mail to be sent once SMTP is back")
        # A few more dispatch rounds: a mail sent twice would show now.
        rounds = count(engine, "SELECT count(*) FROM job_run WHERE job = 'dispatch'")
        wait_until(lambda: count(engine, "SELECT count(*) FROM job_run WHERE job = 'dispatch'") >= rounds + 3, 60,
                   "three more dispatch rounds")
    finally:
        server.stop(signal.SIGTERM)
        smtp.stop()

    assert len(rows) >= PROPOSALS  # at least the agent of each proposal
    ids_sent = Counter(str(m["Message-ID"]).strip("<>").split("@")[0] for m in smtp.messages())
    assert ids_sent == Counter(key for key, _, _ in rows)  # every mail once, none twice, none unknown
