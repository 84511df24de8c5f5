"""Rankings kept with the published state of the index: asked again, answered without ranking again; a change
publishes a new state, and the next answer is ranked on it."""

from __future__ import annotations

import pytest
from factories import make_agent, make_need
from sqlmodel import select
from wfhelpers import LEAD_P

from needs.models import Need, RoleSkill
from profiles.models import Agent, AgentSkill
from profiles.service import AgentService
from talents.kernel.db import session_scope
from talents.kernel.errors import NotFoundError
from talents.ranking import RankingService
from talents.ranking_index import IndexState, RankingCache, RankingMemo
from talents.workflow.service import AssignmentService

pytestmark = pytest.mark.integration
SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"])

ROLES = [
    {"title": "Dev", "share": 0.6, "skills": [("python", 3, True)]},
    {"title": "Sans compétence", "share": 0.6, "skills": []},
]


def _rank_at(engine, need_id: int, position: int = 0, **kw):
    with session_scope(engine, read_only=True) as s:
        return RankingService(s).rank_at(need_id, position, **kw)


def test_a_role_asked_again_on_the_same_state_is_not_ranked_again_and_a_change_is_seen(engine, ranks):
    make_agent(engine, "a", skills=[("python", 3)])
    b = make_agent(engine, "b", skills=[("python", 4)])
    n = make_need(engine, "n1")
    first = _rank_at(engine, n)
    assert [c["agent"] for c in first["candidates"]] == ["b", "a"]
    assert _rank_at(engine, n) == first and len(ranks) == 1, "the second answer was kept"
    assert _rank_at(engine, n, top=1)["candidates"] == first["candidates"][:1] and len(ranks) == 2, \
        "another question is another entry"
    with session_scope(engine) as s:  # as the profile service does: change the row, stamp the agent
        row = s.exec(select(AgentSkill).where(AgentSkill.agent_id == b)).one()
        row.level = 2
        s.add(row)
        AgentService(s).touch(s.get(Agent, b))
    assert [c["agent"] for c in _rank_at(engine, n)["candidates"]] == ["a"], "a new state, ranked again"


def test_a_change_to_the_role_is_a_new_question(engine, ranks):
    make_agent(engine, "a", skills=[("python", 3)])
    n = make_need(engine, "n1")
    assert [c["agent"] for c in _rank_at(engine, n)["candidates"]] == ["a"]
    with session_scope(engine) as s:
        s.exec(select(RoleSkill)).one().level = 4  # no agent changed: the same state of the index
    assert _rank_at(engine, n)["candidates"] == [] and len(ranks) == 2


def test_rank_at_reads_the_need_its_role_and_skills_in_one_query_as_rank_does(engine):
    make_agent(engine, "a", skills=[("python", 3)])
    n = make_need(engine, "n1", roles=ROLES)
    with session_scope(engine, read_only=True) as s:
        service = RankingService(s)
        need = s.get(Need, n)
        for position in (0, 1):
            assert service.rank_at(n, position) == service.rank(need, service.role_at(need, position))
        with pytest.raises(NotFoundError) as missing_role:
            service.rank_at(n, 2)
        assert missing_role.value.field == "role"
        with pytest.raises(NotFoundError) as missing_need:
            service.rank_at(n + 1000, 0)
        assert missing_need.value.field == "need_id"


@SQLITE_ONLY
def test_a_need_page_asked_again_ranks_nothing(engine, ranks):
    for i in range(4):
        make_agent(engine, f"dev{i}", skills=[("python", 2 + i)])
    n = make_need(engine, "n1", roles=ROLES)
    with session_scope(engine, read_only=True) as s:
        first = RankingService(s).need_view(s.get(Need, n))
    count = len(ranks)
    with session_scope(engine, read_only=True) as s:
        assert RankingService(s).need_view(s.get(Need, n)) == first
    assert len(ranks) == count


TWO_ROLES = [
    {"title": "Dev", "share": 0.6, "skills": [("python", 3, True)]},
    {"title": "Données", "share": 0.6, "skills": [("sql", 3, True)]},
]


