"""What every page shares: the layout's context, the navigation by role, forms (CSRF) and French errors.

Pages are thin: they read the form, call the same service as the API, then redirect (POST → 303 → GET) with a
short confirmation, or show the page again with the error in French beside the form.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from litestar import MediaType, Request
from litestar.response import Redirect, Template
from pydantic import ValidationError

from talents.auth.middleware import caller_of
from talents.kernel.errors import (
    ConflictError,
    DomainError,
    InvalidTransitionError,
    NotFoundError,
    PermissionDeniedError,
)
from talents.kernel.principal import ADMIN, AGENT, LEAD, MANAGER, REVIEWER, Principal
from talents.kernel.settings import get_settings
from talents.web.filters import percent_fr

__all__ = [
    "SIGN_IN_PATH",
    "SIGN_OUT_PATH",
    "NavItem",
    "denied",
    "done",
    "form_dict",
    "french_error",
    "message_page",
    "navigation",
    "page",
    "sign_in",
]

SIGN_IN_PATH = "/auth/login"
SIGN_OUT_PATH = "/auth/logout"


@dataclass(frozen=True)
class NavItem:
    key: str
    label: str
    href: str


def navigation(principal: Principal) -> list[NavItem]:
    """The menu: each user sees the pages they may use, and only those."""
    items = [NavItem("accueil", "Accueil", "/")]
    if not principal.authenticated:
        return items
    if principal.has(AGENT, ADMIN) or not principal.roles:
        items.append(NavItem("espace", "Mon espace", "/mon-espace"))
    items.append(NavItem("besoins", "Besoins et équipes flash", "/besoins"))
    if principal.has(LEAD, ADMIN):
        items.append(NavItem("porteur", "Mes projets", "/porteur"))
    if principal.has(MANAGER, ADMIN):
        items.append(NavItem("responsable", "Demandes à valider", "/responsable"))
    if principal.has(REVIEWER, ADMIN):
        items.append(NavItem("pilotage", "Pilotage DINUM", "/pilotage"))
        items.append(NavItem("allocation", "Allocation", "/pilotage/allocation"))
        items.append(NavItem("taxonomie", "Compétences", "/pilotage/competences"))
    return items


def page(name: str, principal: Principal, active: str, title: str, *, request: Request[Any, Any, Any] | None = None,
         status: int = 200, **context: Any) -> Template:
    """Render ``templates/pages/<name>.html`` in the layout, with the CSRF token for its forms."""
    csrf = caller_of(request.scope).csrf_token if request is not None else None
    notice = request.query_params.get("ok") if request is not None else None
    template = Template(
        template_name=f"pages/{name}.html",
        context={"principal": principal, "active": active, "title": title, "sign_in_path": SIGN_IN_PATH,
                 "sign_out_path": SIGN_OUT_PATH, "nav": navigation(principal), "csrf_token": csrf or "",
                 "notice": NOTICES.get(notice or "", ""), **context},
        media_type=MediaType.HTML,
        headers={"Cache-Control": "no-store"},
    )
    template.status_code = status
    return template


def message_page(principal: Principal, title: str, message: str, *, status: int = 200,
                 alert_class: str = "fr-alert--info", body_html: str = "") -> Template:
    """A page that only says something (errors, confirmations), in the same layout as the others."""
    return page("message", principal, "", title, status=status, message=message, alert_class=alert_class,
                body_html=body_html)


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


# Confirmations shown after a redirect, keyed by a short code in the query string (never free text).
NOTICES = {
    "profil": "Votre profil est enregistré.",
    "competence": "La compétence est enregistrée.",
    "competence-retiree": "La compétence est retirée de votre profil.",
    "disponibilite": "La disponibilité est enregistrée.",
    "disponibilite-retiree": "La disponibilité est retirée.",
    "acceptee": "Vous avez accepté la proposition ; votre responsable reçoit une demande de validation.",
    "declinee": "Vous avez décliné la proposition.",
    "preferences": "Vos préférences de notification sont enregistrées.",
    "lues": "Les notifications sont marquées comme lues.",
    "projet": "Le projet est enregistré.",
    "besoin": "Le besoin est enregistré.",
    "role": "Le rôle est enregistré.",
    "role-retire": "Le rôle est retiré.",
    "propose": "La proposition est envoyée à l'agent.",
    "equipe": "L'équipe proposée est envoyée aux agents.",
    "termine": "La mission est marquée terminée ; merci pour votre retour.",
    "demarre": "La mission est marquée en cours.",
    "retire": "La proposition est retirée.",
    "lien": "Un nouveau lien de validation est envoyé au responsable.",
    "priorite": "La priorité est enregistrée.",
    "allocation": "L'allocation est appliquée.",
    "force": "L'affectation est imposée ; elle est inscrite au journal.",
    "retrait": "L'affectation est retirée ; elle est inscrite au journal.",
    "fusion": "La compétence est fusionnée.",
    "alias": "Les synonymes sont enregistrés.",
    "valide": "La compétence est validée.",
}

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
