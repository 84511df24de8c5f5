"""Who may read or change a profile, and the access log of personal data.

A profile is its agent's; leads and DINUM reviewers read profiles for staffing (each read is written to the
access log), reviewers and admins change them. Routes declare these rules in ``profiles.controllers``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlmodel import Session

from profiles.models import AccessLog, Agent
from talents.kernel.access import ObjectCheck
from talents.kernel.errors import PermissionDeniedError
from talents.kernel.principal import ADMIN, LEAD, REVIEWER, Principal, require

__all__ = [
    "check_agent_create",
    "log_profile_view",
    "owner_or_reader",
    "owner_or_reviewer",
    "sees_everything",
]


def sees_everything(principal: Principal) -> bool:
    """DINUM reviewers and admins: every profile, private ones included, with every field."""
    return principal.has(REVIEWER, ADMIN)


def log_profile_view(session: Session, principal: Principal, agent_id: int, path: str,
                     action: str = "view") -> None:
    """Append who read whose personal data (GDPR access log)."""
    session.add(AccessLog(viewer_email=principal.email, viewer_roles=",".join(sorted(principal.roles)),
                          agent_id=agent_id, action=action, path=path[:300]))


def _own_profile_or(*roles: str, log: bool) -> ObjectCheck:
    def check(session: Session, principal: Principal, params: Mapping[str, Any], path: str) -> None:
        agent_id = int(params["agent_id"])
        if principal.agent_id == agent_id:
            return
        require(principal, *roles)
        if log:
            agent = session.get(Agent, agent_id)
            if agent is not None and agent.erased_at is None:
                log_profile_view(session, principal, agent_id, path)

    return check


# The agent themselves, or a lead/reviewer (the read is logged).
owner_or_reader: ObjectCheck = _own_profile_or(LEAD, REVIEWER, log=True)
# The agent themselves, or a reviewer.
owner_or_reviewer: ObjectCheck = _own_profile_or(REVIEWER, log=False)


def check_agent_create(principal: Principal, data: Any) -> None:
    """Agents create only their own profile (same e-mail); reviewers and admins any."""
    if sees_everything(principal):
        return
    if str(getattr(data, "email", "")).strip().lower() != principal.email.lower():
        raise PermissionDeniedError("you may only create your own profile (with your own e-mail)", field="email")

