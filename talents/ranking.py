"""Ranking service: database rows → :mod:`matching` types, and a process-wide cached :class:`CandidateIndex`.

Two indexes are kept side by side, fitted once and refreshed incrementally:

* ``interactive``: commitments are every assignment in :data:`COMMITTED_STATES` (open proposals hold the
  agent's time) — what a project lead sees, ``talents match``, the team proposal;
* ``allocation``: commitments are the *fixed* ones only (accepted, approved, active, DINUM-forced) — what
  the allocation solver ranks from, since a run may withdraw an open proposal for a higher priority.

Refresh (every call, cheap): agents whose ``updated_at`` is past the latest one indexed are re-read and
upserted (an index range, empty most of the time), erased or hidden agents are removed, and a taxonomy
change rebuilds everything. At most every :data:`SWEEP_S` seconds a sweep also looks
``ranking_refresh_overlap_s`` back, so that a transaction committed late is not missed (an agent is
re-encoded only when its ``updated_at`` differs from the indexed one), and counts the agents, so that a
deleted one leaves the index; in between, a deleted agent is never shown: the agents a ranking returns are
checked against the database, and the ranking done again without those that are gone. Every change to an assignment
bumps its agent's ``updated_at`` in the same transaction (:mod:`talents.workflow.service`), so
commitments and open-proposal counts follow the same path. Several instances each keep their own cache;
the database is the only shared state.

Kept between processes: the cache is written to disk (:class:`IndexStore`: beside a SQLite database file,
else the user's cache directory; signed with the app's secret key) after a build and, in a long-lived
process, at most every ``ranking_index_save_s`` seconds when it changed. A new process — a second
``talents match``, another worker — loads it and refreshes it incrementally from the database's change
stamps (taxonomy count and last change, agents' ``updated_at``) instead of rebuilding it.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from matching.availability import eligibility
from matching.ranking import CandidateIndex
from matching.taxonomy import Taxonomy
from matching.types import (
    AgentSkill as CoreSkill,
)
from matching.types import (
    AvailabilityWindow,
    CandidateProfile,
    Commitment,
    RoleRequirement,
    SkillRequirement,
)
from needs.models import Need, Role, RoleSkill
from profiles.models import Agent, AgentSkill, Availability, Skill
from profiles.taxonomy import to_taxonomy_skill
from talents.assignments.exclusions import excluded_agents
from talents.assignments.models import COMMITTED_STATES, FIXED_STATES, Assignment
from talents.kernel.db import UTCDateTime
from talents.kernel.errors import NotFoundError
from talents.kernel.settings import get_settings
from talents.ranking_store import IndexStore

__all__ = [
    "RankingCache",
    "RankingService",
    "agent_label",
    "get_ranking_cache",
    "resolve_need",
    "to_candidate",
    "to_requirement",
]

_CHUNK = 500
SWEEP_S = 1.0
"""How often a refresh looks back for late commits and deleted agents (well within the 2 s in which a
change reaches every worker's rankings)."""


# --------------------------------------------------------------------------- the bridge
def to_candidate(
    agent: Agent,
    skills: Iterable[AgentSkill],
    windows: Iterable[Availability],
    commitments: Iterable[Commitment] = (),
    open_proposals: int = 0,
) -> CandidateProfile:
    """An agent row and its skills and windows as the engine sees them (id: the database id as text)."""
    return CandidateProfile(
        agent_id=str(agent.id),
        skills=tuple(CoreSkill(s.skill_id, int(s.level), s.years, s.last_used, s.interest) for s in skills),
        availability=tuple(AvailabilityWindow(w.start, w.end, float(w.share)) for w in windows),
        commitments=tuple(commitments),
        text=" ".join(x for x in (agent.bio, agent.service, agent.grade) if x),
        ministry=agent.ministry,
        location=agent.location,
        remote=agent.remote,
        open_proposals=open_proposals,
    )


def to_requirement(need: Need, role: Role, skills: Iterable[Any]) -> RoleRequirement:
    """A role of a need as the engine sees it (ids: database ids as text; the need's period). ``skills``:
    :class:`RoleSkill` rows, or any rows with their ``skill_id``, ``level``, ``weight`` and ``required``."""
    return RoleRequirement(
        role_id=str(role.id),
        title=role.title,
        share=float(role.share),
        start=need.start,
        end=need.end,
        skills=tuple(SkillRequirement(s.skill_id, int(s.level), float(s.weight), bool(s.required)) for s in skills),
        count=int(role.count),
        description=role.description,
        priority=int(need.priority),
        need_id=str(need.id),
        location=role.location,
        remote=role.remote,
        extra={"position": role.position, "strict": role.strict},
    )


def agent_label(external_id: str | None, agent_id: int) -> str:
    """How the bulk contract names an agent: its external id, else its database id as text."""
    return external_id if external_id else str(agent_id)


def resolve_need(session: Session, ref: str | int) -> Need:
    """A need by numeric database id first, then by external id."""
    text = str(ref).strip()
    if text.isdigit():
        need = session.get(Need, int(text))
        if need is not None:
            return need
    need = session.exec(select(Need).where(Need.external_id == text)).first()
    if need is None:
        raise NotFoundError(f"need {text!r} not found (by id or external id)", field="need_id")
    return need


def _naive(dt: datetime | None) -> datetime | None:
    """UTC without tzinfo: SQLite gives naive datetimes back, PostgreSQL aware ones."""
    if dt is None:
        return None
    return dt.astimezone(UTC).replace(tzinfo=None) if dt.tzinfo else dt


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i : i + _CHUNK]


