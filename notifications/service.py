"""Services behind the HTTP API: the in-app inbox, preferences, unsubscribe, and failed deliveries for admins."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, Field, field_validator
from sqlmodel import Session, col, select

from notifications.models import Notification, NotificationPreference, NotificationPublic
from notifications.outbox import KINDS
from notifications.render import read_unsubscribe_token
from talents.kernel.db import utcnow
from talents.kernel.errors import NotFoundError, PermissionDeniedError, ValidationFailedError
from talents.kernel.principal import ADMIN, REVIEWER, Principal, require

__all__ = [
    "ChannelChoice",
    "DeliveryAdminPublic",
    "DeliveryAdminService",
    "InboxPage",
    "InboxService",
    "PreferenceService",
    "Preferences",
    "unsubscribe",
]


def _own(principal: Principal) -> str:
    if not principal.authenticated:
        raise PermissionDeniedError("sign in to see your notifications")
    return principal.email.strip().lower()


class InboxPage(BaseModel):
    data: list[NotificationPublic]
    count: int
    unread: int
    limit: int
    offset: int


class InboxService:
    """The principal's own in-app notifications (never anyone else's)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    @staticmethod
    def _mine(email: Any) -> Any:
        return sa.and_(
            col(Notification.recipient) == email,
            col(Notification.channel) == "inapp",
            col(Notification.status) == "sent",
        )

    def unread_count(self, principal: Principal) -> int:
        self.session.flush()  # what this request wrote is counted (the connection does not autoflush)
        return int(self.session.connection().execute(_UNREAD_COUNT, {"recipient": _own(principal)}).scalar_one())

    def list(self, principal: Principal, *, limit: int = 20, offset: int = 0, unread_only: bool = False) -> InboxPage:
        email = _own(principal)
        where = [self._mine(email)]
        if unread_only:
            where.append(col(Notification.read_at).is_(None))
        count = int(self.session.exec(select(sa.func.count()).select_from(Notification).where(*where)).one())
        rows = self.session.exec(
            select(Notification)
            .where(*where)
            .order_by(col(Notification.created_at).desc(), col(Notification.id).desc())
            .limit(limit)
            .offset(offset)
        ).all()
        return InboxPage(
            data=[_public(r) for r in rows],
            count=count,
            unread=self.unread_count(principal),
            limit=limit,
            offset=offset,
        )

    def mark_read(self, principal: Principal, notification_id: int, now: datetime | None = None) -> NotificationPublic:
        email = _own(principal)
        row = self.session.exec(
            select(Notification).where(col(Notification.id) == notification_id, self._mine(email))
        ).first()
        if row is None:
            raise NotFoundError("no such notification")
        if row.read_at is None:
            row.read_at = now or utcnow()
            self.session.add(row)
            self.session.flush()
        return _public(row)

    def mark_all_read(self, principal: Principal, now: datetime | None = None) -> int:
        email = _own(principal)
        result = self.session.execute(
            sa.update(Notification)
            .where(self._mine(email), col(Notification.read_at).is_(None))
            .values(read_at=now or utcnow())
        )
        return int(getattr(result, "rowcount", 0) or 0)


def _public(row: Notification) -> NotificationPublic:
    data = {k: v for k, v in row.data.items() if not k.startswith("_")}
    return NotificationPublic(
        id=row.id or 0,
        kind=row.kind,
        subject=row.subject,
        data=data,
        created_at=row.created_at,
        read_at=row.read_at,
    )


# --------------------------------------------------------------------------- preferences
class ChannelChoice(BaseModel):
    inapp: bool = True
    email: bool = True
    mode: Literal["immediate", "digest"] = "immediate"


class Preferences(BaseModel):
    """``default`` applies to every kind without its own entry in ``kinds``."""

    default: ChannelChoice = Field(default_factory=ChannelChoice)
    kinds: dict[str, ChannelChoice] = Field(default_factory=dict)
    available_kinds: list[str] = Field(default_factory=lambda: list(KINDS))

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, value: dict[str, ChannelChoice]) -> dict[str, ChannelChoice]:
        unknown = sorted(set(value) - set(KINDS))
        if unknown:
            raise ValueError(f"unknown notification kinds: {', '.join(unknown)}")
        return value


