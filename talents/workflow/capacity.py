"""Capacity and locking: the row locks every assignment change takes, and the 100 % rule.

The agent row is locked (PostgreSQL ``SELECT … FOR UPDATE``; SQLite's ``BEGIN IMMEDIATE`` serialises
writers) before the agent's committed shares are re-read, so two changes for the same agent never both
pass the check. The rule itself (availability minus commitments on every day, above the floor) is
:func:`matching.availability.eligibility`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlmodel import Session, col, select

from matching.availability import above_floor, eligibility
from matching.types import AvailabilityWindow, Commitment
from needs.models import Role
from profiles.models import Agent, Availability
from talents.assignments.models import COMMITTED_STATES, Assignment
from talents.kernel.errors import ConflictError, NotFoundError, ValidationFailedError

__all__ = ["check_capacity", "committed", "lock_agent", "lock_role"]


def lock_agent(session: Session, agent_id: int) -> Agent:
    """Lock the agent row for the rest of the transaction and mark the profile changed."""
    agent = session.exec(
        select(Agent).where(Agent.id == agent_id).with_for_update().execution_options(populate_existing=True)
    ).first()
    if agent is None:
        raise NotFoundError(f"agent {agent_id} not found", field="agent_id")
    agent.updated_at = datetime.now(UTC)  # the wall clock, even in jobs run with another ``now``
    session.add(agent)
    return agent


def lock_role(session: Session, role_id: int) -> Role:
    role = session.exec(
        select(Role).where(Role.id == role_id).with_for_update().execution_options(populate_existing=True)
    ).first()
    if role is None:
        raise NotFoundError(f"role {role_id} not found", field="role")
    return role


def committed(session: Session, agent_id: int, exclude_id: int | None = None) -> list[Assignment]:
    """The agent's assignments that hold their time (re-read from the database, not the session's cache)."""
    q = select(Assignment).where(Assignment.agent_id == agent_id, col(Assignment.state).in_(COMMITTED_STATES))
    if exclude_id is not None:
        q = q.where(Assignment.id != exclude_id)
    return list(session.exec(q.execution_options(populate_existing=True)).all())


def check_capacity(
    session: Session,
    agent_id: int,
    start: date,
    end: date,
    share: float,
    floor: float,
    exclude_id: int | None = None,
) -> None:
    """Refuse (409) when the agent's committed shares plus ``share`` would exceed 100 % or the declared
    availability on any day of [start, end]. Call with the agent locked."""
    if not above_floor(share, floor):
        raise ValidationFailedError(
            f"share must be above {floor:.0%} of working time (got {share:.0%})", field="share"
        )
    windows = session.exec(select(Availability).where(Availability.agent_id == agent_id)).all()
    avail = [AvailabilityWindow(w.start, w.end, float(w.share)) for w in windows]
    commits = [Commitment(a.start, a.end, float(a.share)) for a in committed(session, agent_id, exclude_id)]
    el = eligibility(avail, commits, start, end, share, floor)
    if el.eligible:
        return
    short = next((s for s in el.segments if s.free + 1e-9 < share), None)
    day = short.start if short else start
    free = short.free if short else 0.0
    raise ConflictError(
        f"the agent cannot take {share:.0%} from {start:%d/%m/%Y} to {end:%d/%m/%Y}: on {day:%d/%m/%Y} "
        f"only {max(free, 0):.0%} of their time is free (declared availability minus assignments); "
        "an agent is never committed above 100 % nor above their declared availability",
        field="share",
    )
