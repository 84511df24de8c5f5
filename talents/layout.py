"""The site's layout: every HTML page — the users' pages, the sign-in pages, the manager's signed link, the
unsubscribe link — is rendered in it, with the navigation by role, the CSRF token of its forms and the
confirmation a redirect asked for.

It imports nothing of the features (auth, web pages, workflow), so that each of them may render a page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import MediaType, Request
from litestar.response import Template

from talents.kernel.access import caller_of
from talents.kernel.principal import ADMIN, AGENT, LEAD, MANAGER, REVIEWER, Principal

__all__ = ["NOTICES", "SIGN_IN_PATH", "SIGN_OUT_PATH", "NavItem", "message_page", "navigation", "page"]

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
