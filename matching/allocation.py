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

The module is pure: no I/O except the child process that enforces the time budget.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from typing import Any

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

from matching.availability import DEFAULT_FLOOR, above_floor, free_segments
from matching.types import AvailabilityWindow, Commitment

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

_EPS = 1e-9
_INT_TOL = 1e-6
# Seconds kept for the parent to finish (greedy completion, result building) once the child is stopped.
_PARENT_MARGIN_S = 0.05
# The child stops its own solvers this long before the parent's kill deadline, to send what it has.
_CHILD_MARGIN_S = 0.15

# Unfilled-seat reasons.
NO_CANDIDATE = "no_candidate"
BELOW_THRESHOLD = "below_threshold"
NOT_AVAILABLE = "not_available"
SHARE_NOT_ABOVE_FLOOR = "share_not_above_floor"
TAKEN_BY_HIGHER_PRIORITY = "taken_by_higher_priority"
TAKEN_BY_SAME_PRIORITY = "taken_by_same_priority"
# Withdrawal reasons (besides the three eligibility ones above).
HIGHER_PRIORITY = "higher_priority"
ROLE_CLOSED = "role_closed"
NOT_CANDIDATE = "not_candidate"
SEATS_REDUCED = "seats_reduced"
CONFLICT = "conflict"

_STATUS_ORDER = {"optimal": 0, "time_limit": 1, "too_large": 2, "greedy": 3}


# --------------------------------------------------------------------------------------------------
# Public data
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenRole:
    """A role with open seats. ``seats`` counts seats not held by fixed commitments (open proposals
    of previous runs occupy open seats). ``candidates`` maps agent ids to ranking scores in [0, 1]."""

    role_id: str
    need_id: str
    priority: int
    seats: int
    share: float
    start: date
    end: date
    candidates: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class AgentCapacity:
    """What caps an agent: declared availability and fixed commitments (accepted, approved, active or
    DINUM-forced assignments). ``need_ids`` are needs in which the agent already holds a fixed seat."""

    agent_id: str
    availability: tuple[AvailabilityWindow, ...] = ()
    commitments: tuple[Commitment, ...] = ()
    need_ids: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class OpenProposal:
    """A proposal of a previous run still open (proposed, not yet accepted nor declined)."""

    role_id: str
    agent_id: str


@dataclass(frozen=True, slots=True)
class AllocationSettings:
    """Knobs of a run.

    ``start_method`` is the multiprocessing start method of the exact child: ``None`` means ``fork`` where it
    exists (cheap: the built problem is shared, not pickled), else ``spawn``. A process that runs threads
    holding locks (a web server, a scheduler) may prefer ``"spawn"`` or ``"forkserver"``.

    ``load_penalty`` and ``stickiness`` are tie-breakers, small next to score differences:
    utility = score − load_penalty·(share of the agent already committed over the role's period)
    − stickiness (when taking the agent would withdraw one of its lower-priority open proposals).
    """

    min_score: float = 0.3
    time_budget_s: float = 10.0
    top_k: int = 50
    stickiness: float = 0.02
    load_penalty: float = 1e-3
    floor: float = DEFAULT_FLOOR
    exact: bool = True
    exact_max_pairs: int = 250_000
    mip_rel_gap: float = 1e-6
    start_method: str | None = None


@dataclass(frozen=True, slots=True)
class Assignment:
    """One seat given to one agent. ``kept`` marks an open proposal of a previous run kept as is."""

    role_id: str
    need_id: str
    agent_id: str
    share: float
    score: float
    priority: int
    utility: float
    kept: bool = False


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """An open proposal withdrawn, why, and (for ``higher_priority``) the roles that took the agent."""

    role_id: str
    agent_id: str
    reason: str
    by_role_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Unfilled:
    """Seats of a role left empty and why; ``by_role_ids`` names the roles holding its candidates."""

    role_id: str
    need_id: str
    priority: int
    seats: int
    reason: str
    by_role_ids: tuple[str, ...] = ()


@dataclass(slots=True)
class TierReport:
    """Figures of one priority tier. ``bound`` is the LP bound of the tier's top-K model given the
    higher tiers as fixed; ``greedy_*`` is the greedy answer on the same starting point."""

    priority: int
    roles: int = 0
    seats_open: int = 0
    seats_filled: int = 0
    kept: int = 0
    score: float = 0.0
    utility: float = 0.0
    bound: float | None = None
    gap: float | None = None
    greedy_seats: int = 0
    greedy_utility: float = 0.0
    seats_bound: float | None = None
    status: str = "greedy"
    pairs: int = 0
    rows: int = 0
    beyond_top_k: int = 0
    seconds: float = 0.0