@SQLITE_ONLY
def test_a_proposal_on_one_role_leaves_the_other_roles_rankings_kept_and_mends_the_one_it_shows(engine, ranks):
    make_agent(engine, "a", skills=[("python", 3)])
    b = make_agent(engine, "b", skills=[("python", 4)])
    make_agent(engine, "c", skills=[("sql", 3)])
    make_agent(engine, "d", skills=[("sql", 4)])
    n = make_need(engine, "n1", roles=TWO_ROLES)
    data = _rank_at(engine, n, 1)
    assert [c["agent"] for c in data["candidates"]] == ["d", "c"]
    assert [c["agent"] for c in _rank_at(engine, n, 0)["candidates"]] == ["b", "a"]
    with session_scope(engine, read_only=True) as s:
        page = RankingService(s).need_view(s.get(Need, n))
        memo = RankingService(s).cache.memo
    with session_scope(engine) as s:  # b, shown for "Dev" only, is proposed: the need now leaves b out
        AssignmentService(s).propose_manual(LEAD_P, n, 0, b)
    count, mended = len(ranks), memo.mended
    assert _rank_at(engine, n, 1) == data and len(ranks) == count, "b was not shown for « Données »: kept"
    dev = _rank_at(engine, n, 0)
    assert [c["agent"] for c in dev["candidates"]] == ["a"], "b is left out"
    assert len(ranks) == count and memo.mended == mended + 1, "b was shown: taken out of the kept ranking, not ranked"
    with session_scope(engine, read_only=True) as s:
        after = RankingService(s).need_view(s.get(Need, n))
    assert after[0][1] == page[0][1], "the page's « Données » ranking is the same"
    assert [c["agent"] for c in after[0][0]["candidates"]] == ["a"]
    assert len(ranks) == count and memo.mended == mended + 2, "and the page's « Dev » ranking mended too"
    with session_scope(engine, read_only=True) as s:  # the same answers as ranking afresh on the same data
        fresh = RankingService(s)
        fresh.cache.memo._entries.clear()
        assert fresh.rank_at(n, 1) == data
        again = fresh.need_view(s.get(Need, n))
    assert len(ranks) == count + 3
    # but ``examined``: a mended ranking counts the agents examined when it was ranked (b, then a)
    assert (again[0][0]["examined"], after[0][0]["examined"]) == (1, 2)
    again[0][0]["examined"] = after[0][0]["examined"]
    assert again == after


# --------------------------------------------------------------------------- the memo alone
def _cache() -> RankingCache:
    cache = RankingCache()
    cache._publish(IndexState(None, None, (), None), None)  # type: ignore[arg-type]
    return cache


def _next(cache: RankingCache, changed: set[str] | None) -> IndexState:
    """Publish a next state that changed these agents (``None``: rebuilt)."""
    state = IndexState(None, None, (), None)  # type: ignore[arg-type]
    cache._publish(state, changed)
    return state


def test_the_memo_is_bounded_least_recently_used_first_out():
    memo, cache = RankingMemo(size=2), _cache()
    computed: list[str] = []

    def answer(key: str) -> str:
        return memo.get(cache, cache.state, key, lambda: computed.append(key) or key.upper())  # type: ignore[arg-type]

    assert [answer("a"), answer("b"), answer("a")] == ["A", "B", "A"] and computed == ["a", "b"]
    answer("c")  # "b" is the least recently used
    answer("a")
    answer("b")
    assert computed == ["a", "b", "c", "b"]


def test_an_answer_without_a_check_is_computed_again_on_a_later_state_and_an_older_one_never_replaces_it():
    memo, cache = RankingMemo(size=8), _cache()
    old = cache.state
    computed: list[int] = []

    def answer(state: IndexState) -> int:
        return memo.get(cache, state, "k", lambda: computed.append(state.seq) or state.seq)

    assert answer(old) == answer(old) == old.seq
    new = _next(cache, {"7"})
    assert answer(new) == answer(new) == new.seq
    assert answer(old) == old.seq, "a ranking still on the old state is answered on it"
    assert answer(new) == new.seq and computed == [old.seq, new.seq, old.seq], "and the newer answer is kept"


def test_an_answer_is_given_again_on_a_later_state_while_its_check_says_it_holds():
    memo, cache = RankingMemo(size=8, carry_s=60), _cache()
    asked: list[frozenset[str]] = []
    verdict = {"holds": True}
    computed: list[int] = []

    def answer() -> int:
        state = cache.state
        return memo.get(cache, state, "k", lambda: computed.append(state.seq) or state.seq,
                        holds=lambda value, on, changed, young: asked.append(changed) or (
                            value if verdict["holds"] else None))

    first = answer()
    _next(cache, {"1"})
    _next(cache, {"2", "3"})
    assert answer() == first and asked == [{"1", "2", "3"}], "checked against every agent changed since"
    assert answer() == first and len(asked) == 1, "and kept as holding on the new state"
    _next(cache, {"4"})
    verdict["holds"] = False
    assert answer() == cache.state.seq and asked[-1] == {"4"} and len(computed) == 2
    assert (memo.kept, memo.carried, memo.computed) == (1, 1, 2), "as /metrics reports them"