# --------------------------------------------------------------------------- loading
@dataclass(slots=True)
class _Loaded:
    """One agent's engine profiles: with fixed commitments only, and with every live commitment."""

    fixed: CandidateProfile
    full: CandidateProfile
    updated_at: datetime | None
    external_id: str | None
    name: str


def _matchable() -> Any:
    """Agents the engine may rank: not erased, and not hidden by their owner (visibility ``private``)."""
    return sa.and_(col(Agent.erased_at).is_(None), col(Agent.visibility) != "private")


def _load(session: Session, ids: Sequence[int] | None) -> dict[int, _Loaded]:
    """Profiles of the given agents (``None``: every agent that can be matched)."""
    batches: Iterable[Sequence[int] | None] = [None] if ids is None else list(_chunks(list(ids)))
    out: dict[int, _Loaded] = {}
    for batch in batches:
        q = select(Agent).where(_matchable())
        if batch is not None:
            q = q.where(col(Agent.id).in_(batch))
        agents = {a.id: a for a in session.exec(q).all()}
        if not agents:
            continue
        keys: list[int] | None = [int(k) for k in agents if k is not None] if batch is not None else None

        def rows(model: Any, keys: list[int] | None = keys) -> list[Any]:
            q = select(model)
            if keys is not None:
                q = q.where(col(model.agent_id).in_(keys))
            return list(session.exec(q).all())

        skills: dict[int, list[AgentSkill]] = {}
        for s in rows(AgentSkill):
            skills.setdefault(s.agent_id, []).append(s)
        windows: dict[int, list[Availability]] = {}
        for w in rows(Availability):
            windows.setdefault(w.agent_id, []).append(w)
        aq = select(Assignment).where(col(Assignment.state).in_(COMMITTED_STATES))
        if keys is not None:
            aq = aq.where(col(Assignment.agent_id).in_(keys))
        fixed: dict[int, list[Commitment]] = {}
        full: dict[int, list[Commitment]] = {}
        proposals: dict[int, int] = {}
        for a in session.exec(aq).all():
            c = Commitment(a.start, a.end, float(a.share))
            full.setdefault(a.agent_id, []).append(c)
            if a.state in FIXED_STATES or a.forced:
                fixed.setdefault(a.agent_id, []).append(c)
            if a.state == "proposed":
                proposals[a.agent_id] = proposals.get(a.agent_id, 0) + 1
        for aid, agent in agents.items():
            assert aid is not None
            base = to_candidate(
                agent, skills.get(aid, ()), windows.get(aid, ()), fixed.get(aid, ()), proposals.get(aid, 0)
            )
            out[aid] = _Loaded(
                fixed=base,
                full=replace(base, commitments=tuple(full.get(aid, ()))),
                updated_at=_naive(agent.updated_at),
                external_id=agent.external_id,
                name=agent.name,
            )
    return out


