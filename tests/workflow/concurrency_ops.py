"""Operations fired concurrently by the concurrency tests, runnable in a thread or a forked process.

Each operation opens its own session like a request would, and returns ``("ok", payload)`` or
``("err", kind, status, message)``; anything but a domain error (409/422/404) or a lock wait that ran out
(503, what a request would answer on a machine too loaded to get the lock in time) is a failure of the test.
"""

from __future__ import annotations

import traceback
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlmodel import col, select

from matching.availability import free_segments
from matching.types import AvailabilityWindow, Commitment
from needs.models import Need, Role
from profiles.models import Availability
from talents.assignments.models import COMMITTED_STATES, Assignment
from talents.kernel.db import database_error_reason, session_scope
from talents.kernel.errors import DomainError
from talents.kernel.principal import AGENT, LEAD, REVIEWER, Principal
from talents.workflow.allocation import run_allocation
from talents.workflow.overrides import OverrideService
from talents.workflow.service import AssignmentService

REVIEWER_P = Principal(email="revue@numerique.gouv.fr", roles=frozenset({REVIEWER}))
LEAD_P = Principal(email="lead@numerique.gouv.fr", roles=frozenset({LEAD}))


def agent_p(ext: str) -> Principal:
    return Principal(email=f"{ext}@agents.gouv.fr", roles=frozenset({AGENT}))


def execute(engine: Engine, op: str, args: dict[str, Any]) -> tuple[Any, ...]:
    try:
        return ("ok", _OPS[op](engine, **args))
    except DomainError as exc:
        return ("err", type(exc).__name__, exc.status_code, exc.message)
    except Exception as exc:  # noqa: BLE001 - reported to the test, which fails on it
        if (reason := database_error_reason(exc)) and "timeout" in reason:
            return ("err", type(exc).__name__, 503, reason)
        return ("err", type(exc).__name__, 500, f"{exc}\n{traceback.format_exc()}")


def _run(engine: Engine, need_ids: list[int]) -> dict[str, Any]:
    out = run_allocation(engine, actor=REVIEWER_P.email, dry_run=False, need_ids=need_ids)
    return {"run_id": out["run_id"], "proposed": out["applied"]["proposed"], "withdrawn": out["applied"]["withdrawn"],
            "skipped": len(out["skipped"])}


def _accept(engine: Engine, assignment_id: int, ext: str) -> dict[str, Any]:
    with session_scope(engine) as s:
        a = AssignmentService(s).accept(assignment_id, agent_p(ext))
        return {"id": a.id, "state": a.state, "version": a.version}


def _approve(engine: Engine, token: str) -> dict[str, Any]:
    with session_scope(engine) as s:
        a = AssignmentService(s).manager_decide(token, "approve")
        return {"id": a.id, "state": a.state, "version": a.version}


def _force(engine: Engine, agent_id: int, need_id: int) -> dict[str, Any]:
    with session_scope(engine) as s:
        a = OverrideService(s).force(REVIEWER_P, agent_id, need_id, 0, "test de concurrence")
        return {"id": a.id, "state": a.state, "forced": a.forced}


def _propose(engine: Engine, agent_id: int, need_id: int) -> dict[str, Any]:
    with session_scope(engine) as s:
        a = AssignmentService(s).propose_manual(LEAD_P, need_id, 0, agent_id, "proposé à la main")
        return {"id": a.id, "state": a.state}


_OPS = {"run": _run, "accept": _accept, "approve": _approve, "force": _force, "propose": _propose}


def overcommitted(engine: Engine) -> list[str]:
    """Agents and days where live shares exceed 100 % or the declared availability (should be none)."""
    problems = []
    with session_scope(engine) as s:
        live = s.exec(select(Assignment).where(col(Assignment.state).in_(COMMITTED_STATES))).all()
        by_agent: dict[int, list[Assignment]] = {}
        for a in live:
            by_agent.setdefault(a.agent_id, []).append(a)
        for agent_id, rows in by_agent.items():
            windows = s.exec(select(Availability).where(Availability.agent_id == agent_id)).all()
            avail = [AvailabilityWindow(w.start, w.end, w.share) for w in windows]
            lo, hi = min(a.start for a in rows), max(a.end for a in rows)
            for seg in free_segments(avail, [Commitment(a.start, a.end, a.share) for a in rows], lo, hi):
                if seg.free < -1e-9:
                    problems.append(f"agent {agent_id} at {1 - seg.free:.0%} from {seg.start} to {seg.end}")
            needs = [a.need_id for a in rows]
            if len(needs) != len(set(needs)):
                problems.append(f"agent {agent_id} holds two seats of one need")
        for role in s.exec(select(Role)).all():
            n = sum(1 for a in live if a.role_id == role.id)
            if n > role.count:
                problems.append(f"role {role.id} has {n} live members for {role.count} seats")
    return problems


def round_needs(engine: Engine, r: int, base: date) -> tuple[int, int]:
    """Two needs of round ``r`` over their own few days: priority 3 and priority 1 (2 seats of 60 % each)."""
    start = base + timedelta(days=5 * r)
    end = start + timedelta(days=3)
    ids = []
    with session_scope(engine) as s:
        for prio, suffix in ((3, "lo"), (1, "hi")):
            n = Need(external_id=f"r{r}-{suffix}", title=f"Round {r} {suffix}", priority=prio, start=start, end=end,
                     lead_email=LEAD_P.email, status="open")
            s.add(n)
            s.flush()
            role = Role(need_id=n.id, position=0, title="Dev", count=2, share=0.6)
            s.add(role)
            s.flush()
            from needs.models import RoleSkill

            s.add(RoleSkill(role_id=role.id, skill_id="python", level=3, required=True, typed="python"))
            ids.append(int(n.id))  # type: ignore[arg-type]
    return ids[0], ids[1]


def close_needs(engine: Engine, need_ids: list[int]) -> None:
    with session_scope(engine) as s:
        for n in s.exec(select(Need).where(col(Need.id).in_(need_ids))).all():
            n.status = "closed"
            s.add(n)


def _remove(engine: Engine, assignment_id: int) -> dict[str, Any]:
    with session_scope(engine) as s:
        a = OverrideService(s).remove(REVIEWER_P, assignment_id, "fin de manche")
        return {"id": a.id, "state": a.state}


_OPS["remove"] = _remove
