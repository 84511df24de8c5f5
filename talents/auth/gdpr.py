"""GDPR: an agent exports all of their data (JSON or formula-safe CSV) and erases their profile.

Erasure keeps what anonymous statistics need (the agent row with its ministry and skills, the assignments)
and removes what identifies the person: name, e-mail, bio, manager, service, grade, location, languages,
external id, availability windows, lead's feedback, notifications, preferences, account, tokens and sessions.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from datetime import date, datetime
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from litestar import Request, Response, delete, get
from litestar.params import Parameter
from sqlmodel import Session, col, select

from needs.models import Need
from profiles.models import AccessLog, Agent, AgentSkill, Availability, Skill
from talents.assignments.models import PENDING_STATES, Assignment
from talents.auth.models import ApiToken, User, UserSession
from talents.auth.service import email_key
from talents.kernel.access import caller_of
from talents.kernel.db import as_utc, utcnow
from talents.kernel.logs import get_logger
from talents.kernel.principal import Principal
from talents.kernel.settings import get_settings
from talents.workflow.service import AssignmentService

__all__ = ["csv_safe", "erase", "export_data", "route_handlers", "to_csv"]

log = get_logger("talents.gdpr")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: Any) -> str:
    """A cell a spreadsheet will not run: text starting with = + - @ TAB or CR gets a leading quote."""
    text = "" if value is None else value.isoformat() if isinstance(value, (date, datetime)) else \
        json.dumps(value, ensure_ascii=False) if isinstance(value, (dict, list)) else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def _row(obj: Any, skip: Iterable[str] = ()) -> dict[str, Any]:
    data = obj.model_dump() if hasattr(obj, "model_dump") else dict(obj)
    return {k: _plain(v) for k, v in data.items() if k not in set(skip)}


def _table(session: Session, name: str) -> sa.Table | None:
    """Another package's table, when it exists (notifications are optional)."""
    if not sa.inspect(session.connection()).has_table(name):
        return None
    return sa.Table(name, sa.MetaData(), autoload_with=session.connection())


def export_data(session: Session, principal: Principal) -> dict[str, list[dict[str, Any]]]:
    """Everything held about the principal, by category."""
    out: dict[str, list[dict[str, Any]]] = {}
    user = session.exec(select(User).where(User.email_key == email_key(principal.email))).first()
    if user is not None:
        out["account"] = [_row(user, skip=("email_key",))]
        out["api_tokens"] = [_row(t, skip=("token_hash",)) for t in
                             session.exec(select(ApiToken).where(ApiToken.user_id == user.id)).all()]
        out["sessions"] = [_row(s, skip=("session_hash", "csrf_token", "id_token")) for s in
                           session.exec(select(UserSession).where(UserSession.user_id == user.id)).all()]
    if principal.agent_id is not None:
        agent = session.get(Agent, principal.agent_id)
        if agent is not None:
            out["profile"] = [_row(agent)]
            labels = dict(session.exec(select(Skill.id, Skill.label_fr)).all())
            out["skills"] = [{**_row(s), "label": labels.get(s.skill_id, "")} for s in
                             session.exec(select(AgentSkill).where(AgentSkill.agent_id == agent.id)).all()]
            out["availability"] = [_row(w) for w in
                                   session.exec(select(Availability).where(Availability.agent_id == agent.id)).all()]
            rows = session.exec(select(Assignment, Need.title).where(Assignment.agent_id == agent.id,
                                                                      Assignment.need_id == Need.id)).all()
            out["assignments"] = [{**_row(a, skip=("explanation",)), "need_title": title} for a, title in rows]
            out["profile_views"] = [_row(v) for v in session.exec(
                select(AccessLog).where(AccessLog.agent_id == agent.id).order_by(col(AccessLog.at))).all()]
    address = principal.email.lower()
    for table, column in (("notification", "recipient"), ("notification_preference", "email")):
        t = _table(session, table)
        if t is not None:
            result = session.execute(sa.select(t).where(sa.func.lower(t.c[column]) == address))
            out[table + "s"] = [{k: _plain(v) for k, v in r._mapping.items()} for r in result]
    return out


