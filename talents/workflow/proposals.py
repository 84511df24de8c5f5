"""Proposals: a new assignment on a role of an open need, by a run, a project lead or a DINUM override.

A proposal takes a free seat of the role, at most one seat per agent and need, and passes the 100 % rule
(:mod:`talents.workflow.capacity`); its score and explanation are the ranking's for that agent and role.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import col, func, select

from needs.models import Need, Role
from needs.policy import leads_need
from talents.assignments.exclusions import excluded_agents
from talents.assignments.models import COMMITTED_STATES, Assignment
from talents.kernel.errors import (
    ConflictError,
    InvalidTransitionError,
    NotFoundError,
    PermissionDeniedError,
    ValidationFailedError,
)
from talents.kernel.principal import ADMIN, REVIEWER, Principal
from talents.ranking import RankingService
from talents.workflow.transitions import Lifecycle

__all__ = ["Proposals"]


class Proposals(Lifecycle):
    """Creates assignments in state ``proposed`` (or forced ones, for overrides)."""

    def propose(
        self,
        need_id: int,
        role_id: int,
        agent_id: int,
        actor: str,
        *,
        score: float = 0.0,
        explanation: dict[str, Any] | None = None,
        run_id: str | None = None,
        forced: bool = False,
        reason: str = "",
        audit_data: dict[str, Any] | None = None,
    ) -> Assignment:
        """A new proposal (state ``proposed``), after the seat, one-seat-per-need and 100 % checks."""
        need = self.need(need_id)
        role = self.lock_role(role_id)
        if role.need_id != need.id:
            raise ValidationFailedError(f"role {role_id} is not a role of need {need_id}", field="role")
        if need.status != "open":
            raise InvalidTransitionError(f"need {need.id} is {need.status}: only open needs take proposals")
        live = self.session.exec(
            select(func.count())
            .select_from(Assignment)
            .where(Assignment.role_id == role.id, col(Assignment.state).in_(COMMITTED_STATES))
        ).one()
        if int(live) >= role.count:
            raise ConflictError(
                f"role {role.position} of need {need.id} has no open seat ({role.count} of {role.count} taken)",
                field="role",
            )
        if self.lock_agent(agent_id).erased_at is not None:
            raise NotFoundError(f"agent {agent_id} not found (erased)", field="agent_id")
        other = self.session.exec(
            select(Assignment.id).where(
                Assignment.need_id == need.id,
                Assignment.agent_id == agent_id,
                col(Assignment.state).in_(COMMITTED_STATES),
            )
        ).first()
        if other is not None:
            raise ConflictError(
                f"the agent already holds a seat in need {need.id} (assignment {other})", field="agent_id"
            )
        self.check_capacity(agent_id, need.start, need.end, float(role.share))
        a = Assignment(
            need_id=need.id,
            role_id=role.id,
            agent_id=agent_id,
            share=float(role.share),
            start=need.start,  # type: ignore[arg-type]
            end=need.end,
            state="proposed",
            score=float(score),
            explanation=explanation or {},
            forced=forced,
            reason=reason[:2000],
            run_id=run_id,
            created_by=actor[:254],
            created_at=self.now,
            updated_at=self.now,
            expires_at=self.now + timedelta(days=self.settings.matching.proposal_ttl_days),
        )
        self.session.add(a)
        self.session.flush()
        self.emit("assignment.forced" if forced else "assignment.proposed", a, actor, reason, audit_data)
        return a

    def propose_manual(
        self, principal: Principal, need_id: int, position: int, agent_id: int, reason: str = ""
    ) -> Assignment:
        """A project lead (of this need) or a reviewer proposes an agent by hand."""
        need = self.need(need_id)
        if not (leads_need(self.session, principal, need) or principal.has(REVIEWER, ADMIN)):
            raise PermissionDeniedError("only the need's project lead or a DINUM reviewer may propose")
        role = self.role_at(need_id, position)
        score, explanation = self.score(need, role, agent_id)
        if not reason.strip():
            self._require_reason(need, agent_id, score)
        return self.propose(
            need.id,
            role.id,  # type: ignore[arg-type]
            agent_id,
            principal.email,
            score=score,
            explanation=explanation,
            reason=reason,
        )

    def _require_reason(self, need: Need, agent_id: int, score: float) -> None:
        """A hand proposal the engine would not make needs a written reason: a score below the minimum of
        automatic proposals, or an agent who declined, was refused or was removed from this need."""
        minimum = self.settings.matching.min_score
        if score < minimum:
            raise ValidationFailedError(
                f"reason: the agent's score for this role ({score:.2f}) is below the minimum of automatic "
                f"proposals ({minimum:.2f}); a written reason is required to propose them by hand",
                field="reason",
            )
        if agent_id in excluded_agents(self.session, [int(need.id)]).get(int(need.id), set()):  # type: ignore[arg-type]
            raise ValidationFailedError(
                "reason: the agent declined, was refused or was removed from this need; a written reason "
                "is required to propose them again",
                field="reason",
            )

    def role_at(self, need_id: int, position: int) -> Role:
        """The need's role at ``position`` (1-based, as in the need's list of roles)."""
        role = self.session.exec(select(Role).where(Role.need_id == need_id, Role.position == position)).first()
        if role is None:
            raise NotFoundError(f"need {need_id} has no role at position {position}", field="role")
        return role

    def score(self, need: Need, role: Role, agent_id: int) -> tuple[float, dict[str, Any]]:
        """The ranking's score and explanation for this agent on this role (0 and none when they cannot be
        matched), their profile as it is now (see :meth:`~talents.ranking_index.RankingReader.explain_now`)."""
        expl = RankingService(self.session).explain_now(agent_id, need, role)
        return (0.0, {}) if expl is None else (float(expl["score"]), expl)
