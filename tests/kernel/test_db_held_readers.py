"""A request's read on SQLite runs on a connection kept out of the pool and lent whole to one session at a time:
given back by ``finish`` however the session ended, never lent while another session holds it, never holding a
snapshot older than the session, and never more of them than leaves the pool connections to spare."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from profiles.models import AccessLog
from talents.kernel.db import bound_engine, finish, new_session, session_scope

pytestmark = pytest.mark.integration

_LOG = AccessLog.__table__  # type: ignore[attr-defined]


def _count(session: object) -> int:
    return int(session.connection().execute(sa.select(sa.func.count()).select_from(_LOG)).scalar_one())  # type: ignore[attr-defined]


def _write_line(engine: Engine, who: str) -> None:
    with session_scope(engine) as s:
        s.connection().execute(sa.insert(_LOG), [{"viewer_email": who, "viewer_roles": "lead", "agent_id": 1,
                                                  "action": "view", "path": "/test"}])


def test_a_held_connection_is_lent_again_and_reads_what_was_committed_since(sqlite_engine: Engine):
    first = new_session(sqlite_engine, read_only=True, held=True)
    conn = first.connection()
    assert _count(first) == 0
    finish(first, commit=True)
    checked_out = sqlite_engine.pool.checkedout()  # type: ignore[attr-defined]
    _write_line(sqlite_engine, "someone")
    for _ in range(20):
        again = new_session(sqlite_engine, read_only=True, held=True)
        assert again.connection() is conn, "the same connection, lent again"
        assert _count(again) == 1, "a new snapshot each time: what was committed since is seen"
        finish(again, commit=True)
    assert sqlite_engine.pool.checkedout() == checked_out, "nothing more taken out of the pool"  # type: ignore[attr-defined]
    assert bound_engine(again).url == sqlite_engine.url


def test_a_lent_connection_is_not_lent_to_another_session_and_comes_back_after_a_rollback(sqlite_engine: Engine):
    a = new_session(sqlite_engine, read_only=True, held=True)
    b = new_session(sqlite_engine, read_only=True, held=True)
    conn_a, conn_b = a.connection(), b.connection()
    assert conn_a is not conn_b
    finish(b, commit=True)
    finish(a, commit=False)  # a read that failed: rolled back
    assert not conn_a.in_transaction()
    lent = {id(s.connection()) for s in (new_session(sqlite_engine, read_only=True, held=True) for _ in range(2))}
    assert lent == {id(conn_a), id(conn_b)}


def test_no_more_connections_are_held_than_the_pool_can_spare(sqlite_engine: Engine):
    size = sqlite_engine.pool.size()  # type: ignore[attr-defined]
    sessions = [new_session(sqlite_engine, read_only=True, held=True) for _ in range(size + 2)]
    held = [s for s in sessions if "talents_held_reader" in s.info]
    assert 1 <= len(held) <= max(1, size // 2)
    for s in sessions:  # the others read on the pool's connections, as before
        assert _count(s) == 0
        finish(s, commit=True)


def test_a_session_that_never_read_gives_its_connection_back(sqlite_engine: Engine):
    unused = new_session(sqlite_engine, read_only=True, held=True)
    conn = unused.info["talents_held_reader"][1]
    finish(unused, commit=True)
    assert new_session(sqlite_engine, read_only=True, held=True).info["talents_held_reader"][1] is conn


def test_writing_sessions_and_postgres_take_no_held_connection(engine: Engine):
    writer = new_session(engine, held=True)
    reader = new_session(engine, read_only=True, held=True)
    assert "talents_held_reader" not in writer.info
    assert ("talents_held_reader" in reader.info) is (engine.dialect.name == "sqlite")
    finish(writer, commit=True)
    finish(reader, commit=True)
