from __future__ import annotations

import json
import random
from datetime import date, timedelta

import numpy as np
import pytest
from sklearn.feature_extraction.text import HashingVectorizer

from matching.availability import eligibility
from matching.hashing import TextHasher
from matching.ranking import CandidateIndex
from matching.types import AgentSkill, AvailabilityWindow, CandidateProfile, Commitment

pytestmark = pytest.mark.unit


def ids(ranking):
    return [c.agent_id for c in ranking.candidates]


def fit(taxonomy, profiles, **params):
    return CandidateIndex(**params).fit(taxonomy, profiles)


# ------------------------------------------------------------------ eligibility
def test_agent_below_the_floor_is_never_a_candidate(small_taxonomy, make_agent, make_role):
    index = fit(small_taxonomy, [make_agent("a", [("py", 5)], share=1.0)])
    assert index.rank(make_role(share=0.5)).candidates == []
    assert ids(index.rank(make_role(share=0.51))) == ["a"]


def test_free_share_exactly_equal_to_role_share_is_accepted(small_taxonomy, make_agent, make_role):
    index = fit(small_taxonomy, [make_agent("a", [("py", 3)], share=0.6)])
    assert ids(index.rank(make_role(share=0.6))) == ["a"]


def test_one_short_day_excludes_the_agent(small_taxonomy, make_agent, make_role):
    gap = (
        AvailabilityWindow(date(2027, 1, 1), date(2027, 4, 14), 0.8),
        AvailabilityWindow(date(2027, 4, 16), date(2027, 12, 31), 0.8),
    )
    one_day = (Commitment(date(2027, 4, 20), date(2027, 4, 20), 0.3),)
    index = fit(
        small_taxonomy,
        [
            make_agent("gap", [("py", 3)], windows=gap),
            make_agent("busy", [("py", 3)], commitments=one_day),
            make_agent("ok", [("py", 3)]),
        ],
    )
    assert ids(index.rank(make_role(), near_misses=0)) == ["ok"]


def test_an_agent_missing_a_required_skill_is_not_a_candidate(small_taxonomy, make_agent, make_role):
    index = fit(small_taxonomy, [make_agent("a", [("py", 5)]), make_agent("b", [("py", 3), ("sql", 3)])])
    r = make_role([("py", 3), ("sql", 3)], required=("sql",))
    assert ids(r and index.rank(r)) == ["b"]


def test_agents_with_nothing_in_common_with_the_role_are_not_listed(small_taxonomy, make_agent, make_role):
    index = fit(small_taxonomy, [make_agent("a", [("k8s", 5)]), make_agent("b", [("py", 3)])])
    assert ids(index.rank(make_role())) == ["b"]


def test_ineligible_agents_never_appear_and_eligible_ones_all_do(small_taxonomy, make_agent, make_role):
    rnd = random.Random(7)
    skills = ["py", "js", "ts", "sql", "pg", "k8s", "ml"]
    profiles = []
    for i in range(300):
        start = date(2027, 1, 1) + timedelta(days=rnd.randint(0, 120))
        end = start + timedelta(days=rnd.randint(10, 250))
        commits = ()
        if rnd.random() < 0.3:
            c0 = date(2027, 1, 1) + timedelta(days=rnd.randint(0, 200))
            commits = (Commitment(c0, c0 + timedelta(days=rnd.randint(0, 30)), rnd.choice([0.2, 0.3, 0.5])),)
        sk = [(s, rnd.randint(1, 5)) for s in rnd.sample(skills, rnd.randint(1, 3))]
        profiles.append(
            make_agent(
                f"a{i}",
                sk,
                start=start,
                end=end,
                share=rnd.choice([0.5, 0.6, 0.7, 0.8, 1.0]),
                commitments=commits,
            )
        )
    index = fit(small_taxonomy, profiles)
    r = make_role([("py", 3), ("sql", 2)], share=0.6)
    got = index.rank(r, top=1000, near_misses=0)
    expected = {
        p.agent_id
        for p in profiles
        if eligibility(p.availability, p.commitments, r.start, r.end, r.share).eligible
        and index.explain(p, r)["score"] > 0
    }
    assert set(ids(got)) == expected