def to_csv(data: dict[str, list[dict[str, Any]]]) -> str:
    """One sheet: category, row number, field, value — every cell formula-safe."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["category", "row", "field", "value"])
    for category, rows in data.items():
        for number, row in enumerate(rows, start=1):
            for field, value in row.items():
                writer.writerow([csv_safe(category), number, csv_safe(field), csv_safe(value)])
    return buffer.getvalue()


def erase(session: Session, principal: Principal) -> dict[str, int]:
    """Erase the principal's personal data; keep anonymous statistics. Returns what was done, by category."""
    now = utcnow()
    done: dict[str, int] = {}
    if principal.agent_id is not None:
        agent = session.get(Agent, principal.agent_id)
        if agent is not None:
            # Seats not yet started are given back through the workflow, so that leads are told and the
            # audit log says why; work already under way stays, anonymous.
            workflow = AssignmentService(session)
            open_seats = session.exec(
                select(Assignment).where(
                    Assignment.agent_id == agent.id, col(Assignment.state).in_(PENDING_STATES)
                )
            ).all()
            for a in open_seats:
                workflow.transition(a, "withdrawn", principal.email, reason="profil effacé à la demande de l'agent")
            done["assignments_withdrawn"] = len(open_seats)
            agent.name = "—"
            agent.email = f"erased-{agent.id}@erased.invalid"
            agent.bio = ""
            agent.manager_email = None
            agent.external_id = None
            agent.service = ""
            agent.grade = ""
            agent.location = ""
            agent.languages = []
            agent.visibility = "private"
            agent.erased_at = now
            agent.updated_at = now
            session.add(agent)
            windows = session.exec(select(Availability).where(Availability.agent_id == agent.id)).all()
            for w in windows:
                session.delete(w)
            done["profile"], done["availability"] = 1, len(windows)
            assignments = session.exec(select(Assignment).where(Assignment.agent_id == agent.id)).all()
            for a in assignments:
                if a.feedback:
                    a.feedback = ""
                    session.add(a)
            done["assignments_kept_anonymous"] = len(assignments)
    address = principal.email.lower()
    for table, column in (("notification", "recipient"), ("notification_preference", "email")):
        t = _table(session, table)
        if t is not None:
            result = session.execute(sa.delete(t).where(sa.func.lower(t.c[column]) == address))
            done[table + "s"] = int(getattr(result, "rowcount", 0) or 0)
    user = session.exec(select(User).where(User.email_key == email_key(principal.email))).first()
    if user is not None:
        session.execute(sa.delete(UserSession).where(col(UserSession.user_id) == user.id))
        session.execute(sa.delete(ApiToken).where(col(ApiToken.user_id) == user.id))
        session.delete(user)
        done["account"] = 1
    session.flush()
    log.info("erased", categories=sorted(done))
    return done


# --------------------------------------------------------------------------- HTTP
@get("/api/v1/me/export", tags=["me"], sync_to_thread=True, opt={"authenticated": True},
     summary="All my data (GDPR access and portability), as JSON or formula-safe CSV")
def export_me(db_session: Session, principal: Principal,
              format: Annotated[Literal["json", "csv"], Parameter(description="json or csv")] = "json",  # noqa: A002
              ) -> Response[Any]:
    data = export_data(db_session, principal)
    stamp = utcnow().strftime("%Y%m%d")
    if format == "csv":
        return Response(to_csv(data), media_type="text/csv", headers={
            "Content-Disposition": f'attachment; filename="talents-mes-donnees-{stamp}.csv"',
            "Cache-Control": "no-store"})
    return Response(data, headers={"Cache-Control": "no-store"})


@delete("/api/v1/me", tags=["me"], sync_to_thread=True, opt={"authenticated": True}, status_code=200,
        summary="Erase my profile and account (anonymous statistics are kept)")
def erase_me(request: Request[Any, Any, Any], db_session: Session, principal: Principal) -> Response[dict[str, int]]:
    done = erase(db_session, principal)
    settings = get_settings().auth
    response = Response(done, headers={"Cache-Control": "no-store"})
    if caller_of(request.scope).session_id:
        response.delete_cookie(settings.session_cookie, path="/")
        response.delete_cookie(settings.csrf_cookie, path="/")
    return response


route_handlers: list[Any] = [export_me, erase_me]
