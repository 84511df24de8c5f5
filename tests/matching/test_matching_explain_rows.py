"""The vectorised explanations and eligibility of a ranking equal the reference path, float for float.

``CandidateIndex.rank`` explains its candidates from the matrix, all at once, and checks eligibility on
the segments kept in the index; ``CandidateIndex.explain`` and ``matching.availability.eligibility``
are the one-agent reference. Random pools (overlapping windows, commitments, related skills, upserted
rows, odd profiles) must give the same dictionaries.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matching.availability import eligibility
from matching.ranking import CandidateIndex
from matching.types import (
    AgentSkill,
    AvailabilityWindow,
    CandidateProfile,
    Commitment,
    RoleRequirement,
    SkillRequirement,
)

pytestmark = pytest.mark.unit

D0 = date(2027, 1, 1)
SKILLS = ["py", "js", "ts", "sql", "pg", "k8s", "ml", "rare", "a11y"]
SHARES = [0.0, 0.2, 0.3, 0.5, 0.55, 0.6, 0.7, 0.8, 1.0, 1.2]
WORDS = ["python", "données", "front", "sécurité", "cloud", ""]


def day(n: int) -> date:
    return D0 + timedelta(days=n)


@st.composite
def spans(draw, share=st.sampled_from(SHARES)):
    s = draw(st.integers(0, 150))
    e = draw(st.integers(s, s + 120))
    return day(s), day(e), draw(share)


@st.composite
def agents(draw, agent_id: str) -> CandidateProfile:
    n = draw(st.integers(0, 5))
    ids = draw(st.lists(st.sampled_from(SKILLS), min_size=n, max_size=n, unique=not draw(st.booleans())))
    skills = tuple(
        AgentSkill(
            sid,
            draw(st.integers(1, 5) if draw(st.integers(0, 9)) else st.sampled_from([0, 6])),
            last_used=draw(st.none() | st.integers(-3000, 60).map(day)),
            interest=draw(st.none() | st.integers(1, 5)),
        )
        for sid in ids
    )
    windows = tuple(AvailabilityWindow(*w) for w in draw(st.lists(spans(), max_size=3)))
    commitments = tuple(
        Commitment(*c) for c in draw(st.lists(spans(st.sampled_from([0.1, 0.2, 0.3, 0.5])), max_size=2))
    )
    text = " ".join(draw(st.lists(st.sampled_from(WORDS), max_size=3)))
    return CandidateProfile(agent_id, skills, windows, commitments, text, open_proposals=draw(st.integers(0, 4)))


@st.composite
def roles(draw) -> RoleRequirement:
    n = draw(st.integers(1, 4))
    ids = draw(st.lists(st.sampled_from(SKILLS), min_size=n, max_size=n))
    asked = tuple(
        SkillRequirement(sid, draw(st.integers(1, 5)), draw(st.sampled_from([0.5, 1.0, 2.0])), draw(st.booleans()))
        for sid in ids
    )
    start, end, _ = draw(spans())
    share = draw(st.sampled_from([0.55, 0.6, 0.8, 1.0]))
    return RoleRequirement("r", draw(st.sampled_from(["python", "données cloud", ""])), share, start, end, asked)


@st.composite
def cases(draw):
    n = draw(st.integers(1, 25))
    pool = [draw(agents(f"a{i:02}")) for i in range(n)]
    late = [draw(agents(f"a{i:02}")) for i in draw(st.lists(st.integers(0, n + 5), max_size=6))]
    return pool, late, draw(roles()), draw(st.booleans()), draw(st.integers(-400, 400))


def _index(small_taxonomy, pool, late) -> CandidateIndex:
    index = CandidateIndex(cooccurrence_min_support=2, merge_every=4).fit(small_taxonomy, pool)
    for p in late:  # upserts: some merged into the matrix, the last ones still in the overlay
        index.upsert(p)
    return index


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_ranked_explanations_equal_the_one_agent_reference(small_taxonomy, case):
    pool, late, role, fairness, shift = case
    index = _index(small_taxonomy, pool, late)
    today = role.start + timedelta(days=shift)
    got = index.rank(role, top=1000, near_misses=5, fairness=fairness, today=today)
    for c in [*got.candidates, *got.near_misses]:
        profile = index.profile(c.agent_id)
        assert profile is not None
        assert c.explanation == index.explain(profile, role, today=today, fairness=fairness)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_every_row_is_explained_and_judged_as_the_reference_does(small_taxonomy, case):
    pool, late, role, fairness, shift = case
    index = _index(small_taxonomy, pool, late)
    today = role.start + timedelta(days=shift)
    rows = np.array([index.row_of_[a] for a in sorted(index.row_of_)], dtype=np.int64)
    rv = index._compile(role)
    period = index._period(rows, role.start, role.end, role.share, 0.5)
    text = index._exact(rows, rv, today, fairness)[2]
    got = [
        e if isinstance(e, dict) else e()
        for e in index._explain_rows(rows, role, rv, today, fairness, 0.5, text, period)
    ]
    for i, row in enumerate(rows.tolist()):
        p = index.profiles_[row]
        el = eligibility(p.availability, p.commitments, role.start, role.end, role.share)
        a, b = period.indptr[i], period.indptr[i + 1]
        segments = list(zip(period.start[a:b].tolist(), period.end[a:b].tolist(), period.free[a:b].tolist()))
        assert segments == [(s.start.toordinal(), s.end.toordinal(), s.free) for s in el.segments]
        assert (bool(period.eligible[i]), period.min_free[i], period.short_days[i]) == (
            el.eligible,
            el.min_free,
            el.short_days,
        )
        assert got[i] == index.explain(p, role, today=today, fairness=fairness, eligibility_=el)


def test_an_odd_profile_is_explained_by_the_reference(small_taxonomy, make_agent, make_role):
    odd = (AgentSkill("py", 7, interest=5),)  # a level out of range: the matrix holds 5, the profile says 7
    index = CandidateIndex().fit(small_taxonomy, [make_agent("odd", skill_objects=odd), make_agent("a", [("py", 3)])])
    assert not index.plain_[index.row_of_["odd"]] and index.plain_[index.row_of_["a"]]
    r = make_role([("py", 3)])
    for c in index.rank(r).candidates:
        assert c.explanation == index.explain(index.profile(c.agent_id), r)



def test_explanations_read_after_the_index_changed_show_the_ranking_s_state(small_taxonomy, make_agent, make_role):
    # their numbers are computed when the first is read, from what the ranking read of the index
    pool = [make_agent(f"a{i}", [("py", 1 + i % 5), ("js", 3)], text="python") for i in range(6)]
    role = make_role([("py", 3), ("ts", 2)])
    now, later = (CandidateIndex().fit(small_taxonomy, pool) for _ in range(2))
    expected = [(c.agent_id, c.explanation) for c in now.rank(role).candidates]
    ranking = later.rank(role)
    later.upsert(make_agent("a1", [("ts", 5)]))
    later.remove("a2")
    later.upsert(make_agent("a3", [("py", 5), ("sql", 2)]))
    later.merge()
    assert len(expected) == 6 and any(e["related"] for _, e in expected)
    assert [(c.agent_id, c.explanation) for c in ranking.candidates] == expected
