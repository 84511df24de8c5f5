"""HTTP API of projects (with FTE pledges), needs and their roles. Thin handlers."""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from litestar import Controller, Request, delete, get, patch, post
from litestar.params import Parameter
from litestar.status_codes import HTTP_200_OK
from sqlmodel import Session

from needs.importer import NeedImporter
from needs.models import (
    NeedCreate,
    NeedPublic,
    NeedStatus,
    NeedUpdate,
    ProjectCreate,
    ProjectPublic,
    ProjectUpdate,
    RoleCreate,
    RolePublic,
    RoleUpdate,
)
from needs.policy import (
    check_need_update,
    check_project_update,
    claim_need,
    claim_project,
    need_writer,
    project_writer,
)
from needs.service import NeedFilters, NeedService, ProjectService, SkillPort, needs_page
from talents.kernel.access import GATE_AT_READ, rule
from talents.kernel.api import Limit, Offset, Page, documented_as, read_now, read_upload_records
from talents.kernel.db import get_engine
from talents.kernel.principal import LEAD, REVIEWER, Principal

__all__ = ["NeedController", "ProjectController"]

# Who may call each route (read by the auth middleware); per-object checks are in needs.policy.
_SIGNED_IN = rule(why="any signed-in principal")
_LEADS = rule(LEAD, REVIEWER, why="project leads and reviewers")
_PROJECT_WRITER = rule(LEAD, REVIEWER, check=project_writer, why="the project's lead, or a reviewer")
_NEED_WRITER = rule(LEAD, REVIEWER, check=need_writer, why="the need's lead, or a reviewer")


class ProjectController(Controller):
    path = "/api/v1/projects"
    tags = ["projects"]

    @get("/", sync_to_thread=True, opt=_SIGNED_IN)
    def list_projects(
        self,
        db_session: Session,
        limit: Limit = 50,
        offset: Offset = 0,
        ministry: str | None = None,
        q: str | None = None,
    ) -> Page[ProjectPublic]:
        service = ProjectService(db_session)
        rows, total = service.list(ministry=ministry, q=q, limit=limit, offset=offset)
        return Page(data=service.to_public_many(rows), count=total, limit=limit, offset=offset)

    @post("/", sync_to_thread=True, opt=_LEADS)
    def create_project(self, db_session: Session, principal: Principal, data: ProjectCreate) -> ProjectPublic:
        claim_project(principal, data)
        service = ProjectService(db_session)
        return service.to_public(service.create(data))

    @get("/{project_id:int}", sync_to_thread=True, opt=_SIGNED_IN)
    def get_project(self, db_session: Session, project_id: int) -> ProjectPublic:
        service = ProjectService(db_session)
        return service.to_public(service.get(project_id))

    @patch("/{project_id:int}", sync_to_thread=True, opt=_PROJECT_WRITER)
    def update_project(
        self, db_session: Session, principal: Principal, project_id: int, data: ProjectUpdate
    ) -> ProjectPublic:
        check_project_update(principal, data)
        service = ProjectService(db_session)
        return service.to_public(service.update(project_id, data))

    @delete("/{project_id:int}", sync_to_thread=True, opt=_PROJECT_WRITER)
    def delete_project(self, db_session: Session, project_id: int) -> None:
        ProjectService(db_session).delete(project_id)


