"""The kept ranking indexes of a database and how they follow it, read with SQLAlchemy Core only.

Two indexes are kept side by side, fitted once and refreshed incrementally:

* ``interactive``: commitments are every assignment in :data:`COMMITTED_STATES` (open proposals hold the
  agent's time) — what a project lead sees, ``talents match``, the team proposal;
* ``allocation``: commitments are the *fixed* ones only (accepted, approved, active, DINUM-forced) — what
  the allocation solver ranks from, since a run may withdraw an open proposal for a higher priority.

Refresh (when a ranking is asked, cheap; for a request's rankings at most once every ``ranking_lag_s``, see
:meth:`RankingCache.current`): agents whose ``updated_at`` is past the latest one indexed are re-read and
upserted (an index range, empty most of the time), erased or hidden agents are removed, and a taxonomy
change rebuilds everything (so does a change of a quarter of the pool: an import, :data:`REBUILD_SHARE`). At
most every :data:`SWEEP_S` seconds (less often when a sweep is dear: it may take :data:`SWEEP_SHARE` of the time at
most) a sweep also looks ``ranking_refresh_overlap_s`` back, so that a transaction committed late is not missed (an
agent is re-encoded only when its ``updated_at`` differs from the indexed one), and counts the agents, so that a
deleted one leaves the index; in between, a deleted agent is never shown: the agents a ranking returns are
checked against the database, and the ranking done again without those that are gone. Every change to an assignment
bumps its agent's ``updated_at`` in the same transaction (:mod:`talents.workflow.service`), so
commitments and open-proposal counts follow the same path. Several instances each keep their own cache;
the database is the only shared state.

Concurrent rankings (copy on write): a ranking reads one published :class:`IndexState` and keeps it to the end.
When the change stamps say nothing changed it ranks at once, taking no lock; else it waits for the refresh that
brings the change. A refresh, one at a time under the cache's lock, applies the changes to a copy of the state
(:meth:`IndexState.fork`: its cost follows the changes since the indexes' last merge, not the pool)
and publishes it by swapping one reference: a ranking never sees a change half applied, nor waits for a
refresh it does not need.

Kept between processes: the cache is written to disk (:class:`IndexStore`: beside a SQLite database file,
else the user's cache directory; signed with the app's secret key) after a build and, in a long-lived
process, at most every ``ranking_index_save_s`` seconds when it changed. A new process — a second
``talents match``, another worker — loads it and refreshes it incrementally from the database's change
stamps (taxonomy count and last change, agents' ``updated_at``) instead of rebuilding it.

Every query here goes through :mod:`talents.ranking_tables` on a session or a plain connection, never through
the models: the web workers (:class:`talents.ranking.RankingService`) and ``talents match`` (on a connection,
without importing the ORM classes) share this one refresh and this one ranking. Only a rebuild reads the
taxonomy through :mod:`profiles.taxonomy`.
"""

from __future__ import annotations

import copy
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy import Engine

from matching.carry import carried
from matching.ranking import CandidateIndex, Ranking
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
from talents.assignments.exclusions import left_out_of_need
from talents.assignments.states import COMMITTED_STATES, FIXED_STATES
from talents.kernel.db import TakesLong, UTCDateTime, bound_engine, tried_at_once
from talents.kernel.errors import NotFoundError
from talents.kernel.own_writes import caller_of, wrote_since
from talents.kernel.prepared import Prepared
from talents.kernel.settings import get_settings
from talents.ranking_store import IndexStore
from talents.ranking_tables import agent, agent_skill, assignment, availability, need, role, role_skill, skill

if TYPE_CHECKING:
    from typing import TypeAlias

    from sqlalchemy.orm import Session

    Reader: TypeAlias = Session | sa.Connection  # what every read here runs on: a session, or a plain connection

__all__ = [
    "SWEEP_S",
    "IndexState",
    "RankingCache",
    "RankingMemo",
    "RankingReader",
    "agent_label",
    "find_need",
    "find_role",
    "forget_ranking_caches",
    "get_ranking_cache",
    "requirement_key",
    "to_candidate",
    "to_requirement",
]

_CHUNK = 500
SWEEP_S = 1.0
# Just after a bulk import every agent was stamped within the look-back: a sweep re-reads them all (0.1–0.2 s
# at 100 000 agents). Spacing the sweeps by their cost keeps that under this share of a worker's time.
SWEEP_SHARE = 0.05
"""How often a refresh looks back for late commits and deleted agents (well within the 2 s in which a
change reaches every worker's rankings)."""
# Answers kept per database: a need's page keeps one per role, its held seats, who it leaves out and its team.
MEMO_SIZE = 512
# How far back each state's changed agents are remembered (states), and how many changed agents a kept ranking
# is checked against at most: past that, ranking again costs less than the check.
CHANGE_LOG = 4096
CARRY_AT_MOST = 512
# When a refresh finds this share of the pool changed (an import, every agent stamped again), and at least
# REBUILD_AT_LEAST agents, it builds the indexes afresh: at 100 000 agents upserting every one took 33 s, a build
# 8 s (and a build fits the skills' rarity to the pool as it now is).
REBUILD_SHARE = 0.25
REBUILD_AT_LEAST = 1000


# --------------------------------------------------------------------------- the bridge
def to_candidate(
    agent: Any,
    skills: Iterable[Any],
    windows: Iterable[Any],
    commitments: Iterable[Commitment] = (),
    open_proposals: int = 0,
) -> CandidateProfile:
    """An agent row and its skills and windows as the engine sees them (id: the database id as text). Any rows
    with the columns' names do: model instances, or Core rows (windows' ``start`` and ``end`` labelled so)."""
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