def test_an_answer_mended_on_a_later_state_is_given_and_kept_as_old_as_what_it_was_mended_from():
    memo, cache = RankingMemo(size=8, carry_s=60), _cache()
    young: list[bool] = []

    def answer(mend: bool = True) -> tuple[int, ...]:
        state = cache.state
        return memo.get(cache, state, "k", lambda: (state.seq,),
                        holds=lambda value, on, changed, is_young: young.append(is_young) or (
                            (*value, on.seq) if mend else value))

    first = answer()
    _next(cache, {"1"})
    mended = answer()
    assert mended == (*first, cache.state.seq) and (memo.carried, memo.mended, memo.computed) == (0, 1, 1)
    assert answer() == mended and memo.kept == 1, "kept as mended on its state"
    memo._entries["k"].made_at -= 61
    _next(cache, {"2"})
    assert answer(mend=False) == mended and young[-1] is False, "as old as the ranking it was mended from"
    assert (memo.kept, memo.carried, memo.mended, memo.computed) == (1, 1, 1, 1)


def test_an_answer_for_other_agents_left_out_is_checked_against_those_let_in_or_left_out_since():
    memo, cache = RankingMemo(size=8, carry_s=60), _cache()
    asked: list[frozenset[str]] = []
    computed: list[frozenset[str]] = []

    def answer(left_out: set[str], holds: bool = True) -> frozenset[str]:
        out = frozenset(left_out)
        return memo.get(cache, cache.state, "k", lambda: computed.append(out) or out,
                        holds=lambda value, on, changed, young: asked.append(changed) or (value if holds else None),
                        left_out=out)

    assert answer({"1", "2"}) == {"1", "2"}
    assert answer({"1", "2"}) == {"1", "2"} and asked == [], "the same state, the same left out: as it is"
    assert answer({"2", "3"}) == {"1", "2"} and asked == [{"1", "3"}], "others left out: checked, on the same state"
    _next(cache, {"9"})
    assert answer({"2", "3"}) == {"1", "2"} and asked[-1] == {"9"}, "kept as holding with {2, 3} left out"
    assert answer({"2"}, holds=False) == {"2"} and asked[-1] == {"3"} and computed == [{"1", "2"}, {"2"}]


def test_past_its_time_an_answer_is_checked_as_old_and_nothing_is_carried_across_a_rebuild_nor_when_turned_off(
        monkeypatch):
    cache, memo, clock = _cache(), RankingMemo(size=8, carry_s=10), [100.0]
    monkeypatch.setattr("talents.ranking_index.time.monotonic", lambda: clock[0])
    young: list[bool] = []

    def checked() -> int:
        state = cache.state
        return memo.get(cache, state, "k", lambda: state.seq, holds=lambda *a: young.append(a[3]) or a[0])

    first = checked()
    _next(cache, {"1"})
    clock[0] += 5
    assert checked() == first and young == [True]
    _next(cache, {"2"})
    clock[0] += 6  # 11 s after it was computed: its rarity weights must not have moved (the check says it did not)
    assert checked() == first and young == [True, False]
    for memo, publish in ((RankingMemo(size=8, carry_s=60), None), (RankingMemo(size=8, carry_s=0), {"1"})):
        asked: list[frozenset[str]] = []

        def answer(memo: RankingMemo = memo, asked: list = asked) -> int:
            state = cache.state
            return memo.get(cache, state, "k", lambda: state.seq, holds=lambda *a: asked.append(a[2]) or a[0])

        first = answer()
        _next(cache, publish)
        assert answer() == cache.state.seq != first and asked == []


def test_the_change_log_answers_only_what_it_knows():
    cache = _cache()
    start = cache.state.seq
    _next(cache, {"a"})
    _next(cache, {"b"})
    mid = cache.state.seq
    _next(cache, {"c"})
    assert cache.changed_between(start, cache.state.seq) == {"a", "b", "c"}
    assert cache.changed_between(mid, cache.state.seq) == {"c"}
    assert cache.changed_between(mid, mid) == frozenset()
    assert cache.changed_between(start, cache.state.seq, at_most=2) is None, "too many: ranking again is cheaper"
    _next(cache, None)
    assert cache.changed_between(mid, cache.state.seq) is None, "a rebuild between"
