"""SQLite write transactions take turns on a lock of the process: one at a time, the turn passed on as each ends —
committed, rolled back, failed to begin, or its connection dropped — so that no writer waits on SQLite's busy
handler behind a lock that is already free, and no turn is ever kept by a transaction that is over."""

from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine, event

from profiles.models import AccessLog
from talents.kernel.db import new_session, session_scope, write_turns

pytestmark = pytest.mark.integration

_LOG = AccessLog.__table__  # type: ignore[attr-defined]


def _line(who: str) -> dict[str, object]:
    return {"viewer_email": who, "viewer_roles": "lead", "agent_id": 1, "action": "view", "path": "/test"}


def test_concurrent_writers_take_turns_and_every_write_commits(sqlite_engine: Engine):
    open_writes, most = [0], [0]
    guard = threading.Lock()

    def began(conn: sa.Connection) -> None:  # after the turn was taken
        if not conn.get_execution_options().get("talents_read_only"):
            with guard:
                open_writes[0] += 1
                most[0] = max(most[0], open_writes[0])

    def ended(conn: sa.Connection) -> None:  # before the turn is passed on
        if not conn.get_execution_options().get("talents_read_only"):
            with guard:
                open_writes[0] -= 1

    event.listen(sqlite_engine, "begin", began)
    event.listen(sqlite_engine, "commit", ended, insert=True)

    def writer(i: int) -> None:
        for j in range(15):
            with session_scope(sqlite_engine) as s:
                s.connection().execute(sa.insert(_LOG), [_line(f"w{i}-{j}")])

    try:
        with ThreadPoolExecutor(6) as pool:
            list(pool.map(writer, range(6)))
    finally:
        event.remove(sqlite_engine, "begin", began)
        event.remove(sqlite_engine, "commit", ended)
    with sqlite_engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(_LOG)).scalar_one() == 90
    assert most[0] == 1, "one write transaction at a time"
    assert not write_turns[sqlite_engine].locked()


def test_the_turn_is_passed_on_by_a_rollback_a_failed_begin_and_a_dropped_connection(sqlite_engine: Engine):
    turn = write_turns[sqlite_engine]
    with pytest.raises(RuntimeError), session_scope(sqlite_engine) as s:
        s.connection().execute(sa.insert(_LOG), [_line("rolled back")])
        assert turn.locked()
        raise RuntimeError("the handler failed")
    assert not turn.locked(), "rolled back"

    reads = new_session(sqlite_engine, read_only=True)
    reads.connection().execute(sa.text("SELECT 1"))
    assert not turn.locked(), "a read takes no turn"
    reads.close()

    conn = sqlite_engine.connect()
    transaction = conn.begin()
    assert turn.locked()
    conn.invalidate()  # the connection is dropped, its transaction with it
    assert not turn.locked(), "dropped"
    transaction.rollback()
    conn.close()

    session = new_session(sqlite_engine)
    session.connection()
    session.close()  # closed without commit: rolled back
    assert not turn.locked(), "closed"

    # A BEGIN IMMEDIATE refused (another process holds the write lock past the busy timeout) passes it on too.
    other = sa.create_engine(sqlite_engine.url, connect_args={"isolation_level": None})
    with other.connect() as held:
        held.exec_driver_sql("BEGIN IMMEDIATE")
        sqlite_engine.dispose()  # new connections, with a short busy timeout
        quick = sa.event.listens_for(sqlite_engine, "connect")(
            lambda dbapi_conn, _record: dbapi_conn.execute("PRAGMA busy_timeout=50"))
        try:
            session = new_session(sqlite_engine)
            with pytest.raises((sa.exc.OperationalError, sqlite3.OperationalError), match="locked"):
                session.connection()
            assert not turn.locked(), "failed to begin"
            session.close()
        finally:
            sa.event.remove(sqlite_engine, "connect", quick)
            sqlite_engine.dispose()
        held.exec_driver_sql("ROLLBACK")
    other.dispose()
    with session_scope(sqlite_engine) as s:
        s.connection().execute(sa.insert(_LOG), [_line("after all that")])
    with sqlite_engine.connect() as conn:
        assert list(conn.execute(sa.select(_LOG.c.viewer_email)).scalars()) == ["after all that"]
