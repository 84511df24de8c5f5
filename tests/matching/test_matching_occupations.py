"""The occupations signal: which trade a set of skills points to, and how it orders candidates."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from matching.occupations import OccupationModel, top_per_row
from matching.ranking import CandidateIndex
from matching.taxonomy import Taxonomy
from matching.types import TaxonomySkill as T

pytestmark = pytest.mark.unit

DEV, DATA = "occ:dev", "occ:data"


@pytest.fixture(scope="module")
def trades() -> Taxonomy:
    """Two trades sharing Python: developers (JS, TS, front-end) and data people (SQL, PostgreSQL, ML)."""
    return Taxonomy(
        [
            T("py", "Python", occupations=(DEV, DATA)),
            T("js", "JavaScript", occupations=(DEV,)),
            T("ts", "TypeScript", occupations=(DEV,)),
            T("front", "Développement front-end", occupations=(DEV,)),
            T("sql", "SQL", occupations=(DATA,)),
            T("pg", "PostgreSQL", occupations=(DATA,)),
            T("ml", "Apprentissage automatique", occupations=(DATA,)),
            T("cobol", "COBOL"),
        ]
    )


def test_the_taxonomy_lists_each_occupation_with_the_skills_that_name_it(trades):
    occ = trades.occupations()
    assert occ == {DATA: ("py", "sql", "pg", "ml"), DEV: ("py", "js", "ts", "front")}
    assert Taxonomy([T("py", "Python")]).occupations() == {}


def test_the_occupation_listing_more_of_the_skills_is_the_likelier():
    membership = sp.csr_matrix(np.array([[1, 1, 1, 0, 0], [1, 0, 0, 1, 1]]))  # two occupations, five skills
    model = OccupationModel(sharpness=4.6).fit(membership)
    post = model.posterior(sp.csr_matrix(np.array([[1, 1, 1, 0, 0], [1, 0, 0, 0, 1], [1, 0, 0, 0, 0]]))).toarray()
    assert post[0, 0] > 0.99 and post[1, 1] > 0.99
    assert post[2, 0] == pytest.approx(post[2, 1])  # one shared skill says nothing between them
    assert np.all(post.sum(axis=1) <= 1.0 + 1e-12)


def test_a_set_sharing_no_skill_with_any_occupation_gets_no_opinion():
    model = OccupationModel().fit(sp.csr_matrix(np.array([[1, 0, 0]])))
    assert model.posterior(sp.csr_matrix(np.array([[0, 0, 1]]))).nnz == 0


def test_only_the_most_likely_occupations_are_kept():
    m = sp.csr_matrix(np.array([[0.1, 0.5, 0.2, 0.4], [0.0, 0.3, 0.0, 0.0]]))
    kept = top_per_row(m, 2).toarray()
    assert kept.tolist() == [[0.0, 0.5, 0.0, 0.4], [0.0, 0.3, 0.0, 0.0]]


def test_the_rest_of_the_profile_puts_the_agent_of_the_roles_trade_first(trades, make_agent, make_role):
    # Both hold Python, the only asked skill they have; the developer's other skills are the role's trade.
    profiles = [
        make_agent("a_data", [("py", 3), ("sql", 3), ("pg", 3)]),
        make_agent("b_dev", [("py", 3), ("js", 3), ("ts", 3)]),
    ]
    role = make_role([("py", 3), ("front", 3)])
    without = CandidateIndex(occupation_weight=0.0).fit(trades, profiles).rank(role)
    assert [c.agent_id for c in without.candidates] == ["a_data", "b_dev"]  # a tie, broken by id
    assert without.candidates[0].score == pytest.approx(without.candidates[1].score)
    got = CandidateIndex().fit(trades, profiles).rank(role)
    assert [c.agent_id for c in got.candidates] == ["b_dev", "a_data"]
    assert got.candidates[0].explanation["parts"]["text"] > got.candidates[1].explanation["parts"]["text"]


def test_an_agent_added_later_scores_as_if_it_had_been_indexed_at_fit(trades, make_agent, make_role):
    others = [make_agent(f"x{i}", [("py", 2), ("ml", 3)]) for i in range(3)]
    dev = make_agent("dev", [("py", 3), ("js", 3), ("cobol", 2)])
    role = make_role([("py", 3), ("ts", 3)])
    # rarity and co-occurrence are learned at fit; without them, nothing else may differ
    params = {"use_rarity": False, "cooccurrence_credit": 0.0}
    fitted = CandidateIndex(**params).fit(trades, [*others, dev]).rank(role)
    later = CandidateIndex(**params).fit(trades, others).upsert(dev).rank(role)
    assert [(c.agent_id, round(c.score, 9)) for c in later.candidates] == [
        (c.agent_id, round(c.score, 9)) for c in fitted.candidates
    ]
    assert later.candidates[0].agent_id == "dev"


def test_occupations_computed_by_blocks_of_profiles_are_the_same(trades, make_agent, make_role, monkeypatch):
    import matching.index

    profiles = [make_agent(f"a{i}", [("py", 3), ("js" if i % 2 else "sql", 3)]) for i in range(5)]
    role = make_role([("py", 3), ("ts", 3)])
    whole = CandidateIndex().fit(trades, profiles).rank(role)
    monkeypatch.setattr(matching.index, "_OCCUPATION_BLOCK", 2)
    blocks = CandidateIndex().fit(trades, profiles).rank(role)
    assert [(c.agent_id, c.score) for c in blocks.candidates] == [(c.agent_id, c.score) for c in whole.candidates]
    assert [c.agent_id for c in whole.candidates][:2] == ["a1", "a3"]
