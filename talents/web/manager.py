"""The manager's pages: the requests waiting for me, and the signed approval page.

The approval page is what the e-mailed link opens: it needs no account, the unguessable signed token in the
path is the protection, and the token is single use (:mod:`talents.workflow.approvals`). The same URL answers
JSON to a program and a page to a browser.
"""

from __future__ import annotations

from typing import Any, Literal

import anyio
from litestar import Request, Response, get, post
from litestar.response import Redirect, Template
from pydantic import BaseModel, Field, ValidationError
from sqlmodel import Session

from profiles.models import Agent
from talents.kernel.db import get_engine, session_scope
from talents.kernel.errors import ValidationFailedError
from talents.kernel.principal import ADMIN, ANONYMOUS, MANAGER, Principal
from talents.layout import page
from talents.web.common import denied, sign_in
from talents.workflow.service import AssignmentService

__all__ = ["route_handlers"]

# The link carries a secret: no cache keeps the page, no referrer leaks it.
_NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


class DecisionBody(BaseModel):
    decision: Literal["approve", "refuse"]
    reason: str = Field(default="", max_length=2000)


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


def _approval_page(title: str, **context: Any) -> Template:
    """Managers have no account: the page is rendered for an anonymous visitor."""
    template = page("manager/validation", ANONYMOUS, "", title, **context)
    template.headers.update(_NO_STORE)
    return template


@get(
    "/manager/approvals/{token:str}",
    tags=["workflow"],
    summary="What a manager's approval link is about (JSON, or a page for browsers)",
    opt={"public": True},
)
async def approval_show(request: Request[Any, Any, Any], token: str) -> Response[Any] | Template:
    def load() -> dict[str, Any]:
        with session_scope(get_engine()) as session:
            return AssignmentService(session).approval_view(token)

    view = await anyio.to_thread.run_sync(load)
    if "text/html" in request.headers.get("accept", ""):
        return _approval_page(f"Mise à disposition de {view['agent_name']}", view=view)
    return Response(view, headers=_NO_STORE)


@post(
    "/manager/approvals/{token:str}",
    tags=["workflow"],
    status_code=200,
    summary="The manager approves or refuses (JSON or a form)",
    # The unguessable signed token in the path is the protection; managers need no account nor session.
    opt={"csrf_exempt": True, "public": True},
)
async def approval_decide(request: Request[Any, Any, Any], token: str) -> Response[Any] | Template:
    as_json = request.headers.get("content-type", "").startswith("application/json")
    if as_json:
        body = DecisionBody.model_validate(await request.json())
    else:
        form = await request.form()
        try:
            body = DecisionBody.model_validate({"decision": form.get("decision"), "reason": form.get("reason") or ""})
        except ValidationError as exc:
            raise ValidationFailedError("decision must be approve or refuse", field="decision") from exc

    def decide() -> dict[str, Any]:
        with session_scope(get_engine()) as session:
            a = AssignmentService(session).manager_decide(token, body.decision, body.reason)
            return {"assignment_id": a.id, "state": a.state, "version": a.version}

    result = await anyio.to_thread.run_sync(decide)
    if as_json:
        return Response(result, headers=_NO_STORE)
    return _approval_page("Merci, votre réponse est enregistrée", approved=result["state"] == "approved")


route_handlers = [waiting, approval_show, approval_decide]
