"""Pages everyone signed in shares: home, the list of needs and a need's page (the lead's and DINUM's tools
on it live in :mod:`talents.web.lead` and :mod:`talents.web.review`)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get
from litestar.params import Parameter
from litestar.response import Redirect, Template
from sqlmodel import Session, col, select

from needs.models import Need
from needs.service import NeedFilters, NeedService
from profiles.taxonomy import SkillResolver
from talents.kernel.principal import Principal
from talents.layout import page
from talents.review import ReviewService
from talents.web.common import sign_in

__all__ = ["route_handlers"]


@get("/", include_in_schema=False, sync_to_thread=True, opt={"public": True})
def home(request: Request[Any, Any, Any], db_session: Session, principal: Principal) -> Template:
    urgent = db_session.exec(
        select(Need).where(Need.status == "open", Need.priority == 1).order_by(col(Need.start)).limit(10)
    ).all()
    return page("accueil", principal, "accueil", "Accueil", request=request,
                figures=ReviewService(db_session).figures(), urgent=urgent)


@get("/besoins", include_in_schema=False, sync_to_thread=True, opt={"public": True})
def needs_page(
    request: Request[Any, Any, Any], db_session: Session, principal: Principal,
    priority: Annotated[int | None, Parameter(ge=1, le=4)] = None,
) -> Template | Redirect:
    if not principal.authenticated:
        return sign_in("/besoins")
    service = NeedService(db_session, SkillResolver(db_session))
    rows, total = service.list(NeedFilters(priority=priority), limit=200)
    listing = {"data": [service.to_public(n) for n in rows], "count": total}
    return page("besoins", principal, "besoins", "Besoins et équipes flash", request=request, page=listing,
                priority=priority)


route_handlers = [home, needs_page]
