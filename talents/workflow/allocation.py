"""Allocation runs: solver input from the database, the pure solver, the result applied in one transaction.

A run:

1. *reads* (short session): open needs (all, or the ones asked) → their roles with open seats
   (``count`` minus fixed assignments: accepted, approved, active, or DINUM-forced); candidates of each
   role = the top ``allocation_top_k`` eligible agents of the ranking against fixed commitments, plus
   the agents holding an open proposal on it; every agent's capacity = declared availability + fixed
   commitments; the open (non-forced) proposals. In a run limited to some needs, the other open needs'
   roles that hold open proposals come in too, with only those agents as candidates: their proposals
   can be displaced by a higher priority, and nobody new is proposed on them.
2. *solves* with :func:`matching.allocation.allocate` (``min_score`` = ``settings.matching.min_score``).
3. *applies* (not for a dry run) in ONE transaction: withdrawals first, then new proposals, each through
   :class:`AssignmentService` (locks, 100 % re-check, audit, events); what changed meanwhile is skipped and
   reported (``skipped``), never forced. The run itself is audited and ``allocation.run_completed`` published.

A dry run returns the same diff and writes nothing.
"""

from __future__ import annotations

import multiprocessing
import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from matching.allocation import AgentCapacity, AllocationSettings, OpenProposal, OpenRole, allocate
from matching.types import AvailabilityWindow, Commitment
from needs.models import Need, Role
from profiles.models import Agent, Availability
from talents.assignments.exclusions import excluded_agents
from talents.assignments.models import COMMITTED_STATES, FIXED_STATES, AllocationRun, Assignment
from talents.kernel.db import session_scope
from talents.kernel.errors import DomainError
from talents.kernel.events import Event, publish
from talents.kernel.settings import get_settings
from talents.ranking import RankingService, agent_label
from talents.workflow.audit import record
from talents.workflow.service import AssignmentService
from talents.workflow.transitions import SYSTEM

__all__ = ["REASONS", "RunPlan", "plan_run", "run_allocation", "solve_plan"]

# Why a seat stays empty or a proposal is withdrawn, for people.
REASONS = {
    "no_candidate": "aucun agent éligible (compétences requises, disponibilité)",
    "below_threshold": "aucun candidat au-dessus du score minimal",
    "not_available": "les candidats ne sont plus assez disponibles",
    "share_not_above_floor": "la part demandée n'excède pas le plancher",
    "taken_by_higher_priority": "candidats retenus par un besoin plus prioritaire",
    "taken_by_same_priority": "candidats retenus par un autre besoin de même priorité",
    "higher_priority": "agent retenu pour un besoin plus prioritaire",
    "role_closed": "le besoin n'est plus ouvert",
    "not_candidate": "l'agent n'est plus éligible pour ce rôle",
    "seats_reduced": "le rôle compte moins de places",
    "conflict": "l'agent n'est plus disponible pour ce rôle",
}


@dataclass
class _RoleInfo:
    role: Role
    need: Need
    in_scope: bool


@dataclass
class RunPlan:
    """The solver's answer in the database's terms, before anything is written."""

    run_id: str
    need_ids: list[int] | None
    roles: dict[str, _RoleInfo] = field(default_factory=dict)
    agents: dict[int, tuple[str | None, str]] = field(default_factory=dict)  # id → (external id, name)
    result: Any = None
    proposal_ids: dict[tuple[int, int], int] = field(default_factory=dict)  # (role, agent) → assignment id
    proposal_versions: dict[int, int] = field(default_factory=dict)  # assignment id → version planned on
    explanations: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    inputs: Any = None
    ignored_need_ids: list[int] = field(default_factory=list)  # asked for, but unknown or not open


def _fixed(a: Assignment) -> bool:
    return a.state in FIXED_STATES or (a.forced and a.state in COMMITTED_STATES)


def _start_method() -> str | None:
    """How the exact solve's child process starts: 'fork' is cheapest, but forking a threaded process
    (the web server's worker threads) can deadlock the child, so a threaded host uses 'forkserver'."""
    if threading.active_count() > 1 and "forkserver" in multiprocessing.get_all_start_methods():
        return "forkserver"
    return None


