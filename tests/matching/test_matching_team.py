from __future__ import annotations

from datetime import date

import pytest

from matching.ranking import CandidateIndex
from matching.team import propose_team

pytestmark = pytest.mark.unit


def members(proposal):
    return [(s.role_id, s.agent_id) for s in proposal.seats]


def test_no_agent_takes_two_seats_and_each_role_gets_its_count(small_taxonomy, make_agent, make_role):
    profiles = [make_agent(f"dev{i}", [("py", 3 + i % 3), ("sql", 3)]) for i in range(4)]
    index = CandidateIndex().fit(small_taxonomy, profiles)
    roles = [
        make_role([("py", 3)], role_id="back", count=2),
        make_role([("sql", 3)], role_id="data", count=2),
    ]
    team = index.propose_team(roles)
    agents = [a for _, a in members(team)]
    assert len(agents) == 4 == len(set(agents))
    assert sorted(r for r, _ in members(team)) == ["back", "back", "data", "data"]
    assert team.unfilled == []


def test_joint_assignment_gives_each_role_the_agent_it_needs(small_taxonomy, make_agent, make_role):
    # "both" is the best Python dev, but the only SQL one: greedy would waste them on the Python role.
    profiles = [make_agent("both", [("py", 5), ("sql", 3)]), make_agent("pyonly", [("py", 4)])]
    index = CandidateIndex().fit(small_taxonomy, profiles)
    roles = [
        make_role([("py", 3)], role_id="back"),
        make_role([("sql", 3)], required=("sql",), role_id="data"),
    ]
    assert sorted(members(index.propose_team(roles))) == [("back", "pyonly"), ("data", "both")]


def test_unfilled_seats_are_reported_with_a_reason(small_taxonomy, make_agent, make_role):
    index = CandidateIndex().fit(small_taxonomy, [make_agent("a", [("py", 3)])])
    team = index.propose_team([make_role([("py", 3)], count=2), make_role([("k8s", 3)], role_id="ops")])
    assert members(team) == [("r1", "a")]
    reasons = {(u.role_id, u.seat): u.reason for u in team.unfilled}
    assert reasons == {
        ("r1", 1): "Aucun agent éligible restant pour ce siège",
        ("ops", 0): "Aucun agent éligible pour ce rôle",
    }


def test_a_contested_agent_goes_to_the_higher_priority_role(small_taxonomy, make_agent, make_role):
    index = CandidateIndex().fit(small_taxonomy, [make_agent("solo", [("py", 3)])])
    roles = [
        make_role([("py", 3)], role_id="low", priority=4),
        make_role([("py", 3)], role_id="urgent", priority=1),
    ]
    assert members(index.propose_team(roles)) == [("urgent", "solo")]


def test_capacity_is_respected_across_roles_when_an_agent_may_hold_several(
    small_taxonomy, make_agent, make_role
):
    index = CandidateIndex().fit(small_taxonomy, [make_agent("a", [("py", 3)], share=0.8)])
    roles = [
        make_role([("py", 3)], role_id="q1", start=date(2027, 1, 1), end=date(2027, 3, 31), priority=1),
        make_role([("py", 3)], role_id="q2", start=date(2027, 4, 1), end=date(2027, 6, 30), priority=2),
        make_role([("py", 3)], role_id="feb", start=date(2027, 2, 1), end=date(2027, 2, 28), priority=3),
    ]
    team = propose_team(index, roles, max_roles_per_agent=2)
    assert members(team) == [("q1", "a"), ("q2", "a")]  # feb overlaps q1: 0.6 + 0.6 > 0.8
    assert [u.role_id for u in team.unfilled] == ["feb"]
    assert [u.role_id for u in propose_team(index, roles).unfilled] == ["q2", "feb"]  # default: once


def test_team_skill_coverage_counts_direct_and_related_skills(small_taxonomy, make_agent, make_role):
    index = CandidateIndex().fit(small_taxonomy, [make_agent("a", [("py", 3), ("js", 3)])])
    team = index.propose_team([make_role([("py", 3), ("ts", 3), ("k8s", 3)])])
    assert team.coverage["team"] == {
        "covered": ["py", "ts"],
        "missing": ["k8s"],
        "ratio": pytest.approx(2 / 3, abs=1e-3),
    }
    assert team.coverage["by_role"]["r1"]["missing"] == ["k8s"]
