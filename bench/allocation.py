"""Benchmark of the allocation solver against a greedy-by-priority baseline.

Run from the repository root: ``python -m bench.allocation`` (``--quick`` for a smaller run).
Instances are synthetic and seeded; every figure printed comes from the run itself.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, timedelta

from matching.allocation import (
    AgentCapacity,
    AllocationResult,
    AllocationSettings,
    OpenProposal,
    OpenRole,
    allocate,
)
from matching.types import AvailabilityWindow, Commitment

__all__ = ["make_instance", "churn", "main"]

_Y0 = date(2027, 1, 1)
_PRIORITY_WEIGHTS = (0.1, 0.2, 0.3, 0.4)


def _period(rng: random.Random, min_days: int, max_days: int) -> tuple[date, date]:
    start = _Y0 + timedelta(days=rng.randrange(0, 300))
    return start, start + timedelta(days=rng.randrange(min_days, max_days))


def make_instance(
    n_roles: int, n_agents: int, regime: str = "plenty", seed: int = 0, n_candidates: int = 150
) -> tuple[list[OpenRole], list[AgentCapacity]]:
    """Synthetic roles and agents.

    ``plenty``: each role draws its candidates from all agents. ``scarce``: roles fall into skill
    clusters whose agent pool is smaller than the cluster's seats, so seats outnumber eligible agents.
    ``tangled``: for a floor lowered to 0.3 — short overlapping roles of 31–60 % shares over two
    months, small chained pools: shares add up on a day, the LP is weak and the MILP hard.
    """
    if regime == "tangled":
        return _tangled(n_roles, n_agents, seed)
    rng = random.Random(seed)
    agents: list[AgentCapacity] = []
    for i in range(n_agents):
        s, e = _period(rng, 90, 400)
        windows = (AvailabilityWindow(s, e, rng.choice((0.6, 0.8, 1.0, 1.0))),)
        commitments: tuple[Commitment, ...] = ()
        if rng.random() < 0.2:
            cs, ce = _period(rng, 20, 120)
            commitments = (Commitment(cs, ce, rng.choice((0.2, 0.4, 0.6))),)
        agents.append(AgentCapacity(f"a{i}", windows, commitments))
    ids = [a.agent_id for a in agents]
    roles: list[OpenRole] = []
    if regime == "scarce":
        n_clusters = max(1, n_roles // 20)
        # 20 roles of 2–4 seats per cluster (~60 seats) against ~36 agents: seats outnumber agents.
        pool = max(4, min(36, n_agents // n_clusters))
        pools = [rng.sample(ids, min(pool, len(ids))) for _ in range(n_clusters)]
    for j in range(n_roles):
        s, e = _period(rng, 30, 150)
        prio = rng.choices((1, 2, 3, 4), _PRIORITY_WEIGHTS)[0]
        if regime == "scarce":
            cl = pools[j % n_clusters]
            who = rng.sample(cl, min(len(cl), n_candidates))
            seats = rng.choice((2, 3, 4))
        else:
            who = rng.sample(ids, min(n_candidates, len(ids)))
            seats = rng.choice((1, 1, 2, 3))
        cands = {a: round(min(1.0, max(0.0, rng.betavariate(4, 3))), 4) for a in who}
        roles.append(OpenRole(f"r{j}", f"n{j // 2}", prio, seats, rng.choice((0.6, 0.8, 1.0)), s, e, cands))
    return roles, agents


def _tangled(n_roles: int, n_agents: int, seed: int) -> tuple[list[OpenRole], list[AgentCapacity]]:
    rng = random.Random(seed)
    agents = [
        AgentCapacity(f"a{i}", (AvailabilityWindow(_Y0, _Y0 + timedelta(days=90), rng.choice((0.7, 0.9, 1.0))),))
        for i in range(n_agents)
    ]
    pool = 10
    n_clusters = max(1, n_agents // pool)
    roles = []
    for j in range(n_roles):
        start = _Y0 + timedelta(days=rng.randrange(0, 60))
        cl = rng.randrange(n_clusters)
        who = [f"a{(cl * pool + k) % n_agents}" for k in range(pool + pool // 2)]
        cands = {a: round(rng.random(), 3) for a in rng.sample(who, min(len(who), 8))}
        share = rng.choice((0.31, 0.33, 0.37, 0.41, 0.45, 0.52, 0.6))
        end = start + timedelta(days=rng.randrange(3, 30))
        roles.append(OpenRole(f"r{j}", f"n{j}", rng.choice((1, 2)), rng.choice((1, 2, 3)), share, start, end, cands))
    return roles, agents


def _perturb(roles: Sequence[OpenRole], noise: float, seed: int) -> list[OpenRole]:
    rng = random.Random(seed)
    return [
        replace(
            r,
            candidates={
                a: round(min(1.0, max(0.0, s + rng.uniform(-noise, noise))), 4) for a, s in r.candidates.items()
            },
        )
        for r in roles
    ]


def churn(before: AllocationResult, after: AllocationResult) -> float:
    """Fraction of the first run's proposals that the second run does not keep as is."""
    old = {(a.role_id, a.agent_id) for a in before.assignments}
    new = {(a.role_id, a.agent_id) for a in after.assignments}
    return len(old - new) / len(old) if old else 0.0


def _fmt(x: float | None, spec: str = ".4f") -> str:
    return "n/a" if x is None else format(x, spec)