class NeedController(Controller):
    path = "/api/v1/needs"
    tags = ["needs"]

    @get("/", summary="List needs, highest priority first", opt={**_SIGNED_IN, **GATE_AT_READ},
         responses=documented_as(Page[NeedPublic]))
    async def list_needs(
        self,
        request: Request,
        limit: Limit = 50,
        offset: Offset = 0,
        status: NeedStatus | None = None,
        priority: Annotated[int | None, Parameter(ge=1, le=4)] = None,
        project_id: int | None = None,
        ministry: str | None = None,
        flash: bool | None = None,
        q: str | None = None,
    ) -> dict[str, Any]:
        filters = NeedFilters(status=status, priority=priority, project_id=project_id, ministry=ministry, flash=flash,
                              q=q)
        rows, total = await read_now(request, lambda db: needs_page(db, filters, limit=limit, offset=offset))
        return {"data": rows, "count": total, "limit": limit, "offset": offset}

    @post("/", sync_to_thread=True, summary="Create a need (an équipe flash) with its roles", opt=_LEADS)
    def create_need(
        self, db_session: Session, skill_port: SkillPort, principal: Principal, data: NeedCreate
    ) -> NeedPublic:
        claim_need(db_session, principal, data)
        service = NeedService(db_session, skill_port)
        return service.to_public(service.create(data))

    @post("/import", status_code=HTTP_200_OK, summary="Import needs (JSON Lines), upsert by external_id",
          opt=rule(REVIEWER, why="bulk import: reviewers"))
    async def import_needs(self, request: Request, skill_port_factory: Any) -> dict[str, Any]:
        records, _ = await read_upload_records(request)
        report = await anyio.to_thread.run_sync(lambda: NeedImporter(get_engine(), skill_port_factory).run(records))
        return report.to_dict()

    @get("/{need_id:int}", sync_to_thread=True, opt=_SIGNED_IN)
    def get_need(self, db_session: Session, skill_port: SkillPort, need_id: int) -> NeedPublic:
        service = NeedService(db_session, skill_port)
        return service.to_public(service.get(need_id))

    @patch("/{need_id:int}", sync_to_thread=True, opt=_NEED_WRITER)
    def update_need(
        self, db_session: Session, skill_port: SkillPort, principal: Principal, need_id: int, data: NeedUpdate
    ) -> NeedPublic:
        check_need_update(db_session, principal, data)
        service = NeedService(db_session, skill_port)
        return service.to_public(service.update(need_id, data, actor=principal.email))

    @delete("/{need_id:int}", sync_to_thread=True, opt=_NEED_WRITER)
    def delete_need(self, db_session: Session, skill_port: SkillPort, need_id: int) -> None:
        NeedService(db_session, skill_port).delete(need_id)

    @get("/{need_id:int}/roles", sync_to_thread=True, opt=_SIGNED_IN)
    def list_roles(self, db_session: Session, skill_port: SkillPort, need_id: int) -> list[RolePublic]:
        service = NeedService(db_session, skill_port)
        service.get(need_id)
        return service.roles(need_id)

    @post("/{need_id:int}/roles", sync_to_thread=True, opt=_NEED_WRITER)
    def add_role(self, db_session: Session, skill_port: SkillPort, need_id: int, data: RoleCreate) -> RolePublic:
        service = NeedService(db_session, skill_port)
        role = service.add_role(need_id, data)
        return service.role_public(need_id, role.id)  # type: ignore[arg-type]

    @get("/{need_id:int}/roles/{position:int}", sync_to_thread=True, opt=_SIGNED_IN)
    def get_role(self, db_session: Session, skill_port: SkillPort, need_id: int, position: int) -> RolePublic:
        service = NeedService(db_session, skill_port)
        role = service.role_at(need_id, position)
        return next(r for r in service.roles(need_id) if r.id == role.id)

    @patch("/{need_id:int}/roles/{position:int}", sync_to_thread=True, opt=_NEED_WRITER)
    def update_role(
        self, db_session: Session, skill_port: SkillPort, need_id: int, position: int, data: RoleUpdate
    ) -> RolePublic:
        service = NeedService(db_session, skill_port)
        role = service.update_role(need_id, position, data)
        return service.role_public(need_id, role.id)  # type: ignore[arg-type]

    @delete("/{need_id:int}/roles/{position:int}", sync_to_thread=True, opt=_NEED_WRITER)
    def delete_role(self, db_session: Session, skill_port: SkillPort, need_id: int, position: int) -> None:
        NeedService(db_session, skill_port).delete_role(need_id, position)