def plan_run(
    session: Session, need_ids: Sequence[int] | None = None, run_id: str | None = None, solve: bool = True
) -> RunPlan:
    """Read the database (and, with ``solve``, solve); nothing is written."""
    settings = get_settings().matching
    plan = RunPlan(run_id=run_id or uuid.uuid4().hex, need_ids=list(need_ids) if need_ids is not None else None)
    open_needs = {n.id: n for n in session.exec(select(Need).where(Need.status == "open")).all()}
    scope = set(open_needs) if need_ids is None else {i for i in need_ids if i in open_needs}
    plan.ignored_need_ids = sorted({i for i in need_ids or () if i not in open_needs})
    live = session.exec(
        select(Assignment).where(
            col(Assignment.state).in_(COMMITTED_STATES), col(Assignment.need_id).in_(list(open_needs) or [-1])
        )
    ).all()
    fixed_on_role: dict[int, int] = {}
    proposals_on_role: dict[int, list[Assignment]] = {}
    for a in live:
        if _fixed(a):
            fixed_on_role[a.role_id] = fixed_on_role.get(a.role_id, 0) + 1
        else:
            proposals_on_role.setdefault(a.role_id, []).append(a)
    need_of_role_ids = {n for n in scope} | {a.need_id for a in live if not _fixed(a)}
    roles = session.exec(
        select(Role).where(col(Role.need_id).in_(list(need_of_role_ids) or [-1])).order_by(col(Role.id))
    ).all()
    ranking = RankingService(session)
    ranking.cache.refresh(session)
    excluded = excluded_agents(session, scope)
    open_roles: list[OpenRole] = []
    proposals: list[OpenProposal] = []
    for role in roles:
        need = open_needs[role.need_id]
        in_scope = role.need_id in scope
        holders = proposals_on_role.get(role.id, [])  # type: ignore[arg-type]
        if not in_scope and not holders:
            continue
        seats = max(int(role.count) - fixed_on_role.get(role.id, 0), 0)  # type: ignore[arg-type]
        include = [a.agent_id for a in holders]
        cands = ranking.scores_for(
            need, role, settings.allocation_top_k if in_scope else 0, include, refresh=False,
            exclude=excluded.get(need.id, ()),  # type: ignore[arg-type]
        )
        if not in_scope:
            cands = {k: v for k, v in cands.items() if k in include}
        plan.roles[str(role.id)] = _RoleInfo(role, need, in_scope)
        open_roles.append(
            OpenRole(
                role_id=str(role.id),
                need_id=str(need.id),
                priority=int(need.priority),
                seats=seats,
                share=float(role.share),
                start=need.start,
                end=need.end,
                candidates={str(k): v for k, v in cands.items()},
            )
        )
        for a in holders:
            proposals.append(OpenProposal(str(role.id), str(a.agent_id)))
            plan.proposal_ids[(int(role.id), a.agent_id)] = int(a.id)  # type: ignore[arg-type]
            plan.proposal_versions[int(a.id)] = int(a.version)  # type: ignore[arg-type]
    agent_ids = sorted({int(k) for r in open_roles for k in r.candidates} | {int(p.agent_id) for p in proposals})
    capacities = _capacities(session, agent_ids)
    plan.agents = {
        int(a.id): (a.external_id, a.name)  # type: ignore[arg-type]
        for a in session.exec(select(Agent).where(col(Agent.id).in_(agent_ids or [-1]))).all()
    }
    plan.inputs = (open_roles, capacities, proposals)
    if solve:
        solve_plan(plan)
    return plan


def solve_plan(plan: RunPlan) -> RunPlan:
    """Run the pure solver on the gathered input (no database session needed: SQLite writers are not
    kept waiting while it thinks)."""
    settings = get_settings().matching
    open_roles, capacities, proposals = plan.inputs
    plan.result = allocate(
        open_roles,
        capacities,
        proposals,
        AllocationSettings(
            min_score=settings.min_score,
            time_budget_s=settings.allocation_time_budget_s,
            top_k=settings.allocation_top_k,
            floor=settings.floor,
            exact=settings.allocation_exact,
            start_method=_start_method(),
        ),
    )
    return plan


