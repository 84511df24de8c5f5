"""Database engine, sessions and migrations (SQLite file in WAL mode, or PostgreSQL via psycopg 3)."""

from __future__ import annotations

import asyncio
import select
import sqlite3
import threading
import warnings
import weakref
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from talents.kernel.logs import get_logger
from talents.kernel.settings import get_settings

if TYPE_CHECKING:
    from sqlmodel import Session

__all__ = [
    "HEAD_REVISION",
    "TakesLong",
    "UTCDateTime",
    "after_commit",
    "as_utc",
    "begin_write_at_once",
    "holds_write_lock",
    "read_connection",
    "tried_at_once",
    "trying_at_once",
    "alembic_config",
    "at_head",
    "current_revision",
    "database_error_reason",
    "dispose_engines",
    "get_engine",
    "head_revision",
    "is_postgres",
    "migrate",
    "finish",
    "finish_read",
    "ends_at_once",
    "ends_with_writes_after_read",
    "reads_at_once",
    "bound_engine",
    "new_session",
    "on_rollback",
    "session_scope",
    "utcnow",
]

# The case-insensitive e-mail index is an expression index, which SQLAlchemy's reflection skips with a
# warning whenever a table's indexes are read; the migrations, not reflection, own it.
warnings.filterwarnings("ignore", message="Skipped unsupported reflection of expression-based index")

_log = get_logger("talents.db")
_engines: dict[str, Engine] = {}
_lock = threading.Lock()
_ALEMBIC_DIR = Path(__file__).resolve().parents[2] / "alembic"


class UTCDateTime(sa.TypeDecorator[datetime]):
    """The column type of every timestamp: stored with its time zone where the database keeps one, and
    always read back as an aware UTC datetime (SQLite hands back naive ones). Naive values are taken as UTC."""

    impl = sa.DateTime
    cache_ok = True

    def __init__(self) -> None:
        super().__init__(timezone=True)

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return None if value is None else as_utc(value)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


def as_utc(value: datetime) -> datetime:
    """``value`` as an aware UTC datetime; a naive one is taken as UTC (what SQLite gives back)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    """Timezone-aware now, the only clock the models use."""
    return datetime.now(UTC)


def _normalise_url(url: str) -> str:
    # psycopg 3 is the PostgreSQL driver; accept the short "postgresql://" form people paste.
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def refresh_statistics(engine: Engine, tables: Iterable[str]) -> None:
    """After a bulk load on PostgreSQL, the planner's statistics of the tables it filled: until autovacuum comes
    round (late, or never where it is off) the planner guesses from empty tables, and a lookup by a unique key
    may turn into a scan of every agent. SQLite's planner goes by its indexes and needs none."""
    if not is_postgres(engine):
        return
    with engine.begin() as conn:
        for table in tables:
            conn.execute(sa.text(f'ANALYZE "{table}"'))  # nosec B608 - table names of the project's own models


# The execution option that marks a session's transactions as reads (SQLite: a deferred BEGIN).
_READ_ONLY = "talents_read_only"


# Marks, in a connection's ``info``, that it holds its process's write turn (see :func:`_configure_sqlite`).
_WRITE_TURN = "talents_write_turn"
# Each SQLite engine's write turn.
write_turns: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
# Set by :func:`begin_write_at_once`: the write transaction begins only if that waits for nothing.
_begins_at_once: ContextVar[bool] = ContextVar("talents_begins_at_once", default=False)


class WouldWait(Exception):  # noqa: N818 - a signal, not an error
    """A write transaction begun by :func:`begin_write_at_once` would have waited for the write lock."""


