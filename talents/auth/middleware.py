"""The gate every request passes: who is calling (token or session), CSRF, rate limits, route rules.

It runs after routing, so it knows the route handler, its rule (:mod:`talents.kernel.access`) and its path
parameters. It refuses by raising (401, 403, 404, 429): :mod:`talents.http_errors` writes the answer, as for
every other error.

It opens the request's database session (:func:`talents.kernel.api.open_request_session`) and the handler
gets the same one: a read is one transaction, credentials and rule included, checked in one trip to a
thread. So is a write by a caller with credentials: who calls, CSRF, the rate counter, the route's rule and the
handler's writes are committed together (on SQLite the transaction begins with the write lock). A refused
request still counts: when that transaction does not commit, its hit is counted again in a short transaction of
its own (:func:`talents.auth.ratelimit.hit`, ``kept``). A sign-in, or a write without credentials, is counted by
address in a short transaction of its own before the request's: every request from one address (a proxy) shares
that counter, whose row must not stay locked for a whole request.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AsyncExitStack, nullcontext
from functools import partial
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
from talents.kernel.access import STATE_KEY, Caller, authorise, rule_of
from talents.kernel.api import (
    admitted,
    close_request_session,
    gate_at_read,
    handler_on_the_loop,
    open_request_session,
    take_gate,
)
from talents.kernel.db import begin_write_at_once, finish, reads_at_once, session_scope
from talents.kernel.errors import PermissionDeniedError
from talents.kernel.logs import get_logger
from talents.kernel.own_writes import serve, writing
from talents.kernel.principal import ANONYMOUS
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


def _resolve_in(db: Session, headers: dict[str, str]) -> Caller:
    settings = get_settings().auth
    authorization = headers.get("authorization", "")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        principal = TokenService(db).resolve(token.strip()) if scheme.lower() == "bearer" else ANONYMOUS
        return Caller(principal, bad_credentials=not principal.authenticated)
    sid = _cookie(headers, settings.session_cookie)
    if sid:
        principal, csrf_token = SessionService(db).resolve(sid)
        if principal.authenticated:
            return Caller(principal, session_id=sid, csrf_token=csrf_token)
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


def _refuse_bad_credentials(caller: Caller, path: str) -> None:
    refusal = _bad_credentials(caller, path)
    if refusal is not None:
        raise refusal


def _bad_credentials(caller: Caller, path: str) -> Exception | None:
    if not caller.bad_credentials:
        return None
    log.info("auth_rejected", reason="unknown or revoked token", path=path)
    return NotAuthorizedException("invalid or revoked credentials",
                                  headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


def _apply_rule(db: Session, caller: Caller, scope: Scope) -> None:
    """Path ids in range, then the route's rule (roles, per-object check) for an API route."""
    # Ids are 32-bit integers in the database: a larger one names nothing (and would overflow the driver).
    params = scope.get("path_params") or {}
    too_large = [k for k, v in params.items() if isinstance(v, int) and not -MAX_ID <= v <= MAX_ID]
    if too_large:
        raise NotFoundException(f"{too_large[0]} names nothing (out of range)")
    path = str(scope.get("path", ""))
    if path.startswith("/api/") and str(scope.get("method", "GET")).upper() != "OPTIONS":
        rule = rule_of(scope.get("route_handler"))
        if not rule.public:
            if not caller.principal.authenticated:
                raise NotAuthorizedException("sign in or send an API token", headers={"WWW-Authenticate": "Bearer"})
            # Per-object rules read, and write at most an access log line (after the commit).
            authorise(lambda: nullcontext(db), rule, caller.principal, dict(params), path)


def _credentials(headers: dict[str, str]) -> bool:
    return "authorization" in headers or get_settings().auth.session_cookie in headers.get("cookie", "")


def _email(scope: Scope) -> str:
    caller = scope["state"].get(STATE_KEY)
    return caller.principal.email.lower() if caller is not None else ""


def _gate_read(db: Session, headers: dict[str, str], scope: Scope) -> None:
    """The whole gate of a read, in the request's own session: who calls, then the route's rule."""
    caller = _resolve_in(db, headers)
    scope["state"][STATE_KEY] = caller
    serve(db, _email(scope))
    _refuse_bad_credentials(caller, str(scope.get("path", "")))
    _apply_rule(db, caller, scope)


def _after_gate(db: Session, send: Send) -> Send:
    """``send``, which first runs the gate if the handler left it waiting (it answered without reading: a refusal
    of its parameters, say): no answer leaves before the caller and the route's rule are checked."""

    async def send_after_gate(message: Any) -> None:
        gate = take_gate(db) if message["type"] == "http.response.start" else None
        if gate is not None:
            await anyio.to_thread.run_sync(_gate_and_finish, db, gate)
        await send(message)

    return send_after_gate


def _gate_and_finish(db: Session, gate: Callable[[], None]) -> None:
    ok = False
    try:
        gate()
        ok = True
    finally:
        finish(db, commit=ok)


