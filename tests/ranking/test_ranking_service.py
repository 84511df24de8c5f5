"""The ranking service over a real database: the bridge, the cached index and its incremental refresh."""

from __future__ import annotations

import gc
import json
from datetime import date

import pytest
from factories import END, START, make_agent, make_need
from sqlmodel import select
from typer.testing import CliRunner

from profiles.models import Agent, AgentSkill, Skill
from talents.kernel.db import session_scope, utcnow
from talents.kernel.errors import NotFoundError
from talents.ranking import RankingService, get_ranking_cache, resolve_need

pytestmark = pytest.mark.integration
# Backend-independent logic: SQLite only (the PostgreSQL-specific paths are covered by the other tests).
SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"])


def _rank(engine, need_ext="n1", position=0, **kw):
    with session_scope(engine) as s:
        service = RankingService(s)
        need = resolve_need(s, need_ext)
        return service.rank(need, service.role_at(need, position), **kw)


def test_candidates_come_from_the_database_best_first_with_explanations(engine):
    make_agent(engine, "expert", skills=[("python", 5)])
    make_agent(engine, "confirme", skills=[("python", 3)])
    make_agent(engine, "debutant", skills=[("python", 2)])  # below the required level: a near miss
    make_agent(engine, "indispo", skills=[("python", 5)], windows=[(START, END, 0.4)])
    make_need(engine, "n1")
    out = _rank(engine)
    assert [c["agent"] for c in out["candidates"]] == ["expert", "confirme"]
    scores = [c["score"] for c in out["candidates"]]
    assert scores == sorted(scores, reverse=True)
    expl = out["candidates"][0]["explanation"]
    assert expl["matched"][0]["skill_id"] == "python" and expl["matched"][0]["agent_level"] == 5
    assert expl["availability"]["eligible"] is True
    near = {m["agent"]: m["reasons"] for m in out["near_misses"]}
    assert "debutant" in near and "indispo" not in [c["agent"] for c in out["candidates"]]


def test_a_profile_change_is_seen_by_the_next_ranking_without_a_rebuild(engine):
    make_agent(engine, "a", skills=[("python", 3)])
    b = make_agent(engine, "b", skills=[("python", 4)])
    make_need(engine, "n1")
    assert [c["agent"] for c in _rank(engine)["candidates"]] == ["b", "a"]
    cache = get_ranking_cache(engine)
    builds = cache.builds
    with session_scope(engine) as s:  # as the profile service does: change the row, bump updated_at
        from profiles.service import AgentService

        row = s.exec(select(AgentSkill).where(AgentSkill.agent_id == b)).one()
        row.level = 2
        s.add(row)
        AgentService(s).touch(s.get(Agent, b))
    assert [c["agent"] for c in _rank(engine)["candidates"]] == ["a"]
    assert cache.builds == builds, "an incremental refresh, not a rebuild"


def test_when_most_of_the_pool_changed_the_index_is_built_afresh_not_upserted_agent_by_agent(engine, monkeypatch):
    """An import stamps every agent again: upserting each (33 s at 100 000 agents) costs four times a build (8 s).
    A quarter of the pool changed at once (here at least two agents, instead of a thousand) rebuilds it."""
    from profiles.service import AgentService
    from talents import ranking_index

    monkeypatch.setattr(ranking_index, "REBUILD_AT_LEAST", 2)
    ids = [make_agent(engine, name, skills=[("python", 3)]) for name in ("a", "b", "c", "d", "e", "f", "g", "h")]
    make_need(engine, "n1")
    _rank(engine)
    cache = get_ranking_cache(engine)

    def lower(agent_ids: list[int], level: int) -> None:
        with session_scope(engine) as s:
            for agent_id in agent_ids:
                row = s.exec(select(AgentSkill).where(AgentSkill.agent_id == agent_id)).one()
                row.level = level
                s.add(row)
                AgentService(s).touch(s.get(Agent, agent_id))

    builds, upserts = cache.builds, cache.upserts
    lower(ids[:1], 2)  # one agent of eight: upserted
    assert [c["agent"] for c in _rank(engine)["candidates"]] == ["b", "c", "d", "e", "f", "g", "h"]
    assert (cache.builds, cache.upserts) == (builds, upserts + 1)
    lower(ids[1:6], 2)  # five of eight: built afresh, with the same answer an upsert gives
    assert [c["agent"] for c in _rank(engine)["candidates"]] == ["g", "h"]
    assert (cache.builds, cache.upserts) == (builds + 1, upserts + 1)
    assert cache.versions[ids[5]] is not None and cache.interactive.profile(str(ids[5])).skills[0].level == 2