def test_ranking_is_the_exact_order_of_explained_scores(small_taxonomy, make_agent, make_role):
    rnd = random.Random(3)
    skills = ["py", "js", "ts", "sql", "pg", "k8s", "ml", "rare"]
    profiles = [
        make_agent(
            f"a{i}",
            [(s, rnd.randint(1, 5)) for s in rnd.sample(skills, rnd.randint(1, 4))],
            open_proposals=rnd.randint(0, 4),
            text=rnd.choice(["python data", "front", ""]),
        )
        for i in range(400)
    ]
    index = fit(small_taxonomy, profiles, cooccurrence_min_support=2)
    r = make_role([("ts", 3), ("sql", 4), ("rare", 2)], title="data python")
    got = index.rank(r, top=20, near_misses=0)
    brute = sorted(((index.explain(p, r)["score"], p.agent_id) for p in profiles), key=lambda t: (-t[0], t[1]))[:20]
    assert [c.score for c in got.candidates] == pytest.approx([s for s, _ in brute], abs=1e-5)
    assert got.examined < 400  # the bulk bound let it stop early


# ------------------------------------------------------------------ skill fit
def test_scores_are_in_the_unit_interval_best_first(small_taxonomy, make_agent, make_role):
    index = fit(small_taxonomy, [make_agent(str(lv), [("py", lv)]) for lv in range(1, 6)])
    got = index.rank(make_role([("py", 3)]))
    assert ids(got) == ["5", "4", "3", "2", "1"]
    assert all(0.0 <= c.score <= 1.0 for c in got.candidates)


def test_level_below_gets_partial_credit_and_above_a_capped_bonus(small_taxonomy, make_agent, make_role):
    index = fit(small_taxonomy, [make_agent(str(lv), [("py", lv)]) for lv in (2, 3, 5)])
    by_id = {c.agent_id: c.explanation["parts"]["skills"] for c in index.rank(make_role([("py", 3)])).candidates}
    assert by_id["3"] == pytest.approx(0.9 * 0.95)  # interest unknown counts 0.95
    assert by_id["2"] == pytest.approx(0.63 * 0.95)
    assert by_id["5"] == pytest.approx(1.0 * 0.95)


def test_a_rare_skill_matched_counts_more_than_a_common_one(small_taxonomy, make_agent, make_role):
    crowd = [make_agent(f"py{i}", [("py", 3)], share=0.3) for i in range(20)]  # make Python common
    index = fit(small_taxonomy, [*crowd, make_agent("pythonist", [("py", 3)]), make_agent("coboler", [("rare", 3)])])
    assert ids(index.rank(make_role([("py", 3), ("rare", 3)]))) == ["coboler", "pythonist"]


def test_related_skill_earns_partial_credit_shown_in_the_explanation(small_taxonomy, make_agent, make_role):
    index = fit(small_taxonomy, [make_agent("direct", [("ts", 3)]), make_agent("via", [("js", 3)])])
    got = index.rank(make_role([("ts", 3)]))
    assert ids(got) == ["direct", "via"]
    rel = got.candidates[1].explanation["related"]
    assert rel == [
        {
            "skill_id": "ts",
            "label": "TypeScript",
            "required_level": 3,
            "required": False,
            "weight": 1.0,
            "via_skill_id": "js",
            "via_label": "JavaScript",
            "agent_level": 3,
            "source": "taxonomy",
            "similarity": 0.5,
            "credit": pytest.approx(0.5 * 0.9 * 0.95, abs=1e-4),
        }
    ]
    assert got.candidates[1].explanation["matched"] == []


