"""Retention periods per data category (``TALENTS_RETENTION_*``), enforced by :func:`purge`.

The scheduler calls ``purge(session, now)`` from a job; ``talents gdpr purge`` runs it by hand.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col

from profiles.models import AccessLog
from talents.auth.models import AccessLogPurge, ApiToken, LoginFlow, User, UserSession
from talents.auth.ratelimit import purge_buckets
from talents.kernel.settings import get_settings

__all__ = ["purge"]


def _count(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def purge(session: Session, now: datetime) -> dict[str, int]:
    """Delete what has outlived its retention period; returns how many rows went, by category.

    Runs in the caller's transaction (commit it). The access log refuses deletes except below the cut-off
    written in ``access_log_purge`` within the same transaction, which is removed again before returning.
    """
    keep = get_settings().privacy
    done: dict[str, int] = {}

    cutoff = now - timedelta(days=keep.retention_access_log_days)
    gate = AccessLogPurge(before=cutoff)
    session.add(gate)
    session.flush()
    done["access_log"] = _count(session.execute(sa.delete(AccessLog).where(col(AccessLog.at) < cutoff)))
    session.delete(gate)
    session.flush()

    old = now - timedelta(days=keep.retention_sessions_days)
    done["sessions"] = _count(session.execute(sa.delete(UserSession).where(sa.or_(
        col(UserSession.ended_at) < old, col(UserSession.expires_at) < old))))
    done["login_flows"] = _count(session.execute(sa.delete(LoginFlow).where(
        col(LoginFlow.created_at) < now - timedelta(hours=keep.retention_login_flows_hours))))
    done["revoked_tokens"] = _count(session.execute(sa.delete(ApiToken).where(
        col(ApiToken.revoked_at) < now - timedelta(days=keep.retention_revoked_tokens_days))))
    done["rate_counters"] = purge_buckets(session, now.timestamp())

    # Accounts nobody has used for years, that hold no live token: the person has left.
    idle = now - timedelta(days=keep.retention_inactive_users_days)
    live_tokens = sa.select(col(ApiToken.user_id)).where(col(ApiToken.revoked_at).is_(None))
    done["inactive_accounts"] = _count(session.execute(sa.delete(User).where(
        sa.func.coalesce(col(User.last_login_at), col(User.created_at)) < idle,
        col(User.id).not_in(live_tokens))))

    if sa.inspect(session.connection()).has_table("notification"):
        done["notifications"] = _count(session.execute(
            # Only finished deliveries: pending, held for a digest or mid-delivery ones are still owed.
            sa.text("DELETE FROM notification WHERE created_at < :cutoff "
                    "AND status IN ('sent', 'failed', 'digested', 'cancelled')"),
            {"cutoff": now - timedelta(days=keep.retention_notifications_days)}))
    session.flush()
    return done
