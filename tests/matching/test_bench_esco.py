"""The real-data benchmark's data and metrics (small cases, so it stays fast)."""

import pytest

from bench.allocation_esco import right_occupation_bound
from bench.esco import builtin_case, esco_case, load_esco
from bench.quality_esco import REFERENCES, engine, evaluate, prepare

pytestmark = pytest.mark.unit


def test_the_vendored_esco_subset_has_its_skills_labels_and_occupations():
    tax, jobs = load_esco()
    assert len(tax) == 877
    assert sum(1 for s in tax if s.aliases) > 600
    assert all(len(j.skills) >= 6 and all(s in tax for s in j.skills) for j in jobs)
    assert any(j.related for j in jobs)


def test_agents_declare_part_of_their_occupation_and_half_the_needs_have_two_must_haves():
    case = esco_case(seed=3, agents=300, needs_per_job=2)
    for a in case.agents:
        if a.occupation >= 0:
            own = set(case.jobs[a.occupation].skills)
            assert 0 < len(own & set(a.true)) <= max(2, 2 * len(own) // 3)
    kinds = [sum(req for *_, req in n.typed) for n in case.needs]
    assert set(kinds) == {0, 2} and kinds.count(2) == len(kinds) // 2
    assert all(5 <= len(n.typed) <= 8 for n in case.needs)


@pytest.mark.parametrize(
    "make", [lambda: esco_case(seed=1, agents=400, needs_per_job=1), lambda: builtin_case(1, 300, 2)]
)
def test_every_method_ranks_only_eligible_agents_and_scores_within_bounds(make):
    p = prepare(make())
    for method in [*REFERENCES.values(), engine()]:
        res = evaluate(p, method(p))
        for kind in ("must-haves", "none", "all"):
            assert 0.0 <= res[kind]["ndcg"] <= 1.0 and 0.0 <= res[kind]["p3"] <= 1.0
        assert res["all"]["ineligible"] == 0
    # the ranking is informative: far above what a random order of eligible agents gets
    assert evaluate(p, engine()(p))["all"]["ndcg"] > 0.6


def test_the_right_occupation_bound_never_exceeds_the_seats_nor_the_fitting_agents():
    p = prepare(esco_case(seed=2, agents=300, needs_per_job=1))
    bound = right_occupation_bound(p, seats=2)
    case = p.case
    fitting = {
        a.agent_id for n in case.needs for a in case.agents if a.occupation == n.occupation and case.eligible(n, a)
    }
    assert 0 < bound <= min(2 * len(p.case.needs), len(fitting))
