"""DINUM's pages: the dashboard (charts, tables, CSV), priorities, allocation (preview, then apply),
overrides with a reason, a need's audit trail, and the curation of the skill taxonomy."""

from __future__ import annotations

import re
from typing import Annotated, Any

from babel.dates import format_datetime
from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template
from pydantic import ValidationError
from sqlmodel import Session

from needs.models import NeedUpdate
from needs.service import NeedService
from profiles.models import SkillUpdate
from profiles.service import AgentService
from profiles.taxonomy import SkillResolver, TaxonomyService
from talents.kernel.db import get_engine
from talents.kernel.errors import DomainError, ValidationFailedError
from talents.kernel.french import LOCALE, TIMEZONE
from talents.kernel.principal import ADMIN, REVIEWER, Principal, require
from talents.layout import page
from talents.review import POOL_MAX_AGE_S, ReviewService
from talents.web.charts import bars
from talents.web.common import denied, done, french_error, sign_in
from talents.web.labels import ACTION_LABELS
from talents.web.lead import need_context
from talents.workflow.allocation import run_allocation
from talents.workflow.audit import AuditService
from talents.workflow.overrides import OverrideService

__all__ = ["route_handlers"]

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
TABLES = ("remplissage", "delais", "etp-projets", "etp-ministeres", "competences", "exposition")


def _reviewer(principal: Principal, path: str) -> Redirect | Template | None:
    """None when the principal may use DINUM's pages, else where to send them."""
    if not principal.authenticated:
        return sign_in(path)
    if not principal.has(REVIEWER, ADMIN):
        return denied(principal, "Le pilotage est réservé à la DINUM.")
    return None


# --------------------------------------------------------------------------- dashboard
@get("/pilotage", include_in_schema=False, sync_to_thread=True, opt={"public": True})
def dashboard(request: Request[Any, Any, Any], db_session: Session, principal: Principal) -> Template | Redirect:
    if (other := _reviewer(principal, "/pilotage")) is not None:
        return other
    data = ReviewService(db_session).dashboard()
    charts = {
        "remplissage": bars([(f"Priorité {r['priority']}", (r["fill_rate"] or 0) * 100)
                             for r in data["fill_by_priority"]], unit="\u00a0%", maximum=100),
        "delais": bars([(f"Priorité {r['priority']}", r["days"] or 0) for r in data["time_to_staff_by_priority"]],
                       unit="\u00a0j"),
        "etp": bars([(r["project"], r["needed"], r["pledged"], r["staffed"]) for r in data["fte_by_project"]]),
        "competences": bars([(s["label"], s["seats"], s["supply"]) for s in data["skills_supply_demand"]]),
        "exposition": bars([(f"{e['holds']} en cours", e["agents"]) for e in data["exposure"]]),
    }
    # The pool's figures may be a few seconds old: the page says when they were counted.
    as_of = format_datetime(data["pool_as_of"], "HH:mm:ss", tzinfo=TIMEZONE, locale=LOCALE)
    return page("pilotage", principal, "pilotage", "Pilotage DINUM", request=request, summary=data, charts=charts,
                pool_as_of=as_of, pool_max_age=int(POOL_MAX_AGE_S))


@get("/pilotage/export/{name:str}", include_in_schema=False, sync_to_thread=True, opt={"public": True})
def export_table(db_session: Session, principal: Principal, name: str) -> Response[str] | Template | Redirect:
    """Any table of the dashboard as CSV."""
    if (other := _reviewer(principal, f"/pilotage/export/{name}")) is not None:
        return other
    name = name.removesuffix(".csv")
    if name not in TABLES:
        return denied(principal, "Ce tableau n'existe pas.")
    return Response(ReviewService(db_session).table_csv(name), media_type="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="talents-{name}.csv"',
                             "Cache-Control": "no-store"})