def test_the_occupations_listed_on_the_taxonomys_skills_reach_the_ranking(engine):
    # Both hold Python, the only asked skill they have; the rest of b_dev's profile is the role's trade.
    make_agent(engine, "a_data", skills=[("python", 3), ("sql", 3), ("superset", 3)])
    make_agent(engine, "b_dev", skills=[("python", 3), ("jquery", 3), ("svelte", 3)])
    make_need(engine, "n1", roles=[{"title": "Rôle", "skills": [("python", 3, True), ("git", 3, False)]}])
    assert [c["agent"] for c in _rank(engine)["candidates"]] == ["a_data", "b_dev"]  # a tie, first in
    trades = {"python": ["dev", "data"], "jquery": ["dev"], "svelte": ["dev"], "git": ["dev"]}
    trades |= {"sql": ["data"], "superset": ["data"]}
    with session_scope(engine) as s:  # as `talents taxonomy import` leaves them
        for sid, occupations in trades.items():
            row = s.get(Skill, sid)
            row.occupations = occupations
            row.updated_at = utcnow()
            s.add(row)
    assert [c["agent"] for c in _rank(engine)["candidates"]] == ["b_dev", "a_data"]


def test_erased_and_deleted_agents_are_never_ranked_again(engine):
    a = make_agent(engine, "a", skills=[("python", 4)])
    b = make_agent(engine, "b", skills=[("python", 4)])
    make_agent(engine, "c", skills=[("python", 4)])
    make_need(engine, "n1")
    assert len(_rank(engine)["candidates"]) == 3
    from talents.kernel.db import utcnow

    with session_scope(engine) as s:
        row = s.get(Agent, a)
        row.erased_at = row.updated_at = utcnow()
        s.add(row)
        s.delete(s.get(Agent, b))
    assert [c["agent"] for c in _rank(engine)["candidates"]] == ["c"]


@SQLITE_ONLY
def test_a_dear_sweep_comes_less_often_and_a_cheap_one_every_second(engine):
    # After a bulk import every agent is within the look-back: each sweep re-reads them all. Its cost spaces it.
    import time

    from talents.ranking_index import SWEEP_S, SWEEP_SHARE

    make_agent(engine, "a", skills=[("python", 4)])
    make_need(engine, "n1")
    _rank(engine)  # builds the index
    _rank(engine)  # refreshes it, with the first sweep
    cache = get_ranking_cache(engine)
    assert 0 < cache.sweep_cost_s < SWEEP_S * SWEEP_SHARE  # a sweep ran, and it was cheap
    cache.swept_at = time.monotonic() - 2 * SWEEP_S
    assert cache._sweep_due()
    cache.sweep_cost_s = 0.5  # a sweep of half a second waits ten
    assert not cache._sweep_due()
    cache.swept_at = time.monotonic() - 0.5 / SWEEP_SHARE
    assert cache._sweep_due()


def test_an_agent_who_hides_the_profile_is_not_ranked_until_they_show_it_again(engine):
    from profiles.models import AgentUpdate
    from profiles.service import AgentService

    a = make_agent(engine, "a", skills=[("python", 4)])
    make_agent(engine, "b", skills=[("python", 4)])
    make_need(engine, "n1")
    assert {c["agent"] for c in _rank(engine)["candidates"]} == {"a", "b"}
    with session_scope(engine) as s:
        AgentService(s).update(a, AgentUpdate(visibility="private"))
    assert [c["agent"] for c in _rank(engine)["candidates"]] == ["b"]
    with session_scope(engine) as s:
        AgentService(s).update(a, AgentUpdate(visibility="public"))
    assert {c["agent"] for c in _rank(engine)["candidates"]} == {"a", "b"}


