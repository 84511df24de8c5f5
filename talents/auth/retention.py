"""Retention periods per data category, enforced by :func:`purge`."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

__all__ = ["purge"]


def purge(session: Session, now: datetime) -> dict[str, int]:
    return {}
