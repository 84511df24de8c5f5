"""The transactional outbox: domain events become delivery rows in the transaction that caused them.

:func:`on_event` is subscribed to :mod:`talents.kernel.events`. For each event it works out the recipients
(from the event's ``data``: ``agent_email``, ``lead_email``, ``manager_email``, ``recipients``…), reads their
preferences, and inserts one :class:`~notifications.models.Notification` per recipient per channel, each with
its own idempotency key. Nothing is sent here: if the transaction rolls back, no notification exists; if it
commits, every delivery exists and the dispatcher will send it.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from notifications.models import Notification, NotificationPreference
from notifications.render import TemplateFailure, render_bodies, render_subject
from talents.kernel.db import utcnow
from talents.kernel.events import Event, subscribe, unsubscribe
from talents.kernel.fields import is_valid_email
from talents.kernel.logs import get_logger
from talents.kernel.settings import get_settings

__all__ = [
    "KINDS",
    "Recipient",
    "delivery_key",
    "enqueue",
    "install",
    "on_event",
    "recipients_for",
    "uninstall",
]

log = get_logger("talents.notifications")

# Who hears about what. Each entry: the data key holding an address, and whether digest mode may defer it
# (a manager's approval request never waits for a digest: the manager may have no account at all).
_ROUTES: dict[str, tuple[str, ...]] = {
    "assignment.proposed": ("agent_email", "lead_email"),
    "assignment.accepted": ("lead_email",),
    "assignment.declined": ("lead_email",),
    "assignment.approval_requested": ("manager_email",),
    "assignment.approved": ("agent_email", "lead_email"),
    "assignment.refused": ("agent_email", "lead_email"),
    "assignment.activated": ("agent_email", "lead_email"),
    "assignment.completed": ("agent_email",),
    "assignment.withdrawn": ("agent_email", "lead_email"),
    "assignment.expired": ("agent_email", "lead_email"),
    "assignment.forced": ("agent_email", "lead_email"),
    "need.created": (),  # the lead created it; reviewers see it in their digest, rooms via webhooks
    "need.priority_changed": ("lead_email",),
    "need.staffed": ("lead_email",),
    "allocation.run_completed": (),
    # Produced by this package (reminders, digests, admin alerts).
    "reminder.proposal_pending": ("agent_email",),
    "reminder.approval_pending": ("manager_email",),
    "reminder.availability_ending": ("agent_email",),
    "reminder.profile_stale": ("agent_email",),
    "digest.reviewer": (),
    "digest.user": (),
}
KINDS: tuple[str, ...] = tuple(_ROUTES)
_NEVER_DEFERRED = {
    "assignment.approval_requested",
    "reminder.approval_pending",
    "digest.reviewer",
    "digest.user",
}
_NO_INAPP = {"digest.reviewer", "digest.user"}

# Never copied into webhook or Matrix payloads: personal addresses and signed links are not for a chat room.
_PRIVATE_KEY = re.compile(r"(^_|email|url|token|recipients|password|secret|agent_name|feedback)", re.I)


@dataclass(frozen=True)
class Recipient:
    email: str
    deferrable: bool = True


def recipients_for(event: Event) -> list[Recipient]:
    """The people an event concerns, from its data, deduplicated (case-insensitive) and validated."""
    keys = _ROUTES.get(event.kind, ())
    raw: list[str] = [event.data.get(k) or "" for k in keys]
    extra = event.data.get("recipients") or []
    if isinstance(extra, str):
        extra = [extra]
    raw.extend(str(e) for e in extra)
    seen: set[str] = set()
    out: list[Recipient] = []
    for address in raw:
        address = str(address).strip().lower()
        if not address or address in seen:
            continue
        seen.add(address)
        if not is_valid_email(address, ascii_only=True):
            log.warning("notification_recipient_rejected", kind=event.kind, reason="invalid address")
            continue
        out.append(Recipient(address, deferrable=event.kind not in _NEVER_DEFERRED))
    return out


def delivery_key(event_id: str, channel: str, recipient: str) -> str:
    """The idempotency key of one delivery: stable for (event, channel, recipient), 40 hex characters."""
    return hashlib.sha256(f"{event_id}|{channel}|{recipient}".encode()).hexdigest()[:40]


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(data, default=str, ensure_ascii=False))


def _preferences(session: Session, emails: Iterable[str], kind: str) -> dict[str, NotificationPreference]:
    """Each address's effective preference for ``kind``: its own for the kind, else its ``*`` default."""
    emails = list(emails)
    if not emails:
        return {}
    rows = session.exec(
        select(NotificationPreference).where(
            col(NotificationPreference.email).in_(emails),
            col(NotificationPreference.kind).in_([kind, "*"]),
        )
    ).all()
    best: dict[str, NotificationPreference] = {}
    for row in rows:
        if row.email not in best or row.kind == kind:
            best[row.email] = row
    return best


