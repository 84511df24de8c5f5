"""Every error becomes a response here, and only here.

Domain errors, database errors, Litestar's own (validation, not found, method not allowed…) and those the auth
middleware raises all answer the same way: for the API, JSON ``{"detail", "status_code", "field"?}`` (plus
``extra`` for validation errors); for a browser asking a page (``Accept: text/html`` outside ``/api/``), a French
page in the site's layout. :func:`exception_handlers` is what :func:`talents.app.create_app` wires.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.response import Template

from talents.kernel.access import caller_of
from talents.kernel.db import database_error_reason
from talents.kernel.errors import DomainError, ExpiredLinkError, InvalidLinkError
from talents.kernel.logs import get_logger

__all__ = ["ERROR_TEMPLATE", "error_response", "exception_handlers"]

ERROR_TEMPLATE = "errors/error.html"
SIGN_IN_PATH = "/auth/login"
SIGN_OUT_PATH = "/auth/logout"
log = get_logger("talents.http")

# What a person reads, per status: a title and a sentence.
_PAGES: dict[int, tuple[str, str]] = {
    400: ("Demande incorrecte", "La demande envoyée n'a pas pu être comprise."),
    401: ("Connexion requise", "Connectez-vous pour accéder à cette page."),
    403: ("Accès refusé", "Vous n'avez pas le droit d'accéder à cette page ou de faire cette action."),
    404: ("Page introuvable", "La page demandée n'existe pas, ou plus."),
    405: ("Action non permise", "Cette adresse n'accepte pas ce type de demande."),
    409: ("Conflit", "Cette action n'est plus possible : les données ont changé entre-temps. "
                     "Rechargez la page et réessayez."),
    413: ("Envoi trop volumineux", "Le contenu envoyé dépasse la taille permise."),
    422: ("Données invalides", "Certaines informations saisies ne respectent pas les règles."),
    429: ("Trop de demandes", "Vous avez fait trop de demandes en peu de temps. Réessayez dans une minute."),
    500: ("Erreur du serveur", "Une erreur inattendue s'est produite. L'équipe technique en a été informée."),
    503: ("Service momentanément indisponible", "Le service est très sollicité. Réessayez dans quelques instants."),
}
_INVALID_LINK = ("Lien invalide", "Ce lien n'est pas valide : il a peut-être été mal copié. "
                                  "Vérifiez l'adresse, ou demandez un nouveau lien.")
_EXPIRED_LINK = ("Lien expiré", "Ce lien a expiré. Demandez-en un nouveau à la personne qui vous l'a envoyé.")


def _wants_page(request: Request[Any, Any, Any]) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


def error_response(
    request: Request[Any, Any, Any],
    status: int,
    detail: str,
    *,
    field: str | None = None,
    extra: Any = None,
    headers: Mapping[str, str] | None = None,
    page: tuple[str, str] | None = None,
) -> Response[Any]:
    """The response for an error: JSON for the API, a French page for a browser."""
    out_headers = {"Cache-Control": "no-store", **(headers or {})}
    if _wants_page(request):
        title, message = page or _PAGES.get(status) or _PAGES[500 if status >= 500 else 400]
        return Template(
            template_name=ERROR_TEMPLATE,
            context={"principal": caller_of(request.scope).principal, "active": "", "title": title,
                     "message": message, "status": status, "field": field, "sign_in_path": SIGN_IN_PATH,
                     "sign_out_path": SIGN_OUT_PATH, "next": request.url.path},
            status_code=status,
            headers=out_headers,
            media_type=MediaType.HTML,
        )
    body: dict[str, Any] = {"detail": detail, "status_code": status}
    if field:
        body["field"] = field
    if extra:
        body["extra"] = extra
    return Response(body, status_code=status, headers=out_headers, media_type=MediaType.JSON)


def _trace(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))[-8000:]


def _domain_error(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    page = _EXPIRED_LINK if isinstance(exc, ExpiredLinkError) else _INVALID_LINK if isinstance(
        exc, InvalidLinkError) else None
    extra = [{"key": exc.field, "message": exc.message}] if exc.field else None
    return error_response(request, exc.status_code, exc.message, field=exc.field, extra=extra, page=page)


def _http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    field = None
    extra = exc.extra
    if isinstance(exc, ValidationException) and isinstance(extra, list) and extra:
        first = extra[0]
        field = first.get("key") if isinstance(first, dict) else None
    if exc.status_code >= 500:
        log.error("server_error", status=exc.status_code, detail=str(exc.detail)[:300], traceback=_trace(exc))
    return error_response(request, exc.status_code, str(exc.detail), field=field, extra=extra,
                          headers=exc.headers)


def _integrity_error(request: Request[Any, Any, Any], exc: sa.exc.IntegrityError) -> Response[Any]:
    # A constraint the services did not check first (a concurrent write): a conflict, not a crash.
    log.warning("integrity_error", error=str(exc.orig)[:300])
    return error_response(request, 409, "the change conflicts with existing data")


def _operational_error(request: Request[Any, Any, Any],
                       exc: sa.exc.OperationalError | sa.exc.TimeoutError) -> Response[Any]:
    # A lock or statement timeout, an exhausted pool, a lost connection: say which, the client may retry.
    reason = database_error_reason(exc)
    log.error("database_unavailable", reason=reason, error=str(getattr(exc, "orig", exc))[:300],
              traceback=_trace(exc))
    return error_response(request, 503, reason or "the database is busy or unavailable, try again",
                          headers={"Retry-After": "2"})


def _out_of_range(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    # A number the database cannot store (an id of 2**70, say): the client's input, not our failure.
    wrapped = isinstance(exc, sa.exc.StatementError) and not isinstance(exc, sa.exc.DataError)
    if wrapped and not isinstance(exc.orig, OverflowError):  # type: ignore[attr-defined]
        return _unexpected(request, exc)
    return error_response(request, 400, "a value is out of range for the database (too large a number?)")


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.error("server_error", error_type=type(exc).__name__, path=request.url.path, traceback=_trace(exc))
    return error_response(request, 500, "Internal Server Error")


def exception_handlers() -> dict[type[Exception], Callable[..., Response[Any]]]:
    """For ``Litestar(exception_handlers=...)``: the most specific class wins."""
    return {
        DomainError: _domain_error,
        HTTPException: _http_exception,
        sa.exc.IntegrityError: _integrity_error,
        sa.exc.OperationalError: _operational_error,
        sa.exc.TimeoutError: _operational_error,
        sa.exc.DataError: _out_of_range,
        sa.exc.StatementError: _out_of_range,
        OverflowError: _out_of_range,
        Exception: _unexpected,
    }