def to_requirement(need: Any, role: Any, skills: Iterable[Any]) -> RoleRequirement:
    """A role of a need as the engine sees it (ids: database ids as text; the need's period). ``need`` and
    ``role``: model instances, or the rows of :func:`find_need` and :func:`find_role`; ``skills``: rows with
    their ``skill_id``, ``level``, ``weight`` and ``required``."""
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


# What a ranking reads of a need and of a role, under the models' attribute names.
_NEED = sa.select(need.c.id, need.c.external_id, need.c.start_date.label("start"), need.c.end_date.label("end"),
                  need.c.priority)
_ROLE = sa.select(role.c.id, role.c.need_id, role.c.position, role.c.title, role.c.count, role.c.share,
                  role.c.location, role.c.remote, role.c.description, role.c.strict)


def find_need(session: Reader, ref: str | int) -> Any:
    """A need by numeric database id first, then by external id: a row with the model's attribute names."""
    text = str(ref).strip()
    row = None
    if text.isdigit():
        row = session.execute(_NEED.where(need.c.id == int(text))).first()
    if row is None:
        row = session.execute(_NEED.where(need.c.external_id == text)).first()
    if row is None:
        raise NotFoundError(f"need {text!r} not found (by id or external id)", field="need_id")
    return row


def find_role(session: Reader, need_id: int, position: int) -> Any:
    """The role of a need at a position (0-based): a row with the model's attribute names."""
    row = session.execute(_ROLE.where(role.c.need_id == need_id, role.c.position == position)).first()
    if row is None:
        raise NotFoundError(f"need {need_id} has no role at position {position}", field="role")
    return row


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


# Agents the engine may rank: not erased, and not hidden by their owner (visibility ``private``).
_MATCHABLE = sa.and_(agent.c.erased_at.is_(None), agent.c.visibility != "private")
_AGENTS = sa.select(agent.c.id, agent.c.external_id, agent.c.name, agent.c.ministry, agent.c.service, agent.c.grade,
                    agent.c.location, agent.c.remote, agent.c.bio, agent.c.updated_at).where(_MATCHABLE)
_SKILLS = sa.select(agent_skill.c.agent_id, agent_skill.c.skill_id, agent_skill.c.level, agent_skill.c.years,
                    agent_skill.c.last_used, agent_skill.c.interest)
_WINDOWS = sa.select(availability.c.agent_id, availability.c.start_date.label("start"),
                     availability.c.end_date.label("end"), availability.c.share)
_COMMITMENTS = sa.select(assignment.c.agent_id, assignment.c.start_date, assignment.c.end_date, assignment.c.share,
                         assignment.c.state, assignment.c.forced).where(assignment.c.state.in_(COMMITTED_STATES))
# The same for some agents: what a refresh reads after each change, so prepared once (see talents.kernel.prepared).
_AGENTS_AMONG = Prepared(_AGENTS.where(agent.c.id.in_(sa.bindparam("ids", expanding=True))))
_SKILLS_AMONG = Prepared(_SKILLS.where(agent_skill.c.agent_id.in_(sa.bindparam("ids", expanding=True))))
_WINDOWS_AMONG = Prepared(_WINDOWS.where(availability.c.agent_id.in_(sa.bindparam("ids", expanding=True))))
_COMMITMENTS_AMONG = Prepared(_COMMITMENTS.where(assignment.c.agent_id.in_(sa.bindparam("ids", expanding=True))))


def _load(session: Reader, ids: Sequence[int] | None) -> dict[int, _Loaded]:
    """Profiles of the given agents (``None``: every agent that can be matched)."""
    batches: Iterable[Sequence[int] | None] = [None] if ids is None else list(_chunks(list(ids)))
    out: dict[int, _Loaded] = {}

    def rows(every: sa.Select[Any], among: Prepared, keys: Sequence[int] | None) -> list[Any]:
        if keys is None:
            return list(session.execute(every).all())
        labels, found = among.tuples(_connection(session), {"ids": list(keys)})
        return [_named(labels, r) for r in found]

    for batch in batches:
        agents = {a.id: a for a in rows(_AGENTS, _AGENTS_AMONG, batch)}
        if not agents:
            continue
        keys: list[int] | None = [int(k) for k in agents if k is not None] if batch is not None else None
        skills: dict[int, list[Any]] = {}
        for s in rows(_SKILLS, _SKILLS_AMONG, keys):
            skills.setdefault(s.agent_id, []).append(s)
        windows: dict[int, list[Any]] = {}
        for w in rows(_WINDOWS, _WINDOWS_AMONG, keys):
            windows.setdefault(w.agent_id, []).append(w)
        fixed: dict[int, list[Commitment]] = {}
        full: dict[int, list[Commitment]] = {}
        proposals: dict[int, int] = {}
        for a in rows(_COMMITMENTS, _COMMITMENTS_AMONG, keys):
            c = Commitment(a.start_date, a.end_date, float(a.share))
            full.setdefault(a.agent_id, []).append(c)
            if a.state in FIXED_STATES or a.forced:
                fixed.setdefault(a.agent_id, []).append(c)
            if a.state == "proposed":
                proposals[a.agent_id] = proposals.get(a.agent_id, 0) + 1
        for aid, row in agents.items():
            assert aid is not None
            base = to_candidate(
                row, skills.get(aid, ()), windows.get(aid, ()), fixed.get(aid, ()), proposals.get(aid, 0)
            )
            out[aid] = _Loaded(
                fixed=base,
                full=replace(base, commitments=tuple(full.get(aid, ()))),
                updated_at=_naive(row.updated_at),
                external_id=row.external_id,
                name=row.name,
            )
    return out


