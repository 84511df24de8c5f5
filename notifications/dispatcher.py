"""The dispatcher: claim due deliveries, send them, mark them — safe with several dispatchers and crashes.

Claiming is a short transaction of its own. PostgreSQL: ``SELECT … FOR UPDATE SKIP LOCKED`` so that
concurrent dispatchers take disjoint rows without waiting. SQLite: one writer at a time (``BEGIN
IMMEDIATE``), the claim is a conditional ``UPDATE … WHERE status = 'pending' …``. Either way a claimed row
is ``sending`` with a lease (``lease_until``) and a claim token (``claimed_by``), and sending happens
*outside* any transaction.

Crash analysis (the delivery is never lost; a duplicate is possible only in one window, and recognisable):

- crash before the claim commits: nothing changed, the row is still ``pending``;
- crash after the claim, before sending: the lease expires, another round claims and sends it;
- crash after sending, before marking: the lease expires and the row is sent **again** with the **same**
  idempotency key (e-mail ``Message-ID``, webhook ``Idempotency-Key``, Matrix txnId). Matrix drops the
  repeat itself; a webhook receiver must dedupe on the key; for e-mail the duplicate carries the same
  Message-ID, which mail clients and archives use to collapse duplicates. SMTP has no two-phase commit, so
  exactly-once on the wire is impossible: this is at-least-once delivery with idempotent keys, which is
  *effectively once* wherever the receiver honours the key;
- a slow sender whose lease ran out and whose row was re-claimed: its final ``UPDATE`` matches no row (the
  claim token changed), it is logged as ``delivery_lease_lost`` — a detected possible duplicate.
"""

from __future__ import annotations

import os
import random
import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine

from notifications.channels import Channel, PermanentError, TransientError, build_channels
from notifications.models import Notification
from talents.kernel.db import is_postgres, utcnow
from talents.kernel.logs import get_logger
from talents.kernel.settings import get_settings

__all__ = ["DispatchReport", "backoff_delay", "claim", "dispatch_once", "worker_name"]

log = get_logger("talents.notifications.dispatch")
_T = Notification.__table__  # type: ignore[attr-defined]


@dataclass
class DispatchReport:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    lease_lost: int = 0
    keys_sent: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "claimed": self.claimed,
            "sent": self.sent,
            "retried": self.retried,
            "failed": self.failed,
            "lease_lost": self.lease_lost,
        }


def worker_name() -> str:
    return f"{socket.gethostname()[:60]}:{os.getpid()}"