def _configure_sqlite(engine: Engine, busy_ms: int) -> None:
    # One write transaction at a time per process, queued on a lock of ours. SQLite lets one writer in and
    # makes the others sleep and retry (its busy handler: 1, 2, 5 … up to 100 ms a sleep, whenever the lock
    # frees), so concurrent edits waited up to seconds for a lock free most of the time. Waiting here wakes the
    # next writer as the last one ends. Writers of other processes still meet SQLite's busy handler.
    write_turn = write_turns[engine] = threading.Lock()

    def _end_turn(conn: Any) -> None:
        # A dropped connection gave the turn back as it was dropped (and has no ``info`` left to read).
        if not conn.invalidated and conn.info.pop(_WRITE_TURN, False):
            write_turn.release()

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # WAL lets readers run beside one writer; foreign keys are off by default in SQLite.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={busy_ms}")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # BEGIN IMMEDIATE takes the write lock up front: two writers never both read-then-write
        # stale data (the 100 % rule depends on it), and no deadlock-on-upgrade errors. Sessions that
        # only read begin deferred, so that readers never queue behind the one write lock.
        # Straight to the driver: every request begins a transaction, SQLAlchemy's execution steps cost more.
        if conn.get_execution_options().get(_READ_ONLY):
            conn.connection.driver_connection.execute("BEGIN")
            return
        driver = conn.connection.driver_connection
        if _begins_at_once.get():
            _begin_immediate_at_once(conn, driver)
            return
        # Past the busy timeout, on to SQLite's own waiting (and its "database is locked"), as without the turn.
        if not conn.info.get(_WRITE_TURN) and write_turn.acquire(timeout=busy_ms / 1000):
            conn.info[_WRITE_TURN] = True
        try:
            driver.execute("BEGIN IMMEDIATE")
        except BaseException:
            _end_turn(conn)
            raise

    def _begin_immediate_at_once(conn: Any, driver: sqlite3.Connection) -> None:
        if not conn.info.get(_WRITE_TURN):
            if not write_turn.acquire(blocking=False):
                raise WouldWait
            conn.info[_WRITE_TURN] = True
        driver.execute("PRAGMA busy_timeout=0")  # another process's writer: refused at once, not waited for
        try:
            driver.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            _end_turn(conn)
            raise WouldWait from exc
        except BaseException:
            _end_turn(conn)
            raise
        finally:
            driver.execute(f"PRAGMA busy_timeout={busy_ms}")

    # The turn passes on as the transaction ends (the next writer's BEGIN IMMEDIATE may meet the end of this
    # COMMIT: a millisecond's wait at most), or as its connection goes back to the pool or is dropped.
    event.listen(engine, "commit", _end_turn)
    event.listen(engine, "rollback", _end_turn)

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
        if record is not None and record.info.pop(_WRITE_TURN, False):
            write_turn.release()

    @event.listens_for(engine, "invalidate")
    def _on_invalidate(_dbapi_conn: Any, record: Any, _exc: Any) -> None:
        _on_checkin(_dbapi_conn, record)


def _postgres_options() -> str:
    # A wait on a row lock, a runaway statement or a transaction left open end with an error (a 503)
    # instead of holding locks and connections for ever.
    db = get_settings().db
    timeouts = {
        "lock_timeout": db.database_lock_timeout_s,
        "statement_timeout": db.database_statement_timeout_s,
        "idle_in_transaction_session_timeout": db.database_idle_in_transaction_timeout_s,
    }
    return " ".join(f"-c {name}={int(seconds * 1000)}" for name, seconds in timeouts.items())


