"""The gate every request passes: who is calling (token or session), CSRF, rate limits, route rules.

It runs after routing, so it knows the route handler, its rule (:mod:`talents.kernel.access`) and its path
parameters. It refuses by raising (401, 403, 404, 429): :mod:`talents.http_errors` writes the answer, as for
every other error.
"""

from __future__ import annotations

from contextlib import nullcontext
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs

import anyio
from litestar.exceptions import NotAuthorizedException, NotFoundException, TooManyRequestsException
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send
from sqlmodel import Session

from talents.auth.ratelimit import hit
from talents.auth.service import SessionService, TokenService, same_secret
from talents.kernel.access import STATE_KEY, Caller, Rule, authorise, rule_of
from talents.kernel.db import read_mostly, session_scope
from talents.kernel.errors import PermissionDeniedError
from talents.kernel.logs import get_logger
from talents.kernel.principal import ANONYMOUS, Principal
from talents.kernel.settings import get_settings

__all__ = ["AuthMiddleware"]

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_ID = 2**31 - 1
log = get_logger("talents.auth")


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _cookie(headers: dict[str, str], name: str) -> str | None:
    raw = headers.get("cookie")
    if not raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except Exception:  # noqa: BLE001 - a malformed Cookie header is the client's problem: no session
        return None
    morsel = jar.get(name)
    return morsel.value if morsel is not None else None


def client_ip(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _resolve(headers: dict[str, str]) -> Caller:
    # A read that writes at most a "last used" time: it never queues for SQLite's write lock.
    return read_mostly(lambda db: _resolve_in(db, headers))


def _resolve_in(db: Session, headers: dict[str, str]) -> Caller:
    settings = get_settings().auth
    authorization = headers.get("authorization", "")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        principal = TokenService(db).resolve(token.strip()) if scheme.lower() == "bearer" else ANONYMOUS
        return Caller(principal, bad_credentials=not principal.authenticated)
    sid = _cookie(headers, settings.session_cookie)
    if sid:
        service = SessionService(db)
        row = service.find(sid)
        if row is not None:
            principal = service.principal(row)
            if principal.authenticated:
                return Caller(principal, session_id=sid, csrf_token=row.csrf_token)
    return Caller(ANONYMOUS)


async def _read_body(receive: Receive, limit: int) -> tuple[bytes, list[Any]]:
    messages: list[Any] = []
    body = b""
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        body += message.get("body", b"")
        if len(body) > limit or not message.get("more_body", False):
            break
    return body, messages


def _replay(messages: list[Any], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> Any:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay  # type: ignore[return-value]


class AuthMiddleware(ASGIMiddleware):
    """Resolve the principal, then enforce CSRF, rate limits and the route's rule."""

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if scope["type"] != "http":
            await next_app(scope, receive, send)
            return
        settings = get_settings()
        headers = _headers(scope)
        caller = await anyio.to_thread.run_sync(_resolve, headers)
        scope.setdefault("state", {})[STATE_KEY] = caller
        method = str(scope.get("method", "GET")).upper()
        path = str(scope.get("path", ""))
        handler = scope.get("route_handler")
        opt = getattr(handler, "opt", None) or {}

        if caller.bad_credentials:
            log.info("auth_rejected", reason="unknown or revoked token", path=path)
            raise NotAuthorizedException("invalid or revoked credentials",
                                         headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})

        # CSRF: a browser session authenticates by cookie, which a third-party page can make the browser send.
        csrf_exempt = bool(opt.get("csrf_exempt"))
        if method in UNSAFE and caller.session_id is not None and not csrf_exempt:
            given = headers.get("x-csrf-token", "")
            if not given and "application/x-www-form-urlencoded" in headers.get("content-type", ""):
                body, messages = await _read_body(receive, settings.app.max_body_bytes)
                receive = _replay(messages, receive)
                given = (parse_qs(body.decode("utf-8", "replace")).get("csrf_token") or [""])[0]
            if not (caller.csrf_token and given and same_secret(given, caller.csrf_token)):
                log.info("csrf_rejected", path=path)
                raise PermissionDeniedError("missing or wrong CSRF token (send the X-CSRF-Token header)",
                                            field="X-CSRF-Token")

        # Rate limits, counted in the database so that every worker shares them.
        limit_key, limit = None, 0
        if opt.get("signin"):
            limit_key, limit = f"signin:{client_ip(scope)}", settings.auth.signin_rate_per_minute
        elif method in UNSAFE:
            who = caller.principal.email.lower() if caller.principal.authenticated else client_ip(scope)
            limit_key, limit = f"write:{who}", settings.auth.write_rate_per_minute
        if limit_key:
            window = settings.auth.rate_window_s
            retry = await anyio.to_thread.run_sync(_count, limit_key, limit, window)
            if retry is not None:
                log.info("rate_limited", key=limit_key.split(":", 1)[0], path=path)
                raise TooManyRequestsException("too many requests, try again later",
                                               headers={"Retry-After": str(retry)})

        # Ids are 32-bit integers in the database: a larger one names nothing (and would overflow the driver).
        params = scope.get("path_params") or {}
        too_large = [k for k, v in params.items() if isinstance(v, int) and not -MAX_ID <= v <= MAX_ID]
        if too_large:
            raise NotFoundException(f"{too_large[0]} names nothing (out of range)")

        if path.startswith("/api/") and method != "OPTIONS":
            rule = rule_of(handler)
            if not rule.public:
                if not caller.principal.authenticated:
                    raise NotAuthorizedException("sign in or send an API token", headers={"WWW-Authenticate": "Bearer"})
                await anyio.to_thread.run_sync(_authorise, rule, caller.principal, dict(params), path)
        await next_app(scope, receive, send)


def _count(key: str, limit: int, window: int) -> int | None:
    with session_scope() as db:
        return hit(db, key, limit, window)


def _authorise(rule: Rule, principal: Principal, params: dict[str, Any], path: str) -> None:
    # Per-object rules read, and write at most an access log line: no wait for SQLite's write lock.
    read_mostly(lambda db: authorise(lambda: nullcontext(db), rule, principal, params, path))
