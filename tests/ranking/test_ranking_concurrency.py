"""Rankings under concurrency: they read a published state of the index, never one a refresh is changing, and they
do not wait for a refresh that has nothing they need."""

from __future__ import annotations

import pickle
import threading

import pytest
import sqlalchemy as sa
from factories import make_agent, make_need

from matching.ranking import CandidateIndex
from profiles.models import Agent, AgentSkill
from talents import ranking_index
from talents.kernel.db import session_scope, utcnow
from talents.ranking import RankingService, get_ranking_cache, resolve_need
from talents.ranking_store import IndexStore

pytestmark = pytest.mark.integration

GUARD_S = 120  # only so that a broken build fails instead of hanging: nothing here is timed
AGENTS = 150  # enough that applying a change takes a while beside the rankings


def _rank(engine, need_ext="n1", **kw):
    with session_scope(engine, read_only=True) as s:  # as a page reads (a SQLite reader never waits for a writer)
        service = RankingService(s)
        need = resolve_need(s, need_ext)
        return service.rank(need, service.role_at(need, 0), **kw)


def test_a_ranking_answers_while_a_refresh_holds_the_lock(engine, monkeypatch):
    ids = [make_agent(engine, f"a{i}", skills=[("python", 3 + i)]) for i in range(3)]
    make_need(engine, "n1")
    before = _rank(engine)
    assert [c["agent"] for c in before["candidates"]] == ["a2", "a1", "a0"]
    refreshing, ranked = threading.Event(), threading.Event()
    answered_during_refresh: list[bool] = []
    load = ranking_index._load

    def slow_load(session, agent_ids):  # the refresh reads its rows… and waits, holding the writers' lock
        refreshing.set()
        answered_during_refresh.append(ranked.wait(GUARD_S))
        return load(session, agent_ids)

    monkeypatch.setattr(ranking_index, "_load", slow_load)

    def refresh() -> None:
        with session_scope(engine) as s:
            get_ranking_cache(engine).reload(s, ids)

    writer = threading.Thread(target=refresh)
    writer.start()
    assert refreshing.wait(GUARD_S)
    during = _rank(engine)  # nothing changed in the database: the published state answers
    ranked.set()
    writer.join(GUARD_S)
    assert answered_during_refresh == [True], "the ranking waited for the refresh to end"
    assert during["candidates"] == before["candidates"]


def test_concurrent_rankings_never_see_a_change_half_applied(engine, monkeypatch):
    # Every change sets the same level on all the agents at once: a ranking that saw part of one would show two.
    monkeypatch.setattr(CandidateIndex, "__init__", _merging_often(CandidateIndex.__init__))
    ids = [make_agent(engine, f"a{i:03}", skills=[("python", 3)]) for i in range(AGENTS)]
    make_need(engine, "n1")
    _rank(engine, top=AGENTS)
    done = threading.Event()
    seen: list[tuple[int, frozenset[int]]] = []
    failures: list[BaseException] = []

    def read() -> None:
        try:
            while not done.is_set():
                out = _rank(engine, top=AGENTS, near_misses=0)
                levels = frozenset(c["explanation"]["matched"][0]["agent_level"] for c in out["candidates"])
                seen.append((len(out["candidates"]), levels))
        except BaseException as exc:  # noqa: BLE001 - reported by the test's thread
            failures.append(exc)

    readers = [threading.Thread(target=read) for _ in range(3)]
    for t in readers:
        t.start()
    try:
        for round_ in range(12):
            level = 3 + round_ % 3
            with session_scope(engine) as s:
                s.execute(sa.update(AgentSkill).where(AgentSkill.agent_id.in_(ids)).values(level=level))
                s.execute(sa.update(Agent).where(Agent.id.in_(ids)).values(updated_at=utcnow()))
                get_ranking_cache(engine).reload(s, ids)  # applied while the readers rank (they see no change yet)
            out = _rank(engine, top=AGENTS, near_misses=0)
            assert {c["explanation"]["matched"][0]["agent_level"] for c in out["candidates"]} == {level}
    finally:
        done.set()
        for t in readers:
            t.join(GUARD_S)
    assert not failures, failures
    assert seen and all(n == AGENTS and len(levels) == 1 for n, levels in seen), [x for x in seen if x[0] != AGENTS
                                                                             or len(x[1]) != 1][:5]


def test_a_change_leaves_the_published_state_as_it_was(engine, monkeypatch):
    # Few agents beside the taxonomy's many skills, a new agent, a skill held by none before, an erased agent, a merge:
    # whatever a change writes into must be the next state's own.
    monkeypatch.setattr(CandidateIndex, "__init__", _merging_often(CandidateIndex.__init__))
    ids = [make_agent(engine, f"a{i}", skills=[("python", 3 + i)]) for i in range(3)]
    make_need(engine, "n1")
    _rank(engine)
    cache = get_ranking_cache(engine)
    published = cache.state
    kept = pickle.dumps((published.interactive, published.allocation))
    ids.append(make_agent(engine, "new", skills=[("python", 4), ("sql", 2)]))
    with session_scope(engine) as s:
        s.execute(sa.update(AgentSkill).where(AgentSkill.agent_id == ids[0]).values(level=5))
        s.execute(sa.update(Agent).where(Agent.id == ids[1]).values(erased_at=utcnow()))
        s.execute(sa.update(Agent).where(Agent.id.in_(ids)).values(updated_at=utcnow()))
    for _ in range(3):  # several states in a row (and the overlay merged into the matrix on the way)
        with session_scope(engine) as s:
            cache.reload(s, ids)
    assert cache.state is not published
    assert pickle.dumps((published.interactive, published.allocation)) == kept
    assert [c["agent"] for c in _rank(engine)["candidates"]] == ["a0", "a2", "new"]


def test_a_refresh_does_not_wait_for_the_kept_index_to_be_written(engine, monkeypatch):
    make_agent(engine, "a0", skills=[("python", 4)])
    make_need(engine, "n1")
    _rank(engine)
    cache = get_ranking_cache(engine)
    assert cache.store is not None
    writing, refreshed = threading.Event(), threading.Event()
    refreshed_while_writing: list[bool] = []
    save = IndexStore.save

    def slow_save(self, kept):
        writing.set()
        refreshed_while_writing.append(refreshed.wait(GUARD_S))
        return save(self, kept)

    monkeypatch.setattr(IndexStore, "save", slow_save)
    writer = threading.Thread(target=cache.save)
    writer.start()
    assert writing.wait(GUARD_S)
    make_agent(engine, "a1", skills=[("python", 5)])
    assert [c["agent"] for c in _rank(engine)["candidates"]] == ["a1", "a0"]  # a change: the refresh took the lock
    refreshed.set()
    writer.join(GUARD_S)
    assert refreshed_while_writing == [True], "the refresh waited for the file to be written"


def _merging_often(init):
    def __init__(self, *args, **kwargs):  # noqa: N807 - the wrapped constructor
        kwargs.setdefault("merge_every", 5)  # the overlay folded into the matrix every few changes, under the readers
        init(self, *args, **kwargs)

    return __init__