def test_skills_that_co_occur_in_profiles_count_as_related(small_taxonomy, make_agent, make_role):
    pairs = [make_agent(f"both{i}", [("k8s", 3), ("ml", 3)], share=0.3) for i in range(5)]
    index = fit(small_taxonomy, [*pairs, make_agent("ml_only", [("ml", 3)])], cooccurrence_min_support=3)
    got = index.rank(make_role([("k8s", 3)]))
    assert ids(got) == ["ml_only"]
    rel = got.candidates[0].explanation["related"][0]
    assert rel["via_skill_id"] == "ml" and rel["source"] == "cooccurrence"


def test_a_recently_used_skill_ranks_above_a_long_unused_one(small_taxonomy, make_agent, make_role):
    old = (AgentSkill("py", 3, last_used=date(2015, 1, 1)),)
    new = (AgentSkill("py", 3, last_used=date(2026, 12, 1)),)
    index = fit(small_taxonomy, [make_agent("old", skill_objects=old), make_agent("new", skill_objects=new)])
    got = index.rank(make_role([("py", 3)]))
    assert ids(got) == ["new", "old"]
    assert got.candidates[1].explanation["matched"][0]["last_used"] == "2015-01-01"


def test_stated_interest_breaks_ties_between_equal_levels(small_taxonomy, make_agent, make_role):
    keen = (AgentSkill("py", 3, interest=5),)
    bored = (AgentSkill("py", 3, interest=1),)
    index = fit(small_taxonomy, [make_agent("bored", skill_objects=bored), make_agent("keen", skill_objects=keen)])
    assert ids(index.rank(make_role([("py", 3)]))) == ["keen", "bored"]


def test_profile_text_close_to_the_role_description_ranks_higher(small_taxonomy, make_agent, make_role):
    profiles = [
        make_agent("a", [("py", 3)], text="jardinage et cuisine"),
        make_agent("b", [("py", 3)], text="traitement de données fiscales en Python"),
    ]
    r = make_role([("py", 3)], title="Développeur", description="données fiscales")
    assert ids(fit(small_taxonomy, profiles).rank(r)) == ["b", "a"]
    flat = fit(small_taxonomy, profiles, text_weight=0.0).rank(r)
    assert flat.candidates[0].score == flat.candidates[1].score


# ------------------------------------------------------------------ explanation
def test_every_candidate_carries_a_stable_json_ready_explanation(small_taxonomy, make_agent, make_role):
    index = fit(small_taxonomy, [make_agent("a", [("py", 4), ("js", 2)], text="python")])
    r = make_role([("py", 3), ("ts", 3), ("k8s", 2)], title="python")
    expl = index.rank(r).candidates[0].explanation
    assert set(expl) == {"score", "parts", "matched", "related", "below_level", "missing", "availability", "fairness"}
    assert set(expl["parts"]) == {"skills", "text", "skills_weight", "text_weight", "fairness_factor"}
    assert expl["matched"][0]["agent_level"] == 4 and expl["matched"][0]["required_level"] == 3
    assert expl["related"][0]["via_skill_id"] == "js"
    assert [m["skill_id"] for m in expl["missing"]] == ["k8s"]
    assert expl["availability"]["segments"] == [{"start": "2027-03-01", "end": "2027-05-31", "free": 0.8}]
    json.dumps(expl)


def test_a_skill_held_below_the_required_level_is_below_level_not_matched(small_taxonomy, make_agent, make_role):
    index = fit(small_taxonomy, [make_agent("a", [("py", 2), ("js", 4)], text="python")])
    r = make_role([("py", 3), ("js", 3), ("k8s", 2)], title="python")
    expl = index.rank(r).candidates[0].explanation
    assert [m["skill_id"] for m in expl["matched"]] == ["js"]
    below = expl["below_level"]
    assert [(m["skill_id"], m["agent_level"], m["required_level"]) for m in below] == [("py", 2, 3)]
    assert 0 < below[0]["credit"] < 1
    assert [m["skill_id"] for m in expl["missing"]] == ["k8s"]
    assert all(m["skill_id"] != "py" for m in expl["related"])
    parts = expl["parts"]
    total = (parts["skills_weight"] * parts["skills"] + parts["text_weight"] * parts["text"]) * parts["fairness_factor"]
    assert expl["score"] == pytest.approx(total, abs=1e-5)