class PreferenceService:
    def __init__(self, session: Session) -> None:
        self.session = session

    def _rows(self, email: str) -> list[NotificationPreference]:
        return list(
            self.session.exec(select(NotificationPreference).where(col(NotificationPreference.email) == email)).all()
        )

    def get(self, principal: Principal) -> Preferences:
        return self.get_for(_own(principal))

    def get_for(self, email: str) -> Preferences:
        prefs = Preferences()
        for row in self._rows(email):
            choice = ChannelChoice(inapp=row.inapp_enabled, email=row.email_enabled, mode=row.mode)
            if row.kind == "*":
                prefs.default = choice
            else:
                prefs.kinds[row.kind] = choice
        return prefs

    def put(self, principal: Principal, prefs: Preferences) -> Preferences:
        """Replace the principal's preferences with ``prefs``."""
        email = _own(principal)
        unknown = sorted(set(prefs.kinds) - set(KINDS))
        if unknown:
            raise ValidationFailedError(f"unknown notification kinds: {', '.join(unknown)}", field="kinds")
        wanted = {"*": prefs.default, **prefs.kinds}
        existing = {row.kind: row for row in self._rows(email)}
        for kind, row in existing.items():
            if kind not in wanted:
                self.session.delete(row)
        for kind, choice in wanted.items():
            self._set(email, kind, choice, existing.get(kind))
        self.session.flush()
        return self.get_for(email)

    def _set(self, email: str, kind: str, choice: ChannelChoice, row: NotificationPreference | None) -> None:
        row = row or NotificationPreference(email=email, kind=kind)
        row.inapp_enabled, row.email_enabled, row.mode = choice.inapp, choice.email, choice.mode
        row.updated_at = utcnow()
        self.session.add(row)

    def stop_emails(self, email: str, kind: str) -> None:
        """E-mails off for ``kind`` (``*``: for everything), other choices kept."""
        current = self.get_for(email)
        base = current.default if kind == "*" else current.kinds.get(kind, current.default)
        row = self.session.exec(
            select(NotificationPreference).where(
                col(NotificationPreference.email) == email, col(NotificationPreference.kind) == kind
            )
        ).first()
        self._set(email, kind, ChannelChoice(inapp=base.inapp, email=False, mode=base.mode), row)
        self.session.flush()


def unsubscribe(session: Session, token: str) -> tuple[str, str]:
    """Apply a signed unsubscribe token (no account needed). Returns (email, kind); 404 on a bad token.

    Mails already waiting for the address and kind are cancelled too: "stop" means stop now.
    """
    found = read_unsubscribe_token(token)
    if found is None:
        raise NotFoundError("this unsubscribe link is not valid or has expired")
    email, kind = found
    if kind != "*" and kind not in KINDS:
        kind = "*"
    PreferenceService(session).stop_emails(email, kind)
    where = [
        col(Notification.recipient) == email,
        col(Notification.channel) == "email",
        col(Notification.status).in_(("pending", "held")),
    ]
    if kind != "*":
        where.append(col(Notification.kind) == kind)
    session.execute(sa.update(Notification).where(*where).values(status="cancelled", last_error="unsubscribed"))
    return email, kind


# --------------------------------------------------------------------------- admin
class DeliveryAdminPublic(BaseModel):
    id: int
    key: str
    kind: str
    channel: str
    recipient: str
    subject: str
    status: str
    attempts: int
    last_error: str
    created_at: datetime
    next_attempt_at: datetime


class DeliveryPage(BaseModel):
    data: list[DeliveryAdminPublic]
    count: int
    limit: int
    offset: int


class DeliveryAdminService:
    """Failed deliveries, visible to admins and reviewers, who may send them again."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def list(self, principal: Principal, *, status: str = "failed", limit: int = 50, offset: int = 0) -> DeliveryPage:
        require(principal, ADMIN, REVIEWER)
        where = col(Notification.status) == status
        count = int(self.session.exec(select(sa.func.count()).select_from(Notification).where(where)).one())
        rows = self.session.exec(
            select(Notification).where(where).order_by(col(Notification.id).desc()).limit(limit).offset(offset)
        ).all()
        return DeliveryPage(data=[_admin(r) for r in rows], count=count, limit=limit, offset=offset)

    def retry(self, principal: Principal, delivery_id: int, now: datetime | None = None) -> DeliveryAdminPublic:
        """A failed delivery goes back to the queue with a fresh set of attempts (same key: no duplicate)."""
        require(principal, ADMIN, REVIEWER)
        row = self.session.get(Notification, delivery_id)
        if row is None or row.channel == "inapp":
            raise NotFoundError("no such delivery")
        if row.status != "failed":
            raise ValidationFailedError(
                f"only a failed delivery can be retried (this one is {row.status})", field="status"
            )
        row.status, row.attempts, row.next_attempt_at = "pending", 0, now or utcnow()
        row.lease_until, row.claimed_by = None, None
        row.last_error = f"retry requested by {principal.email}; before: {row.last_error}"[:2000]
        self.session.add(row)
        self.session.flush()
        return _admin(row)


def _admin(row: Notification) -> DeliveryAdminPublic:
    return DeliveryAdminPublic(
        id=row.id or 0,
        key=row.key,
        kind=row.kind,
        channel=row.channel,
        recipient=row.recipient,
        subject=row.subject,
        status=row.status,
        attempts=row.attempts,
        last_error=row.last_error,
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at,
    )


# Built once: « Mon espace » shows the count on every visit.
_UNREAD_COUNT = (select(sa.func.count()).select_from(Notification)
                 .where(InboxService._mine(sa.bindparam("recipient")), col(Notification.read_at).is_(None)))