# Built once: every ranking runs them.
_TAXONOMY_KEY = select(func.count(), func.max(Skill.updated_at))
_CHANGED_SINCE = select(Agent.id, Agent.updated_at, Agent.erased_at, Agent.visibility).where(
    col(Agent.updated_at) > sa.bindparam("watermark", type_=UTCDateTime()))
_MATCHABLE_AMONG = select(Agent.id).where(col(Agent.id).in_(sa.bindparam("ids", expanding=True)), _matchable())
_ROLE_SKILLS = (select(RoleSkill.skill_id, RoleSkill.level, RoleSkill.weight, RoleSkill.required)
                .where(RoleSkill.role_id == sa.bindparam("role_id")).order_by(col(RoleSkill.id)))
_MEMBERS = select(Assignment.agent_id).where(Assignment.need_id == sa.bindparam("need_id"),
                                             col(Assignment.state).in_(COMMITTED_STATES))


# --------------------------------------------------------------------------- the cache
@dataclass
class RankingCache:
    """The indexes of one database, refreshed incrementally; every method holds the lock."""

    lock: threading.RLock = field(default_factory=threading.RLock)
    interactive: CandidateIndex | None = None
    allocation: CandidateIndex | None = None
    taxonomy_key: tuple[Any, ...] | None = None
    watermark: datetime | None = None
    versions: dict[int, datetime | None] = field(default_factory=dict)
    external_ids: dict[int, str | None] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)
    builds: int = 0
    upserts: int = 0
    store: IndexStore | None = None
    saved_at: float = 0.0
    unsaved: int = 0
    swept_at: float = float("-inf")
    swept_from: datetime | None = None  # when the last sweep began (naive UTC, the stamps' clock)

    _KEPT = ("interactive", "allocation", "taxonomy_key", "watermark", "versions", "external_ids", "names")

    def refresh(self, session: Session) -> RankingCache:
        """Bring both indexes up to date with the database (cheap when nothing changed)."""
        with self.lock:
            key = tuple(session.execute(_TAXONOMY_KEY).one())
            if self.interactive is None or key != self.taxonomy_key:
                self._build(session, key)
                self.save()
                return self
            before = self.upserts
            self._incremental(session)
            self.unsaved += self.upserts - before
            if self.unsaved and time.monotonic() - self.saved_at >= get_settings().matching.ranking_index_save_s:
                self.save()
            return self

    def save(self) -> None:
        """Write the indexes to the store (nothing without a store or an index)."""
        with self.lock:
            if self.store is None or self.interactive is None:
                return
            self.store.save({k: getattr(self, k) for k in self._KEPT})
            self.saved_at = time.monotonic()
            self.unsaved = 0

    def save_if_changed(self) -> None:
        """What a short-lived process (the CLI) calls before it exits."""
        if self.unsaved:
            self.save()

    def load(self) -> bool:
        """Take the indexes from the store when it holds a valid copy; ``True`` when it did."""
        with self.lock:
            state = self.store.load() if self.store is not None else None
            if state is None or set(state) != set(self._KEPT):
                return False
            for k in self._KEPT:
                setattr(self, k, state[k])
            self.saved_at = time.monotonic()
            return True

    def _build(self, session: Session, key: tuple[Any, ...]) -> None:
        now = _naive(session.exec(select(func.max(Agent.updated_at))).one())
        skills = session.exec(select(Skill).where(col(Skill.status) != "retired")).all()
        taxonomy = Taxonomy(to_taxonomy_skill(r) for r in skills)
        loaded = _load(session, None)
        profiles = [loaded[k].fixed for k in sorted(loaded)]
        self.allocation = CandidateIndex().fit(taxonomy, profiles)
        # Same fitted state (vocabulary, rarity, related skills), then the agents whose live
        # commitments differ from their fixed ones are re-encoded.
        # The profiles and the taxonomy are never changed in place: both indexes share them (half the
        # memory, and half the kept file to read back).
        shared: dict[int, Any] = {id(p): p for p in profiles}
        shared[id(taxonomy)] = taxonomy
        self.interactive = copy.deepcopy(self.allocation, shared)
        for k in sorted(loaded):
            if loaded[k].full.commitments != loaded[k].fixed.commitments:
                self.interactive.upsert(loaded[k].full)
        self.versions = {k: v.updated_at for k, v in loaded.items()}
        self.external_ids = {k: v.external_id for k, v in loaded.items()}
        self.names = {k: v.name for k, v in loaded.items()}
        self.watermark = now
        self.taxonomy_key = key
        self.builds += 1

    def _incremental(self, session: Session) -> None:
        assert self.interactive is not None and self.allocation is not None
        sweep = time.monotonic() - self.swept_at >= SWEEP_S
        started = _naive(datetime.now(UTC))
        q = select(Agent.id, Agent.updated_at, Agent.erased_at, Agent.visibility)
        if self.watermark is not None and sweep:
            # A change committed since the last sweep was stamped at most the overlap before it: rows stamped
            # earlier were read then. (The first sweep of a loaded index looks back from its watermark.)
            overlap = timedelta(seconds=get_settings().matching.ranking_refresh_overlap_s)
            since = self.swept_from or self.watermark
            q = q.where(col(Agent.updated_at) >= since - overlap)
        elif self.watermark is not None:
            q = _CHANGED_SINCE.params(watermark=self.watermark)
        changed: list[int] = []
        gone: list[int] = []
        top = self.watermark
        for aid, updated_at, erased_at, visibility in session.execute(q).all():
            ts = _naive(updated_at)
            if top is None or (ts is not None and ts > top):
                top = ts
            if erased_at is not None or visibility == "private":
                if aid in self.versions:
                    gone.append(aid)
            elif aid not in self.versions or self.versions[aid] != ts:
                changed.append(aid)
        # Deleted rows leave no trace in updated_at: a count tells, then the id lists.
        if sweep:
            self.swept_at = time.monotonic()
            self.swept_from = started
            live = session.exec(select(func.count()).select_from(Agent).where(_matchable())).one()
            if int(live) != len(self.versions) - len(gone) + sum(1 for a in changed if a not in self.versions):
                ids = set(session.exec(select(Agent.id).where(_matchable())).all())
                gone += [a for a in self.versions if a not in ids and a not in gone]
        self._drop(gone)
        if changed:
            self.reload(session, changed)
        self.watermark = top

    def _drop(self, agent_ids: Iterable[int]) -> None:
        assert self.interactive is not None and self.allocation is not None
        for aid in agent_ids:
            self.interactive.remove(str(aid))
            self.allocation.remove(str(aid))
            self.versions.pop(aid, None)
            self.external_ids.pop(aid, None)
            self.names.pop(aid, None)

    def drop_gone(self, session: Session, agent_ids: Iterable[int]) -> bool:
        """Remove those of ``agent_ids`` that are no longer matchable (deleted since the last sweep);
        ``True`` when some were."""
        ids = sorted(set(agent_ids))
        if not ids:
            return False
        live = set(session.execute(_MATCHABLE_AMONG, {"ids": ids}).scalars())
        gone = [a for a in ids if a not in live]
        with self.lock:
            self._drop(gone)
        return bool(gone)

    def reload(self, session: Session, agent_ids: Iterable[int]) -> None:
        """Re-read and upsert these agents now (the workflow calls it after its own changes)."""
        assert self.interactive is not None and self.allocation is not None
        ids = sorted(set(agent_ids))
        with self.lock:
            loaded = _load(session, ids)
            for aid in ids:
                item = loaded.get(aid)
                if item is None:  # erased or deleted meanwhile
                    self.interactive.remove(str(aid))
                    self.allocation.remove(str(aid))
                    self.versions.pop(aid, None)
                    continue
                self.allocation.upsert(item.fixed)
                self.interactive.upsert(item.full)
                self.versions[aid] = item.updated_at
                self.external_ids[aid] = item.external_id
                self.names[aid] = item.name
                self.upserts += 1


