"""Shared pieces of the HTTP API: the database session dependency and the page schema."""

from __future__ import annotations

import asyncio
import io
import json
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager, nullcontext
from contextvars import ContextVar
from http import HTTPStatus
from typing import Annotated, Any, Generic, TypeVar
from urllib.parse import parse_qsl

from litestar import Request
from litestar.concurrency import sync_to_thread
from litestar.exceptions import ServiceUnavailableException
from litestar.openapi import ResponseSpec
from litestar.params import Parameter
from litestar.types import Scope
from pydantic import BaseModel
from sqlmodel import Session

from talents.kernel.bulk import read_csv_lines, read_jsonl
from talents.kernel.db import (
    TakesLong,
    ends_at_once,
    ends_with_writes_after_read,
    finish,
    finish_read,
    holds_write_lock,
    new_session,
    reads_at_once,
    trying_at_once,
)
from talents.kernel.errors import DomainError, ValidationFailedError
from talents.kernel.fields import nul_path
from talents.kernel.settings import get_settings

__all__ = [
    "MAX_JSON_DEPTH",
    "Limit",
    "Offset",
    "Page",
    "admitted",
    "as_dicts",
    "documented_as",
    "gate_at_read",
    "close_request_session",
    "guard_input",
    "open_request_session",
    "provide_db_session",
    "read_upload_records",
    "RequestThreads",
    "handler_on_the_loop",
    "size_request_threads",
    "take_gate",
]

T = TypeVar("T")

Limit = Annotated[int, Parameter(ge=1, le=500, description="Items per page")]
Offset = Annotated[int, Parameter(ge=0, le=10_000_000, description="Items to skip")]


class Page(BaseModel, Generic[T]):
    """A page of a list: the items, the total matching count, and where the page starts."""

    data: list[T]
    count: int
    limit: int
    offset: int


def as_dicts(result: Any) -> list[dict[str, Any]]:
    """The rows of a query as plain dicts keyed by column label: what a read answers with, encoded as they are
    (building a model per row, then serialising it, cost more than the query on the usual pages)."""
    keys = list(result.keys())
    return [dict(zip(keys, row, strict=True)) for row in result.all()]


def documented_as(model: type[BaseModel] | Any) -> dict[int, ResponseSpec]:
    """The ``responses`` of a route that answers with plain dicts (:func:`as_dicts`) holding ``model``'s fields
    (or a list of them: ``list[Model]``): the API's schema shows the model, the handler skips building one per
    row."""
    return {HTTPStatus.OK: ResponseSpec(data_container=model, description=HTTPStatus.OK.description)}


# Requests that may write begin their SQLite transaction with the write lock (see talents.kernel.db).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_finisher: ThreadPoolExecutor | None = None


def _finishing_pool() -> ThreadPoolExecutor:
    """Threads that only commit, roll back and close request sessions.

    Handlers run in the server's thread pool, where they may wait on a row lock. The transaction holding
    that lock must not wait for a slot in the same pool to commit, or the waiters starve it for ever.
    One finishing thread per database connection: every open transaction can always finish.
    """
    global _finisher
    if _finisher is None:
        db = get_settings().db
        _finisher = ThreadPoolExecutor(db.database_pool_size + db.database_max_overflow + 1,
                                       thread_name_prefix="db-finish")
    return _finisher


# One gate per event loop (a worker has one; the test client starts a loop per test).
_admission: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()
_at_work: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, int] = weakref.WeakKeyDictionary()  # admitted now


@asynccontextmanager
async def admitted(scope: Scope) -> AsyncIterator[None]:
    """At most as many requests at work as the pool has connections; the others wait here, holding none.

    A request holds its connection from its first query to the end of its handler, and its handler may wait for
    one of the server's threads. Without this gate, a burst of requests took every connection and waited for
    threads, while the threads waited for a connection: nothing moved until the pool's timeout (503s). The
    pool's overflow is left to a request's second session (sign-in) and the in-app scheduler. Routes that never
    touch the database (probes, static files) pass at once.
    """
    opt = getattr(scope.get("route_handler"), "opt", None) or {}
    if opt.get("database") is False:
        yield
        return
    db = get_settings().db
    loop = asyncio.get_running_loop()
    gate = _admission.get(loop)
    if gate is None:
        gate = _admission[loop] = asyncio.Semaphore(db.database_pool_size)
    if not gate.locked():
        await gate.acquire()  # a connection to spare: taken at once, without a timer and a task to wait in
    else:
        try:
            await asyncio.wait_for(gate.acquire(), db.database_lock_timeout_s)
        except TimeoutError:
            raise ServiceUnavailableException("the server is busy (every database connection is in use), try "
                                              "again", headers={"Retry-After": "2"}) from None
    _at_work[loop] = _at_work.get(loop, 0) + 1
    try:
        yield
    finally:
        _at_work[loop] -= 1
        gate.release()


def _alone_at_work() -> bool:
    """This request is the only one of its event loop at work (admitted by :func:`admitted`)."""
    return _at_work.get(asyncio.get_running_loop(), 0) <= 1