# The change stamps a refresh reads; built once: every ranking runs them.
_TAXONOMY_KEY = sa.select(sa.func.count(), sa.func.max(skill.c.updated_at))
_LAST_CHANGE = sa.select(sa.func.max(agent.c.updated_at))
_STAMPS = sa.select(agent.c.id, agent.c.updated_at, agent.c.erased_at, agent.c.visibility)
_CHANGED_SINCE = _STAMPS.where(agent.c.updated_at > sa.bindparam("watermark", type_=UTCDateTime()))
_LIVE_COUNT = sa.select(sa.func.count()).select_from(agent).where(_MATCHABLE)
_LIVE_IDS = sa.select(agent.c.id).where(_MATCHABLE)
_MATCHABLE_AMONG = _LIVE_IDS.where(agent.c.id.in_(sa.bindparam("ids", expanding=True)))
_TAXONOMY = sa.select(skill.c.id, skill.c.label_fr, skill.c.label_en, skill.c.aliases, skill.c.category,
                      skill.c.related, skill.c.source, skill.c.description,
                      skill.c.occupations).where(skill.c.status != "retired")
_ROLE_SKILLS = (sa.select(role_skill.c.skill_id, role_skill.c.level, role_skill.c.weight, role_skill.c.required)
                .where(role_skill.c.role_id == sa.bindparam("role_id")).order_by(role_skill.c.id))


# --------------------------------------------------------------------------- the cache
@dataclass(slots=True)
class IndexState:
    """One consistent state of a database's indexes, never changed once published: rankings read it without a
    lock; a change makes the next state (:meth:`fork`, then upserts on the copy) and the cache swaps it in."""

    interactive: CandidateIndex
    allocation: CandidateIndex
    taxonomy_key: tuple[Any, ...]
    watermark: datetime | None
    seq: int = 0  # its number in the cache that published it (:meth:`RankingCache.changed_between`)

    def fork(self) -> IndexState:
        """The next state, to change: each index forked (:meth:`matching.index.IndexBase.fork`, at the cost of
        the changes since its last merge, not of the pool)."""
        return IndexState(self.interactive.fork(), self.allocation.fork(), self.taxonomy_key, self.watermark)


