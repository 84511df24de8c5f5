"""A request's rankings may lag on others' profile edits (``ranking_lag_s``), never on the caller's own writes nor
on who a need leaves out and its seats taken."""

from __future__ import annotations

import asyncio
import time

import pytest
from factories import make_agent, make_need
from sqlmodel import select

from matching.ranking import CandidateIndex
from profiles.models import Agent, AgentSkill
from profiles.service import AgentService
from talents import ranking_index
from talents.auth.testing import issue_token
from talents.kernel.db import session_scope
from talents.kernel.settings import get_settings
from talents.ranking import get_ranking_cache
from talents.ranking_index import RankingReader

pytestmark = pytest.mark.integration

LEAD = "porteur@numerique.gouv.fr"


def _lower_level(engine, agent_id: int, level: int) -> None:
    with session_scope(engine) as s:  # as the profile service does: change the row, bump updated_at
        row = s.exec(select(AgentSkill).where(AgentSkill.agent_id == agent_id)).one()
        row.level = level
        s.add(row)
        AgentService(s).touch(s.get(Agent, agent_id))


def test_a_state_known_up_to_date_within_the_lag_is_ranked_on_without_looking_at_the_stamps(engine):
    b = make_agent(engine, "b", skills=[("python", 4)])
    cache = get_ranking_cache(engine)
    with session_scope(engine) as s:
        first = cache.current(s)
    _lower_level(engine, b, 2)
    with session_scope(engine) as s:
        assert cache.current(s, lag_s=60) is first, "known up to date a moment ago: not looked at again"
        fresh = cache.current(s, lag_s=0)
    assert fresh is not first and fresh.seq > first.seq
    assert fresh.interactive.profile(str(b)).skills[0].level == 2
    time.sleep(0.05)
    with session_scope(engine) as s:
        assert cache.current(s, lag_s=0.01) is fresh, "nothing changed: the same state, looked at again"


def _names(client, need_id: int, headers: dict[str, str]) -> list[str]:
    r = client.get(f"/api/v1/needs/{need_id}/roles/0/candidates?top=5", headers=headers)
    assert r.status_code == 200, r.text
    return [c["agent"] for c in r.json()["candidates"]]


def _headers(engine, email: str, *roles: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(engine, email, *roles)}"}


def test_a_lead_sees_anothers_edit_within_the_lag_and_the_callers_own_edit_at_once(client, engine, others_edits_seen):
    a = make_agent(engine, "a", skills=[("python", 3)])
    make_agent(engine, "b", skills=[("python", 4)])
    n = make_need(engine, "n1", lead_email=LEAD)
    lead, admin = _headers(engine, LEAD, "lead"), _headers(engine, "admin@numerique.gouv.fr", "admin")
    others_edits_seen()
    assert _names(client, n, lead) == ["b", "a"]

    row = client.get(f"/api/v1/agents/{a}/skills", headers=admin).json()[0]
    edited = client.patch(f"/api/v1/agents/{a}/skills/{row['id']}", json={"level": 5}, headers=admin)
    assert edited.status_code == 200, edited.text
    # The lead's ranking just before made the index known up to date: the admin's own edit is seen at once all
    # the same.
    assert _names(client, n, admin) == ["a", "b"]
    deadline = time.monotonic() + get_settings().matching.ranking_lag_s + 1.0
    while _names(client, n, lead) != ["a", "b"]:
        assert time.monotonic() < deadline, "another's edit not seen by the lead within the lag"
        time.sleep(0.05)


def test_who_a_need_leaves_out_is_read_at_the_time_of_the_ranking(client, engine, others_edits_seen):
    make_agent(engine, "a", skills=[("python", 3)])
    b = make_agent(engine, "b", skills=[("python", 4)])
    n = make_need(engine, "n1", lead_email=LEAD)
    lead, admin = _headers(engine, LEAD, "lead"), _headers(engine, "admin@numerique.gouv.fr", "admin")
    others_edits_seen()
    assert _names(client, n, lead) == ["b", "a"]
    proposed = client.post("/api/v1/assignments", json={"need_id": n, "role": 0, "agent_id": b,
                                                         "reason": "Profil proche du besoin"}, headers=admin)
    assert proposed.status_code in (200, 201), proposed.text
    # Not the lead's write, and made a moment after the lead's ranking: the proposed agent is gone at once.
    assert _names(client, n, lead) == ["a"]


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