# --------------------------------------------------------------------------- a need: priority, overrides, audit
def _need_review(request: Request[Any, Any, Any], db: Session, principal: Principal, need_id: int, *,
                 status: int = 200, error: str = "", where: str = "") -> Template:
    context = need_context(db, principal, need_id, candidates=False)  # the page ranks no one: no candidate shown
    subjects = {"need": [str(need_id)], "assignment": [str(a.id) for a in context.get("seats", ())]}
    trail = AuditService(db).trail(subjects)
    return page("review/besoin", principal, "pilotage", f"Arbitrages — {context['need'].title}", request=request,
                status=status, error=error, where=where, trail=trail, actions=ACTION_LABELS, **context)


@get("/pilotage/besoins/{need_id:int}", include_in_schema=False, sync_to_thread=True, opt={"public": True})
def need_review(request: Request[Any, Any, Any], db_session: Session, principal: Principal,
                need_id: int) -> Template | Redirect:
    if (other := _reviewer(principal, f"/pilotage/besoins/{need_id}")) is not None:
        return other
    return _need_review(request, db_session, principal, need_id)


def _int(value: Any) -> int | None:
    text = str(value or "").strip()
    return int(text) if text.isdigit() else None


@post("/pilotage/besoins/{need_id:int}/arbitrage", include_in_schema=False, sync_to_thread=True,
      opt={"public": True})
def need_decision(request: Request[Any, Any, Any], db_session: Session, principal: Principal, need_id: int,
                  data: Form) -> Template | Redirect:
    """DINUM sets the priority, imposes an agent on a role, or removes an assignment — with a written reason."""
    if (other := _reviewer(principal, f"/pilotage/besoins/{need_id}")) is not None:
        return other
    action = str(data.get("action", ""))
    reason = str(data.get("reason", "")).strip()[:2000]
    try:
        if action == "priorite":
            NeedService(db_session, SkillResolver(db_session)).update(
                need_id, NeedUpdate.model_validate({"priority": _int(data.get("priority")), "reason": reason}),
                actor=principal.email)
            notice = "priorite"
        elif action == "imposer":
            email = str(data.get("email", "")).strip()
            agent = AgentService(db_session).get_by_email(email) if email else None
            if agent is None or agent.id is None:
                raise ValidationFailedError("no agent with this e-mail", field="email")
            OverrideService(db_session).force(principal, agent.id, need_id, _int(data.get("role")) or 0, reason)
            notice = "force"
        else:
            OverrideService(db_session).remove(principal, _int(data.get("assignment_id")) or 0, reason)
            notice = "retrait"
    except (DomainError, ValidationError) as exc:
        db_session.rollback()
        return _need_review(request, db_session, principal, need_id, status=422, error=french_error(exc),
                            where=action)
    return done(f"/pilotage/besoins/{need_id}", notice)


# --------------------------------------------------------------------------- allocation
def _titles(db: Session, diff: dict[str, Any]) -> dict[int, str]:
    service = NeedService(db, SkillResolver(db))
    ids = {x.get("need_id") for key in ("assignments", "withdrawn", "unfilled") for x in diff.get(key, [])}
    return {i: service.get(i).title for i in ids if i}


@get("/pilotage/allocation", include_in_schema=False, sync_to_thread=True, opt={"public": True})
def allocation(request: Request[Any, Any, Any], db_session: Session, principal: Principal,
               apercu: bool = False) -> Template | Redirect:
    """With ``apercu``: a dry run, showing what an allocation would change, and the button that applies it."""
    if (other := _reviewer(principal, "/pilotage/allocation")) is not None:
        return other
    diff = run_allocation(get_engine(), actor=principal.email, dry_run=True) if apercu else None
    return page("review/allocation", principal, "allocation", "Allocation", request=request, diff=diff,
                titles=_titles(db_session, diff) if diff else {})


