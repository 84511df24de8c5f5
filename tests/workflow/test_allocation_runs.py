"""Allocation runs over the database: dry runs write nothing, applied runs propose, keep, withdraw."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from factories import make_agent, make_need
from sqlmodel import func, select
from typer.testing import CliRunner
from wfhelpers import REVIEWER_P

from needs.models import Need
from talents.assignments.models import AllocationRun, AllocationTrigger, Assignment, AuditEvent
from talents.kernel.db import session_scope
from talents.workflow.allocation import run_allocation
from talents.workflow.allocation_job import process_allocation_triggers, run_scheduled_allocation
from talents.workflow.overrides import OverrideService

pytestmark = pytest.mark.integration
# Backend-independent logic: SQLite only (the PostgreSQL-specific paths are covered by the other tests).
SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"])


def _counts(engine) -> tuple[int, ...]:
    with session_scope(engine) as s:
        return tuple(int(s.exec(select(func.count()).select_from(m)).one())
                     for m in (Assignment, AuditEvent, AllocationRun))


def _states(engine) -> dict[tuple[str, str], str]:
    with session_scope(engine) as s:
        rows = s.execute(sa.text(
            "SELECT n.external_id, g.external_id, a.state FROM assignment a JOIN need n ON n.id = a.need_id "
            "JOIN agent g ON g.id = a.agent_id")).all()
    return {(n, g): st for n, g, st in rows}


def test_a_dry_run_returns_the_diff_and_writes_nothing(engine, events):
    make_agent(engine, "a", skills=[("python", 5)])
    make_agent(engine, "b", skills=[("python", 3)])
    make_need(engine, "n1", roles=[{"count": 3, "share": 0.6, "skills": [("python", 3, True)]}])
    before = _counts(engine)
    out = run_allocation(engine, dry_run=True, actor="revue")
    assert _counts(engine) == before and events == []
    assert {(a["need"], a["role"], a["agent"]) for a in out["assignments"]} == {("n1", 0, "a"), ("n1", 0, "b")}
    assert out["unfilled"][0]["seats"] == 1 and out["unfilled"][0]["reason"]
    assert out["objective"] > 0 and out["bound"] >= out["objective"] - 1e-9


def test_an_applied_run_proposes_audits_and_notifies_then_a_rerun_keeps_everything(engine, events):
    make_agent(engine, "a", skills=[("python", 5)])
    make_agent(engine, "b", skills=[("python", 4)])
    make_need(engine, "n1", roles=[{"count": 2, "share": 0.6, "skills": [("python", 3, True)]}])
    out = run_allocation(engine, dry_run=False, actor="revue@numerique.gouv.fr")
    assert out["applied"] == {"proposed": 2, "withdrawn": 0} and out["skipped"] == []
    assert _states(engine) == {("n1", "a"): "proposed", ("n1", "b"): "proposed"}
    assert events.kinds().count("assignment.proposed") == 2 and "allocation.run_completed" in events.kinds()
    with session_scope(engine) as s:
        actions = [e.action for e in s.exec(select(AuditEvent)).all()]
        run = s.get(AllocationRun, out["run_id"])
        assert run is not None and run.summary["proposed"] == 2
        assert all(a.run_id == out["run_id"] for a in s.exec(select(Assignment)).all())
    assert actions.count("assignment.proposed") == 2 and actions.count("allocation.run") == 1
    again = run_allocation(engine, dry_run=False)
    assert again["proposed"] == [] and again["withdrawn"] == []
    assert all(a["kept"] for a in again["assignments"]) and len(again["assignments"]) == 2


def test_a_higher_priority_need_takes_an_agent_proposed_elsewhere_and_says_why(engine, events):
    make_agent(engine, "rare", skills=[("python", 5)])
    make_need(engine, "low", priority=4)
    run_allocation(engine, dry_run=False)
    assert _states(engine) == {("low", "rare"): "proposed"}
    make_need(engine, "crise", priority=1, title="Cellule de crise")
    dry = run_allocation(engine, dry_run=True)
    assert [(w["need"], w["agent"], w["reason"]) for w in dry["withdrawn"]] == [("low", "rare", "higher_priority")]
    assert "Cellule de crise" in dry["withdrawn"][0]["why"]
    assert [(u["need"], u["reason"]) for u in dry["unfilled"]] == [("low", "taken_by_higher_priority")]
    assert _states(engine) == {("low", "rare"): "proposed"}  # the dry run wrote nothing
    run_allocation(engine, dry_run=False)
    assert _states(engine) == {("low", "rare"): "withdrawn", ("crise", "rare"): "proposed"}
    withdrawn = events.last("assignment.withdrawn")
    assert "Cellule de crise" in withdrawn.data["reason"] and withdrawn.data["need_title"] == "Besoin low"


@SQLITE_ONLY
def test_accepted_assignments_are_never_moved_by_a_run(engine, events):
    from urllib.parse import urlparse

    from wfhelpers import agent_principal

    from talents.workflow.service import AssignmentService

    make_agent(engine, "rare", skills=[("python", 5)])
    make_need(engine, "low", priority=4)
    run_allocation(engine, dry_run=False)
    with session_scope(engine) as s:
        a = s.exec(select(Assignment)).one()
        AssignmentService(s).accept(a.id, agent_principal("rare"))
    make_need(engine, "crise", priority=1)
    out = run_allocation(engine, dry_run=False)
    assert out["withdrawn"] == [] and _states(engine) == {("low", "rare"): "accepted"}
    assert [u["need"] for u in out["unfilled"]] == ["crise"]
    assert urlparse(events.last("assignment.approval_requested").data["approval_url"]).path.startswith("/manager/")


@SQLITE_ONLY
def test_a_forced_assignment_is_fixed_for_the_solver(engine):
    x = make_agent(engine, "x", skills=[("python", 5)])
    low = make_need(engine, "low", priority=4)
    with session_scope(engine) as s:
        OverrideService(s).force(REVIEWER_P, x, low, 0, "compétence rare, décision DINUM")
    make_need(engine, "crise", priority=1)
    out = run_allocation(engine, dry_run=False)
    assert out["withdrawn"] == [] and _states(engine) == {("low", "x"): "proposed"}
    assert [u["need"] for u in out["unfilled"]] == ["crise"]


def test_a_new_priority_one_need_triggers_a_run_for_it(engine, events):
    make_agent(engine, "a", skills=[("python", 5)])
    n = make_need(engine, "routine", priority=3)  # not a trigger
    with session_scope(engine) as s:
        assert s.exec(select(AllocationTrigger)).all() == []
    make_need(engine, "crise", priority=1)
    with session_scope(engine) as s:  # the trigger is written with the need, in its transaction
        assert [t.reason for t in s.exec(select(AllocationTrigger)).all()] == ["need.created"]
    out = process_allocation_triggers(engine)
    assert out is not None and out["trigger"] == "priority_1"
    assert _states(engine) == {("crise", "a"): "proposed"}
    assert process_allocation_triggers(engine) is None  # consumed
    with session_scope(engine) as s:  # priority raised to 1
        need = s.get(Need, n)
        need.priority = 1
        s.add(need)
    with session_scope(engine) as s:
        pending = s.exec(select(AllocationTrigger).where(AllocationTrigger.processed_at.is_(None))).all()
        assert [(t.need_id, t.reason) for t in pending] == [(n, "need.priority_raised")]


@SQLITE_ONLY
def test_the_scheduled_job_consumes_triggers_and_runs_everything(engine):
    make_agent(engine, "a", skills=[("python", 5)])
    make_agent(engine, "b", skills=[("python", 5)])
    make_need(engine, "routine", priority=3)
    make_need(engine, "crise", priority=1)
    out = run_scheduled_allocation(engine)
    assert out["triggered_run"] is not None and out["run"]["proposed"] == 1 and out["run"]["trigger"] == "scheduled"
    assert set(_states(engine)) == {("crise", "a"), ("routine", "b")} or \
        set(_states(engine)) == {("crise", "b"), ("routine", "a")}


@SQLITE_ONLY
def test_allocate_cli_prints_exactly_the_bulk_contract_and_a_dry_run_writes_nothing(engine):
    from talents.cli import app

    make_agent(engine, "A-1", skills=[("python", 5)])
    make_need(engine, "N-1", roles=[
        {"title": "Dev", "share": 0.6, "skills": [("python", 3, True)]},
        {"title": "Data", "share": 0.6, "skills": [("python", 3, True)]},
    ])
    before = _counts(engine)
    res = CliRunner().invoke(app, ["allocate", "--dry-run", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert list(doc)[:4] == ["assignments", "unfilled", "objective", "bound"]
    assert doc["assignments"] == [{"need": "N-1", "role": 0, "agent": "A-1", "share": 0.6,
                                   "score": doc["assignments"][0]["score"]}]
    assert all(set(a) == {"need", "role", "agent", "share", "score"} for a in doc["assignments"])
    assert isinstance(doc["assignments"][0]["score"], float)
    assert [(u["need"], u["role"], u["seats"]) for u in doc["unfilled"]] == [("N-1", 1, 1)]
    assert isinstance(doc["objective"], float) and isinstance(doc["bound"], float)
    assert _counts(engine) == before
    res = CliRunner().invoke(app, ["allocate", "--json"])
    assert json.loads(res.stdout)["dry_run"] is False and _counts(engine) != before


@SQLITE_ONLY
def test_with_the_sync_setting_a_priority_one_need_is_staffed_right_after_its_commit(engine, monkeypatch):
    from talents.kernel.settings import reset_settings

    monkeypatch.setenv("TALENTS_ALLOCATION_TRIGGER_SYNC", "true")
    reset_settings()
    make_agent(engine, "a", skills=[("python", 5)])
    make_need(engine, "crise", priority=1)
    assert _states(engine) == {("crise", "a"): "proposed"}
    with session_scope(engine) as s:
        assert all(t.processed_at is not None for t in s.exec(select(AllocationTrigger)).all())


@SQLITE_ONLY
def test_a_proposal_of_an_erased_agent_is_withdrawn_by_the_next_run(engine):
    from profiles.models import Agent, Availability
    from talents.kernel.db import utcnow

    x = make_agent(engine, "x", skills=[("python", 5)])
    make_agent(engine, "y", skills=[("python", 4)])
    make_need(engine, "n1")
    run_allocation(engine, dry_run=False)
    assert _states(engine) == {("n1", "x"): "proposed"}
    with session_scope(engine) as s:  # what erasure does to the profile (talents.auth.gdpr)
        agent = s.get(Agent, x)
        agent.erased_at = agent.updated_at = utcnow()
        s.add(agent)
        for w in s.exec(select(Availability).where(Availability.agent_id == x)).all():
            s.delete(w)
    out = run_allocation(engine, dry_run=False)
    assert [(w["agent"], w["reason"]) for w in out["withdrawn"]] == [("x", "not_candidate")]  # out of the index
    assert _states(engine) == {("n1", "x"): "withdrawn", ("n1", "y"): "proposed"}
