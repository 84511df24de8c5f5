"""French formatting of what a person reads, on pages and in e-mails: dates, percentages, decimals, statuses.

Babel does the formatting (CLDR data for ``fr_FR``): « 4 janvier 2027 », « 60 % », « 1,5 ».
"""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from typing import Any

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal, format_percent

__all__ = [
    "ASSIGNMENT_STATES",
    "FILTERS",
    "LOCALE",
    "NEED_STATUSES",
    "SKILL_STATUSES",
    "TIMEZONE",
    "date_fr",
    "datetime_fr",
    "decimal_fr",
    "percent_fr",
    "state_fr",
]

LOCALE = "fr_FR"
TIMEZONE = "Europe/Paris"
# Parsed once: Babel parses a locale given by name on every call, which costs more than the formatting.
_FR = Locale.parse(LOCALE)

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


def _as_date(value: Any) -> date | None:
    if value is None or str(value) == "":  # also an undefined template value
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def date_fr(value: Any) -> str:
    """« 4 janvier 2027 », « 1er mai 2026 » (French writes the first of the month as an ordinal)."""
    day = _as_date(value)
    if day is None:
        return "—"
    return _date_long(day)


# Pages show the same few dates, shares and scores again and again (a need's page: every candidate's explanation),
# and Babel's formatting costs tens of µs a call: each distinct value is formatted once.
@lru_cache(maxsize=4096)
def _date_long(day: date) -> str:
    text = format_date(day, format="long", locale=_FR)
    return "1er" + text[1:] if day.day == 1 else text


def datetime_fr(value: Any) -> str:
    """« 4 janvier 2027 à 14:05 » in Paris time."""
    if value is None:
        return "—"
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(str(value))
    return format_datetime(value, "d MMMM y 'à' HH:mm", tzinfo=TIMEZONE, locale=_FR)


def percent_fr(value: Any, digits: int = 0) -> str:
    """A share (0.6) as « 60 % » (with the narrow no-break space French typography asks for)."""
    if value is None:
        return "—"
    return _percent(float(value), digits)


@lru_cache(maxsize=4096)
def _percent(value: float, digits: int) -> str:
    if not digits:
        return format_percent(value, locale=_FR)
    return format_percent(value, "#,##0." + "0" * digits + "\u202f%", locale=_FR)


def decimal_fr(value: Any, digits: int = 1) -> str:
    """« 1,5 »: a decimal comma, at most ``digits`` decimals."""
    if value is None:
        return "—"
    return _decimal(round(float(value), digits), digits)


@lru_cache(maxsize=4096)
def _decimal(value: float, digits: int) -> str:
    return format_decimal(value, format="#,##0." + "#" * digits, locale=_FR)


def state_fr(value: Any) -> str:
    """The French label of an assignment state, a need status or a skill status (the value itself if unknown)."""
    key = str(value)
    return ASSIGNMENT_STATES.get(key) or NEED_STATUSES.get(key) or SKILL_STATUSES.get(key) or key


# The Jinja filters both the pages and the e-mails register.
FILTERS = {"date_fr": date_fr, "datetime_fr": datetime_fr, "percent_fr": percent_fr, "decimal_fr": decimal_fr,
           "state_fr": state_fr}