@post("/pilotage/allocation/appliquer", include_in_schema=False, sync_to_thread=True, opt={"public": True})
def apply_allocation(principal: Principal) -> Template | Redirect:
    if (other := _reviewer(principal, "/pilotage/allocation")) is not None:
        return other
    require(principal, REVIEWER)
    run_allocation(get_engine(), actor=principal.email, dry_run=False)
    return done("/pilotage/allocation", "allocation")


# --------------------------------------------------------------------------- taxonomy curation
def _curation(request: Request[Any, Any, Any], db: Session, principal: Principal, q: str = "", *,
              status: int = 200, error: str = "", where: str = "") -> Template:
    taxonomy = TaxonomyService(db)
    pending, pending_count = taxonomy.list(status="pending", limit=100)
    found, _ = taxonomy.list(q=q, limit=20) if q else ([], 0)
    return page("review/competences", principal, "taxonomie", "Compétences", request=request, status=status,
                pending=pending, pending_count=pending_count, found=found, q=q, error=error, where=where)


@get("/pilotage/competences", include_in_schema=False, sync_to_thread=True, opt={"public": True})
def curation(request: Request[Any, Any, Any], db_session: Session, principal: Principal,
             q: str = "") -> Template | Redirect:
    if (other := _reviewer(principal, "/pilotage/competences")) is not None:
        return other
    return _curation(request, db_session, principal, q.strip()[:200])


@post("/pilotage/competences/{skill_id:str}", include_in_schema=False, sync_to_thread=True, opt={"public": True})
def curate(request: Request[Any, Any, Any], db_session: Session, principal: Principal, skill_id: str, data: Form,
           skill_references: Any) -> Template | Redirect:
    """Merge a pending skill into a taxonomy skill, validate it as it is, or set a skill's aliases."""
    if (other := _reviewer(principal, "/pilotage/competences")) is not None:
        return other
    taxonomy = TaxonomyService(db_session)
    action = str(data.get("action", ""))
    try:
        if action == "fusionner":
            target = taxonomy.resolve(str(data.get("name", "")).strip())
            if not target.skill_id or target.skill_id == skill_id:
                raise ValidationFailedError("no taxonomy skill matches", field="target_id")
            taxonomy.merge(skill_id, target.skill_id, referencing=skill_references)
            notice = "fusion"
        elif action == "valider":
            taxonomy.update(skill_id, SkillUpdate(status="active"))
            notice = "valide"
        else:
            aliases = [a.strip() for a in re.split(r"[\n,;]", str(data.get("aliases", ""))) if a.strip()]
            taxonomy.update(skill_id, SkillUpdate(aliases=aliases))
            notice = "alias"
    except (DomainError, ValidationError) as exc:
        db_session.rollback()
        return _curation(request, db_session, principal, str(data.get("q", "")), status=422,
                         error=french_error(exc), where=skill_id)
    back = str(data.get("q", "")).strip()
    return done("/pilotage/competences" + (f"?q={back}" if back and action == "alias" else ""), notice)


# --------------------------------------------------------------------------- API (JSON, CSV)
@get("/api/v1/review/summary", tags=["review"], sync_to_thread=True, opt={"roles": (REVIEWER,)},
     summary="DINUM review: fill rate, time to staff, FTE per ministry vs pledges, skills supply vs demand",
     description=f"The figures over the whole pool (agents, available agents, skills supply) are kept by each worker "
                 f"and counted again when the database changed, at most every {POOL_MAX_AGE_S:g} s.")
def review_summary(db_session: Session) -> dict[str, Any]:
    return ReviewService(db_session).summary()


@get("/api/v1/review/fte.csv", tags=["review"], sync_to_thread=True, opt={"roles": (REVIEWER,)},
     summary="FTE per project and ministry against pledges, as CSV", media_type="text/csv")
def review_fte_csv(db_session: Session) -> Response[str]:
    return Response(ReviewService(db_session).fte_csv(), media_type="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="etp-par-ministere.csv"'})


route_handlers = [dashboard, export_table, need_review, need_decision, allocation, apply_allocation, curation,
                  curate, review_summary, review_fte_csv]