@dataclass
class RankingCache:
    """The indexes of one database, refreshed incrementally.

    Rankings read :attr:`state`, a reference swapped whole (copy on write): a ranking keeps the state it took,
    even while a refresh builds the next one. ``lock`` is the writers': one refresh, reload or save at a time.
    """

    lock: threading.RLock = field(default_factory=threading.RLock)
    state: IndexState | None = None
    # The writers' own, changed under the lock. The agents' names and external ids are read without it: a
    # ranking may show a name newer than its state (labels are not part of a ranking; copying them with every
    # state would cost more than the change).
    versions: dict[int, datetime | None] = field(default_factory=dict)
    external_ids: dict[int, str | None] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)
    builds: int = 0
    upserts: int = 0
    store: IndexStore | None = None
    saved_at: float = 0.0
    unsaved: int = 0
    swept_at: float = float("-inf")
    sweep_cost_s: float = 0.0  # how long the last sweep took
    swept_from: datetime | None = None  # when the last sweep began (naive UTC, the stamps' clock)
    memo: RankingMemo = field(default_factory=lambda: RankingMemo(size=MEMO_SIZE))
    _saving: threading.Lock = field(default_factory=threading.Lock)
    # Which agents each published state changed (its seq, their ids), the latest last; nothing is known across
    # a rebuild or a load (``_epoch``: the first state after it).
    _seq: int = 0
    _epoch: int = 0
    _log: deque[tuple[int, frozenset[str]]] = field(default_factory=lambda: deque(maxlen=CHANGE_LOG))
    _log_lock: threading.Lock = field(default_factory=threading.Lock)
    # When the published state was last known to be up to date (monotonic): the start of the look at the change
    # stamps, or of the refresh, that said so.
    checked_at: float = float("-inf")

    _KEPT = ("interactive", "allocation", "taxonomy_key", "watermark", "versions", "external_ids", "names")
    _OWN = ("versions", "external_ids", "names")  # of the kept ones, those that are not the state's

    # What the published state holds, for those that only read it.
    @property
    def interactive(self) -> CandidateIndex | None:
        return self.state.interactive if self.state is not None else None

    @property
    def allocation(self) -> CandidateIndex | None:
        return self.state.allocation if self.state is not None else None

    @property
    def taxonomy_key(self) -> tuple[Any, ...] | None:
        return self.state.taxonomy_key if self.state is not None else None

    @property
    def watermark(self) -> datetime | None:
        return self.state.watermark if self.state is not None else None

    def _publish(self, state: IndexState, changed: Iterable[str] | None) -> None:
        """Swap ``state`` in as the next one; ``changed``: the agents it changed (``None``: built or loaded
        whole, nothing is known of what changed since the last one)."""
        with self._log_lock:
            self._seq += 1
            state.seq = self._seq
            if changed is None:
                self._epoch = self._seq
                self._log.clear()
            else:
                self._log.append((self._seq, frozenset(changed)))
        self.state = state

    def changed_between(self, old: int, new: int, at_most: int = CARRY_AT_MOST) -> frozenset[str] | None:
        """The agents changed from the state numbered ``old`` to the one numbered ``new`` (ids as the indexes
        have them); ``None`` when unknown — a rebuild between them, the log no longer going back so far — or
        more than ``at_most``."""
        if old == new:
            return frozenset()
        changed: set[str] = set()
        with self._log_lock:
            if not self._epoch <= old < new or not self._log or self._log[0][0] > old + 1:
                return None
            for seq, ids in reversed(self._log):
                if seq <= old:
                    break
                if seq <= new:
                    changed |= ids
                    if len(changed) > at_most:
                        return None
        return frozenset(changed)

    def current(self, session: Reader, lag_s: float = 0.0, may_refresh: bool = True) -> IndexState:
        """The state up to date with what ``session`` sees. When the change stamps say nothing changed, the
        published state at once, without the lock; else the state once this caller or another refreshed it.

        ``lag_s``: the published state as it is when it was known up to date less than that long ago, without
        looking at the stamps. Under a stream of profile edits one refresh then brings the edits of that while, and
        rankings are kept on its state, instead of a new state and every kept ranking checked again after each edit.
        While another thread refreshes, the published state as it is if known up to date less than twice that long
        ago, without waiting for the refresh.
        Not ``may_refresh``: :class:`~talents.kernel.db.TakesLong` instead of bringing the index up to date."""
        state = self.state
        began = time.monotonic()
        if state is not None and began - self.checked_at < lag_s:
            return state
        if state is not None and began - self.checked_at < 2 * lag_s and not self._lock_free():
            # Another request is bringing the index up to date: waiting for it made every ranking of the worker
            # queue behind each refresh. One that may lag is ranked on the state known up to date a moment ago.
            return state
        if state is not None and self._unchanged(session, state):
            self.checked_at = max(self.checked_at, began)
            return state
        if not may_refresh:
            raise TakesLong("the ranking index must be brought up to date")
        with self.lock:
            began = time.monotonic()
            save = self._refresh(session)
            state = self.state
            assert state is not None
            self.checked_at = began
        if save:  # after the lock: writing the file takes a while, and the next changes need not wait for it
            self.save()
        return state

    def refresh(self, session: Reader) -> RankingCache:
        """Bring both indexes up to date with the database (cheap when nothing changed)."""
        self.current(session)
        return self

    def _sweep_due(self) -> bool:
        return time.monotonic() - self.swept_at >= max(SWEEP_S, self.sweep_cost_s / SWEEP_SHARE)

    def _lock_free(self) -> bool:
        if not self.lock.acquire(blocking=False):
            return False
        self.lock.release()
        return True

    def _unchanged(self, session: Reader, state: IndexState) -> bool:
        if state.watermark is None:
            return False
        # The periodic look back is a writer's job: a caller leaves it to the one already refreshing.
        if self._sweep_due() and self._lock_free():
            return False
        conn = _connection(session)
        if tuple(_TAXONOMY_KEY_NOW.tuples(conn)[1][0]) != state.taxonomy_key:
            return False
        return _CHANGED_SINCE_NOW.first(conn, {"watermark": state.watermark}) is None

    def _refresh(self, session: Reader) -> bool:
        """Under the lock; ``True`` when the store should be written."""
        with self.lock:
            key = tuple(session.execute(_TAXONOMY_KEY).one())
            if self.state is None or key != self.state.taxonomy_key:
                self._build(session, key)
                return True
            before, builds = self.upserts, self.builds
            self._incremental(session)
            if self.builds != builds:  # rebuilt: most of the pool had changed
                return True
            self.unsaved += self.upserts - before
            return bool(self.unsaved) and (
                time.monotonic() - self.saved_at >= get_settings().matching.ranking_index_save_s)

    def save(self) -> None:
        """Write the indexes to the store (nothing without a store or an index). What is kept is taken under the
        lock; the file is written after it, while rankings and refreshes go on."""
        if self.store is None:
            return
        with self.lock:
            state = self.state
            if state is None:
                return
            kept = {k: copy.copy(getattr(self, k)) if k in self._OWN else getattr(state, k) for k in self._KEPT}
            for k in ("interactive", "allocation"):  # rankings may be reading them meanwhile
                kept[k] = kept[k].fork()
            self.saved_at = time.monotonic()
            self.unsaved = 0
        with self._saving:  # one file written at a time
            self.store.save(kept)

    def save_if_changed(self) -> None:
        """What a short-lived process (the CLI) calls before it exits."""
        if self.unsaved:
            self.save()

    def load(self) -> bool:
        """Take the indexes from the store when it holds a valid copy; ``True`` when it did."""
        with self.lock:
            kept = self.store.load() if self.store is not None else None
            if kept is None or set(kept) != set(self._KEPT):
                return False
            for k in self._OWN:
                setattr(self, k, kept.pop(k))
            self._publish(IndexState(**kept), None)
            self.saved_at = time.monotonic()
            return True

    def _build(self, session: Reader, key: tuple[Any, ...]) -> None:
        # imported here: only a rebuild reads the taxonomy's rows into the engine's skills (through the
        # profiles' package and its models); a ranking from the kept index starts without them
        from profiles.taxonomy import to_taxonomy_skill

        now = _naive(session.execute(_LAST_CHANGE).scalar_one())
        taxonomy = Taxonomy(to_taxonomy_skill(r) for r in session.execute(_TAXONOMY).all())
        loaded = _load(session, None)
        profiles = [loaded[k].fixed for k in sorted(loaded)]
        allocation = CandidateIndex().fit(taxonomy, profiles)
        # Same fitted state (vocabulary, rarity, related skills), then the agents whose live
        # commitments differ from their fixed ones are re-encoded.
        # The profiles and the taxonomy are never changed in place: both indexes share them (half the
        # memory, and half the kept file to read back).
        shared: dict[int, Any] = {id(p): p for p in profiles}
        shared[id(taxonomy)] = taxonomy
        interactive = copy.deepcopy(allocation, shared)
        for k in sorted(loaded):
            if loaded[k].full.commitments != loaded[k].fixed.commitments:
                interactive.upsert(loaded[k].full)
        self.versions = {k: v.updated_at for k, v in loaded.items()}
        self.external_ids = {k: v.external_id for k, v in loaded.items()}
        self.names = {k: v.name for k, v in loaded.items()}
        self._publish(IndexState(interactive, allocation, key, now), None)
        self.builds += 1

    def _incremental(self, session: Reader) -> None:
        assert self.state is not None
        sweep = self._sweep_due()
        started = _naive(datetime.now(UTC))
        began = time.monotonic()
        watermark = self.state.watermark
        q = _STAMPS
        if watermark is not None and sweep:
            # A change committed since the last sweep was stamped at most the overlap before it: rows stamped
            # earlier were read then. (The first sweep of a loaded index looks back from its watermark.)
            overlap = timedelta(seconds=get_settings().matching.ranking_refresh_overlap_s)
            since = self.swept_from or watermark
            q = q.where(agent.c.updated_at >= since - overlap)
        elif watermark is not None:
            q = _CHANGED_SINCE.params(watermark=watermark)
        changed: list[int] = []
        gone: list[int] = []
        top = watermark
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
            self.swept_from = started
            live = session.execute(_LIVE_COUNT).scalar_one()
            if int(live) != len(self.versions) - len(gone) + sum(1 for a in changed if a not in self.versions):
                ids = set(session.execute(_LIVE_IDS).scalars())
                gone += [a for a in self.versions if a not in ids and a not in gone]
            self.swept_at = time.monotonic()
            self.sweep_cost_s = self.swept_at - began
        if len(changed) >= max(REBUILD_AT_LEAST, REBUILD_SHARE * len(self.versions)):
            self._build(session, self.state.taxonomy_key)
            return
        if gone or changed:
            self._change(session, changed, gone)
        if top != self.state.watermark:
            self.state = replace(self.state, watermark=top)  # the same indexes: only the stamp moved

    def _change(self, session: Reader, changed: Sequence[int], gone: Iterable[int]) -> None:
        """Publish the next state: ``gone`` removed, ``changed`` re-read and upserted (under the lock)."""
        assert self.state is not None
        loaded = _load(session, changed) if changed else {}
        nxt = self.state.fork()
        for aid in [*gone, *(a for a in changed if a not in loaded)]:  # erased or deleted meanwhile
            nxt.interactive.remove(str(aid))
            nxt.allocation.remove(str(aid))
            self.versions.pop(aid, None)
            self.external_ids.pop(aid, None)
            self.names.pop(aid, None)
        for aid, item in loaded.items():
            nxt.allocation.upsert(item.fixed)
            nxt.interactive.upsert(item.full)
            self.versions[aid] = item.updated_at
            self.external_ids[aid] = item.external_id
            self.names[aid] = item.name
            self.upserts += 1
        self._publish(nxt, [str(a) for a in (*gone, *changed)])

    def labels(self, agent_ids: Iterable[int]) -> tuple[dict[int, str], dict[int, str | None]]:
        """Names and external ids of these agents."""
        ids = list(agent_ids)
        return {a: self.names.get(a, "") for a in ids}, {a: self.external_ids.get(a) for a in ids}

    def drop_gone(self, session: Reader, agent_ids: Iterable[int]) -> bool:
        """Remove those of ``agent_ids`` that are no longer matchable (deleted since the last sweep);
        ``True`` when some were."""
        ids = sorted(set(agent_ids))
        if not ids:
            return False
        conn = _connection(session)
        # Counted first, one row: usually none is gone. In a thread, each row SQLite steps through gives the
        # interpreter away and waits to have it back while the event loop runs (beside a busy thread, forty ids:
        # 1.8 ms for their rows, 0.7 for the count; alone, 0.03).
        if _MATCHABLE_COUNT_AMONG.scalar(conn, {"ids": ids}) == len(ids):
            return False
        live = {row[0] for row in _MATCHABLE_AMONG_NOW.tuples(conn, {"ids": ids})[1]}
        gone = [a for a in ids if a not in live]
        if gone:
            with self.lock:
                self._change(session, (), gone)
        return bool(gone)

    def reload(self, session: Reader, agent_ids: Iterable[int]) -> None:
        """Re-read and upsert these agents now (the workflow calls it after its own changes)."""
        if self.state is None:  # nothing to change yet: built as it is now
            self.current(session)
            return
        with self.lock:
            self._change(session, sorted(set(agent_ids)), ())


