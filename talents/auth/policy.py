"""Who may call which route, and on whose objects. One table, read by the auth middleware.

Every ``/api/v1/*`` route needs a signed-in principal unless its rule says ``public``. A route gets its rule
from, in order: the handler's ``opt`` (``opt={"public": True}``, ``opt={"roles": (LEAD, REVIEWER)}``, or
``opt={"auth": Rule(...)}``), then :data:`RULES` (for the profiles/needs controllers), then the default:
any signed-in principal. Handlers still check what only they can see (a body, a state) with
:func:`talents.auth.principal.require` and the helpers below.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from talents.auth.principal import ADMIN, AGENT, LEAD, REVIEWER, Principal, require
from talents.errors import PermissionDeniedError

__all__ = [
    "DEFAULT_RULE",
    "RULES",
    "Rule",
    "check_need_writer",
    "check_project_writer",
    "is_lead_of",
    "log_profile_view",
    "rule_for",
]

ObjectCheck = Callable[[Session, Principal, Mapping[str, Any], str], None]


@dataclass(frozen=True)
class Rule:
    """``roles`` None: any signed-in principal; ``check`` runs on the path parameters (per-object rule)."""

    public: bool = False
    roles: tuple[str, ...] | None = None
    check: ObjectCheck | None = None
    why: str = ""


DEFAULT_RULE = Rule(why="default: any signed-in principal")


# --------------------------------------------------------------------------- per-object checks
def log_profile_view(session: Session, principal: Principal, agent_id: int, path: str,
                     action: str = "view") -> None:
    """Append who looked at whose profile (GDPR access log)."""
    from talents.auth.models import AccessLog

    session.add(AccessLog(viewer_email=principal.email, viewer_roles=",".join(sorted(principal.roles)),
                          agent_id=agent_id, action=action, path=path[:300]))


def _own_profile_or(*roles: str, log: bool = False) -> ObjectCheck:
    def check(session: Session, principal: Principal, params: Mapping[str, Any], path: str) -> None:
        from profiles.models import Agent

        agent_id = int(params["agent_id"])
        if principal.agent_id == agent_id:
            return
        require(principal, *roles)
        if log:
            agent = session.get(Agent, agent_id)
            if agent is not None and agent.erased_at is None:
                log_profile_view(session, principal, agent_id, path)

    return check


def is_lead_of(principal: Principal, lead_email: str | None) -> bool:
    if not lead_email or not principal.email:
        return False
    return str(lead_email).strip().lower() == principal.email.lower()


def check_project_writer(session: Session, principal: Principal, project_id: int) -> None:
    """The project's lead (``lead_email``), a reviewer or an admin (a missing project: the handler's 404)."""
    from needs.models import Project

    if principal.has(REVIEWER, ADMIN):
        return
    require(principal, LEAD)
    project = session.get(Project, project_id)
    if project is not None and not is_lead_of(principal, project.lead_email):
        raise PermissionDeniedError("only the project's lead may change it")


def check_need_writer(session: Session, principal: Principal, need_id: int) -> None:
    """The need's lead (its own ``lead_email`` or its project's), a reviewer or an admin."""
    from needs.models import Need, Project

    if principal.has(REVIEWER, ADMIN):
        return
    require(principal, LEAD)
    need = session.get(Need, need_id)
    if need is None:
        return
    project = session.get(Project, need.project_id) if need.project_id is not None else None
    leads = [need.lead_email, project.lead_email if project is not None else None]
    if not any(is_lead_of(principal, lead) for lead in leads):
        raise PermissionDeniedError("only the need's project lead may change it")


def _project_writer(session: Session, principal: Principal, params: Mapping[str, Any], _path: str) -> None:
    check_project_writer(session, principal, int(params["project_id"]))


def _need_writer(session: Session, principal: Principal, params: Mapping[str, Any], _path: str) -> None:
    check_need_writer(session, principal, int(params["need_id"]))


# --------------------------------------------------------------------------- the table
_A = "/api/v1/agents"
_T = "/api/v1/taxonomy"
_P = "/api/v1/projects"
_N = "/api/v1/needs"
_READ_PROFILE = Rule(check=_own_profile_or(LEAD, REVIEWER, log=True),
                     why="the agent, or a lead/reviewer (logged in the access log)")
_WRITE_PROFILE = Rule(check=_own_profile_or(REVIEWER), why="the agent, or a reviewer")
_CURATE = Rule(roles=(REVIEWER,), why="taxonomy curation: reviewers")
_ANY = Rule(why="any signed-in principal")
_LEADS = Rule(roles=(LEAD, REVIEWER), why="project leads and reviewers")
_NEED_WRITER = Rule(roles=(LEAD, REVIEWER), check=_need_writer, why="the need's lead, or a reviewer")

RULES: dict[tuple[str, str], Rule] = {
    ("GET", f"{_A}"): Rule(roles=(LEAD, REVIEWER), why="searching profiles: leads and reviewers"),
    ("POST", f"{_A}"): Rule(roles=(AGENT, REVIEWER), why="an agent creates their own profile; reviewers any"),
    ("POST", f"{_A}/import"): Rule(roles=(REVIEWER,), why="bulk import: reviewers"),
    ("GET", f"{_A}/{{agent_id:int}}"): _READ_PROFILE,
    ("PATCH", f"{_A}/{{agent_id:int}}"): _WRITE_PROFILE,
    ("DELETE", f"{_A}/{{agent_id:int}}"): Rule(
        roles=(REVIEWER,), why="deleting profiles: reviewers (agents erase theirs with DELETE /api/v1/me)"),
    ("GET", f"{_A}/{{agent_id:int}}/skills"): _READ_PROFILE,
    ("POST", f"{_A}/{{agent_id:int}}/skills"): _WRITE_PROFILE,
    ("PATCH", f"{_A}/{{agent_id:int}}/skills/{{skill_row_id:int}}"): _WRITE_PROFILE,
    ("DELETE", f"{_A}/{{agent_id:int}}/skills/{{skill_row_id:int}}"): _WRITE_PROFILE,
    ("GET", f"{_A}/{{agent_id:int}}/availability"): _READ_PROFILE,
    ("POST", f"{_A}/{{agent_id:int}}/availability"): _WRITE_PROFILE,
    ("PUT", f"{_A}/{{agent_id:int}}/availability/{{window_id:int}}"): _WRITE_PROFILE,
    ("DELETE", f"{_A}/{{agent_id:int}}/availability/{{window_id:int}}"): _WRITE_PROFILE,
    ("GET", f"{_T}/skills"): _ANY,
    ("GET", f"{_T}/suggest"): _ANY,
    ("GET", f"{_T}/resolve"): _ANY,
    ("GET", f"{_T}/skills/{{skill_id:str}}"): _ANY,
    ("POST", f"{_T}/skills"): _CURATE,
    ("PATCH", f"{_T}/skills/{{skill_id:str}}"): _CURATE,
    ("DELETE", f"{_T}/skills/{{skill_id:str}}"): _CURATE,
    ("POST", f"{_T}/skills/{{skill_id:str}}/merge"): _CURATE,
    ("POST", f"{_T}/import"): _CURATE,
    ("GET", f"{_P}"): _ANY,
    ("POST", f"{_P}"): _LEADS,
    ("GET", f"{_P}/{{project_id:int}}"): _ANY,
    ("PATCH", f"{_P}/{{project_id:int}}"): Rule(roles=(LEAD, REVIEWER), check=_project_writer,
                                               why="the project's lead, or a reviewer"),
    ("DELETE", f"{_P}/{{project_id:int}}"): Rule(roles=(LEAD, REVIEWER), check=_project_writer,
                                                why="the project's lead, or a reviewer"),
    ("GET", f"{_N}"): _ANY,
    ("POST", f"{_N}"): _LEADS,
    ("POST", f"{_N}/import"): Rule(roles=(REVIEWER,), why="bulk import: reviewers"),
    ("GET", f"{_N}/{{need_id:int}}"): _ANY,
    ("PATCH", f"{_N}/{{need_id:int}}"): Rule(roles=(LEAD, REVIEWER), check=_need_writer,
                                            why="the need's lead, or a reviewer (priority: reviewers only)"),
    ("DELETE", f"{_N}/{{need_id:int}}"): Rule(roles=(LEAD, REVIEWER), check=_need_writer,
                                             why="the need's lead, or a reviewer"),
    ("GET", f"{_N}/{{need_id:int}}/roles"): _ANY,
    ("POST", f"{_N}/{{need_id:int}}/roles"): _NEED_WRITER,
    ("GET", f"{_N}/{{need_id:int}}/roles/{{position:int}}"): _ANY,
    ("PATCH", f"{_N}/{{need_id:int}}/roles/{{position:int}}"): _NEED_WRITER,
    ("DELETE", f"{_N}/{{need_id:int}}/roles/{{position:int}}"): _NEED_WRITER,
}


def _normalise(template: str) -> str:
    return template.rstrip("/") or "/"


def declared_rule(handler: Any, method: str, template: str) -> Rule | None:
    """The rule declared for a route (handler ``opt`` or the table), or None when it relies on the default."""
    opt: Mapping[str, Any] = getattr(handler, "opt", None) or {}
    if isinstance(opt.get("auth"), Rule):
        return opt["auth"]  # type: ignore[no-any-return]
    if opt.get("public"):
        return Rule(public=True, why="declared public")
    if opt.get("roles"):
        return Rule(roles=tuple(opt["roles"]), why="declared roles")
    if opt.get("authenticated"):
        return _ANY
    return RULES.get((method.upper(), _normalise(template)))


def rule_for(handler: Any, method: str, template: str) -> Rule:
    return declared_rule(handler, method, template) or DEFAULT_RULE
