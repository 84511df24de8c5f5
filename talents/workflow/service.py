"""The assignment life cycle: proposals, transitions with their permission rules, the 100 % rule.

States (see docs/workflow.md)::

    proposed ──accept──▶ accepted ──approve (manager link)──▶ approved ──activate──▶ active ──complete──▶ completed
       │ decline            │ refuse                               │
       ▼                    ▼                                      │
    declined             refused          withdrawn ◀── proposed | accepted | approved
                                          expired   ◀── proposed | accepted (deadline passed)

Every change happens in the caller's transaction and, in it: the agent row is locked (PostgreSQL
``SELECT … FOR UPDATE``; SQLite's ``BEGIN IMMEDIATE`` serialises writers), the agent's committed shares
are re-read and checked against 100 % and against declared availability on every day
(:func:`matching.availability.eligibility`), the assignment is updated only if its ``version`` is the one
read (optimistic concurrency), the agent's ``updated_at`` is bumped (the ranking index refreshes it),
the audit log is written and the domain event published.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from matching.availability import above_floor, eligibility
from matching.types import AvailabilityWindow, Commitment
from needs.models import Need, Project, Role
from profiles.models import Agent, AgentSkill, Availability
from profiles.taxonomy import SkillResolver
from talents.kernel.errors import (
    ConflictError,
    DomainError,
    InvalidTransitionError,
    NotFoundError,
    PermissionDeniedError,
    ValidationFailedError,
)
from talents.kernel.events import Event, publish
from talents.kernel.principal import ADMIN, LEAD, REVIEWER, Principal
from talents.kernel.settings import get_settings
from talents.workflow.audit import record
from talents.workflow.models import (
    COMMITTED_STATES,
    PENDING_STATES,
    ApprovalLinkUse,
    Assignment,
    AssignmentPublic,
)
from talents.workflow.tokens import approval_url, make_approval_token, read_approval_token, token_hash

__all__ = ["TRANSITIONS", "AssignmentFilters", "AssignmentService", "SYSTEM"]

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


def _utc(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


@dataclass(frozen=True)
class AssignmentFilters:
    agent_id: int | None = None
    need_id: int | None = None
    state: str | None = None


class AssignmentService:
    """Every write to ``assignment`` goes through here. ``now`` is injectable (jobs, tests)."""

    def __init__(self, session: Session, now: datetime | None = None) -> None:
        self.session = session
        self.now = now or datetime.now(UTC)
        self.settings = get_settings()

    # ================================================================== reads
    def get(self, assignment_id: int) -> Assignment:
        a = self.session.get(Assignment, assignment_id)
        if a is None:
            raise NotFoundError(f"assignment {assignment_id} not found", field="assignment_id")
        return a

    def _agent(self, agent_id: int) -> Agent:
        agent = self.session.get(Agent, agent_id)
        if agent is None:
            raise NotFoundError(f"agent {agent_id} not found", field="agent_id")
        return agent

    def _need(self, need_id: int) -> Need:
        need = self.session.get(Need, need_id)
        if need is None:
            raise NotFoundError(f"need {need_id} not found", field="need_id")
        return need

    def lead_email(self, need: Need) -> str | None:
        if need.lead_email:
            return need.lead_email
        if need.project_id is not None:
            project = self.session.get(Project, need.project_id)
            if project is not None:
                return project.lead_email
        return None

    def is_lead_of(self, principal: Principal, need: Need) -> bool:
        lead = self.lead_email(need)
        return principal.has(LEAD) and bool(lead) and principal.email.lower() == (lead or "").lower()

    def _is_agent(self, principal: Principal, agent: Agent) -> bool:
        if principal.agent_id is not None and principal.agent_id == agent.id:
            return True
        return bool(principal.email) and principal.email.lower() == agent.email.lower()

    def visible_to(self, principal: Principal, a: Assignment) -> bool:
        if principal.has(REVIEWER, ADMIN):
            return True
        return self._is_agent(principal, self._agent(a.agent_id)) or self.is_lead_of(
            principal, self._need(a.need_id)
        )

    def list(
        self, principal: Principal, f: AssignmentFilters, limit: int = 50, offset: int = 0
    ) -> tuple[Sequence[Assignment], int]:
        """Reviewers see every assignment; others their own (as the agent) and those of the needs they lead."""
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
                led = select(Need.id).where(
                    sa.or_(
                        func.lower(Need.lead_email) == email,
                        col(Need.project_id).in_(
                            select(Project.id).where(func.lower(Project.lead_email) == email)
                        ),
                    )
                )
                conds.append(col(Assignment.need_id).in_(led))
            q = q.where(sa.or_(*conds))
        total = self.session.exec(select(func.count()).select_from(q.subquery())).one()
        rows = self.session.exec(q.order_by(col(Assignment.id)).offset(offset).limit(limit)).all()
        return rows, int(total)

    def to_public(self, a: Assignment) -> AssignmentPublic:
        need = self.session.get(Need, a.need_id)
        role = self.session.get(Role, a.role_id)
        agent = self.session.get(Agent, a.agent_id)
        return AssignmentPublic.model_validate(
            {
                **a.model_dump(),
                "need_external_id": need.external_id if need else None,
                "need_title": need.title if need else "",
                "agent_external_id": agent.external_id if agent else None,
                "role_position": role.position if role else None,
                "role_title": role.title if role else "",
            }
        )

    # ================================================================== the 100 % rule
    def lock_agent(self, agent_id: int) -> Agent:
        """Lock the agent row for the rest of the transaction and mark the profile changed."""
        agent = self.session.exec(
            select(Agent)
            .where(Agent.id == agent_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).first()
        if agent is None:
            raise NotFoundError(f"agent {agent_id} not found", field="agent_id")
        agent.updated_at = datetime.now(UTC)  # the wall clock, even in jobs run with another ``now``
        self.session.add(agent)
        return agent

    def lock_role(self, role_id: int) -> Role:
        role = self.session.exec(
            select(Role).where(Role.id == role_id).with_for_update().execution_options(populate_existing=True)
        ).first()
        if role is None:
            raise NotFoundError(f"role {role_id} not found", field="role")
        return role

    def committed(self, agent_id: int, exclude_id: int | None = None) -> builtins.list[Assignment]:
        q = select(Assignment).where(
            Assignment.agent_id == agent_id, col(Assignment.state).in_(COMMITTED_STATES)
        )
        if exclude_id is not None:
            q = q.where(Assignment.id != exclude_id)
        return list(self.session.exec(q.execution_options(populate_existing=True)).all())

    def check_capacity(
        self, agent_id: int, start: date, end: date, share: float, exclude_id: int | None = None
    ) -> None:
        """Refuse (409) when the agent's committed shares plus ``share`` would exceed 100 % or the declared
        availability on any day of [start, end]. Call with the agent locked."""
        floor = self.settings.matching.floor
        if not above_floor(share, floor):
            raise ValidationFailedError(
                f"share must be above {floor:.0%} of working time (got {share:.0%})", field="share"
            )
        windows = self.session.exec(select(Availability).where(Availability.agent_id == agent_id)).all()
        avail = [AvailabilityWindow(w.start, w.end, float(w.share)) for w in windows]
        commits = [Commitment(a.start, a.end, float(a.share)) for a in self.committed(agent_id, exclude_id)]
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

    # ================================================================== events
    def event_data(self, a: Assignment, **extra: Any) -> dict[str, Any]:
        need = self._need(a.need_id)
        role = self.session.get(Role, a.role_id)
        agent = self._agent(a.agent_id)
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
            "manager_email": agent.manager_email,
            "lead_email": self.lead_email(need),
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

    def _emit(
        self,
        kind: str,
        a: Assignment,
        actor: str,
        reason: str = "",
        audit_data: dict[str, Any] | None = None,
        **extra: Any,
    ) -> None:
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

    # ================================================================== proposals
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
        need = self._need(need_id)
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
        self._emit("assignment.forced" if forced else "assignment.proposed", a, actor, reason, audit_data)
        return a

    def propose_manual(
        self, principal: Principal, need_id: int, position: int, agent_id: int, reason: str = ""
    ) -> Assignment:
        """A project lead (of this need) or a reviewer proposes an agent by hand."""
        need = self._need(need_id)
        if not (self.is_lead_of(principal, need) or principal.has(REVIEWER, ADMIN)):
            raise PermissionDeniedError("only the need's project lead or a DINUM reviewer may propose")
        role = self.session.exec(
            select(Role).where(Role.need_id == need_id, Role.position == position)
        ).first()
        if role is None:
            raise NotFoundError(f"need {need_id} has no role at position {position}", field="role")
        score, explanation = self._score(need, role, agent_id)
        return self.propose(
            need.id,
            role.id,
            agent_id,
            principal.email,
            score=score,  # type: ignore[arg-type]
            explanation=explanation,
            reason=reason,
        )

    def _score(self, need: Need, role: Role, agent_id: int) -> tuple[float, dict[str, Any]]:
        from talents.ranking import RankingService

        service = RankingService(self.session)
        with service.cache.lock:
            service.cache.refresh(self.session)
            index = service.cache.interactive
            profile = index.profile(str(agent_id)) if index is not None else None
            if profile is None or index is None:
                return 0.0, {}
            expl = index.explain(profile, service.role_requirement(need, role), floor=service.floor)
        return float(expl["score"]), expl

    # ================================================================== transitions
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
        self._allowed(a, to)
        # Lock, then re-read: a concurrent change committed meanwhile is seen here.
        self.lock_agent(a.agent_id)
        self.session.refresh(a)
        self._allowed(a, to)
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
        self._emit(kind, a, actor, reason, audit_data, **event_extra)
        if to == "approved":
            self._maybe_staffed(a.need_id, actor)
        return a

    def _maybe_staffed(self, need_id: int, actor: str) -> None:
        """``need.staffed`` when the approval just made filled the need's last seat."""
        need = self._need(need_id)
        seats = sum(int(r.count) for r in self.session.exec(select(Role).where(Role.need_id == need_id)).all())
        held = self.session.exec(
            select(func.count()).select_from(Assignment).where(
                Assignment.need_id == need_id, col(Assignment.state).in_(("approved", "active"))
            )
        ).one()
        if seats and int(held) == seats:
            data = {"need_id": need.id, "need_title": need.title, "priority": need.priority,
                    "lead_email": self.lead_email(need), "seats": seats, "reason": ""}
            record(self.session, actor, "need.staffed", "need", need.id, "", data)
            publish(self.session, Event("need.staffed", data, actor))

    @staticmethod
    def _allowed(a: Assignment, to: str) -> None:
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

    # ---------------------------------------------------------------- the agent
    def accept(self, assignment_id: int, principal: Principal, version: int | None = None) -> Assignment:
        a = self.get(assignment_id)
        agent = self._agent(a.agent_id)
        if not self._is_agent(principal, agent):
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

    def request_approval(self, a: Assignment, actor: str) -> str:
        """A new approval link for the agent's manager (valid until the assignment's deadline)."""
        if a.state != "accepted":
            raise InvalidTransitionError(
                f"assignment {a.id} is {a.state}: only an accepted assignment awaits its manager's approval"
            )
        expires = _utc(a.expires_at) or (self.now + timedelta(days=self.settings.matching.approval_ttl_days))
        url = approval_url(make_approval_token(a.id, a.version, expires))  # type: ignore[arg-type]
        data = self.event_data(a, approval_url=url)
        record(
            self.session,
            actor,
            "assignment.approval_requested",
            "assignment",
            a.id,
            "",
            {"version": a.version, "expires_at": expires.isoformat(), "manager_email": data["manager_email"]},
        )
        publish(self.session, Event("assignment.approval_requested", data, actor))
        return url

    def reissue_approval(self, assignment_id: int, principal: Principal) -> str:
        a = self.get(assignment_id)
        need = self._need(a.need_id)
        if not (
            self.is_lead_of(principal, need)
            or principal.has(REVIEWER, ADMIN)
            or self._is_agent(principal, self._agent(a.agent_id))
        ):
            raise PermissionDeniedError(
                "only the agent, the need's project lead or a reviewer may resend the link"
            )
        return self.request_approval(a, principal.email)

    def decline(
        self, assignment_id: int, principal: Principal, reason: str = "", version: int | None = None
    ) -> Assignment:
        a = self.get(assignment_id)
        if not self._is_agent(principal, self._agent(a.agent_id)):
            raise PermissionDeniedError("only the agent may decline their proposal")
        return self.transition(
            a,
            "declined",
            principal.email,
            reason=reason,
            expected_version=version,
            values={"decided_at": self.now},
        )

    # ---------------------------------------------------------------- the manager (signed link)
    def approval_view(self, token: str) -> dict[str, Any]:
        claim = read_approval_token(token, self.now)
        a = self.get(claim.assignment_id)
        used = self.session.get(ApprovalLinkUse, token_hash(token))
        data = self.event_data(a)
        return {
            "assignment_id": a.id,
            "state": a.state,
            "agent_name": data["agent_name"],
            "need_title": data["need_title"],
            "role_title": data["role_title"],
            "share": a.share,
            "start": a.start.isoformat(),
            "end": a.end.isoformat(),
            "priority": data["priority"],
            "lead_email": data["lead_email"],
            "expires_at": claim.expires_at.isoformat(),
            "usable": used is None and a.state == "accepted" and a.version == claim.version,
            "used": used is not None,
        }

    def manager_decide(self, token: str, decision: str, reason: str = "") -> Assignment:
        if decision not in ("approve", "refuse"):
            raise ValidationFailedError("decision must be approve or refuse", field="decision")
        claim = read_approval_token(token, self.now)
        a = self.get(claim.assignment_id)
        agent = self._agent(a.agent_id)
        actor = f"manager:{agent.manager_email or 'unknown'}"
        # Single use, enforced by the primary key (a concurrent second use fails at the insert: 409).
        if self.session.get(ApprovalLinkUse, token_hash(token)) is not None:
            raise InvalidTransitionError("this approval link has already been used")
        if a.version != claim.version:
            raise InvalidTransitionError(
                f"this approval link is out of date: assignment {a.id} is now {a.state} and changed since the "
                "link was sent"
            )
        self.session.add(
            ApprovalLinkUse(
                token_hash=token_hash(token),
                assignment_id=a.id,  # type: ignore[arg-type]
                decision=decision,
                used_at=self.now,
            )
        )
        self.session.flush()
        to = "approved" if decision == "approve" else "refused"
        return self.transition(
            a,
            to,
            actor,
            reason=reason,
            expected_version=claim.version,
            values={"decided_at": self.now, "expires_at": None},
        )

    # ---------------------------------------------------------------- the lead / reviewer
    def _require_lead_or_reviewer(self, principal: Principal, a: Assignment, what: str) -> None:
        if principal.has(REVIEWER, ADMIN):
            return
        if self.is_lead_of(principal, self._need(a.need_id)):
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
        need = self._need(a.need_id)
        if not (self.is_lead_of(principal, need) or principal.has(ADMIN)):
            raise PermissionDeniedError("only the need's project lead records the feedback that completes it")
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
            a, "withdrawn", principal.email, reason=reason.strip(), expected_version=version
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


