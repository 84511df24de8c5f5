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

__all__ = ["REFUSING_STATES", "REMOVAL_MARK", "excluded_agents", "left_out_of_need", "need_standing", "removal_audit"]

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


def _leaving_out(states: tuple[str, ...]) -> Prepared:
    """The needs' assignments in ``states``, each withdrawal with its audit line's data (what says whether a person
    removed the agent): one statement, prepared once."""
    return Prepared(
        sa.select(assignment.c.need_id, assignment.c.agent_id, assignment.c.state, audit_event.c.data,
                  assignment.c.role_id)
        .select_from(assignment.outerjoin(audit_event, sa.and_(
            assignment.c.state == "withdrawn",
            audit_event.c.action == "assignment.withdrawn",
            audit_event.c.subject_type == "assignment",
            audit_event.c.subject_id == sa.cast(assignment.c.id, sa.String),
        )))
        .where(assignment.c.need_id.in_(sa.bindparam("need_ids", expanding=True)), assignment.c.state.in_(states))
    )


_EXCLUDING = _leaving_out((*REFUSING_STATES, "withdrawn"))
_LEAVING_OUT = _leaving_out((*COMMITTED_STATES, *REFUSING_STATES, "withdrawn"))  # members too


def _left_out(conn: sa.Connection, statement: Prepared, need_ids: Iterable[int]) -> dict[int, set[int]]:
    ids = sorted(set(need_ids))
    out: dict[int, set[int]] = {i: set() for i in ids}
    for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
        for need_id, agent_id, state, data, _role_id in statement.tuples(conn, {"need_ids": chunk})[1]:
            if state != "withdrawn" or _is_removal(data):
                out[need_id].add(agent_id)
    return out


def need_standing(conn: sa.Connection, need_id: int) -> tuple[set[int], dict[int, int]]:
    """What a need's rankings and team read of its assignments, in one query: the agents it leaves out
    (:func:`left_out_of_need`), and how many seats of each of its roles are held (by role id)."""
    left_out: set[int] = set()
    taken: dict[int, int] = {}
    for _need, agent_id, state, data, role_id in _LEAVING_OUT.tuples(conn, {"need_ids": [need_id]})[1]:
        if state != "withdrawn" or _is_removal(data):
            left_out.add(agent_id)
        if state in COMMITTED_STATES:
            taken[role_id] = taken.get(role_id, 0) + 1
    return left_out, taken


def left_out_of_need(conn: sa.Connection, need_id: int) -> set[int]:
    """The agents a need leaves out of its candidates: its members (a live assignment), and those who declined,
    were refused or were removed from it by a person (:func:`excluded_agents`), in one query (asked on every new
    state of the ranking index for each need ranked)."""
    return need_standing(conn, need_id)[0]


def excluded_agents(session: Session | sa.Connection, need_ids: Iterable[int]) -> dict[int, set[int]]:
    """For each need, the agents who declined, were refused, or were removed from it by a person (what the session
    has not written yet included)."""
    if isinstance(session, sa.Connection):
        return _left_out(session, _EXCLUDING, need_ids)
    session.flush()
    return _left_out(session.connection(), _EXCLUDING, need_ids)
