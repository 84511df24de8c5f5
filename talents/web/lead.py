"""The project lead's pages: projects and needs (roles, skills), ranked candidates with their reasons, the
proposed team, proposals, and each seat followed to the end of the mission.

A need's page is shared: everyone signed in reads it; its lead and DINUM also see candidates and seats.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

import sqlalchemy as sa
from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template
from pydantic import ValidationError
from sqlmodel import Session, col

from needs.models import NeedCreate, NeedUpdate, ProjectCreate, ProjectUpdate, RoleCreate, RoleUpdate
from needs.policy import (
    check_need_update,
    check_need_writer,
    check_project_update,
    check_project_writer,
    claim_need,
    claim_project,
)
from needs.service import NeedFilters, NeedService, ProjectService
from profiles.models import Agent
from profiles.policy import log_profile_reads
from profiles.taxonomy import SkillResolver
from talents.assignments.models import COMMITTED_STATES
from talents.kernel.errors import DomainError, PermissionDeniedError
from talents.kernel.principal import ADMIN, LEAD, REVIEWER, Principal
from talents.layout import page
from talents.ranking import RankingService
from talents.web.common import checked, denied, done, french_error, sign_in
from talents.workflow.service import AssignmentFilters, AssignmentService

__all__ = ["need_context", "route_handlers"]

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
SKILL_ROWS = 6  # skill lines offered in a role form (no JavaScript needed to add more: save, then edit)


def _manages(db: Session, principal: Principal, need_id: int) -> bool:
    try:
        check_need_writer(db, principal, need_id)
    except DomainError:
        return False
    return principal.has(LEAD, REVIEWER, ADMIN)


def _names(db: Session, agent_ids: set[int]) -> dict[int, str]:
    """The name of each agent holding a seat, read in one query (an erased agent shows as « agent N »)."""
    shown = {aid: "" for aid in agent_ids}
    if agent_ids:
        rows = db.execute(sa.select(col(Agent.id), Agent.name).where(col(Agent.id).in_(agent_ids),
                                                                     col(Agent.erased_at).is_(None)))
        shown.update({aid: name or "" for aid, name in rows})
    return {aid: name or f"agent {aid}" for aid, name in shown.items()}


def need_context(db: Session, principal: Principal, need_id: int, *, candidates: bool = True) -> dict[str, Any]:
    """What a need's page shows; candidates, team and seats only to its lead and DINUM (without ``candidates``:
    the seats alone, as DINUM's review of the need shows them)."""
    service = NeedService(db, SkillResolver(db))
    need = service.get(need_id)
    roles = service.roles(need_id)
    project = ProjectService(db).get(need.project_id) if need.project_id else None
    context: dict[str, Any] = {"need": need, "roles": roles, "project": project, "manages": False,
                               "role_titles": {r.position: r.title for r in roles}}
    if not _manages(db, principal, need_id):
        return context
    workflow = AssignmentService(db)
    rows = workflow.visible(principal, AssignmentFilters(None, need_id, None), limit=500)
    seats = workflow.to_public_many(rows)
    context.update(manages=True, seats=seats, names=_names(db, {s.agent_id for s in seats}), live=COMMITTED_STATES,
                   today=date.today())
    if not candidates:
        return context
    ranked, team = RankingService(db).need_view(need, top=10, near_misses=5)  # one ranking of each role
    shown = [c["agent_id"] for r in ranked.values() for c in (*r["candidates"], *r["near_misses"])]
    log_profile_reads(db, principal, [*shown, *(s["agent_id"] for s in team["seats"])], f"/besoins/{need_id}",
                      action="candidates")
    labels = dict(SkillResolver(db).labels({s for c in team["coverage"].get("team", {}).values()
                                            if isinstance(c, list) for s in c}))
    context.update(ranked=ranked, team=team, labels=labels)
    return context


@get("/besoins/{need_id:int}", include_in_schema=False, sync_to_thread=True, opt={"public": True})
def need_page(request: Request[Any, Any, Any], db_session: Session, principal: Principal, need_id: int,
              ) -> Template | Redirect:
    if not principal.authenticated:
        return sign_in(f"/besoins/{need_id}")
    context = need_context(db_session, principal, need_id)
    return page("besoin", principal, "besoins", context["need"].title, request=request, **context)


