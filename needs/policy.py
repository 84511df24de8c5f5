"""Who leads a need or a project, and what a lead may do with them.

:func:`need_leads` is the one answer to "who leads this need": the need's own ``lead_email`` and its project's
lead. The API, the pages and the workflow all ask it (through :func:`leads_need` or :func:`lead_email`).
Reviewers and admins may change any project or need; leads only theirs; priority and hand-overs are DINUM's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from needs.models import Need, Project
from talents.kernel.errors import PermissionDeniedError
from talents.kernel.fields import same_email
from talents.kernel.principal import ADMIN, LEAD, REVIEWER, Principal, require

__all__ = [
    "check_need_update",
    "check_need_writer",
    "check_project_update",
    "check_project_writer",
    "claim_need",
    "claim_project",
    "lead_email",
    "leads_need",
    "need_leads",
    "need_writer",
    "needs_led_by",
    "project_writer",
]


def need_leads(session: Session, need: Need) -> list[str]:
    """Who leads this need: its own lead first, then its project's (either may act as its lead)."""
    leads = [need.lead_email] if need.lead_email else []
    project = session.get(Project, need.project_id) if need.project_id is not None else None
    if project is not None and project.lead_email and not any(same_email(project.lead_email, x) for x in leads):
        leads.append(project.lead_email)
    return leads


def lead_email(session: Session, need: Need) -> str | None:
    """The need's lead to write to (its own, else its project's)."""
    return next(iter(need_leads(session, need)), None)


def leads_need(session: Session, principal: Principal, need: Need) -> bool:
    """The principal holds the lead role and leads this need (directly or through its project)."""
    return principal.has(LEAD) and any(same_email(principal.email, x) for x in need_leads(session, need))


def needs_led_by(email: str) -> Any:
    """The same rule as :func:`need_leads`, as a subquery of need ids (for lists filtered in SQL)."""
    email = email.strip().lower()
    return select(Need.id).where(sa.or_(
        func.lower(Need.lead_email) == email,
        col(Need.project_id).in_(select(Project.id).where(func.lower(Project.lead_email) == email)),
    ))


# The FTE ministries pledged are what DINUM reviews staffing against: a lead does not write them.
_PLEDGES = "ministries' FTE pledges are recorded by DINUM (a reviewer), not by a project lead"


def _privileged(principal: Principal) -> bool:
    return principal.has(REVIEWER, ADMIN)


def check_project_writer(session: Session, principal: Principal, project_id: int) -> None:
    """The project's lead, a reviewer or an admin (a missing project: the handler's 404)."""
    if _privileged(principal):
        return
    require(principal, LEAD)
    project = session.get(Project, project_id)
    if project is not None and not same_email(principal.email, project.lead_email):
        raise PermissionDeniedError("only the project's lead may change it", field="project_id")


def check_need_writer(session: Session, principal: Principal, need_id: int) -> None:
    """The need's lead (its own or its project's), a reviewer or an admin (a missing need: the handler's 404)."""
    if _privileged(principal):
        return
    require(principal, LEAD)
    need = session.get(Need, need_id)
    if need is not None and not leads_need(session, principal, need):
        raise PermissionDeniedError("only the need's lead may change it", field="need_id")


def project_writer(session: Session, principal: Principal, params: Mapping[str, Any], _path: str) -> None:
    """Route check on ``{project_id}``."""
    check_project_writer(session, principal, int(params["project_id"]))


def need_writer(session: Session, principal: Principal, params: Mapping[str, Any], _path: str) -> None:
    """Route check on ``{need_id}``."""
    check_need_writer(session, principal, int(params["need_id"]))


# --------------------------------------------------------------------------- checks on request bodies
def claim_project(principal: Principal, data: Any) -> None:
    """A lead creates projects they lead: ``lead_email`` defaults to theirs and may not name someone else."""
    if _privileged(principal):
        return
    if not data.lead_email:
        data.lead_email = principal.email
    elif not same_email(principal.email, data.lead_email):
        raise PermissionDeniedError("a lead may only create projects they lead", field="lead_email")
    if getattr(data, "pledges", None):
        raise PermissionDeniedError(_PLEDGES, field="pledges")


def claim_need(session: Session, principal: Principal, data: Any, default_priority: int = 3) -> None:
    """A lead creates needs they lead, in their own projects, at the default priority (reviewers set it)."""
    if _privileged(principal):
        return
    claim_project(principal, data)
    if getattr(data, "project_id", None):
        check_project_writer(session, principal, int(data.project_id))
    if getattr(data, "project", None):
        project = session.exec(select(Project).where(Project.external_id == data.project)).first()
        if project is not None and project.id is not None:
            check_project_writer(session, principal, project.id)
    if data.priority != default_priority:
        raise PermissionDeniedError("only a DINUM reviewer sets a need's priority", field="priority")


def check_need_update(session: Session, principal: Principal, data: Any) -> None:
    """Priority and lead are the reviewers' to change; a lead may move a need only into their own project."""
    if _privileged(principal):
        return
    changed = data.model_dump(exclude_unset=True)
    if "priority" in changed:
        raise PermissionDeniedError("only a DINUM reviewer sets a need's priority", field="priority")
    if "lead_email" in changed and not same_email(principal.email, changed["lead_email"]):
        raise PermissionDeniedError("only a reviewer hands a need over to another lead", field="lead_email")
    if changed.get("project_id"):
        check_project_writer(session, principal, int(changed["project_id"]))


def check_project_update(principal: Principal, data: Any) -> None:
    if _privileged(principal):
        return
    changed = data.model_dump(exclude_unset=True)
    if "lead_email" in changed and not same_email(principal.email, changed["lead_email"]):
        raise PermissionDeniedError("only a reviewer hands a project over to another lead", field="lead_email")
    if "pledges" in changed:
        raise PermissionDeniedError(_PLEDGES, field="pledges")
