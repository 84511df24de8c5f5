"""Who may read or change a profile, and the access log of personal data.

A profile is its agent's; leads and DINUM reviewers read profiles for staffing (each read is written to the
access log), reviewers and admins change them. Routes declare these rules in ``profiles.controllers``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Session

from profiles.models import AccessLog, Agent, AgentPublic
from talents.kernel.access import ObjectCheck
from talents.kernel.db import after_commit, utcnow
from talents.kernel.errors import NotFoundError, PermissionDeniedError
from talents.kernel.fields import same_email
from talents.kernel.prepared import Prepared
from talents.kernel.principal import ADMIN, LEAD, REVIEWER, Principal, require

__all__ = [
    "PROFILE_AS_SHOWN",
    "MANAGER_IS_SOMEONE_ELSE",
    "check_agent_create",
    "check_agent_update",
    "log_profile_reads",
    "write_access_lines",
    "log_profile_view",
    "manager_of",
    "owner_or_reader",
    "owner_or_reviewer",
    "profile_seen_by_check",
    "sees_everything",
]


def sees_everything(principal: Principal) -> bool:
    """DINUM reviewers and admins: every profile, private ones included, with every field."""
    return principal.has(REVIEWER, ADMIN)


def log_profile_view(session: Session, principal: Principal, agent_id: int, path: str,
                     action: str = "view") -> None:
    """Append who read whose personal data (GDPR access log)."""
    log_profile_reads(session, principal, [agent_id], path, action, own_too=True)


def log_profile_reads(session: Session, principal: Principal, agent_ids: Iterable[int], path: str,
                      action: str = "list", *, own_too: bool = False) -> None:
    """Log the agents whose data a list showed to someone else than themselves.

    The lines are written with the session's commit (``after_commit``): a request that only read stays a read,
    and does not answer unless they are written."""
    shared = {"at": utcnow(), "viewer_email": principal.email, "viewer_roles": ",".join(sorted(principal.roles)),
              "action": action, "path": path[:300]}
    seen = [agent_id for agent_id in agent_ids if own_too or agent_id != principal.agent_id]
    if seen:
        after_commit(session, lambda db: write_access_lines(db, shared, seen))


def write_access_lines(conn: sa.Connection, shared: Mapping[str, Any], agent_ids: list[int]) -> None:
    """The access log's lines of one read, one per agent shown (``shared``: the time, who read, how and where).

    On PostgreSQL one statement takes the agents as one array: the lines of a ranking (thirty) or a need's page
    (sixty) were as many statements for the server to run. SQLite runs the same insert for each agent in one call
    to its driver, which costs it no more."""
    if not agent_ids:
        return
    if conn.dialect.name == "postgresql":
        _ACCESS_LOG_LINES_OF_ARRAY.run_many(conn, [{**shared, "agent_ids": agent_ids}])
    else:
        _ACCESS_LOG_LINES.run_many(conn, [{**shared, "agent_id": agent_id} for agent_id in agent_ids])


# Built once: every read of someone else's profile writes lines of it.
_ACCESS_LOG_COLUMNS = ("at", "viewer_email", "viewer_roles", "agent_id", "action", "path")
_ACCESS_LOG_LINES = Prepared(sa.insert(AccessLog.__table__).values(  # type: ignore[attr-defined]
    {name: sa.bindparam(name) for name in _ACCESS_LOG_COLUMNS}))
_ACCESS_LOG_LINES_OF_ARRAY = Prepared(sa.insert(AccessLog.__table__).from_select(  # type: ignore[attr-defined]
    _ACCESS_LOG_COLUMNS,
    sa.select(*(sa.func.unnest(sa.bindparam("agent_ids", type_=postgresql.ARRAY(sa.Integer())))
                if name == "agent_id" else sa.bindparam(name, type_=AccessLog.__table__.c[name].type)  # type: ignore[attr-defined]
                for name in _ACCESS_LOG_COLUMNS))))


# Built once: every read of someone else's profile asks it. The profile as the API shows it, its visibility among
# its fields, rather than its visibility alone: the profile's read that follows the check in the same session
# answers with this row (``profile_seen_by_check``) instead of asking the database again.
PROFILE_AS_SHOWN = Prepared(sa.select(*(getattr(Agent, f).label(f) for f in AgentPublic.model_fields
                                        if f not in ("skills", "availability", "warnings")))
                            .where(Agent.id == sa.bindparam("agent_id"), Agent.erased_at.is_(None)))
_SEEN_BY_CHECK = "profiles.seen_by_check"  # key of Session.info: (agent id, the row the check read)


def profile_seen_by_check(session: Session, agent_id: int) -> dict[str, Any] | None:
    """The row of ``PROFILE_AS_SHOWN`` the reader's check read for ``agent_id`` in this session (once; None if
    it read none: the caller's own profile, say)."""
    seen = session.info.pop(_SEEN_BY_CHECK, None)
    return seen[1] if seen is not None and seen[0] == agent_id else None