def _capacities(session: Session, agent_ids: Sequence[int]) -> list[AgentCapacity]:
    windows: dict[int, list[AvailabilityWindow]] = {}
    fixed: dict[int, list[Commitment]] = {}
    needs: dict[int, set[str]] = {}
    for i in range(0, len(agent_ids), 500):
        chunk = list(agent_ids[i : i + 500])
        for w in session.exec(select(Availability).where(col(Availability.agent_id).in_(chunk))).all():
            windows.setdefault(w.agent_id, []).append(AvailabilityWindow(w.start, w.end, float(w.share)))
        for a in session.exec(
            select(Assignment).where(col(Assignment.agent_id).in_(chunk), col(Assignment.state).in_(COMMITTED_STATES))
        ).all():
            if _fixed(a):
                fixed.setdefault(a.agent_id, []).append(Commitment(a.start, a.end, float(a.share)))
                needs.setdefault(a.agent_id, set()).add(str(a.need_id))
    return [
        AgentCapacity(str(a), tuple(windows.get(a, ())), tuple(fixed.get(a, ())), frozenset(needs.get(a, ())))
        for a in agent_ids
    ]


def _reason_text(code: str, by: Iterable[str], plan: RunPlan) -> str:
    text = REASONS.get(code, code)
    names = []
    for rid in by:
        info = plan.roles.get(rid)
        if info is not None:
            names.append(f"{info.need.title} (priorité {info.need.priority}) — {info.role.title}")
    return f"{text} : {', '.join(names)}" if names else text


def _diff(plan: RunPlan) -> dict[str, Any]:
    res = plan.result

    def need_ref(info: _RoleInfo) -> str:
        return info.need.external_id or str(info.need.id)

    def agent_ref(aid: int) -> str:
        ext, _ = plan.agents.get(aid, (None, ""))
        return agent_label(ext, aid)

    assignments = []
    for x in res.assignments:
        info = plan.roles[x.role_id]
        aid = int(x.agent_id)
        assignments.append(
            {
                "need": need_ref(info),
                "role": info.role.position,
                "agent": agent_ref(aid),
                "share": x.share,
                "score": round(float(x.score), 6),
                "priority": x.priority,
                "kept": bool(x.kept),
                "need_id": info.need.id,
                "role_id": info.role.id,
                "agent_id": aid,
                "agent_name": plan.agents.get(aid, (None, ""))[1],
            }
        )
    withdrawn = []
    for w in res.withdrawn:
        withdrawn_info = plan.roles.get(w.role_id)
        aid = int(w.agent_id)
        withdrawn.append(
            {
                "need": need_ref(withdrawn_info) if withdrawn_info else None,
                "role": withdrawn_info.role.position if withdrawn_info else None,
                "agent": agent_ref(aid),
                "reason": w.reason,
                "why": _reason_text(w.reason, w.by_role_ids, plan),
                "by": [
                    {"need": need_ref(plan.roles[r]), "role": plan.roles[r].role.position}
                    for r in w.by_role_ids
                    if r in plan.roles
                ],
                "need_id": withdrawn_info.need.id if withdrawn_info else None,
                "role_id": int(w.role_id),
                "agent_id": aid,
                "assignment_id": plan.proposal_ids.get((int(w.role_id), aid)),
            }
        )
    unfilled = []
    for u in res.unfilled:
        info = plan.roles[u.role_id]
        if not info.in_scope:
            continue
        unfilled.append(
            {
                "need": need_ref(info),
                "role": info.role.position,
                "seats": u.seats,
                "priority": u.priority,
                "reason": u.reason,
                "why": _reason_text(u.reason, u.by_role_ids, plan),
                "by": [
                    {"need": need_ref(plan.roles[r]), "role": plan.roles[r].role.position}
                    for r in u.by_role_ids
                    if r in plan.roles
                ],
                "need_id": info.need.id,
                "role_id": info.role.id,
            }
        )
    return {
        "run_id": plan.run_id,
        "assignments": assignments,
        "proposed": [a for a in assignments if not a["kept"]],
        "withdrawn": withdrawn,
        "unfilled": unfilled,
        "objective": float(res.objective),
        "bound": None if res.bound is None else float(res.bound),
        "gap": None if res.gap is None else float(res.gap),
        "status": res.status,
        "seats_filled": {str(k): v for k, v in res.seats_filled().items()},
        "timings": {k: round(v, 4) for k, v in res.timings.items()},
    }


