"""The e-mails' unsubscribe link: a confirmation page, then the one-click answer (RFC 8058).

It works without an account: the signed token in the query string is the only credential. A GET changes
nothing (mail scanners follow links); the button, or a mail client's one-click, POSTs.
"""

from __future__ import annotations

from typing import Any

from litestar import get, post
from litestar.response import Template
from sqlmodel import Session

from notifications.render import read_unsubscribe_token
from notifications.service import unsubscribe
from talents.kernel.errors import NotFoundError
from talents.kernel.principal import ANONYMOUS
from talents.layout import message_page, page

__all__ = ["route_handlers"]

PATH = "/notifications/unsubscribe"
_TITLE = "Notifications par e-mail"
# The token is a credential: no cache keeps the page, no referrer leaks it.
_NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _private(template: Template) -> Template:
    template.headers.update(_NO_STORE)
    return template


def _invalid() -> Template:
    return _private(message_page(ANONYMOUS, _TITLE, "Ce lien de désabonnement n’est pas valide ou a expiré.",
                                 status=404, alert_class="fr-alert--warning"))


@get(PATH, sync_to_thread=False, include_in_schema=False, opt={"public": True})
def unsubscribe_page(token: str = "") -> Template:
    """The confirmation page; its button posts the same token back."""
    found = read_unsubscribe_token(token)
    if found is None:
        return _invalid()
    email, _kind = found
    return _private(page("desabonnement", ANONYMOUS, "", _TITLE, email=email, token=token, action=PATH))


@post(PATH, sync_to_thread=True, include_in_schema=False, status_code=200,
      opt={"public": True, "csrf_exempt": True})
def unsubscribe_now(db_session: Session, token: str = "") -> Template:
    """One-click unsubscribe: e-mail off for that kind (or all of them), waiting mails of that kind cancelled."""
    try:
        email, kind = unsubscribe(db_session, token)
    except NotFoundError:
        return _invalid()
    what = "ces messages" if kind != "*" else "les messages de Talents"
    return _private(message_page(
        ANONYMOUS, _TITLE, f"C’est fait : {email} ne recevra plus {what} par e-mail. Vous pouvez changer d’avis "
        "depuis vos préférences de notification.", alert_class="fr-alert--success"))


route_handlers: list[Any] = [unsubscribe_page, unsubscribe_now]
