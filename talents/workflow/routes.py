"""HTTP API of the workflow: assignments and their transitions, runs, overrides, audit.

The manager's signed approval link opens a page of :mod:`talents.web.manager`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any, Literal

import anyio
from litestar import get, post
from litestar.params import QueryParameter
from litestar.response import Stream
from pydantic import BaseModel, Field
from sqlmodel import Session, col, func, select

from talents.assignments.models import ALL_STATES, AllocationRun, AssignmentPublic, AuditEventPublic
from talents.kernel.access import rule
from talents.kernel.api import Limit, Offset, Page
from talents.kernel.db import get_engine, session_scope
from talents.kernel.errors import NotFoundError, ValidationFailedError
from talents.kernel.fields import StrictNumbers
from talents.kernel.principal import ADMIN, LEAD, REVIEWER, Principal
from talents.workflow.allocation import run_allocation
from talents.workflow.allocation_job import install_triggers
from talents.workflow.audit import AuditFilters, AuditService
from talents.workflow.audit import install as install_audit
from talents.workflow.overrides import OverrideService
from talents.workflow.service import AssignmentFilters, AssignmentService

__all__ = ["on_startup", "route_handlers"]


def _assignment_party(session: Session, principal: Principal, params: Any, _path: str) -> None:
    """The assigned agent, the need's lead, a reviewer or an admin; anyone else does not see it (404)."""
    if principal.has(REVIEWER, ADMIN):
        return
    service = AssignmentService(session)
    assignment_id = int(params["assignment_id"])
    try:
        visible = service.visible_to(principal, service.get(assignment_id))
    except NotFoundError:
        return  # the handler answers 404
    if not visible:
        raise NotFoundError(f"assignment {assignment_id} not found", field="assignment_id")


# Who may call each route (read by the auth middleware).
_PARTY = rule(check=_assignment_party, why="the assigned agent, the need's lead, or a reviewer")
_REVIEWERS = rule(REVIEWER, why="DINUM reviewers")


# --------------------------------------------------------------------------- schemas
class VersionBody(StrictNumbers):
    version: int | None = Field(default=None, ge=1, description="The version read; 409 if it changed")


class ReasonBody(VersionBody):
    reason: str = Field(default="", max_length=2000)


class CompleteBody(VersionBody):
    feedback: str = Field(min_length=1, max_length=4000)
    endorse: list[str] = Field(default_factory=list, max_length=50, description="Skills the agent showed")


class ProposeBody(StrictNumbers):
    need_id: int
    role: int = Field(ge=0, description="Role position in the need (0-based)")
    agent_id: int
    reason: str = Field(default="", max_length=2000)


class RunBody(StrictNumbers):
    dry_run: bool = True
    need_ids: list[int] | None = Field(default=None, max_length=1000)


class OverrideBody(StrictNumbers):
    action: Literal["force", "remove"] = "force"
    reason: str = Field(default="", max_length=2000)
    agent_id: int | None = None
    need_id: int | None = None
    role: int | None = Field(default=None, ge=0)
    assignment_id: int | None = None


class LinkPublic(BaseModel):
    approval_url: str


# --------------------------------------------------------------------------- assignments
@get(
    "/api/v1/assignments",
    sync_to_thread=True,
    tags=["workflow"],
    summary="Assignments (agents see their own, leads those of their needs, reviewers all)",
    opt=rule(why="any signed-in principal; the list is filtered to what they may see"),
)
def list_assignments(
    db_session: Session,
    principal: Principal,
    limit: Limit = 50,
    offset: Offset = 0,
    agent_id: int | None = None,
    need_id: int | None = None,
    state_: Annotated[str | None, QueryParameter(name="state")] = None,
) -> Page[AssignmentPublic]:
    state = state_
    if state is not None and state not in ALL_STATES:
        raise ValidationFailedError(f"state must be one of {', '.join(ALL_STATES)}", field="state")
    service = AssignmentService(db_session)
    rows, total = service.list(principal, AssignmentFilters(agent_id, need_id, state), limit, offset)
    return Page(data=service.to_public_many(rows), count=total, limit=limit, offset=offset)


@post("/api/v1/assignments", sync_to_thread=True, tags=["workflow"], summary="Propose an agent by hand",
      opt=rule(LEAD, REVIEWER, why="proposals by hand: leads (their needs) and reviewers"))
def propose(db_session: Session, principal: Principal, data: ProposeBody) -> AssignmentPublic:
    service = AssignmentService(db_session)
    return service.to_public(
        service.propose_manual(principal, data.need_id, data.role, data.agent_id, data.reason)
    )


@get("/api/v1/assignments/{assignment_id:int}", sync_to_thread=True, tags=["workflow"], opt=_PARTY)
def get_assignment(db_session: Session, assignment_id: int) -> AssignmentPublic:
    service = AssignmentService(db_session)
    return service.to_public(service.get(assignment_id))


def _body(data: VersionBody | None) -> VersionBody:
    return data or VersionBody()


def _step(action: str, *, opt: dict[str, Any] = _PARTY, **kwargs: Any) -> Any:
    """The route of one step of an assignment's life (the service checks that the caller may take it)."""
    return post(f"/api/v1/assignments/{{assignment_id:int}}/{action}", sync_to_thread=True, tags=["workflow"],
                status_code=200, opt=opt, **kwargs)


@_step("accept")
def accept(
    db_session: Session, principal: Principal, assignment_id: int, data: VersionBody | None = None
) -> AssignmentPublic:
    service = AssignmentService(db_session)
    return service.to_public(service.accept(assignment_id, principal, _body(data).version))


