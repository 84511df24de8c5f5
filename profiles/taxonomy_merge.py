"""Reconciling an imported taxonomy with the one in place: one concept, one skill.

:func:`plan_reconciliation` decides, for each incoming skill, without touching the database:

1. **same source URI** as a skill in place (an ESCO concept already merged once) → *merge* into it;
2. **same id** as a skill in place → *update* it — unless it is the same concept as another skill in
   place (same preferred label; or, for a skill with a source URI, a name crossing that skill's label),
   then that duplicate is *merged* into the other;
3. **same name**, compared folded (case, accents, punctuation) across French and English: a preferred
   label equal to a preferred label, then a preferred label equal to an alias or an alias equal to a
   preferred label → *merge* when exactly one skill in place answers, *ambiguous* when several do;
   only aliases in common → *ambiguous* (aliases are too loose to merge on: "SVN", "SEQUEL");
4. otherwise → *add*.

A skill in place answers for one incoming skill only: a second incoming skill matching the same one is
*ambiguous*. Ambiguous skills are kept, as pending skills, for curation. Deciding is deterministic, so
a second import of the same file finds the same answers: re-importing is idempotent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from matching.normalise import fold
from matching.types import TaxonomySkill

__all__ = ["Decision", "merged_fields", "plan_reconciliation", "terms"]

Action = Literal["add", "update", "merge", "ambiguous"]


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with one incoming skill. ``target``: the skill in place it merges into;
    ``replaces``: a skill in place under the incoming id that is merged into ``target`` too."""

    skill: TaxonomySkill
    action: Action
    target: str | None = None
    how: str = ""  # "uri", "label", "alias"
    candidates: tuple[str, ...] = ()
    replaces: str | None = None


def _labels(s: TaxonomySkill) -> set[str]:
    return {f for f in (fold(s.label_fr), fold(s.label_en)) if f}


def _aliases(s: TaxonomySkill) -> set[str]:
    return {f for f in (fold(a) for a in s.aliases) if f} - _labels(s)


def terms(s: TaxonomySkill) -> set[str]:
    """Every folded name of a skill: labels and aliases."""
    return _labels(s) | _aliases(s)


@dataclass(slots=True)
class _Index:
    by_label: dict[str, set[str]] = field(default_factory=dict)
    by_alias: dict[str, set[str]] = field(default_factory=dict)

    def add(self, s: TaxonomySkill) -> None:
        for t in _labels(s):
            self.by_label.setdefault(t, set()).add(s.id)
        for t in _aliases(s):
            self.by_alias.setdefault(t, set()).add(s.id)

    def find(self, names: Iterable[str], table: dict[str, set[str]]) -> set[str]:
        out: set[str] = set()
        for t in names:
            out |= table.get(t, set())
        return out


def plan_reconciliation(existing: Sequence[TaxonomySkill], incoming: Sequence[TaxonomySkill]) -> list[Decision]:
    """One :class:`Decision` per incoming skill, in order (see the module docstring)."""
    in_place = {s.id: s for s in existing}
    by_source = {s.source: s.id for s in existing if s.source}
    index = _Index()
    for s in existing:
        index.add(s)
    claimed: dict[str, str] = {}  # skill in place → incoming id that merged into it
    out: list[Decision] = []
    for s in incoming:
        decision = _decide(s, in_place, by_source, index)
        if decision.action == "merge" and decision.target is not None:
            first = claimed.setdefault(decision.target, s.id)
            if first != s.id:
                decision = Decision(s, "ambiguous", candidates=(decision.target,), how=decision.how)
        out.append(decision)
    return out


def _decide(
    s: TaxonomySkill, in_place: dict[str, TaxonomySkill], by_source: dict[str, str], index: _Index
) -> Decision:
    via_uri = by_source.get(s.source) if s.source else None
    if via_uri is not None and via_uri != s.id:
        return Decision(s, "merge", via_uri, "uri", replaces=s.id if s.id in in_place else None)
    labels, aliases = _labels(s), _aliases(s)
    same_label = index.find(labels, index.by_label) - {s.id}
    crossed = (index.find(aliases, index.by_label) | index.find(labels, index.by_alias)) - {s.id}
    if s.id in in_place:
        if len(same_label) == 1:
            return Decision(s, "merge", next(iter(same_label)), "label", replaces=s.id)
        # an imported concept already in place twice (its alias is another skill's label): fold it in
        other = next(iter(crossed)) if len(crossed) == 1 and not same_label else None
        if s.source and other is not None and in_place[other].source != s.source:
            return Decision(s, "merge", other, "alias", replaces=s.id)
        return Decision(s, "update")
    if same_label:
        if len(same_label) == 1:
            return Decision(s, "merge", next(iter(same_label)), "label")
        return Decision(s, "ambiguous", candidates=tuple(sorted(same_label)), how="label")
    if len(crossed) == 1:
        return Decision(s, "merge", next(iter(crossed)), "alias")
    if crossed:
        return Decision(s, "ambiguous", candidates=tuple(sorted(crossed)), how="alias")
    shared = index.find(aliases, index.by_alias) - {s.id}
    if shared:
        return Decision(s, "ambiguous", candidates=tuple(sorted(shared)), how="alias")
    return Decision(s, "add")


def merged_fields(target: TaxonomySkill, incoming: TaxonomySkill, related: Iterable[str]) -> dict[str, object]:
    """The target's fields once ``incoming`` is folded into it: its names become aliases, empty fields
    are filled, relations are added; nothing of the target is lost."""
    label_fr = target.label_fr or incoming.label_fr
    label_en = target.label_en or incoming.label_en
    own = {fold(label_fr), fold(label_en)}
    aliases: list[str] = []
    seen = set(own)
    for a in (*target.aliases, incoming.label_fr, incoming.label_en, *incoming.aliases):
        f = fold(a) if a else ""
        if f and f not in seen:
            seen.add(f)
            aliases.append(a)
    rel = [r for r in dict.fromkeys((*target.related, *related)) if r != target.id]
    return {
        "label_fr": label_fr,
        "label_en": label_en,
        "aliases": aliases,
        "related": rel,
        "occupations": list(dict.fromkeys((*target.occupations, *incoming.occupations))),
        "source": target.source or incoming.source,
        "description": target.description or incoming.description,
        "category": target.category or incoming.category,
    }
