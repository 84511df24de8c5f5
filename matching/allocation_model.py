"""Allocation model: the public input/output records and the problem built once from them.

:func:`build_problem` turns roles, agents and open proposals into a :class:`Problem` (indexed
candidates, utilities, free-share calendars); :class:`State` is what a solver changes while it works.
Solvers live in :mod:`matching.allocation_solvers`, the entry point in :mod:`matching.allocation`.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from matching.availability import DEFAULT_FLOOR, above_floor, free_segments
from matching.types import AvailabilityWindow, Commitment

__all__ = [
    "BELOW_THRESHOLD",
    "CONFLICT",
    "EPS",
    "HIGHER_PRIORITY",
    "INT_TOL",
    "NOT_AVAILABLE",
    "NOT_CANDIDATE",
    "NO_CANDIDATE",
    "ROLE_CLOSED",
    "SEATS_REDUCED",
    "SHARE_NOT_ABOVE_FLOOR",
    "TAKEN_BY_HIGHER_PRIORITY",
    "TAKEN_BY_SAME_PRIORITY",
    "AgentCapacity",
    "AllocationResult",
    "AllocationSettings",
    "Assignment",
    "OpenProposal",
    "OpenRole",
    "Problem",
    "State",
    "TierOut",
    "TierReport",
    "Unfilled",
    "Withdrawal",
    "assign",
    "build_problem",
    "fits",
    "min_free",
    "pair_utility",
    "unassign",
]

EPS = 1e-9
INT_TOL = 1e-6

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
class Problem:
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
class State:
    used: dict[int, list[tuple[int, int, float, int]]] = field(default_factory=dict)
    in_need: set[tuple[str, int]] = field(default_factory=set)
    members: dict[int, list[int]] = field(default_factory=dict)
    kept: set[tuple[int, int]] = field(default_factory=set)
    withdrawn: list[tuple[int, int, str, tuple[int, ...]]] = field(default_factory=list)


@dataclass(slots=True)
class TierOut:
    priority: int
    pairs: list[tuple[int, int]]
    kept: list[tuple[int, int]]
    withdrawn: list[tuple[int, int, str, tuple[int, ...]]]
    report: TierReport


def assign(p: Problem, st: State, r: int, a: int) -> None:
    st.used.setdefault(a, []).append((p.rs[r], p.re[r], p.share[r], r))
    st.in_need.add((p.need[r], a))
    st.members.setdefault(r, []).append(a)


def unassign(p: Problem, st: State, r: int, a: int) -> None:
    lst = st.used[a]
    for i, item in enumerate(lst):
        if item[3] == r:
            del lst[i]
            break
    st.in_need.discard((p.need[r], a))
    st.members[r].remove(a)


def min_free(p: Problem, a: int, s: int, e: int, used: Sequence[tuple[int, int, float, int]]) -> float:
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
        return min_free(p, a, s, e, ())
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
        if vals[i] < share - EPS:
            return False
        i += 1
    return True


def fits(p: Problem, st: State, r: int, a: int, used: Sequence[tuple[int, int, float, int]] | None = None) -> bool:
    """Agent ``a`` can take role ``r`` now: not yet in its need, free share ≥ share on every day."""
    if (p.need[r], a) in st.in_need or p.need[r] in p.fixed_needs[a]:
        return False
    u = st.used.get(a, ()) if used is None else used
    if not u and a in p.cand_u[r]:
        return True  # listed candidates were checked against the fixed load when built
    return min_free(p, a, p.rs[r], p.re[r], u) >= p.share[r] - EPS


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


def build_problem(
    roles: Sequence[OpenRole],
    agents: Iterable[AgentCapacity],
    proposals: Iterable[OpenProposal],
    settings: AllocationSettings,
) -> Problem:
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
                if score < settings.min_score - EPS or agent_id not in cap_by_id:
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

    p = Problem(
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
    empty = State()
    for r, agent_id in prop_list:
        role = roles[r]
        if agent_id not in role.candidates:
            early.append((role.role_id, agent_id, NOT_CANDIDATE))
        elif role.candidates[agent_id] < settings.min_score - EPS:
            early.append((role.role_id, agent_id, BELOW_THRESHOLD))
        elif agent_index.get(agent_id, -1) not in p.cand_u[r] or not fits(p, empty, r, agent_index[agent_id], ()):
            early.append((role.role_id, agent_id, NOT_AVAILABLE))
        else:
            p.proposals.setdefault(r, []).append(agent_index[agent_id])
    for r, lst_a in p.proposals.items():
        lst_a.sort(key=lambda a, r=r: (-p.cand_u[r][a], p.agent_ids[a]))
    return p
