"""DINUM overrides: force an agent onto a role (fixed for every later run), or remove an assignment.

Reviewers only; a written reason is required (422 without); forcing goes through the same seat and
100 % checks as any proposal (409 with the reason).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from talents.assignments.exclusions import removal_audit
from talents.assignments.models import COMMITTED_STATES, Assignment
from talents.kernel.errors import ConflictError, ValidationFailedError
from talents.kernel.principal import REVIEWER, Principal, require
from talents.workflow.proposals import Proposals

__all__ = ["OverrideService"]


class OverrideService:
    """Overrides through the proposals' public operations (the same locks, checks, audit and events)."""

    def __init__(self, session: Session, now: datetime | None = None) -> None:
        self.session = session
        self.assignments = Proposals(session, now)

    @staticmethod
    def _reason(reason: str | None) -> str:
        text = (reason or "").strip()
        if not text:
            raise ValidationFailedError("a written reason is required for a DINUM override", field="reason")
        return text

    def force(
        self, principal: Principal, agent_id: int, need_id: int, position: int, reason: str
    ) -> Assignment:
        require(principal, REVIEWER)
        text = self._reason(reason)
        svc = self.assignments
        need = svc.need(need_id)
        role = svc.role_at(need_id, position)
        svc.lock_role(role.id)  # type: ignore[arg-type]
        svc.lock_agent(agent_id)
        existing = self.session.exec(
            select(Assignment).where(
                Assignment.need_id == need_id,
                Assignment.agent_id == agent_id,
                col(Assignment.state).in_(COMMITTED_STATES),
            )
        ).first()
        if existing is not None:
            if existing.role_id != role.id:
                raise ConflictError(
                    f"the agent already holds another role of need {need_id} "
                    f"(assignment {existing.id}); remove it first",
                    field="agent_id",
                )
            if existing.forced:
                raise ConflictError(f"assignment {existing.id} is already forced", field="agent_id")
            res = self.session.execute(
                sa.update(Assignment)
                .where(col(Assignment.id) == existing.id, col(Assignment.version) == existing.version)
                .values(forced=True, reason=text[:2000], version=existing.version + 1, updated_at=svc.now)
                .execution_options(synchronize_session=False)
            )
            if res.rowcount != 1:  # type: ignore[attr-defined]
                raise ConflictError(f"assignment {existing.id} changed meanwhile; try again", field="version")
            self.session.refresh(existing)
            svc.emit(
                "assignment.forced", existing, principal.email, text, {"override": "force", "existing": True}
            )
            return existing
        score, explanation = svc.score(need, role, agent_id)
        return svc.propose(
            need_id,
            role.id,  # type: ignore[arg-type]
            agent_id,
            principal.email,
            score=score,
            explanation=explanation,
            forced=True,
            reason=text,
            audit_data={"override": "force"},
        )

    def remove(self, principal: Principal, assignment_id: int, reason: str) -> Assignment:
        require(principal, REVIEWER)
        text = self._reason(reason)
        a = self.assignments.get(assignment_id)
        return self.assignments.transition(
            a, "withdrawn", principal.email, reason=text, audit_data=removal_audit(override="remove")
        )
