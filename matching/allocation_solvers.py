"""Allocation solvers for one priority tier: greedy, LP bound and exact MILP, local repair.

Each tier is solved in two phases — seats first, then utility with the seat count held — on the top-K
candidates still free; :func:`run_tier` chains them under a deadline and returns a :class:`TierOut`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

from matching.allocation_model import (
    CONFLICT,
    EPS,
    HIGHER_PRIORITY,
    INT_TOL,
    SEATS_REDUCED,
    Problem,
    State,
    TierOut,
    TierReport,
    assign,
    fits,
    min_free,
    unassign,
)

__all__ = ["run_tier"]


# --------------------------------------------------------------------------------------------------
# One tier
# --------------------------------------------------------------------------------------------------


def _greedy(
    p: Problem, st: State, pairs: Sequence[tuple[int, int]], order: Sequence[int], rem: dict[int, int]
) -> list[int]:
    """Take pairs in ``order`` while seats remain and the agent fits; works on overlays of the state."""
    used: dict[int, list[tuple[int, int, float, int]]] = {}
    in_need: set[tuple[str, int]] = set()
    left = dict(rem)
    chosen: list[int] = []
    for j in order:
        r, a = pairs[j]
        if left.get(r, 0) <= 0 or (p.need[r], a) in in_need:
            continue
        ua = used.get(a)
        if ua is None:
            ua = used[a] = list(st.used.get(a, ()))
        if not fits(p, st, r, a, ua):
            continue
        ua.append((p.rs[r], p.re[r], p.share[r], r))
        in_need.add((p.need[r], a))
        left[r] -= 1
        chosen.append(j)
    return chosen


def _capacity_rows(
    p: Problem, st: State, pairs: Sequence[tuple[int, int]]
) -> tuple[list[list[int]], list[list[float]], list[float]]:
    """Rows over the elementary intervals of each agent (where its set of candidate roles changes):
    a clique row Σx ≤ 1 when no two of the active roles fit together (always so above a 50 % floor),
    else a knapsack row Σ share·x ≤ free."""
    by_agent: dict[int, list[int]] = {}
    by_need: dict[tuple[str, int], list[int]] = {}
    for j, (r, a) in enumerate(pairs):
        by_agent.setdefault(a, []).append(j)
        by_need.setdefault((p.need[r], a), []).append(j)
    cols: list[list[int]] = []
    coefs: list[list[float]] = []
    rhs: list[float] = []
    for a, js in by_agent.items():
        if len(js) < 2:
            continue
        used = st.used.get(a, ())
        pts = sorted({p.rs[pairs[j][0]] for j in js} | {p.re[pairs[j][0]] + 1 for j in js})
        seen: dict[tuple[str, tuple[int, ...]], float] = {}
        for lo, hi in zip(pts, pts[1:], strict=False):
            active = tuple(j for j in js if p.rs[pairs[j][0]] <= lo and p.re[pairs[j][0]] >= hi - 1)
            if len(active) < 2:
                continue
            free = min_free(p, a, lo, hi - 1, used)
            sh = sorted(p.share[pairs[j][0]] for j in active)
            kind = "clique" if sh[0] + sh[1] > free + EPS else "knap"
            key = (kind, active)
            seen[key] = min(seen.get(key, free), free)
        cliques = sorted((set(k[1]) for k in seen if k[0] == "clique"), key=len, reverse=True)
        kept: list[set[int]] = []
        for c in cliques:
            if not any(c <= k for k in kept):
                kept.append(c)
        for c in kept:
            cols.append(sorted(c))
            coefs.append([1.0] * len(c))
            rhs.append(1.0)
        for (kind, active), free in seen.items():
            if kind == "knap":
                cols.append(list(active))
                coefs.append([p.share[pairs[j][0]] for j in active])
                rhs.append(max(free, 0.0))
    for js in by_need.values():
        if len(js) >= 2:
            cols.append(js)
            coefs.append([1.0] * len(js))
            rhs.append(1.0)
    return cols, coefs, rhs


def _integral(x: np.ndarray) -> bool:
    return bool(np.all(np.minimum(np.abs(x), np.abs(1.0 - x)) < INT_TOL))


def _exact(
    p: Problem,
    st: State,
    pairs: list[tuple[int, int]],
    util: np.ndarray,
    rem: dict[int, int],
    deadline: float,
    rep: TierReport,
    min_seats: int,
    progress: Callable[[list[list[int]], TierReport], None] | None = None,
) -> list[list[int]]:
    """LP bound and, time and size permitting, exact MILP. Returns candidate answers (index lists)."""
    n = len(pairs)
    cols, coefs, rhs = _capacity_rows(p, st, pairs)
    role_rows: dict[int, list[int]] = {}
    for j, (r, _) in enumerate(pairs):
        role_rows.setdefault(r, []).append(j)
    for r, js in role_rows.items():
        cols.append(js)
        coefs.append([1.0] * len(js))
        rhs.append(float(rem[r]))
    indptr = np.cumsum([0] + [len(c) for c in cols])
    a_ub = sparse.csr_matrix(
        (
            np.concatenate([np.asarray(c, float) for c in coefs]),
            np.concatenate([np.asarray(c) for c in cols]),
            indptr,
        ),
        shape=(len(cols), n),
    )
    b_ub = np.asarray(rhs)
    rep.rows = len(cols)
    answers: list[list[int]] = []

    def left() -> float:
        return deadline - time.monotonic()

    if left() <= 0.05:
        rep.status = "time_limit"
        return answers
    # Phase A: the most seats.
    lp = linprog(
        -np.ones(n),
        A_ub=a_ub,
        b_ub=b_ub,
        bounds=(0, 1),
        method="highs",
        options={"time_limit": max(left(), 0.01)},
    )
    if lp.status != 0:
        rep.status = "time_limit"
        return answers
    rep.seats_bound = float(-lp.fun)
    proven = True
    if _integral(lp.x):
        seats = round(-lp.fun)
        answers.append([j for j in range(n) if lp.x[j] > 0.5])
    else:
        seats = -1
        if n <= p.settings.exact_max_pairs and left() > 0.05:
            if progress is not None:
                progress(answers, rep)
            m = milp(
                -np.ones(n),
                constraints=LinearConstraint(a_ub, -np.inf, b_ub),
                integrality=np.ones(n),
                bounds=Bounds(0, 1),
                # Half of what is left at most: phase B must still get its LP bound.
                options={"time_limit": max(left() / 2, 0.01), "mip_rel_gap": 0.0},
            )
            if m.x is not None:
                answers.append([j for j in range(n) if m.x[j] > 0.5])
                seats = len(answers[-1])
            proven = m.status == 0
            dual = getattr(m, "mip_dual_bound", None)
            if dual is not None and np.isfinite(dual):
                rep.seats_bound = min(rep.seats_bound, float(-dual))
        else:
            proven = False
        # Unproven: hold at least the seats of the best known answer (the greedy one is feasible).
        seats = max(seats, min_seats)
    # Phase B: the most utility with at least that many seats.
    a_b = sparse.vstack([a_ub, -sparse.csr_matrix(np.ones((1, n)))]).tocsr()
    b_b = np.append(b_ub, -float(seats))
    if left() <= 0.05:
        rep.status = "time_limit"
        return answers
    lp2 = linprog(-util, A_ub=a_b, b_ub=b_b, bounds=(0, 1), method="highs", options={"time_limit": max(left(), 0.01)})
    if lp2.status != 0:
        rep.status = "time_limit"
        return answers
    rep.bound = float(-lp2.fun)
    x = lp2.x
    # LP rounding: the integral part first, then the rest by LP value then utility.
    answers.append(_greedy(p, st, pairs, sorted(range(n), key=lambda j: (-round(x[j], 6), -util[j], j)), rem))
    if _integral(x):
        answers.append([j for j in range(n) if x[j] > 0.5])
        rep.status = "optimal" if proven else "time_limit"
        return answers
    if n > p.settings.exact_max_pairs:
        rep.status = "too_large"
        return answers
    if left() <= 0.05:
        rep.status = "time_limit"
        return answers
    if progress is not None:
        # What is known before a solve that may overrun: the parent resumes from it if it must.
        progress(answers, rep)
    m = milp(
        -util,
        constraints=LinearConstraint(a_b, -np.inf, b_b),
        integrality=np.ones(n),
        bounds=Bounds(0, 1),
        options={"time_limit": max(left(), 0.01), "mip_rel_gap": p.settings.mip_rel_gap},
    )
    if m.x is not None:
        answers.append([j for j in range(n) if m.x[j] > 0.5])
    dual = getattr(m, "mip_dual_bound", None)
    if dual is not None and np.isfinite(dual):
        rep.bound = min(rep.bound, float(-dual))
    rep.status = "optimal" if (m.status == 0 and proven) else "time_limit"
    return answers


def _repair(p: Problem, st: State, roles: Sequence[int]) -> None:
    """Fill free seats from the whole candidate lists and make single swaps that raise utility, until
    neither applies: afterwards no agent left free by this tier could improve one of its seats."""
    changed = True
    while changed:
        changed = False
        for r in roles:
            mem = st.members.setdefault(r, [])
            if len(mem) < p.seats[r]:
                for _, _, a in p.cands[r]:
                    if len(mem) >= p.seats[r]:
                        break
                    if a not in mem and fits(p, st, r, a):
                        assign(p, st, r, a)
                        changed = True
        for r in roles:
            cu = p.cand_u[r]
            for b in list(st.members.get(r, ())):
                if (r, b) in st.kept:
                    continue
                ub = cu[b]
                for u, _, a in p.cands[r]:
                    if u <= ub + EPS:
                        break
                    if a not in st.members[r] and fits(p, st, r, a):
                        unassign(p, st, r, b)
                        assign(p, st, r, a)
                        changed = True
                        break


def run_tier(
    p: Problem,
    st: State,
    prio: int,
    exact: bool,
    deadline: float,
    progress: Callable[[list[list[int]], TierReport], None] | None = None,
    resume: tuple[list[list[int]], TierReport] | None = None,
) -> TierOut:
    """Decide one tier on top of the state (higher tiers fixed) and apply it to the state.

    ``resume`` carries the answers and bounds a stopped child had reached on this very tier (the pairs
    are rebuilt identically from the same state, so its indices still apply)."""
    t0 = time.monotonic()
    roles = p.tier_roles.get(prio, [])
    rep = TierReport(priority=prio, roles=len(roles), seats_open=sum(p.seats[r] for r in roles))
    before = {r: list(st.members.get(r, ())) for r in roles}
    withdrawn: list[tuple[int, int, str, tuple[int, ...]]] = []
    kept: list[tuple[int, int]] = []
    # Open proposals of this tier stay unless a higher tier took the agent (never for this tier).
    for r in roles:
        for a in p.proposals.get(r, ()):
            if len(st.members.get(r, ())) >= p.seats[r]:
                withdrawn.append((r, a, SEATS_REDUCED, ()))
            elif fits(p, st, r, a):
                assign(p, st, r, a)
                st.kept.add((r, a))
                kept.append((r, a))
            else:
                higher = tuple(
                    sorted(
                        {q for s, e, _, q in st.used.get(a, ()) if p.prio[q] < prio and s <= p.re[r] and p.rs[r] <= e}
                    )
                )
                withdrawn.append((r, a, HIGHER_PRIORITY, higher) if higher else (r, a, CONFLICT, ()))
    st.withdrawn.extend(withdrawn)
    rem = {r: p.seats[r] - len(st.members.get(r, ())) for r in roles}
    # Top-K among the candidates still free after the higher tiers and the kept proposals.
    pairs: list[tuple[int, int]] = []
    for r in roles:
        if rem[r] <= 0:
            continue
        mem = st.members.get(r, ())
        k = 0
        for _, _, a in p.cands[r]:
            if k >= p.settings.top_k:
                break
            if a not in mem and fits(p, st, r, a):
                pairs.append((r, a))
                k += 1
    rep.pairs = len(pairs)
    util = np.fromiter((p.cand_u[r][a] for r, a in pairs), float, len(pairs))
    order = sorted(range(len(pairs)), key=lambda j: (-util[j], j))
    greedy = _greedy(p, st, pairs, order, rem)
    rep.greedy_seats = len(greedy)
    rep.greedy_utility = float(sum(util[j] for j in greedy))
    answers = [greedy]
    if not pairs:
        rep.status, rep.bound, rep.seats_bound = "optimal", 0.0, 0.0
    elif exact:
        answers += _exact(p, st, pairs, util, rem, deadline, rep, len(greedy), progress)
    elif resume is not None:
        answers += resume[0]
        rep.bound, rep.seats_bound, rep.rows = resume[1].bound, resume[1].seats_bound, resume[1].rows
        rep.status = "time_limit"
    if rep.bound is None:
        # Without an LP: each role's best remaining utilities, capacity ignored — valid, loose.
        by_role: dict[int, list[float]] = {}
        for j, (r, _) in enumerate(pairs):
            by_role.setdefault(r, []).append(max(util[j], 0.0))
        rep.bound = float(sum(sum(sorted(v, reverse=True)[: rem[r]]) for r, v in by_role.items()))
        if not exact and resume is None:
            rep.status = "greedy"
    # Every answer goes through the same fit checks before it is applied (guards against rounding).
    answers = [_greedy(p, st, pairs, js, rem) for js in answers]
    best = max(answers, key=lambda js: (len(js), round(sum(util[j] for j in js), 9)))
    for j in best:
        assign(p, st, *pairs[j])
    in_model = set(pairs)
    _repair(p, st, roles)
    added: list[tuple[int, int]] = []
    for r in roles:
        old = set(before[r])
        added += [(r, a) for a in st.members.get(r, ()) if a not in old]
    kept_set = set(kept)
    model_pairs = [(r, a) for r, a in added if (r, a) not in kept_set]
    rep.beyond_top_k = sum(1 for pr in model_pairs if pr not in in_model)
    rep.kept = len(kept)
    rep.seats_filled = len(added)
    rep.score = float(sum(p.cand_s[r][a] for r, a in added))
    rep.utility = float(sum(p.cand_u[r][a] for r, a in model_pairs))
    if rep.bound is not None:
        rep.gap = max(0.0, rep.bound - rep.utility) / max(abs(rep.bound), EPS) if rep.bound > EPS else 0.0
    rep.seconds = time.monotonic() - t0
    return TierOut(prio, added, kept, withdrawn, rep)
