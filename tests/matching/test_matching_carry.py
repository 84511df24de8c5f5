"""A ranking kept across changes: whenever :func:`matching.carry.still_holds` says it holds, ranking again on the
changed index shows the same candidates and near misses, with the same scores and reasons."""

from __future__ import annotations

import random

import pytest

from matching.carry import still_holds
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
