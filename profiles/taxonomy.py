"""The skill taxonomy in the database: loading, curation, and free-text normalisation against it."""

from __future__ import annotations

import builtins
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from matching.normalise import Resolution, SkillNormaliser, Suggestion, strip_accents
from matching.taxonomy import Taxonomy
from matching.types import TaxonomySkill
from profiles.models import AgentSkill, Skill, SkillCreate, SkillUpdate
from profiles.taxonomy_files import load_default_taxonomy
from profiles.taxonomy_merge import Decision, merged_fields, plan_reconciliation
from talents.kernel.db import utcnow
from talents.kernel.errors import ConflictError, NotFoundError, ValidationFailedError
from talents.kernel.fields import refuse_nulls

__all__ = [
    "ImportSummary",
    "ReconcileReport",
    "SkillResolver",
    "TaxonomyService",
    "pending_skill_id",
    "to_taxonomy_skill",
]


def to_taxonomy_skill(row: Skill) -> TaxonomySkill:
    """The bridge from a row to the pure core."""
    return TaxonomySkill(
        id=row.id,
        label_fr=row.label_fr,
        label_en=row.label_en,
        aliases=tuple(row.aliases or ()),
        category=row.category,
        related=tuple(row.related or ()),
        source=row.source,
        description=row.description,
        occupations=tuple(row.occupations or ()),
    )


def pending_skill_id(text: str) -> str:
    """A stable id for a skill typed by someone that the taxonomy does not know yet."""
    slug = re.sub(r"[^a-z0-9]+", "-", strip_accents(text)).strip("-")[:180] or "skill"
    return f"pending:{slug}"


@dataclass
class ImportSummary:
    created: int = 0
    updated: int = 0
    errors: list[tuple[int, str]] | None = None


