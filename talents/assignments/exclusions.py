"""Who is no longer a candidate for a need: declines, refusals and removals are remembered per need.

An agent who declined a seat, whose manager refused it, or whom a person (DINUM, the project lead) removed
with a reason, is never proposed again for that need by an automatic run, nor ranked for it, nor put in its
team proposal. A person may still propose them by hand, with a written reason. Withdrawals by an allocation
run (for a higher-priority need) and expiries are not held against the agent.

The memory is the assignments themselves (their final state) and, for removals, the audit log's line of the
withdrawal, which the database keeps append-only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import sqlalchemy as sa

from talents.assignments.states import COMMITTED_STATES
from talents.kernel.prepared import Prepared
from talents.ranking_tables import assignment, audit_event

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

__all__ = ["REFUSING_STATES", "REMOVAL_MARK", "excluded_agents", "left_out_of_need", "removal_audit"]

# Final states in which the agent (or their manager) said no.
REFUSING_STATES: tuple[str, ...] = ("declined", "refused")
# The audit data key a person's removal carries (an automatic run's withdrawal does not).
REMOVAL_MARK = "removed"


def removal_audit(**extra: object) -> dict[str, object]:
    """The audit data of a withdrawal made by a person: remembered against the agent for that need."""
    return {REMOVAL_MARK: True, **extra}


def _is_removal(data: object) -> bool:
    """Whether a withdrawal's audit data says a person removed the agent."""
    return isinstance(data, dict) and bool(data.get(REMOVAL_MARK) or data.get("override") == "remove")


# A need's assignments that leave their agent out, each withdrawal with its audit line's data (what says whether a
# person removed the agent): members, refusals and removals in one statement, asked on every new state of the
# ranking index for each need ranked.
_LEFT_OUT = Prepared(
    sa.select(assignment.c.agent_id, assignment.c.state, audit_event.c.data)
    .select_from(assignment.outerjoin(audit_event, sa.and_(
        assignment.c.state == "withdrawn",
        audit_event.c.action == "assignment.withdrawn",
        audit_event.c.subject_type == "assignment",
        audit_event.c.subject_id == sa.cast(assignment.c.id, sa.String),
    )))
    .where(assignment.c.need_id == sa.bindparam("need_id"),
           assignment.c.state.in_((*COMMITTED_STATES, *REFUSING_STATES, "withdrawn")))
)


def left_out_of_need(conn: sa.Connection, need_id: int) -> set[int]:
    """The agents a need leaves out of its candidates: its members (a live assignment), and those who declined,
    were refused or were removed from it by a person (:func:`excluded_agents`), in one query."""
    _, rows = _LEFT_OUT.tuples(conn, {"need_id": need_id})
    return {agent_id for agent_id, state, data in rows if state != "withdrawn" or _is_removal(data)}


def excluded_agents(session: Session | sa.Connection, need_ids: Iterable[int]) -> dict[int, set[int]]:
    """For each need, the agents who declined, were refused, or were removed from it by a person (read with
    Core queries: the ranking's read path asks on a plain connection)."""
    ids = sorted(set(need_ids))
    out: dict[int, set[int]] = {i: set() for i in ids}
    if not ids:
        return out
    withdrawn: dict[str, tuple[int, int]] = {}
    for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
        rows = session.execute(
            sa.select(assignment.c.id, assignment.c.need_id, assignment.c.agent_id, assignment.c.state).where(
                assignment.c.need_id.in_(chunk), assignment.c.state.in_((*REFUSING_STATES, "withdrawn"))
            )
        ).all()
        for aid, need_id, agent_id, state in rows:
            if state in REFUSING_STATES:
                out[need_id].add(agent_id)
            else:
                withdrawn[str(aid)] = (need_id, agent_id)
    keys = list(withdrawn)
    for chunk_keys in (keys[i : i + 500] for i in range(0, len(keys), 500)):
        events = session.execute(
            sa.select(audit_event.c.subject_id, audit_event.c.data).where(
                audit_event.c.action == "assignment.withdrawn",
                audit_event.c.subject_type == "assignment",
                audit_event.c.subject_id.in_(chunk_keys),
            )
        ).all()
        for subject_id, data in events:
            if _is_removal(data):
                need_id, agent_id = withdrawn[subject_id]
                out[need_id].add(agent_id)
    return out
