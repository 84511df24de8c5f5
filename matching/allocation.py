"""Allocation solver: give open seats of roles to agents, tier by tier of government priority.

Pipeline (see ``docs/allocation.md``):

1. *Build*: candidates of each role are kept when known, at or above ``min_score``, and free enough;
   utilities are ``score − load_penalty·load + stickiness terms``.
2. *Greedy* pass in priority order: the fallback answer and the baseline.
3. Per priority tier, in a child process under a hard deadline: the top-K candidates still free,
   the LP relaxation (HiGHS ``linprog``, the certificate ``bound``) and, while the tier is small enough,
   the exact MILP (``scipy.optimize.milp``). Each tier is solved in two phases — seats first, then utility
   with the seat count held — and then *fixed* before the next tier: lexicographic by construction.
4. A local repair on every tier (fill free seats from the whole candidate list, single swaps that
   raise utility) so that no single move of a lower-tier agent could improve a higher tier.

The model is in :mod:`matching.allocation_model`, the tier solvers in :mod:`matching.allocation_solvers`;
this module runs them: no I/O except the child process that enforces the time budget.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from matching.allocation_model import (
    BELOW_THRESHOLD,
    EPS,
    NO_CANDIDATE,
    NOT_AVAILABLE,
    SHARE_NOT_ABOVE_FLOOR,
    TAKEN_BY_HIGHER_PRIORITY,
    TAKEN_BY_SAME_PRIORITY,
    AgentCapacity,
    AllocationResult,
    AllocationSettings,
    Assignment,
    OpenProposal,
    OpenRole,
    Problem,
    State,
    TierOut,
    TierReport,
    Unfilled,
    Withdrawal,
    assign,
    build_problem,
    fits,
    pair_utility,
)
from matching.allocation_solvers import run_tier
from matching.availability import above_floor

__all__ = [
    "AgentCapacity",
    "AllocationResult",
    "AllocationSettings",
    "Assignment",
    "OpenProposal",
    "OpenRole",
    "TierReport",
    "Unfilled",
    "Withdrawal",
    "allocate",
    "pair_utility",
]

# Seconds kept for the parent to finish (greedy completion, result building) once the child is stopped.
_PARENT_MARGIN_S = 0.05
# The child stops its own solvers this long before the parent's kill deadline, to send what it has.
_CHILD_MARGIN_S = 0.15
_STATUS_ORDER = {"optimal": 0, "time_limit": 1, "too_large": 2, "greedy": 3}


def _replay(p: Problem, st: State, out: TierOut) -> None:
    for r, a in out.pairs:
        assign(p, st, r, a)
    st.kept.update(out.kept)
    st.withdrawn.extend(out.withdrawn)


def _child(p: Problem, conn: Any, deadline: float) -> None:
    """Child process: exact tiers one after the other, each sent as soon as decided."""
    st = State()
    # Tiers are weighted by their candidate pairs; time a tier does not use passes to the next ones.
    weight = {t: sum(min(len(p.cands[r]), p.settings.top_k) for r in p.tier_roles[t]) + 1.0 for t in p.tiers}
    try:
        for i, prio in enumerate(p.tiers):
            now = time.monotonic()
            # All of what is left but half of the later tiers' proportional share: a higher tier matters
            # more, and later tiers can always fall back on their greedy answer.
            share = 1.0 - 0.5 * sum(weight[t] for t in p.tiers[i + 1 :]) / sum(weight[t] for t in p.tiers[i:])

            def progress(answers: list[list[int]], rep: TierReport, prio: int = prio) -> None:
                conn.send(("partial", prio, answers, replace(rep)))

            out = run_tier(p, st, prio, True, now + max(deadline - now, 0.0) * share, progress)
            conn.send(("tier", out))
        conn.send(None)
    finally:
        conn.close()


def _mp_context(method: str | None) -> Any:
    # 'fork' shares the built problem without pickling; 'spawn' where fork does not exist.
    if method is None:
        method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    return mp.get_context(method)


# --------------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------------


def allocate(
    roles: Sequence[OpenRole],
    agents: Iterable[AgentCapacity],
    open_proposals: Iterable[OpenProposal] = (),
    settings: AllocationSettings | None = None,
) -> AllocationResult:
    """Allocate open seats tier by tier of priority; see the module docstring.

    Ends within ``settings.time_budget_s`` plus a small overhead: the exact part runs in a child process
    killed at the deadline; tiers it did not finish are completed greedily.
    """
    settings = settings or AllocationSettings()
    t_start = time.monotonic()
    deadline = t_start + settings.time_budget_s
    timings: dict[str, float] = {}
    p = build_problem(roles, agents, open_proposals, settings)
    timings["build"] = time.monotonic() - t_start

    outs: list[TierOut] = []
    partial: tuple[int, list[list[int]], TierReport] | None = None
    st = State()
    proc = recv = None
    t = time.monotonic()
    left = deadline - t
    # The child starts first and works while the parent computes the greedy baseline (two cores).
    # It must stop early enough for the parent to complete unfinished tiers greedily; the greedy time
    # is not known yet, so the child plans on 90 % of what is left and is stopped earlier if needed.
    child_deadline = deadline - max(0.1 * left, 0.1)
    t_child = t
    if settings.exact and p.tiers and child_deadline - t > 0.1:
        ctx = _mp_context(settings.start_method)
        recv, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_child, args=(p, send, child_deadline - _CHILD_MARGIN_S), daemon=True)
        try:
            proc.start()
        except (AssertionError, OSError):
            # No child possible here (a daemonic worker, no process left): the greedy answer stands.
            recv.close()
            proc = recv = None
        send.close()

    t = time.monotonic()
    st_g = State()
    greedy_outs = [run_tier(p, st_g, prio, False, deadline) for prio in p.tiers]
    timings["greedy"] = time.monotonic() - t

    if proc is not None and recv is not None:
        # Stop the child when what is left of the budget only just covers completing the tiers it has
        # not delivered greedily (timed per tier by the baseline, with a margin for a loaded machine).
        tier_greedy_s = {o.priority: o.report.seconds for o in greedy_outs}
        try:
            while len(outs) < len(p.tiers):
                rest = sum(tier_greedy_s[t] for t in p.tiers[len(outs) :])
                kill_at = min(child_deadline, deadline - 1.5 * rest - _PARENT_MARGIN_S)
                wait = kill_at - time.monotonic()
                if wait <= 0 or not recv.poll(wait):
                    break
                try:
                    msg = recv.recv()
                except EOFError:
                    break
                if msg is None:
                    break
                if msg[0] == "partial":
                    partial = (msg[1], msg[2], msg[3])
                else:
                    outs.append(msg[1])
        finally:
            recv.close()
            if proc.is_alive():
                proc.terminate()
                proc.join(0.2)
                if proc.is_alive():
                    proc.kill()
            proc.join(0.2)
        # From the child's start: it overlaps the greedy baseline.
        timings["exact"] = time.monotonic() - t_child
        for out in outs:
            _replay(p, st, out)
        t = time.monotonic()
        if not outs and partial is None:
            outs, st = greedy_outs, st_g
        else:
            for prio in p.tiers[len(outs) :]:
                resume = partial[1:] if partial is not None and partial[0] == prio else None
                outs.append(run_tier(p, st, prio, False, deadline, resume=resume))
        timings["completion"] = time.monotonic() - t
    else:
        outs, st = greedy_outs, st_g
    res = _result(p, st, outs)
    res.timings = dict(timings, total=time.monotonic() - t_start)
    return res


def _unfilled(p: Problem, st: State) -> list[Unfilled]:
    out: list[Unfilled] = []
    empty = State()
    for r, role in enumerate(p.roles):
        left = p.seats[r] - len(st.members.get(r, ()))
        if left <= 0:
            continue
        by: tuple[str, ...] = ()
        if not above_floor(role.share, p.settings.floor):
            reason = SHARE_NOT_ABOVE_FLOOR
        elif not role.candidates:
            reason = NO_CANDIDATE
        elif all(v < p.settings.min_score - EPS for v in role.candidates.values()):
            reason = BELOW_THRESHOLD
        else:
            free = [a for _, _, a in p.cands[r] if a not in st.members.get(r, ()) and fits(p, empty, r, a, ())]
            if not free:
                reason = NOT_AVAILABLE
            else:
                higher: set[int] = set()
                all_higher = True
                for a in free:
                    blockers = {
                        q
                        for s, e, _, q in st.used.get(a, ())
                        if (s <= p.re[r] and p.rs[r] <= e) or p.need[q] == p.need[r]
                    }
                    hi = {q for q in blockers if p.prio[q] < role.priority}
                    if hi:
                        higher |= hi
                    else:
                        all_higher = False
                reason = TAKEN_BY_HIGHER_PRIORITY if all_higher else TAKEN_BY_SAME_PRIORITY
                by = tuple(sorted(p.roles[q].role_id for q in higher))
        out.append(Unfilled(role.role_id, role.need_id, role.priority, left, reason, by))
    return out


def _result(p: Problem, st: State, outs: list[TierOut]) -> AllocationResult:
    assignments = [
        Assignment(
            p.roles[r].role_id,
            p.need[r],
            p.agent_ids[a],
            p.share[r],
            p.cand_s[r][a],
            p.prio[r],
            p.cand_u[r][a],
            (r, a) in st.kept,
        )
        for r in range(len(p.roles))
        for a in st.members.get(r, ())
    ]
    withdrawn = [Withdrawal(rid, aid, why) for rid, aid, why in p.early_withdrawn]
    withdrawn += [
        Withdrawal(p.roles[r].role_id, p.agent_ids[a], why, tuple(p.roles[q].role_id for q in by))
        for r, a, why, by in st.withdrawn
    ]
    tiers = {o.priority: o.report for o in outs}
    kept_u = sum(x.utility for x in assignments if x.kept)
    objective = float(sum(x.utility for x in assignments))
    bounds = [t.bound for t in tiers.values()]
    bound = None if any(b is None for b in bounds) else float(kept_u + sum(b for b in bounds if b is not None))
    gap = None
    if bound is not None:
        gap = max(0.0, bound - objective) / abs(bound) if abs(bound) > EPS else 0.0
    status = max((t.status for t in tiers.values()), key=lambda s: _STATUS_ORDER.get(s, 9), default="optimal")
    return AllocationResult(
        assignments=assignments,
        withdrawn=withdrawn,
        unfilled=_unfilled(p, st),
        objective=objective,
        bound=bound,
        gap=gap,
        status=status,
        tiers=tiers,
        timings={},
        score=float(sum(x.score for x in assignments)),
    )
