"""Property tests of the allocation solver on random small instances, checked day by day."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import replace
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.allocation import make_instance
from matching.allocation import (
    AgentCapacity,
    AllocationResult,
    AllocationSettings,
    OpenProposal,
    OpenRole,
    allocate,
)
from matching.types import AvailabilityWindow, Commitment

pytestmark = pytest.mark.unit

D0 = date(2027, 1, 1)
TOL = 1e-9
ALLOWED_WITHDRAWALS = {"higher_priority", "below_threshold", "not_candidate", "not_available", "role_closed"}


def day(n: int) -> date:
    return D0 + timedelta(days=n)


@st.composite
def periods(draw, horizon: int = 40) -> tuple[date, date]:
    s = draw(st.integers(0, horizon - 1))
    e = draw(st.integers(s, min(horizon, s + 25)))
    return day(s), day(e)


@st.composite
def instances(draw):
    """Up to 6 agents and 7 roles over 40 days; a need's roles share a priority (as in the product)."""
    low_floor = draw(st.booleans())
    shares = (0.35, 0.4, 0.6) if low_floor else (0.6, 0.75, 1.0)
    n_agents = draw(st.integers(1, 6))
    agents = []
    for i in range(n_agents):
        # Mostly whole-horizon windows, so that agents are contested; some partial ones and none.
        whole = st.just((day(0), day(40)))
        windows = tuple(
            AvailabilityWindow(
                *draw(st.one_of(whole, whole, periods())), draw(st.sampled_from((0.5, 0.6, 0.8, 1.0, 1.0)))
            )
            for _ in range(draw(st.integers(0, 2)))
        )
        commits = tuple(
            Commitment(*draw(periods()), draw(st.sampled_from((0.2, 0.4)))) for _ in range(draw(st.integers(0, 1)))
        )
        agents.append(AgentCapacity(f"a{i}", windows, commits))
    ids = [a.agent_id for a in agents]
    scores = st.sampled_from((0.1, 0.3, 0.5, 0.5, 0.7, 0.9, 1.0))
    roles = []
    for j in range(draw(st.integers(1, 7))):
        prio = draw(st.integers(1, 3))
        cands = draw(st.dictionaries(st.sampled_from(ids + ["ghost"]), scores, max_size=len(ids) + 1))
        start, end = draw(periods())
        need = f"n{prio}-{draw(st.integers(0, 2))}"
        roles.append(
            OpenRole(f"r{j}", need, prio, draw(st.integers(1, 3)), draw(st.sampled_from(shares)), start, end, cands)
        )
    top_k = draw(st.sampled_from((1, 2, 50)))
    conf = AllocationSettings(min_score=0.3, time_budget_s=5.0, top_k=top_k, floor=0.3 if low_floor else 0.5)
    return roles, agents, conf


def _covers(s: date, e: date, d: date) -> bool:
    return s <= d <= e


def free_on(agent: AgentCapacity, d: date) -> float:
    declared = sum(w.share for w in agent.availability if _covers(w.start, w.end, d))
    return min(declared, 1.0) - sum(c.share for c in agent.commitments if _covers(c.start, c.end, d))


def days(s: date, e: date):
    return (s + timedelta(days=i) for i in range((e - s).days + 1))


def fits(agent: AgentCapacity, r: OpenRole, load: list[OpenRole]) -> bool:
    return all(
        free_on(agent, d) - sum(q.share for q in load if _covers(q.start, q.end, d)) >= r.share - TOL
        for d in days(r.start, r.end)
    )


