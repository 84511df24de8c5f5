"""A need's page: every role ranked once, and the team proposal built from those same rankings."""

from __future__ import annotations

import pytest
from factories import make_agent, make_need

from needs.models import Need
from talents.kernel.db import session_scope
from talents.ranking import RankingService

pytestmark = pytest.mark.integration

ROLES = [
    {"title": "Dev", "count": 2, "share": 0.6, "skills": [("python", 3, True)]},
    {"title": "Dev bis", "count": 1, "share": 0.6, "skills": [("python", 2, True)]},
    {"title": "Données", "count": 1, "share": 0.6, "skills": [("sql", 2, False), ("python", 2, False)]},
]


def test_the_page_ranks_each_role_once_and_shows_what_rank_and_team_give(engine, ranks):
    for i in range(30):  # more candidates than a page shows: the team's deeper rankings are cut for the page
        make_agent(engine, f"dev{i:02}", skills=[("python", 2 + i % 4), ("sql", 1 + i % 5)])
    n = make_need(engine, "team", roles=ROLES)
    with session_scope(engine) as s:
        service = RankingService(s)
        need = s.get(Need, n)
        alone = {r.position: service.rank(need, r, top=10, near_misses=5) for r in service.roles(need)}
        team_alone = service.team(need)
    calls = ranks
    calls.clear()  # from here: the page's own rankings
    with session_scope(engine) as s:
        ranked, team = RankingService(s).need_view(s.get(Need, n), top=10, near_misses=5)
    assert len(calls) == len(ROLES) == len(set(calls)), "one ranking of each role"
    assert [len(r["candidates"]) for r in ranked.values()] == [10, 10, 10]
    assert {p: r["candidates"] for p, r in ranked.items()} == {p: r["candidates"] for p, r in alone.items()}
    assert team == team_alone and len(team["seats"]) == 4 and team["unfilled"] == []


def test_the_page_never_shows_a_deleted_agent_and_checks_only_who_it_shows(engine, monkeypatch):
    from profiles.models import Agent
    from talents import ranking_index
    from talents.ranking_index import RankingCache

    monkeypatch.setattr(ranking_index, "SWEEP_S", 1e12)  # no sweep finds the deletion: the page's check must
    for i in range(30):
        make_agent(engine, f"dev{i:02}", skills=[("python", 2 + i % 4), ("sql", 1 + i % 5)])
    n = make_need(engine, "team", roles=ROLES)

    def page() -> tuple[dict, dict]:
        with session_scope(engine) as s:
            return RankingService(s).need_view(s.get(Need, n), top=3, near_misses=1)

    page()  # builds the index; the next brings it up to date, with its first sweep: none due after it
    ranked, team = page()
    first = ranked[0]["candidates"][0]["agent_id"]
    checked: list[set[int]] = []
    drop_gone = RankingCache.drop_gone
    monkeypatch.setattr(RankingCache, "drop_gone",
                        lambda self, session, ids: (checked.append(set(ids)), drop_gone(self, session, ids))[1])
    with session_scope(engine) as s:
        s.delete(s.get(Agent, first))
    ranked, team = page()
    shown = {c["agent_id"] for r in ranked.values() for c in (*r["candidates"], *r["near_misses"])}
    seated = {seat["agent_id"] for seat in team["seats"]}
    assert first not in shown | seated and len(ranked[0]["candidates"]) == 3
    assert checked[-1] == shown | seated, "the last check is of who the page shows, not of the deeper rankings"
    assert len(checked) == 2 and first in checked[0], "the deleted agent was found by the check, then ranked without"
