"""The skill taxonomy: a read-only container of :class:`~matching.types.TaxonomySkill`.

Relations are made symmetric on construction (if A lists B as related, B is related to A), because a
curator usually records a relation on one side only and matching must not depend on which side.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from matching.types import TaxonomySkill

__all__ = ["Taxonomy", "skill_from_record"]


def _as_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        # ESCO packs alternative labels in one field, one per line.
        return tuple(v.strip() for v in value.splitlines() if v.strip())
    return tuple(str(v).strip() for v in value if str(v).strip())


def skill_from_record(record: Mapping[str, Any]) -> TaxonomySkill:
    """Build a :class:`TaxonomySkill` from a plain mapping (e.g. one object of a JSON taxonomy file).

    Keys: ``id``, ``label_fr`` (required), ``label_en``, ``aliases``, ``category``, ``related``,
    ``source``, ``description``; missing optional keys take the dataclass defaults.
    """
    label_fr = str(record.get("label_fr") or record.get("label_en") or record["id"])
    return TaxonomySkill(
        id=str(record["id"]),
        label_fr=label_fr,
        label_en=str(record.get("label_en") or ""),
        aliases=_as_tuple(record.get("aliases")),
        category=str(record.get("category") or ""),
        related=_as_tuple(record.get("related")),
        source=record.get("source"),
        description=str(record.get("description") or ""),
    )


class Taxonomy:
    """Skills by id, with symmetric relations and categories.

    Parameters
    ----------
    skills:
        The skills; a later duplicate id replaces an earlier one. Relations pointing to unknown ids
        are ignored.
    """

    def __init__(self, skills: Iterable[TaxonomySkill]) -> None:
        self._skills: dict[str, TaxonomySkill] = {}
        for skill in skills:
            self._skills[skill.id] = skill
        related: dict[str, set[str]] = {sid: set() for sid in self._skills}
        for skill in self._skills.values():
            for other in skill.related:
                if other in self._skills and other != skill.id:
                    related[skill.id].add(other)
                    related[other].add(skill.id)
        self._related: dict[str, tuple[str, ...]] = {k: tuple(sorted(v)) for k, v in related.items()}
        self._categories: tuple[str, ...] = tuple(
            sorted({s.category for s in self._skills.values() if s.category})
        )
        occupations: dict[str, list[str]] = {}
        for skill in self._skills.values():
            for occ in dict.fromkeys(skill.occupations):
                occupations.setdefault(occ, []).append(skill.id)
        self._occupations = {k: tuple(v) for k, v in sorted(occupations.items())}

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]]) -> Taxonomy:
        """Build a taxonomy from plain mappings (see :func:`skill_from_record`)."""
        return cls(skill_from_record(r) for r in records)

    def get(self, skill_id: str) -> TaxonomySkill | None:
        """The skill with this id, or ``None``."""
        return self._skills.get(skill_id)

    def __getitem__(self, skill_id: str) -> TaxonomySkill:
        return self._skills[skill_id]

    def __contains__(self, skill_id: object) -> bool:
        return skill_id in self._skills

    def __len__(self) -> int:
        return len(self._skills)

    def __iter__(self) -> Iterator[TaxonomySkill]:
        return iter(self._skills.values())

    def ids(self) -> tuple[str, ...]:
        """All skill ids, in insertion order."""
        return tuple(self._skills)

    def related(self, skill_id: str) -> tuple[str, ...]:
        """Ids related to ``skill_id`` (symmetric, sorted); empty for an unknown id."""
        return self._related.get(skill_id, ())

    def occupations(self) -> dict[str, tuple[str, ...]]:
        """Occupation id → the ids of the skills it lists (sorted by occupation id; empty if none known)."""
        return dict(self._occupations)

    def categories(self) -> tuple[str, ...]:
        """Distinct non-empty categories, sorted."""
        return self._categories

    def label(self, skill_id: str, lang: str = "fr") -> str:
        """The label in ``lang`` ("fr" or "en"), falling back to the other language, then to the id."""
        skill = self._skills.get(skill_id)
        if skill is None:
            return skill_id
        if lang == "en":
            return skill.label_en or skill.label_fr or skill_id
        return skill.label_fr or skill.label_en or skill_id
