"""Reminders and digests: functions the scheduler calls with an explicit ``now`` (so tests pick the day).

They read tables owned by other packages (``agent``, ``availability``, ``assignment``, ``need``, ``role``, and
``auth_user`` for reviewers) through SQLAlchemy Core on *table names*, declaring only the columns they use
(:data:`AGENT`, :data:`ASSIGNMENT`…). Why not import those packages' models: notifications may not depend on
profiles/needs/workflow (one direction of imports), and a port with one method per query would be a second
copy of these same few SELECTs. The column lists below are the whole contract; a renamed column fails these
functions' tests loudly rather than silently.

Every reminder has a deterministic event id (what, which row, which period), so running a job twice for the
same day — or two schedulers overlapping — never sends a reminder twice: the outbox key is unique.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from notifications.models import Notification
from notifications.outbox import Recipient, enqueue
from talents.kernel.db import UTCDateTime, as_utc, session_scope
from talents.kernel.events import Event
from talents.kernel.fields import is_valid_email
from talents.kernel.logs import get_logger
from talents.kernel.settings import get_settings

__all__ = [
    "daily_user_digests",
    "remind_availability_ending",
    "remind_pending_approvals",
    "remind_pending_proposals",
    "remind_stale_profiles",
    "reviewer_digest",
    "reviewer_emails",
]

log = get_logger("talents.notifications.reminders")
_c = sa.column
_TS, _DAY = UTCDateTime(), sa.Date()
AGENT = sa.table(
    "agent", _c("id"), _c("email"), _c("name"), _c("manager_email"), _c("updated_at", _TS), _c("erased_at", _TS)
)
AVAILABILITY = sa.table(
    "availability", _c("id"), _c("agent_id"), _c("start_date", _DAY), _c("end_date", _DAY), _c("share")
)
ASSIGNMENT = sa.table(
    "assignment",
    _c("id"),
    _c("need_id"),
    _c("role_id"),
    _c("agent_id"),
    _c("state"),
    _c("share"),
    _c("start_date", _DAY),
    _c("end_date", _DAY),
    _c("created_at", _TS),
    _c("updated_at", _TS),
)
NEED = sa.table(
    "need",
    _c("id"),
    _c("title"),
    _c("priority"),
    _c("status"),
    _c("lead_email"),
    _c("created_at", _TS),
    _c("start_date", _DAY),
    _c("end_date", _DAY),
)
ROLE = sa.table("role", _c("id"), _c("need_id"), _c("title"), _c("count"), _c("position"))
AUTH_USER = sa.table("auth_user", _c("email"), _c("roles", sa.JSON()))


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _notify(session: Session, kind: str, event_id: str, email: str | None, data: dict[str, Any], now: datetime) -> int:
    if not email or not is_valid_email(email.strip().lower(), ascii_only=True):
        return 0
    email = email.strip().lower()
    rows = enqueue(
        session,
        Event(kind, data),
        now=now,
        event_id=event_id,
        recipients=[Recipient(email, deferrable=kind not in ("reminder.approval_pending",))],
        webhooks=False,
    )
    return 1 if rows else 0


# One reminder: its event id (the same reminder twice is a no-op), its recipient and its data.
Reminder = tuple[str, str | None, dict[str, Any]]


def _send(engine: Engine, now: datetime, kind: str, reminders: Callable[[Session], Iterable[Reminder]]) -> int:
    """Queue each reminder ``reminders`` finds (in one transaction); how many were new."""
    sent = 0
    with session_scope(engine) as session:
        for event_id, email, data in reminders(session):
            sent += _notify(session, kind, event_id, email, data, now)
    return sent


def _seats(*columns: Any) -> sa.Select[Any]:
    """Assignments with their agent, need and role (what a reminder about a seat says), and ``columns``."""
    return (
        sa.select(
            ASSIGNMENT.c.id,
            ASSIGNMENT.c.start_date,
            ASSIGNMENT.c.end_date,
            AGENT.c.email,
            AGENT.c.name,
            NEED.c.title,
            NEED.c.id.label("need_id"),
            ROLE.c.title.label("role_title"),
            *columns,
        )
        .join(AGENT, AGENT.c.id == ASSIGNMENT.c.agent_id)
        .join(NEED, NEED.c.id == ASSIGNMENT.c.need_id)
        .join(ROLE, ROLE.c.id == ASSIGNMENT.c.role_id)
    )


def _seat_data(r: sa.RowMapping) -> dict[str, Any]:
    """What every reminder about a seat names: the assignment, its need and role, the agent."""
    return {"assignment_id": r["id"], "need_id": r["need_id"], "need_title": r["title"], "role_title": r["role_title"],
            "agent_name": r["name"]}


def remind_pending_proposals(engine: Engine, now: datetime, days: int | None = None) -> int:
    """Agents proposed ``days`` ago or more who have not answered; again every ``days`` days."""
    days = days or get_settings().notifications.proposal_reminder_days
    now = as_utc(now)
    query = (
        _seats(ASSIGNMENT.c.created_at, NEED.c.priority)
        .where(
            ASSIGNMENT.c.state == "proposed",
            ASSIGNMENT.c.created_at <= now - timedelta(days=days),
            AGENT.c.erased_at.is_(None),
        )
    )

    def reminders(session: Session) -> Iterator[Reminder]:
        for r in session.execute(query).mappings():
            age = (now - as_utc(r["created_at"])).days
            data = {**_seat_data(r), "priority": r["priority"], "agent_email": r["email"], "days": age}
            yield f"reminder.proposal:{r['id']}:{age // days}", r["email"], data

    return _send(engine, now, "reminder.proposal_pending", reminders)


def _approval_links(session: Session, since: datetime) -> dict[Any, str]:
    """The signed approval links already sent to managers (the workflow made them; we do not mint any)."""
    rows = session.exec(
        select(col(Notification.data)).where(
            col(Notification.kind) == "assignment.approval_requested",
            col(Notification.channel) == "email",
            col(Notification.created_at) >= since,
        )
    ).all()
    return {str(d.get("assignment_id")): d["approval_url"] for d in rows if d.get("approval_url")}


def remind_pending_approvals(engine: Engine, now: datetime, days: int | None = None) -> int:
    """Managers who have not answered an approval request for ``days`` days (with the link they received)."""
    days = days or get_settings().notifications.approval_reminder_days
    now = as_utc(now)
    query = (
        _seats(ASSIGNMENT.c.updated_at, ASSIGNMENT.c.share, AGENT.c.manager_email)
        .where(
            ASSIGNMENT.c.state == "accepted",
            ASSIGNMENT.c.updated_at <= now - timedelta(days=days),
            AGENT.c.manager_email.is_not(None),
            AGENT.c.erased_at.is_(None),
        )
    )

    def reminders(session: Session) -> Iterator[Reminder]:
        links = _approval_links(session, now - timedelta(days=60))
        for r in session.execute(query).mappings():
            age = (now - as_utc(r["updated_at"])).days
            data = {**_seat_data(r), "manager_email": r["manager_email"], "share": r["share"], "days": age,
                    "approval_url": links.get(str(r["id"]))}
            yield f"reminder.approval:{r['id']}:{age // days}", r["manager_email"], data

    return _send(engine, now, "reminder.approval_pending", reminders)


def remind_availability_ending(engine: Engine, now: datetime, days: int | None = None) -> int:
    """Agents whose availability window ends within ``days`` days and who declared nothing after it."""
    days = days or get_settings().notifications.availability_ending_days
    today = as_utc(now).date()
    later = AVAILABILITY.alias("later")
    query = (
        sa.select(AVAILABILITY.c.id, AVAILABILITY.c.end_date, AGENT.c.email, AGENT.c.name)
        .join(AGENT, AGENT.c.id == AVAILABILITY.c.agent_id)
        .where(
            AVAILABILITY.c.end_date >= today,
            AVAILABILITY.c.end_date <= today + timedelta(days=days),
            AGENT.c.erased_at.is_(None),
            ~sa.exists().where(later.c.agent_id == AVAILABILITY.c.agent_id, later.c.end_date > AVAILABILITY.c.end_date),
        )
    )

    def reminders(session: Session) -> Iterator[Reminder]:
        for r in session.execute(query).mappings():
            end = _as_date(r["end_date"])
            data = {"agent_email": r["email"], "agent_name": r["name"], "end": end.isoformat()}
            yield f"reminder.availability:{r['id']}:{end.isoformat()}", r["email"], data

    return _send(engine, now, "reminder.availability_ending", reminders)


def remind_stale_profiles(engine: Engine, now: datetime, days: int | None = None) -> int:
    """Agents whose profile has not changed for ``days`` days (six months by default); once per such period."""
    days = days or get_settings().notifications.profile_stale_days
    now = as_utc(now)
    query = sa.select(AGENT.c.id, AGENT.c.email, AGENT.c.name, AGENT.c.updated_at).where(
        AGENT.c.updated_at <= now - timedelta(days=days), AGENT.c.erased_at.is_(None)
    )

    def reminders(session: Session) -> Iterator[Reminder]:
        for r in session.execute(query).mappings():
            updated = as_utc(r["updated_at"]).date()
            data = {"agent_email": r["email"], "agent_name": r["name"], "updated_on": updated.isoformat()}
            yield f"reminder.profile:{r['id']}:{updated.isoformat()}", r["email"], data

    return _send(engine, now, "reminder.profile_stale", reminders)


def reviewer_emails(session: Session) -> list[str]:
    """Reviewers: accounts holding the ``reviewer`` role (``auth_user``, if present) plus the setting's list."""
    emails = {e.strip().lower() for e in get_settings().notifications.notify_reviewer_emails if e.strip()}
    bind = session.get_bind()
    if sa.inspect(bind).has_table("auth_user"):
        for email, roles in session.execute(sa.select(AUTH_USER.c.email, AUTH_USER.c.roles)):
            if isinstance(roles, str):
                roles = json.loads(roles or "[]")
            if email and "reviewer" in (roles or []):
                emails.add(str(email).strip().lower())
    return sorted(e for e in emails if is_valid_email(e, ascii_only=True))


