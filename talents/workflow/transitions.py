"""The assignment life cycle: which state may follow which, and the one way a state changes.

States (see docs/workflow.md)::

    proposed ──accept──▶ accepted ──approve (manager link)──▶ approved ──activate──▶ active ──complete──▶ completed
       │ decline            │ refuse                               │
       ▼                    ▼                                      │
    declined             refused          withdrawn ◀── proposed | accepted | approved
                                          expired   ◀── proposed | accepted (deadline passed)

Every change happens in the caller's transaction and, in it: the agent row is locked and the 100 % rule
re-checked (:mod:`talents.workflow.capacity`), the assignment is updated only if its ``version`` is the
one read (optimistic concurrency), the agent's ``updated_at`` is bumped (the ranking index refreshes it),
the audit log is written and the domain event published.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from needs.models import Need, Role
from needs.policy import lead_email
from profiles.models import Agent
from profiles.policy import manager_of
from talents.assignments.models import COMMITTED_STATES, PENDING_STATES, Assignment
from talents.kernel.errors import ConflictError, InvalidTransitionError, NotFoundError
from talents.kernel.events import Event, publish
from talents.kernel.principal import Principal
from talents.kernel.settings import get_settings
from talents.workflow import capacity
from talents.workflow.audit import record

__all__ = ["SYSTEM", "TRANSITIONS", "Lifecycle"]

SYSTEM = "system"

# (from state, to state) → the event kind published.
TRANSITIONS: dict[tuple[str, str], str] = {
    ("proposed", "accepted"): "assignment.accepted",
    ("proposed", "declined"): "assignment.declined",
    ("accepted", "approved"): "assignment.approved",
    ("accepted", "refused"): "assignment.refused",
    ("approved", "active"): "assignment.activated",
    ("active", "completed"): "assignment.completed",
    **{(s, "withdrawn"): "assignment.withdrawn" for s in PENDING_STATES},
    ("proposed", "expired"): "assignment.expired",
    ("accepted", "expired"): "assignment.expired",
}

_VERBS = {
    "accepted": "accept",
    "declined": "decline",
    "approved": "approve",
    "refused": "refuse",
    "active": "activate",
    "completed": "complete",
    "withdrawn": "withdraw",
    "expired": "expire",
}


class Lifecycle:
    """Reads, locks, events and :meth:`transition`: what proposals, approvals and overrides build on.
    ``now`` is injectable (jobs, tests)."""

    def __init__(self, session: Session, now: datetime | None = None) -> None:
        self.session = session
        self.now = now or datetime.now(UTC)
        self.settings = get_settings()

    # ---------------------------------------------------------------- reads
    def get(self, assignment_id: int) -> Assignment:
        a = self.session.get(Assignment, assignment_id)
        if a is None:
            raise NotFoundError(f"assignment {assignment_id} not found", field="assignment_id")
        return a

    def agent(self, agent_id: int) -> Agent:
        agent = self.session.get(Agent, agent_id)
        if agent is None:
            raise NotFoundError(f"agent {agent_id} not found", field="agent_id")
        return agent

    def need(self, need_id: int) -> Need:
        need = self.session.get(Need, need_id)
        if need is None:
            raise NotFoundError(f"need {need_id} not found", field="need_id")
        return need

    @staticmethod
    def is_agent(principal: Principal, agent: Agent) -> bool:
        if principal.agent_id is not None and principal.agent_id == agent.id:
            return True
        return bool(principal.email) and principal.email.lower() == agent.email.lower()

    # ---------------------------------------------------------------- locks and the 100 % rule
    def lock_agent(self, agent_id: int) -> Agent:
        return capacity.lock_agent(self.session, agent_id)

    def lock_role(self, role_id: int) -> Role:
        return capacity.lock_role(self.session, role_id)

    def committed(self, agent_id: int, exclude_id: int | None = None) -> list[Assignment]:
        return capacity.committed(self.session, agent_id, exclude_id)

    def check_capacity(
        self, agent_id: int, start: date, end: date, share: float, exclude_id: int | None = None
    ) -> None:
        capacity.check_capacity(
            self.session, agent_id, start, end, share, self.settings.matching.floor, exclude_id
        )

    # ---------------------------------------------------------------- events
    def event_data(self, a: Assignment, **extra: Any) -> dict[str, Any]:
        need = self.need(a.need_id)
        role = self.session.get(Role, a.role_id)
        agent = self.agent(a.agent_id)
        return {
            "assignment_id": a.id,
            "need_id": a.need_id,
            "need_external_id": need.external_id,
            "need_title": need.title,
            "role_id": a.role_id,
            "role_title": role.title if role else "",
            "priority": need.priority,
            "agent_id": a.agent_id,
            "agent_email": agent.email,
            "agent_name": agent.name,
            "manager_email": manager_of(agent),
            "lead_email": lead_email(self.session, need),
            "share": a.share,
            "start": a.start.isoformat(),
            "end": a.end.isoformat(),
            "state": a.state,
            "forced": a.forced,
            "run_id": a.run_id,
            "approval_url": None,
            "reason": a.reason,
            **extra,
        }

    def emit(
        self,
        kind: str,
        a: Assignment,
        actor: str,
        reason: str = "",
        audit_data: dict[str, Any] | None = None,
        **extra: Any,
    ) -> None:
        """Write the audit line and publish the event of a change to ``a``."""
        data = self.event_data(a, **({"reason": reason} if reason else {}), **extra)
        record(
            self.session,
            actor,
            kind,
            "assignment",
            a.id,
            reason,
            {
                "state": a.state,
                "version": a.version,
                "need_id": a.need_id,
                "role_id": a.role_id,
                "agent_id": a.agent_id,
                "share": a.share,
                "run_id": a.run_id,
                "forced": a.forced,
                **(audit_data or {}),
            },
        )
        publish(self.session, Event(kind, data, actor))

    # ---------------------------------------------------------------- transitions
    def transition(
        self,
        a: Assignment,
        to: str,
        actor: str,
        *,
        reason: str = "",
        expected_version: int | None = None,
        values: dict[str, Any] | None = None,
        audit_data: dict[str, Any] | None = None,
        **event_extra: Any,
    ) -> Assignment:
        """Move ``a`` to ``to`` if the life cycle allows it (else 409 with the reason)."""
        self.allowed(a, to)
        # Lock, then re-read: a concurrent change committed meanwhile is seen here.
        self.lock_agent(a.agent_id)
        self.session.refresh(a)
        self.allowed(a, to)
        if expected_version is not None and a.version != expected_version:
            raise ConflictError(
                f"assignment {a.id} changed meanwhile (version {a.version}, you sent {expected_version}); "
                "reload it and try again",
                field="version",
            )
        kind = TRANSITIONS[(a.state, to)]
        if to in COMMITTED_STATES:
            self.check_capacity(a.agent_id, a.start, a.end, float(a.share), exclude_id=a.id)
        changes: dict[str, Any] = {
            "state": to,
            "version": a.version + 1,
            "updated_at": self.now,
            **(values or {}),
        }
        if reason:
            changes["reason"] = reason[:2000]
        res = self.session.execute(
            sa.update(Assignment)
            .where(col(Assignment.id) == a.id, col(Assignment.version) == a.version)
            .values(**changes)
            .execution_options(synchronize_session=False)
        )
        if res.rowcount != 1:  # type: ignore[attr-defined]
            raise ConflictError(
                f"assignment {a.id} changed meanwhile; reload it and try again", field="version"
            )
        self.session.refresh(a)
        self.emit(kind, a, actor, reason, audit_data, **event_extra)
        if to == "approved":
            self._maybe_staffed(a.need_id, actor)
        return a

    def _maybe_staffed(self, need_id: int, actor: str) -> None:
        """``need.staffed`` when the approval just made filled the need's last seat."""
        need = self.need(need_id)
        seats = sum(int(r.count) for r in self.session.exec(select(Role).where(Role.need_id == need_id)).all())
        held = self.session.exec(
            select(func.count()).select_from(Assignment).where(
                Assignment.need_id == need_id, col(Assignment.state).in_(("approved", "active"))
            )
        ).one()
        if seats and int(held) == seats:
            data = {"need_id": need.id, "need_title": need.title, "priority": need.priority,
                    "lead_email": lead_email(self.session, need), "seats": seats, "reason": ""}
            record(self.session, actor, "need.staffed", "need", need.id, "", data)
            publish(self.session, Event("need.staffed", data, actor))

    @staticmethod
    def allowed(a: Assignment, to: str) -> None:
        """Refuse (409) a change the life cycle does not allow from ``a``'s state, saying what is allowed."""
        if (a.state, to) not in TRANSITIONS:
            allowed = sorted(t for f, t in TRANSITIONS if f == a.state)
            hint = (
                f"; from {a.state} it may only become {', '.join(allowed)}"
                if allowed
                else f"; {a.state} is final"
            )
            raise InvalidTransitionError(
                f"cannot {_VERBS.get(to, to)} assignment {a.id}: it is {a.state}{hint}"
            )