# ------------------------------------------------------------------ near misses
def test_near_misses_are_listed_apart_with_french_reasons(small_taxonomy, make_agent, make_role):
    r = make_role([("py", 3)], required=("py",))
    profiles = [
        make_agent("ok", [("py", 3)]),
        make_agent("late3", [("py", 3)], start=r.start + timedelta(days=3)),
        make_agent("late10", [("py", 3)], start=r.start + timedelta(days=10)),
        make_agent("early2", [("py", 3)], end=r.end - timedelta(days=2)),
        make_agent("short", [("py", 3)], share=0.55),
        make_agent("tooshort", [("py", 3)], share=0.45),
        make_agent("lowlevel", [("py", 2)]),
        make_agent("twolow", [("py", 1)]),
    ]
    got = fit(small_taxonomy, profiles).rank(r)
    assert ids(got) == ["ok"]
    reasons = {n.agent_id: n.reasons for n in got.near_misses}
    assert set(reasons) == {"late3", "early2", "short", "lowlevel"}
    assert "04/03/2027" in reasons["late3"][0] and "3 jours après le début" in reasons["late3"][0]
    assert "2 jours avant la fin" in reasons["early2"][0]
    assert reasons["short"] == ["Temps libre de 55 % au plus bas pour 60 % demandés"]
    assert reasons["lowlevel"] == ["Niveau 2 en Python pour un niveau 3 requis"]


def test_near_misses_can_be_turned_off(small_taxonomy, make_agent, make_role):
    index = fit(small_taxonomy, [make_agent("short", [("py", 3)], share=0.55)])
    assert index.rank(make_role(), near_misses=0).near_misses == []


# ------------------------------------------------------------------ fairness
def test_an_agent_with_open_proposals_yields_to_an_equal_one(small_taxonomy, make_agent, make_role):
    index = fit(small_taxonomy, [make_agent("busy", [("py", 3)], open_proposals=4), make_agent("zed", [("py", 3)])])
    got = index.rank(make_role())
    assert ids(got) == ["zed", "busy"]
    assert got.candidates[1].explanation["fairness"] == {
        "applied": True,
        "open_proposals": 4,
        "factor": pytest.approx(1 - 0.15 * 0.75),
    }
    assert ids(index.rank(make_role(), fairness=False)) == ["busy", "zed"]  # tie broken by id


def test_fairness_never_hides_a_clearly_better_agent(small_taxonomy, make_agent, make_role):
    index = fit(
        small_taxonomy,
        [make_agent("star", [("py", 5)], open_proposals=50), make_agent("novice", [("py", 1)])],
    )
    assert ids(index.rank(make_role())) == ["star", "novice"]


# ------------------------------------------------------------------ changes
def test_upsert_and_remove_are_reflected_without_a_rebuild(small_taxonomy, make_agent, make_role):
    index = fit(small_taxonomy, [make_agent("a", [("py", 3)]), make_agent("b", [("py", 2)])])
    blocks = (index.text_, index.skills_)
    index.upsert(make_agent("c", [("py", 5)]))
    assert ids(index.rank(make_role())) == ["c", "a", "b"]
    index.upsert(make_agent("b", [("py", 4)]))
    assert ids(index.rank(make_role())) == ["c", "b", "a"]
    index.remove("c")
    assert ids(index.rank(make_role())) == ["b", "a"]
    assert index.text_ is blocks[0] and index.skills_ is blocks[1] and "c" not in index and len(index) == 2
    index.upsert(make_agent("a", [("k8s", 3)]))
    assert ids(index.rank(make_role())) == ["b"]


