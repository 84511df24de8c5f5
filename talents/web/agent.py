"""« Mon espace »: the agent's own pages — profile, skills, availability, proposals, notifications, data.

Every write goes through the service the API uses (profiles, workflow, notifications, GDPR); a refusal comes
back as a French sentence beside the form.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import sqlalchemy as sa
from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Template
from pydantic import ValidationError
from sqlmodel import Session

from needs.models import Need, Role
from notifications.outbox import KINDS
from notifications.service import ChannelChoice, InboxService, Preferences, PreferenceService
from profiles.models import Agent, AgentCreate, AgentSkillCreate, AgentSkillUpdate, AgentUpdate, AvailabilityCreate
from profiles.policy import check_agent_create, check_agent_update
from profiles.service import AgentService
from profiles.taxonomy import TaxonomyService
from talents.assignments.models import Assignment
from talents.auth.gdpr import erase
from talents.kernel.access import GATE_AT_READ, caller_of
from talents.kernel.api import as_dicts, read_now
from talents.kernel.errors import DomainError, NotFoundError
from talents.kernel.principal import ANONYMOUS, Principal
from talents.kernel.settings import get_settings
from talents.layout import message_page, page
from talents.web.common import checked, done, floor_sentence, french_error, sign_in
from talents.web.labels import KIND_LABELS
from talents.workflow.service import AssignmentService

__all__ = ["route_handlers"]

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
HOME = "/mon-espace"


def _agent(db: Session, principal: Principal) -> Agent | None:
    service = AgentService(db)
    if principal.agent_id is not None:
        agent = db.get(Agent, principal.agent_id)
        if agent is not None and agent.erased_at is None:
            return agent
    agent = service.get_by_email(principal.email)
    return agent if agent is not None and agent.erased_at is None else None


def _my_profile(db: Session, principal: Principal) -> dict[str, Any] | None:
    """My profile as the page shows it, skills and windows included, read as rows (no mapped object)."""
    service = AgentService(db)
    agent_id = principal.agent_id
    if agent_id is None:  # a principal that did not come from the sign-in (which links the agent)
        agent = _agent(db, principal)
        agent_id = agent.id if agent is not None else None
    if agent_id is None:
        return None
    try:
        return service.public_view(agent_id)
    except NotFoundError:  # erased since the sign-in
        return None


# The agent's proposals and missions with the titles of their need and role, in one query.
_t = Assignment.__table__  # type: ignore[attr-defined]
_MY_ASSIGNMENTS = (
    sa.select(_t.c.id, _t.c.need_id, _t.c.state, _t.c.share, _t.c.start_date.label("start"),
              _t.c.end_date.label("end"), _t.c.explanation, _t.c.version, _t.c.expires_at,
              Need.__table__.c.title.label("need_title"),  # type: ignore[attr-defined]
              Role.__table__.c.title.label("role_title"))  # type: ignore[attr-defined]
    .join(Need.__table__, Need.__table__.c.id == _t.c.need_id)  # type: ignore[attr-defined]
    .join(Role.__table__, Role.__table__.c.id == _t.c.role_id)  # type: ignore[attr-defined]
    .where(_t.c.agent_id == sa.bindparam("agent_id"))
    .order_by(_t.c.id)
    .limit(200)
)


def _space(request: Request[Any, Any, Any], db: Session, principal: Principal, *, status: int = 200,
           error: str = "", where: str = "", form: dict[str, Any] | None = None) -> Template:
    agent = _my_profile(db, principal)
    proposals: list[Any] = []
    assignments: list[Any] = []
    if agent is not None:
        for row in as_dicts(db.connection().execute(_MY_ASSIGNMENTS, {"agent_id": agent["id"]})):
            (proposals if row["state"] == "proposed" else assignments).append(row)
    return page(
        "agent/espace", principal, "espace", "Mon espace", request=request, status=status, agent=agent,
        skills=agent["skills"] if agent else [], windows=agent["availability"] if agent else [],
        proposals=proposals, assignments=assignments, error=error, where=where, form=form or {},
        floor_rule=floor_sentence(), unread=InboxService(db).unread_count(principal),
    )


def _refused(request: Request[Any, Any, Any], db: Session, principal: Principal, exc: Exception, where: str,
             form: dict[str, Any]) -> Template:
    db.rollback()
    return _space(request, db, principal, status=422, error=french_error(exc), where=where, form=form)


@get(HOME, include_in_schema=False, opt={"public": True, **GATE_AT_READ})
async def space(request: Request[Any, Any, Any]) -> Template | Redirect:
    def read(db: Session) -> Template | None:
        # Who calls is known once the read begins (the gate runs first, in the same trip to a thread).
        principal = caller_of(request.scope).principal
        return _space(request, db, principal) if principal.authenticated else None

    return await read_now(request, read) or sign_in(HOME)


def _profile_fields(data: dict[str, Any]) -> dict[str, Any]:
    # The manager is not on the form: DINUM sets it (profiles.policy).
    fields = {k: str(data.get(k, "")).strip() for k in ("name", "ministry", "service", "location", "bio",
                                                        "visibility")}
    if not fields["visibility"]:  # left empty: keep what is there (or the default)
        fields.pop("visibility")
    return fields


@post(f"{HOME}/profil", include_in_schema=False, sync_to_thread=True, opt={"public": True})
def save_profile(request: Request[Any, Any, Any], db_session: Session, principal: Principal,
                 data: Form) -> Template | Redirect:
    if not principal.authenticated:
        return sign_in(HOME)
    agent = _agent(db_session, principal)
    service = AgentService(db_session)
    try:
        if agent is None:
            created = AgentCreate.model_validate({**_profile_fields(data), "email": principal.email})
            check_agent_create(principal, created)
            service.create(created)
        else:
            changes = AgentUpdate.model_validate(_profile_fields(data))
            check_agent_update(db_session, principal, agent.id, changes)  # type: ignore[arg-type]
            service.update(agent.id, changes)  # type: ignore[arg-type]
    except (DomainError, ValidationError) as exc:
        return _refused(request, db_session, principal, exc, "profil", data)
    return done(HOME, "profil")


def _on_my_profile(request: Request[Any, Any, Any], db: Session, principal: Principal, data: dict[str, Any],
                   where: str, change: Callable[[AgentService, int], tuple[str, str]]) -> Template | Redirect:
    """A change to my own profile's skills or windows: ``change`` returns where to go back and the notice; a
    refusal shows « Mon espace » again with the error beside the form (``where``), nothing written."""
    agent = _agent(db, principal)
    if agent is None or agent.id is None:
        return sign_in(HOME) if not principal.authenticated else done(HOME, "profil")
    try:
        back, notice = change(AgentService(db), agent.id)
    except (DomainError, ValidationError) as exc:
        return _refused(request, db, principal, exc, where, data)
    return done(back, notice)


def _level(value: Any) -> int | None:
    return int(value) if str(value or "").strip().isdigit() else None


@post(f"{HOME}/competences", include_in_schema=False, sync_to_thread=True, opt={"public": True})
def add_skill(request: Request[Any, Any, Any], db_session: Session, principal: Principal,
              data: Form) -> Template | Redirect:
    def change(service: AgentService, agent_id: int) -> tuple[str, str]:
        service.add_skill(agent_id, AgentSkillCreate.model_validate({
            "name": str(data.get("name", "")).strip(), "level": _level(data.get("level")),
            "interest": _level(data.get("interest"))}))
        return HOME + "#competences", "competence"

    return _on_my_profile(request, db_session, principal, data, "competence", change)


@post(f"{HOME}/competences/{{row_id:int}}", include_in_schema=False, sync_to_thread=True, opt={"public": True})
def update_skill(request: Request[Any, Any, Any], db_session: Session, principal: Principal, row_id: int,
                 data: Form) -> Template | Redirect:
    def change(service: AgentService, agent_id: int) -> tuple[str, str]:
        if checked(data, "retirer"):
            service.remove_skill(agent_id, row_id)
            return HOME + "#competences", "competence-retiree"
        service.update_skill(agent_id, row_id, AgentSkillUpdate.model_validate(
            {"level": _level(data.get("level")), "interest": _level(data.get("interest"))}))
        return HOME + "#competences", "competence"

    return _on_my_profile(request, db_session, principal, data, "competences", change)


def _share(value: Any) -> float | None:
    """A share typed as a percentage (« 60 », « 60 % », « 60,5 »)."""
    text = str(value or "").replace("%", "").replace(",", ".").strip()
    try:
        return float(text) / 100
    except ValueError:
        return None


@post(f"{HOME}/disponibilites", include_in_schema=False, sync_to_thread=True, opt={"public": True})
def add_window(request: Request[Any, Any, Any], db_session: Session, principal: Principal,
               data: Form) -> Template | Redirect:
    def change(service: AgentService, agent_id: int) -> tuple[str, str]:
        service.add_availability(agent_id, AvailabilityCreate.model_validate({
            "start": data.get("start") or None, "end": data.get("end") or None, "share": _share(data.get("share"))}))
        return HOME + "#disponibilites", "disponibilite"

    return _on_my_profile(request, db_session, principal, data, "disponibilite", change)


@post(f"{HOME}/disponibilites/{{window_id:int}}/retirer", include_in_schema=False, sync_to_thread=True,
      opt={"public": True})
def remove_window(request: Request[Any, Any, Any], db_session: Session, principal: Principal,
                  window_id: int) -> Template | Redirect:
    def change(service: AgentService, agent_id: int) -> tuple[str, str]:
        service.remove_availability(agent_id, window_id)
        return HOME + "#disponibilites", "disponibilite-retiree"

    return _on_my_profile(request, db_session, principal, {}, "disponibilites", change)


@post(f"{HOME}/propositions/{{assignment_id:int}}", include_in_schema=False, sync_to_thread=True,
      opt={"public": True})
def answer_proposal(request: Request[Any, Any, Any], db_session: Session, principal: Principal,
                    assignment_id: int, data: Form) -> Template | Redirect:
    if not principal.authenticated:
        return sign_in(HOME)
    service = AssignmentService(db_session)
    version = _level(data.get("version"))
    try:
        if data.get("decision") == "accepter":
            service.accept(assignment_id, principal, version)
            return done(HOME + "#propositions", "acceptee")
        service.decline(assignment_id, principal, str(data.get("reason", "")).strip()[:2000], version)
    except DomainError as exc:
        return _refused(request, db_session, principal, exc, "propositions", data)
    return done(HOME + "#propositions", "declinee")


# --------------------------------------------------------------------------- notifications
def _notifications(request: Request[Any, Any, Any], db: Session, principal: Principal, *, status: int = 200,
                   error: str = "") -> Template:
    inbox = InboxService(db).list(principal, limit=50)
    prefs = PreferenceService(db).get(principal)
    kinds = [(k, KIND_LABELS.get(k, k), prefs.kinds.get(k, prefs.default)) for k in KINDS]
    return page("agent/notifications", principal, "espace", "Mes notifications", request=request, status=status,
                inbox=inbox, prefs=prefs, kinds=kinds, error=error)


@get(f"{HOME}/notifications", include_in_schema=False, sync_to_thread=True, opt={"public": True})
def notifications(request: Request[Any, Any, Any], db_session: Session, principal: Principal) -> Template | Redirect:
    if not principal.authenticated:
        return sign_in(f"{HOME}/notifications")
    return _notifications(request, db_session, principal)


@get("/me/notifications", include_in_schema=False, sync_to_thread=False, opt={"public": True})
def notifications_from_mail() -> Redirect:
    """Where the e-mails' « Gérer mes notifications » link lands."""
    return Redirect(path=f"{HOME}/notifications")


