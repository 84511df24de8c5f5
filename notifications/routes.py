"""HTTP routes of notifications (wired by :mod:`talents.app`).

- ``GET  /api/v1/me/notifications`` (``limit``, ``offset``, ``unread``), ``GET …/unread-count``,
  ``POST …/{id}/read``, ``POST …/read-all`` — the principal's own in-app notifications;
- ``GET|PUT /api/v1/me/notification-preferences``;
- ``GET /api/v1/admin/notifications/failed``, ``POST /api/v1/admin/notifications/{id}/retry`` — admins, reviewers.

The unsubscribe link's pages are web pages, in :mod:`talents.web.unsubscribe`.

Handlers are thin: they parse, call a service, return a schema.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import get, post, put
from litestar.params import Parameter
from sqlmodel import Session

from notifications import outbox
from notifications.models import NotificationPublic
from notifications.service import (
    DeliveryAdminPublic,
    DeliveryAdminService,
    DeliveryPage,
    InboxPage,
    InboxService,
    Preferences,
    PreferenceService,
)
from talents.kernel.access import rule
from talents.kernel.principal import ADMIN, REVIEWER, Principal

__all__ = ["on_startup", "route_handlers"]

Limit = Annotated[int, Parameter(ge=1, le=200, description="Items per page")]
Offset = Annotated[int, Parameter(ge=0, le=10_000_000, description="Items to skip")]
# Who may call each route (read by the auth middleware).
_MINE = rule(why="any signed-in principal: their own notifications and preferences")
_ADMINS = rule(ADMIN, REVIEWER, why="admins and DINUM reviewers")


@get(
    "/api/v1/me/notifications",
    sync_to_thread=True,
    tags=["notifications"],
    opt=_MINE,
    summary="My in-app notifications, newest first",
)
def list_my_notifications(
    db_session: Session, principal: Principal, limit: Limit = 20, offset: Offset = 0, unread: bool = False
) -> InboxPage:
    return InboxService(db_session).list(principal, limit=limit, offset=offset, unread_only=unread)


@get(
    "/api/v1/me/notifications/unread-count",
    sync_to_thread=True,
    tags=["notifications"],
    opt=_MINE,
    summary="How many are unread",
)
def unread_count(db_session: Session, principal: Principal) -> dict[str, int]:
    return {"count": InboxService(db_session).unread_count(principal)}


@post(
    "/api/v1/me/notifications/{notification_id:int}/read",
    sync_to_thread=True,
    tags=["notifications"],
    opt=_MINE,
    status_code=200,
    summary="Mark one of my notifications read",
)
def mark_read(db_session: Session, principal: Principal, notification_id: int) -> NotificationPublic:
    return InboxService(db_session).mark_read(principal, notification_id)


@post(
    "/api/v1/me/notifications/read-all",
    sync_to_thread=True,
    tags=["notifications"],
    opt=_MINE,
    status_code=200,
    summary="Mark all my notifications read",
)
def mark_all_read(db_session: Session, principal: Principal) -> dict[str, int]:
    return {"updated": InboxService(db_session).mark_all_read(principal)}


@get(
    "/api/v1/me/notification-preferences",
    sync_to_thread=True,
    tags=["notifications"],
    opt=_MINE,
    summary="My notification preferences",
)
def get_preferences(db_session: Session, principal: Principal) -> Preferences:
    return PreferenceService(db_session).get(principal)


@put(
    "/api/v1/me/notification-preferences",
    sync_to_thread=True,
    tags=["notifications"],
    opt=_MINE,
    summary="Replace my notification preferences",
)
def put_preferences(db_session: Session, principal: Principal, data: Preferences) -> Preferences:
    return PreferenceService(db_session).put(principal, data)


@get(
    "/api/v1/admin/notifications/failed",
    sync_to_thread=True,
    tags=["notifications"],
    opt=_ADMINS,
    summary="Deliveries that failed after their last attempt (admins, reviewers)",
)
def list_failed(db_session: Session, principal: Principal, limit: Limit = 50, offset: Offset = 0) -> DeliveryPage:
    return DeliveryAdminService(db_session).list(principal, limit=limit, offset=offset)


@post(
    "/api/v1/admin/notifications/{delivery_id:int}/retry",
    sync_to_thread=True,
    tags=["notifications"],
    opt=_ADMINS,
    status_code=200,
    summary="Queue a failed delivery again (same idempotency key)",
)
def retry_delivery(db_session: Session, principal: Principal, delivery_id: int) -> DeliveryAdminPublic:
    return DeliveryAdminService(db_session).retry(principal, delivery_id)


def _install_outbox() -> None:
    outbox.install()


outbox.install()  # the web process publishes events: their deliveries must be written with them
route_handlers: list[Any] = [
    list_my_notifications,
    unread_count,
    mark_read,
    mark_all_read,
    get_preferences,
    put_preferences,
    list_failed,
    retry_delivery,
]
on_startup: list[Any] = [_install_outbox]
