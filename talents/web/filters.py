"""The pages' Jinja filters: the kernel's French formatting (shared with the e-mails), plus badges and levels."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from markupsafe import Markup

from talents.kernel.french import (
    ASSIGNMENT_STATES,
    FILTERS,
    NEED_STATUSES,
    SKILL_STATUSES,
    date_fr,
    datetime_fr,
    decimal_fr,
    percent_fr,
    state_fr,
)
from talents.web.explanations import explanation_html

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

# What each visibility does (profiles.policy, the ranking): « ministère » does not narrow who sees the profile.
VISIBILITIES = {"public": "public : visible des porteurs de projet",
                "ministry": "ministère : comme « public », visible des porteurs de projet de tous les ministères",
                "private": "privé : je ne suis proposé·e à personne"}
VISIBILITY_MEANING = ("« Public » et « ministère » : les porteurs de projet de tous les ministères et la DINUM voient "
                      "votre profil, et le moteur peut vous proposer. « Privé » : seule la DINUM le voit ; personne "
                      "ne vous propose de mission.")
# What each level means, shown beside the 1–5 scale wherever a level is chosen.
LEVELS = {
    1: "notions",
    2: "pratique encadrée",
    3: "autonome",
    4: "confirmé·e",
    5: "expert·e, référent·e",
}
# How much the agent wants to use a skill, chosen beside its level.
INTERESTS = {1: "pas du tout", 2: "peu", 3: "volontiers", 4: "beaucoup", 5: "passionnément"}
BADGES = {1: "fr-badge--error", 2: "fr-badge--warning", 3: "fr-badge--info", 4: "fr-badge--new"}
_STATE_BADGES = {"proposed": "fr-badge--info", "accepted": "fr-badge--new", "approved": "fr-badge--success",
                 "active": "fr-badge--success", "completed": "fr-badge--success", "declined": "fr-badge--warning",
                 "refused": "fr-badge--error", "withdrawn": "fr-badge--warning", "expired": "fr-badge--warning"}


def state_badge(value: Any) -> str:
    return _STATE_BADGES.get(str(value), "")


def priority_badge(value: Any) -> str:
    return BADGES.get(int(value), "") if value is not None else ""


def level_fr(value: Any) -> str:
    try:
        return f"{int(value)} — {LEVELS[int(value)]}"
    except (KeyError, TypeError, ValueError):
        return "—"


@lru_cache(maxsize=64)
def _options(scale: str, selected: Any, with_none: bool) -> Markup:
    # A profile page shows two selects per skill: each list of options is made once per choice, not looped over in
    # the template for every select.
    choices = LEVELS if scale == "levels" else INTERESTS
    option = Markup('<option value="{}" {}>{} — {}</option>')
    none = Markup('<option value="" {}>Non précisé</option>').format("" if selected else "selected")
    return (none if with_none else Markup("")) + Markup("").join(
        option.format(n, "selected" if selected == n else "", n, meaning) for n, meaning in choices.items())


def level_options(selected: Any = 3, with_none: bool = False) -> Markup:
    """The ``<option>`` elements of a level's select (1–5 with their meaning), ``selected`` chosen."""
    return _options("levels", _hashable(selected), with_none)


def interest_options(selected: Any = None) -> Markup:
    """The ``<option>`` elements of an interest's select, « Non précisé » first, ``selected`` chosen."""
    return _options("interests", _hashable(selected), True)


def _hashable(value: Any) -> Any:
    # what a select compares with its choices (an int, or the text a form sent back): anything else chooses none
    return value if isinstance(value, (int, str, type(None))) else str(value)


def install(environment: Any) -> None:
    """Register the filters and the shared labels on a Jinja environment."""
    environment.filters.update(FILTERS)
    environment.filters.update({"state_badge": state_badge, "priority_badge": priority_badge, "level_fr": level_fr,
                                "explanation_html": explanation_html})
    environment.globals.update({"LEVELS": LEVELS, "VISIBILITIES": VISIBILITIES, "level_options": level_options,
                                "interest_options": interest_options,
                                "VISIBILITY_MEANING": VISIBILITY_MEANING, "SKILL_STATUSES": SKILL_STATUSES})
