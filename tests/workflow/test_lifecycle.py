"""The assignment life cycle through the service: transitions, permissions, versions, manager links."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlparse

import pytest
from factories import START, make_agent, make_need
from sqlmodel import select
from wfhelpers import ADMIN_P, LEAD_P, OTHER_LEAD_P, REVIEWER_P, agent_principal

from needs.models import Role
from profiles.models import AgentSkill
from talents.assignments.models import ApprovalLinkUse, Assignment, AuditEvent
from talents.kernel.db import session_scope
from talents.kernel.errors import (
    ConflictError,
    InvalidTransitionError,
    NotFoundError,
    PermissionDeniedError,
    ValidationFailedError,
)
from talents.workflow.service import AssignmentService
from talents.workflow.tokens import make_approval_token

pytestmark = pytest.mark.integration
# Backend-independent logic: SQLite only (the PostgreSQL-specific paths are covered by the other tests).
SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"])

EVENT_KEYS = {"agent_email", "agent_name", "manager_email", "lead_email", "need_title", "role_title", "priority",
              "approval_url", "reason"}


@pytest.fixture
def proposal(engine, events):
    """Agent x proposed on role 0 of need n1 (lead: LEAD_P); returns the assignment id."""
    x = make_agent(engine, "x", skills=[("python", 4), ("django", 3)])
    n = make_need(engine, "n1")
    with session_scope(engine) as s:
        role = s.exec(select(Role).where(Role.need_id == n)).one()
        return AssignmentService(s).propose(n, role.id, x, "test").id


def _do(engine, fn, *args, **kw):
    with session_scope(engine) as s:
        a = fn(AssignmentService(s, kw.pop("now", None)), *args, **kw)
        return a


def _token(events) -> str:
    return urlparse(events.last("assignment.approval_requested").data["approval_url"]).path.rsplit("/", 1)[1]


def test_the_whole_life_proposed_accepted_approved_active_completed(engine, proposal, events):
    x = agent_principal("x")
    a = _do(engine, lambda s: s.accept(proposal, x, version=1))
    assert a.state == "accepted" and a.version == 2
    token = _token(events)
    view = _do(engine, lambda s: s.approval_view(token))
    assert view["usable"] and view["agent_name"] == "Agent x"
    a = _do(engine, lambda s: s.manager_decide(token, "approve", "ok pour moi"))
    assert a.state == "approved"
    a = _do(engine, lambda s: s.activate(proposal, LEAD_P))
    assert a.state == "active"
    a = _do(engine, lambda s: s.complete(proposal, LEAD_P, "Excellent travail", ["python", "Django"]))
    assert a.state == "completed" and a.feedback == "Excellent travail"
    with session_scope(engine) as s:
        endorsed = {r.skill_id: r.endorsements for r in s.exec(select(AgentSkill)).all()}
        audit = [e.action for e in s.exec(select(AuditEvent).order_by(AuditEvent.id)).all()]
    assert endorsed == {"python": 1, "django": 1}
    assert audit == ["assignment.proposed", "assignment.accepted", "assignment.approval_requested",
                     "assignment.approved", "need.staffed", "assignment.activated", "assignment.completed"]
    assert events.kinds() == audit
    assert events.last("need.staffed").data["need_title"] == "Besoin n1"
    for e in events:
        if e.kind == "need.staffed":
            continue
        assert set(e.data) >= EVENT_KEYS, e.kind
        assert e.data["agent_email"] == "x@agents.gouv.fr" and e.data["lead_email"] == LEAD_P.email
        assert e.data["manager_email"] == "chef@interieur.gouv.fr" and e.data["priority"] == 3
    assert events.last("assignment.approval_requested").data["approval_url"].startswith("http")


@SQLITE_ONLY
def test_only_the_agent_accepts_or_declines(engine, proposal):
    for who in (LEAD_P, REVIEWER_P, agent_principal("y")):
        with pytest.raises(PermissionDeniedError):
            _do(engine, lambda s, who=who: s.accept(proposal, who))
        with pytest.raises(PermissionDeniedError):
            _do(engine, lambda s, who=who: s.decline(proposal, who))
    a = _do(engine, lambda s: s.decline(proposal, agent_principal("X"), "pas disponible"))  # e-mail case-insensitive
    assert a.state == "declined" and a.reason == "pas disponible"


@SQLITE_ONLY
def test_invalid_transitions_are_409_with_the_reason(engine, proposal):
    with pytest.raises(InvalidTransitionError, match="it is proposed; from proposed it may only become"):
        _do(engine, lambda s: s.activate(proposal, LEAD_P))
    with pytest.raises(InvalidTransitionError):
        _do(engine, lambda s: s.complete(proposal, LEAD_P, "bien"))
    _do(engine, lambda s: s.decline(proposal, agent_principal("x")))
    with pytest.raises(InvalidTransitionError, match="declined is final"):
        _do(engine, lambda s: s.accept(proposal, agent_principal("x")))
    assert InvalidTransitionError.status_code == 409


def test_a_stale_version_is_a_409_and_changes_nothing(engine, proposal):
    with pytest.raises(ConflictError, match="changed meanwhile"):
        _do(engine, lambda s: s.accept(proposal, agent_principal("x"), version=7))
    with session_scope(engine) as s:
        assert s.get(Assignment, proposal).state == "proposed"


@SQLITE_ONLY
def test_withdraw_needs_the_lead_of_the_need_or_a_reviewer_and_a_reason(engine, proposal, events):
    with pytest.raises(PermissionDeniedError):
        _do(engine, lambda s: s.withdraw(proposal, OTHER_LEAD_P, "non"))
    with pytest.raises(PermissionDeniedError):
        _do(engine, lambda s: s.withdraw(proposal, agent_principal("x"), "non"))
    with pytest.raises(ValidationFailedError):
        _do(engine, lambda s: s.withdraw(proposal, LEAD_P, "  "))
    a = _do(engine, lambda s: s.withdraw(proposal, LEAD_P, "le projet change de cap"))
    assert a.state == "withdrawn"
    assert events.last("assignment.withdrawn").data["reason"] == "le projet change de cap"


def test_the_manager_link_is_single_use(engine, proposal, events):
    _do(engine, lambda s: s.accept(proposal, agent_principal("x")))
    token = _token(events)
    _do(engine, lambda s: s.manager_decide(token, "refuse", "charge trop forte"))
    with pytest.raises(InvalidTransitionError, match="already been used"):
        _do(engine, lambda s: s.manager_decide(token, "approve"))
    with session_scope(engine) as s:
        assert s.get(Assignment, proposal).state == "refused"
        assert len(s.exec(select(ApprovalLinkUse)).all()) == 1
    assert not _do(engine, lambda s: s.approval_view(token))["usable"]


@SQLITE_ONLY
def test_a_link_of_an_older_version_an_expired_or_a_forged_link_is_refused(engine, proposal, events):
    _do(engine, lambda s: s.accept(proposal, agent_principal("x")))
    token = _token(events)
    old = make_approval_token(proposal, 1, datetime.now(UTC) + timedelta(days=1))
    with pytest.raises(InvalidTransitionError, match="out of date"):
        _do(engine, lambda s: s.manager_decide(old, "approve"))
    expired = make_approval_token(proposal, 2, datetime.now(UTC) - timedelta(seconds=1))
    with pytest.raises(InvalidTransitionError, match="expired"):
        _do(engine, lambda s: s.manager_decide(expired, "approve"))
    with pytest.raises(NotFoundError):
        _do(engine, lambda s: s.manager_decide(token[:-2] + "xx", "approve"))
    with pytest.raises(ValidationFailedError):
        _do(engine, lambda s: s.manager_decide(token, "maybe"))
    assert _do(engine, lambda s: s.manager_decide(token, "approve")).state == "approved"


def test_jobs_expire_unanswered_proposals_and_activate_started_assignments(engine, proposal, events):
    from talents.workflow.allocation_job import expire_and_activate

    y = make_agent(engine, "y")
    n2 = make_need(engine, "n2")
    with session_scope(engine) as s:
        role2 = s.exec(select(Role).where(Role.need_id == n2)).one()
        second = AssignmentService(s).propose(n2, role2.id, y, "test").id
    _do(engine, lambda s: s.accept(second, agent_principal("y")))
    _do(engine, lambda s: s.manager_decide(_token(events), "approve"))
    later = datetime.now(UTC) + timedelta(days=30)
    assert later.date() < START  # the need has not started yet
    done = expire_and_activate(engine, later)
    assert done == {"expired": [proposal], "activated": []}
    done = expire_and_activate(engine, datetime.combine(START, datetime.min.time(), UTC))
    assert done == {"expired": [], "activated": [second]}
    with session_scope(engine) as s:
        assert s.get(Assignment, proposal).state == "expired"
        assert s.get(Assignment, second).state == "active"
    assert "assignment.expired" in events.kinds() and "assignment.activated" in events.kinds()


@SQLITE_ONLY
def test_completion_feedback_endorses_only_skills_on_the_profile(engine, proposal, events):
    _do(engine, lambda s: s.accept(proposal, agent_principal("x")))
    _do(engine, lambda s: s.manager_decide(_token(events), "approve"))
    _do(engine, lambda s: s.activate(proposal, REVIEWER_P))
    with pytest.raises(ValidationFailedError, match="not a skill on the agent's profile"):
        _do(engine, lambda s: s.complete(proposal, LEAD_P, "bien", ["kubernetes"]))
    with pytest.raises(PermissionDeniedError):
        _do(engine, lambda s: s.complete(proposal, REVIEWER_P, "bien", []))
    with pytest.raises(ValidationFailedError):
        _do(engine, lambda s: s.complete(proposal, LEAD_P, " ", []))
    assert _do(engine, lambda s: s.complete(proposal, ADMIN_P, "bien", ["python"])).state == "completed"


@SQLITE_ONLY
def test_an_agent_sees_their_own_assignments_a_lead_those_of_their_needs(engine, proposal):
    from talents.workflow.service import AssignmentFilters

    with session_scope(engine) as s:
        svc = AssignmentService(s)
        assert svc.list(agent_principal("x"), AssignmentFilters())[1] == 1
        assert svc.list(agent_principal("y"), AssignmentFilters())[1] == 0
        assert svc.list(LEAD_P, AssignmentFilters())[1] == 1
        assert svc.list(OTHER_LEAD_P, AssignmentFilters())[1] == 0
        assert svc.list(REVIEWER_P, AssignmentFilters(state="proposed"))[1] == 1
        assert svc.list(REVIEWER_P, AssignmentFilters(state="active"))[1] == 0