def test_changes_survive_the_periodic_merge(small_taxonomy, make_agent, make_role):
    index = fit(small_taxonomy, [make_agent("a", [("py", 3)])], merge_every=2)
    index.upsert(make_agent("b", [("py", 4)]))
    index.upsert(make_agent("c", [("py", 5)], share=0.3))  # triggers the merge
    assert index.overlay_ == {}
    index.remove("a")
    assert ids(index.rank(make_role())) == ["b"]


def test_upsert_updates_rarity(small_taxonomy, make_agent, make_role):
    index = fit(small_taxonomy, [make_agent("a", [("py", 3)]), make_agent("b", [("rare", 3)])])
    before = index.skill_df_[index.skill_index_["py"]]
    index.upsert(make_agent("c", [("py", 3)]))
    assert index.skill_df_[index.skill_index_["py"]] == before + 1
    index.remove("c")
    assert index.skill_df_[index.skill_index_["py"]] == before


def test_excluded_agents_are_left_out(small_taxonomy, make_agent, make_role):
    index = fit(small_taxonomy, [make_agent("a", [("py", 3)]), make_agent("b", [("py", 2)])])
    assert ids(index.rank(make_role(), exclude={"a"})) == ["b"]


def test_empty_index_ranks_nobody(small_taxonomy, make_role):
    assert CandidateIndex().fit(small_taxonomy, []).rank(make_role()).candidates == []


def test_a_profile_centred_on_the_role_outranks_one_sharing_the_skills_among_unrelated_ones(
    small_taxonomy, make_agent, make_role
):
    scattered = make_agent("scattered", [("py", 3), ("sql", 3), ("k8s", 3), ("rssi", 3), ("a11y", 3), ("cpp", 3)])
    centred = make_agent("centred", [("py", 3), ("sql", 3), ("pg", 3)])
    got = fit(small_taxonomy, [scattered, centred]).rank(make_role([("py", 3), ("sql", 3)]))
    assert ids(got) == ["centred", "scattered"]
    parts = [c.explanation["parts"] for c in got.candidates]
    assert parts[0]["skills"] == parts[1]["skills"] and parts[0]["text"] > parts[1]["text"]


def test_merging_pending_changes_never_changes_a_ranking(small_taxonomy, make_agent, make_role):
    rnd = random.Random(11)
    skills = ["py", "js", "ts", "sql", "pg", "k8s"]

    def random_agent(i):
        return make_agent(
            f"a{i}",
            [(s, rnd.randint(1, 5)) for s in rnd.sample(skills, rnd.randint(1, 3))],
            share=rnd.choice([0.5, 0.7, 1.0]),
            text=rnd.choice(["python", "data", ""]),
        )

    start = [random_agent(i) for i in range(60)]
    merged = fit(small_taxonomy, start, merge_every=7)
    pending = fit(small_taxonomy, start, merge_every=10**9)
    for step in range(80):
        if rnd.random() < 0.3:
            victim = f"a{rnd.randint(0, 90)}"
            merged.remove(victim)
            pending.remove(victim)
        else:
            p = random_agent(rnd.randint(0, 90))
            merged.upsert(p)
            pending.upsert(p)
    assert pending.overlay_ and len(merged.overlay_) < 7
    r = make_role([("py", 3), ("sql", 2)], title="python data")
    a, b = merged.rank(r, top=100), pending.rank(r, top=100)
    assert ids(a) == ids(b)
    assert [c.score for c in a.candidates] == pytest.approx([c.score for c in b.candidates])


