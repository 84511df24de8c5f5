"""The web pages (French, State design system): home, needs and flash teams, DINUM review.

Pages are thin: they call the same services as the API. Personal data (ranked candidates, the review) is
shown only to those allowed to see it: the lead of the need, DINUM reviewers and admins.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import MediaType, Response, get
from litestar.params import Parameter
from litestar.response import Redirect, Template
from sqlmodel import Session, col, select

from needs.models import Need
from needs.service import NeedFilters, NeedService
from profiles.taxonomy import SkillResolver
from talents.kernel.principal import ADMIN, REVIEWER, Principal, require
from talents.review import ReviewService

__all__ = ["dependencies", "message_page", "route_handlers"]

SIGN_IN_PATH = "/auth/login"
SIGN_OUT_PATH = "/auth/logout"
_BADGES = {1: "fr-badge--error", 2: "fr-badge--warning", 3: "fr-badge--info", 4: "fr-badge--new"}


def _page(name: str, principal: Principal, active: str, title: str, **context: Any) -> Template:
    return Template(
        template_name=f"pages/{name}.html",
        context={"principal": principal, "active": active, "title": title, "sign_in_path": SIGN_IN_PATH,
                 "sign_out_path": SIGN_OUT_PATH, "badge": lambda p: _BADGES.get(p, ""), **context},
        media_type=MediaType.HTML,
    )


def message_page(principal: Principal, title: str, message: str, *, status: int = 200,
                 alert_class: str = "fr-alert--info", body_html: str = "") -> Template:
    """A page that only says something (errors, confirmations), in the same layout as the others."""
    page = _page("message", principal, "", title, message=message, alert_class=alert_class, body_html=body_html)
    page.status_code = status
    return page


def _sign_in(path: str) -> Redirect:
    return Redirect(path=f"{SIGN_IN_PATH}?next={path}")


def _summary(candidate: dict[str, Any]) -> dict[str, Any]:
    """What a lead reads first: who, how well, which skills were found (and through what), which are missing."""
    exp = candidate["explanation"]
    matched = [f"{m['label']} ({m['agent_level']}/{m['required_level']})" for m in exp.get("matched", [])]
    matched += [f"{r['label']} ≈ {r['via_label']}" for r in exp.get("related", [])]
    return {"name": candidate["name"] or candidate["agent"], "ministry": exp.get("ministry", ""),
            "score": candidate["score"], "matched": matched, "missing": [m["label"] for m in exp.get("missing", [])]}


@get("/", include_in_schema=False, sync_to_thread=True, opt={"public": True})
def home(db_session: Session, principal: Principal) -> Template:
    urgent = db_session.exec(
        select(Need).where(Need.status == "open", Need.priority == 1).order_by(col(Need.start)).limit(10)
    ).all()
    return _page("accueil", principal, "accueil", "Accueil", figures=ReviewService(db_session).figures(),
                 urgent=urgent)


@get("/besoins", include_in_schema=False, sync_to_thread=True, opt={"public": True})
def needs_page(
    db_session: Session, principal: Principal, priority: Annotated[int | None, Parameter(ge=1, le=4)] = None
) -> Template | Redirect:
    if not principal.authenticated:
        return _sign_in("/besoins")
    service = NeedService(db_session, SkillResolver(db_session))
    rows, total = service.list(NeedFilters(priority=priority), limit=200)
    page = {"data": [service.to_public(n) for n in rows], "count": total}
    return _page("besoins", principal, "besoins", "Besoins et équipes flash", page=page, priority=priority)


@get("/besoins/{need_id:int}", include_in_schema=False, sync_to_thread=True, opt={"public": True})
def need_page(db_session: Session, principal: Principal, need_id: int) -> Template | Redirect:
    if not principal.authenticated:
        return _sign_in(f"/besoins/{need_id}")
    service = NeedService(db_session, SkillResolver(db_session))
    need = service.get(need_id)
    roles = service.roles(need_id)
    candidates = None
    if principal.has(REVIEWER, ADMIN) or (need.lead_email or "").lower() == principal.email.lower():
        from talents.ranking import RankingService

        ranking = RankingService(db_session)
        candidates = {}
        for role in ranking.roles(need):
            ranked = ranking.rank(need, role, top=10, near_misses=0)
            candidates[role.position] = {"candidates": [_summary(c) for c in ranked["candidates"]]}
    return _page("besoin", principal, "besoins", need.title, need=need, roles=roles, candidates=candidates)


@get("/pilotage", include_in_schema=False, sync_to_thread=True, opt={"public": True})
def review_page(db_session: Session, principal: Principal) -> Template | Redirect:
    if not principal.authenticated:
        return _sign_in("/pilotage")
    if not principal.has(REVIEWER, ADMIN):
        return message_page(principal, "Accès réservé", "Le pilotage est réservé à la DINUM.", status=403,
                            alert_class="fr-alert--warning")
    return _page("pilotage", principal, "pilotage", "Pilotage DINUM", summary=ReviewService(db_session).summary())


@get("/api/v1/review/summary", tags=["review"], sync_to_thread=True, opt={"roles": (REVIEWER, ADMIN)},
     summary="DINUM review: fill rate, time to staff, FTE per ministry vs pledges, skills supply vs demand")
def review_summary(db_session: Session, principal: Principal) -> dict[str, Any]:
    require(principal, REVIEWER)
    return ReviewService(db_session).summary()


@get("/api/v1/review/fte.csv", tags=["review"], sync_to_thread=True, opt={"roles": (REVIEWER, ADMIN)},
     summary="FTE per project and ministry against pledges, as CSV", media_type="text/csv")
def review_fte_csv(db_session: Session, principal: Principal) -> Response[str]:
    require(principal, REVIEWER)
    return Response(ReviewService(db_session).fte_csv(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="etp-par-ministere.csv"'})


route_handlers = [home, needs_page, need_page, review_page, review_summary, review_fte_csv]
dependencies: dict[str, Any] = {}
