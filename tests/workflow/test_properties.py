"""Property tests over a real (SQLite) database: random transition sequences never leave the life cycle,
and random commitments never put an agent above 100 % nor above their declared availability."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest
from concurrency_ops import overcommitted
from factories import make_agent, make_need
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select
from wfhelpers import LEAD_P, REVIEWER_P, agent_principal

from matching.availability import eligibility
from matching.types import AvailabilityWindow, Commitment
from needs.models import Role
from talents.assignments.models import ALL_STATES, COMMITTED_STATES, TERMINAL_STATES, Assignment
from talents.kernel.db import session_scope
from talents.kernel.errors import ConflictError, DomainError, InvalidTransitionError
from talents.workflow.overrides import OverrideService
from talents.workflow.service import AssignmentService
from talents.workflow.transitions import TRANSITIONS

pytestmark = pytest.mark.integration

_ids = itertools.count()
ACTIONS = ["accept", "decline", "approve", "refuse", "activate", "complete", "withdraw", "expire"]
SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _act(engine, action: str, aid: int, ext: str, links: list[str]) -> str:
    """Try one transition the way its caller would; returns the state reached."""
    with session_scope(engine) as s:
        svc = AssignmentService(s)
        if action == "accept":
            a = svc.accept(aid, agent_principal(ext))
            links.append(svc.request_approval(a, "test").rsplit("/", 1)[1])
        elif action == "decline":
            a = svc.decline(aid, agent_principal(ext))
        elif action in ("approve", "refuse"):
            a = svc.manager_decide(links[-1] if links else "none", action)
        elif action == "activate":
            a = svc.activate(aid, LEAD_P)
        elif action == "complete":
            a = svc.complete(aid, LEAD_P, "bien")
        elif action == "withdraw":
            a = svc.withdraw(aid, REVIEWER_P, "test")
        else:
            a = svc.transition(svc.get(aid), "expired", "system")
        return a.state


@SETTINGS
@given(st.lists(st.sampled_from(ACTIONS), min_size=1, max_size=10))
def test_random_transition_sequences_never_leave_the_life_cycle(sqlite_engine, actions):
    engine = sqlite_engine
    ext = f"p{next(_ids)}"
    agent = make_agent(engine, ext)
    need = make_need(engine, f"n-{ext}")
    with session_scope(engine) as s:
        role = s.exec(select(Role).where(Role.need_id == need)).one()
        aid = AssignmentService(s).propose(need, role.id, agent, "test").id
    state, links = "proposed", []
    for action in actions:
        before = state
        try:
            state = _act(engine, action, aid, ext, links)
        except DomainError as exc:
            assert exc.status_code in (404, 409), exc  # refused cleanly: forged/used link, wrong state
            with session_scope(engine) as s:
                assert s.get(Assignment, aid).state == before, "a refused transition changed the state"
            continue
        assert (before, state) in TRANSITIONS, f"{before} → {state} by {action}"
        assert state in ALL_STATES
    with session_scope(engine) as s:
        a = s.get(Assignment, aid)
        assert a.state == state and a.version >= 1
        if state in TERMINAL_STATES:
            for to in ALL_STATES:
                with pytest.raises(InvalidTransitionError):
                    AssignmentService(s).allowed(a, to)


_day = st.integers(min_value=0, max_value=60)


@st.composite
def _period(draw):
    a, b = sorted((draw(_day), draw(_day)))
    return a, b


@SETTINGS
@given(
    windows=st.lists(st.tuples(_period(), st.sampled_from([0.6, 0.8, 1.0])), min_size=1, max_size=3),
    asks=st.lists(st.tuples(_period(), st.sampled_from([0.55, 0.6, 0.7, 0.8, 1.0]), st.booleans()),
                  min_size=1, max_size=6),
)
def test_random_commitments_never_overcommit_and_succeed_exactly_when_capacity_allows(sqlite_engine, windows,
                                                                                       asks):
    engine = sqlite_engine
    base = date(2029, 1, 1)
    ext = f"q{next(_ids)}"
    wins = [(base + timedelta(days=a), base + timedelta(days=b), share) for (a, b), share in windows]
    agent = make_agent(engine, ext, windows=wins)
    model: list[Commitment] = []
    avail = [AvailabilityWindow(*w) for w in wins]
    for i, ((a, b), share, forced) in enumerate(asks):
        start, end = base + timedelta(days=a), base + timedelta(days=b)
        need = make_need(engine, f"{ext}-{i}", start=start, end=end, roles=[{"share": share}])
        expected = eligibility(avail, model, start, end, share).eligible
        try:
            with session_scope(engine) as s:
                if forced:
                    OverrideService(s).force(REVIEWER_P, agent, need, 0, "test")
                else:
                    role = s.exec(select(Role).where(Role.need_id == need)).one()
                    AssignmentService(s).propose(need, role.id, agent, "test")
            ok = True
        except ConflictError:
            ok = False
        assert ok == expected, f"ask {i}: {share:.0%} {start}→{end}, model said {expected}"
        if ok:
            model.append(Commitment(start, end, share))
        assert overcommitted(engine) == []
    with session_scope(engine) as s:
        live = s.exec(select(Assignment).where(Assignment.agent_id == agent,
                                               Assignment.state.in_(COMMITTED_STATES))).all()
        assert len(live) == len(model)