def reviewer_digest(engine: Engine, now: datetime, seat_states: Sequence[str]) -> int:
    """The reviewers' daily digest: needs created in the last 24 h by priority, and seats with nobody on them.
    ``seat_states`` are the assignment states that hold a seat, given by the workflow that owns them."""
    now = as_utc(now)
    day = now.date().isoformat()
    filled = (
        sa.select(ASSIGNMENT.c.role_id, sa.func.count().label("n"))
        .where(ASSIGNMENT.c.state.in_(seat_states))
        .group_by(ASSIGNMENT.c.role_id)
        .subquery()
    )
    with session_scope(engine) as session:
        recipients = reviewer_emails(session)
        if not recipients:
            return 0
        new = (
            session.execute(
                sa.select(NEED.c.id, NEED.c.title, NEED.c.priority)
                .where(
                    NEED.c.created_at > now - timedelta(days=1),
                    NEED.c.created_at <= now,
                    NEED.c.status != "draft",
                )
                .order_by(NEED.c.priority, NEED.c.id)
            )
            .mappings()
            .all()
        )
        open_seats = (
            session.execute(
                sa.select(
                    NEED.c.id,
                    NEED.c.title,
                    NEED.c.priority,
                    ROLE.c.title.label("role_title"),
                    (ROLE.c.count - sa.func.coalesce(filled.c.n, 0)).label("missing"),
                )
                .join(ROLE, ROLE.c.need_id == NEED.c.id)
                .outerjoin(filled, filled.c.role_id == ROLE.c.id)
                .where(NEED.c.status == "open", ROLE.c.count > sa.func.coalesce(filled.c.n, 0))
                .order_by(NEED.c.priority, NEED.c.id, ROLE.c.position)
            )
            .mappings()
            .all()
        )
        by_priority: dict[int, list[str]] = defaultdict(list)
        for n in new:
            by_priority[int(n["priority"])].append(str(n["title"]))
        data = {
            "day": day,
            "new_needs": [dict(n) for n in new],
            "new_needs_lines": [f"Priorité {p} : {', '.join(titles)}" for p, titles in sorted(by_priority.items())],
            "unfilled": [dict(s) for s in open_seats],
            "unfilled_seats": sum(int(s["missing"]) for s in open_seats),
            "unfilled_lines": [
                f"P{s['priority']} — {s['title']} — {s['role_title']} : {s['missing']} place(s)"
                for s in open_seats[:50]
            ],
        }
        return sum(
            _notify(session, "digest.reviewer", f"digest.reviewer:{email}:{day}", email, data, now)
            for email in recipients
        )


