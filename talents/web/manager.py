"""The manager's page: the requests waiting for me. Each opens the signed approval page (the same one the
e-mailed link opens, which needs no account)."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Redirect, Template
from sqlmodel import Session

from profiles.models import Agent
from talents.kernel.principal import ADMIN, MANAGER, Principal
from talents.web.common import denied, page, sign_in
from talents.workflow.service import AssignmentService

__all__ = ["route_handlers"]


@get("/responsable", include_in_schema=False, sync_to_thread=True, opt={"public": True})
def waiting(request: Request[Any, Any, Any], db_session: Session, principal: Principal) -> Template | Redirect:
    if not principal.authenticated:
        return sign_in("/responsable")
    if not principal.has(MANAGER, ADMIN):
        return denied(principal, "Cette page est réservée aux responsables hiérarchiques.")
    service = AssignmentService(db_session)
    requests = []
    for assignment, link in service.waiting_for(principal):
        agent = db_session.get(Agent, assignment.agent_id)
        requests.append({"a": service.to_public(assignment), "agent": agent.name if agent else "", "link": link})
    return page("manager/demandes", principal, "responsable", "Demandes à valider", request=request,
                requests=requests)


route_handlers = [waiting]
