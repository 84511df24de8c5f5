"""Reminders and digests over the other packages' tables, with an injected ``now``."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import select

from notifications import reminders
from notifications.models import Notification, NotificationPreference
from talents.assignments.models import COMMITTED_STATES
from talents.auth.testing import issue_token
from talents.kernel.db import session_scope
from talents.kernel.events import Event, publish

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)


@pytest.fixture
def world(engine):
    """An agent with a manager, a need with two roles, and the ids to play with."""
    from needs.models import Need, Role
    from profiles.models import Agent, Availability

    with session_scope(engine) as s:
        alice = Agent(name="Alice Martin", ministry="Intérieur", email="alice@interieur.gouv.fr",
                      manager_email="chef@interieur.gouv.fr", updated_at=NOW - timedelta(days=10))
        old = Agent(name="Omer Ancien", ministry="Finances", email="omer@finances.gouv.fr",
                    updated_at=NOW - timedelta(days=200))
        s.add(alice)
        s.add(old)
        need = Need(title="Équipe flash Urgence", priority=1, start=date(2027, 1, 4), end=date(2027, 3, 31),
                    lead_email="lead@numerique.gouv.fr", created_at=NOW - timedelta(hours=3))
        s.add(need)
        s.flush()
        dev = Role(need_id=need.id, position=0, title="Développeuse", count=2, share=0.6)
        ops = Role(need_id=need.id, position=1, title="SRE", count=1, share=0.6)
        s.add(dev)
        s.add(ops)
        s.add(Availability(agent_id=alice.id, start=date(2026, 6, 1), end=(NOW + timedelta(days=10)).date(), share=0.8))
        s.add(Availability(agent_id=old.id, start=date(2026, 6, 1), end=(NOW + timedelta(days=60)).date(), share=0.8))
        s.flush()
        ids = {"alice": alice.id, "old": old.id, "need": need.id, "dev": dev.id, "ops": ops.id}
    return ids


def assign(engine, world, state, age_days, role="dev", agent="alice"):
    from talents.assignments.models import Assignment

    with session_scope(engine) as s:
        a = Assignment(need_id=world["need"], role_id=world[role], agent_id=world[agent], share=0.6,
                       start=date(2027, 1, 4), end=date(2027, 3, 31), state=state,
                       created_at=NOW - timedelta(days=age_days), updated_at=NOW - timedelta(days=age_days))
        s.add(a)
        s.flush()
        return a.id


def emails(engine, kind):
    with session_scope(engine) as s:
        return [(r.recipient, r.data) for r in s.exec(select(Notification).where(
            Notification.kind == kind, Notification.channel == "email").order_by(Notification.id))]


def test_a_proposal_unanswered_for_n_days_reminds_the_agent_once_per_period(engine, configure, world):
    configure(proposal_reminder_days=3)
    assign(engine, world, "proposed", age_days=2)
    assert reminders.remind_pending_proposals(engine, NOW) == 0
    assign(engine, world, "proposed", age_days=4, role="ops", agent="old")
    assert reminders.remind_pending_proposals(engine, NOW) == 1
    assert reminders.remind_pending_proposals(engine, NOW + timedelta(hours=5)) == 0  # same period: no repeat
    [(to, data)] = emails(engine, "reminder.proposal_pending")
    assert to == "omer@finances.gouv.fr" and data["days"] == 4 and data["role_title"] == "SRE"
    assert reminders.remind_pending_proposals(engine, NOW + timedelta(days=3)) == 2  # next period, both


def test_a_manager_who_has_not_answered_gets_the_approval_link_again(engine, configure, world):
    configure(approval_reminder_days=3)
    aid = assign(engine, world, "accepted", age_days=5)
    with session_scope(engine) as s:
        publish(s, Event("assignment.approval_requested", {
            "assignment_id": aid, "need_title": "Équipe flash Urgence", "manager_email": "chef@interieur.gouv.fr",
            "approval_url": "https://talents/approbation/signed"}))
    assert reminders.remind_pending_approvals(engine, NOW) == 1
    [(to, data)] = emails(engine, "reminder.approval_pending")
    assert to == "chef@interieur.gouv.fr" and data["approval_url"] == "https://talents/approbation/signed"
    assert data["agent_name"] == "Alice Martin"


def test_an_availability_ending_soon_is_announced_once(engine, configure, world):
    configure(availability_ending_days=14)
    assert reminders.remind_availability_ending(engine, NOW) == 1
    assert reminders.remind_availability_ending(engine, NOW + timedelta(days=1)) == 0
    [(to, data)] = emails(engine, "reminder.availability_ending")
    assert to == "alice@interieur.gouv.fr" and data["end"] == (NOW + timedelta(days=10)).date().isoformat()


def test_a_profile_unchanged_for_six_months_gets_one_nudge(engine, configure, world):
    assert reminders.remind_stale_profiles(engine, NOW) == 1
    assert reminders.remind_stale_profiles(engine, NOW + timedelta(days=1)) == 0
    [(to, data)] = emails(engine, "reminder.profile_stale")
    assert to == "omer@finances.gouv.fr"


def test_reviewers_get_a_daily_digest_of_new_needs_and_unfilled_seats(engine, configure, world):
    configure(notify_reviewer_emails='["dinum@numerique.gouv.fr"]')
    assign(engine, world, "approved", age_days=1)
    issue_token(engine, "rev@numerique.gouv.fr", "reviewer")
    expected = ["dinum@numerique.gouv.fr", "rev@numerique.gouv.fr"]
    assert reminders.reviewer_digest(engine, NOW, COMMITTED_STATES) == len(expected)
    assert reminders.reviewer_digest(engine, NOW + timedelta(hours=1), COMMITTED_STATES) == 0  # one per day
    got = emails(engine, "digest.reviewer")
    assert [to for to, _ in got] == expected
    data = got[0][1]
    assert data["new_needs_lines"] == ["Priorité 1 : Équipe flash Urgence"]
    assert data["unfilled_seats"] == 2  # one developer seat of two, the SRE seat
    assert data["unfilled_lines"][0] == "P1 — Équipe flash Urgence — Développeuse : 1 place(s)"


def test_digest_mode_holds_mails_and_sends_one_digest_a_day(engine, configure, smtp_server):
    from notifications.channels import EmailChannel
    from notifications.dispatcher import dispatch_once

    with session_scope(engine) as s:
        s.add(NotificationPreference(email="alice@interieur.gouv.fr", kind="*", mode="digest"))
    with session_scope(engine) as s:
        for title in ("Urgence", "Santé"):
            publish(s, Event("assignment.approved", {"need_title": title, "agent_email": "alice@interieur.gouv.fr"}))
    channel = {"email": EmailChannel(smtp_server.url)}
    assert dispatch_once(engine, None, channel).claimed == 0  # held, not sent
    assert reminders.daily_user_digests(engine, NOW) == 1
    assert reminders.daily_user_digests(engine, NOW) == 0
    assert dispatch_once(engine, NOW + timedelta(minutes=1), channel).sent == 1
    [mail] = smtp_server.wait_for(1)
    text = mail.get_body(("plain",)).get_content()
    assert mail["Subject"].startswith("Talents — vos notifications du 1er décembre 2026 (2)")
    assert "Mise à disposition accordée : Urgence" in text and "Mise à disposition accordée : Santé" in text
    with session_scope(engine) as s:
        held = s.exec(select(Notification).where(Notification.kind == "assignment.approved",
                                                 Notification.channel == "email")).all()
        assert {h.status for h in held} == {"digested"} and len({h.digest_key for h in held}) == 1