@_step("decline")
def decline(
    db_session: Session, principal: Principal, assignment_id: int, data: ReasonBody | None = None
) -> AssignmentPublic:
    body = data or ReasonBody()
    service = AssignmentService(db_session)
    return service.to_public(service.decline(assignment_id, principal, body.reason, body.version))


@_step("activate")
def activate(
    db_session: Session, principal: Principal, assignment_id: int, data: VersionBody | None = None
) -> AssignmentPublic:
    service = AssignmentService(db_session)
    return service.to_public(service.activate(assignment_id, principal, _body(data).version))


@_step("complete")
def complete(
    db_session: Session, principal: Principal, assignment_id: int, data: CompleteBody
) -> AssignmentPublic:
    service = AssignmentService(db_session)
    return service.to_public(
        service.complete(assignment_id, principal, data.feedback, data.endorse, data.version)
    )


@_step("withdraw")
def withdraw(
    db_session: Session, principal: Principal, assignment_id: int, data: ReasonBody
) -> AssignmentPublic:
    service = AssignmentService(db_session)
    return service.to_public(service.withdraw(assignment_id, principal, data.reason, data.version))


@_step(
    "approval-link",
    summary="Send the manager a new approval link (the need's lead or DINUM, never the agent)",
    opt=rule(LEAD, REVIEWER, check=_assignment_party, why="the need's lead, or a reviewer"),
)
def approval_link(db_session: Session, principal: Principal, assignment_id: int) -> LinkPublic:
    return LinkPublic(approval_url=AssignmentService(db_session).reissue_approval(assignment_id, principal))


# --------------------------------------------------------------------------- runs and overrides
@post(
    "/api/v1/allocations/runs",
    tags=["allocation"],
    status_code=200,
    summary="Run the allocation (dry run: the diff, nothing written)",
    opt=_REVIEWERS,
)
async def allocation_run(principal: Principal, data: RunBody) -> dict[str, Any]:
    return await anyio.to_thread.run_sync(
        lambda: run_allocation(
            get_engine(), actor=principal.email, dry_run=data.dry_run, need_ids=data.need_ids
        )
    )


@get("/api/v1/allocations/runs", sync_to_thread=True, tags=["allocation"], opt=_REVIEWERS)
def allocation_runs(
    db_session: Session, principal: Principal, limit: Limit = 20, offset: Offset = 0
) -> Page[dict[str, Any]]:
    total = db_session.exec(select(func.count()).select_from(AllocationRun)).one()
    rows = db_session.exec(
        select(AllocationRun).order_by(col(AllocationRun.started_at).desc()).offset(offset).limit(limit)
    ).all()
    return Page(data=[r.model_dump(mode="json") for r in rows], count=int(total), limit=limit, offset=offset)


@post(
    "/api/v1/allocations/overrides",
    sync_to_thread=True,
    tags=["allocation"],
    status_code=200,
    summary="DINUM override: force an agent onto a role, or remove an assignment (reason required)",
    opt=_REVIEWERS,
)
def override(db_session: Session, principal: Principal, data: OverrideBody) -> AssignmentPublic:
    service = OverrideService(db_session)
    if data.action == "force":
        missing = [k for k in ("agent_id", "need_id", "role") if getattr(data, k) is None]
        if missing:
            raise ValidationFailedError(f"force needs {', '.join(missing)}", field=missing[0])
        a = service.force(principal, data.agent_id, data.need_id, data.role, data.reason)  # type: ignore[arg-type]
    else:
        if data.assignment_id is None:
            raise ValidationFailedError("remove needs assignment_id", field="assignment_id")
        a = service.remove(principal, data.assignment_id, data.reason)
    return AssignmentService(db_session).to_public(a)


# --------------------------------------------------------------------------- audit
def _audit_filters(
    action: str | None,
    actor: str | None,
    subject_type: str | None,
    subject_id: str | None,
    since: datetime | None,
    until: datetime | None,
) -> AuditFilters:
    return AuditFilters(action, actor, subject_type, subject_id, since, until)


@get(
    "/api/v1/audit",
    sync_to_thread=True,
    tags=["audit"],
    summary="The audit log, newest first (DINUM)",
    opt=_REVIEWERS,
)
def audit_list(
    db_session: Session,
    principal: Principal,
    limit: Limit = 50,
    offset: Offset = 0,
    action: str | None = None,
    actor: str | None = None,
    subject_type: str | None = None,
    subject_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Page[AuditEventPublic]:
    rows, total = AuditService(db_session).list(
        _audit_filters(action, actor, subject_type, subject_id, since, until), limit, offset
    )
    return Page(
        data=[AuditEventPublic.model_validate(r) for r in rows], count=total, limit=limit, offset=offset
    )


@get(
    "/api/v1/audit/export.csv",
    tags=["audit"],
    summary="The audit log as CSV (formula-safe cells)",
    opt=_REVIEWERS,
)
async def audit_export(
    principal: Principal,
    action: str | None = None,
    actor: str | None = None,
    subject_type: str | None = None,
    subject_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Stream:
    filters = _audit_filters(action, actor, subject_type, subject_id, since, until)

    def chunks() -> Iterator[str]:
        with session_scope(get_engine()) as session:
            yield from AuditService(session).export_csv(filters)

    return Stream(
        chunks(),
        media_type="text/csv",
        headers={
            "Content-Disposition": 'attachment; filename="talents-audit.csv"',
            "Cache-Control": "no-store",
        },
    )


route_handlers = [
    list_assignments,
    propose,
    get_assignment,
    accept,
    decline,
    activate,
    complete,
    withdraw,
    approval_link,
    allocation_run,
    allocation_runs,
    override,
    audit_list,
    audit_export,
]
# New priority-1 needs trigger their allocation run, whichever handler creates or changes them.
on_startup = [install_triggers, install_audit]