# ------------------------------------------------------------------ feature hashing
@pytest.mark.parametrize("analyzer", ["word", "char_wb"])
def test_text_hashing_counts_the_same_tokens_as_scikit_learn(analyzer):
    texts = [
        "Développeur Python et Django",
        "python, PYTHON ; données",
        "a b",
        "",
        "Sécurité des systèmes d'information",
    ]
    if analyzer == "word":
        ours = TextHasher(2**18, stop_words={"et", "des"}, accents=False)
        ref = HashingVectorizer(
            n_features=2**18, alternate_sign=False, norm=None, strip_accents="unicode", stop_words=["et", "des"]
        )
    else:
        ours = TextHasher(2**18, analyzer="char_wb", binary=True)
        ref = HashingVectorizer(
            analyzer="char_wb", ngram_range=(3, 3), n_features=2**18, binary=True, norm=None, alternate_sign=False
        )
    a, b = ours.transform(texts), ref.transform(texts)
    # the columns differ (another hash function); the counts and every pairwise product are the same
    assert np.allclose((a @ a.T).toarray(), (b @ b.T).toarray())
    assert [sorted(a[i].data) for i in range(len(texts))] == [sorted(b[i].data) for i in range(len(texts))]



# ------------------------------------------------------------------ compiled roles
def _ranked(index, role):
    return [(c.agent_id, c.score) for c in index.rank(role).candidates]


def test_a_role_ranked_after_changes_scores_as_on_a_copy_compiling_it_afresh(small_taxonomy, make_agent, make_role):
    import copy
    import pickle

    profiles = [make_agent("a", [("py", 4)]), make_agent("b", [("py", 3), ("sql", 4)]), make_agent("c", [("sql", 5)])]
    index = fit(small_taxonomy, profiles)
    role = make_role([("py", 3), ("sql", 3)])
    before = _ranked(index, role)
    assert _ranked(index, role) == before  # compiled once, the same result
    # kept on disk or copied, an index carries no compiled role
    assert "_compiled" not in pickle.loads(pickle.dumps(index)).__dict__
    assert "_compiled" not in copy.deepcopy(index).__dict__
    # more agents holding sql: sql is less rare, so the role's vector changes and is compiled again
    # (a copy carries no compiled role: it compiles the role afresh)
    for i in range(4):
        index.upsert(make_agent(f"s{i}", [("sql", 2)]))
    after = _ranked(index, role)
    assert after == _ranked(copy.deepcopy(index), role)
    assert dict(after)["a"] != pytest.approx(dict(before)["a"])
    index.remove("s0")
    index.remove("s1")
    assert _ranked(index, role) == _ranked(copy.deepcopy(index), role) != after


def test_a_fork_reuses_a_compiled_role_while_the_pool_leaves_its_rarity_alone(small_taxonomy, make_agent,
                                                                                make_role):
    import copy

    profiles = [make_agent("a", [("py", 4)]), make_agent("b", [("py", 3), ("sql", 4)]), make_agent("c", [("sql", 5)])]
    index = fit(small_taxonomy, profiles)
    role = make_role([("py", 3), ("sql", 3)])
    compiled = index._compile(role)
    # a level changed, and a text: the same agents hold the same skills, the role's vector is the same object
    edited = index.fork().upsert(make_agent("b", [("py", 5), ("sql", 4)], text="Data engineer, Python"))
    assert edited._compile(role) is compiled
    assert _ranked(edited, role) == _ranked(copy.deepcopy(edited), role)  # the copy compiles it afresh
    # one more agent holding sql: its rarity and the pool's size moved, the role is compiled again (for the fork
    # only: the index it came from still reads its own)
    grown = edited.fork().upsert(make_agent("d", [("sql", 2)]))
    assert grown._compile(role) is not compiled and index._compile(role) is compiled
    assert _ranked(grown, role) == _ranked(copy.deepcopy(grown), role)
    assert grown._compile(role).weights.tobytes() != compiled.weights.tobytes()
    # a skill the index did not know at fit widens the skill block: compiled again
    widened = grown.fork().upsert(make_agent("e", [("py", 2)], skill_objects=(AgentSkill("new", 3),)))
    assert _ranked(widened, role) == _ranked(copy.deepcopy(widened), role)


