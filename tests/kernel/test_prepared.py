"""Reads run on the driver's cursor (``Prepared``) answer what SQLAlchemy's execution answers for the same statement,
value for value and type for type; errors come wrapped as SQLAlchemy wraps them; something listening to the
statements gets them through SQLAlchemy."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from needs import service as needs_service
from profiles import policy as profile_policy
from profiles import service as profile_service
from talents import ranking_index
from talents.auth import service as auth_service
from talents.auth.testing import issue_token
from talents.kernel.api import as_dicts
from talents.kernel.db import new_session, read_connection
from talents.kernel.prepared import Prepared

AGENT = {
    "name": "Camille Martin",
    "email": "camille.martin@interieur.gouv.fr",
    "ministry": "Ministère de l'Intérieur",
    "skills": [{"name": "Python", "level": 4, "years": 3, "last_used": "2026-05-01"}, {"name": "k8s", "level": 2}],
    "availability": [{"start": "2027-01-04", "end": "2027-06-30", "share": 0.6}],
}
NEED = {
    "title": "Équipe flash",
    "priority": 1,
    "start": "2027-01-04",
    "end": "2027-03-31",
    "roles": [
        {"title": "Dev", "share": 0.8, "remote": True,
         "skills": [{"name": "Python", "level": 4, "required": True}, {"name": "tout nouveau savoir", "level": 3}]},
        {"title": "Designer", "share": 0.6, "skills": []},
    ],
}


def _same(prepared: Prepared, conn: sa.Connection, params: dict[str, object]) -> list[dict[str, object]]:
    fast = prepared.dicts(conn, params)
    slow = as_dicts(conn.execute(prepared.statement, params))
    assert fast == slow
    # the same types too (a naive datetime, a 0/1 for a boolean or a string for a date would compare unequal to
    # SQLAlchemy's, except 0/1 == False/True: checked apart)
    assert [[type(v) for v in row.values()] for row in fast] == [[type(v) for v in row.values()] for row in slow]
    return fast


def test_the_hot_reads_answer_what_sqlalchemy_answers(admin_client, engine):
    agent = admin_client.post("/api/v1/agents", json=AGENT).json()
    needs = [admin_client.post("/api/v1/needs", json={**NEED, "title": f"n{i}"}).json() for i in range(3)]
    token = issue_token(engine, AGENT["email"], "lead")
    with read_connection(engine) as conn:
        row = _same(auth_service._TOKEN_PRINCIPAL, conn, {"digest": auth_service.digest(token)})[0]
        assert row["roles"] == ["lead"] and row["agent_id"] == agent["id"] and row["active"] is True
        assert _same(auth_service._TOKEN_PRINCIPAL, conn, {"digest": "none"}) == []
        page = _same(needs_service._PAGE_OF_NEEDS, conn, {"limit": 2, "offset": 1})
        assert len(page) == 2 and isinstance(page[0]["start"], dt.date) and page[0]["flash"] in (True, False)
        assert isinstance(page[0]["created_at"], dt.datetime) and page[0]["created_at"].tzinfo is not None
        assert _same(needs_service._COUNT_NEEDS, conn, {}) == [{"count_1": 3}]
        assert needs_service._COUNT_NEEDS.scalar(conn) == 3
        ids = [n["id"] for n in needs]
        for some in (ids, ids[:1], ids[:2], ids, []):  # IN lists of several lengths, one of them again
            roles = _same(needs_service._ROLES_WITH_SKILLS_OF, conn, {"ids": some})
            assert len(roles) == 3 * len(some)  # two skills of the first role, none of the second
        profile = _same(profile_policy.PROFILE_AS_SHOWN, conn, {"agent_id": agent["id"]})[0]
        assert profile["languages"] == agent["languages"] and profile["remote"] is agent["remote"]
        skills = _same(profile_service._SKILLS_OF_ONE, conn, {"agent_id": agent["id"]})
        assert isinstance(skills[0]["last_used"], dt.date)
        assert _same(profile_service._SKILLS_LISTED, conn, {"agent_id": agent["id"]}) != []
        assert _same(profile_service._WINDOWS_OF, conn, {"agent_id": agent["id"]})[0]["share"] == 0.6
        assert _same(profile_service._IS_LIVE, conn, {"agent_id": agent["id"]}) == [{"id": agent["id"]}]
        # the reads of a ranking asked through the API
        taxonomy_key = _same(ranking_index._TAXONOMY_KEY_NOW, conn, {})[0]
        assert taxonomy_key["count_1"] > 0 and taxonomy_key["max_1"].tzinfo is not None
        before = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
        assert [r["id"] for r in _same(ranking_index._CHANGED_SINCE_NOW, conn, {"watermark": before})] == [agent["id"]]
        assert _same(ranking_index._CHANGED_SINCE_NOW, conn, {"watermark": dt.datetime.now(dt.UTC)}) == []
        assert _same(ranking_index._MATCHABLE_AMONG_NOW, conn, {"ids": [agent["id"], 10**9]}) == [{"id": agent["id"]}]
        role = _same(ranking_index._ROLE_OF_NEED_NOW, conn, {"need_id": needs[0]["id"], "position": 0})
        assert len(role) == 2 and role[0]["role_title"] == "Dev"
        assert _same(ranking_index._ROLE_OF_NEED_NOW, conn, {"need_id": needs[0]["id"], "position": 7})[0]["role_id"] \
            is None


def test_the_pages_answer_as_before(admin_client, engine):
    """The JSON of the reads made on the driver's cursor, as the statements' SQLAlchemy execution gives it."""
    agent = admin_client.post("/api/v1/agents", json=AGENT).json()
    for i in range(3):
        admin_client.post("/api/v1/needs", json={**NEED, "title": f"n{i}"})
    page = admin_client.get("/api/v1/needs?limit=2").json()
    with read_connection(engine) as conn:
        rows = as_dicts(conn.execute(needs_service._PAGE_OF_NEEDS.statement, {"limit": 2, "offset": 0}))
    assert [n["id"] for n in page["data"]] == [r["id"] for r in rows] and page["count"] == 3
    assert page["data"][0]["roles"][0]["skills"][0] == {"skill_id": "python", "typed": "Python", "level": 4,
                                                        "weight": 1.0, "required": True, "label": "Python"}
    assert page["data"][0]["roles"][1]["skills"] == []
    shown = admin_client.get(f"/api/v1/agents/{agent['id']}").json()
    assert shown == {**agent, "warnings": []}


def test_a_database_error_comes_as_sqlalchemy_raises_it(engine):
    broken = Prepared(sa.select(sa.text("no_such_column")).select_from(sa.table("agent")))
    session = new_session(engine, read_only=True)
    try:
        with pytest.raises(sa.exc.DBAPIError):
            broken.dicts(session.connection())
    finally:
        session.close()


def test_statements_go_through_sqlalchemy_while_something_listens(engine):
    seen: list[str] = []

    def listen(conn, cursor, statement, parameters, context, executemany):  # noqa: ARG001 - the event's signature
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", listen)
    try:
        with read_connection(engine) as conn:
            assert needs_service._COUNT_NEEDS.scalar(conn) == 0
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    assert any("count" in s.lower() for s in seen)
    with read_connection(engine) as conn:
        assert needs_service._COUNT_NEEDS.scalar(conn) == 0
    assert len(seen) == 1


def test_the_access_log_lines_are_stored_as_sqlalchemy_stores_them(engine):
    """Written in one call to the driver (one statement on PostgreSQL, the agents as one array), the lines of a read
    hold what SQLAlchemy's insert writes, value for value as the database stores them (the aware time as
    SQLAlchemy's text on SQLite, say), one line per agent shown, in the order shown."""
    table = profile_policy.AccessLog.__table__
    at = dt.datetime(2026, 11, 30, 17, 5, 9, 123456, tzinfo=dt.UTC)
    shared = {"at": at, "viewer_email": "dinum@numerique.gouv.fr", "viewer_roles": "lead,reviewer",
              "action": "list", "path": "/api/v1/needs/1/roles/0/candidates"}
    agents = [3, 1, 2, 1]  # an agent shown twice (in two roles' rankings) is logged twice
    with engine.begin() as conn:
        profile_policy.write_access_lines(conn, shared, agents)
        conn.execute(sa.insert(table), [{**shared, "agent_id": a, "path": "slow"} for a in agents])
    columns = ("at", "viewer_email", "viewer_roles", "agent_id", "action")
    raw = engine.raw_connection()  # the values as stored, without SQLAlchemy's conversions
    try:
        cursor = raw.cursor()
        cursor.execute(f"SELECT {', '.join(columns)}, path FROM access_log ORDER BY id")  # noqa: S608 - fixed names
        stored = [tuple(r) for r in cursor.fetchall()]
    finally:
        raw.close()
    fast, slow = [r for r in stored if r[-1] != "slow"], [r for r in stored if r[-1] == "slow"]
    assert [r[:-1] for r in fast] == [r[:-1] for r in slow] and [r[3] for r in fast] == agents
    with engine.connect() as conn:
        read_back = conn.execute(sa.select(table.c.at).where(table.c.path != "slow")).scalars().all()
    assert read_back == [at] * len(agents)
    with engine.connect() as conn:
        profile_policy.write_access_lines(conn, shared, [])  # nothing to write: no statement, no transaction
        assert not conn.in_transaction()


@pytest.mark.parametrize("backend", ["postgres"])
def test_postgresql_writes_the_lines_of_a_read_in_one_statement(engine):
    """Thirty agents shown: one INSERT run once, the agents as one array (not thirty rows for the server to run)."""
    runs: list[tuple[str, bool]] = []

    def seen(_conn, _cursor, statement, _parameters, _context, executemany):  # type: ignore[no-untyped-def]
        runs.append((statement, executemany))

    with engine.begin() as conn:
        conn.exec_driver_sql("SELECT 1")  # the transaction begun: only the lines' statement follows
        event.listen(engine, "before_cursor_execute", seen)
        try:
            profile_policy.write_access_lines(conn, {"at": dt.datetime.now(dt.UTC), "viewer_email": "a@b.fr",
                                                     "viewer_roles": "lead", "action": "list", "path": "/x"},
                                              list(range(1, 31)))
        finally:
            event.remove(engine, "before_cursor_execute", seen)
    assert len(runs) == 1 and "unnest" in runs[0][0] and runs[0][1] is False, runs
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM access_log WHERE path = '/x'")).scalar_one() == 30
