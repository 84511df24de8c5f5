"""Writes that follow a read (``after_commit``): written with the commit, never after a rollback, durable before
``finish`` returns; on PostgreSQL in the request's own transaction, on SQLite committed together with the same
writes of the requests finishing at the same time (in threads, or on the event loop with one trip to a thread per
batch), a bad one failing alone."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from psycopg.pq import TransactionStatus
from sqlalchemy import Engine, event

from profiles.models import AccessLog
from talents.kernel.db import (
    CHECKPOINT_EVERY,
    _group_commit,
    after_commit,
    ends_with_writes_after_read,
    finish,
    finish_read,
    new_session,
    write_turns,
)

_LOG = AccessLog.__table__  # type: ignore[attr-defined]


def _line(who: str) -> dict[str, object]:
    return {"viewer_email": who, "viewer_roles": "lead", "agent_id": 1, "action": "view", "path": "/test"}


def _write(who: str) -> object:
    return lambda conn: conn.execute(sa.insert(_LOG), [_line(who)])


def _logged(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(sa.select(_LOG.c.viewer_email)).scalars())


class _Transactions:
    """Counts an engine's transactions begun (``what="begin"``) or committed, those of read-only sessions too or
    not (``reads``)."""

    def __init__(self, engine: Engine, what: str, *, reads: bool) -> None:
        self.engine, self.what, self.reads, self.count = engine, what, reads, 0

    def _seen(self, conn: sa.Connection) -> None:
        if self.reads or not conn.get_execution_options().get("talents_read_only"):
            self.count += 1

    def __enter__(self) -> _Transactions:
        event.listen(self.engine, self.what, self._seen)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, self.what, self._seen)


def _read_with_log(engine: Engine, who: str, commit: bool = True) -> None:
    session = new_session(engine, read_only=True)
    session.connection().execute(sa.text("SELECT 1"))
    after_commit(session, _write(who))  # type: ignore[arg-type]
    finish(session, commit=commit)


def test_the_writes_are_durable_when_finish_returns_and_never_after_a_rollback(engine: Engine) -> None:
    _read_with_log(engine, "kept@example.gouv.fr")
    assert _logged(engine) == ["kept@example.gouv.fr"]  # read from another connection, at once
    _read_with_log(engine, "dropped@example.gouv.fr", commit=False)
    assert _logged(engine) == ["kept@example.gouv.fr"]


_POSTGRES_ONLY = pytest.param("postgres", marks=pytest.mark.skipif(
    not os.environ.get("TALENTS_TEST_POSTGRES_URL", "").strip(), reason="TALENTS_TEST_POSTGRES_URL is not set"))


# SQLite writes them after the read (without its write lock during the read): the next test
@pytest.mark.parametrize("backend", [_POSTGRES_ONLY], indirect=True)
def test_on_postgresql_the_writes_ride_in_the_request_s_transaction(engine: Engine) -> None:
    with _Transactions(engine, "begin", reads=True) as begun:
        _read_with_log(engine, "one@example.gouv.fr")
    assert begun.count == 1  # the read's transaction, and no other
    assert _logged(engine) == ["one@example.gouv.fr"]


@pytest.mark.parametrize("backend", [_POSTGRES_ONLY], indirect=True)
def test_on_postgresql_an_autocommit_read_leaves_no_transaction_open_and_its_writes_are_durable(engine: Engine) -> None:
    session = new_session(engine, autocommit=True)
    conn = session.connection()
    conn.execute(sa.text("SELECT 1"))
    assert conn.connection.driver_connection.info.transaction_status == TransactionStatus.IDLE  # no BEGIN was sent
    after_commit(session, _write("auto@example.gouv.fr"))  # type: ignore[arg-type]
    finish(session, commit=True)
    assert _logged(engine) == ["auto@example.gouv.fr"]
    with engine.connect() as later:  # the pool's next user gets its transactions back
        later.execute(sa.text("SELECT 1"))
        assert later.connection.driver_connection.info.transaction_status == TransactionStatus.INTRANS


def test_on_sqlite_concurrent_writers_share_commits_and_a_bad_write_fails_alone(sqlite_engine: Engine) -> None:
    engine = sqlite_engine
    group = _group_commit(engine)
    readers = 8
    start = threading.Barrier(readers + 1)

    def reader(i: int) -> str:
        session = new_session(engine, read_only=True)
        session.connection().execute(sa.text("SELECT 1"))
        if i == 3:  # a line the database refuses (no viewer): its request fails, the others' lines are written
            after_commit(session, lambda conn: conn.execute(sa.insert(_LOG), [{**_line("x"), "viewer_email": None}]))
        else:
            after_commit(session, _write(f"r{i}@example.gouv.fr"))  # type: ignore[arg-type]
        start.wait()
        try:
            finish(session, commit=True)
        except sa.exc.IntegrityError:
            return "refused"
        return "written"

    def all_queued() -> None:
        while len(group._queue) < readers:
            threading.Event().wait(0.01)

    # The process's turn to write is held until every reader has queued its line: they are committed together.
    with _Transactions(engine, "commit", reads=False) as commits, ThreadPoolExecutor(readers) as pool:
        with group._turn:
            futures = [pool.submit(reader, i) for i in range(readers)]
            start.wait()
            all_queued()
        outcomes = [f.result() for f in futures]
    assert outcomes == ["refused" if i == 3 else "written" for i in range(readers)]
    assert _logged(engine) == sorted(f"r{i}@example.gouv.fr" for i in range(readers) if i != 3)
    assert commits.count == readers - 1  # the batch failed, then each was tried alone

    with _Transactions(engine, "commit", reads=False) as commits, ThreadPoolExecutor(readers) as pool:
        with group._turn:
            futures = [pool.submit(_read_with_log, engine, f"s{i}@example.gouv.fr") for i in range(readers)]
            all_queued()
        for f in futures:
            f.result()
    assert commits.count == 1
    assert len(_logged(engine)) == 2 * readers - 1


def test_on_sqlite_reads_the_event_loop_ends_share_one_trip_to_a_thread_per_batch(sqlite_engine: Engine) -> None:
    engine = sqlite_engine
    group = _group_commit(engine)

    def read(work: object) -> object:
        session = new_session(engine, read_only=True)
        session.connection().execute(sa.text("SELECT 1"))
        after_commit(session, work)  # type: ignore[arg-type]
        assert ends_with_writes_after_read(session)
        return session

    async def reads(works: list[object]) -> list[object]:
        with ThreadPoolExecutor(2) as executor:
            group._turn.acquire()  # the first batch's trip waits here: the reads ending meanwhile queue behind it
            write_turns[engine].acquire()  # (and none writes at once on the event loop: the turn is taken)
            try:
                first = asyncio.ensure_future(finish_read(read(works[0]), executor))  # type: ignore[arg-type]
                await asyncio.sleep(0.05)
                others = [asyncio.ensure_future(finish_read(read(w), executor)) for w in works[1:]]  # type: ignore[arg-type]
                await asyncio.sleep(0.05)
            finally:
                write_turns[engine].release()
                group._turn.release()
            return await asyncio.gather(first, *others, return_exceptions=True)

    with _Transactions(engine, "commit", reads=False) as commits:
        outcomes = asyncio.run(reads([_write(f"t{i}@example.gouv.fr") for i in range(6)]))
    assert outcomes == [None] * 6
    assert commits.count == 2  # the first alone, the five that queued behind it together
    assert _logged(engine) == sorted(f"t{i}@example.gouv.fr" for i in range(6))

    bad = lambda conn: conn.execute(sa.insert(_LOG), [{**_line("x"), "viewer_email": None}])  # noqa: E731
    with _Transactions(engine, "commit", reads=False) as commits:
        outcomes = asyncio.run(reads([_write("u0@example.gouv.fr"), _write("u1@example.gouv.fr"), bad,
                                      _write("u2@example.gouv.fr")]))
    assert outcomes[:2] == [None, None] and isinstance(outcomes[2], sa.exc.IntegrityError) and outcomes[3] is None
    assert commits.count == 3  # the first; then the batch of three failed, and each was tried alone: two commit
    assert len(_logged(engine)) == 9


def _ended_on_the_loop(engine: Engine, works: list[object], executor: ThreadPoolExecutor) -> list[object]:
    async def end_all() -> list[object]:
        out = []
        for work in works:
            session = new_session(engine, read_only=True)
            session.connection().execute(sa.text("SELECT 1"))
            after_commit(session, work)  # type: ignore[arg-type]
            try:
                out.append(await finish_read(session, executor))
            except Exception as exc:  # noqa: BLE001 - returned to the test
                out.append(exc)
        return out

    return asyncio.run(end_all())


def _noting_thread(where: list[int], email: str) -> object:
    """A write of a line for ``email`` that notes, in ``where``, the thread it runs on."""
    def write(conn: sa.Connection) -> None:
        where.append(threading.get_ident())
        conn.execute(sa.insert(_LOG), [_line(email)])
    return write


def test_on_sqlite_a_read_ended_on_the_event_loop_writes_at_once_when_nothing_waits(sqlite_engine: Engine) -> None:
    engine, where = sqlite_engine, []
    works = [_noting_thread(where, f"a{i}@example.gouv.fr") for i in range(2 * CHECKPOINT_EVERY)]
    with ThreadPoolExecutor(2) as executor:
        outcomes = _ended_on_the_loop(engine, works, executor)
    assert outcomes == [None] * (2 * CHECKPOINT_EVERY)
    assert len(_logged(engine)) == 2 * CHECKPOINT_EVERY
    on_the_loop = sum(1 for ident in where if ident == threading.get_ident())
    assert on_the_loop == 2 * CHECKPOINT_EVERY - 2, "all at once, but one in CHECKPOINT_EVERY (which checkpoints)"
    assert not write_turns[engine].locked()

    bad = lambda conn: conn.execute(sa.insert(_LOG), [{**_line("x"), "viewer_email": None}])  # noqa: E731
    with ThreadPoolExecutor(2) as executor:
        outcomes = _ended_on_the_loop(engine, [bad, _write("b@example.gouv.fr")], executor)
    assert isinstance(outcomes[0], sa.exc.IntegrityError) and outcomes[1] is None
    assert not write_turns[engine].locked() and "b@example.gouv.fr" in _logged(engine)


def test_on_sqlite_the_reads_ending_in_one_turn_of_the_event_loop_commit_their_writes_together_on_it(
        sqlite_engine: Engine) -> None:
    """Under load (not alone at work), no trip to a thread: one commit on the loop for the batch."""
    engine, where = sqlite_engine, []
    # The engine's earlier writes (other tests') left its count of at-once commits anywhere: this batch must not
    # be the one in CHECKPOINT_EVERY that goes to a thread to checkpoint.
    _group_commit(engine)._at_once = 0

    async def reads() -> list[object]:
        with ThreadPoolExecutor(2) as executor:
            sessions = []
            for i in range(5):
                session = new_session(engine, read_only=True)
                session.connection().execute(sa.text("SELECT 1"))
                after_commit(session, _noting_thread(where, f"c{i}@example.gouv.fr"))  # type: ignore[arg-type]
                sessions.append(session)
            return await asyncio.gather(*(finish_read(s, executor, at_once=False) for s in sessions))

    with _Transactions(engine, "commit", reads=False) as commits:
        assert asyncio.run(reads()) == [None] * 5
    assert commits.count == 1
    assert where == [threading.get_ident()] * 5  # the loop's own thread
    assert _logged(engine) == sorted(f"c{i}@example.gouv.fr" for i in range(5))
    assert not write_turns[engine].locked()


def test_on_sqlite_a_write_another_process_holds_the_lock_for_goes_to_a_thread_and_the_loop_never_waits(
        sqlite_engine: Engine) -> None:
    engine = sqlite_engine
    other = sqlite3.connect(engine.url.database, isolation_level=None)  # another process's writer, as SQLite sees it
    other.execute("BEGIN IMMEDIATE")

    async def scenario(executor: ThreadPoolExecutor) -> tuple[int, float]:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.ensure_future(tick())
        session = new_session(engine, read_only=True)
        session.connection().execute(sa.text("SELECT 1"))
        after_commit(session, _write("held@example.gouv.fr"))
        asyncio.get_running_loop().call_later(0.3, other.execute, "COMMIT")
        started = asyncio.get_running_loop().time()
        await finish_read(session, executor)
        ticker.cancel()
        return ticks, asyncio.get_running_loop().time() - started

    try:
        with ThreadPoolExecutor(2) as executor:
            ticks, took = asyncio.run(scenario(executor))
    finally:
        other.close()
    assert took >= 0.25, "written once the other writer committed"
    assert ticks >= 10, "the event loop went on meanwhile"
    assert _logged(engine) == ["held@example.gouv.fr"]
    raw = engine.raw_connection()  # the pool's connections kept their busy timeout
    try:
        assert raw.driver_connection.execute("PRAGMA busy_timeout").fetchone()[0] > 0
    finally:
        raw.close()


def test_a_request_writes_at_once_only_when_it_is_alone_at_work() -> None:
    """Under load the writes of the requests ending together are committed together (one commit, a smaller log):
    only a request alone at work writes at once."""
    from talents.kernel.api import _alone_at_work, admitted

    async def scenario() -> list[bool]:
        seen = []
        async with admitted({"type": "http"}):
            seen.append(_alone_at_work())
            async with admitted({"type": "http"}):
                seen.append(_alone_at_work())
            seen.append(_alone_at_work())
        return seen

    assert asyncio.run(scenario()) == [True, False, True]


def test_on_sqlite_no_write_at_once_takes_the_pool_s_last_connection(sqlite_engine: Engine) -> None:
    engine, group = sqlite_engine, _group_commit(sqlite_engine)
    group.close()  # no connection of its own yet
    taken = [engine.connect() for _ in range(engine.pool.size())]  # type: ignore[attr-defined]
    try:
        assert not any(group.write_at_once([_write(f"p{i}@example.gouv.fr")]) for i in range(3))
        assert not write_turns[engine].locked()
    finally:
        for conn in taken:
            conn.close()
    assert group.write_at_once([_write("q@example.gouv.fr")]) and _logged(engine) == ["q@example.gouv.fr"]