@dataclass
class ReconcileReport:
    """What an import did: skills added, updated (same id), merged into a skill in place, and left
    ambiguous (kept pending for curation, with the skills they could be)."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    merged: list[dict[str, str]] = field(default_factory=list)
    ambiguous: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": len(self.added),
            "updated": len(self.updated),
            "merged": self.merged,
            "ambiguous": self.ambiguous,
        }


class _NormaliserCache:
    """One normaliser per process, rebuilt only when the taxonomy changed (several instances safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[Any, ...] | None = None
        self._normaliser: SkillNormaliser | None = None
        self._taxonomy: Taxonomy | None = None

    def get(self, session: Session) -> tuple[Taxonomy, SkillNormaliser]:
        key = tuple(
            session.exec(select(func.count(), func.max(Skill.updated_at)).where(Skill.status == "active")).one()
        )
        with self._lock:
            if self._normaliser is None or key != self._key:
                rows = session.exec(select(Skill).where(Skill.status == "active")).all()
                self._taxonomy = Taxonomy(to_taxonomy_skill(r) for r in rows)
                self._normaliser = SkillNormaliser(self._taxonomy)
                self._key = key
            assert self._taxonomy is not None
            return self._taxonomy, self._normaliser

    def clear(self) -> None:
        with self._lock:
            self._key = self._normaliser = self._taxonomy = None


_cache = _NormaliserCache()
# Built once: every page of needs or agents asks for its skills' labels.
_LABELS_OF = sa.select(Skill.id, Skill.label_fr).where(col(Skill.id).in_(sa.bindparam("ids", expanding=True)))


class SkillResolver:
    """Resolves typed skills to taxonomy ids within one unit of work, remembering answers.

    Anything the taxonomy does not know becomes a ``pending`` skill kept for curation: never dropped.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self._loaded: tuple[Taxonomy, SkillNormaliser] | None = None
        self._memo: dict[str, Resolution] = {}
        self._known_ids: set[str] | None = None

    # Read when first resolving: a request that only shows labels does not check the taxonomy's freshness.
    @property
    def taxonomy(self) -> Taxonomy:
        if self._loaded is None:
            self._loaded = _cache.get(self.session)
        return self._loaded[0]

    @property
    def normaliser(self) -> SkillNormaliser:
        if self._loaded is None:
            self._loaded = _cache.get(self.session)
        return self._loaded[1]

    def known_ids(self) -> set[str]:
        if self._known_ids is None:
            self._known_ids = set(self.session.exec(select(Skill.id)).all())
        return self._known_ids

    def resolve(self, text: str) -> Resolution:
        key = text.strip()
        hit = self._memo.get(key)
        if hit is None:
            if key in self.taxonomy:
                skill = self.taxonomy.get(key)
                hit = Resolution(
                    text=key, skill_id=key, label=skill.label_fr, confidence=1.0, status="matched", alternatives=()
                )
            else:
                hit = self.normaliser.resolve(key)
            self._memo[key] = hit
        return hit

    def skill_id_for(self, text: str) -> tuple[str, float]:
        """The taxonomy id for ``text`` and the confidence; creates the pending skill if needed."""
        res = self.resolve(text)
        if res.skill_id is not None:
            return res.skill_id, float(res.confidence)
        pid = pending_skill_id(text)
        if pid not in self.known_ids():
            self.session.execute(
                sa.insert(Skill.__table__),  # type: ignore[attr-defined]
                [
                    {
                        "id": pid,
                        "label_fr": text.strip()[:200],
                        "label_en": "",
                        "category": "",
                        "source": None,
                        "description": "",
                        "aliases": [],
                        "related": [],
                        "occupations": [],
                        "status": "pending",
                        "created_at": utcnow(),
                        "updated_at": utcnow(),
                    }
                ],
            )
            self.known_ids().add(pid)
        return pid, float(res.confidence)

    def labels(self, skill_ids: Iterable[str]) -> dict[str, str]:
        """French labels of skills (pending ones included)."""
        ids = list(set(skill_ids))
        if not ids:
            return {}
        self.session.flush()  # skills this request created are read back (the connection does not autoflush)
        return {row[0]: row[1] for row in self.session.connection().execute(_LABELS_OF, {"ids": ids})}


class TaxonomyService:
    """Reading and curating the taxonomy (DINUM reviewers curate; everyone reads)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # ---------------------------------------------------------------- reads
    def get(self, skill_id: str) -> Skill:
        skill = self.session.get(Skill, skill_id)
        if skill is None:
            raise NotFoundError(f"skill {skill_id!r} not found", field="skill_id")
        return skill

    def list(
        self,
        *,
        q: str | None = None,
        category: str | None = None,
        status: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[Sequence[Skill], int]:
        query = select(Skill)
        if category:
            query = query.where(Skill.category == category)
        if status:
            query = query.where(Skill.status == status)
        if q:
            like = f"%{q.lower()}%"
            query = query.where(
                sa.or_(
                    func.lower(Skill.label_fr).like(like),
                    func.lower(Skill.label_en).like(like),
                    func.lower(Skill.id).like(like),
                )
            )
        total = self.session.exec(select(func.count()).select_from(query.subquery())).one()
        rows = self.session.exec(query.order_by(col(Skill.id)).offset(offset).limit(limit)).all()
        return rows, int(total)

    def suggest(self, text: str, limit: int = 10) -> builtins.list[Suggestion]:
        _, normaliser = _cache.get(self.session)
        return normaliser.suggest(text, limit=limit)

    def resolve(self, text: str) -> Resolution:
        return SkillResolver(self.session).resolve(text)

    # ---------------------------------------------------------------- writes
    def create(self, data: SkillCreate) -> Skill:
        if self.session.get(Skill, data.id) is not None:
            raise ConflictError(f"skill {data.id!r} already exists", field="id")
        self._check_related(data.related)
        skill = Skill.model_validate(data)
        self.session.add(skill)
        self.session.flush()
        return skill

    def update(self, skill_id: str, data: SkillUpdate) -> Skill:
        skill = self.get(skill_id)
        changes = data.model_dump(exclude_unset=True)
        refuse_nulls(changes, "label_fr", "label_en", "category", "description", "aliases", "related", "status")
        if "related" in changes:
            self._check_related(changes["related"])
        skill.sqlmodel_update(changes)
        skill.updated_at = utcnow()
        self.session.add(skill)
        self.session.flush()
        return skill

    def delete(self, skill_id: str) -> None:
        skill = self.get(skill_id)
        used = self.session.exec(select(func.count()).where(AgentSkill.skill_id == skill_id)).one()
        if used:
            raise ConflictError(
                f"skill {skill_id!r} is on {used} profiles: merge it into another skill instead", field="skill_id"
            )
        self.session.delete(skill)
        self.session.flush()

    def merge(self, source_id: str, target_id: str, referencing: Sequence[tuple[Any, str]] = ()) -> Skill:
        """Curation: fold a (typically pending) skill into another; profiles follow.

        ``referencing`` lists other (model, owner column) pairs holding skill ids — the app passes the
        roles' skills, which this package does not know.
        """
        source, target = self.get(source_id), self.get(target_id)
        if source.id == target.id:
            raise ValidationFailedError("a skill cannot be merged into itself", field="target_id")
        for model, owner in ((AgentSkill, "agent_id"), *referencing):
            owners_with_target = select(getattr(model, owner)).where(model.skill_id == target.id)
            # Where the owner already has the target skill, the source row is redundant.
            self.session.execute(
                sa.delete(model).where(model.skill_id == source.id, getattr(model, owner).in_(owners_with_target))
            )
            self.session.execute(sa.update(model).where(model.skill_id == source.id).values(skill_id=target.id))
        aliases = list(dict.fromkeys([*target.aliases, source.label_fr, *source.aliases]))
        target.aliases = [a for a in aliases if a and a != target.label_fr]
        target.updated_at = utcnow()
        self.session.add(target)
        self.session.delete(source)
        self.session.flush()
        return target

    def upsert_many(self, skills: Iterable[TaxonomySkill]) -> ImportSummary:
        """Load skills (default taxonomy, ESCO, project files): insert new, update known, in one pass."""
        summary = ImportSummary(errors=[])
        items = list(skills)
        existing = set(self.session.exec(select(Skill.id)).all())
        now = utcnow()
        new_rows, updates = [], []
        for s in items:
            row = {
                "id": s.id,
                "label_fr": s.label_fr[:200],
                "label_en": (s.label_en or "")[:200],
                "category": (s.category or "")[:120],
                "source": s.source,
                "description": (s.description or "")[:4000],
                "aliases": list(s.aliases),
                "related": list(s.related),
                "occupations": list(dict.fromkeys(s.occupations)),
                "status": "active",
                "updated_at": now,
            }
            if s.id in existing:
                updates.append(row)
            else:
                new_rows.append({**row, "created_at": now})
                existing.add(s.id)
        table = Skill.__table__  # type: ignore[attr-defined]
        for start in range(0, len(new_rows), 2000):
            self.session.execute(sa.insert(table), new_rows[start : start + 2000])
        if updates:
            stmt = (
                sa.update(table)
                .where(table.c.id == sa.bindparam("b_id"))
                .values({k: sa.bindparam(f"b_{k}") for k in updates[0] if k != "id"})
            )
            for start in range(0, len(updates), 2000):
                chunk = [{f"b_{k}": v for k, v in r.items()} for r in updates[start : start + 2000]]
                self.session.connection().execute(stmt, chunk)
        summary.created, summary.updated = len(new_rows), len(updates)
        self.session.flush()
        return summary

    def reconcile(
        self, skills: Iterable[TaxonomySkill], referencing: Sequence[tuple[Any, str]] = ()
    ) -> ReconcileReport:
        """Import skills over the taxonomy in place, one concept one skill (see :mod:`profiles.taxonomy_merge`).

        Merged skills lend their names (as aliases), source URI and relations to the skill in place; a
        duplicate already in place is folded into it with :meth:`merge`, so agents' skills and the
        ``referencing`` (model, owner column) pairs — the roles' skills — follow. Nothing is lost.
        """
        incoming = list({s.id: s for s in skills}.values())
        active = self.session.exec(select(Skill).where(Skill.status == "active")).all()
        decisions = plan_reconciliation([to_taxonomy_skill(r) for r in active], incoming)
        final = {d.skill.id: (d.target if d.action == "merge" and d.target else d.skill.id) for d in decisions}
        report = ReconcileReport()
        rows = {r.id: r for r in self.session.exec(select(Skill).where(col(Skill.id).in_(list(final)))).all()}
        now = utcnow()
        new_rows: list[dict[str, Any]] = []
        for d in decisions:
            s = d.skill
            related = [final.get(r, r) for r in s.related]
            if d.action == "merge":
                continue
            row = rows.get(s.id)
            status = "pending" if d.action == "ambiguous" else "active"
            if d.action == "ambiguous":
                report.ambiguous.append(
                    {"skill_id": s.id, "label": s.label_fr or s.label_en, "candidates": list(d.candidates)}
                )
            elif row is None or row.status != "active":
                report.added.append(s.id)
            else:
                report.updated.append(s.id)
            if row is None:
                new_rows.append(_skill_row(s, related, status, now))
                continue
            # the incoming file leads; what the row had besides (aliases, relations, source) is kept
            fields = merged_fields(replace(s, related=tuple(related)), to_taxonomy_skill(row), row.related or ())
            row.sqlmodel_update({**fields, "status": status, "updated_at": now})
            self.session.add(row)
        if new_rows:
            table = Skill.__table__  # type: ignore[attr-defined]
            for start in range(0, len(new_rows), 2000):
                self.session.execute(sa.insert(table), new_rows[start : start + 2000])
        self.session.flush()
        gone: dict[str, str] = {}
        for d in decisions:
            if d.action == "merge" and d.target is not None:
                self._fold_in(d, final, referencing, now)
                report.merged.append({"skill_id": d.skill.id, "into": d.target, "by": d.how})
                if d.skill.id != d.target:
                    gone[d.skill.id] = d.target
        self._repoint_related(gone)
        self.session.flush()
        return report

    def _fold_in(
        self, d: Decision, final: dict[str, str], referencing: Sequence[tuple[Any, str]], now: Any
    ) -> None:
        assert d.target is not None
        if self.session.get(Skill, d.skill.id) is not None:  # a duplicate in place, or left pending before
            self.merge(d.skill.id, d.target, referencing)
        target = self.get(d.target)
        related = [final.get(r, r) for r in d.skill.related]
        target.sqlmodel_update({**merged_fields(to_taxonomy_skill(target), d.skill, related), "updated_at": now})
        self.session.add(target)

    def _repoint_related(self, gone: dict[str, str]) -> None:
        """Relations naming a skill merged away now name the skill it went into."""
        known = set(self.session.exec(select(Skill.id)).all())
        for row in self.session.exec(select(Skill)).all():
            rel = list(dict.fromkeys(gone.get(r, r) for r in row.related or ()))
            rel = [r for r in rel if r in known and r != row.id]
            if rel != list(row.related or ()):
                row.related = rel
                self.session.add(row)

    def ensure_default(self) -> int:
        """Load the taxonomy shipped with the project when the database has none (first start)."""
        active = self.session.exec(select(func.count()).where(Skill.status == "active")).one()
        if active:
            return 0
        return self.upsert_many(load_default_taxonomy()).created

    def _check_related(self, related: Iterable[str]) -> None:
        missing = [r for r in related if self.session.get(Skill, r) is None]
        if missing:
            raise ValidationFailedError(f"related: unknown skill ids {missing}", field="related")


def _skill_row(s: TaxonomySkill, related: list[str], status: str, now: Any) -> dict[str, Any]:
    return {
        "id": s.id,
        "label_fr": (s.label_fr or s.label_en)[:200],
        "label_en": (s.label_en or "")[:200],
        "category": (s.category or "")[:120],
        "source": s.source,
        "description": (s.description or "")[:4000],
        "aliases": list(s.aliases),
        "related": [r for r in dict.fromkeys(related) if r != s.id],
        "occupations": list(dict.fromkeys(s.occupations)),
        "status": status,
        "created_at": now,
        "updated_at": now,
    }


def clear_normaliser_cache() -> None:
    _cache.clear()
