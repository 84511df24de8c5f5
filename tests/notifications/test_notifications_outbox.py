"""The outbox: deliveries are written with the event, in its transaction, one per recipient and channel."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlmodel import select

from notifications.models import Notification, NotificationPreference
from notifications.outbox import delivery_key, enqueue
from talents.kernel.db import session_scope
from talents.kernel.events import Event, publish

pytestmark = pytest.mark.integration

PROPOSED = {
    "assignment_id": 7, "need_id": 3, "need_title": "Équipe flash Urgence", "role_title": "Développeuse",
    "priority": 1, "agent_email": "alice@interieur.gouv.fr", "agent_name": "Alice Martin",
    "lead_email": "lead@numerique.gouv.fr", "manager_email": "chef@interieur.gouv.fr",
    "approval_url": "https://talents/approve/secret-token",
}


def rows(engine, **where):
    with session_scope(engine) as s:
        q = select(Notification)
        for k, v in where.items():
            q = q.where(getattr(Notification, k) == v)
        return list(s.exec(q.order_by(Notification.id)).all())


def test_a_published_event_writes_one_delivery_per_recipient_and_channel(engine, configure):
    with session_scope(engine) as s:
        publish(s, Event("assignment.proposed", PROPOSED, actor="reviewer@numerique.gouv.fr"))
    got = {(r.recipient, r.channel, r.status) for r in rows(engine)}
    assert got == {
        ("alice@interieur.gouv.fr", "inapp", "sent"), ("alice@interieur.gouv.fr", "email", "pending"),
        ("lead@numerique.gouv.fr", "inapp", "sent"), ("lead@numerique.gouv.fr", "email", "pending"),
    }
    keys = [r.key for r in rows(engine)]
    assert len(set(keys)) == 4 and all(len(k) == 40 for k in keys)
    assert rows(engine)[0].subject == "Proposition : Équipe flash Urgence"


def test_a_rolled_back_change_leaves_no_notification(engine, configure):
    with pytest.raises(RuntimeError), session_scope(engine) as s:
        publish(s, Event("assignment.proposed", PROPOSED))
        raise RuntimeError("the change fails after the event")
    assert rows(engine) == []


def test_the_idempotency_key_is_unique_in_the_database(engine, configure):
    with session_scope(engine) as s:
        publish(s, Event("assignment.accepted", PROPOSED))
    key = rows(engine, channel="email")[0].key
    with pytest.raises(sa.exc.IntegrityError), session_scope(engine) as s:
        s.add(Notification(key=key, kind="x", channel="email", recipient="a@b.fr"))


def test_the_same_event_id_enqueued_twice_is_written_once(engine, configure):
    for _ in range(2):
        with session_scope(engine) as s:
            enqueue(s, Event("need.staffed", {"need_title": "X", "lead_email": "lead@numerique.gouv.fr"}),
                    event_id="need.staffed:42")
    assert len(rows(engine)) == 2  # in-app + e-mail, once
    assert rows(engine, channel="email")[0].key == delivery_key("need.staffed:42", "email", "lead@numerique.gouv.fr")


def test_preferences_turn_channels_off_or_defer_to_the_digest(engine, configure):
    with session_scope(engine) as s:
        s.add(NotificationPreference(email="alice@interieur.gouv.fr", kind="*", inapp_enabled=False,
                                     email_enabled=True, mode="digest"))
        s.add(NotificationPreference(email="lead@numerique.gouv.fr", kind="assignment.proposed",
                                     inapp_enabled=True, email_enabled=False))
    with session_scope(engine) as s:
        publish(s, Event("assignment.proposed", PROPOSED))
    got = {(r.recipient, r.channel, r.status) for r in rows(engine)}
    assert got == {("alice@interieur.gouv.fr", "email", "held"), ("lead@numerique.gouv.fr", "inapp", "sent")}


def test_a_managers_approval_request_is_never_held_for_a_digest(engine, configure):
    with session_scope(engine) as s:
        s.add(NotificationPreference(email="chef@interieur.gouv.fr", kind="*", mode="digest"))
    with session_scope(engine) as s:
        publish(s, Event("assignment.approval_requested", PROPOSED))
    assert [(r.channel, r.status) for r in rows(engine, recipient="chef@interieur.gouv.fr")] == [
        ("inapp", "sent"), ("email", "pending")]


def test_webhook_and_matrix_deliveries_carry_no_address_or_signed_link(engine, configure):
    configure(webhook_url="http://127.0.0.1:9/hook", matrix_homeserver="http://127.0.0.1:9",
              matrix_room_id="!room:tchap.gouv.fr")
    with session_scope(engine) as s:
        publish(s, Event("assignment.withdrawn", {**PROPOSED, "reason": "priorité 1 ailleurs"}))
    hooks = rows(engine, channel="webhook") + rows(engine, channel="matrix")
    assert [h.recipient for h in hooks] == ["webhook", "!room:tchap.gouv.fr"]
    for h in hooks:
        assert h.data["need_title"] == "Équipe flash Urgence" and h.data["reason"] == "priorité 1 ailleurs"
        assert not any("email" in k or "url" in k for k in h.data)


def test_events_for_nobody_or_with_bad_addresses_write_nothing_personal(engine, configure):
    with session_scope(engine) as s:
        publish(s, Event("assignment.proposed", {**PROPOSED, "agent_email": "x@y.fr\r\nBcc: evil@z.fr",
                                                 "lead_email": ""}))
        publish(s, Event("something.unknown", {"agent_email": "a@b.fr"}))
    assert rows(engine) == []


def test_data_a_template_cannot_render_never_breaks_the_business_change(engine, configure):
    with session_scope(engine) as s:
        publish(s, Event("assignment.proposed", {**PROPOSED, "share": "soixante pour cent"}))
    email = rows(engine, channel="email")
    assert len(email) == 2 and email[0].subject  # written, with a subject, despite the odd value


def test_rooms_get_no_names_no_actor_and_no_feedback(engine, configure):
    configure(webhook_url="http://127.0.0.1:9/hook")
    with session_scope(engine) as s:
        publish(s, Event("assignment.forced", {**PROPOSED, "reason": "crise", "feedback": "x"},
                         actor="reviewer@numerique.gouv.fr"))
    [hook] = rows(engine, channel="webhook")
    assert set(hook.data) == {"assignment_id", "need_id", "need_title", "role_title", "priority", "reason"}
