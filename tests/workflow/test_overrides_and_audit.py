"""DINUM overrides, and the audit log: append-only in the database, listed, exported safely."""

from __future__ import annotations

import csv
import io

import pytest
import sqlalchemy as sa
from factories import END, START, make_agent, make_need
from sqlmodel import select
from wfhelpers import LEAD_P, REVIEWER_P

from talents.assignments.models import Assignment, AuditEvent
from talents.kernel.db import session_scope
from talents.kernel.errors import ConflictError, PermissionDeniedError, ValidationFailedError
from talents.workflow.audit import AuditFilters, AuditService, csv_safe, record
from talents.workflow.overrides import OverrideService

pytestmark = pytest.mark.integration
# Backend-independent logic: SQLite only (the PostgreSQL-specific paths are covered by the other tests).
SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"])


def _force(engine, who, agent, need, role=0, reason="décision DINUM"):
    with session_scope(engine) as s:
        return OverrideService(s).force(who, agent, need, role, reason)


@SQLITE_ONLY
def test_only_a_reviewer_forces_and_only_with_a_written_reason(engine, events):
    x = make_agent(engine, "x")
    n = make_need(engine, "n1")
    with pytest.raises(PermissionDeniedError):
        _force(engine, LEAD_P, x, n)
    with pytest.raises(ValidationFailedError, match="written reason"):
        _force(engine, REVIEWER_P, x, n, reason="   ")
    a = _force(engine, REVIEWER_P, x, n, reason="compétence rare")
    assert a.forced and a.state == "proposed" and a.reason == "compétence rare"
    assert events.last("assignment.forced").data["reason"] == "compétence rare"
    with session_scope(engine) as s:
        entry = s.exec(select(AuditEvent).where(AuditEvent.action == "assignment.forced")).one()
    assert entry.actor == REVIEWER_P.email and entry.reason == "compétence rare" and entry.data["override"] == "force"


def test_forcing_never_exceeds_one_hundred_percent(engine):
    x = make_agent(engine, "x", windows=[(START, END, 1.0)])
    n1 = make_need(engine, "n1", roles=[{"share": 0.6}])
    n2 = make_need(engine, "n2", roles=[{"share": 0.6}])
    _force(engine, REVIEWER_P, x, n1)
    with pytest.raises(ConflictError, match="only 40% of their time is free"):
        _force(engine, REVIEWER_P, x, n2)
    with session_scope(engine) as s:
        assert len(s.exec(select(Assignment)).all()) == 1


@SQLITE_ONLY
def test_forcing_an_existing_proposal_fixes_it_and_removing_withdraws(engine):
    from talents.workflow.allocation import run_allocation

    make_agent(engine, "x")
    n = make_need(engine, "n1")
    run_allocation(engine, dry_run=False)
    with session_scope(engine) as s:
        a = s.exec(select(Assignment)).one()
    forced = _force(engine, REVIEWER_P, a.agent_id, n)
    assert forced.id == a.id and forced.forced and forced.version == a.version + 1
    with pytest.raises(ConflictError, match="already forced"):
        _force(engine, REVIEWER_P, a.agent_id, n)
    with session_scope(engine) as s, pytest.raises(PermissionDeniedError):
        OverrideService(s).remove(LEAD_P, a.id, "non")
    with session_scope(engine) as s, pytest.raises(ValidationFailedError):
        OverrideService(s).remove(REVIEWER_P, a.id, "")
    with session_scope(engine) as s:
        assert OverrideService(s).remove(REVIEWER_P, a.id, "erreur de saisie").state == "withdrawn"


def test_the_database_refuses_to_update_or_delete_the_audit_log(engine):
    with session_scope(engine) as s:
        record(s, "revue@numerique.gouv.fr", "allocation.run", "allocation_run", "r1", "test", {"n": 1})
    for stmt in ("UPDATE audit_event SET reason = 'effacé'", "DELETE FROM audit_event",
                 "UPDATE audit_event SET actor = 'personne' WHERE id = 1"):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), engine.begin() as conn:
            conn.execute(sa.text(stmt))
    with session_scope(engine) as s:  # through the ORM too
        row = s.exec(select(AuditEvent)).one()
        row.reason = "réécrit"
        s.add(row)
        with pytest.raises(sa.exc.DatabaseError, match="append-only"):
            s.flush()
        s.rollback()
    with session_scope(engine) as s:
        row = s.exec(select(AuditEvent)).one()
        assert row.reason == "test" and row.actor == "revue@numerique.gouv.fr"
    with engine.begin() as conn:  # appending still works
        conn.execute(sa.text("INSERT INTO audit_event (at, actor, action, subject_type, subject_id, reason, data) "
                             "VALUES (CURRENT_TIMESTAMP, 'a', 'b', 'c', 'd', '', '{}')"))


