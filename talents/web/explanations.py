"""An explanation of a score as the pages show it: the engine's reasons in three groups — held at the level asked,
held below it, missing — and the availability.

Written in Python rather than as a Jinja macro: a need's page shows up to sixty of them, and the macro took half
of the page's rendering. The same explanation is shown again and again while its ranking is kept (a ranking's
explanations are the same dicts from one request to the next), so each one is laid out once: kept by identity
with the dict itself (so that its id is never another's), the least recently shown dropped first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from markupsafe import Markup, escape

from talents.kernel.french import percent_fr

__all__ = ["explanation_html"]

_KEPT = 2048
_kept: OrderedDict[int, tuple[dict[str, Any], Markup]] = OrderedDict()
_lock = threading.Lock()


def explanation_html(exp: dict[str, Any]) -> Markup:
    """The ``<ul>`` of an explanation (a dict as :mod:`matching.explain` lays it out)."""
    with _lock:
        found = _kept.get(id(exp))
        if found is not None and found[0] is exp:
            _kept.move_to_end(id(exp))
            return found[1]
    html = _laid_out(exp)
    with _lock:
        _kept[id(exp)] = (exp, html)
        while len(_kept) > _KEPT:
            _kept.popitem(last=False)
    return html


def _skill(m: dict[str, Any], asked: str) -> str:
    return f"{escape(m.get('label', ''))} (niveau {escape(m.get('agent_level', ''))} pour " \
           f"{escape(m.get('required_level', ''))}{asked})"


def _laid_out(exp: dict[str, Any]) -> Markup:
    ok: list[dict[str, Any]] = []
    low: list[dict[str, Any]] = list(exp.get("below_level") or [])
    for m in exp.get("matched") or []:
        if "agent_level" in m and "required_level" in m and m["agent_level"] < m["required_level"]:
            low.append(m)
        else:
            ok.append(m)
    related = exp.get("related") or []
    items: list[str] = []
    if ok or related:
        found = [_skill(m, " demandé") for m in ok]
        found += [f"{escape(r.get('label', ''))} par « {escape(r.get('via_label', ''))} »" for r in related]
        items.append(f"<li><strong>Compétences trouvées :</strong> {', '.join(found)}</li>")
    if low:
        items.append(f"<li><strong>Sous le niveau demandé :</strong> {', '.join(_skill(m, '') for m in low)}</li>")
    missing = exp.get("missing")
    if missing:
        names = [f"{escape(m.get('label', ''))}{' (requise)' if m.get('required') else ''}" for m in missing]
        items.append(f"<li><strong>Manquantes :</strong> {', '.join(names)}</li>")
    av = exp.get("availability")
    if av:
        text = (f"disponible à {escape(percent_fr(av.get('share')))} ou plus sur toute la période" if av.get("eligible")
                else "pas assez de temps libre sur toute la période")
        if "min_free" in av:
            text += f" (au plus juste : {escape(percent_fr(av['min_free']))} libre)"
        items.append(f"<li><strong>Disponibilité :</strong> {text}</li>")
    body = "\n".join(items)
    return Markup(f'<ul class="fr-text--sm fr-mb-0 explication">\n{body}\n</ul>')  # noqa: S704  # nosec B704 - every value escaped above