def backoff_delay(attempt: int, *, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Seconds before attempt ``attempt + 1``: base·2^(attempt-1), capped, with "equal jitter" (½ to 1×)."""
    delay = min(cap, base * (2 ** max(0, attempt - 1)))
    return delay / 2 + (rng or random).uniform(0, delay / 2)


def _due(now: datetime) -> Any:
    return sa.or_(
        sa.and_(_T.c.status == "pending", _T.c.next_attempt_at <= now),
        sa.and_(_T.c.status == "sending", _T.c.lease_until < now),  # a dispatcher died or stalled
    )


def claim(
    engine: Engine, now: datetime, channels: list[str], *, token: str, limit: int, lease_s: float
) -> list[Notification]:
    """Take up to ``limit`` due deliveries of ``channels`` for ``token``; returns them (detached)."""
    if not channels:
        return []
    with engine.begin() as conn:
        query = (
            sa.select(_T.c.id)
            .where(_T.c.channel.in_(channels), _due(now))
            .order_by(_T.c.next_attempt_at, _T.c.id)
            .limit(limit)
        )
        if is_postgres(engine):
            query = query.with_for_update(skip_locked=True)
        ids = list(conn.execute(query).scalars())
        if not ids:
            return []
        conn.execute(
            _T.update()
            .where(_T.c.id.in_(ids), _due(now))
            .values(
                status="sending",
                claimed_by=token,
                lease_until=now + timedelta(seconds=lease_s),
                attempts=_T.c.attempts + 1,
            )
        )
        rows = (
            conn.execute(sa.select(_T).where(_T.c.claimed_by == token, _T.c.status == "sending").order_by(_T.c.id))
            .mappings()
            .all()
        )
    return [Notification.model_validate(dict(r)) for r in rows]


def _finish(engine: Engine, row: Notification, token: str, **values: Any) -> bool:
    """Record the outcome, if the claim is still ours (else someone re-claimed it after our lease ran out)."""
    with engine.begin() as conn:
        result = conn.execute(
            _T.update().where(_T.c.id == row.id, _T.c.claimed_by == token, _T.c.status == "sending").values(**values)
        )
    return result.rowcount == 1


def dispatch_once(
    engine: Engine,
    now: datetime | None = None,
    channels: dict[str, Channel] | None = None,
    *,
    worker: str | None = None,
    limit: int | None = None,
    rng: random.Random | None = None,
) -> DispatchReport:
    """One round: claim due deliveries of the given channels, send each, record each outcome."""
    settings = get_settings().notifications
    channels = build_channels() if channels is None else channels
    token = f"{worker or worker_name()}:{uuid.uuid4().hex[:8]}"
    report = DispatchReport()
    clock = (lambda: now) if now is not None else utcnow
    rows = claim(
        engine,
        clock(),
        sorted(channels),
        token=token,
        limit=limit or settings.notify_batch_size,
        lease_s=settings.notify_lease_s,
    )
    report.claimed = len(rows)
    try:
        for row in rows:
            _deliver(engine, row, channels[row.channel], token, clock, report, rng)
    finally:
        for channel in channels.values():
            end = getattr(channel, "end_batch", None)
            if end is not None:
                end()
    if report.claimed:
        log.info("dispatch_round", **report.to_dict())
    return report


def _deliver(
    engine: Engine,
    row: Notification,
    channel: Channel,
    token: str,
    clock: Any,
    report: DispatchReport,
    rng: random.Random | None,
) -> None:
    settings = get_settings().notifications
    try:
        channel.send(row)
    except PermanentError as exc:
        _failed(engine, row, token, clock(), f"permanent: {exc}", report)
        return
    except (TransientError, Exception) as exc:  # noqa: BLE001 - an unknown error must not lose the delivery
        error = f"{type(exc).__name__}: {exc}"[:2000]
        if row.attempts >= row.max_attempts:
            _failed(engine, row, token, clock(), error, report)
            return
        delay = backoff_delay(
            row.attempts, base=settings.notify_backoff_base_s, cap=settings.notify_backoff_max_s, rng=rng
        )
        if _finish(
            engine,
            row,
            token,
            status="pending",
            lease_until=None,
            last_error=error,
            next_attempt_at=clock() + timedelta(seconds=delay),
        ):
            report.retried += 1
            log.warning(
                "delivery_retry_scheduled",
                key=row.key,
                channel=row.channel,
                attempt=row.attempts,
                in_s=round(delay, 1),
                error=error[:200],
            )
        else:
            report.lease_lost += 1
        return
    if _finish(engine, row, token, status="sent", sent_at=clock(), lease_until=None, last_error=""):
        report.sent += 1
        report.keys_sent.append(row.key)
    else:
        report.lease_lost += 1
        log.warning(
            "delivery_lease_lost",
            key=row.key,
            channel=row.channel,
            note="sent after the lease ran out; another dispatcher may send it again (same key)",
        )


def _failed(engine: Engine, row: Notification, token: str, now: datetime, error: str, report: DispatchReport) -> None:
    if _finish(engine, row, token, status="failed", lease_until=None, last_error=error[:2000]):
        report.failed += 1
        log.error(
            "delivery_failed",
            key=row.key,
            channel=row.channel,
            kind=row.kind,
            attempts=row.attempts,
            error=error[:200],
        )
    else:
        report.lease_lost += 1
