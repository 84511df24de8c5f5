"""DINUM's pages: the dashboard (charts, tables, CSV), priorities, allocation (preview, then apply),
overrides with a reason, a need's audit trail, and the curation of the skill taxonomy."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get
from litestar.response import Redirect, Template
from sqlmodel import Session

from talents.kernel.principal import ADMIN, REVIEWER, Principal
from talents.review import ReviewService
from talents.web.common import denied, page, sign_in

__all__ = ["route_handlers"]


def _reviewer(principal: Principal, path: str) -> Redirect | Template | None:
    """None when the principal may use DINUM's pages, else where to send them."""
    if not principal.authenticated:
        return sign_in(path)
    if not principal.has(REVIEWER, ADMIN):
        return denied(principal, "Le pilotage est réservé à la DINUM.")
    return None


@get("/pilotage", include_in_schema=False, sync_to_thread=True, opt={"public": True})
def dashboard(request: Request[Any, Any, Any], db_session: Session, principal: Principal) -> Template | Redirect:
    if (other := _reviewer(principal, "/pilotage")) is not None:
        return other
    return page("pilotage", principal, "pilotage", "Pilotage DINUM", request=request,
                summary=ReviewService(db_session).summary())


@get("/api/v1/review/summary", tags=["review"], sync_to_thread=True, opt={"roles": (REVIEWER,)},
     summary="DINUM review: fill rate, time to staff, FTE per ministry vs pledges, skills supply vs demand")
def review_summary(db_session: Session) -> dict[str, Any]:
    return ReviewService(db_session).summary()


@get("/api/v1/review/fte.csv", tags=["review"], sync_to_thread=True, opt={"roles": (REVIEWER,)},
     summary="FTE per project and ministry against pledges, as CSV", media_type="text/csv")
def review_fte_csv(db_session: Session) -> Response[str]:
    return Response(ReviewService(db_session).fte_csv(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="etp-par-ministere.csv"'})


route_handlers = [dashboard, review_summary, review_fte_csv]