def daily_user_digests(engine: Engine, now: datetime) -> int:
    """One e-mail per person in digest mode, carrying every notification held for them; returns mails made."""
    now = as_utc(now)
    day = now.date().isoformat()
    with session_scope(engine) as session:
        emails = session.exec(
            select(col(Notification.recipient))
            .where(col(Notification.status) == "held", col(Notification.channel) == "email")
            .distinct()
        ).all()
    made = 0
    for email in emails:
        with session_scope(engine) as session:  # one person, one transaction
            held = session.exec(
                select(Notification)
                .where(
                    col(Notification.status) == "held",
                    col(Notification.channel) == "email",
                    col(Notification.recipient) == email,
                )
                .order_by(col(Notification.created_at), col(Notification.id))
            ).all()
            if not held:
                continue
            event_id = f"digest.user:{email}:{day}"
            data = {
                "day": day,
                "items": [{"kind": h.kind, "subject": h.subject} for h in held],
                "item_lines": [h.subject for h in held],
            }
            rows = enqueue(
                session,
                Event("digest.user", data),
                now=now,
                event_id=event_id,
                recipients=[Recipient(email, deferrable=False)],
                webhooks=False,
            )
            if not rows:  # today's digest already went out: these wait for tomorrow's
                continue
            digest_key = rows[0].key
            for h in held:
                h.status, h.digest_key = "digested", digest_key
                session.add(h)
            made += 1
    return made
