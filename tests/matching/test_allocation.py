"""Hand-made cases pinning each rule of the allocation solver."""

from __future__ import annotations

import json
import time
from datetime import date, timedelta

import pytest

import matching.allocation as allocation
from matching.allocation import (
    AgentCapacity,
    AllocationSettings,
    OpenProposal,
    OpenRole,
    allocate,
)
from matching.types import AvailabilityWindow as W
from matching.types import Commitment as C

pytestmark = pytest.mark.unit

D0 = date(2027, 1, 1)


def d(n: int) -> date:
    return D0 + timedelta(days=n)


def agent(agent_id: str, share: float = 1.0, commitments=(), need_ids=frozenset()) -> AgentCapacity:
    return AgentCapacity(agent_id, (W(d(0), d(364), share),), tuple(commitments), frozenset(need_ids))


def role(role_id, cands, prio=1, seats=1, share=0.6, start=0, end=59, need=None) -> OpenRole:
    return OpenRole(role_id, need or f"n-{role_id}", prio, seats, share, d(start), d(end), cands)


def pairs(res) -> set[tuple[str, str]]:
    return {(a.role_id, a.agent_id) for a in res.assignments}


S = AllocationSettings(time_budget_s=5.0)


def test_a_contested_agent_goes_to_the_higher_priority_role():
    res = allocate(
        [role("low", {"a": 0.99}, prio=3), role("high", {"a": 0.4}, prio=1)],
        [agent("a")],
        settings=S,
    )
    assert pairs(res) == {("high", "a")}
    (unfilled,) = res.unfilled
    assert (unfilled.role_id, unfilled.reason, unfilled.by_role_ids) == (
        "low",
        "taken_by_higher_priority",
        ("high",),
    )


def test_declared_availability_caps_the_agent():
    res = allocate([role("r", {"a": 0.9}, share=0.8)], [agent("a", share=0.6)], settings=S)
    assert res.assignments == []
    assert res.unfilled[0].reason == "not_available"


def test_a_fixed_commitment_on_part_of_the_period_makes_the_agent_ineligible():
    res = allocate([role("r", {"a": 0.9}, share=0.6)], [agent("a", commitments=[C(d(30), d(31), 0.5)])], settings=S)
    assert res.assignments == []
    assert res.unfilled[0].reason == "not_available"


def test_overlapping_roles_cannot_share_an_agent_but_successive_roles_can():
    res = allocate(
        [role("r1", {"a": 0.9}, start=0, end=30), role("r2", {"a": 0.9}, start=20, end=50)],
        [agent("a")],
        settings=S,
    )
    assert len(res.assignments) == 1
    res = allocate(
        [role("r1", {"a": 0.9}, start=0, end=30), role("r2", {"a": 0.9}, start=31, end=50)],
        [agent("a")],
        settings=S,
    )
    assert pairs(res) == {("r1", "a"), ("r2", "a")}


def test_below_a_lowered_floor_overlapping_shares_add_up_to_the_free_share():
    settings = AllocationSettings(time_budget_s=5.0, floor=0.3)
    roles = [role(f"r{i}", {"a": 0.9}, share=0.4) for i in range(3)]
    res = allocate(roles, [agent("a")], settings=settings)
    assert len(res.assignments) == 2  # 0.4 + 0.4 ≤ 1.0 < 0.4 × 3


def test_an_agent_is_never_twice_in_the_same_need():
    roles = [role("dev", {"a": 0.9}, need="n"), role("ops", {"a": 0.9}, need="n", start=100, end=120)]
    res = allocate(roles, [agent("a")], settings=S)
    assert len(res.assignments) == 1
    res = allocate([role("dev", {"a": 0.9}, need="n")], [agent("a", need_ids={"n"})], settings=S)
    assert res.assignments == []


def test_only_listed_candidates_at_or_above_the_threshold_are_used():
    res = allocate(
        [role("r", {"a": 0.29, "ghost": 0.9}, seats=2)],
        [agent("a"), agent("b")],
        settings=AllocationSettings(min_score=0.3),
    )
    assert res.assignments == []
    assert res.unfilled[0].reason == "not_available"  # "ghost" has no capacity data
    res = allocate([role("r", {"a": 0.29})], [agent("a")], settings=AllocationSettings(min_score=0.3))
    assert res.unfilled[0].reason == "below_threshold"


def test_unfilled_reasons_cover_empty_lists_and_shares_at_the_floor():
    res = allocate([role("none", {}), role("floor", {"a": 0.9}, share=0.5)], [agent("a")], settings=S)
    assert {u.role_id: u.reason for u in res.unfilled} == {
        "none": "no_candidate",
        "floor": "share_not_above_floor",
    }


def test_seats_are_filled_first_then_score():
    # Score alone would give "a" to r2 (1.0 > 0.35 + 0.35); seats first gives both roles a member.
    roles = [role("r1", {"a": 0.35}), role("r2", {"a": 1.0, "b": 0.35})]
    res = allocate(roles, [agent("a"), agent("b")], settings=S)
    assert pairs(res) == {("r1", "a"), ("r2", "b")}
    assert res.status == "optimal"


def test_a_lower_priority_proposal_is_withdrawn_for_a_higher_priority_role():
    roles = [role("p3", {"a": 0.9}, prio=3), role("p1", {"a": 0.9}, prio=1)]
    res = allocate(roles, [agent("a")], [OpenProposal("p3", "a")], settings=S)
    assert pairs(res) == {("p1", "a")}
    (w,) = res.withdrawn
    assert (w.role_id, w.agent_id, w.reason, w.by_role_ids) == ("p3", "a", "higher_priority", ("p1",))