@post(f"{HOME}/notifications/preferences", include_in_schema=False, sync_to_thread=True, opt={"public": True})
def save_preferences(request: Request[Any, Any, Any], db_session: Session, principal: Principal,
                     data: Form) -> Template | Redirect:
    if not principal.authenticated:
        return sign_in(f"{HOME}/notifications")
    mode = "digest" if data.get("mode") == "digest" else "immediate"
    kinds = {k: ChannelChoice(inapp=checked(data, f"{k}:inapp"), email=checked(data, f"{k}:email"), mode=mode)
             for k in KINDS}
    try:
        PreferenceService(db_session).put(principal, Preferences(default=ChannelChoice(mode=mode), kinds=kinds))
    except (DomainError, ValidationError) as exc:
        db_session.rollback()
        return _notifications(request, db_session, principal, status=422, error=french_error(exc))
    return done(f"{HOME}/notifications", "preferences")


@post(f"{HOME}/notifications/lues", include_in_schema=False, sync_to_thread=True, opt={"public": True})
def mark_all_read(db_session: Session, principal: Principal) -> Redirect:
    if not principal.authenticated:
        return sign_in(f"{HOME}/notifications")
    InboxService(db_session).mark_all_read(principal)
    return done(f"{HOME}/notifications", "lues")


