"""Manager approvals: the signed, single-use link sent to the agent's manager once the agent accepted.

The link names the assignment and its version: any change to the assignment makes it out of date, and
its first use is recorded (:class:`ApprovalLinkUse`, whose primary key refuses a second one).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import col, func, select

from needs.policy import leads_need
from profiles.models import Agent
from talents.assignments.models import ApprovalLinkUse, Assignment
from talents.kernel.errors import InvalidTransitionError, PermissionDeniedError, ValidationFailedError
from talents.kernel.events import Event, publish
from talents.kernel.principal import ADMIN, REVIEWER, Principal
from talents.workflow.audit import record
from talents.workflow.tokens import approval_url, make_approval_token, read_approval_token, token_hash
from talents.workflow.transitions import Lifecycle

__all__ = ["ManagerApprovals"]


class ManagerApprovals(Lifecycle):
    """Sends the approval link, shows what it is about, and records the manager's decision."""

    def request_approval(self, a: Assignment, actor: str) -> str:
        """A new approval link for the agent's manager (valid until the assignment's deadline)."""
        if a.state != "accepted":
            raise InvalidTransitionError(
                f"assignment {a.id} is {a.state}: only an accepted assignment awaits its manager's approval"
            )
        expires = a.expires_at or (self.now + timedelta(days=self.settings.matching.approval_ttl_days))
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
        """A new link for the manager, obtained by the need's lead or DINUM — never by the agent, who would then
        approve their own release."""
        a = self.get(assignment_id)
        if self.is_agent(principal, self.agent(a.agent_id)):
            raise PermissionDeniedError("nobody obtains the approval link of their own assignment")
        if not (leads_need(self.session, principal, self.need(a.need_id)) or principal.has(REVIEWER, ADMIN)):
            raise PermissionDeniedError("only the need's lead or a DINUM reviewer obtains the approval link")
        return self.request_approval(a, principal.email)

    def waiting_for(self, principal: Principal) -> list[tuple[Assignment, str]]:
        """The requests awaiting this manager (signed in): each accepted assignment of an agent they manage,
        with the path of its signed approval page (the same page the e-mailed link opens)."""
        if not principal.email:
            return []
        rows = self.session.exec(
            select(Assignment).join(Agent, col(Agent.id) == Assignment.agent_id)
            .where(Assignment.state == "accepted", func.lower(Agent.manager_email) == principal.email.lower(),
                   # an agent recorded as their own manager (before the rule existed) approves nothing
                   func.lower(Agent.email) != principal.email.lower())
            .order_by(col(Assignment.expires_at))
        ).all()
        out = []
        for a in rows:
            expires = a.expires_at or (self.now + timedelta(days=self.settings.matching.approval_ttl_days))
            out.append((a, f"/manager/approvals/{make_approval_token(a.id, a.version, expires)}"))  # type: ignore[arg-type]
        return out

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
        agent = self.agent(a.agent_id)
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