def test_the_bulk_product_over_the_merged_matrices_is_kept_with_the_role_until_a_merge(small_taxonomy, make_agent,
                                                                                     make_role):
    import copy

    profiles = [make_agent(f"a{i}", [("py", 1 + i % 5), ("sql", 1 + (i * 3) % 5)]) for i in range(40)]
    index = fit(small_taxonomy, profiles)
    role = make_role([("py", 2), ("sql", 2)])
    afresh = _ranked(copy.deepcopy(index), role)
    # excluding agents and folding fairness in change the bound the ranking reads, never the kept product
    assert [a for a, _ in _ranked(index, role)] == [a for a, _ in afresh]
    index.rank(role, exclude=[a for a, _ in afresh[:3]])
    assert _ranked(index, role) == afresh
    kept = index._compile(role).merged_products
    # levels and words edited: pending in the overlay, read from it; the merged matrices' product is the one kept
    edited = index.fork().upsert(make_agent("a7", [("py", 5), ("sql", 5)], text="Python SQL data engineer"))
    assert _ranked(edited, role) == _ranked(copy.deepcopy(edited), role)
    assert edited._compile(role).merged_products is kept
    # merged: new matrices, the product is read from them again; the index forked from, still read by others,
    # is ranked from its own matrices
    edited.merge()
    assert _ranked(edited, role) == _ranked(copy.deepcopy(edited), role)
    assert edited._compile(role).merged_products is not kept
    assert _ranked(index, role) == afresh


def test_the_kept_products_stay_within_their_budget_the_roles_compiled_first_dropping_theirs(
    small_taxonomy, make_agent, make_role, monkeypatch
):
    import copy

    import matching.ranking as ranking_module

    index = fit(small_taxonomy, [make_agent(f"a{i}", [("py", 1 + i % 5), ("sql", 1 + i % 3)]) for i in range(30)])
    roles = [make_role([("py", 1 + k % 5), ("sql", 1 + k % 3)], title=f"rôle {k}") for k in range(4)]
    one = 2 * 8 * 30  # two floats an agent
    monkeypatch.setattr(ranking_module, "PRODUCTS_KEPT_BYTES", 2 * one)
    ranked = [_ranked(index, role) for role in roles]
    held = [index._compile(role).merged_products is not None for role in roles]
    assert held == [False, False, True, True]
    # a role whose product was dropped is ranked as before, and keeps it again
    assert _ranked(index, roles[0]) == ranked[0] == _ranked(copy.deepcopy(index), roles[0])
    assert [index._compile(role).merged_products is not None for role in roles] == [True, False, False, True]


def test_the_bulk_product_is_the_mat_vec_bit_for_bit_before_and_after_a_merge():
    # Read from the vector's nonzero columns only, each row's products summed column by column: the profile
    # block's rows are not in column order, and those with three products or more must be summed again.
    from bench.speed import synthetic_profiles, synthetic_roles, synthetic_taxonomy

    profiles = synthetic_profiles(2000, seed=3)
    index = CandidateIndex().fit(synthetic_taxonomy(), profiles)
    assert not index.text_by_column_[3] and index.skills_by_column_[3]

    def same() -> int:
        h, width = index.text_features, index.skills_.shape[1]
        checked = 0
        for role in synthetic_roles(60, seed=4):
            rv = index._compile(role)
            bound, text = index._bulk(rv)
            whole = index.text_ @ rv.vector[:h]
            assert text.tobytes() == whole.tobytes()
            assert bound.tobytes() == (whole + index.skills_ @ rv.vector[h : h + width]).tobytes()
            checked += int((np.bincount(index.text_[:, rv.text_cols].nonzero()[0], minlength=1) >= 3).sum())
        return checked

    assert same() > 0  # rows summed again were among them
    for p in profiles[:600]:
        index.upsert(CandidateProfile(p.agent_id, p.skills[1:], p.availability, p.commitments, p.text + " mot7"))
    index.merge()
    assert same() > 0