def test_an_open_proposal_stays_against_a_better_candidate_of_the_same_or_lower_priority():
    roles = [role("r", {"a": 0.95, "b": 0.5}, prio=2), role("low", {"b": 0.99}, prio=3)]
    res = allocate(roles, [agent("a"), agent("b")], [OpenProposal("r", "b")], settings=S)
    assert ("r", "b") in pairs(res)
    assert res.withdrawn == []
    assert next(a for a in res.assignments if a.agent_id == "b").kept


def test_an_open_proposal_no_longer_good_enough_is_withdrawn_with_its_reason():
    res = allocate([role("r", {"a": 0.1})], [agent("a")], [OpenProposal("r", "a"), OpenProposal("gone", "a")])
    assert {(w.role_id, w.reason) for w in res.withdrawn} == {
        ("r", "below_threshold"),
        ("gone", "role_closed"),
    }


def test_stickiness_steers_a_higher_tier_away_from_agents_holding_proposals():
    roles = [role("p1", {"a": 0.80, "c": 0.79}, prio=1), role("p3", {"a": 0.9}, prio=3)]
    agents = [agent("a"), agent("c")]
    res = allocate(roles, agents, [OpenProposal("p3", "a")], settings=S)
    assert pairs(res) == {("p1", "c"), ("p3", "a")}
    res = allocate(roles, agents, [OpenProposal("p3", "a")], settings=AllocationSettings(stickiness=0.0))
    assert pairs(res) == {("p1", "a")}
    assert res.withdrawn[0].reason == "higher_priority"


def test_ties_go_to_the_less_loaded_agent():
    busy = agent("busy", commitments=[C(d(0), d(59), 0.2)])
    res = allocate([role("r", {"busy": 0.7, "idle": 0.7})], [busy, agent("idle")], settings=S)
    assert pairs(res) == {("r", "idle")}


def test_capacity_rows_follow_elementary_intervals_not_days():
    roles = [role(f"r{i}", {"a": 0.9, "b": 0.8}, start=i * 10, end=300 + i) for i in range(5)]
    res = allocate(roles, [agent("a"), agent("b")], settings=S)
    assert len(res.assignments) == 2
    assert res.tiers[1].rows <= 7  # one clique per agent plus five role rows, not ~300 days × 2 agents


def test_result_is_json_friendly():
    res = allocate([role("r", {"a": 0.9})], [agent("a")], settings=S)
    doc = json.loads(json.dumps(res.to_dict()))
    assert doc["assignments"][0]["agent_id"] == "a"
    assert doc["tiers"]["1"]["seats_filled"] == 1
    assert doc["bound"] >= doc["objective"]


def test_exact_is_not_worse_than_greedy_and_not_above_the_bound():
    roles = [role("r1", {"a": 0.35}), role("r2", {"a": 1.0, "b": 0.35})]
    agents = [agent("a"), agent("b")]
    greedy = allocate(roles, agents, settings=AllocationSettings(exact=False))
    exact = allocate(roles, agents, settings=S)
    assert greedy.tiers[1].seats_filled == 1  # greedy by score takes a for r2 first
    assert exact.tiers[1].seats_filled == 2
    assert exact.objective <= exact.bound + 1e-9


def _sleeping_child(p, conn, deadline):
    time.sleep(60)


def test_a_stuck_exact_solver_is_stopped_at_the_budget_and_greedy_answers(monkeypatch):
    monkeypatch.setattr(allocation, "_child", _sleeping_child)
    roles = [role("r1", {"a": 0.9, "b": 0.8}, seats=2), role("r2", {"a": 0.5}, prio=2)]
    t = time.monotonic()
    res = allocate(roles, [agent("a"), agent("b")], settings=AllocationSettings(time_budget_s=0.5))
    assert time.monotonic() - t < 0.5 + 0.3
    assert res.status == "greedy"
    assert pairs(res) == {("r1", "a"), ("r1", "b")}


def test_seats_left_by_a_short_top_k_are_filled_before_lower_tiers_choose():
    roles = [role("r1", {"a": 0.9, "b": 0.8}, seats=2), role("r2", {"b": 0.9}, prio=2)]
    res = allocate(roles, [agent("a"), agent("b")], settings=AllocationSettings(top_k=1))
    assert pairs(res) == {("r1", "a"), ("r1", "b")}
    assert res.tiers[1].beyond_top_k == 1


def test_a_proposal_on_a_role_without_open_seats_is_withdrawn_as_seats_reduced():
    res = allocate([role("r", {"a": 0.9}, seats=0)], [agent("a")], [OpenProposal("r", "a")], settings=S)
    assert [(w.role_id, w.reason) for w in res.withdrawn] == [("r", "seats_reduced")]


def test_a_proposal_on_a_role_at_the_floor_is_not_kept():
    res = allocate([role("r", {"a": 0.9}, share=0.5)], [agent("a")], [OpenProposal("r", "a")], settings=S)
    assert res.assignments == []
    assert [(w.role_id, w.reason) for w in res.withdrawn] == [("r", "not_available")]


def test_the_exact_child_also_runs_under_spawn():
    roles = [role("r1", {"a": 0.35}), role("r2", {"a": 1.0, "b": 0.35})]
    res = allocate(roles, [agent("a"), agent("b")], settings=AllocationSettings(time_budget_s=20, start_method="spawn"))
    assert res.status == "optimal"
    assert pairs(res) == {("r1", "a"), ("r2", "b")}