def _refuse_dead_connection(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
    """At checkout, hand over no connection the server has closed: the pool replaces it with a new one.

    A pooled connection waits idle, so the server has nothing to tell it: if its socket has something to read,
    the server said goodbye (``pg_terminate_backend``, a restart) or the socket is closed. Asking the socket
    costs a system call, where a "pre-ping" costs a round trip to the server on every checkout. A connection
    cut while in use fails its request (a 503) and makes the pool drop every connection opened before it."""
    try:
        gone = dbapi_conn.closed or bool(select.select([dbapi_conn.fileno()], [], [], 0)[0])
    except (OSError, ValueError):  # no socket any more
        gone = True
    if gone:
        raise sa.exc.DisconnectionError("the server closed the connection")


def get_engine(url: str | None = None) -> Engine:
    """One engine per URL for the process."""
    given = url or get_settings().db.database_url
    engine = _engines.get(given)  # every request asks: the usual answer without the lock
    if engine is not None:
        return engine
    url = _normalise_url(given)
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            parsed = make_url(url)
            db = get_settings().db
            kwargs: dict[str, Any] = {"echo": db.database_echo}
            sqlite = parsed.get_backend_name() == "sqlite"
            if sqlite:
                kwargs["connect_args"] = {"check_same_thread": False, "timeout": db.database_lock_timeout_s}
            else:
                # A host that takes the connection and never answers must not hold a request for ever either
                # (libpq counts whole seconds, 2 at least).
                kwargs["connect_args"] = {"options": _postgres_options(),
                                          "connect_timeout": max(2, round(db.database_lock_timeout_s))}
            if not sqlite or parsed.database not in (None, "", ":memory:"):
                kwargs.update(pool_size=db.database_pool_size, max_overflow=db.database_max_overflow,
                              pool_timeout=db.database_lock_timeout_s)
            engine = create_engine(url, **kwargs)
            if sqlite:
                _configure_sqlite(engine, int(db.database_lock_timeout_s * 1000))
            else:
                event.listen(engine, "checkout", _refuse_dead_connection)
            _engines[url] = engine
        _engines[given] = engine  # (also under the URL as given: "postgresql://" is normalised)
        return engine


def dispose_engines() -> None:
    with _lock:
        for held in _held_readers.values():
            held.close()
        _held_readers.clear()
        for group in _group_commits.values():
            group.close()
        for engine in set(_engines.values()):
            engine.dispose()
        _engines.clear()
        _readers.clear()
        _group_commits.clear()
        _loop_group_commits.clear()


# Keys of ``Session.info``: the engine to write with, the writes that follow the commit, those that replace a rollback.
_WRITER = "talents_writer"
_AFTER_COMMIT = "talents_after_commit"
_ON_ROLLBACK = "talents_on_rollback"

# Each engine's twins whose transactions are reads, without and with autocommit (built once: every request's session
# asks for one).
_readers: dict[tuple[Engine, bool], Engine] = {}


def _reader(engine: Engine, autocommit: bool = False) -> Engine:
    reader = _readers.get((engine, autocommit))
    if reader is None:
        options: dict[str, Any] = {_READ_ONLY: True}
        if autocommit and engine.dialect.name != "sqlite":  # (SQLite's BEGIN and COMMIT cost no round trip)
            options["isolation_level"] = "AUTOCOMMIT"
        reader = _readers[(engine, autocommit)] = engine.execution_options(**options)
    return reader


# The key of ``Session.info`` that holds a session's lent connection (see :class:`_HeldReaders`).
_HELD = "talents_held_reader"


class _HeldReaders:
    """SQLite connections kept out of the pool for the reads of requests, each lent whole to one session at a time.

    A request's read session took a connection from the pool and gave it back (the pool's checkout, check-in and
    reset, and a new connection object): on SQLite that cost more than the reads of a simple page. A few
    connections are kept out instead and lent whole; when none is free (more requests at work at once than held),
    sessions take theirs from the pool as before. Only while the pool has one to spare is a connection taken out:
    the event loop, which lends them, never waits for one. (On PostgreSQL a request's reads run in a thread, and a
    connection taken out on the event loop could mean connecting to a server that does not answer: not there.)"""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        # list.append and list.pop are atomic: lent on the event loop, given back from threads too
        self._free: list[sa.Connection] = []
        self._limit = max(1, min(4, engine.pool.size() // 2)) if isinstance(engine.pool, sa.pool.QueuePool) else 0
        self._held = 0

    def lend(self) -> sa.Connection | None:
        try:
            return self._free.pop()
        except IndexError:
            pass
        pool = self._engine.pool
        if self._held >= self._limit or pool.checkedout() >= pool.size():  # type: ignore[attr-defined]
            return None
        self._held += 1
        return _reader(self._engine).connect()

    def give_back(self, conn: sa.Connection) -> None:
        if conn.invalidated or conn.closed or conn.in_transaction():  # not fit to lend again: closed, to the pool
            self._held -= 1
            conn.close()
        else:
            self._free.append(conn)

    def close(self) -> None:
        while self._free:
            self._free.pop().close()


_held_readers: dict[Engine, _HeldReaders] = {}


def _held_reader(engine: Engine) -> _HeldReaders:
    held = _held_readers.get(engine)
    if held is None:
        held = _held_readers[engine] = _HeldReaders(engine)
    return held


def _give_back_held(session: Session) -> None:
    lent = session.info.pop(_HELD, None)
    if lent is not None:
        held, conn = lent
        held.give_back(conn)


def new_session(engine: Engine | None = None, *, read_only: bool = False, autocommit: bool = False,
                held: bool = False) -> Session:
    """A session on ``engine``; ``read_only`` lets SQLite begin its transactions deferred (reads never wait
    for the write lock). A read-only session may still write, but on SQLite a write after a read fails
    if another writer committed in between: use it where the reads decide no write, and put the writes that
    merely follow the reads (an access log, a "last used" time) in :func:`after_commit`.

    ``autocommit`` (read-only too) is for a session that writes nothing but its :func:`after_commit` writes: on
    PostgreSQL each statement is then a transaction of its own, which saves the round trips of BEGIN and COMMIT
    and gives up nothing a read needs (under READ COMMITTED every statement reads its own snapshot anyway).

    ``held`` (a request's read): on SQLite the session reads on a connection kept out of the pool
    (:class:`_HeldReaders`), given back by :func:`finish`; it must end there."""
    # imported here: sqlmodel brings pydantic and the ORM, which a read on a plain connection
    # (read_connection: a repeat `talents match`) does without
    from sqlmodel import Session

    engine = engine or get_engine()
    read_only = read_only or autocommit
    conn = _held_reader(engine).lend() if held and read_only and engine.dialect.name == "sqlite" else None
    bind = conn if conn is not None else _reader(engine, autocommit) if read_only else engine
    session = Session(bind, expire_on_commit=False)
    session.info[_WRITER] = engine
    session.info[_READ_ONLY] = read_only
    if conn is not None:
        session.info[_HELD] = (_held_reader(engine), conn)
    return session


def bound_engine(session: Session) -> Engine:
    """The engine ``session`` reads with (the engine of its held connection, if it has one)."""
    bind = session.get_bind()
    return bind.engine if isinstance(bind, sa.Connection) else bind


def after_commit(session: Session, work: Callable[[sa.Connection], Any]) -> None:
    """Have ``work`` (a write that follows a read without changing what it answers: the access log of the profiles
    a request showed, a token's "last used" time) written with ``session``'s commit, never if it rolls back.

    On PostgreSQL, and in a SQLite session that writes (its transaction holds the write lock from its first
    statement), it runs in the session's own transaction, just before the commit: no transaction of its own (in
    an ``autocommit`` session each of its statements commits on its own, without a BEGIN or a COMMIT sent).
    In a SQLite read it runs once the session has committed, in a short transaction that begins with the write lock and
    reads nothing before it writes, together with the same writes of the requests finishing at the same time
    (:class:`_GroupCommit`): the request's transaction stays a read, never takes the write lock, and never fails
    because another writer committed since it began (a read turned write cannot wait for the lock: SQLite
    refuses it at once). Either way the work is durable before :func:`finish` returns, so before a response is
    sent: when it fails, the request fails."""
    session.info.setdefault(_AFTER_COMMIT, []).append(work)


def on_rollback(session: Session, work: Callable[[sa.Connection], Any]) -> None:
    """Have ``work`` (a write the session made and that must stay written whatever becomes of the rest: a refused
    request's hit on its rate limit) written again in a short transaction of its own when the session's transaction
    does not commit (rolled back, or its commit failed); dropped when it commits, as it is written then."""
    session.info.setdefault(_ON_ROLLBACK, []).append(work)


def reads_at_once(session: Session) -> bool:
    """The session reads a SQLite file without the write lock: its queries never wait (in WAL mode a reader
    waits for no writer, and there is no server to answer), so they may run without a trip to a thread —
    while the pool has a connection to spare: the event loop must never wait for one."""
    if not session.info.get(_READ_ONLY) or session.info[_WRITER].dialect.name != "sqlite":
        return False
    if session.in_transaction() or _HELD in session.info:
        return True
    pool = session.info[_WRITER].pool
    return isinstance(pool, sa.pool.QueuePool) and pool.checkedout() < pool.size()


def begin_write_at_once(session: Session) -> bool:
    """Begin ``session``'s SQLite write transaction on the calling thread (the event loop) if that waits for
    nothing: the process's write turn and SQLite's lock both free, and a connection to spare in the pool;
    ``False``, with the session closed and nothing begun, otherwise (then begin it in a thread, where it may wait).

    Once begun, nothing the transaction does can wait (it holds the one write lock, and in WAL mode no reader
    holds a writer back): its request may do its whole work on the event loop (see
    :class:`talents.kernel.api.RequestThreads`), where a trip to a thread and back cost about as much as a
    profile edit's own work."""
    engine: Engine = session.info[_WRITER]
    if session.info.get(_READ_ONLY) or engine.dialect.name != "sqlite" or session.in_transaction():
        return False
    pool = engine.pool
    if not isinstance(pool, sa.pool.QueuePool) or pool.checkedout() >= pool.size():
        return False
    if write_turns[engine].locked():  # the usual refusal, told without a connection spoilt by a refused begin
        return False
    token = _begins_at_once.set(True)
    try:
        session.connection()
        return True
    except (WouldWait, sa.exc.OperationalError):
        session.invalidate()  # (a begin refused in a listener leaves its connection unfit)
        return False
    finally:
        _begins_at_once.reset(token)


def holds_write_lock(session: Session) -> bool:
    """``session`` is a SQLite transaction that holds the write lock: nothing it does can wait any more."""
    return (not session.info.get(_READ_ONLY) and session.info[_WRITER].dialect.name == "sqlite"
            and session.in_transaction())


class TakesLong(Exception):  # noqa: N818 - a signal, not an error
    """Raised by a read tried first on the event loop (:func:`talents.kernel.api.read_now`) when it meets work
    that would keep the loop waiting (ranking a role afresh, bringing the ranking index up to date), before it
    has written or left anything to write: it is then done again, whole, in a thread."""


_TRYING_AT_ONCE = "talents.trying_at_once"


@contextmanager
def trying_at_once(session: Session) -> Iterator[None]:
    """While ``session``'s read is tried on the event loop: long work raises :class:`TakesLong` instead."""
    session.info[_TRYING_AT_ONCE] = True
    try:
        yield
    finally:
        session.info.pop(_TRYING_AT_ONCE, None)


def tried_at_once(session: Any) -> bool:
    """``session`` (or a plain connection) is in :func:`trying_at_once`."""
    info = getattr(session, "info", None)
    return bool(info.get(_TRYING_AT_ONCE)) if isinstance(info, dict) else False


def ends_at_once(session: Session) -> bool:
    """:func:`finish` cannot wait: nothing begun, or a SQLite read with nothing to write after it (ending it
    only lets go of a snapshot of the file; it never waits for a lock, and there is no server to answer)."""
    if _nothing_to_end(session):
        return True
    if session.info.get(_AFTER_COMMIT) or session.info.get(_ON_ROLLBACK) or session.new or session.dirty or \
            session.deleted:
        return False
    return not session.in_transaction() or (bool(session.info.get(_READ_ONLY))
                                            and session.info[_WRITER].dialect.name == "sqlite")


def _nothing_to_end(session: Session) -> bool:
    # No transaction, no object held (so none changed): a session whose read already ended, say.
    return not session.in_transaction() and not session.identity_map and not session.info.get(_AFTER_COMMIT)


def finish(session: Session, commit: bool) -> None:
    """End the session's unit of work: commit with its :func:`after_commit` writes, or roll back (then write its
    :func:`on_rollback` writes apart); close."""
    if _nothing_to_end(session):
        _give_back_held(session)
        return
    pending: list[Callable[[sa.Connection], Any]] = session.info.pop(_AFTER_COMMIT, [])
    undone: list[Callable[[sa.Connection], Any]] = session.info.pop(_ON_ROLLBACK, [])
    writer = session.info.get(_WRITER) or session.get_bind()
    committed = False
    try:
        if commit:
            if pending and (writer.dialect.name != "sqlite" or not session.info.get(_READ_ONLY)):
                conn = session.connection()
                for work in pending:
                    work(conn)
                pending = []
            if session.in_transaction() or session.dirty:
                session.commit()  # (nothing begun and nothing to write: committing would begin a transaction first)
            committed = True
        else:
            pending = []
            _rollback(session)
    finally:
        session.close()
        _give_back_held(session)
        if undone and not committed:
            _write_apart(writer, undone)
    if pending:
        _group_commit(writer).write(pending)


def _rollback(session: Session | sa.Connection) -> None:
    try:
        session.rollback()
    except sa.exc.DBAPIError as exc:
        # The connection died with its transaction: the server has nothing left to undo, and the
        # error that brought us here (already on its way to the client) must not be masked by this one.
        if not exc.connection_invalidated:
            raise


def _write_apart(engine: Engine, works: list[Callable[[sa.Connection], Any]]) -> None:
    """The :func:`on_rollback` writes, in a transaction of their own; a failure is logged, never raised: it must
    not mask the error (or the refusal) that rolled the request back."""
    try:
        with engine.begin() as conn:
            for work in works:
                work(conn)
    except Exception:  # noqa: BLE001 - see above
        _log.warning("write_after_rollback_failed", exc_info=True)


CHECKPOINT_EVERY = 32
"""One write in this many is committed in a thread (:meth:`_GroupCommit.write_at_once`), where the commit may
checkpoint the write-ahead log (about 5 pages a write: the log checkpointed every few hundred writes)."""


class _GroupCommit:
    """The :func:`after_commit` writes of one SQLite database, committed together.

    Writers of a SQLite file take turns on its one lock, and a writer refused the lock sleeps and retries
    (SQLite's busy handler), however soon the lock is free: one transaction per read line made concurrent reads
    fall. Here the writers of the process queue on a lock of ours instead, and whoever gets it commits every
    write queued so far in one transaction; the others find theirs written once the lock is theirs. Nobody
    returns before their own writes are committed (or failed: then their request fails)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._turn = threading.Lock()  # one committing thread at a time
        self._queue_lock = threading.Lock()
        self._queue: list[_Writes] = []
        self._at_once = 0  # writes asked of write_at_once, modulo CHECKPOINT_EVERY
        self._at_once_conn: sa.Connection | None = None  # write_at_once's, used by whoever holds the write turn

    def write(self, works: list[Callable[[sa.Connection], Any]]) -> None:
        mine = _Writes(works)
        self.write_all([mine])
        if mine.error is not None:
            raise mine.error

    def write_all(self, batch: list[_Writes]) -> None:
        """Commit ``batch`` (queued at once: committed together), each with its error if it failed."""
        with self._queue_lock:
            self._queue.extend(batch)
        with self._turn:
            if not batch[0].done:  # nobody committed ours while we waited: commit everything queued
                with self._queue_lock:
                    queued, self._queue = self._queue, []
                self._commit(queued)

    def _commit(self, batch: list[_Writes]) -> None:
        try:
            self._transaction(batch)
        except Exception as exc:  # noqa: BLE001 - handed to each writer of the batch, raised in its request
            # One bad write (a line for a profile erased meanwhile) must not fail its neighbours: each alone,
            # unless the database itself refused to wait (then it would refuse each of them again).
            if len(batch) == 1 or database_error_reason(exc) is not None:
                for writes in batch:
                    writes.error = exc
            else:
                for writes in batch:
                    try:
                        self._transaction([writes])
                    except Exception as alone:  # noqa: BLE001 - raised in its own request
                        writes.error = alone
        for writes in batch:
            writes.done = True

    def _transaction(self, batch: list[_Writes]) -> None:
        with self.engine.begin() as conn:
            for writes in batch:
                for work in writes.works:
                    work(conn)

    def write_at_once(self, works: list[Callable[[sa.Connection], Any]]) -> bool:
        """Commit ``works`` on the calling thread (the event loop) if that waits for nothing: the process's write
        turn and SQLite's lock both free; ``False``, nothing written, otherwise (then :meth:`write` them). A write
        fails as :meth:`write` fails.

        The trip to a thread and back cost the event loop about as much as the write itself (a profile read's
        access-log line). Nothing here can wait: the turn is tried, not waited for; the connection, kept for this
        (used only by whoever holds the turn), asks SQLite for its lock with no busy timeout and its commits
        checkpoint nothing (a checkpoint copies the log into the file and syncs it): one write in
        :data:`CHECKPOINT_EVERY` is left to :meth:`write`, in a thread, whose commit checkpoints once the log has
        grown past SQLite's threshold."""
        turn = write_turns.get(self.engine)
        self._at_once = (self._at_once + 1) % CHECKPOINT_EVERY
        if turn is None or not self._at_once or not turn.acquire(blocking=False):
            return False
        conn = self._at_once_conn
        try:
            if conn is None or conn.invalidated or conn.closed:
                self._drop_at_once()
                pool = self.engine.pool
                if not isinstance(pool, sa.pool.QueuePool) or pool.checkedout() >= pool.size():
                    turn.release()  # no connection to spare: the event loop does not wait for one
                    return False
                conn = self._at_once_conn = self._connect_at_once()
            conn.info[_WRITE_TURN] = True  # held: the begin takes no turn, the commit or rollback gives it back
        except BaseException:
            turn.release()
            raise
        try:
            conn.begin()
        except (sa.exc.OperationalError, sqlite3.OperationalError):  # locked: the turn went back as it failed
            self._drop_at_once()  # (a begin refused in a listener leaves its connection object unfit)
            return False  # written by write(), which waits, or fails there with its reason
        try:
            for work in works:
                work(conn)
            conn.commit()
        except BaseException:
            _rollback(conn)
            raise
        return True

    def _connect_at_once(self) -> sa.Connection:
        conn = self.engine.connect()
        driver = conn.connection.driver_connection
        driver.execute("PRAGMA busy_timeout=0")
        driver.execute("PRAGMA wal_autocheckpoint=0")
        return conn

    def _drop_at_once(self) -> None:
        # never back to the pool: its connection would keep the settings above
        conn, self._at_once_conn = self._at_once_conn, None
        if conn is not None and not conn.closed:
            conn.invalidate()
            conn.close()

    def close(self) -> None:
        self._drop_at_once()


@dataclass
class _Writes:
    works: list[Callable[[sa.Connection], Any]]
    done: bool = False
    error: Exception | None = None


class _LoopGroupCommit:
    """The :func:`after_commit` writes of the SQLite reads an event loop ends itself (:func:`finish_read`).

    Waiting for the lock of :class:`_GroupCommit` cost each read a thread of its own, and the threads woken one
    after the other fought the event loop for the interpreter: the agent read fell from 1 to 4 connections. Here
    the reads queue their writes on the loop, and every write queued by the end of the loop's turn is committed in
    one transaction (through :class:`_GroupCommit`, so that the process's other writers still take turns with
    it): on the loop itself when that waits for nothing, else by one trip to a thread; the writes queued meanwhile
    go in the next batch, which starts as this one ends. Each read waits until its batch is committed."""

    def __init__(self, group: _GroupCommit, loop: asyncio.AbstractEventLoop, executor: Executor) -> None:
        self.group, self.loop, self.executor = group, loop, executor
        self._next: list[_Writes] = []
        self._next_done: asyncio.Future[None] | None = None
        self._busy = False

    async def write(self, works: list[Callable[[sa.Connection], Any]], *, now: bool = False) -> None:
        """Commit ``works`` with the batch being formed; ``now``: start it at once (a request alone at work has
        nobody to wait for)."""
        mine = _Writes(works)
        if self._next_done is None:
            self._next_done = self.loop.create_future()
        done = self._next_done
        self._next.append(mine)
        if not self._busy:
            self._busy = True
            if now:
                self._start()
            else:  # after the callbacks already due: the reads that end in this turn of the loop join the batch
                self.loop.call_soon(self._start)
        await asyncio.shield(done)  # (a request that goes away must not cancel its neighbours' wait)
        if mine.error is not None:
            raise mine.error

    def _start(self) -> None:  # (its callers marked the group busy)
        batch, done = self._next, self._next_done
        self._next, self._next_done = [], None
        if self._at_once(batch):
            self._committed(done, None)
            return
        committed = self.loop.run_in_executor(self.executor, self.group.write_all, batch)
        committed.add_done_callback(lambda outcome: self._committed(done, outcome))

    def _at_once(self, batch: list[_Writes]) -> bool:
        """The batch committed here on the loop when that waits for nothing (:meth:`_GroupCommit.write_at_once`):
        the trip to a thread cost more than the commit. A write that fails sends the batch to the thread, which
        commits each of its writes alone and hands each its own error."""
        try:
            written = self.group.write_at_once([work for writes in batch for work in writes.works])
        except Exception:  # noqa: BLE001 - rolled back: written again (or failed, each alone) by the thread
            return False
        for writes in batch:
            writes.done = written
        return written

    def _committed(self, done: asyncio.Future[None] | None, outcome: asyncio.Future[None] | None) -> None:
        self._busy = False
        if self._next:
            self._busy = True
            self.loop.call_soon(self._start)
        if done is None or done.cancelled():
            return
        if outcome is None:  # committed on the loop
            done.set_result(None)
            return
        error = outcome.exception() if not outcome.cancelled() else asyncio.CancelledError()
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(None)


_group_commits: dict[Engine, _GroupCommit] = {}
_loop_group_commits: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Engine, _LoopGroupCommit]] = (
    weakref.WeakKeyDictionary())


def _group_commit(engine: Engine) -> _GroupCommit:
    with _lock:
        group = _group_commits.get(engine)
        if group is None:
            group = _group_commits[engine] = _GroupCommit(engine)
        return group


def _loop_group_commit(engine: Engine, executor: Executor) -> _LoopGroupCommit:
    loop = asyncio.get_running_loop()
    groups = _loop_group_commits.get(loop)
    if groups is None:
        groups = _loop_group_commits[loop] = {}
    group = groups.get(engine)
    if group is None:
        group = groups[engine] = _LoopGroupCommit(_group_commit(engine), loop, executor)
    return group


def ends_with_writes_after_read(session: Session) -> bool:
    """The session is a SQLite read that only its :func:`after_commit` writes keep from ending at once: the event
    loop may end it with :func:`finish_read`."""
    return (bool(session.info.get(_AFTER_COMMIT)) and bool(session.info.get(_READ_ONLY))
            and session.info[_WRITER].dialect.name == "sqlite" and not session.info.get(_ON_ROLLBACK)
            and not (session.new or session.dirty or session.deleted))


async def finish_read(session: Session, executor: Executor, *, at_once: bool = True) -> None:
    """Commit a SQLite read (:func:`ends_with_writes_after_read`) on the event loop, where ending it never waits,
    then commit its :func:`after_commit` writes together with those of the reads ending in the same turn of the
    loop (:class:`_LoopGroupCommit`): on the loop when nothing has to wait for that
    (:meth:`_GroupCommit.write_at_once`), else by one trip to ``executor`` per batch. ``at_once``: the batch
    starts now, without waiting for the turn to end (a request alone at work). (Under load, one commit for many
    requests' writes costs less than a commit each, and grows the log, which is then checkpointed, less.)"""
    pending: list[Callable[[sa.Connection], Any]] = session.info.pop(_AFTER_COMMIT)
    writer = session.info[_WRITER]
    try:
        if session.in_transaction():
            session.commit()
    finally:
        session.close()
        _give_back_held(session)
    await _loop_group_commit(writer, executor).write(pending, now=at_once)


def database_error_reason(exc: BaseException) -> str | None:
    """Why the database refused to wait any longer, in a phrase for the client; None for other errors."""
    if isinstance(exc, sa.exc.TimeoutError):
        return "no free database connection (the pool is exhausted), try again"
    orig = getattr(exc, "orig", None)
    code = getattr(orig, "sqlstate", None)
    if code == "55P03":
        return "the data is locked by another change (lock timeout), try again"
    if code == "57014":
        return "the database statement took too long (statement timeout), try again"
    # A server gone mid-statement leaves no SQLSTATE; SQLAlchemy still knows the connection is dead.
    if code in ("25P03", "57P01", "57P02", "57P03", "08006", "08003", "08000") or getattr(
        exc, "connection_invalidated", False
    ):
        return "the database connection was lost, try again"
    if "database is locked" in str(orig or ""):
        return "the database is locked by another change (busy timeout), try again"
    return None


@contextmanager
def session_scope(engine: Engine | None = None, *, read_only: bool = False) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error: nothing is half-written."""
    session = new_session(engine, read_only=read_only)
    ok = False
    try:
        yield session
        ok = True
    finally:
        finish(session, commit=ok)


@contextmanager
def read_connection(engine: Engine | None = None) -> Iterator[sa.Connection]:
    """A connection for reads only, without the ORM: its transaction begins deferred on SQLite (it never waits
    for the write lock) and is rolled back at the end."""
    with _reader(engine or get_engine()).connect() as conn:
        yield conn


def alembic_config(url: str | None = None) -> Any:
    # Alembic is imported when used: it logs its plugin set-up on import, which ``--verbose`` must get to show.
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_ALEMBIC_DIR))
    cfg.set_main_option("sqlalchemy.url", _normalise_url(url or get_settings().db.database_url))
    return cfg


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory  # imported when used, as in alembic_config()

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine | None = None) -> str | None:
    from alembic.runtime.migration import MigrationContext  # imported when used, as in alembic_config()

    engine = engine or get_engine()
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


_migrated: set[str] = set()

# The newest revision under alembic/versions, known here so that a command which only reads can check the
# database without importing Alembic (a test keeps it equal to Alembic's head).
HEAD_REVISION = "0008"


def at_head(url: str | None = None) -> bool:
    """Whether the database's ``alembic_version`` row is :data:`HEAD_REVISION` (one query, no Alembic)."""
    engine = get_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
    except sa.exc.DBAPIError:  # no such table yet: a new database
        return False
    return rows == [HEAD_REVISION]


def migrate(url: str | None = None, revision: str = "head") -> None:
    """Create or upgrade the database to ``revision`` (every command calls this)."""
    url = _normalise_url(url or get_settings().db.database_url)
    if revision == "head" and url in _migrated:
        return
    from alembic import command  # imported when used, as in alembic_config()

    _run_alembic(url, lambda cfg: command.upgrade(cfg, revision))
    if revision == "head":
        _migrated.add(url)


def downgrade(url: str | None = None, revision: str = "base") -> None:
    url = _normalise_url(url or get_settings().db.database_url)
    _migrated.discard(url)
    from alembic import command  # imported when used, as in migrate()

    _run_alembic(url, lambda cfg: command.downgrade(cfg, revision))


def _run_alembic(url: str, action: Any) -> None:
    engine = get_engine(url)
    cfg = alembic_config(url)
    with engine.connect() as conn:
        sqlite = engine.dialect.name == "sqlite"
        if sqlite:
            # Batch migrations re-create tables; with foreign keys on, dropping the old table would
            # cascade deletes into child rows. The pragma only works outside a transaction.
            conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=OFF")
        try:
            with conn.begin():
                cfg.attributes["connection"] = conn
                action(cfg)
        finally:
            if sqlite:
                conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=ON")
