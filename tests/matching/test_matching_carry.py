"""A ranking kept across changes: whenever :func:`matching.carry.still_holds` says it holds, ranking again on the
changed index shows the same candidates and near misses, with the same scores and reasons."""

from __future__ import annotations

import random

import pytest

from matching.carry import carried, still_holds
from matching.ranking import CandidateIndex, Ranking

pytestmark = pytest.mark.unit


def _shown(ranking: Ranking) -> tuple[list, list]:
    return ([(c.agent_id, c.score) for c in ranking.candidates],
            [(m.agent_id, m.score, m.reasons) for m in ranking.near_misses])


@pytest.mark.parametrize("rarity", [False, True], ids=["rarity off", "rarity on, weights unmoved"])
def test_a_ranking_said_to_hold_is_what_ranking_again_shows(small_taxonomy, make_agent, make_role, rarity):
    rnd = random.Random(11)
    skills = ["py", "js", "ts", "sql", "pg", "k8s", "rare"]

    def random_agent(i: int):
        return make_agent(
            f"a{i}",
            [(s, rnd.randint(1, 5)) for s in rnd.sample(skills, rnd.randint(1, 3))],
            share=rnd.choice([0.45, 0.55, 0.6, 0.7, 1.0]),
            text=rnd.choice(["python", "data", ""]),
            open_proposals=rnd.randint(0, 2),
        )

    roles = [
        (make_role([("py", 3), ("sql", 2)], title="python data"), 5, 3),
        (make_role([("js", 2), ("ts", 3)], required=("js",)), 4, 2),
        (make_role([("k8s", 4)], required=("k8s",)), 8, 0),
    ]
    # Rarity weights move with changes to the pool (a kept ranking keeps those of its state, see the module's
    # docstring): without them, or when the role's did not move, the scores of agents that did not change are
    # exactly the same.
    index = CandidateIndex(merge_every=7, use_rarity=rarity).fit(small_taxonomy, [random_agent(i) for i in range(80)])
    held = 0
    left_out = {"a3"}
    for _step in range(150):
        kept = [(role, top, near, index.rank(role, top=top, near_misses=near, exclude=tuple(left_out)))
                for role, top, near in roles]
        nxt = index.fork()
        changed = set()
        for _ in range(rnd.randint(1, 3)):
            who = rnd.randint(0, 110)
            changed.add(f"a{who}")
            if rnd.random() < 0.2:
                nxt.remove(f"a{who}")
            else:
                nxt.upsert(random_agent(who))
        # A proposal or an answer changes who the need leaves out: those let in or left out count as changed.
        before = set(left_out)
        if rnd.random() < 0.3:
            left_out ^= {f"a{rnd.randint(0, 80)}"}
        changed |= before ^ left_out
        for role, top, near, ranking in kept:
            if still_holds(nxt, ranking, role, changed, top=top, near_misses=near, exclude=tuple(left_out),
                           rarity_may_move=not rarity):
                held += 1
                fresh = nxt.rank(role, top=top, near_misses=near, exclude=tuple(left_out))
                assert _shown(fresh) == _shown(ranking)
        index = nxt
    assert held > 150, "most changes leave most rankings as they were"


def test_a_ranking_showing_a_changed_agent_does_not_hold(small_taxonomy, make_agent, make_role):
    index = CandidateIndex().fit(small_taxonomy, [make_agent("a", [("py", 3)]), make_agent("b", [("js", 1)])])
    role = make_role([("py", 3)])
    ranking = index.rank(role, top=5)
    assert [c.agent_id for c in ranking.candidates] == ["a"]
    assert not still_holds(index, ranking, role, {"a"}, top=5, near_misses=10)
    assert still_holds(index, ranking, role, {"b", "gone"}, top=5, near_misses=10), "b scores nothing on py"
    nxt = index.fork().upsert(make_agent("b", [("py", 2)]))
    assert not still_holds(nxt, ranking, role, {"b"}, top=5, near_misses=10), "b now enters a list with room"
    assert still_holds(nxt, ranking, role, {"b"}, top=5, near_misses=10, exclude=("b",)), "unless left out"


def _candidates(ranking: Ranking, top: int) -> list:
    """The first ``top`` candidates, their scores to 1e-12: an agent's score computed alone and among others may
    differ in its last bit (the products sum in another order); agents tied to that precision by agent id."""
    shown = [(round(c.score, 12), c.agent_id, c.explanation) for c in ranking.candidates[:top]]
    return sorted(shown, key=lambda c: (-c[0], c[1]))