def _need_again(request: Request[Any, Any, Any], db: Session, principal: Principal, need_id: int,
                exc: Exception, where: str) -> Template:
    db.rollback()
    context = need_context(db, principal, need_id)
    return page("besoin", principal, "besoins", context["need"].title, request=request, status=422,
                error=french_error(exc), where=where, **context)


def _int(value: Any) -> int | None:
    text = str(value or "").strip()
    return int(text) if text.isdigit() else None


@post("/besoins/{need_id:int}/proposer", include_in_schema=False, sync_to_thread=True, opt={"public": True})
def propose(request: Request[Any, Any, Any], db_session: Session, principal: Principal, need_id: int,
            data: Form) -> Template | Redirect:
    if not principal.authenticated:
        return sign_in(f"/besoins/{need_id}")
    service = AssignmentService(db_session)
    try:
        if checked(data, "equipe"):
            # The whole proposed team: one proposal per seat, all or nothing.
            team = RankingService(db_session).team(NeedService(db_session, SkillResolver(db_session)).get(need_id))
            for seat in team["seats"]:
                service.propose_manual(principal, need_id, int(seat["role"]), int(seat["agent_id"]),
                                       "équipe proposée par le moteur")
        else:
            service.propose_manual(principal, need_id, _int(data.get("role")) or 0,
                                   _int(data.get("agent_id")) or 0, str(data.get("reason", ""))[:2000])
    except DomainError as exc:
        return _need_again(request, db_session, principal, need_id, exc, "candidats")
    return done(f"/besoins/{need_id}#places", "equipe" if checked(data, "equipe") else "propose")


@post("/missions/{assignment_id:int}", include_in_schema=False, sync_to_thread=True, opt={"public": True})
def seat_action(request: Request[Any, Any, Any], db_session: Session, principal: Principal, assignment_id: int,
                data: Form) -> Template | Redirect:
    """The lead follows a seat: start it, complete it with feedback, withdraw it, or send the link again."""
    if not principal.authenticated:
        return sign_in("/porteur")
    service = AssignmentService(db_session)
    assignment = service.get(assignment_id)
    need_id = assignment.need_id
    action = str(data.get("action", ""))
    version = _int(data.get("version"))
    reason = str(data.get("reason", "")).strip()[:2000]
    try:
        if action == "terminer":
            endorse = data.get("endorse") or []
            endorse = [endorse] if isinstance(endorse, str) else endorse
            service.complete(assignment_id, principal, str(data.get("feedback", "")).strip()[:4000], endorse, version)
            notice = "termine"
        elif action == "demarrer":
            service.activate(assignment_id, principal, version)
            notice = "demarre"
        elif action == "lien":
            service.reissue_approval(assignment_id, principal)
            notice = "lien"
        else:
            service.withdraw(assignment_id, principal, reason, version)
            notice = "retire"
    except (DomainError, ValidationError) as exc:
        return _need_again(request, db_session, principal, need_id, exc, f"place-{assignment_id}")
    return done(f"/besoins/{need_id}#places", notice)


# --------------------------------------------------------------------------- projects and needs
def _lead_home(request: Request[Any, Any, Any], db: Session, principal: Principal, *, status: int = 200,
               error: str = "", where: str = "", form: dict[str, Any] | None = None) -> Template:
    projects, _ = ProjectService(db).list(lead_email=principal.email, limit=200)
    needs, _ = NeedService(db, SkillResolver(db)).list(NeedFilters(lead_email=principal.email), limit=200)
    return page("lead/accueil", principal, "porteur", "Mes projets", request=request, status=status,
                projects=projects, needs=needs, error=error, where=where, form=form or {})


@get("/porteur", include_in_schema=False, sync_to_thread=True, opt={"public": True})
def lead_home(request: Request[Any, Any, Any], db_session: Session, principal: Principal) -> Template | Redirect:
    if not principal.authenticated:
        return sign_in("/porteur")
    if not principal.has(LEAD, REVIEWER, ADMIN):
        return denied(principal, "Ces pages sont réservées aux porteurs de projet.")
    return _lead_home(request, db_session, principal)