def enqueue(
    session: Session,
    event: Event,
    *,
    now: datetime | None = None,
    event_id: str | None = None,
    recipients: list[Recipient] | None = None,
    webhooks: bool = True,
) -> list[Notification]:
    """Write the deliveries of ``event`` into ``session`` (the caller's transaction). Returns the new rows.

    ``event_id`` (or ``event.data["event_id"]``) makes the keys deterministic: enqueueing the same event id
    twice adds nothing (reminders and digests rely on it). Without one, each call is a new event.
    """
    settings = get_settings().notifications
    now = now or utcnow()
    event_id = event_id or str(event.data.get("event_id") or uuid.uuid4().hex)
    data = _jsonable({**event.data, "_actor": event.actor})
    people = recipients if recipients is not None else recipients_for(event)
    prefs = _preferences(session, [r.email for r in people], event.kind)
    rows: list[Notification] = []

    def add(channel: str, recipient: str, status: str = "pending", payload: dict[str, Any] | None = None) -> None:
        rows.append(
            Notification(
                key=delivery_key(event_id, channel, recipient),
                kind=event.kind,
                channel=channel,
                recipient=recipient,
                subject=render_subject(event.kind, payload if payload is not None else data),
                data=payload if payload is not None else data,
                status=status,
                max_attempts=settings.notify_max_attempts,
                next_attempt_at=now,
                created_at=now,
                sent_at=now if channel == "inapp" else None,
            )
        )

    for person in people:
        pref = prefs.get(person.email)
        if (pref is None or pref.inapp_enabled) and event.kind not in _NO_INAPP:
            add("inapp", person.email, status="sent")
        if pref is None or pref.email_enabled:
            held = pref is not None and pref.mode == "digest" and person.deferrable
            add("email", person.email, status="held" if held else "pending")
    if webhooks and event.kind in settings.webhook_kinds:
        public = {k: v for k, v in data.items() if not _PRIVATE_KEY.search(k)}
        if settings.webhook_url:
            add("webhook", "webhook", payload=public)
        if settings.matrix_homeserver and settings.matrix_room_id:
            add("matrix", settings.matrix_room_id, payload=public)
    return _insert_new(session, rows, smtp_configured=bool(settings.smtp_url))


def _insert_new(session: Session, rows: list[Notification], *, smtp_configured: bool) -> list[Notification]:
    """Insert the rows whose key is not there yet (re-enqueueing a known event id is a no-op)."""
    if not rows:
        return []
    existing = set(
        session.exec(select(col(Notification.key)).where(col(Notification.key).in_([r.key for r in rows]))).all()
    )
    fresh = [r for r in rows if r.key not in existing]
    for row in fresh:
        session.add(row)
        if row.channel == "email" and not smtp_configured and row.status == "pending":
            _log_unsent_mail(row)
    session.flush()
    return fresh


def _log_unsent_mail(row: Notification) -> None:
    # No SMTP relay: the mail waits in the outbox (sent once TALENTS_SMTP_URL is set) and shows in the log.
    # The body is logged outside production only: it may carry a signed approval link.
    fields: dict[str, Any] = {"key": row.key, "kind": row.kind, "to": row.recipient, "subject": row.subject}
    if get_settings().app.env != "production":
        try:
            fields["text"] = render_bodies(row)[0]
        except TemplateFailure as exc:
            fields["template_error"] = str(exc)[:300]
    log.info("email_kept_in_outbox", **fields)


def on_event(session: Session, event: Event) -> None:
    """The subscriber: every published event gets its deliveries, in the publisher's transaction."""
    if event.kind not in _ROUTES:
        log.debug("notification_kind_unknown", kind=event.kind)
        return
    enqueue(session, event)


def install() -> None:
    """Subscribe the outbox to domain events (idempotent). The app, the CLI and the scheduler call it."""
    subscribe(on_event)


def uninstall() -> None:
    unsubscribe(on_event)
