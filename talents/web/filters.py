"""French formatting for the pages (Jinja filters): dates, percentages, decimals, statuses.

Babel does the formatting (CLDR data for ``fr_FR``): « 4 janvier 2027 », « 60 % », « 1,5 ».
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal, format_percent

__all__ = [
    "ASSIGNMENT_STATES",
    "LEVELS",
    "NEED_STATUSES",
    "date_fr",
    "datetime_fr",
    "decimal_fr",
    "install",
    "percent_fr",
    "state_fr",
]

LOCALE = "fr_FR"
TIMEZONE = "Europe/Paris"

ASSIGNMENT_STATES = {
    "proposed": "proposé",
    "accepted": "accepté par l'agent",
    "declined": "décliné",
    "approved": "approuvé par le responsable",
    "refused": "refusé par le responsable",
    "active": "en cours",
    "completed": "terminé",
    "withdrawn": "retiré",
    "expired": "expiré",
}
NEED_STATUSES = {"open": "ouvert", "staffed": "pourvu", "closed": "clos", "cancelled": "annulé",
                 "draft": "brouillon"}
SKILL_STATUSES = {"active": "reconnue", "pending": "en attente de validation", "retired": "retirée"}
VISIBILITIES = {"public": "visible de tous les porteurs de projet", "ministry": "visible de mon ministère",
                "private": "privé (je ne suis proposé·e à personne)"}
# What each level means, shown beside the 1–5 scale wherever a level is chosen.
LEVELS = {
    1: "notions",
    2: "pratique encadrée",
    3: "autonome",
    4: "confirmé·e",
    5: "expert·e, référent·e",
}
BADGES = {1: "fr-badge--error", 2: "fr-badge--warning", 3: "fr-badge--info", 4: "fr-badge--new"}
_STATE_BADGES = {"proposed": "fr-badge--info", "accepted": "fr-badge--new", "approved": "fr-badge--success",
                 "active": "fr-badge--success", "completed": "fr-badge--success", "declined": "fr-badge--warning",
                 "refused": "fr-badge--error", "withdrawn": "fr-badge--warning", "expired": "fr-badge--warning"}


def _as_date(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def date_fr(value: Any) -> str:
    """« 4 janvier 2027 »."""
    day = _as_date(value)
    return format_date(day, format="long", locale=LOCALE) if day else "—"


def datetime_fr(value: Any) -> str:
    """« 4 janvier 2027 à 14:05 » in Paris time."""
    if value is None:
        return "—"
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(str(value))
    return format_datetime(value, "d MMMM y 'à' HH:mm", tzinfo=TIMEZONE, locale=LOCALE)


def percent_fr(value: Any, digits: int = 0) -> str:
    """A share (0.6) as « 60 % » (with the narrow no-break space French typography asks for)."""
    if value is None:
        return "—"
    if not digits:
        return format_percent(float(value), locale=LOCALE)
    return format_percent(float(value), "#,##0." + "0" * digits + "\u202f%", locale=LOCALE)


def decimal_fr(value: Any, digits: int = 1) -> str:
    """« 1,5 »: a decimal comma, at most ``digits`` decimals."""
    if value is None:
        return "—"
    return format_decimal(round(float(value), digits), format="#,##0." + "#" * digits, locale=LOCALE)


def state_fr(value: Any) -> str:
    key = str(value)
    return ASSIGNMENT_STATES.get(key) or NEED_STATUSES.get(key) or SKILL_STATUSES.get(key) or key


def state_badge(value: Any) -> str:
    return _STATE_BADGES.get(str(value), "")


def priority_badge(value: Any) -> str:
    return BADGES.get(int(value), "") if value is not None else ""


def level_fr(value: Any) -> str:
    try:
        return f"{int(value)} — {LEVELS[int(value)]}"
    except (KeyError, TypeError, ValueError):
        return "—"


def install(environment: Any) -> None:
    """Register the filters and the shared labels on a Jinja environment."""
    environment.filters.update({
        "date_fr": date_fr, "datetime_fr": datetime_fr, "percent_fr": percent_fr, "decimal_fr": decimal_fr,
        "state_fr": state_fr, "state_badge": state_badge, "priority_badge": priority_badge, "level_fr": level_fr,
    })
    environment.globals.update({"LEVELS": LEVELS, "VISIBILITIES": VISIBILITIES, "SKILL_STATUSES": SKILL_STATUSES})
