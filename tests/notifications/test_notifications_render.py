"""Messages: French text and HTML per kind, escaped values, headers that cannot be injected, signed unsubscribe."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from notifications.models import Notification
from notifications.outbox import KINDS
from notifications.render import (
    HeaderInjectionError,
    build_email,
    read_unsubscribe_token,
    render_bodies,
    render_subject,
    unsubscribe_token,
)
from talents.kernel.fields import is_valid_email

pytestmark = pytest.mark.unit

DATA = {"need_title": "Équipe flash <Urgence> & co", "role_title": "Data scientist", "priority": 1,
        "agent_email": "alice@interieur.gouv.fr", "agent_name": "Alice", "lead_email": "lead@numerique.gouv.fr",
        "approval_url": "https://talents.gouv.fr/approbation/abc", "reason": "priorité", "share": 0.6,
        "start": "2027-01-04", "end": "2027-03-31", "days": 4, "end_date": "2027-01-31"}


def plain(text: str) -> str:
    """French typography puts a no-break space (narrow in recent CLDR data) before « % »."""
    return text.replace("\xa0", " ").replace("\u202f", " ")


def delivery(kind: str, recipient: str = "alice@interieur.gouv.fr", **data: object) -> Notification:
    payload = {**DATA, **data}
    return Notification(id=1, key="k" * 40, kind=kind, channel="email", recipient=recipient,
                        subject=render_subject(kind, payload), data=payload,
                        created_at=datetime(2026, 11, 28, 9, 0, tzinfo=UTC))


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_has_a_french_subject_and_both_bodies(kind):
    row = delivery(kind, item_lines=["a"], items=[{}], new_needs=[], unfilled=[], unfilled_seats=0, day="2026-11-28",
                   count=2, updated_on="2026-01-01")
    text, html = render_bodies(row)
    assert row.subject and "\n" not in row.subject
    assert text.startswith("Bonjour") and "Se désabonner" in text
    assert html.startswith("<!doctype html>") and 'lang="fr"' in html and "Se désabonner" in html


def test_html_escapes_values_and_text_keeps_them_readable():
    text, html = render_bodies(delivery("assignment.proposed"))
    assert "Équipe flash &lt;Urgence&gt; &amp; co" in html and "<Urgence>" not in html
    assert "« Équipe flash <Urgence> & co »" in text
    assert "60 % du temps de travail" in plain(text)


def test_the_agent_is_addressed_by_name_and_the_lead_hears_about_the_agent():
    agent_text, _ = render_bodies(delivery("assignment.proposed"))
    lead_text, _ = render_bodies(delivery("assignment.proposed", recipient="lead@numerique.gouv.fr"))
    assert agent_text.startswith("Bonjour Alice,") and "Vous êtes proposé·e" in agent_text
    assert lead_text.startswith("Bonjour,") and "Alice est proposé·e" in lead_text


def test_an_email_shows_dates_and_shares_the_french_way():
    msg = build_email(delivery("assignment.approval_requested", recipient="chef@interieur.gouv.fr"))
    text = plain(msg.get_body(("plain",)).get_content())
    html = plain(msg.get_body(("html",)).get_content())
    for body in (text, html):
        assert "consacrer 60 % de son temps" in body
        assert "du 4 janvier 2027 au 31 mars 2027" in body
        assert "2027-01-04" not in body and "0.6" not in body


@pytest.mark.parametrize(("kind", "data", "french"), [
    ("reminder.availability_ending", {"end": "2027-01-04"}, "se termine le 4 janvier 2027"),
    ("digest.user", {"day": "2027-01-04", "items": [{}], "item_lines": ["a"]}, "notifications du 4 janvier 2027"),
    ("digest.reviewer", {"day": "2027-01-04", "new_needs": [], "unfilled": [], "unfilled_seats": 0},
     "synthèse du 4 janvier 2027"),
])
def test_subjects_carry_french_dates(kind, data, french):
    row = delivery(kind, **data)
    assert french in build_email(row)["Subject"] and "2027-01-04" not in row.subject
    text, html = render_bodies(row)
    assert "2027-01-04" not in text and "2027-01-04" not in html


def test_a_proposal_and_a_start_read_in_french():
    text, html = map(plain, render_bodies(delivery("assignment.proposed")))
    assert "Période : du 4 janvier 2027 au 31 mars 2027, 60 % du temps de travail." in text
    assert "du 4 janvier 2027 au 31 mars 2027, 60 % du temps de travail" in html
    text, html = render_bodies(delivery("assignment.activated"))
    assert "commence le 4 janvier 2027." in text and "commence le 4 janvier 2027." in html
    text, _ = render_bodies(delivery("reminder.profile_stale", updated_on="2026-05-01"))
    assert "depuis le 1er mai 2026" in text


def test_the_manager_gets_the_signed_approval_link():
    text, html = render_bodies(delivery("assignment.approval_requested", recipient="chef@interieur.gouv.fr"))
    assert "Répondre à la demande : https://talents.gouv.fr/approbation/abc" in text
    assert 'href="https://talents.gouv.fr/approbation/abc"' in html


def test_a_subject_with_line_breaks_cannot_add_headers():
    row = delivery("assignment.proposed", need_title="X\r\nBcc: evil@attacker.fr\nX-Evil: 1")
    msg = build_email(row)
    assert "\n" not in msg["Subject"] and "\r" not in msg["Subject"]
    raw = msg.as_string()
    assert "\nBcc:" not in raw and "\nX-Evil:" not in raw


@pytest.mark.parametrize("bad", ["a@b.fr\r\nBcc: c@d.fr", "Alice <a@b.fr>", "a@b.fr, c@d.fr", "no-at-sign", ""])
def test_only_plain_addresses_are_accepted(bad):
    assert not is_valid_email(bad, ascii_only=True)
    with pytest.raises(HeaderInjectionError):
        build_email(delivery("assignment.proposed", recipient=bad))


def test_the_email_carries_the_key_as_message_id_and_one_click_unsubscribe():
    msg = build_email(delivery("assignment.proposed"))
    assert msg["Message-ID"] == f"<{'k' * 40}@talents.numerique.gouv.fr>"
    assert msg["List-Unsubscribe"].startswith("<http") and "token=" in msg["List-Unsubscribe"]
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg.get_body(("plain",)) is not None and msg.get_body(("html",)) is not None


def test_unsubscribe_tokens_are_signed():
    token = unsubscribe_token("alice@interieur.gouv.fr", "assignment.proposed")
    assert read_unsubscribe_token(token) == ("alice@interieur.gouv.fr", "assignment.proposed")
    assert read_unsubscribe_token(token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]) is None
    assert read_unsubscribe_token("not-a-token") is None


def test_a_webhook_receiver_can_verify_the_signature_and_refuse_replays():
    from notifications.channels import sign_webhook, verify_webhook

    body = b'{"kind": "need.created"}'
    header = sign_webhook("s3cret", 1_800_000_000, body)
    assert verify_webhook("s3cret", header, body, now=1_800_000_010)
    assert not verify_webhook("s3cret", header, body + b" ", now=1_800_000_010)
    assert not verify_webhook("other", header, body, now=1_800_000_010)
    assert not verify_webhook("s3cret", header, body, now=1_800_000_000 + 3600)
    assert not verify_webhook("s3cret", "garbage", body)


def test_the_smtp_url_gives_host_port_credentials_and_tls_mode():
    from notifications.channels import SmtpTarget

    t = SmtpTarget.parse("smtp://talents%40min.gouv.fr:p%3Ass%2Fw@smtp.min.gouv.fr:587?starttls=true")
    assert (t.host, t.port, t.username, t.password, t.starttls, t.implicit_tls) == (
        "smtp.min.gouv.fr", 587, "talents@min.gouv.fr", "p:ss/w", True, False)
    assert SmtpTarget.parse("smtps://relay.gouv.fr").port == 465 and SmtpTarget.parse("smtps://r.fr").implicit_tls
    plain = SmtpTarget.parse("smtp://relay.gouv.fr")
    assert (plain.port, plain.username, plain.starttls) == (25, None, False)
    with pytest.raises(ValueError):
        SmtpTarget.parse("http://relay.gouv.fr")
