"""Rankings kept with the published state of the index: asked again, answered without ranking again; a change
publishes a new state, and the next answer is ranked on it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from factories import make_agent, make_need
from sqlmodel import select

from needs.models import Need, RoleSkill
from profiles.models import Agent, AgentSkill
from profiles.service import AgentService
from talents.kernel.db import session_scope
from talents.kernel.errors import NotFoundError
from talents.ranking import RankingService
from talents.ranking_index import RankingMemo

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


# --------------------------------------------------------------------------- the memo alone
def _published(state: object) -> SimpleNamespace:
    return SimpleNamespace(state=state)


def test_the_memo_is_bounded_least_recently_used_first_out():
    memo, state = RankingMemo(size=2), object()
    cache = _published(state)
    computed: list[str] = []

    def answer(key: str) -> str:
        return memo.get(cache, state, key, lambda: computed.append(key) or key.upper())  # type: ignore[arg-type]

    assert [answer("a"), answer("b"), answer("a")] == ["A", "B", "A"] and computed == ["a", "b"]
    answer("c")  # "b" is the least recently used
    answer("a")
    answer("b")
    assert computed == ["a", "b", "c", "b"]


def test_the_memo_keeps_answers_of_the_published_state_only():
    memo, old, new = RankingMemo(size=8), object(), object()
    cache = _published(old)
    computed: list[object] = []

    def answer(state: object) -> object:
        return memo.get(cache, state, "k", lambda: computed.append(state) or state)  # type: ignore[arg-type]

    answer(old)
    answer(old)
    cache.state = new  # a change was published
    assert answer(new) is new and answer(new) is new
    assert answer(old) is old and answer(old) is old, "a ranking still on the old state is answered on it"
    assert computed == [old, new, old, old], "but not kept"
