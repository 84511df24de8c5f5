"""Declines, refusals and removals are remembered per need: ranking, team proposal and allocation respect them."""

from __future__ import annotations

import pytest
from factories import make_agent, make_need
from sqlmodel import select
from wfhelpers import LEAD_P, REVIEWER_P, agent_principal

from needs.models import Need
from talents.assignments.exclusions import excluded_agents, left_out_of_need
from talents.assignments.models import Assignment
from talents.kernel.db import session_scope
from talents.kernel.errors import ValidationFailedError
from talents.ranking import RankingService
from talents.web.common import french_error
from talents.workflow.allocation import run_allocation
from talents.workflow.overrides import OverrideService
from talents.workflow.service import AssignmentService

pytestmark = pytest.mark.integration


def _proposed(engine, need_id: int) -> dict[str, int]:
    """External id of each agent holding a live proposal on the need → its assignment id."""
    with session_scope(engine) as s:
        rows = s.exec(select(Assignment).where(Assignment.need_id == need_id, Assignment.state == "proposed")).all()
        return {f"a{r.agent_id}": int(r.id) for r in rows}  # type: ignore[arg-type]


def _ranked_and_team(engine, need_id: int) -> tuple[list[int], list[int]]:
    with session_scope(engine) as s:
        ranking = RankingService(s)
        need = s.get(Need, need_id)
        ranked = ranking.rank(need, ranking.role_at(need, 0))
        team = ranking.team(need)
    return [c["agent_id"] for c in ranked["candidates"]], [seat["agent_id"] for seat in team["seats"]]


@pytest.fixture
def two_candidates(engine):
    best = make_agent(engine, "best", skills=[("python", 5)])
    second = make_agent(engine, "second", skills=[("python", 4)])
    need = make_need(engine, "n1")
    return best, second, need


def test_an_agent_who_declined_is_not_proposed_again_nor_ranked_for_that_need(engine, two_candidates):
    best, second, need = two_candidates
    assert _ranked_and_team(engine, need) == ([best, second], [best])
    run_allocation(engine, dry_run=False)
    (assignment,) = _proposed(engine, need).values()
    with session_scope(engine) as s:
        AssignmentService(s).decline(assignment, agent_principal("best"), reason="pas disponible")
    run_allocation(engine, dry_run=False)
    assert list(_proposed(engine, need)) == [f"a{second}"]
    with session_scope(engine) as s:
        assert excluded_agents(s, [need]) == {need: {best}}
        # what the ranking leaves out, in one query: the one who declined, and the member proposed since
        assert left_out_of_need(s.connection(), need) == {best, second}
    ranked, team = _ranked_and_team(engine, need)
    assert best not in ranked and best not in team
    # Another need still gets them.
    other = make_need(engine, "n2")
    assert _ranked_and_team(engine, other)[0][0] == best


def test_an_agent_dinum_removed_with_a_reason_is_no_longer_ranked_first_nor_proposed(engine, two_candidates):
    best, second, need = two_candidates
    run_allocation(engine, dry_run=False)
    (assignment,) = _proposed(engine, need).values()
    with session_scope(engine) as s:
        OverrideService(s).remove(REVIEWER_P, assignment, "conflit d'intérêts avec le projet")
    with session_scope(engine) as s:
        assert left_out_of_need(s.connection(), need) == {best}
    ranked, team = _ranked_and_team(engine, need)
    assert ranked == [second] and team == [second]
    dry = run_allocation(engine, dry_run=True)
    assert [(a["need"], a["agent"]) for a in dry["assignments"]] == [("n1", "second")]


def test_a_lead_withdrawal_with_a_reason_is_remembered_too(engine, two_candidates):
    best, _second, need = two_candidates
    run_allocation(engine, dry_run=False)
    (assignment,) = _proposed(engine, need).values()
    with session_scope(engine) as s:
        AssignmentService(s).withdraw(assignment, LEAD_P, "le profil ne convient pas à l'équipe")
        assert excluded_agents(s, [need]) == {need: {best}}


def test_a_withdrawal_by_a_run_for_a_higher_priority_need_is_not_held_against_the_agent(engine):
    rare = make_agent(engine, "rare", skills=[("python", 5)])
    low = make_need(engine, "low", priority=4)
    run_allocation(engine, dry_run=False)
    crisis = make_need(engine, "crise", priority=1)
    out = run_allocation(engine, dry_run=False)
    assert [w["agent"] for w in out["withdrawn"]] == ["rare"]
    with session_scope(engine) as s:
        assert excluded_agents(s, [low, crisis]) == {low: set(), crisis: set()}
        # withdrawn by the run from the low need, held by the crisis
        assert (left_out_of_need(s.connection(), low), left_out_of_need(s.connection(), crisis)) == (set(), {rare})
    assert list(_proposed(engine, crisis)) == [f"a{rare}"]


def test_a_hand_proposal_the_engine_would_not_make_needs_a_written_reason(engine, two_candidates):
    best, _second, need = two_candidates
    weak = make_agent(engine, "weak", skills=[("javascript", 2)])
    with session_scope(engine) as s, pytest.raises(ValidationFailedError) as low_score:
        AssignmentService(s).propose_manual(LEAD_P, need, 0, weak)
    assert low_score.value.field == "reason" and "below the minimum" in low_score.value.message
    run_allocation(engine, dry_run=False)
    (assignment,) = _proposed(engine, need).values()
    with session_scope(engine) as s:
        AssignmentService(s).decline(assignment, agent_principal("best"))
    with session_scope(engine) as s, pytest.raises(ValidationFailedError) as declined:
        AssignmentService(s).propose_manual(LEAD_P, need, 0, best)
    assert declined.value.field == "reason" and "declined" in declined.value.message
    with session_scope(engine) as s:
        again = AssignmentService(s).propose_manual(LEAD_P, need, 0, best, "a changé d'avis, nous en avons parlé")
        assert again.state == "proposed" and again.reason.startswith("a changé")


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_pages_say_in_french_why_a_reason_is_needed(engine, two_candidates):
    _best, _second, need = two_candidates
    weak = make_agent(engine, "weak", skills=[("javascript", 2)])
    with session_scope(engine) as s, pytest.raises(ValidationFailedError) as refused:
        AssignmentService(s).propose_manual(LEAD_P, need, 0, weak)
    assert french_error(refused.value).startswith("Un motif écrit est nécessaire")