@pytest.mark.parametrize("backend", ["sqlite"])  # a SQLite read is the one tried on the event loop
def test_a_kept_ranking_is_answered_on_the_event_loop_and_one_ranked_afresh_in_a_thread(
        client, engine, others_edits_seen, monkeypatch):
    make_agent(engine, "a", skills=[("python", 3)])
    n = make_need(engine, "n1", lead_email=LEAD)
    lead = _headers(engine, LEAD, "lead")
    # no periodic sweep between the two calls, however slow the machine (a sweep due is a writer's job: a thread)
    monkeypatch.setattr(ranking_index, "SWEEP_S", 3600.0)
    ranked, laid_out = [], []  # for each call: whether it ran on the event loop's thread
    rank, lay_out = CandidateIndex.rank, RankingReader._laid_out
    monkeypatch.setattr(CandidateIndex, "rank", lambda self, *a, **k: (ranked.append(_on_event_loop()),
                                                                       rank(self, *a, **k))[1])
    monkeypatch.setattr(RankingReader, "_laid_out", lambda self, *a, **k: (laid_out.append(_on_event_loop()),
                                                                           lay_out(self, *a, **k))[1])
    others_edits_seen()
    assert _names(client, n, lead) == ["a"]
    assert ranked == [False] and laid_out == [False], "ranked afresh: in a thread, the loop never waits for it"
    assert _names(client, n, lead) == ["a"]
    assert ranked == [False] and laid_out == [False, True], "kept: answered at once, on the event loop"


def test_a_hand_proposal_scores_the_agent_as_they_are_now_on_an_index_that_lags(engine, monkeypatch):
    """The score of a hand proposal decides whether a written reason is needed: the agent's profile is read in the
    proposal's transaction, while the index it is scored on may lag (no refresh waits for the proposal)."""
    from needs.models import Need
    from talents.workflow.proposals import Proposals

    grower = make_agent(engine, "grower", skills=[("python", 1)])
    n = make_need(engine, "n1", lead_email=LEAD)
    monkeypatch.setattr(get_settings().matching, "ranking_lag_s", 2.0)
    cache = get_ranking_cache(engine)
    with session_scope(engine) as s:
        stale = cache.current(s)
        need = s.get(Need, n)
        role = Proposals(s).role_at(n, 0)
        low, _ = Proposals(s).score(need, role, grower)
    _lower_level(engine, grower, 5)  # (raised, here)
    with session_scope(engine) as s:
        need = s.get(Need, n)
        score, explanation = Proposals(s).score(need, Proposals(s).role_at(n, 0), grower)
        assert cache.current(s, lag_s=2.0) is stale, "the index still lags on the edit"
    assert stale.interactive.profile(str(grower)).skills[0].level == 1
    assert score > low and [m["agent_level"] for m in explanation["matched"]] == [5]


def test_a_ranking_that_may_lag_does_not_wait_for_another_threads_refresh(engine):
    """While one thread brings the index up to date (its lock held), a ranking allowed to lag is ranked on the
    state known up to date a moment ago (twice its lag at most) instead of queueing behind the refresh; one that
    may not lag, or whose state is older than that, waits for it."""
    import threading

    b = make_agent(engine, "b", skills=[("python", 4)])
    cache = get_ranking_cache(engine)
    with session_scope(engine) as s:
        first = cache.current(s)
    _lower_level(engine, b, 2)
    refreshing, release = threading.Event(), threading.Event()

    def hold_the_lock() -> None:
        with cache.lock:  # as a refresh in progress does
            refreshing.set()
            release.wait(10)

    other = threading.Thread(target=hold_the_lock)
    other.start()
    refreshing.wait(5)
    try:
        cache.checked_at = time.monotonic() - 1.5  # known up to date 1.5 s ago: past a lag of 1 s, within twice it
        with session_scope(engine) as s:
            assert cache.current(s, lag_s=1.0) is first, "a refresh under way: the recent state, at once"
        cache.checked_at = time.monotonic() - 2.5
        stale: list[object] = []
        older = threading.Thread(target=lambda: stale.append(_current(engine, cache, lag_s=1.0)))
        older.start()
        older.join(0.3)
        assert older.is_alive() and not stale, "known up to date longer ago than twice the lag: it waits"
        answers: list[object] = []
        waiting = threading.Thread(target=lambda: answers.append(_current(engine, cache, lag_s=0)))
        waiting.start()
        waiting.join(0.3)
        assert waiting.is_alive() and not answers, "no lag allowed: it waits for the refresh"
    finally:
        release.set()
        other.join(5)
    waiting.join(10)
    older.join(10)
    assert answers and answers[0] is not first, "once the lock is free, brought up to date"
    assert stale and stale[0] is not first
    assert answers[0].interactive.profile(str(b)).skills[0].level == 2


def _current(engine, cache, lag_s: float):
    with session_scope(engine) as s:
        return cache.current(s, lag_s=lag_s)