@dataclass(slots=True)
class AllocationResult:
    """The answer of a run. ``objective`` is the total utility, ``bound`` the sum of the tiers' bounds
    (each given the higher tiers fixed), ``gap`` = (bound − objective) / bound."""

    assignments: list[Assignment]
    withdrawn: list[Withdrawal]
    unfilled: list[Unfilled]
    objective: float
    bound: float | None
    gap: float | None
    status: str
    tiers: dict[int, TierReport]
    timings: dict[str, float]
    score: float = 0.0

    def seats_filled(self) -> dict[int, int]:
        """Seats filled per priority."""
        return {p: t.seats_filled for p, t in self.tiers.items()}

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (tier keys become strings)."""
        return {
            "assignments": [asdict(a) for a in self.assignments],
            "withdrawn": [dict(asdict(w), by_role_ids=list(w.by_role_ids)) for w in self.withdrawn],
            "unfilled": [dict(asdict(u), by_role_ids=list(u.by_role_ids)) for u in self.unfilled],
            "objective": self.objective,
            "score": self.score,
            "bound": self.bound,
            "gap": self.gap,
            "status": self.status,
            "tiers": {str(p): asdict(t) for p, t in self.tiers.items()},
            "timings": dict(self.timings),
        }


# --------------------------------------------------------------------------------------------------
# Internal problem and state
# --------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Problem:
    """Everything derived once from the input; picklable (sent to a 'spawn' child if needed)."""

    roles: list[OpenRole]
    rs: list[int]
    re: list[int]
    share: list[float]
    prio: list[int]
    need: list[str]
    seats: list[int]
    agent_ids: list[str]
    free_starts: list[list[int]]
    free_vals: list[list[float]]
    fixed_needs: list[frozenset[str]]
    # per role: (utility, score, agent) sorted by utility desc, then agent id for determinism
    cands: list[list[tuple[float, float, int]]]
    cand_u: list[dict[int, float]]
    cand_s: list[dict[int, float]]
    proposals: dict[int, list[int]]
    early_withdrawn: list[tuple[str, str, str]]
    tiers: list[int]
    tier_roles: dict[int, list[int]]
    settings: AllocationSettings


@dataclass(slots=True)
class _State:
    used: dict[int, list[tuple[int, int, float, int]]] = field(default_factory=dict)
    in_need: set[tuple[str, int]] = field(default_factory=set)
    members: dict[int, list[int]] = field(default_factory=dict)
    kept: set[tuple[int, int]] = field(default_factory=set)
    withdrawn: list[tuple[int, int, str, tuple[int, ...]]] = field(default_factory=list)


@dataclass(slots=True)
class _TierOut:
    priority: int
    pairs: list[tuple[int, int]]
    kept: list[tuple[int, int]]
    withdrawn: list[tuple[int, int, str, tuple[int, ...]]]
    report: TierReport


def _assign(p: _Problem, st: _State, r: int, a: int) -> None:
    st.used.setdefault(a, []).append((p.rs[r], p.re[r], p.share[r], r))
    st.in_need.add((p.need[r], a))
    st.members.setdefault(r, []).append(a)


def _unassign(p: _Problem, st: _State, r: int, a: int) -> None:
    lst = st.used[a]
    for i, item in enumerate(lst):
        if item[3] == r:
            del lst[i]
            break
    st.in_need.discard((p.need[r], a))
    st.members[r].remove(a)


def _min_free(p: _Problem, a: int, s: int, e: int, used: Sequence[tuple[int, int, float, int]]) -> float:
    """Smallest free share of agent ``a`` over days [s, e] (ordinals), after ``used``."""
    starts, vals = p.free_starts[a], p.free_vals[a]
    i = bisect_right(starts, s) - 1
    n = len(starts)
    if not used:
        m = vals[i]
        j = i + 1
        while j < n and starts[j] <= e:
            m = min(m, vals[j])
            j += 1
        return m
    pts = {s}
    j = i + 1
    while j < n and starts[j] <= e:
        pts.add(starts[j])
        j += 1
    live = [u for u in used if not (u[1] < s or u[0] > e)]
    if not live:
        return _min_free(p, a, s, e, ())
    for us, ue, _, _ in live:
        if us > s:
            pts.add(us)
        if ue + 1 <= e:
            pts.add(ue + 1)
    m = float("inf")
    for q in pts:
        v = vals[bisect_right(starts, q) - 1] - sum(sh for us, ue, sh, _ in live if us <= q <= ue)
        m = min(m, v)
    return m


def _free_enough(starts: list[int], vals: list[float], s: int, e: int, share: float) -> bool:
    """Free share (before this run) ≥ ``share`` on every day of [s, e]."""
    i = bisect_right(starts, s) - 1
    n = len(starts)
    while i < n and starts[i] <= e:
        if vals[i] < share - _EPS:
            return False
        i += 1
    return True


def _fits(p: _Problem, st: _State, r: int, a: int, used: Sequence[tuple[int, int, float, int]] | None = None) -> bool:
    """Agent ``a`` can take role ``r`` now: not yet in its need, free share ≥ share on every day."""
    if (p.need[r], a) in st.in_need or p.need[r] in p.fixed_needs[a]:
        return False
    u = st.used.get(a, ()) if used is None else used
    if not u and a in p.cand_u[r]:
        return True  # listed candidates were checked against the fixed load when built
    return _min_free(p, a, p.rs[r], p.re[r], u) >= p.share[r] - _EPS


def pair_utility(
    score: float, committed_load: float, displaces_lower_proposal: bool, settings: AllocationSettings
) -> float:
    """Utility the solver maximises for one (role, agent) pair: the score, a tiny penalty on agents
    already loaded (spreads load on ties), and the stickiness penalty for withdrawing a proposal."""
    u = score - settings.load_penalty * committed_load
    if displaces_lower_proposal:
        u -= settings.stickiness
    return u


def _one_window(availability: Sequence[AvailabilityWindow], h0: int, h1: int) -> tuple[list[int], list[float]]:
    """``free_segments`` for the common case of at most one window and no commitment, without its
    date arithmetic: the build calls it once per candidate agent (tens of thousands)."""
    if not availability:
        return [h0], [0.0]
    w = availability[0]
    s, e = max(w.start.toordinal(), h0), min(w.end.toordinal(), h1)
    if e < s:
        return [h0], [0.0]
    starts, vals = ([h0], [0.0]) if s > h0 else ([], [])
    starts.append(s)
    vals.append(round(min(w.share, 1.0), 9))
    if e < h1:
        starts.append(e + 1)
        vals.append(0.0)
    return starts, vals


def _committed_load(commitments: Iterable[Commitment], s: date, e: date) -> float:
    """Average committed share over [s, e]: how loaded the agent already is during the role."""
    days = (e - s).days + 1
    tot = 0.0
    for c in commitments:
        lo, hi = max(c.start, s), min(c.end, e)
        if hi >= lo:
            tot += c.share * ((hi - lo).days + 1)
    return tot / days if days > 0 else 0.0


def _build(
    roles: Sequence[OpenRole],
    agents: Iterable[AgentCapacity],
    proposals: Iterable[OpenProposal],
    settings: AllocationSettings,
) -> _Problem:
    closed = {r.role_id for r in roles if r.seats <= 0}
    roles = [r for r in roles if r.seats > 0]
    seen: set[str] = set()
    for open_role in roles:
        if open_role.role_id in seen:
            raise ValueError(f"duplicate role id {open_role.role_id!r}")
        if open_role.end < open_role.start:
            raise ValueError(f"role {open_role.role_id!r} ends before it starts")
        seen.add(open_role.role_id)
    cap_by_id = {c.agent_id: c for c in agents}
    role_index = {r.role_id: i for i, r in enumerate(roles)}
    h0 = min((r.start.toordinal() for r in roles), default=0)
    h1 = max((r.end.toordinal() for r in roles), default=0)

    agent_ids: list[str] = []
    agent_index: dict[str, int] = {}
    free_starts: list[list[int]] = []
    free_vals: list[list[float]] = []
    fixed_needs: list[frozenset[str]] = []

    def idx(agent_id: str) -> int:
        i = agent_index.get(agent_id)
        if i is None:
            i = len(agent_ids)
            agent_index[agent_id] = i
            agent_ids.append(agent_id)
            cap = cap_by_id[agent_id]
            if len(cap.availability) <= 1 and not cap.commitments:
                starts, vals = _one_window(cap.availability, h0, h1)
            else:
                segs = free_segments(cap.availability, cap.commitments, date.fromordinal(h0), date.fromordinal(h1))
                starts, vals = [s.start.toordinal() for s in segs], [s.free for s in segs]
            free_starts.append(starts or [h0])
            free_vals.append(vals or [0.0])
            fixed_needs.append(cap.need_ids)
        return i

    # Open proposals: which agents have one, on which roles (for the stickiness penalty).
    prop_roles: dict[str, list[int]] = {}
    prop_list: list[tuple[int, str]] = []
    early: list[tuple[str, str, str]] = []
    for op in dict.fromkeys(proposals):
        r = role_index.get(op.role_id)
        if r is None:
            early.append((op.role_id, op.agent_id, SEATS_REDUCED if op.role_id in closed else ROLE_CLOSED))
            continue
        prop_list.append((r, op.agent_id))
        prop_roles.setdefault(op.agent_id, []).append(r)

    rs = [r.start.toordinal() for r in roles]
    re_ = [r.end.toordinal() for r in roles]
    cands: list[list[tuple[float, float, int]]] = []
    cand_u: list[dict[int, float]] = []
    cand_s: list[dict[int, float]] = []
    for ri, role in enumerate(roles):
        lst: list[tuple[float, float, int, str]] = []
        if above_floor(role.share, settings.floor):
            for agent_id, score in role.candidates.items():
                if score < settings.min_score - _EPS or agent_id not in cap_by_id:
                    continue
                cap = cap_by_id[agent_id]
                # The common case (no commitment, no proposal) skips the helpers: this loop sees
                # every (role, candidate) pair of the run.
                load = _committed_load(cap.commitments, role.start, role.end) if cap.commitments else 0.0
                held = prop_roles.get(agent_id)
                displaces = held is not None and any(
                    roles[q].priority > role.priority and rs[q] <= re_[ri] and rs[ri] <= re_[q] for q in held
                )
                u = pair_utility(float(score), load, displaces, settings) if (load or displaces) else float(score)
                lst.append((u, float(score), idx(agent_id), agent_id))
        lst.sort(key=lambda t: (-t[0], t[3]))
        # Only agents free enough over the whole period, before this run, can ever take the role:
        # filtering them once here spares every later pass the day arithmetic for unloaded agents.
        lst = [t for t in lst if _free_enough(free_starts[t[2]], free_vals[t[2]], rs[ri], re_[ri], role.share)]
        cands.append([(u, s, a) for u, s, a, _ in lst])
        cand_u.append({a: u for u, _, a, _ in lst})
        cand_s.append({a: s for _, s, a, _ in lst})

    p = _Problem(
        roles=roles,
        rs=rs,
        re=re_,
        share=[r.share for r in roles],
        prio=[r.priority for r in roles],
        need=[r.need_id for r in roles],
        seats=[r.seats for r in roles],
        agent_ids=agent_ids,
        free_starts=free_starts,
        free_vals=free_vals,
        fixed_needs=fixed_needs,
        cands=cands,
        cand_u=cand_u,
        cand_s=cand_s,
        proposals={},
        early_withdrawn=early,
        tiers=sorted({r.priority for r in roles}),
        tier_roles={},
        settings=settings,
    )
    for ri, role in enumerate(roles):
        p.tier_roles.setdefault(role.priority, []).append(ri)
    empty = _State()
    for r, agent_id in prop_list:
        role = roles[r]
        if agent_id not in role.candidates:
            early.append((role.role_id, agent_id, NOT_CANDIDATE))
        elif role.candidates[agent_id] < settings.min_score - _EPS:
            early.append((role.role_id, agent_id, BELOW_THRESHOLD))
        elif agent_index.get(agent_id, -1) not in p.cand_u[r] or not _fits(p, empty, r, agent_index[agent_id], ()):
            early.append((role.role_id, agent_id, NOT_AVAILABLE))
        else:
            p.proposals.setdefault(r, []).append(agent_index[agent_id])
    for r, lst_a in p.proposals.items():
        lst_a.sort(key=lambda a, r=r: (-p.cand_u[r][a], p.agent_ids[a]))
    return p


# --------------------------------------------------------------------------------------------------
# One tier
# --------------------------------------------------------------------------------------------------


def _greedy(
    p: _Problem, st: _State, pairs: Sequence[tuple[int, int]], order: Sequence[int], rem: dict[int, int]
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
        if not _fits(p, st, r, a, ua):
            continue
        ua.append((p.rs[r], p.re[r], p.share[r], r))
        in_need.add((p.need[r], a))
        left[r] -= 1
        chosen.append(j)
    return chosen


def _capacity_rows(
    p: _Problem, st: _State, pairs: Sequence[tuple[int, int]]
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
            free = _min_free(p, a, lo, hi - 1, used)
            sh = sorted(p.share[pairs[j][0]] for j in active)
            kind = "clique" if sh[0] + sh[1] > free + _EPS else "knap"
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
    return bool(np.all(np.minimum(np.abs(x), np.abs(1.0 - x)) < _INT_TOL))


def _exact(
    p: _Problem,
    st: _State,
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


def _repair(p: _Problem, st: _State, roles: Sequence[int]) -> None:
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
                    if a not in mem and _fits(p, st, r, a):
                        _assign(p, st, r, a)
                        changed = True
        for r in roles:
            cu = p.cand_u[r]
            for b in list(st.members.get(r, ())):
                if (r, b) in st.kept:
                    continue
                ub = cu[b]
                for u, _, a in p.cands[r]:
                    if u <= ub + _EPS:
                        break
                    if a not in st.members[r] and _fits(p, st, r, a):
                        _unassign(p, st, r, b)
                        _assign(p, st, r, a)
                        changed = True
                        break


def _run_tier(
    p: _Problem,
    st: _State,
    prio: int,
    exact: bool,
    deadline: float,
    progress: Callable[[list[list[int]], TierReport], None] | None = None,
    resume: tuple[list[list[int]], TierReport] | None = None,
) -> _TierOut:
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
            elif _fits(p, st, r, a):
                _assign(p, st, r, a)
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
            if a not in mem and _fits(p, st, r, a):
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
        _assign(p, st, *pairs[j])
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
        rep.gap = max(0.0, rep.bound - rep.utility) / max(abs(rep.bound), _EPS) if rep.bound > _EPS else 0.0
    rep.seconds = time.monotonic() - t0
    return _TierOut(prio, added, kept, withdrawn, rep)


def _replay(p: _Problem, st: _State, out: _TierOut) -> None:
    for r, a in out.pairs:
        _assign(p, st, r, a)
    st.kept.update(out.kept)
    st.withdrawn.extend(out.withdrawn)


def _child(p: _Problem, conn: Any, deadline: float) -> None:
    """Child process: exact tiers one after the other, each sent as soon as decided."""
    st = _State()
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

            out = _run_tier(p, st, prio, True, now + max(deadline - now, 0.0) * share, progress)
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
    p = _build(roles, agents, open_proposals, settings)
    timings["build"] = time.monotonic() - t_start

    outs: list[_TierOut] = []
    partial: tuple[int, list[list[int]], TierReport] | None = None
    st = _State()
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
    st_g = _State()
    greedy_outs = [_run_tier(p, st_g, prio, False, deadline) for prio in p.tiers]
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
                outs.append(_run_tier(p, st, prio, False, deadline, resume=resume))
        timings["completion"] = time.monotonic() - t
    else:
        outs, st = greedy_outs, st_g
    res = _result(p, st, outs)
    res.timings = dict(timings, total=time.monotonic() - t_start)
    return res


def _unfilled(p: _Problem, st: _State) -> list[Unfilled]:
    out: list[Unfilled] = []
    empty = _State()
    for r, role in enumerate(p.roles):
        left = p.seats[r] - len(st.members.get(r, ()))
        if left <= 0:
            continue
        by: tuple[str, ...] = ()
        if not above_floor(role.share, p.settings.floor):
            reason = SHARE_NOT_ABOVE_FLOOR
        elif not role.candidates:
            reason = NO_CANDIDATE
        elif all(v < p.settings.min_score - _EPS for v in role.candidates.values()):
            reason = BELOW_THRESHOLD
        else:
            free = [a for _, _, a in p.cands[r] if a not in st.members.get(r, ()) and _fits(p, empty, r, a, ())]
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


def _result(p: _Problem, st: _State, outs: list[_TierOut]) -> AllocationResult:
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
        gap = max(0.0, bound - objective) / abs(bound) if abs(bound) > _EPS else 0.0
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