def _project_fields(data: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {k: str(data.get(k, "")).strip() for k in ("name", "ministry", "description")}
    fte = str(data.get("fte_needed", "")).replace(",", ".").strip()
    fields["fte_needed"] = fte or 0
    return fields


def _lead_form(request: Request[Any, Any, Any], db: Session, principal: Principal, data: Form, *, where: str,
               notice: str, save: Callable[[], str]) -> Template | Redirect:
    """A form of the lead's home: saved, back (303) to the page ``save`` names; refused, the home again with the
    error beside the form (``where``) and nothing written."""
    if not principal.authenticated:
        return sign_in("/porteur")
    try:
        path = save()
    except (DomainError, ValidationError) as exc:
        db.rollback()
        return _lead_home(request, db, principal, status=422, error=french_error(exc), where=where, form=data)
    return done(path, notice)


def _require_lead(principal: Principal) -> None:
    if not principal.has(LEAD, REVIEWER, ADMIN):
        raise PermissionDeniedError("only project leads and DINUM create projects and needs")


@post("/porteur/projets", include_in_schema=False, sync_to_thread=True, opt={"public": True})
def create_project(request: Request[Any, Any, Any], db_session: Session, principal: Principal,
                   data: Form) -> Template | Redirect:
    def save() -> str:
        body = ProjectCreate.model_validate(_project_fields(data))
        _require_lead(principal)
        claim_project(principal, body)
        ProjectService(db_session).create(body)
        return "/porteur"

    return _lead_form(request, db_session, principal, data, where="projet", notice="projet", save=save)


@post("/porteur/projets/{project_id:int}", include_in_schema=False, sync_to_thread=True, opt={"public": True})
def update_project(request: Request[Any, Any, Any], db_session: Session, principal: Principal, project_id: int,
                   data: Form) -> Template | Redirect:
    def save() -> str:
        check_project_writer(db_session, principal, project_id)
        body = ProjectUpdate.model_validate(_project_fields(data))
        check_project_update(principal, body)
        ProjectService(db_session).update(project_id, body)
        return "/porteur"

    return _lead_form(request, db_session, principal, data, where=f"projet-{project_id}", notice="projet", save=save)


def _need_fields(data: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {k: str(data.get(k, "")).strip() for k in ("title", "description", "ministry")}
    fields.update(start=data.get("start") or None, end=data.get("end") or None,
                  flash=checked(data, "flash"))
    project_id = _int(data.get("project_id"))
    if project_id:
        fields["project_id"] = project_id
    return fields


@post("/porteur/besoins", include_in_schema=False, sync_to_thread=True, opt={"public": True})
def create_need(request: Request[Any, Any, Any], db_session: Session, principal: Principal,
                data: Form) -> Template | Redirect:
    def save() -> str:
        body = NeedCreate.model_validate(_need_fields(data))
        _require_lead(principal)
        claim_need(db_session, principal, body)
        need = NeedService(db_session, SkillResolver(db_session)).create(body)
        return f"/porteur/besoins/{need.id}"

    return _lead_form(request, db_session, principal, data, where="besoin", notice="besoin", save=save)


# --------------------------------------------------------------------------- a need's form and its roles
def _edit(request: Request[Any, Any, Any], db: Session, principal: Principal, need_id: int, *, status: int = 200,
          error: str = "", where: str = "") -> Template:
    service = NeedService(db, SkillResolver(db))
    need = service.get(need_id)
    projects, _ = ProjectService(db).list(lead_email=None if principal.has(REVIEWER, ADMIN) else principal.email,
                                          limit=200)
    return page("lead/besoin", principal, "porteur", f"Modifier « {need.title} »", request=request, status=status,
                need=need, roles=service.roles(need_id), projects=projects, error=error, where=where,
                skill_rows=SKILL_ROWS)


@get("/porteur/besoins/{need_id:int}", include_in_schema=False, sync_to_thread=True, opt={"public": True})
def edit_need(request: Request[Any, Any, Any], db_session: Session, principal: Principal,
              need_id: int) -> Template | Redirect:
    if not principal.authenticated:
        return sign_in(f"/porteur/besoins/{need_id}")
    if not _manages(db_session, principal, need_id):
        return denied(principal, "Seul le porteur de ce besoin, ou la DINUM, peut le modifier.")
    return _edit(request, db_session, principal, need_id)


def _need_form(request: Request[Any, Any, Any], db: Session, principal: Principal, need_id: int, *, where: str,
               save: Callable[[], tuple[str, str]]) -> Template | Redirect:
    """A form of a need's edit page, for its lead or DINUM only: ``save`` returns where to go back and the notice;
    a refusal shows the form again with the error beside it (``where``) and nothing written."""
    if not principal.authenticated:
        return sign_in(f"/porteur/besoins/{need_id}")
    try:
        check_need_writer(db, principal, need_id)
        path, notice = save()
    except (DomainError, ValidationError) as exc:
        db.rollback()
        return _edit(request, db, principal, need_id, status=422, error=french_error(exc), where=where)
    return done(path, notice)


# A POST never shares the path of a threaded GET: Litestar would register the GET twice (wrapped twice).
@post("/porteur/besoins/{need_id:int}/enregistrer", include_in_schema=False, sync_to_thread=True, opt={"public": True})
def update_need(request: Request[Any, Any, Any], db_session: Session, principal: Principal, need_id: int,
                data: Form) -> Template | Redirect:
    def save() -> tuple[str, str]:
        body = NeedUpdate.model_validate(_need_fields(data))
        check_need_update(db_session, principal, body)
        NeedService(db_session, SkillResolver(db_session)).update(need_id, body)
        return f"/porteur/besoins/{need_id}", "besoin"

    return _need_form(request, db_session, principal, need_id, where="besoin", save=save)


def _role_fields(data: dict[str, Any]) -> dict[str, Any]:
    share = str(data.get("share", "")).replace("%", "").replace(",", ".").strip()
    skills = []
    for i in range(SKILL_ROWS):
        name = str(data.get(f"skill-{i}", "")).strip()
        if name:
            skills.append({"name": name, "level": _int(data.get(f"level-{i}")) or 3,
                           "required": checked(data, f"required-{i}")})
    return {"title": str(data.get("title", "")).strip(), "count": _int(data.get("count")) or None,
            "share": float(share) / 100 if share.replace(".", "", 1).isdigit() else None,
            "description": str(data.get("description", "")).strip(), "skills": skills}


@post("/porteur/besoins/{need_id:int}/roles", include_in_schema=False, sync_to_thread=True, opt={"public": True})
def add_role(request: Request[Any, Any, Any], db_session: Session, principal: Principal, need_id: int,
             data: Form) -> Template | Redirect:
    def save() -> tuple[str, str]:
        NeedService(db_session, SkillResolver(db_session)).add_role(need_id, RoleCreate.model_validate(
            _role_fields(data)))
        return f"/porteur/besoins/{need_id}#roles", "role"

    return _need_form(request, db_session, principal, need_id, where="nouveau-role", save=save)


@post("/porteur/besoins/{need_id:int}/roles/{position:int}", include_in_schema=False, sync_to_thread=True,
      opt={"public": True})
def update_role(request: Request[Any, Any, Any], db_session: Session, principal: Principal, need_id: int,
                position: int, data: Form) -> Template | Redirect:
    def save() -> tuple[str, str]:
        service = NeedService(db_session, SkillResolver(db_session))
        if checked(data, "retirer"):
            service.delete_role(need_id, position)
            return f"/porteur/besoins/{need_id}#roles", "role-retire"
        service.update_role(need_id, position, RoleUpdate.model_validate(_role_fields(data)))
        return f"/porteur/besoins/{need_id}#roles", "role"

    return _need_form(request, db_session, principal, need_id, where=f"role-{position}", save=save)


route_handlers = [need_page, propose, seat_action, lead_home, create_project, update_project, create_need,
                  edit_need, update_need, add_role, update_role]
