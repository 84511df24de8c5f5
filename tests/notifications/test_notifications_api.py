"""The HTTP API through the whole app, with real API tokens: inbox, preferences, admin, unsubscribe."""

from __future__ import annotations

import pytest
from sqlmodel import select

from notifications.models import Notification, NotificationPreference
from notifications.render import unsubscribe_token
from talents.auth import testing
from talents.kernel.db import session_scope
from talents.kernel.events import Event, publish

pytestmark = pytest.mark.integration

ALICE, BOB = "alice@interieur.gouv.fr", "bob@finances.gouv.fr"


@pytest.fixture
def headers(engine):
    def make(email, *roles):
        return testing.auth_headers(testing.issue_token(engine, email, *roles or ("agent",)))

    return make


def notify(engine, n, email=ALICE, kind="assignment.approved"):
    with session_scope(engine) as s:
        for i in range(n):
            publish(s, Event(kind, {"need_id": i, "need_title": f"Besoin {i}", "agent_email": email}))


def test_my_inbox_pages_counts_and_marks_read_only_my_own(client, engine, headers, configure):
    notify(engine, 5)
    notify(engine, 2, email=BOB)
    me = headers(ALICE)
    page = client.get("/api/v1/me/notifications?limit=2&offset=0", headers=me).json()
    assert page["count"] == 5 and page["unread"] == 5 and len(page["data"]) == 2
    assert page["data"][0]["subject"] == "Mise à disposition accordée : Besoin 4"  # newest first
    assert "_actor" not in page["data"][0]["data"]
    second = client.get("/api/v1/me/notifications?limit=2&offset=4", headers=me).json()
    assert len(second["data"]) == 1
    assert client.get("/api/v1/me/notifications/unread-count", headers=me).json() == {"count": 5}

    first_id = page["data"][0]["id"]
    read = client.post(f"/api/v1/me/notifications/{first_id}/read", headers=me)
    assert read.status_code == 200 and read.json()["read_at"] is not None
    assert client.get("/api/v1/me/notifications/unread-count", headers=me).json() == {"count": 4}
    assert client.get("/api/v1/me/notifications?unread=true", headers=me).json()["count"] == 4

    bobs = client.get("/api/v1/me/notifications", headers=headers(BOB)).json()["data"]
    assert client.post(f"/api/v1/me/notifications/{bobs[0]['id']}/read", headers=me).status_code == 404
    assert client.post("/api/v1/me/notifications/read-all", headers=me).json() == {"updated": 4}
    assert client.get("/api/v1/me/notifications/unread-count", headers=headers(BOB)).json() == {"count": 2}


def test_the_inbox_needs_a_signed_in_principal(client, configure):
    assert client.get("/api/v1/me/notifications").status_code == 401
    assert client.get("/api/v1/me/notification-preferences").status_code == 401


def test_preferences_round_trip_and_take_effect(client, engine, headers, configure):
    me = headers(ALICE)
    default = client.get("/api/v1/me/notification-preferences", headers=me).json()
    assert default["default"] == {"inapp": True, "email": True, "mode": "immediate"} and default["kinds"] == {}
    assert "assignment.proposed" in default["available_kinds"]
    body = {"default": {"inapp": True, "email": True, "mode": "digest"},
            "kinds": {"assignment.approved": {"inapp": False, "email": False, "mode": "immediate"}}}
    saved = client.put("/api/v1/me/notification-preferences", json=body, headers=me)
    assert saved.status_code == 200, saved.text
    assert saved.json()["default"]["mode"] == "digest"
    assert client.get("/api/v1/me/notification-preferences", headers=me).json()["kinds"] == body["kinds"]
    notify(engine, 1)  # approved: everything off
    notify(engine, 1, kind="assignment.activated")  # default: e-mail held for the digest
    with session_scope(engine) as s:
        got = [(r.kind, r.channel, r.status) for r in s.exec(select(Notification).where(
            Notification.recipient == ALICE).order_by(Notification.id))]
    assert got == [("assignment.activated", "inapp", "sent"), ("assignment.activated", "email", "held")]

    bad = client.put("/api/v1/me/notification-preferences", headers=me,
                     json={"default": {"mode": "weekly"}, "kinds": {"no.such.kind": {}}})
    assert bad.status_code == 400 or bad.status_code == 422


def test_failed_deliveries_are_for_admins_and_reviewers_who_can_retry_them(client, engine, headers, configure):
    notify(engine, 1)
    with session_scope(engine) as s:
        row = s.exec(select(Notification).where(Notification.channel == "email")).one()
        row.status, row.attempts, row.last_error = "failed", 8, "SMTP 451"
        s.add(row)
        row_id = row.id
    assert client.get("/api/v1/admin/notifications/failed", headers=headers(ALICE)).status_code == 403
    listed = client.get("/api/v1/admin/notifications/failed", headers=headers("rev@numerique.gouv.fr", "reviewer"))
    assert listed.status_code == 200 and [d["id"] for d in listed.json()["data"]] == [row_id]
    admin = headers("admin@numerique.gouv.fr", "admin")
    assert client.post(f"/api/v1/admin/notifications/{row_id}/retry", headers=headers(ALICE)).status_code == 403
    retried = client.post(f"/api/v1/admin/notifications/{row_id}/retry", headers=admin)
    assert retried.status_code == 200 and retried.json()["status"] == "pending" and retried.json()["attempts"] == 0
    assert client.post(f"/api/v1/admin/notifications/{row_id}/retry", headers=admin).status_code == 422
    assert client.get("/api/v1/admin/notifications/failed", headers=admin).json()["count"] == 0


def test_unsubscribe_works_without_an_account_and_a_get_changes_nothing(client, engine, configure):
    notify(engine, 1, kind="assignment.activated")
    token = unsubscribe_token(ALICE, "assignment.activated")
    page = client.get(f"/notifications/unsubscribe?token={token}")
    assert page.status_code == 200 and ALICE in page.text and "<form" in page.text
    # in the site's layout (State design system), in French, never cached: the link is a credential
    assert 'lang="fr"' in page.text and "fr-header" in page.text and "/static/dsfr/dsfr.min.css" in page.text
    assert "Me désabonner" in page.text and page.headers["cache-control"] == "no-store"
    with session_scope(engine) as s:
        assert s.exec(select(NotificationPreference)).all() == []
    done = client.post(f"/notifications/unsubscribe?token={token}", content=b"List-Unsubscribe=One-Click",
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert done.status_code == 200 and "ne recevra plus" in done.text and "fr-alert--success" in done.text
    with session_scope(engine) as s:
        [pref] = s.exec(select(NotificationPreference)).all()
        assert (pref.email, pref.kind, pref.email_enabled, pref.inapp_enabled) == (
            ALICE, "assignment.activated", False, True)
        waiting = s.exec(select(Notification).where(Notification.channel == "email")).one()
        assert waiting.status == "cancelled"
    notify(engine, 1, kind="assignment.activated")
    with session_scope(engine) as s:
        assert len(s.exec(select(Notification).where(Notification.channel == "email")).all()) == 1
    assert client.post("/notifications/unsubscribe?token=forged").status_code == 404
    damaged = client.get("/notifications/unsubscribe?token=" + token[:-3] + "xyz")
    assert damaged.status_code == 404 and "fr-header" in damaged.text and "n’est pas valide" in damaged.text