@SQLITE_ONLY
def test_an_open_proposal_holds_the_agents_time_for_leads_but_not_for_the_solver(engine):
    x = make_agent(engine, "x", skills=[("python", 4)])
    n1 = make_need(engine, "n1", priority=3)
    make_need(engine, "n2", priority=1)
    from talents.workflow.service import AssignmentService

    with session_scope(engine) as s:
        svc = AssignmentService(s)
        need = s.get(__import__("needs.models", fromlist=["Need"]).Need, n1)
        role = RankingService(s).role_at(need, 0)
        svc.propose(n1, role.id, x, "test")
    # the lead of n2 does not see x (60 % proposed elsewhere + 60 % > 100 %)...
    assert _rank(engine, "n2")["candidates"] == []
    # ...the solver does (a run may withdraw the lower-priority proposal)
    with session_scope(engine) as s:
        service = RankingService(s)
        need = resolve_need(s, "n2")
        assert set(service.scores_for(need, service.role_at(need, 0), 10)) == {x}
    # and x is a member of n1, not a candidate of it
    assert _rank(engine, "n1")["candidates"] == []


@SQLITE_ONLY
def test_need_references_are_numeric_ids_first_then_external_ids(engine):
    n = make_need(engine, "EXT-1")
    make_need(engine, str(n + 100))  # an external id that looks like a number
    with session_scope(engine) as s:
        assert resolve_need(s, str(n)).id == n
        assert resolve_need(s, "EXT-1").id == n
        assert resolve_need(s, str(n + 100)).external_id == str(n + 100)
        with pytest.raises(NotFoundError):
            resolve_need(s, "nope")


@SQLITE_ONLY
def test_team_proposal_fills_every_seat_without_taking_an_agent_twice(engine):
    for i in range(3):
        make_agent(engine, f"dev{i}", skills=[("python", 4)])
    make_agent(engine, "ux", skills=[("accessibilite-numerique", 4)] if False else [("python", 2)])
    n = make_need(engine, "team", roles=[
        {"title": "Dev", "count": 2, "share": 0.6, "skills": [("python", 3, True)]},
        {"title": "Dev bis", "count": 1, "share": 0.6, "skills": [("python", 3, True)]},
    ])
    with session_scope(engine) as s:
        out = RankingService(s).team(s.get(__import__("needs.models", fromlist=["Need"]).Need, n))
    agents = [seat["agent"] for seat in out["seats"]]
    assert len(agents) == 3 and len(set(agents)) == 3
    assert out["unfilled"] == []


@SQLITE_ONLY
def test_match_cli_prints_exactly_the_bulk_contract(engine):
    from talents.cli import app

    make_agent(engine, "expert", skills=[("python", 5)])
    make_agent(engine, "confirme", skills=[("python", 3)])
    n = make_need(engine, "N-1", roles=[
        {"title": "Autre", "share": 0.6, "skills": [("python", 5, True)]},
        {"title": "Dev", "share": 0.6, "skills": [("python", 3, True)]},
    ])
    runner = CliRunner()
    for ref in ("N-1", str(n)):
        res = runner.invoke(app, ["match", ref, "--role", "1", "--top", "5", "--json"])
        assert res.exit_code == 0, res.output
        doc = json.loads(res.stdout)
        assert isinstance(doc, list) and [d["agent"] for d in doc] == ["expert", "confirme"]
        for d in doc:
            assert set(d) == {"agent", "score", "explanation"}
            assert isinstance(d["score"], float) and isinstance(d["explanation"], dict)
    res = runner.invoke(app, ["match", "N-1", "--role", "0", "--top", "1", "--json"])
    assert [d["agent"] for d in json.loads(res.stdout)] == ["expert"]
    res = runner.invoke(app, ["match", "nope", "--json"])
    assert res.exit_code == 2
    assert gc.isenabled(), "the collector, off while the command ran, is on again after it"


@SQLITE_ONLY
def test_an_empty_pool_ranks_nobody(engine):
    make_need(engine, "n1", start=date(2027, 1, 1), end=date(2027, 1, 31))
    assert _rank(engine)["candidates"] == []