_caches: dict[str, RankingCache] = {}
_caches_lock = threading.Lock()


def forget_ranking_caches() -> None:
    """Drop every process-wide cache (a database emptied under the running process: the test suite)."""
    with _caches_lock:
        _caches.clear()


def get_ranking_cache(engine: Engine) -> RankingCache:
    """The process-wide cache of one database, taken from its store when one was kept."""
    key = engine.url.render_as_string(hide_password=True)
    with _caches_lock:
        cache = _caches.get(key)
        if cache is None:
            cache = _caches[key] = RankingCache(store=IndexStore.for_engine(engine))
            cache.load()
        return cache


# --------------------------------------------------------------------------- ranking
# A need, its role at a position and the role's skills in one query: a row per skill (a role without skills:
# one row, the skill's columns null); no role at that position: the role's columns null too; no such need: no row.
_NEED_KEYS = tuple(_NEED.selected_columns.keys())
_ROLE_KEYS = tuple(_ROLE.selected_columns.keys())
_SKILL_KEYS = tuple(_ROLE_SKILLS.selected_columns.keys())
_ROLE_OF_NEED = (
    sa.select(*_NEED.selected_columns, *(c.label(f"role_{c.key}") for c in _ROLE.selected_columns),
              *(c.label(f"skill_{c.key}") for c in _ROLE_SKILLS.selected_columns))
    .select_from(need.outerjoin(role, sa.and_(role.c.need_id == need.c.id, role.c.position == sa.bindparam("position")))
                 .outerjoin(role_skill, role_skill.c.role_id == role.c.id))
    .where(need.c.id == sa.bindparam("need_id"))
    .order_by(role_skill.c.id)
)
_ROLE_AT, _SKILL_AT = len(_NEED_KEYS), len(_NEED_KEYS) + len(_ROLE_KEYS)  # where a row's parts begin
_ROLE_ID_AT, _SKILL_ID_AT = _ROLE_AT + _ROLE_KEYS.index("id"), _SKILL_AT + _SKILL_KEYS.index("skill_id")
# Every role of a need with its skills, by position: a row per skill (a role without skills: one row).
_ROLES_OF_NEED = (
    sa.select(*_ROLE.selected_columns, *_ROLE_SKILLS.selected_columns)
    .select_from(role.outerjoin(role_skill, role_skill.c.role_id == role.c.id))
    .where(role.c.need_id == sa.bindparam("need_id"))
    .order_by(role.c.position, role_skill.c.id)
)


