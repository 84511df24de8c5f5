"""A SQLite write whose transaction can begin without waiting begins on the event loop, and once its transaction
holds the write lock the request's handler runs there too: nothing it does can wait any more. When beginning
would wait — the process's write turn taken, or another process holding SQLite's lock — nothing is begun and the
request goes to a thread as before, where it waits its turn; PostgreSQL always goes to a thread."""

from __future__ import annotations

import sqlite3
import threading

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine, event

from talents.kernel.db import begin_write_at_once, holds_write_lock, new_session, session_scope, write_turns

pytestmark = pytest.mark.integration

AGENT = {"name": "Camille Martin", "email": "camille.martin@interieur.gouv.fr", "ministry": "DINUM",
         "skills": [{"name": "Python", "level": 3}]}


def _busy_timeout(session: object) -> int:
    return int(session.connection().exec_driver_sql("PRAGMA busy_timeout").scalar_one())  # type: ignore[attr-defined]


def test_a_write_begins_at_once_when_nothing_holds_the_lock(sqlite_engine: Engine) -> None:
    session = new_session(sqlite_engine)
    try:
        assert begin_write_at_once(session)
        assert holds_write_lock(session) and write_turns[sqlite_engine].locked()
        assert _busy_timeout(session) > 0, "the connection waits again as usual for its later begins"
        session.commit()
    finally:
        session.close()
    assert not write_turns[sqlite_engine].locked()


def test_nothing_begins_while_another_transaction_of_the_process_holds_the_turn(sqlite_engine: Engine) -> None:
    with session_scope(sqlite_engine) as other:
        other.connection()  # its write transaction holds the turn
        session = new_session(sqlite_engine)
        assert not begin_write_at_once(session)
        assert not session.in_transaction() and not holds_write_lock(session)
        assert write_turns[sqlite_engine].locked(), "the other transaction keeps its turn"
    assert not write_turns[sqlite_engine].locked()
    assert begin_write_at_once(session), "the same session begins once the turn is free"
    session.rollback()
    session.close()


def test_nothing_waits_while_another_process_holds_sqlites_lock(sqlite_engine: Engine) -> None:
    other = sqlite3.connect(sqlite_engine.url.database, isolation_level=None,  # another process's writer
                            check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    # Released a second from now: a begin that waited (the busy timeout is 10 s) would then succeed.
    release = threading.Timer(1.0, other.execute, ["COMMIT"])
    release.start()
    session = new_session(sqlite_engine)
    try:
        assert not begin_write_at_once(session), "refused at once, not waited for"
        assert not write_turns[sqlite_engine].locked(), "the turn taken for it is given back"
    finally:
        release.join()
        other.close()
        session.close()
    with session_scope(sqlite_engine) as later:  # the connection left behind waits as usual
        assert _busy_timeout(later) == 10_000


def test_a_read_and_postgres_never_begin_a_write_on_the_event_loop(engine: Engine) -> None:
    read = new_session(engine, read_only=True)
    write = new_session(engine)
    try:
        assert not begin_write_at_once(read)
        assert begin_write_at_once(write) is (engine.dialect.name == "sqlite")
    finally:
        read.close()
        write.rollback()
        write.close()


def _threads_of_updates(engine: Engine) -> tuple[list[str], object]:
    names: list[str] = []
    writing: set[int] = set()  # the connections of those statements: only their commits are noted, not others'
                               # (the ranking index's warm-up, say)

    def note(conn: object, _cursor: object, statement: str, *_: object) -> None:
        # the gate's count of the caller's writes, then the handler's update (or erasure)
        if statement.lstrip().upper().startswith(("INSERT INTO AUTH_RATE_BUCKET", "UPDATE AGENT ",
                                                  "DELETE FROM AGENT")):
            writing.add(id(conn))
            names.append(threading.current_thread().name)

    def committed(conn: object) -> None:
        if id(conn) in writing:
            writing.discard(id(conn))
            names.append(threading.current_thread().name)

    event.listen(engine, "before_cursor_execute", note)
    event.listen(engine, "commit", committed)
    return names, (note, committed)


def _stop_noting(engine: Engine, listeners: object) -> None:
    note, committed = listeners  # type: ignore[misc]
    event.remove(engine, "before_cursor_execute", note)
    event.remove(engine, "commit", committed)


def test_a_profile_edit_is_gated_and_handled_on_the_event_loop_on_sqlite(admin_client, engine: Engine) -> None:
    created = admin_client.post("/api/v1/agents", json=AGENT)
    assert created.status_code == 201, created.text
    url = f"/api/v1/agents/{created.json()['id']}"
    names, note = _threads_of_updates(engine)
    try:
        response = admin_client.patch(url, json={"location": "Lyon"})
    finally:
        _stop_noting(engine, note)
    assert response.status_code == 200 and response.json()["location"] == "Lyon", response.text
    assert len(names) >= 3, f"the gate counts the write, the handler updates the agent, then commits: {names}"
    on_the_loop = [name for name in names if not name.startswith(("request", "AnyIO", "db-finish"))]
    if engine.dialect.name == "sqlite":
        assert on_the_loop == names, names
    else:
        assert on_the_loop == [], names
    assert admin_client.get(url).json()["location"] == "Lyon"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_profile_edit_waits_for_the_turn_in_a_thread_then_is_handled_on_the_loop(admin_client,
                                                                                   engine: Engine) -> None:
    created = admin_client.post("/api/v1/agents", json=AGENT)
    url = f"/api/v1/agents/{created.json()['id']}"
    holding, release = threading.Event(), threading.Event()

    def hold_the_turn() -> None:
        with session_scope(engine) as other:
            other.connection().execute(sa.text("SELECT 1"))
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold_the_turn)
    holder.start()
    holding.wait(10)
    names, note = _threads_of_updates(engine)
    threading.Timer(0.5, release.set).start()
    try:
        response = admin_client.patch(url, json={"location": "Lille"})
    finally:
        _stop_noting(engine, note)
        release.set()
        holder.join()
    assert response.status_code == 200 and response.json()["location"] == "Lille", response.text
    names = [name for name in names if "hold_the_turn" not in name]  # (the other transaction's commit)
    gate, handler = names[0], names[-2]
    assert gate.startswith("AnyIO"), f"the gate waited for the turn in a thread: {names}"
    assert not handler.startswith(("request", "AnyIO")), f"then the handler held the lock: on the loop {names}"
    assert names[-1] == handler, f"and the commit that ended it too: {names}"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_handler_its_route_keeps_off_the_loop_runs_in_a_thread_though_it_holds_the_lock(admin_client,
                                                                                        engine: Engine) -> None:
    """Erasing an agent (a route without ON_THE_LOOP): gated on the loop, handled in a thread."""
    created = admin_client.post("/api/v1/agents", json=AGENT)
    url = f"/api/v1/agents/{created.json()['id']}"
    names, listeners = _threads_of_updates(engine)
    try:
        response = admin_client.delete(url)
    finally:
        _stop_noting(engine, listeners)
    assert response.status_code == 204, response.text
    gate, handler = names[0], names[-2]
    assert not gate.startswith(("request", "AnyIO")), names
    assert handler.startswith("request"), f"the handler in one of the request threads: {names}"
