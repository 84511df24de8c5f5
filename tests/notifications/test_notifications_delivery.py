"""Delivery through real servers: SMTP (aiosmtpd), webhook and Matrix (a local HTTP server); retries, failures."""

from __future__ import annotations

import hashlib
import hmac
import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from notifications.channels import EmailChannel, MatrixChannel, WebhookChannel
from notifications.dispatcher import backoff_delay, dispatch_once
from notifications.models import Notification
from talents.kernel.db import session_scope
from talents.kernel.events import Event, publish

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
PROPOSED = {
    "assignment_id": 7, "need_id": 3, "need_title": "Équipe flash Urgence", "role_title": "Développeuse",
    "priority": 1, "agent_email": "alice@interieur.gouv.fr", "agent_name": "Alice Martin",
    "lead_email": "lead@numerique.gouv.fr", "share": 0.6, "start": "2027-01-04", "end": "2027-03-31",
}


def publish_one(engine, kind="assignment.proposed", data=None, now=T0):
    with session_scope(engine) as s:
        publish(s, Event(kind, data or PROPOSED))
    with session_scope(engine) as s:  # pin the new rows to the test's clock, which the tests then move
        for row in s.exec(select(Notification).where(Notification.status == "pending")).all():
            row.next_attempt_at = row.created_at = now
            s.add(row)


def all_rows(engine, channel=None):
    with session_scope(engine) as s:
        q = select(Notification).order_by(Notification.id)
        if channel:
            q = q.where(Notification.channel == channel)
        return list(s.exec(q).all())


# --------------------------------------------------------------------------- e-mail
def test_emails_reach_a_real_smtp_server_with_french_text_html_and_safe_headers(engine, configure, smtp_server):
    configure(smtp_url=smtp_server.url, mail_from="Talents <ne-pas-repondre@talents.numerique.gouv.fr>")
    publish_one(engine, data={**PROPOSED, "need_title": "Équipe flash\r\nBcc: evil@attacker.fr"})
    report = dispatch_once(engine, T0, {"email": EmailChannel(smtp_server.url)})
    assert report.sent == 2 and report.claimed == 2
    messages = smtp_server.wait_for(2)
    by_to = {str(m["To"]): m for m in messages}
    assert set(by_to) == {"alice@interieur.gouv.fr", "lead@numerique.gouv.fr"}
    rcpts = sorted(r for rs, _ in smtp_server.received for r in rs)
    assert rcpts == ["alice@interieur.gouv.fr", "lead@numerique.gouv.fr"]  # no injected Bcc recipient
    mail = by_to["alice@interieur.gouv.fr"]
    key = next(r.key for r in all_rows(engine, "email") if r.recipient == "alice@interieur.gouv.fr")
    assert mail["Message-ID"] == f"<{key}@talents.numerique.gouv.fr>"
    assert mail["Subject"] == "Proposition : Équipe flash Bcc: evil@attacker.fr"
    assert mail["Bcc"] is None
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert "Bonjour Alice Martin," in text and "Vous êtes proposé·e" in text and "priorité 1" in text
    assert "<p>" in html and "Vous êtes proposé·e" in html
    unsubscribe = mail["List-Unsubscribe"].strip("<>")
    assert unsubscribe in text and "/notifications/unsubscribe?token=" in unsubscribe
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert {r.status for r in all_rows(engine, "email")} == {"sent"}


def test_without_smtp_the_mail_waits_in_the_outbox_and_goes_once_smtp_is_set(engine, configure, smtp_server):
    publish_one(engine)
    assert dispatch_once(engine, T0, {}).claimed == 0  # no e-mail channel: nothing claimed, nothing lost
    assert {r.status for r in all_rows(engine, "email")} == {"pending"}
    configure(smtp_url=smtp_server.url)
    assert dispatch_once(engine, T0 + timedelta(days=1), {"email": EmailChannel(smtp_server.url)}).sent == 2
    assert len(smtp_server.wait_for(2)) == 2