# Built once, run on the driver's cursor (:class:`~talents.kernel.prepared.Prepared`): every ranking asked through
# the API reads them.
_TAXONOMY_KEY_NOW = Prepared(_TAXONOMY_KEY)
_CHANGED_SINCE_NOW = Prepared(_CHANGED_SINCE)
_MATCHABLE_AMONG_NOW = Prepared(_MATCHABLE_AMONG)
_MATCHABLE_COUNT_AMONG = Prepared(_MATCHABLE_AMONG.with_only_columns(sa.func.count(), maintain_column_froms=True))
_ROLE_OF_NEED_NOW = Prepared(_ROLE_OF_NEED)


def _connection(session: Reader) -> sa.Connection:
    return session if isinstance(session, sa.Connection) else session.connection()


def _named(keys: tuple[str, ...], values: Sequence[Any]) -> SimpleNamespace:
    return SimpleNamespace(**dict(zip(keys, values, strict=True)))


def requirement_key(req: RoleRequirement) -> tuple[Any, ...]:
    """Everything a ranking reads of a requirement, hashable (a requirement's ``extra`` is a dict)."""
    return (*(getattr(req, f.name) for f in fields(req) if f.name != "extra"), tuple(sorted(req.extra.items())))


T = TypeVar("T")
# What a kept answer's ``holds`` is asked: this value, computed on an earlier state, as it holds on this state (itself,
# or mended), given the agents changed between the two and whether it is young enough that drifting rarity weights
# may be let pass; ``None``: it must be computed again.
Holds = Callable[[Any, IndexState, frozenset[str], bool], Any]


@dataclass(slots=True)
class _Kept:
    value: Any
    seq: int  # the latest state it is known to hold on
    made_at: float  # when it was computed (time.monotonic)
    left_out: frozenset[str]  # the agents left out on that state