_caches: dict[str, RankingCache] = {}
_caches_lock = threading.Lock()


def get_ranking_cache(engine: Engine) -> RankingCache:
    """The process-wide cache of one database, taken from its store when one was kept."""
    key = engine.url.render_as_string(hide_password=True)
    with _caches_lock:
        cache = _caches.get(key)
        if cache is None:
            cache = _caches[key] = RankingCache(store=IndexStore.for_engine(engine))
            cache.load()
        return cache


# --------------------------------------------------------------------------- the service
class RankingService:
    """Ranked candidates of a role, and team proposals, from the database."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.cache = get_ranking_cache(session.get_bind())  # type: ignore[arg-type]
        self.floor = get_settings().matching.floor

    # ------------------------------------------------------------------ rows
    def role_requirement(self, need: Need, role: Role) -> RoleRequirement:
        skills = self.session.execute(_ROLE_SKILLS, {"role_id": role.id}).all()
        return to_requirement(need, role, skills)

    def roles(self, need: Need) -> list[Role]:
        return list(self.session.exec(select(Role).where(Role.need_id == need.id).order_by(col(Role.position))).all())

    def role_at(self, need: Need, position: int) -> Role:
        role = self.session.exec(select(Role).where(Role.need_id == need.id, Role.position == position)).first()
        if role is None:
            raise NotFoundError(f"need {need.id} has no role at position {position}", field="role")
        return role

    def members_of_need(self, need_id: int) -> set[int]:
        """Agents holding a live assignment on the need (they are members, not candidates)."""
        return set(self.session.execute(_MEMBERS, {"need_id": need_id}).scalars())

    def not_candidates(self, need_id: int) -> list[str]:
        """Agent ids the engine leaves out for the need: its members, and those who declined, were refused
        or were removed from it (:mod:`talents.assignments.exclusions`)."""
        left_out = self.members_of_need(need_id) | excluded_agents(self.session, [need_id])[need_id]
        return [str(a) for a in sorted(left_out)]

    # ------------------------------------------------------------------ ranking
    def rank(
        self, need: Need, role: Role, top: int = 20, near_misses: int = 10, allocation: bool = False
    ) -> dict[str, Any]:
        """Eligible candidates best first, with explanations and near misses.

        ``allocation=True`` ranks against fixed commitments only (what the solver sees).
        """
        req = self.role_requirement(need, role)
        exclude = self.not_candidates(need.id)  # type: ignore[arg-type]
        with self.cache.lock:
            self.cache.refresh(self.session)
            while True:
                index = self.cache.allocation if allocation else self.cache.interactive
                assert index is not None
                ranking = index.rank(req, top=top, near_misses=near_misses, exclude=exclude, floor=self.floor)
                shown = [int(c.agent_id) for c in ranking.candidates] + [int(m.agent_id) for m in ranking.near_misses]
                if not self.cache.drop_gone(self.session, shown):
                    break
            names = {a: self.cache.names.get(a, "") for a in shown}
            ext = {a: self.cache.external_ids.get(a) for a in shown}
        return {
            "need_id": need.id,
            "need": need.external_id or str(need.id),
            "role": role.position,
            "role_id": role.id,
            "role_title": role.title,
            "share": role.share,
            "start": need.start.isoformat(),
            "end": need.end.isoformat(),
            "examined": ranking.examined,
            "candidates": [
                {
                    "agent": agent_label(ext.get(int(c.agent_id)), int(c.agent_id)),
                    "agent_id": int(c.agent_id),
                    "name": names.get(int(c.agent_id), ""),
                    "score": round(float(c.score), 6),
                    "explanation": c.explanation,
                }
                for c in ranking.candidates
            ],
            "near_misses": [
                {
                    "agent": agent_label(ext.get(int(m.agent_id)), int(m.agent_id)),
                    "agent_id": int(m.agent_id),
                    "name": names.get(int(m.agent_id), ""),
                    "score": round(float(m.score), 6),
                    "reasons": m.reasons,
                    "explanation": m.explanation,
                }
                for m in ranking.near_misses
            ],
        }

    def scores_for(
        self,
        need: Need,
        role: Role,
        top: int,
        include: Iterable[int] = (),
        refresh: bool = True,
        exclude: Iterable[int] = (),
    ) -> dict[int, float]:
        """The solver's view of a role: top-``top`` eligible agents against fixed commitments, but those of
        ``exclude`` (who declined, were refused or removed), plus the exact scores of ``include`` (agents
        holding an open proposal on it) when they are still eligible."""
        req = self.role_requirement(need, role)
        with self.cache.lock:
            if refresh:
                self.cache.refresh(self.session)
            index = self.cache.allocation
            assert index is not None
            out: dict[int, float] = {}
            if top > 0:
                left_out = [str(a) for a in exclude]
                ranking = index.rank(req, top=top, near_misses=0, floor=self.floor, exclude=left_out)
                out = {int(c.agent_id): float(c.score) for c in ranking.candidates}
            for aid in include:
                if aid in out:
                    continue
                profile = index.profile(str(aid))
                if profile is None:
                    continue
                el = eligibility(profile.availability, profile.commitments, req.start, req.end, req.share, self.floor)
                missing_required = any(
                    r.required and not any(s.skill_id == r.skill_id and s.level >= r.level for s in profile.skills)
                    for r in req.skills
                )
                if el.eligible and not missing_required:
                    out[aid] = float(index.explain(profile, req, eligibility_=el, floor=self.floor)["score"])
        return out

    def team(self, need: Need) -> dict[str, Any]:
        """A team proposal for every open seat of the need (members already on it are kept apart)."""
        roles = self.roles(need)
        live = self.session.exec(
            select(Assignment.role_id, func.count())
            .where(Assignment.need_id == need.id, col(Assignment.state).in_(COMMITTED_STATES))
            .group_by(col(Assignment.role_id))
        ).all()
        taken = {rid: int(n) for rid, n in live}
        reqs = []
        for r in roles:
            req = self.role_requirement(need, r)
            req.count = max(int(r.count) - taken.get(r.id, 0), 0)  # type: ignore[arg-type]
            reqs.append(req)
        exclude = self.not_candidates(need.id)  # type: ignore[arg-type]
        with self.cache.lock:
            self.cache.refresh(self.session)
            assert self.cache.interactive is not None
            proposal = self.cache.interactive.propose_team(reqs, exclude=exclude, floor=self.floor)
            shown = [int(s.agent_id) for s in proposal.seats]
            names = {a: self.cache.names.get(a, "") for a in shown}
            ext = {a: self.cache.external_ids.get(a) for a in shown}
        pos = {str(r.id): r.position for r in roles}
        return {
            "need_id": need.id,
            "need": need.external_id or str(need.id),
            "seats": [
                {
                    "role": pos[s.role_id],
                    "role_id": int(s.role_id),
                    "seat": s.seat,
                    "agent": agent_label(ext.get(int(s.agent_id)), int(s.agent_id)),
                    "agent_id": int(s.agent_id),
                    "name": names.get(int(s.agent_id), ""),
                    "score": round(float(s.score), 6),
                    "explanation": s.explanation,
                }
                for s in proposal.seats
            ],
            "unfilled": [
                {"role": pos[u.role_id], "role_id": int(u.role_id), "seat": u.seat, "reason": u.reason}
                for u in proposal.unfilled
            ],
            "coverage": proposal.coverage,
            "already_staffed": {pos[str(k)]: v for k, v in taken.items() if str(k) in pos},
        }


def today() -> date:
    """The service's calendar day (UTC)."""
    return datetime.now(UTC).date()
