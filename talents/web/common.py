"""What the pages share: sign-in redirects, refusals, forms (POST → 303 → GET) and French errors.

The layout itself (navigation by role, CSRF token, confirmations) is :mod:`talents.layout`.

Pages are thin: they read the form, call the same service as the API, then redirect (POST → 303 → GET) with a
short confirmation, or show the page again with the error in French beside the form.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from litestar import Request
from litestar.response import Redirect, Template
from pydantic import ValidationError

from talents.kernel.errors import (
    ConflictError,
    DomainError,
    InvalidTransitionError,
    NotFoundError,
    PermissionDeniedError,
)
from talents.kernel.principal import Principal
from talents.kernel.settings import get_settings
from talents.layout import SIGN_IN_PATH, message_page
from talents.web.filters import percent_fr

__all__ = ["checked", "denied", "done", "field_label", "floor_sentence", "form_dict", "french_error", "sign_in"]

def sign_in(path: str) -> Redirect:
    return Redirect(path=f"{SIGN_IN_PATH}?next={quote(path, safe='/?=&')}")


def denied(principal: Principal, what: str) -> Template:
    return message_page(principal, "Accès réservé", what, status=403, alert_class="fr-alert--warning")


def done(path: str, notice: str) -> Redirect:
    """After a form: back to a page (303, so a reload does not post again), with a confirmation to show."""
    path, _, fragment = path.partition("#")
    sep = "&" if "?" in path else "?"
    return Redirect(path=f"{path}{sep}ok={notice}" + (f"#{fragment}" if fragment else ""), status_code=303)


async def form_dict(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The posted form: single values as strings, repeated names (check boxes, lists) as lists."""
    form = await request.form()
    out: dict[str, Any] = {}
    for key in form:
        values = form.getall(key)
        out[key] = values if len(values) > 1 or key.endswith("[]") else values[0]
    out.pop("csrf_token", None)
    return out


_FIELDS = {
    "name": "compétence", "level": "niveau", "interest": "intérêt", "start": "date de début", "end": "date de fin",
    "share": "part du temps de travail", "email": "adresse électronique", "ministry": "ministère",
    "title": "intitulé", "description": "description", "count": "nombre de places", "priority": "priorité",
    "reason": "motif", "feedback": "retour sur la mission", "project_id": "projet", "target_id": "compétence cible",
    "agent_id": "agent", "need_id": "besoin", "role": "rôle", "manager_email": "adresse du responsable",
    "visibility": "visibilité", "bio": "présentation", "aliases": "synonymes", "fte_needed": "ETP nécessaires",
    "lead_email": "porteur", "label_fr": "libellé",
}
_PYDANTIC = {
    "missing": "est obligatoire", "string_too_short": "est obligatoire", "string_too_long": "est trop long",
    "greater_than": "est trop petit", "greater_than_equal": "est trop petit", "less_than_equal": "est trop grand",
    "less_than": "est trop grand", "int_parsing": "doit être un nombre entier", "float_parsing": "doit être un nombre",
    "date_from_datetime_parsing": "doit être une date", "date_parsing": "doit être une date",
    "value_error": "n'est pas valable", "literal_error": "n'est pas un choix possible",
    "bool_parsing": "doit être oui ou non",
}


def field_label(field: str | None) -> str:
    if not field:
        return ""
    last = field.split(".")[-1]
    return _FIELDS.get(last, last)


def floor_sentence() -> str:
    """The programme's rule, said as a person reads it."""
    floor = get_settings().matching.floor
    return (f"La part du temps de travail doit être supérieure à {percent_fr(floor)} : le programme ne retient "
            f"que les contributions de plus de la moitié du temps de travail.")


def french_error(exc: Exception) -> str:
    """One French sentence for an error a form can meet (the services speak English to the API)."""
    if isinstance(exc, ValidationError):
        parts = []
        for err in exc.errors():
            loc = ".".join(str(x) for x in err.get("loc", ()) if not isinstance(x, int))
            if err.get("type") == "value_error" and "end must not be before start" in str(err.get("msg")):
                parts.append("la date de fin ne peut pas précéder la date de début")
                continue
            parts.append(f"« {field_label(loc) or 'valeur'} » {_PYDANTIC.get(str(err.get('type')), 'est invalide')}")
        text = " ; ".join(parts) or "le formulaire est incomplet"
        return text[0].upper() + text[1:] + "."
    if not isinstance(exc, DomainError):
        return "Une erreur est survenue ; réessayez."
    field = field_label(exc.field)
    message = exc.message.lower()
    if (exc.field or "").endswith("share") and ("above" in message or "floor" in message):
        return floor_sentence()
    if exc.field == "reason" and "written reason" in message:
        return ("Un motif écrit est nécessaire : le moteur ne proposerait pas cet agent (score sous le minimum, "
                "ou il a déjà décliné, été refusé ou été retiré de ce besoin).")
    if "100 %" in message or "100%" in message or "capacity" in message or "over-commit" in message:
        return "Cet agent n'a plus assez de temps disponible sur la période (100 % au plus, tous projets confondus)."
    if isinstance(exc, PermissionDeniedError):
        return "Vous n'avez pas le droit de faire cela."
    if isinstance(exc, NotFoundError):
        return f"Introuvable{f' ({field})' if field else ''} : la page a peut-être changé entre-temps."
    if isinstance(exc, InvalidTransitionError):
        return "Cette action n'est plus possible : la situation a changé entre-temps. Rechargez la page."
    if isinstance(exc, ConflictError):
        if "already has skill" in message:
            return "Cette compétence figure déjà dans votre profil : modifiez-la plutôt."
        return f"Conflit avec une donnée existante{f' ({field})' if field else ''}."
    return f"Valeur refusée{f' pour « {field} »' if field else ''} : {exc.message}"


def checked(form: Mapping[str, Any], name: str) -> bool:
    return str(form.get(name, "")).lower() in ("on", "true", "1", "oui")