class RankingMemo:
    """What was computed on a state of an index (rankings, who is left out of a need), kept so that the same
    question asked again is answered without computing it again.

    On the state it was computed on, with the same agents left out, an answer is given as it is. On a later state,
    or with other agents left out, an answer asked with a ``holds`` check is given again when that check says the
    agents changed since — and those let in or left out since — cannot alter it, or given mended when the check
    mends it (a ranking: its role's rarity weights the same or it at most ``carry_s`` old, and the changed agents
    taken out of its candidates and put back at their new score, none of its near misses changed —
    :func:`matching.carry.carried`); an answer asked without one is computed again (``carry_s`` 0: always).
    Bounded (the least recently used go first); shared by the threads (computed outside the lock: two
    threads that miss the same entry together both compute it, and the newest is kept).
    """

    def __init__(self, size: int, carry_s: float | None = None) -> None:
        self.size = size
        self.carry_s = carry_s
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, _Kept] = OrderedDict()
        # How answers were given (``/metrics``): as kept on their state, kept across later states, mended on a
        # later state, computed.
        self.kept = self.carried = self.mended = self.computed = 0

    def get(self, cache: RankingCache, state: IndexState, key: Hashable, compute: Callable[[], T],
            holds: Holds | None = None, left_out: frozenset[str] = frozenset(), at_once: bool = False) -> T:
        """The answer to ``key`` on ``state`` (``cache``'s), computed by ``compute`` unless kept. ``left_out``: the
        agents the answer leaves out (a need's members, those who declined); an answer kept for others left out
        is checked as if the agents in one set and not the other had changed. ``at_once`` (tried on the event
        loop): :class:`~talents.kernel.db.TakesLong` unless kept on this state as it is."""
        with self._lock:
            kept = self._entries.get(key)
            if kept is not None:
                self._entries.move_to_end(key)
                if kept.seq == state.seq and kept.left_out == left_out:
                    self.kept += 1
                    return cast("T", kept.value)
        if at_once:  # checking that it holds on a later state, or computing it: not on the event loop
            raise TakesLong("the answer must be checked or computed")
        held = None if kept is None or holds is None else self._carries(cache, state, kept, holds, left_out)
        if kept is not None and held is not None:
            with self._lock:
                if held is kept.value:
                    if state.seq >= kept.seq:  # what it now holds on: this state, with these left out
                        kept.seq, kept.left_out = state.seq, left_out
                    self.carried += 1
                else:
                    # mended: as old as what it was mended from (its unchanged parts were computed then)
                    if self._entries.get(key) is kept and state.seq >= kept.seq:
                        self._entries[key] = _Kept(held, state.seq, kept.made_at, left_out)
                    self.mended += 1
            return cast("T", held)
        made_at = time.monotonic()
        value = compute()
        with self._lock:
            self.computed += 1
            found = self._entries.get(key)
            if found is None or found.seq <= state.seq:
                self._entries[key] = _Kept(value, state.seq, made_at, left_out)
                self._entries.move_to_end(key)
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
        return value

    def _carries(self, cache: RankingCache, state: IndexState, kept: _Kept, holds: Holds,
                 left_out: frozenset[str]) -> Any:
        if kept.seq > state.seq:
            return None
        carry_s = self.carry_s if self.carry_s is not None else get_settings().matching.ranking_carry_s
        if carry_s <= 0:
            return None
        changed = cache.changed_between(kept.seq, state.seq)
        # the caller's check: it knows what is asked now (who is left out, say)
        return None if changed is None else holds(kept.value, state, changed | (kept.left_out ^ left_out),
                                                  time.monotonic() - kept.made_at <= carry_s)


