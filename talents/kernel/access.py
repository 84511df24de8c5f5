"""Who may call a route: the rule each route declares beside itself, and how it is enforced.

A route states its rule once, in its handler's (or controller's) ``opt``::

    @get("/api/v1/needs/{need_id:int}/team", opt=rule(LEAD, REVIEWER, check=need_writer))

``opt={"auth": Rule(...)}`` is the general form; ``{"public": True}``, ``{"roles": (...)}`` and
``{"authenticated": True}`` are its shorthands. An API route that states nothing is open to any signed-in
principal. The auth middleware reads the rule with :func:`rule_of` and applies it with :func:`authorise`;
object-level checks (``check``) live in the domain that owns the object (``profiles.policy``,
``needs.policy``) and run on the route's path parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from litestar.types import Scope
from sqlmodel import Session

from talents.kernel.principal import ANONYMOUS, Principal, require

__all__ = ["DEFAULT_RULE", "GATE_AT_READ", "ON_THE_LOOP", "PUBLIC", "SIGNED_IN", "STATE_KEY", "Caller", "ObjectCheck",
           "Rule", "authorise", "caller_of", "declared_rule", "rule", "rule_of"]

# Where the auth middleware leaves what it learnt about the request, for the handlers and the pages.
STATE_KEY = "talents.caller"


@dataclass(frozen=True)
class Caller:
    """What the auth middleware learnt about the request."""

    principal: Principal
    session_id: str | None = None  # the cookie value, when a live session authenticated the request
    csrf_token: str | None = None
    bad_credentials: bool = False


def caller_of(scope: Scope) -> Caller:
    """Who is calling (anonymous before the middleware ran, or when it found nobody)."""
    state = scope.get("state") or {}
    caller = state.get(STATE_KEY)
    return caller if isinstance(caller, Caller) else Caller(ANONYMOUS)


# (database session, who calls, the route's path parameters, the request path) -> None, or raises
ObjectCheck = Callable[[Session, Principal, Mapping[str, Any], str], None]


@dataclass(frozen=True)
class Rule:
    """``public``: no sign-in; ``roles`` None: any signed-in principal; ``check``: the per-object rule."""

    public: bool = False
    roles: tuple[str, ...] | None = None
    check: ObjectCheck | None = None
    why: str = ""


PUBLIC = Rule(public=True, why="public")
SIGNED_IN = Rule(why="any signed-in principal")
DEFAULT_RULE = Rule(why="default: any signed-in principal")


# In a route's ``opt`` beside its rule: on PostgreSQL, check the caller and the rule in the same trip to a thread as
# the handler's read, not in one of their own. Only for a handler that reads through ``talents.kernel.api.read_now``
# and asks for no principal (the caller is known once the read begins); the middleware still lets no answer leave
# before the gate passed.
GATE_AT_READ = {"gate_at_read": True}

# In a route's ``opt``: on SQLite, once the request's transaction holds the write lock, its synchronous handler runs
# on the event loop instead of in a thread (``talents.kernel.api.handler_on_the_loop``). Only for a handler that
# never ends its transaction and goes on: a page that rolls back to show its form again begins another transaction,
# whose begin may wait for the lock.
ON_THE_LOOP = {"on_the_loop": True}


def rule(*roles: str, check: ObjectCheck | None = None, why: str = "") -> dict[str, Rule]:
    """The ``opt`` of a route: ``opt=rule(LEAD, REVIEWER, check=...)``; no roles: any signed-in principal."""
    return {"auth": Rule(roles=tuple(roles) or None, check=check, why=why)}


def declared_rule(handler: Any) -> Rule | None:
    """The rule a route handler declares in its ``opt`` (controller ``opt`` included), None if it states none."""
    opt: Mapping[str, Any] = getattr(handler, "opt", None) or {}
    declared = opt.get("auth")
    if isinstance(declared, Rule):
        return declared
    if opt.get("public"):
        return PUBLIC
    if opt.get("roles"):
        return Rule(roles=tuple(opt["roles"]), why="declared roles")
    if opt.get("authenticated"):
        return SIGNED_IN
    return None


def rule_of(handler: Any) -> Rule:
    return declared_rule(handler) or DEFAULT_RULE


def authorise(session_factory: Callable[[], Any], rule_: Rule, principal: Principal,
              params: Mapping[str, Any], path: str) -> None:
    """Apply ``rule_`` to a signed-in principal; raises a domain error (403, 404) when refused."""
    if rule_.roles:
        require(principal, *rule_.roles)
    if rule_.check is not None:
        with session_factory() as db:
            rule_.check(db, principal, params, path)
