"""Crashes and concurrency: a killed dispatcher never loses a delivery; a re-send keeps its key; several
dispatchers at once never send one twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlmodel import select

from notifications.channels import EmailChannel, WebhookChannel
from notifications.dispatcher import dispatch_once
from notifications.models import Notification
from talents.kernel.db import session_scope
from talents.kernel.events import Event, publish

pytestmark = [pytest.mark.integration, pytest.mark.slow]
HERE = Path(__file__).parent
ROOT = HERE.parents[1]


def statuses(engine):
    with session_scope(engine) as s:
        return {r.recipient: r.status for r in s.exec(select(Notification).where(Notification.channel == "email"))}


@pytest.mark.parametrize("mode", ["before-send", "after-send"])
def test_a_dispatcher_killed_mid_delivery_loses_nothing_and_a_resend_keeps_its_message_id(
        engine, configure, smtp_server, tmp_path, mode):
    configure(smtp_url=smtp_server.url, notify_lease_s=2)
    with session_scope(engine) as s:
        publish(s, Event("assignment.approved", {"need_title": "Urgence", "agent_email": "alice@interieur.gouv.fr",
                                                 "lead_email": "lead@numerique.gouv.fr"}))
    marker = tmp_path / "marker"
    url = engine.url.render_as_string(hide_password=False)
    env = {**os.environ, "TALENTS_DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, str(HERE / "notif_crash_dispatcher.py"), url, smtp_server.url,
                             str(marker), mode], env=env, cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while not (marker.exists() and marker.read_text().strip()) and time.monotonic() < deadline:
            assert proc.poll() is None, "the dispatcher died before reaching the crash point"
            time.sleep(0.05)
        doomed_key = marker.read_text().strip()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert len(smtp_server.received) == (1 if mode == "after-send" else 0)
    assert "sending" in statuses(engine).values()

    # While its lease runs, the crashed delivery is left alone (its owner might be slow, not dead).
    channel = {"email": EmailChannel(smtp_server.url)}
    assert dispatch_once(engine, None, channel).sent == 1
    time.sleep(2.2)
    again = dispatch_once(engine, None, channel)
    assert again.sent == 1 and again.keys_sent == [doomed_key]
    assert set(statuses(engine).values()) == {"sent"}  # nothing lost

    messages = smtp_server.wait_for(3 if mode == "after-send" else 2)
    ids = Counter(m["Message-ID"] for m in messages)
    assert len(ids) == 2  # one distinct mail per recipient
    doomed_id = f"<{doomed_key}@talents.numerique.gouv.fr>"
    # after-send: the one unavoidable duplicate of SMTP, recognisable by its identical Message-ID.
    assert ids[doomed_id] == (2 if mode == "after-send" else 1)
    assert sum(n for mid, n in ids.items() if mid != doomed_id) == 1


def test_concurrent_dispatchers_send_each_delivery_exactly_once(engine, configure, http_server):
    configure(webhook_url=http_server.url, webhook_secret="k")
    with session_scope(engine) as s:
        for i in range(60):
            publish(s, Event("need.created", {"need_id": i, "need_title": f"Besoin {i}", "priority": 1 + i % 4}))
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            channel = {"webhook": WebhookChannel(http_server.url, "k")}
            for _ in range(30):
                if dispatch_once(engine, None, channel, worker=f"w{n}", limit=5).claimed == 0:
                    break
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    keys = Counter(r.headers["idempotency-key"] for r in http_server.requests)
    assert len(keys) == 60 and set(keys.values()) == {1}
    with session_scope(engine) as s:
        assert {r.status for r in s.exec(select(Notification))} == {"sent"}