def test_smtp_down_is_retried_with_backoff_then_delivered_exactly_once(engine, configure, smtp_server):
    configure(notify_backoff_base_s=60, notify_max_attempts=5)
    smtp_server.stop()
    publish_one(engine)
    channel = {"email": EmailChannel(smtp_server.url, timeout=2)}
    first = dispatch_once(engine, T0, channel, rng=random.Random(1))
    assert (first.claimed, first.retried, first.sent) == (2, 2, 0)
    rows = all_rows(engine, "email")
    for r in rows:
        wait = (r.next_attempt_at.replace(tzinfo=UTC) - T0).total_seconds()
        assert 30 <= wait <= 60 and r.status == "pending" and r.attempts == 1 and "SMTP" in r.last_error
    assert dispatch_once(engine, T0 + timedelta(seconds=20), channel).claimed == 0  # not yet due
    second = dispatch_once(engine, T0 + timedelta(seconds=61), channel, rng=random.Random(2))
    assert second.retried == 2
    assert all(r.attempts == 2 for r in all_rows(engine, "email"))
    smtp_server.start()
    third = dispatch_once(engine, T0 + timedelta(seconds=300), channel)
    assert third.sent == 2
    assert dispatch_once(engine, T0 + timedelta(days=1), channel).claimed == 0
    messages = smtp_server.wait_for(2)
    assert len(messages) == 2 and len({m["Message-ID"] for m in messages}) == 2


def test_after_the_last_attempt_a_delivery_is_failed_and_an_admin_can_queue_it_again(engine, configure,
                                                                                      smtp_server):
    from notifications.service import DeliveryAdminService
    from talents.kernel.errors import PermissionDeniedError
    from talents.kernel.principal import ADMIN, AGENT, Principal

    configure(notify_max_attempts=2, notify_backoff_base_s=1)
    smtp_server.stop()
    publish_one(engine, "assignment.declined", {**PROPOSED, "reason": "pas disponible"})
    channel = {"email": EmailChannel(smtp_server.url, timeout=2)}
    dispatch_once(engine, T0, channel)
    last = dispatch_once(engine, T0 + timedelta(minutes=5), channel)
    assert last.failed == 1
    [row] = all_rows(engine, "email")
    assert row.status == "failed" and row.attempts == 2
    with session_scope(engine) as s:
        with pytest.raises(PermissionDeniedError):
            DeliveryAdminService(s).list(Principal("agent@x.gouv.fr", frozenset({AGENT})))
        page = DeliveryAdminService(s).list(Principal("admin@x.gouv.fr", frozenset({ADMIN})))
        assert [d.key for d in page.data] == [row.key]
        DeliveryAdminService(s).retry(Principal("admin@x.gouv.fr", frozenset({ADMIN})), row.id, now=T0)
    smtp_server.start()
    assert dispatch_once(engine, T0 + timedelta(minutes=6), channel).sent == 1
    [mail] = smtp_server.wait_for(1)
    assert mail["Message-ID"].startswith(f"<{row.key}@")