def run_allocation(
    engine: Engine,
    *,
    actor: str = SYSTEM,
    dry_run: bool = True,
    need_ids: Sequence[int] | None = None,
    trigger: str = "manual",
    now: datetime | None = None,
) -> dict[str, Any]:
    """Plan a run and, unless ``dry_run``, apply it in one transaction. Returns the diff (JSON-ready)."""
    now = now or datetime.now(UTC)
    started = datetime.now(UTC)
    with session_scope(engine) as session:
        plan = plan_run(session, need_ids, solve=False)
    solve_plan(plan)
    out = _diff(plan)
    out.update(
        {
            "dry_run": dry_run,
            "need_ids": plan.need_ids,
            "trigger": trigger,
            "skipped": [],
            "ignored_need_ids": plan.ignored_need_ids,
        }
    )
    if dry_run:
        return out
    with session_scope(engine) as session:
        _apply(session, plan, out, actor, now, trigger, started)
    return out


def _apply(
    session: Session,
    plan: RunPlan,
    out: dict[str, Any],
    actor: str,
    now: datetime,
    trigger: str,
    started: datetime,
) -> None:
    service = AssignmentService(session, now)
    # Lock order everywhere: roles (by id), then agents (by id) — no deadlock between runs and requests.
    new = [a for a in out["proposed"]]
    for rid in sorted({a["role_id"] for a in new}):
        service.lock_role(rid)
    for aid in sorted({a["agent_id"] for a in new} | {w["agent_id"] for w in out["withdrawn"]}):
        try:
            service.lock_agent(aid)
        except DomainError:
            continue
    skipped: list[dict[str, Any]] = []
    applied_withdrawals = []
    for w in out["withdrawn"]:
        aid = w.get("assignment_id")
        a = session.get(Assignment, aid) if aid else None
        if a is None:
            continue
        try:
            with session.begin_nested():
                service.transition(
                    a,
                    "withdrawn",
                    actor,
                    reason=w["why"],
                    # Only the proposal the plan saw: accepted, forced or changed since, it stays as it is.
                    expected_version=plan.proposal_versions.get(int(aid), -1),
                    audit_data={"run_id": plan.run_id, "code": w["reason"], "by": w["by"]},
                    run_id=plan.run_id,
                )
            applied_withdrawals.append(w)
        except DomainError as exc:  # accepted or withdrawn meanwhile: it stays as it is now
            skipped.append({**w, "kind": "withdrawal", "skipped_because": exc.message})
    applied = []
    for p in new:
        try:
            with session.begin_nested():
                service.propose(
                    p["need_id"],
                    p["role_id"],
                    p["agent_id"],
                    actor,
                    score=p["score"],
                    run_id=plan.run_id,
                    explanation=_explanation(session, p),
                    audit_data={"run_id": plan.run_id},
                )
            applied.append(p)
        except DomainError as exc:  # the world changed since the plan: report, never force
            skipped.append({**p, "kind": "proposal", "skipped_because": exc.message})
        except sa.exc.IntegrityError as exc:  # the database's own guards (seat index, 100 % trigger)
            skipped.append({**p, "kind": "proposal", "skipped_because": f"refused by the database: {exc.orig}"})
    out["skipped"] = skipped
    out["applied"] = {"proposed": len(applied), "withdrawn": len(applied_withdrawals)}
    summary = {
        "proposed": len(applied),
        "withdrawn": len(applied_withdrawals),
        "skipped": len(skipped),
        "kept": sum(1 for a in out["assignments"] if a["kept"]),
        "unfilled_seats": sum(u["seats"] for u in out["unfilled"]),
        "objective": out["objective"],
        "bound": out["bound"],
        "gap": out["gap"],
        "status": out["status"],
    }
    session.add(
        AllocationRun(
            id=plan.run_id,
            started_at=started,
            finished_at=datetime.now(UTC),
            actor=actor[:254],
            dry_run=False,
            trigger=trigger,
            need_ids=plan.need_ids,
            summary=summary,
        )
    )
    record(
        session,
        actor,
        "allocation.run",
        "allocation_run",
        plan.run_id,
        trigger,
        {**summary, "need_ids": plan.need_ids},
    )
    publish(
        session,
        Event("allocation.run_completed", {"run_id": plan.run_id, "trigger": trigger, **summary}, actor),
    )


def _explanation(session: Session, p: dict[str, Any]) -> dict[str, Any]:
    need = session.get(Need, p["need_id"])
    role = session.get(Role, p["role_id"])
    if need is None or role is None:
        return {}
    ranking = RankingService(session)
    with ranking.cache.lock:
        index = ranking.cache.interactive
        profile = index.profile(str(p["agent_id"])) if index is not None else None
        if index is None or profile is None:
            return {}
        return index.explain(profile, ranking.role_requirement(need, role), floor=ranking.floor)
