"""Domain events, published inside the transaction of the change that causes them.

Subscribers (the notification outbox, for one) run in the same session, so an event and what it
triggers are committed together or not at all. Event kinds (``data`` carries what subscribers need,
so they never query another package):

- ``assignment.proposed`` ``assignment.accepted`` ``assignment.declined`` ``assignment.approval_requested``
  ``assignment.approved`` ``assignment.refused`` ``assignment.activated`` ``assignment.completed``
  ``assignment.withdrawn`` ``assignment.expired`` ``assignment.forced``
- ``need.created`` ``need.priority_changed`` ``need.staffed``
- ``allocation.run_completed``

Common ``data`` keys: ``assignment_id``, ``need_id``, ``need_title``, ``role_title``, ``priority``,
``agent_email``, ``agent_name``, ``manager_email``, ``lead_email``, ``approval_url``, ``reason``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session

__all__ = ["Event", "Subscriber", "publish", "subscribe", "unsubscribe"]


@dataclass(frozen=True)
class Event:
    kind: str
    data: dict[str, Any] = field(default_factory=dict)
    actor: str = "system"


Subscriber = Callable[[Session, Event], None]
_subscribers: list[Subscriber] = []


def subscribe(fn: Subscriber) -> Subscriber:
    """Register a subscriber once (idempotent, so imports may repeat)."""
    if fn not in _subscribers:
        _subscribers.append(fn)
    return fn


def unsubscribe(fn: Subscriber) -> None:
    if fn in _subscribers:
        _subscribers.remove(fn)


def publish(session: Session, event: Event) -> None:
    """Hand the event to every subscriber, in the caller's transaction."""
    for fn in list(_subscribers):
        fn(session, event)
