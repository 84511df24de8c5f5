"""Assignments as their agent, project lead and reviewers see them: listing, and each party's moves.

The life cycle and the one way a state changes are in :mod:`talents.workflow.transitions`; proposals in
:mod:`talents.workflow.proposals`; the manager's signed link in :mod:`talents.workflow.approvals`;
capacity and locking in :mod:`talents.workflow.capacity`; DINUM overrides in
:mod:`talents.workflow.overrides`. This service gathers them with the rules of who may do what.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, func, select

from needs.models import Need, Role
from needs.policy import leads_need, needs_led_by
from profiles.models import Agent, AgentSkill
from profiles.taxonomy import SkillResolver
from talents.assignments.exclusions import removal_audit
from talents.assignments.models import Assignment, AssignmentPublic
from talents.kernel.errors import DomainError, PermissionDeniedError, ValidationFailedError
from talents.kernel.principal import ADMIN, LEAD, REVIEWER, Principal
from talents.workflow.approvals import ManagerApprovals
from talents.workflow.proposals import Proposals
from talents.workflow.transitions import SYSTEM

__all__ = ["AssignmentFilters", "AssignmentService"]


@dataclass(frozen=True)
class AssignmentFilters:
    agent_id: int | None = None
    need_id: int | None = None
    state: str | None = None


class AssignmentService(Proposals, ManagerApprovals):
    """Every write to ``assignment`` goes through here. ``now`` is injectable (jobs, tests)."""

    # ================================================================== reads
    def visible_to(self, principal: Principal, a: Assignment) -> bool:
        if principal.has(REVIEWER, ADMIN):
            return True
        return self.is_agent(principal, self.agent(a.agent_id)) or leads_need(
            self.session, principal, self.need(a.need_id)
        )

    def list(
        self, principal: Principal, f: AssignmentFilters, limit: int = 50, offset: int = 0
    ) -> tuple[Sequence[Assignment], int]:
        """A page of the assignments ``principal`` may see (see :meth:`visible`), and how many there are in all."""
        q = self._visible(principal, f)
        total = self.session.exec(select(func.count()).select_from(q.subquery())).one()
        return self._page(q, limit, offset), int(total)

    def visible(
        self, principal: Principal, f: AssignmentFilters, limit: int = 50, offset: int = 0
    ) -> Sequence[Assignment]:
        """Reviewers see every assignment; others their own (as the agent) and those of the needs they lead."""
        return self._page(self._visible(principal, f), limit, offset)

    def _page(self, q: Any, limit: int, offset: int) -> Sequence[Assignment]:
        return self.session.exec(q.order_by(col(Assignment.id)).offset(offset).limit(limit)).all()

    def _visible(self, principal: Principal, f: AssignmentFilters) -> Any:
        q = select(Assignment)
        if f.agent_id is not None:
            q = q.where(Assignment.agent_id == f.agent_id)
        if f.need_id is not None:
            q = q.where(Assignment.need_id == f.need_id)
        if f.state:
            q = q.where(Assignment.state == f.state)
        if not principal.has(REVIEWER, ADMIN):
            email = principal.email.lower()
            mine = select(Agent.id).where(func.lower(Agent.email) == email)
            conds = [col(Assignment.agent_id).in_(mine)]
            if principal.agent_id is not None:
                conds.append(Assignment.agent_id == principal.agent_id)
            if principal.has(LEAD) and email:
                conds.append(col(Assignment.need_id).in_(needs_led_by(email)))
            q = q.where(sa.or_(*conds))
        return q

    def to_public(self, a: Assignment) -> AssignmentPublic:
        return self.to_public_many([a])[0]

    def to_public_many(self, rows: Sequence[Assignment]) -> builtins.list[AssignmentPublic]:
        """The assignments as the API shows them: their needs', roles' and agents' columns read in one query each
        (not three reads per assignment)."""

        def by_id(id_column: Any, *columns: Any, ids: set[int]) -> dict[int, Any]:
            if not ids:
                return {}
            return {r[0]: r for r in self.session.execute(sa.select(id_column, *columns).where(id_column.in_(ids)))}

        needs = by_id(col(Need.id), Need.external_id, Need.title, ids={a.need_id for a in rows})
        roles = by_id(col(Role.id), Role.position, Role.title, ids={a.role_id for a in rows})
        agents = by_id(col(Agent.id), Agent.external_id, ids={a.agent_id for a in rows})
        out = []
        for a in rows:
            need, role, agent = needs.get(a.need_id), roles.get(a.role_id), agents.get(a.agent_id)
            out.append(AssignmentPublic.model_validate({
                **a.model_dump(),
                "need_external_id": need.external_id if need else None,
                "need_title": need.title if need else "",
                "agent_external_id": agent.external_id if agent else None,
                "role_position": role.position if role else None,
                "role_title": role.title if role else "",
            }))
        return out

    # ---------------------------------------------------------------- the agent
    def accept(self, assignment_id: int, principal: Principal, version: int | None = None) -> Assignment:
        a = self.get(assignment_id)
        agent = self.agent(a.agent_id)
        if not self.is_agent(principal, agent):
            raise PermissionDeniedError("only the agent may accept their proposal")
        expires = self.now + timedelta(days=self.settings.matching.approval_ttl_days)
        a = self.transition(
            a,
            "accepted",
            principal.email,
            expected_version=version,
            values={"expires_at": expires, "decided_at": self.now},
        )
        self.request_approval(a, principal.email)
        return a

    def decline(
        self, assignment_id: int, principal: Principal, reason: str = "", version: int | None = None
    ) -> Assignment:
        a = self.get(assignment_id)
        if not self.is_agent(principal, self.agent(a.agent_id)):
            raise PermissionDeniedError("only the agent may decline their proposal")
        return self.transition(
            a,
            "declined",
            principal.email,
            reason=reason,
            expected_version=version,
            values={"decided_at": self.now},
        )

    # ---------------------------------------------------------------- the lead / reviewer
    def _require_lead_or_reviewer(self, principal: Principal, a: Assignment, what: str) -> None:
        if principal.has(REVIEWER, ADMIN):
            return
        if leads_need(self.session, principal, self.need(a.need_id)):
            if a.forced:
                raise PermissionDeniedError(f"only a DINUM reviewer may {what} an assignment DINUM forced")
            return
        raise PermissionDeniedError(
            f"only the need's project lead or a DINUM reviewer may {what} this assignment"
        )

    def activate(self, assignment_id: int, principal: Principal, version: int | None = None) -> Assignment:
        a = self.get(assignment_id)
        self._require_lead_or_reviewer(principal, a, "activate")
        return self.transition(a, "active", principal.email, expected_version=version)

    def complete(
        self,
        assignment_id: int,
        principal: Principal,
        feedback: str,
        endorse: Iterable[str] = (),
        version: int | None = None,
    ) -> Assignment:
        a = self.get(assignment_id)
        need = self.need(a.need_id)
        if not (leads_need(self.session, principal, need) or principal.has(ADMIN)):
            raise PermissionDeniedError("only the need's project lead records the feedback that completes it")
        if self.is_agent(principal, self.agent(a.agent_id)):
            # The feedback endorses the agent's skills: nobody endorses their own.
            raise PermissionDeniedError("nobody completes their own assignment nor endorses their own skills")
        if not feedback.strip():
            raise ValidationFailedError("feedback is required to complete an assignment", field="feedback")
        rows = self._endorsable(a.agent_id, endorse)
        a = self.transition(
            a,
            "completed",
            principal.email,
            expected_version=version,
            values={"feedback": feedback.strip()[:4000]},
            audit_data={"endorsed": [r.skill_id for r in rows]},
            endorsed=[r.skill_id for r in rows],
        )
        if rows:
            self.session.execute(
                sa.update(AgentSkill)
                .where(col(AgentSkill.id).in_([r.id for r in rows]))
                .values(endorsements=AgentSkill.endorsements + 1)
                .execution_options(synchronize_session=False)
            )
        return a

    def _endorsable(self, agent_id: int, names: Iterable[str]) -> builtins.list[AgentSkill]:
        names = [n for n in dict.fromkeys(n.strip() for n in names) if n]
        if not names:
            return []
        held = {
            s.skill_id: s
            for s in self.session.exec(select(AgentSkill).where(AgentSkill.agent_id == agent_id)).all()
        }
        resolver: SkillResolver | None = None
        out: list[AgentSkill] = []
        for i, name in enumerate(names):
            sid = name if name in held else None
            if sid is None:
                resolver = resolver or SkillResolver(self.session)
                sid = resolver.resolve(name).skill_id
            if sid is None or sid not in held:
                raise ValidationFailedError(
                    f"endorse.{i}: {name!r} is not a skill on the agent's profile", field=f"endorse.{i}"
                )
            if held[sid] not in out:
                out.append(held[sid])
        return out

    def withdraw(
        self, assignment_id: int, principal: Principal, reason: str, version: int | None = None
    ) -> Assignment:
        a = self.get(assignment_id)
        self._require_lead_or_reviewer(principal, a, "withdraw")
        if not reason.strip():
            raise ValidationFailedError("a reason is required to withdraw an assignment", field="reason")
        return self.transition(
            a, "withdrawn", principal.email, reason=reason.strip(), expected_version=version,
            audit_data=removal_audit(),
        )

    # ---------------------------------------------------------------- jobs
    def expire_overdue(self) -> builtins.list[int]:
        """Proposals and approvals not answered by their deadline become ``expired``."""
        rows = self.session.exec(
            select(Assignment)
            .where(
                col(Assignment.state).in_(("proposed", "accepted")),
                col(Assignment.expires_at).is_not(None),
                col(Assignment.expires_at) <= self.now,
            )
            .order_by(col(Assignment.id))
        ).all()
        done = []
        for a in rows:
            try:
                with self.session.begin_nested():
                    reason = (
                        "the agent did not answer in time"
                        if a.state == "proposed"
                        else "the manager did not decide in time"
                    )
                    self.transition(a, "expired", SYSTEM, reason=reason, expected_version=a.version)
                    done.append(int(a.id))  # type: ignore[arg-type]
            except DomainError:  # changed meanwhile, or the 100 % re-check refused it: left as it is
                continue
        return done

    def activate_started(self) -> builtins.list[int]:
        """Approved assignments whose start date has come become ``active``."""
        rows = self.session.exec(
            select(Assignment)
            .where(Assignment.state == "approved", col(Assignment.start) <= self.now.date())
            .order_by(col(Assignment.id))
        ).all()
        done = []
        for a in rows:
            try:
                with self.session.begin_nested():
                    self.transition(a, "active", SYSTEM, expected_version=a.version)
                    done.append(int(a.id))  # type: ignore[arg-type]
            except DomainError:  # changed meanwhile, or the 100 % re-check refused it: left as it is
                continue
        return done