def test_a_permanent_refusal_fails_at_once():
    from aiosmtpd.controller import Controller
    from notif_servers import free_port

    class Refuse:
        async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: N802
            return "550 5.1.1 no such user"

    port = free_port()
    ctl = Controller(Refuse(), hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        channel = EmailChannel(f"smtp://127.0.0.1:{port}")
        row = Notification(key="f" * 40, kind="need.staffed", channel="email", recipient="nobody@x.gouv.fr",
                           subject="s", data={"need_title": "X"}, created_at=T0)
        from notifications.channels import PermanentError

        with pytest.raises(PermanentError):
            channel.send(row)
    finally:
        ctl.stop()


@pytest.mark.unit
def test_backoff_doubles_with_jitter_and_is_capped():
    rng = random.Random(0)
    for attempt, base in [(1, 30), (2, 60), (3, 120), (4, 240)]:
        d = backoff_delay(attempt, base=30, cap=200, rng=rng)
        assert min(base, 200) / 2 <= d <= min(base, 200)


# --------------------------------------------------------------------------- webhook and Matrix
def test_webhooks_are_signed_json_posts_with_the_idempotency_key(engine, configure, http_server):
    configure(webhook_url=http_server.url + "/hook", webhook_secret="s3cret")
    publish_one(engine, "need.priority_changed", {"need_id": 3, "need_title": "Urgence", "priority": 1,
                                                  "old_priority": 3, "lead_email": "lead@numerique.gouv.fr"})
    assert dispatch_once(engine, T0, {"webhook": WebhookChannel(http_server.url + "/hook", "s3cret")}).sent == 1
    [req] = http_server.requests
    [row] = all_rows(engine, "webhook")
    assert req.method == "POST" and req.path == "/hook"
    assert req.headers["idempotency-key"] == row.key and req.headers["content-type"] == "application/json"
    t, v1 = (p.split("=", 1)[1] for p in req.headers["x-talents-signature"].split(","))
    assert hmac.compare_digest(v1, hmac.new(b"s3cret", f"{t}.".encode() + req.body, hashlib.sha256).hexdigest())
    body = req.json()
    assert body["kind"] == "need.priority_changed" and body["id"] == row.key
    assert body["data"]["priority"] == 1 and "lead_email" not in body["data"]


def test_matrix_messages_are_put_with_the_key_as_transaction_id(engine, configure, http_server):
    room = "!AbCdEf:agent.dinum.tchap.gouv.fr"
    configure(matrix_homeserver=http_server.url, matrix_room_id=room, matrix_access_token="syt_token")
    publish_one(engine, "need.staffed", {"need_id": 3, "need_title": "Urgence", "lead_email": "l@numerique.gouv.fr"})
    channel = MatrixChannel(http_server.url, room, "syt_token")
    assert dispatch_once(engine, T0, {"matrix": channel}).sent == 1
    [req] = http_server.requests
    [row] = all_rows(engine, "matrix")
    assert req.method == "PUT"
    assert req.path == f"/_matrix/client/v3/rooms/%21AbCdEf%3Aagent.dinum.tchap.gouv.fr/send/m.room.message/{row.key}"
    assert req.headers["authorization"] == "Bearer syt_token"
    content = req.json()
    assert content["msgtype"] == "m.notice" and "Équipe complète : Urgence" in content["body"]
    assert "Bonjour" not in content["body"] and content["format"] == "org.matrix.custom.html"


def test_a_webhook_down_is_retried_and_a_client_error_fails_for_good(engine, configure, http_server):
    configure(webhook_url=http_server.url, webhook_secret="k", notify_backoff_base_s=5)
    publish_one(engine, "need.created", {"need_id": 1, "need_title": "A", "priority": 2})
    channel = {"webhook": WebhookChannel(http_server.url, "k")}
    http_server.status = 503
    assert dispatch_once(engine, T0, channel).retried == 1
    http_server.status = 200
    assert dispatch_once(engine, T0 + timedelta(seconds=10), channel).sent == 1
    keys = [r.headers["idempotency-key"] for r in http_server.requests]
    assert len(keys) == 2 and len(set(keys)) == 1  # the retry carries the same key
    publish_one(engine, "need.created", {"need_id": 2, "need_title": "B", "priority": 2}, now=T0)
    http_server.status = 400
    assert dispatch_once(engine, T0 + timedelta(seconds=20), channel).failed == 1
    assert [r.status for r in all_rows(engine, "webhook")] == ["sent", "failed"]
    assert "HTTP 400" in all_rows(engine, "webhook")[1].last_error


def test_a_template_failure_is_permanent_not_retried(engine, configure, smtp_server):
    publish_one(engine, data={**PROPOSED, "share": "soixante pour cent"})
    report = dispatch_once(engine, T0, {"email": EmailChannel(smtp_server.url)})
    assert report.failed == 2 and report.retried == 0
    assert all("template" in r.last_error for r in all_rows(engine, "email"))


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # 127.0.0.1, a test
def test_smtp_credentials_from_the_url_are_used_to_log_in(engine, configure):
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult
    from notif_servers import _Collect, free_port

    seen: list[tuple[str, str]] = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        seen.append((auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=auth_data.password == b"p:ss/w")

    received: list = []
    port = free_port()
    ctl = Controller(_Collect(received), hostname="127.0.0.1", port=port, authenticator=authenticator,
                     auth_require_tls=False, auth_required=True)
    ctl.start()
    try:
        publish_one(engine, "assignment.completed", {"need_title": "X", "agent_email": "alice@interieur.gouv.fr"})
        good = EmailChannel(f"smtp://talents%40min.gouv.fr:p%3Ass%2Fw@127.0.0.1:{port}")
        assert dispatch_once(engine, T0, {"email": good}).sent == 1
        assert seen == [("talents@min.gouv.fr", "p:ss/w")] and len(received) == 1
        publish_one(engine, "assignment.completed", {"need_title": "Y", "agent_email": "alice@interieur.gouv.fr"})
        # Refused credentials (aiosmtpd then stalls the session): transient — credentials get fixed, mail waits.
        bad = EmailChannel(f"smtp://talents:wrong@127.0.0.1:{port}", timeout=1)
        assert dispatch_once(engine, T0, {"email": bad}).retried == 1
    finally:
        ctl.stop()