class AuthMiddleware(ASGIMiddleware):
    """Resolve the principal, then enforce CSRF, rate limits and the route's rule."""

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if scope["type"] != "http":
            await next_app(scope, receive, send)
            return
        headers = _headers(scope)
        method = str(scope.get("method", "GET")).upper()
        opt = getattr(scope.get("route_handler"), "opt", None) or {}
        scope.setdefault("state", {})
        done = False
        async with admitted(scope), AsyncExitStack() as writes:
            try:
                if method in UNSAFE or opt.get("signin"):
                    receive = await self._gate_write(scope, receive, headers, method, opt)
                    # Until after its commit: this caller's next rankings do not lag (talents.kernel.own_writes).
                    writes.enter_context(writing(_email(scope)))
                    writes.enter_context(handler_on_the_loop(scope))
                else:
                    db = open_request_session(scope)
                    gate = partial(_gate_read, db, headers, scope)
                    if not _credentials(headers) or reads_at_once(db):
                        gate()  # nobody to look up, or a SQLite read that cannot wait: no trip to a thread
                    elif opt.get("gate_at_read"):
                        gate_at_read(db, gate)  # run by the handler's read, in its trip to a thread
                        send = _after_gate(db, send)
                    else:
                        await anyio.to_thread.run_sync(gate)
                await next_app(scope, receive, send)
                done = True
            finally:
                # The session of a route that did not take it (no database work, or refused before the handler).
                await close_request_session(scope, commit=done)

    async def _gate_write(self, scope: Scope, receive: Receive, headers: dict[str, str], method: str,
                          opt: Any) -> Receive:
        # A form sent without the CSRF header carries its token in the body: read (and kept for the handler)
        # before the gate, which then runs in one trip to a thread.
        form_token = None
        if (method in UNSAFE and not opt.get("csrf_exempt") and not headers.get("x-csrf-token")
                and "application/x-www-form-urlencoded" in headers.get("content-type", "")
                and _cookie(headers, get_settings().auth.session_cookie)):
            body, messages = await _read_body(receive, get_settings().app.max_body_bytes)
            receive = _replay(messages, receive)
            form_token = (parse_qs(body.decode("utf-8", "replace")).get("csrf_token") or [""])[0]
        db = open_request_session(scope)
        if not opt.get("signin") and _credentials(headers) and begin_write_at_once(db):
            _gate_write(db, scope, headers, method, opt, form_token)  # it holds the write lock: nothing waits
        else:
            await anyio.to_thread.run_sync(_gate_write, db, scope, headers, method, opt, form_token)
        return receive


def _gate_write(db: Session, scope: Scope, headers: dict[str, str], method: str, opt: Any,
                form_token: str | None) -> None:
    """The gate of a request that may write: who calls, CSRF and the rate limit, then the route's rule.

    A caller with credentials is checked and counted in the request's session (one transaction with the
    handler's writes, when the handler takes that session). A sign-in or a caller without any is counted by
    address, in a short transaction of its own that commits even when the request is then refused."""
    if opt.get("signin") or not _credentials(headers):
        with session_scope() as gate_db:
            caller, refusal = _check_and_count(gate_db, scope, headers, method, opt, form_token, kept=False)
    else:
        caller, refusal = _check_and_count(db, scope, headers, method, opt, form_token, kept=True)
    if refusal is not None:
        raise refusal
    serve(db, _email(scope))
    _apply_rule(db, caller, scope)
    if not _takes_request_session(scope):
        # The handler works in sessions of its own (an import, an allocation run): the gate's transaction ends
        # here, else on SQLite its write lock would keep theirs waiting.
        finish(db, commit=True)


def _takes_request_session(scope: Scope) -> bool:
    handler = scope.get("route_handler")
    return handler is None or "db_session" in handler.parsed_fn_signature.parameters


def _check_and_count(db: Session, scope: Scope, headers: dict[str, str], method: str, opt: Any,
                     form_token: str | None, *, kept: bool) -> tuple[Caller, Exception | None]:
    """Who calls, CSRF and the rate limit, in ``db``: the caller, and the refusal to raise if any. ``kept``: the hit
    is counted again apart should ``db``'s transaction not commit (see :func:`talents.auth.ratelimit.hit`)."""
    path = str(scope.get("path", ""))
    caller = _resolve_in(db, headers)
    scope["state"][STATE_KEY] = caller
    refusal = _bad_credentials(caller, path) or _bad_csrf(caller, headers, method, opt, form_token, path)
    if refusal is not None:
        return caller, refusal
    # Rate limits, counted in the database so that every worker shares them.
    auth = get_settings().auth
    if opt.get("signin"):
        limit_key, limit = f"signin:{client_ip(scope)}", auth.signin_rate_per_minute
    else:
        who = caller.principal.email.lower() if caller.principal.authenticated else client_ip(scope)
        limit_key, limit = f"write:{who}", auth.write_rate_per_minute
    retry = hit(db, limit_key, limit, auth.rate_window_s, kept=kept)
    if retry is None:
        return caller, None
    log.info("rate_limited", key=limit_key.split(":", 1)[0], path=path)
    return caller, TooManyRequestsException("too many requests, try again later", headers={"Retry-After": str(retry)})


def _bad_csrf(caller: Caller, headers: dict[str, str], method: str, opt: Any, form_token: str | None,
              path: str) -> Exception | None:
    # A browser session authenticates by cookie, which a third-party page can make the browser send.
    if method not in UNSAFE or caller.session_id is None or opt.get("csrf_exempt"):
        return None
    given = headers.get("x-csrf-token", "") or form_token or ""
    if caller.csrf_token and given and same_secret(given, caller.csrf_token):
        return None
    log.info("csrf_rejected", path=path)
    return PermissionDeniedError("missing or wrong CSRF token (send the X-CSRF-Token header)", field="X-CSRF-Token")