def _row(label: str, res: AllocationResult, wall: float, ref: AllocationResult | None) -> str:
    seats = "/".join(str(res.tiers[p].seats_filled) if p in res.tiers else "0" for p in (1, 2, 3, 4))
    ratio = f"{res.objective / ref.objective:.4f}" if ref is not None and ref.objective > 0 else "1.0000"
    return (
        f"  {label:<8} objective={res.objective:10.3f} ratio={ratio} seats(p1/p2/p3/p4)={seats:<17} "
        f"time={wall:6.2f}s bound={_fmt(res.bound, '.3f')} gap={_fmt(res.gap, '.4%')} status={res.status}"
    )


def _case(name: str, roles: list[OpenRole], agents: list[AgentCapacity], settings: AllocationSettings) -> tuple:
    seats_open = {p: sum(r.seats for r in roles if r.priority == p) for p in (1, 2, 3, 4)}
    n_eligible = len({a for r in roles for a, s in r.candidates.items() if s >= settings.min_score})
    print(
        f"{name}: {len(roles)} roles, {len(agents)} agents, {sum(seats_open.values())} seats "
        f"(p1/p2/p3/p4 {'/'.join(str(seats_open[p]) for p in (1, 2, 3, 4))}), "
        f"{n_eligible} distinct candidates above min_score"
    )
    t = time.monotonic()
    greedy = allocate(roles, agents, (), replace(settings, exact=False))
    tg = time.monotonic() - t
    t = time.monotonic()
    solved = allocate(roles, agents, (), settings)
    ts = time.monotonic() - t
    print(_row("greedy", greedy, tg, greedy))
    print(_row("solver", solved, ts, greedy))
    tiers = "  ".join(
        f"p{p}:{t.status},gap={_fmt(t.gap, '.3%')},seats<={_fmt(t.seats_bound, '.1f')},pairs={t.pairs},rows={t.rows}"
        for p, t in solved.tiers.items()
    )
    print(f"  tiers    {tiers}")
    print("  timings  " + " ".join(f"{k}={v:.2f}s" for k, v in solved.timings.items()))
    return solved, greedy


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="smaller instances")
    ap.add_argument("--budget", type=float, default=10.0, help="time budget per solve (s)")
    args = ap.parse_args(argv)
    scale = 0.1 if args.quick else 1.0
    settings = AllocationSettings(time_budget_s=args.budget, top_k=50, min_score=0.3)
    print(f"settings: {settings}")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")
    n_r, n_a = int(200 * scale), int(5000 * scale)
    _case(f"A exact   {n_r}x{n_a} plenty", *make_instance(n_r, n_a, "plenty", seed=1), settings)
    n_r, n_a = int(1000 * scale), int(20000 * scale)
    roles_b, agents_b = make_instance(n_r, n_a, "plenty", seed=2)
    solved_b, _ = _case(f"B large   {n_r}x{n_a} plenty", roles_b, agents_b, settings)
    _case(f"C scarce  {n_r}x{n_a} scarce", *make_instance(n_r, n_a, "scarce", seed=3), settings)
    n_r, n_a = int(600 * scale), int(200 * scale)
    _case(
        f"D tangled {n_r}x{n_a} floor 0.3",
        *make_instance(n_r, n_a, "tangled", seed=4),
        replace(settings, floor=0.3),
    )

    # Re-run B after small score changes, with the first run's proposals still open.
    noise = 0.03
    roles2 = _perturb(roles_b, noise, seed=7)
    props = [OpenProposal(a.role_id, a.agent_id) for a in solved_b.assignments]
    runs = {
        "memoryless (no open proposals given)": allocate(roles2, agents_b, (), settings),
        "open proposals kept, stickiness=0": allocate(roles2, agents_b, props, replace(settings, stickiness=0.0)),
        f"open proposals kept, stickiness={settings.stickiness}": allocate(roles2, agents_b, props, settings),
    }
    print(f"churn of a re-run of B after score noise ±{noise} ({len(props)} open proposals):")
    _print_churn(solved_b, runs)
    # Same, plus 5 % new priority-1 roles competing for the agents who hold proposals.
    extra_roles, _ = make_instance(len(roles_b) // 20, len(agents_b), "plenty", seed=11)
    # Same agent ids (a0…), fresh seed: the new roles compete for the agents already proposed.
    extra = [replace(r, role_id=f"x{r.role_id}", need_id=f"x{r.need_id}", priority=1) for r in extra_roles]
    roles3 = roles2 + extra
    runs = {
        "memoryless (no open proposals given)": allocate(roles3, agents_b, (), settings),
        "open proposals kept, stickiness=0": allocate(roles3, agents_b, props, replace(settings, stickiness=0.0)),
        f"open proposals kept, stickiness={settings.stickiness}": allocate(roles3, agents_b, props, settings),
        "open proposals kept, stickiness=0.1": allocate(roles3, agents_b, props, replace(settings, stickiness=0.1)),
    }
    print(f"churn of a re-run of B after score noise ±{noise} and {len(extra)} new priority-1 roles:")
    _print_churn(solved_b, runs)
    print(f"machine: load average {os.getloadavg()[0]:.2f} at end")


def _print_churn(before: AllocationResult, runs: dict[str, AllocationResult]) -> None:
    for label, res in runs.items():
        print(
            f"  {label:<42} changed={churn(before, res):.2%} withdrawn={len(res.withdrawn)} "
            f"objective={res.objective:.3f} seats={sum(t.seats_filled for t in res.tiers.values())} "
            f"status={res.status} time={res.timings['total']:.2f}s"
        )


if __name__ == "__main__":
    main()