def _own_profile_or(*roles: str, log: bool) -> ObjectCheck:
    def check(session: Session, principal: Principal, params: Mapping[str, Any], path: str) -> None:
        agent_id = int(params["agent_id"])
        if principal.agent_id == agent_id:
            return
        require(principal, *roles)
        row = PROFILE_AS_SHOWN.first(session.connection(), {"agent_id": agent_id})
        if row is None:
            return  # no such profile (or erased): the handler answers 404
        if row["visibility"] == "private" and not sees_everything(principal):
            raise NotFoundError(f"agent {agent_id} not found", field="agent_id")
        if log:  # a view: the route only reads, nothing changes the row before its read answers with it
            session.info[_SEEN_BY_CHECK] = (agent_id, row)
            log_profile_view(session, principal, agent_id, path)

    return check


# The agent themselves, or a lead/reviewer (the read is logged).
owner_or_reader: ObjectCheck = _own_profile_or(LEAD, REVIEWER, log=True)
# The agent themselves, or a reviewer.
owner_or_reviewer: ObjectCheck = _own_profile_or(REVIEWER, log=False)


# Fields an agent may not set on their own profile: the e-mail (it ties the profile to their account: changing
# it would hand the profile to another one), the manager (who approves their time must not be chosen by them)
# and the import key. DINUM (reviewers, admins) sets them.
_TRUSTED_FIELDS = ("email", "manager_email", "external_id")


def _refuse_changes(principal: Principal, wanted: Mapping[str, Any], current: Mapping[str, Any]) -> None:
    if sees_everything(principal):
        return
    for name in _TRUSTED_FIELDS:
        value = wanted.get(name)
        if value is None or value == current.get(name) or (name != "external_id" and same_email(
                str(value), current.get(name))):
            continue
        raise PermissionDeniedError(f"{name} is set by DINUM (a reviewer or an admin), not by the agent",
                                    field=name)


def check_agent_create(principal: Principal, data: Any) -> None:
    """Agents create only their own profile (their account's e-mail), without manager or import key."""
    if sees_everything(principal):
        return
    if not same_email(str(getattr(data, "email", "")), principal.email):
        raise PermissionDeniedError("you may only create your own profile (with your own e-mail)", field="email")
    _refuse_changes(principal, data.model_dump(), {"email": principal.email})


def check_agent_update(session: Session, principal: Principal, agent_id: int, data: Any) -> None:
    """An agent edits their profile, but neither its e-mail, nor its manager, nor its import key."""
    agent = session.get(Agent, agent_id)
    if agent is not None:
        _refuse_changes(principal, data.model_dump(exclude_unset=True), agent.model_dump())


MANAGER_IS_SOMEONE_ELSE = "manager_email must be someone else than the agent: nobody approves their own release"


def manager_of(agent: Agent) -> str | None:
    """Who approves the agent's time: their manager, never themselves."""
    if agent.manager_email and not same_email(agent.manager_email, agent.email):
        return agent.manager_email
    return None