@pytest.mark.parametrize("rarity", [False, True], ids=["rarity off", "rarity on, weights unmoved"])
def test_a_mended_ranking_shows_what_ranking_again_shows(small_taxonomy, make_agent, make_role, rarity):
    """Kept rankings, made deeper than shown and mended step after step (agents edited, removed, proposed into the
    need or let back in): whenever mending gives an answer, its first candidates — scores and explanations — and its
    near misses are those of the role ranked again."""
    rnd = random.Random(23)
    skills = ["py", "js", "ts", "sql", "pg", "k8s", "rare"]

    def random_agent(i: int):
        return make_agent(
            f"a{i}",
            [(s, rnd.randint(1, 5)) for s in rnd.sample(skills, rnd.randint(1, 3))],
            share=rnd.choice([0.45, 0.55, 0.6, 0.7, 1.0]),
            text=rnd.choice(["python", "data", ""]),
            open_proposals=rnd.randint(0, 2),
        )

    roles = [  # (role, shown, made this deep, near misses)
        (make_role([("py", 3), ("sql", 2)], title="python data"), 5, 8, 3),
        (make_role([("js", 2), ("ts", 3)], required=("js",)), 4, 6, 2),
        (make_role([("k8s", 4)], required=("k8s",)), 3, 5, 0),
        (make_role([("py", 1)]), 6, 9, 0),
    ]
    index = CandidateIndex(merge_every=7, use_rarity=rarity).fit(small_taxonomy, [random_agent(i) for i in range(80)])
    left_out: set[str] = set()
    kept = [index.rank(role, top=deep, near_misses=near) for role, _, deep, near in roles]
    mended = held = 0
    for _step in range(200):
        nxt = index.fork()
        changed = set()
        for _ in range(rnd.randint(1, 3)):
            who = rnd.randint(0, 110)
            changed.add(f"a{who}")
            if rnd.random() < 0.15:
                nxt.remove(f"a{who}")
            else:
                nxt.upsert(random_agent(who))
        before = set(left_out)
        if rnd.random() < 0.4:  # a proposal leaves one of the best out; a withdrawal lets someone back in
            shown = [c.agent_id for c in kept[rnd.randrange(len(roles))].candidates]
            left_out ^= {rnd.choice(shown) if shown and rnd.random() < 0.7 else f"a{rnd.randint(0, 80)}"}
        changed |= before ^ left_out
        for i, (role, top, deep, near) in enumerate(roles):
            got = carried(nxt, kept[i], role, changed, top=deep, at_least=top, near_misses=near,
                          exclude=tuple(left_out), rarity_may_move=not rarity)
            fresh = nxt.rank(role, top=deep, near_misses=near, exclude=tuple(left_out))
            if got is None:
                kept[i] = fresh
                continue
            held += got is kept[i]
            mended += got is not kept[i]
            assert _candidates(got, top) == _candidates(fresh, top)
            scores = [c.score for c in got.candidates]
            assert all(a >= b - 1e-12 for a, b in zip(scores, scores[1:], strict=False)), "best first"
            assert _shown(got)[1] == _shown(fresh)[1]
            assert got.bound == float("-inf") or len(got.candidates) >= top
            kept[i] = got
        index = nxt
    assert mended > 100 and held > 100, "most changes leave rankings as they were, or mended"


def test_mending_takes_out_a_candidate_left_out_and_stops_where_the_list_is_no_longer_known(
        small_taxonomy, make_agent, make_role):
    agents = [make_agent(f"a{i}", [("py", 1 + i % 5)], text="python") for i in range(10)]
    index = CandidateIndex().fit(small_taxonomy, agents)
    role = make_role([("py", 3)])
    deep = index.rank(role, top=4)
    assert len(deep.candidates) == 4 and deep.bound == deep.candidates[-1].score
    best = deep.candidates[0].agent_id
    got = carried(index, deep, role, {best}, top=4, at_least=3, near_misses=0, exclude=(best,))
    assert got is not None and [c.agent_id for c in got.candidates] == [c.agent_id for c in deep.candidates[1:]]
    assert still_holds(index, deep, role, {best}, top=4, near_misses=0, exclude=(best,)) is False, "not as it is"
    second = got.candidates[0].agent_id
    assert carried(index, got, role, {best, second}, top=4, at_least=3, near_misses=0,
                   exclude=(best, second)) is None, "two of four taken out: the third shown is not known"
    complete = index.rank(role, top=50)
    assert complete.bound == float("-inf"), "every candidate listed"
    got = carried(index, complete, role, {best, second}, top=50, at_least=50, near_misses=0, exclude=(best, second))
    assert got is not None and len(got.candidates) == len(complete.candidates) - 2