R = TypeVar("R")

# Set while a request's handler runs, if its SQLite transaction holds the write lock (see RequestThreads).
_on_the_loop: ContextVar[bool] = ContextVar("talents_handler_on_the_loop", default=False)


class RequestThreads(ThreadPoolExecutor):
    """The threads of the synchronous handlers (Litestar runs them in the event loop's default executor) — but a
    handler whose request's SQLite transaction already holds the write lock runs at once on the event loop
    (:func:`handler_on_the_loop`): nothing it does can wait any more, and its trips to a thread and back, the
    interpreter's lock passed to and fro with the event loop each time, cost the process more than the work."""

    def submit(self, fn: Callable[..., R], /, *args: Any, **kwargs: Any) -> Future[R]:
        if not _on_the_loop.get():
            return super().submit(fn, *args, **kwargs)
        done: Future[R] = Future()
        try:
            done.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - raised in the handler's request, as from a thread
            done.set_exception(exc)
        return done


@contextmanager
def handler_on_the_loop(scope: Scope) -> Iterator[None]:
    """Around the handler: it runs on the event loop if its route allows it (``ON_THE_LOOP`` in
    :mod:`talents.kernel.access`) and the request's session (opened by the auth middleware) holds SQLite's write lock
    (:func:`~talents.kernel.db.holds_write_lock`), else in a thread as usual."""
    session = (scope.get("state") or {}).get(_SESSION_KEY)
    if not _opt(scope).get("on_the_loop") or session is None or not holds_write_lock(session):
        yield
        return
    token = _on_the_loop.set(True)
    try:
        yield
    finally:
        _on_the_loop.reset(token)


async def size_request_threads() -> None:
    """At startup: as many threads for the handlers as requests may be at work (see :func:`admitted`).

    Litestar runs synchronous handlers in the event loop's default executor, which has cpu + 4 threads (6 on two
    cores): fewer than the requests the gate lets in, which then waited for a thread holding a connection.
    """
    db = get_settings().db
    asyncio.get_running_loop().set_default_executor(
        RequestThreads(db.database_pool_size + 2, thread_name_prefix="request"))


# Where the request's session waits between the auth middleware, which opens it, and the handler.
_SESSION_KEY = "talents.db_session"


def _opt(scope: Scope) -> Any:
    return getattr(scope.get("route_handler"), "opt", None) or {}


def _writes(scope: Scope) -> bool:
    # A safe method only reads, unless its route says otherwise (sign-in pages write their flows).
    return str(scope.get("method", "GET")).upper() not in SAFE_METHODS or bool(_opt(scope).get("db_writes"))


def open_request_session(scope: Scope) -> Session:
    """The request's one database session: the auth middleware resolves the caller and applies the route's
    rule with it, then :func:`provide_db_session` hands the same session (one transaction) to the handler.
    A handler that reads through :func:`read_now` gets an ``autocommit`` session: it writes nothing but its
    access-log lines and "last used" times."""
    if _opt(scope).get("gate_at_read"):
        session = new_session(autocommit=True, held=True)
    else:
        session = new_session(read_only=not _writes(scope), held=True)
    scope.setdefault("state", {})[_SESSION_KEY] = session
    return session


async def _finish(session: Session, commit: bool) -> None:
    if ends_at_once(session):  # no trip to a thread for what cannot wait
        finish(session, commit)
        return
    if commit and holds_write_lock(session):
        # A SQLite write that holds the lock commits without waiting (only a commit the disk refuses would wait,
        # for the writes kept for a rollback). Committed here, it hands the lock on at once: the next edit finds
        # it free and begins on the event loop too.
        finish(session, commit)
        return
    if commit and ends_with_writes_after_read(session):  # a SQLite read and its access-log line, say
        # alone, its writes have nobody to be committed with: at once if they can (others' go together)
        await finish_read(session, _finishing_pool(), at_once=_alone_at_work())
        return
    # Not cancellable half-way: a client that goes away does not leave the transaction open.
    await asyncio.shield(asyncio.get_running_loop().run_in_executor(_finishing_pool(), finish, session, commit))


async def close_request_session(scope: Scope, commit: bool) -> None:
    """Finish the request's session if no handler took it (a route without database work, a refusal)."""
    session = (scope.get("state") or {}).pop(_SESSION_KEY, None)
    if session is not None:
        await _finish(session, commit)


async def provide_db_session(request: Request) -> AsyncGenerator[Session, None]:
    """The request's session (opened by the auth middleware, else here), committed when the handler succeeds
    (then its :func:`~talents.kernel.db.after_commit` writes run), rolled back otherwise."""
    session = request.scope.get("state", {}).pop(_SESSION_KEY, None)
    if session is None:
        session = new_session(read_only=not _writes(request.scope))
    commit = False
    try:
        yield session
        commit = True
    finally:
        await _finish(session, commit)


# The caller's gate that the auth middleware left for the handler's read to run (in the session's info).
_GATE = "talents.gate"