def check(roles, agents, proposals, conf: AllocationSettings, res: AllocationResult) -> None:
    by_role = {r.role_id: r for r in roles}
    by_agent = {a.agent_id: a for a in agents}
    held: dict[str, list[OpenRole]] = defaultdict(list)
    members: dict[str, list] = defaultdict(list)
    for x in res.assignments:
        r = by_role[x.role_id]
        # only listed candidates at or above the threshold, with the score they were ranked with
        assert x.agent_id in r.candidates and r.candidates[x.agent_id] >= conf.min_score
        assert x.score == r.candidates[x.agent_id] and x.priority == r.priority and x.share == r.share
        held[x.agent_id].append(r)
        members[x.role_id].append(x)
    for rid, xs in members.items():
        assert len(xs) <= by_role[rid].seats
        assert len({x.agent_id for x in xs}) == len(xs)
    # never over 100 %: declared availability minus fixed commitments minus this run, every day
    for aid, rs in held.items():
        a = by_agent[aid]
        for r in rs:
            for d in days(r.start, r.end):
                assert free_on(a, d) - sum(q.share for q in rs if _covers(q.start, q.end, d)) >= -TOL
        needs = [r.need_id for r in rs]
        assert len(needs) == len(set(needs)), "agent twice in a need"
        assert not set(needs) & a.need_ids
    # open proposals: kept, or withdrawn for a stated reason, never for a same or lower priority
    assigned = {(x.role_id, x.agent_id) for x in res.assignments}
    withdrawn = {(w.role_id, w.agent_id): w for w in res.withdrawn}
    for op in proposals:
        key = (op.role_id, op.agent_id)
        assert (key in assigned) != (key in withdrawn)
        if key in assigned:
            assert next(x for x in res.assignments if (x.role_id, x.agent_id) == key).kept
            continue
        w = withdrawn[key]
        assert w.reason in ALLOWED_WITHDRAWALS
        if w.reason == "higher_priority":
            assert w.by_role_ids
            for q in w.by_role_ids:
                assert by_role[q].priority < by_role[op.role_id].priority
                assert (q, op.agent_id) in assigned
        if w.reason == "below_threshold":
            assert by_role[op.role_id].candidates[op.agent_id] < conf.min_score
    # lexicographic priority, by single swaps: moving a lower-tier agent up never fills or improves a seat
    slack = conf.load_penalty + conf.stickiness + 1e-9
    open_seats = {r.role_id: r.seats - len(members[r.role_id]) for r in roles}
    for x in res.assignments:
        a = by_agent[x.agent_id]
        for r1 in roles:
            s = r1.candidates.get(x.agent_id)
            if r1.priority >= x.priority or s is None or s < conf.min_score or r1.share <= conf.floor:
                continue
            load = [q for q in held[x.agent_id] if q.priority <= r1.priority]
            if any(q.need_id == r1.need_id for q in load) or not fits(a, r1, load):
                continue
            assert open_seats[r1.role_id] <= 0, f"{x.agent_id} could fill {r1.role_id} instead of {x.role_id}"
            for b in members[r1.role_id]:
                assert b.kept or s <= b.score + slack, f"{x.agent_id} beats {b.agent_id} on {r1.role_id}"
    # greedy ≤ exact ≤ bound, tier by tier on the same starting point
    for t in res.tiers.values():
        assert (t.greedy_seats, t.greedy_utility - 1e-7) <= (t.seats_filled - t.kept, t.utility)
        if t.beyond_top_k == 0 and t.bound is not None:
            assert t.utility <= t.bound + 1e-6
    if res.bound is not None and all(t.beyond_top_k == 0 for t in res.tiers.values()):
        assert res.objective <= res.bound + 1e-6


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances(), st.randoms(use_true_random=False))
def test_random_instances_keep_every_rule(inst, rnd):
    roles, agents, conf = inst
    # Open proposals come from an earlier run on other scores, as they would in production.
    earlier = [replace(r, candidates={a: rnd.choice((0.3, 0.6, 0.9)) for a in r.candidates}) for r in roles]
    proposals = [OpenProposal(x.role_id, x.agent_id) for x in allocate(earlier, agents, (), conf).assignments]
    res = allocate(roles, agents, proposals, conf)
    check(roles, agents, proposals, conf, res)
    greedy = allocate(roles, agents, proposals, replace(conf, exact=False))
    check(roles, agents, proposals, conf, greedy)
    # the first tier is decided on the same ground by both: the solver is never behind the greedy there
    if res.tiers and conf.top_k >= 50 and res.status == "optimal":
        p = min(res.tiers)
        g, e = greedy.tiers[p], res.tiers[p]
        assert (g.seats_filled, g.utility - 1e-7) <= (e.seats_filled, e.utility)


@pytest.mark.parametrize(
    ("regime", "n_roles", "n_agents", "floor", "budget"),
    [("scarce", 300, 3000, 0.5, 0.4), ("tangled", 400, 150, 0.3, 1.0)],
)
def test_a_tiny_budget_returns_in_time_with_a_valid_answer(regime, n_roles, n_agents, floor, budget):
    # "tangled" is a MILP that HiGHS does not finish in a second: the child is stopped at the deadline.
    roles, agents = make_instance(n_roles, n_agents, regime, seed=4)
    conf = AllocationSettings(time_budget_s=budget, top_k=50, floor=floor)
    t = time.monotonic()
    res = allocate(roles, agents, (), conf)
    elapsed = time.monotonic() - t
    assert elapsed < conf.time_budget_s + 0.5, elapsed
    assert res.assignments
    check(roles, agents, [], conf, res)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(-10, 80),
    st.integers(0, 40),
    st.sampled_from((0.0, 0.3, 0.6, 1.0, 1.2)),
    st.integers(0, 50),
    st.integers(0, 60),
    st.booleans(),
)
def test_the_one_window_shortcut_agrees_with_free_segments(ws, wl, share, h0, hl, has_window):
    from bisect import bisect_right

    from matching.allocation_model import _one_window
    from matching.availability import free_segments

    av = (AvailabilityWindow(day(ws), day(ws + wl), share),) if has_window else ()
    lo, hi = day(h0), day(h0 + hl)
    starts, vals = _one_window(av, lo.toordinal(), hi.toordinal())
    for seg in free_segments(av, (), lo, hi):
        for d in days(seg.start, seg.end):
            assert vals[bisect_right(starts, d.toordinal()) - 1] == pytest.approx(seg.free, abs=1e-12)