def spare(top: int) -> int:
    """How many candidates deeper than ``top`` a kept ranking is made, to be mended rather than ranked again when a
    few of them are taken out (a proposal takes a need's best candidate out of its rankings and changes who is free
    in those of the other needs)."""
    return max(4, top // 4)


def _first(ranking: Ranking, top: int) -> Ranking:
    """``ranking`` as asked: its first ``top`` candidates."""
    if len(ranking.candidates) <= top:
        return ranking
    return replace(ranking, candidates=ranking.candidates[:top], bound=ranking.candidates[top - 1].score)


class RankingReader:
    """Ranked candidates of a role from the kept index, on an ORM session or a plain connection."""

    def __init__(self, session: Reader) -> None:
        self.session = session
        engine = session.engine if isinstance(session, sa.Connection) else bound_engine(session)
        self.cache = get_ranking_cache(engine)  # type: ignore[arg-type]
        matching = get_settings().matching
        self.floor = matching.floor
        # A request's rankings may lag on others' edits (RankingCache.current); not on the caller's own, nor
        # outside a request (the command line, a job): there they are up to date.
        self.caller = caller_of(session)
        self.lag_s = matching.ranking_lag_s if self.caller else 0.0
        # Tried on the event loop (talents.kernel.api.read_now): ranking afresh or refreshing raises TakesLong.
        self.at_once = tried_at_once(session)

    def current(self) -> IndexState:
        """The state to rank on: at most ``lag_s`` late, unless the caller wrote since it was last looked at."""
        lag_s = 0.0 if wrote_since(self.caller, self.cache.checked_at) else self.lag_s
        return self.cache.current(self.session, lag_s, may_refresh=not self.at_once)

    def role_requirement(self, need: Any, role: Any) -> RoleRequirement:
        skills = self.session.execute(_ROLE_SKILLS, {"role_id": role.id}).all()
        return to_requirement(need, role, skills)

    def explain_now(self, agent_id: int, need: Any, role: Any) -> dict[str, Any] | None:
        """One agent's score and explanation for a role (None when they cannot be matched): their profile read now,
        in this session's transaction, scored on the index as rankings see it — at most ``ranking_lag_s`` late on
        others' edits, which move only the rarity weights. No refresh of the index waits for it."""
        loaded = _load(self.session, [agent_id]).get(agent_id)
        if loaded is None:
            return None
        state = self.cache.current(self.session, get_settings().matching.ranking_lag_s)
        return state.interactive.explain(loaded.full, self.role_requirement(need, role), floor=self.floor)

    def role_of_need(self, need_id: int, position: int) -> tuple[Any, Any, RoleRequirement]:
        """The need, its role at ``position`` (rows with the models' attribute names) and the role's
        requirement, read in one query."""
        _, rows = _ROLE_OF_NEED_NOW.tuples(_connection(self.session), {"need_id": need_id, "position": position})
        if not rows:
            raise NotFoundError(f"need {need_id} not found", field="need_id")
        first = rows[0]
        if first[_ROLE_ID_AT] is None:
            raise NotFoundError(f"need {need_id} has no role at position {position}", field="role")
        found, at = _named(_NEED_KEYS, first[:_ROLE_AT]), _named(_ROLE_KEYS, first[_ROLE_AT:_SKILL_AT])
        skills = [_named(_SKILL_KEYS, r[_SKILL_AT:]) for r in rows if r[_SKILL_ID_AT] is not None]
        return found, at, to_requirement(found, at, skills)

    def roles_of_need(self, need: Any) -> list[tuple[Any, RoleRequirement]]:
        """Every role of the need by position (rows with the models' attribute names), each with its
        requirement, read in one query."""
        by_role: dict[int, tuple[Any, list[Any]]] = {}
        for r in self.session.execute(_ROLES_OF_NEED, {"need_id": need.id}).all():
            at, skills = by_role.setdefault(r.id, (_named(_ROLE_KEYS, r[:len(_ROLE_KEYS)]), []))
            if r.skill_id is not None:
                skills.append(_named(_SKILL_KEYS, r[len(_ROLE_KEYS):]))
        return [(at, to_requirement(need, at, skills)) for at, skills in by_role.values()]

    def not_candidates(self, need_id: int) -> list[str]:
        """Agent ids the engine leaves out for the need: its members, and those who declined, were refused
        or were removed from it (:mod:`talents.assignments.exclusions`)."""
        return [str(a) for a in sorted(left_out_of_need(_connection(self.session), need_id))]

    def kept(self, state: IndexState, key: Hashable, compute: Callable[[], T], holds: Holds | None = None,
             left_out: frozenset[str] = frozenset()) -> T:
        """What ``compute`` gives, kept with ``state`` (see :class:`RankingMemo`): for what follows the
        index — its agents, and the assignments, since every change to an assignment stamps its agent."""
        return self.cache.memo.get(self.cache, state, key, compute, holds, left_out, self.at_once)

    def ranked_on(
        self, state: IndexState, req: RoleRequirement, top: int, near_misses: int, exclude: Sequence[str],
        allocation: bool = False,
    ) -> Ranking:
        """``req`` ranked on ``state``, kept: the same role asked again on the same day is not ranked again on the
        same state, nor on a later one while the agents changed since cannot alter it (:class:`RankingMemo`) —
        nor when others are left out, as long as none of them was shown and none of those let back in enters it
        (a proposal or an answer changes who a need leaves out; its other roles' rankings stay). It is ranked
        :func:`spare` candidates deeper than asked, so that a few candidates taken out since (proposed, or taken
        by another need) or changed are mended into it rather than ranked again (:func:`matching.carry.carried`);
        the answer shows the ``top`` asked."""
        deep = top + spare(top)

        def pick(on: IndexState) -> CandidateIndex:
            return on.allocation if allocation else on.interactive

        def made(ranking: Ranking) -> tuple[Ranking, Ranking]:
            return ranking, _first(ranking, top)

        def holds(value: tuple[Ranking, Ranking], on: IndexState, changed: frozenset[str],
                  young: bool) -> tuple[Ranking, Ranking] | None:
            ranking = carried(pick(on), value[0], req, changed, top=deep, at_least=top, near_misses=near_misses,
                              exclude=exclude, floor=self.floor, rarity_may_move=young)
            return None if ranking is None else value if ranking is value[0] else made(ranking)

        key = ("ranking", allocation, datetime.now(UTC).date(), requirement_key(req), top, near_misses, self.floor)
        return self.kept(state, key, lambda: made(pick(state).rank(
            req, top=deep, near_misses=near_misses, exclude=exclude, floor=self.floor)), holds, frozenset(exclude))[1]

    def rank(
        self, need: Any, role: Any, top: int = 20, near_misses: int = 10, allocation: bool = False
    ) -> dict[str, Any]:
        """Eligible candidates best first, with explanations and near misses.

        ``allocation=True`` ranks against fixed commitments only (what the solver sees).
        """
        req = self.role_requirement(need, role)
        return self._laid_out(need, role, self._ranking(req, top, near_misses, allocation), top)

    def rank_at(self, need_id: int, position: int, top: int = 20, near_misses: int = 10) -> dict[str, Any]:
        """:meth:`rank` of the need's role at ``position``, the need and its role read in one query."""
        found, at, req = self.role_of_need(need_id, position)
        return self._laid_out(found, at, self._ranking(req, top, near_misses), top)

    def _ranking(self, req: RoleRequirement, top: int, near_misses: int, allocation: bool = False) -> Ranking:
        """The role ranked on the current state, without the need's members and those it leaves out. Agents
        deleted since the last sweep are dropped and the role ranked again without them."""
        need_id = int(req.need_id)
        while True:
            # The state may lag on profile edits (``lag_s``), never on who the need leaves out: read now.
            state = self.current()
            ranking = self.ranked_on(state, req, top, near_misses, self.not_candidates(need_id), allocation)
            shown = [int(c.agent_id) for c in ranking.candidates] + [int(m.agent_id) for m in ranking.near_misses]
            if not self.cache.drop_gone(self.session, shown):
                return ranking

    def _laid_out(self, need: Any, role: Any, ranking: Ranking, top: int) -> dict[str, Any]:
        """A role's ranking as the API and the pages show it: its first ``top`` candidates, its near misses."""
        candidates = ranking.candidates[:top]
        names, ext = self.cache.labels([int(c.agent_id) for c in (*candidates, *ranking.near_misses)])
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
                for c in candidates
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
