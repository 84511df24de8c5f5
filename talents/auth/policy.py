"""Who may call which route, and on whose objects. One table, read by the auth middleware.

Every ``/api/v1/*`` route needs a signed-in principal unless its rule says ``public``. A route gets its rule
from, in order: the handler's ``opt`` (``opt={"public": True}``, ``opt={"roles": (LEAD, REVIEWER)}``, or
``opt={"auth": Rule(...)}``), then :data:`RULES` (for the profiles/needs controllers), then the default:
any signed-in principal. Handlers still check what only they can see (a body, a state) with
:func:`talents.kernel.principal.require` and the helpers below.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from talents.kernel.errors import NotFoundError, PermissionDeniedError
from talents.kernel.principal import ADMIN, AGENT, LEAD, REVIEWER, Principal, require

__all__ = [
    "DEFAULT_RULE",
    "CSRF_EXEMPT_PREFIXES",
    "PREFIX_RULES",
    "RULES",
    "Rule",
    "claim_need",
    "claim_project",
    "check_agent_create",
    "declared_rule",
    "check_need_update",
    "check_need_writer",
    "check_project_update",
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


def _leads_need(session: Session, principal: Principal, need: Any) -> bool:
    from needs.models import Project

    project = session.get(Project, need.project_id) if need.project_id is not None else None
    leads = [need.lead_email, project.lead_email if project is not None else None]
    return any(is_lead_of(principal, lead) for lead in leads)


def check_need_writer(session: Session, principal: Principal, need_id: int) -> None:
    """The need's lead (its own ``lead_email`` or its project's), a reviewer or an admin."""
    from needs.models import Need

    if principal.has(REVIEWER, ADMIN):
        return
    require(principal, LEAD)
    need = session.get(Need, need_id)
    if need is None:
        return
    if not _leads_need(session, principal, need):
        raise PermissionDeniedError("only the need's project lead may change it")


def _assignment_party(session: Session, principal: Principal, params: Mapping[str, Any], _path: str) -> None:
    """The assigned agent, the need's lead, a reviewer or an admin; anyone else does not see it (404)."""
    from needs.models import Need
    from talents.workflow.models import Assignment

    if principal.has(REVIEWER, ADMIN):
        return
    assignment = session.get(Assignment, int(params["assignment_id"]))
    if assignment is None:
        return
    if principal.agent_id is not None and principal.agent_id == assignment.agent_id:
        return
    need = session.get(Need, assignment.need_id)
    if need is not None and principal.has(LEAD) and _leads_need(session, principal, need):
        return
    raise NotFoundError(f"assignment {assignment.id} not found", field="assignment_id")


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
    # Ranked candidates name agents and their availability: the need's lead and reviewers only.
    ("GET", f"{_N}/{{need_id:int}}/roles/{{position:int}}/candidates"): Rule(
        roles=(LEAD, REVIEWER), check=_need_writer, why="the need's lead, or a reviewer"),
    ("GET", f"{_N}/{{need_id:int}}/team"): Rule(roles=(LEAD, REVIEWER), check=_need_writer,
                                               why="the need's lead, or a reviewer"),
}
_W = "/api/v1/assignments"
_PARTY = Rule(check=_assignment_party, why="the assigned agent, the need's lead, or a reviewer")
RULES.update({
    ("POST", _W): Rule(roles=(LEAD, REVIEWER), why="proposals by hand: leads (their needs) and reviewers"),
    ("GET", f"{_W}/{{assignment_id:int}}"): _PARTY,
    **{("POST", f"{_W}/{{assignment_id:int}}/{step}"): _PARTY
       for step in ("accept", "decline", "activate", "complete", "withdraw", "approval-link")},
})


def _normalise(template: str) -> str:
    # The router reports "/agents/{agent_id}"; the route table says "/agents/{agent_id:int}".
    return re.sub(r"\{(\w+):[^}]*\}", r"{\1}", template).rstrip("/") or "/"


_RULES = {(method, _normalise(path)): rule for (method, path), rule in RULES.items()}

# Capability URLs: the signed token in the URL is the credential, not the session cookie, so a forged
# cross-site request gains nothing from the cookie. (Manager approvals, RFC 8058 one-click unsubscribe.)
CSRF_EXEMPT_PREFIXES: tuple[str, ...] = ("/manager/approvals/", "/notifications/unsubscribe")

# Whole namespaces, for routes that state nothing more precise.
PREFIX_RULES: tuple[tuple[str, Rule], ...] = (
    ("/api/v1/admin/", Rule(roles=(ADMIN,), why="administration: admins")),
    ("/api/v1/review/", Rule(roles=(REVIEWER,), why="DINUM review: reviewers")),
)


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
    rule = _RULES.get((method.upper(), _normalise(template)))
    if rule is None:
        rule = next((r for prefix, r in PREFIX_RULES if template.startswith(prefix)), None)
    return rule


def rule_for(handler: Any, method: str, template: str) -> Rule:
    return declared_rule(handler, method, template) or DEFAULT_RULE


# --------------------------------------------------------------------------- checks on request bodies
def _privileged(principal: Principal) -> bool:
    return principal.has(REVIEWER, ADMIN)


def check_agent_create(principal: Principal, data: Any) -> None:
    """Agents create only their own profile (same e-mail); reviewers and admins any."""
    if _privileged(principal):
        return
    if str(getattr(data, "email", "")).strip().lower() != principal.email.lower():
        raise PermissionDeniedError("you may only create your own profile (with your own e-mail)")


def claim_project(principal: Principal, data: Any) -> None:
    """A lead creates projects they lead: ``lead_email`` defaults to theirs and may not name someone else."""
    if _privileged(principal):
        return
    if not data.lead_email:
        data.lead_email = principal.email
    elif not is_lead_of(principal, data.lead_email):
        raise PermissionDeniedError("a lead may only create projects they lead")


def claim_need(session: Session, principal: Principal, data: Any, default_priority: int = 3) -> None:
    """A lead creates needs they lead, in their own projects, at the default priority (reviewers set it)."""
    if _privileged(principal):
        return
    claim_project(principal, data)
    if getattr(data, "project_id", None):
        check_project_writer(session, principal, int(data.project_id))
    if getattr(data, "project", None):
        from sqlmodel import select

        from needs.models import Project

        project = session.exec(select(Project).where(Project.external_id == data.project)).first()
        if project is not None and project.id is not None:
            check_project_writer(session, principal, project.id)
    if data.priority != default_priority:
        raise PermissionDeniedError("only a DINUM reviewer sets a need's priority")


def check_need_update(session: Session, principal: Principal, data: Any) -> None:
    """Priority and lead are the reviewers' to change; a lead may move a need only into their own project."""
    if _privileged(principal):
        return
    changed = data.model_dump(exclude_unset=True)
    if "priority" in changed:
        raise PermissionDeniedError("only a DINUM reviewer sets a need's priority")
    if "lead_email" in changed and not is_lead_of(principal, changed["lead_email"]):
        raise PermissionDeniedError("only a reviewer hands a need over to another lead")
    if changed.get("project_id"):
        check_project_writer(session, principal, int(changed["project_id"]))


def check_project_update(principal: Principal, data: Any) -> None:
    if _privileged(principal):
        return
    changed = data.model_dump(exclude_unset=True)
    if "lead_email" in changed and not is_lead_of(principal, changed["lead_email"]):
        raise PermissionDeniedError("only a reviewer hands a project over to another lead")