def gate_at_read(session: Session, gate: Callable[[], None]) -> None:
    """Leave ``gate`` (who calls, and the route's rule) to :func:`read_now`, which runs it before the read in the
    same trip to a thread; :func:`take_gate` gets it back if the handler answered without reading."""
    session.info[_GATE] = gate


def take_gate(session: Session) -> Callable[[], None] | None:
    """The gate still waiting to run on ``session`` (None once run)."""
    gate: Callable[[], None] | None = session.info.pop(_GATE, None)
    return gate


async def read_now(request: Request, read: Callable[[Session], R], *, may_take_long: bool = False) -> R:
    """The whole database work of a handler that only reads: ``read`` on the request's session, whose
    transaction ends with it (committed with its :func:`~talents.kernel.db.after_commit` writes, or rolled back
    when ``read`` raises) before the handler answers.

    The handler takes no ``db_session`` (resolving the dependency and ending it cost more than the read on the
    usual pages). ``read`` runs at once on the event loop when it cannot wait (a SQLite read: the trip to a thread
    cost more than the read itself), else in a thread which first runs the gate the auth middleware left
    (:func:`gate_at_read`), then the read, then ends the transaction: one trip, not three. A read that
    ``may_take_long`` (a ranking) is tried on the event loop only in :func:`~talents.kernel.db.trying_at_once`:
    a ranking kept from an earlier request is answered there, and one to be ranked afresh raises
    :class:`~talents.kernel.db.TakesLong` and goes to a thread: the event loop never waits for it."""
    session = (request.scope.get("state") or {}).pop(_SESSION_KEY, None) or new_session(autocommit=True, held=True)
    gate = take_gate(session)
    if gate is None and reads_at_once(session):
        try:
            with trying_at_once(session) if may_take_long else nullcontext():
                result = read(session)
        except TakesLong:
            pass  # it has long work to do: done again in a thread, below
        except BaseException:
            await _finish(session, commit=False)
            raise
        else:
            await _finish(session, commit=True)
            return result
    return await sync_to_thread(_read_and_finish, session, gate, read)


def _read_and_finish(session: Session, gate: Callable[[], None] | None, read: Callable[[Session], R]) -> R:
    ok = False
    try:
        if gate is not None:
            gate()  # refuses by raising: nothing is read
        result = read(session)
        ok = True
    finally:
        finish(session, commit=ok)
    return result


async def read_upload_records(request: Request) -> tuple[list[tuple[int, Any, str | None]], bool]:
    """The lines of an uploaded document: CSV when the content type says so, JSON Lines otherwise."""
    raw = await request.body()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationFailedError("body: the document must be UTF-8 text", field="body") from exc
    is_csv = "csv" in (request.headers.get("content-type") or "")
    stream = io.StringIO(text, newline="")
    records = list(read_csv_lines(stream) if is_csv else read_jsonl(stream))
    return records, is_csv


MAX_JSON_DEPTH = 32
"""No document of the API nests deeper; a deeper body is refused before anything parses it again."""

_NUL = "NUL characters (\\u0000) are not allowed"


def _refuse_nul(name: str) -> None:
    name = name.replace("\x00", "") or "body"
    raise DomainError(f"{name}: {_NUL}", field=name)


def _depth(doc: Any) -> int:
    deepest, stack = 0, [(doc, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values() if isinstance(v, (dict, list)))
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item if isinstance(v, (dict, list)))
    return deepest


async def guard_input(request: Request) -> None:
    """Refuse (400, naming the field) what no handler should meet: a NUL character in the path, the query,
    a JSON or form body, and JSON nested deeper than :data:`MAX_JSON_DEPTH` (the parser would give up with a
    recursion error). Imports check the same line by line (:mod:`talents.kernel.bulk`)."""
    scope = request.scope
    if "\x00" in scope["path"]:
        _refuse_nul("path")
    raw_query = scope.get("query_string", b"")
    if b"%00" in raw_query or b"\x00" in raw_query:  # (a NUL comes encoded: parse the query only then)
        for key, value in request.query_params.multi_items():
            if "\x00" in key or "\x00" in str(value):
                _refuse_nul(key)
    content_type = next((v for k, v in scope["headers"] if k == b"content-type"), None)
    if content_type is None:  # no body to look into (most requests: the reads)
        return
    media = content_type.decode("latin-1").split(";")[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        raw = await request.body()
        if not raw:
            return
        try:
            doc = json.loads(raw)
        except RecursionError as exc:
            raise DomainError(f"body: JSON nested deeper than {MAX_JSON_DEPTH} levels", field="body") from exc
        except ValueError:
            return  # not JSON: the framework's own parsing says so
        if _depth(doc) > MAX_JSON_DEPTH:
            raise DomainError(f"body: JSON nested deeper than {MAX_JSON_DEPTH} levels", field="body")
        where = nul_path(doc)
        if where is not None:
            _refuse_nul(where)
    elif media == "application/x-www-form-urlencoded":
        raw = await request.body()
        for key, value in parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True):
            if "\x00" in key or "\x00" in value:
                _refuse_nul(key)