# --------------------------------------------------------------------------- my data
@get(f"{HOME}/effacement", include_in_schema=False, sync_to_thread=False, opt={"public": True})
def erasure_page(request: Request[Any, Any, Any], principal: Principal) -> Template | Redirect:
    if not principal.authenticated:
        return sign_in(f"{HOME}/effacement")
    return page("agent/effacement", principal, "espace", "Effacer mes données", request=request)


@post(f"{HOME}/effacement/confirmer", include_in_schema=False, sync_to_thread=True, opt={"public": True})
def erasure(request: Request[Any, Any, Any], db_session: Session, principal: Principal,
            data: Form) -> Template | Redirect:
    if not principal.authenticated:
        return sign_in(f"{HOME}/effacement")
    if not checked(data, "confirmer"):
        return page("agent/effacement", principal, "espace", "Effacer mes données", request=request, status=422,
                    error="Cochez la case pour confirmer l'effacement.")
    erase(db_session, principal)
    settings = get_settings().auth
    response = message_page(ANONYMOUS, "Vos données sont effacées",
                            "Votre profil et votre compte sont effacés ; seules des statistiques anonymes "
                            "sont conservées.", alert_class="fr-alert--success")
    if caller_of(request.scope).session_id:
        response.delete_cookie(settings.session_cookie, path="/")
        response.delete_cookie(settings.csrf_cookie, path="/")
    return response


# --------------------------------------------------------------------------- autocomplete
@get("/suggestions/competences", include_in_schema=False, sync_to_thread=True, opt={"public": True})
def suggestions(request: Request[Any, Any, Any], db_session: Session, principal: Principal) -> Template:
    """The ``<option>`` list of an autocomplete (htmx fills the field's ``<datalist>``): typos forgiven, FR/EN.

    htmx sends the field under its own name (``name`` or ``skill-N``); the first non-empty one is the text."""
    typed = next((str(v).strip() for k, v in request.query_params.items()
                  if (k == "name" or k.startswith("skill-")) and str(v).strip()), "")[:200]
    found = TaxonomyService(db_session).suggest(typed, limit=8) if principal.authenticated and typed else []
    return Template(template_name="pages/partials/suggestions.html", context={"suggestions": found},
                    media_type="text/html")


route_handlers = [space, save_profile, add_skill, update_skill, add_window, remove_window, answer_proposal,
                  notifications, notifications_from_mail, save_preferences, mark_all_read, erasure_page, erasure,
                  suggestions]