@SQLITE_ONLY
def test_the_audit_log_lists_newest_first_with_filters_and_pages(engine):
    with session_scope(engine) as s:
        for i in range(7):
            record(s, f"p{i % 2}@x.fr", "assignment.proposed" if i % 3 else "allocation.run", "assignment", i)
    with session_scope(engine) as s:
        svc = AuditService(s)
        rows, total = svc.list(AuditFilters(), limit=3)
        assert total == 7 and [r.subject_id for r in rows] == ["6", "5", "4"]
        rows, total = svc.list(AuditFilters(action="allocation.run"))
        assert total == 3
        rows, total = svc.list(AuditFilters(action="assignment."))
        assert total == 4
        rows, total = svc.list(AuditFilters(actor="P1@X.FR"), offset=1)
        assert total == 3 and len(rows) == 2


@SQLITE_ONLY
def test_the_csv_export_cannot_run_formulas_in_a_spreadsheet(engine):
    with session_scope(engine) as s:
        record(s, "=HYPERLINK(\"http://evil\")", "assignment.withdrawn", "assignment", "1",
               "+cmd|' /C calc'!A0", {"note": "-2+3"})
        record(s, "revue@numerique.gouv.fr", "allocation.run", "allocation_run", "@SUM(A1)", "normal, with comma")
    with session_scope(engine) as s:
        text = "".join(AuditService(s).export_csv(AuditFilters()))
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["id", "at", "actor", "action", "subject_type", "subject_id", "reason", "data"]
    assert rows[1][2] == "'=HYPERLINK(\"http://evil\")" and rows[1][6].startswith("'+cmd")
    assert rows[2][5] == "'@SUM(A1)" and rows[2][6] == "normal, with comma"
    for row in rows[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert csv_safe("-1") == "'-1" and csv_safe("ok") == "ok" and csv_safe(None) == ""


def test_the_database_itself_refuses_to_commit_an_agent_above_one_hundred_percent(engine):
    """A last line of defence below the service: a raw write that would overcommit fails (409 in the app)."""
    x = make_agent(engine, "x", windows=[(START, END, 1.0)])
    n1 = make_need(engine, "n1", roles=[{"share": 0.6}])
    n2 = make_need(engine, "n2", roles=[{"share": 0.6}])
    insert = sa.text(
        "INSERT INTO assignment (need_id, role_id, agent_id, share, start_date, end_date, state, score, explanation,"
        " forced, reason, feedback, created_by, created_at, updated_at, version) VALUES (:n, "
        "(SELECT id FROM role WHERE need_id = :n), :a, :s, :st, :en, :state, 0, '{}', false, '', '', 'raw', "
        "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 1)")
    args = {"a": x, "st": START, "en": END}
    with engine.begin() as conn:
        conn.execute(insert, {**args, "n": n1, "s": 0.6, "state": "accepted"})
    with pytest.raises(sa.exc.IntegrityError, match="assignment_capacity"), engine.begin() as conn:
        conn.execute(insert, {**args, "n": n2, "s": 0.6, "state": "proposed"})
    with engine.begin() as conn:  # a terminal state holds no time; 40 % more still fits
        conn.execute(insert, {**args, "n": n2, "s": 0.6, "state": "declined"})
        conn.execute(sa.text("UPDATE role SET share = 0.4"))
    # reviving the declined one at 60 %
    with pytest.raises(sa.exc.IntegrityError, match="assignment_capacity"), engine.begin() as conn:
        conn.execute(sa.text("UPDATE assignment SET state = 'proposed' WHERE state = 'declined'"))
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE assignment SET state = 'proposed', share = 0.4 WHERE state = 'declined'"))
    assert overcommitted_rows(engine) == []


def overcommitted_rows(engine):
    from concurrency_ops import overcommitted

    return overcommitted(engine)