class OverrideService:
    """DINUM overrides: force an agent onto a role (fixed for every later run), or remove an assignment.

    Reviewers only; a written reason is required (422 without); forcing goes through the same seat and
    100 % checks as any proposal (409 with the reason)."""

    def __init__(self, session: Session, now: datetime | None = None) -> None:
        self.session = session
        self.assignments = AssignmentService(session, now)

    @staticmethod
    def _reason(reason: str | None) -> str:
        text = (reason or "").strip()
        if not text:
            raise ValidationFailedError("a written reason is required for a DINUM override", field="reason")
        return text

    def force(
        self, principal: Principal, agent_id: int, need_id: int, position: int, reason: str
    ) -> Assignment:
        from talents.kernel.principal import require

        require(principal, REVIEWER)
        text = self._reason(reason)
        svc = self.assignments
        need = svc._need(need_id)
        role = self.session.exec(
            select(Role).where(Role.need_id == need_id, Role.position == position)
        ).first()
        if role is None:
            raise NotFoundError(f"need {need_id} has no role at position {position}", field="role")
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
            svc._emit(
                "assignment.forced", existing, principal.email, text, {"override": "force", "existing": True}
            )
            return existing
        score, explanation = svc._score(need, role, agent_id)
        return svc.propose(
            need_id,
            role.id,
            agent_id,
            principal.email,
            score=score,  # type: ignore[arg-type]
            explanation=explanation,
            forced=True,
            reason=text,
            audit_data={"override": "force"},
        )

    def remove(self, principal: Principal, assignment_id: int, reason: str) -> Assignment:
        from talents.kernel.principal import require

        require(principal, REVIEWER)
        text = self._reason(reason)
        a = self.assignments.get(assignment_id)
        return self.assignments.transition(
            a, "withdrawn", principal.email, reason=text, audit_data={"override": "remove"}
        )
