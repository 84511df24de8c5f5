"""Forks of an index: a change to a fork never shows in the index it came from, and ranks as a change in place."""

from __future__ import annotations

import copy
import json
import pickle
import random

import pytest

from matching.layered import LayeredList, LayeredMap
from matching.ranking import CandidateIndex
from matching.types import AgentSkill

pytestmark = pytest.mark.unit


# ------------------------------------------------------------------ the layered containers
def test_layered_list_and_map_behave_as_a_list_and_a_dict_and_forks_stay_apart():
    rnd = random.Random(3)
    plain_list, plain_dict = list(range(20)), {f"k{i}": i for i in range(20)}
    layered_list, layered_map = LayeredList(plain_list), LayeredMap(plain_dict)
    history = []  # every earlier generation, with what it held then
    for step in range(400):
        history.append((layered_list, layered_map, list(plain_list), dict(plain_dict)))
        layered_list, layered_map = layered_list.fork(), layered_map.fork()
        for _ in range(rnd.randint(1, 4)):
            what = rnd.random()
            if what < 0.3:
                plain_list.append(step)
                layered_list.append(step)
            elif what < 0.6:
                i = rnd.randrange(-len(plain_list), len(plain_list))
                plain_list[i] = -step
                layered_list[i] = -step
            elif what < 0.8:
                key = f"k{rnd.randint(0, 40)}"
                plain_dict[key] = step
                layered_map[key] = step
            else:
                key = f"k{rnd.randint(0, 40)}"
                assert layered_map.pop(key, "none") == plain_dict.pop(key, "none")
        if step % 50 == 49:
            layered_list.fold()
            layered_map.fold()
        assert len(layered_list) == len(plain_list) and list(layered_list) == plain_list
        assert layered_list[-1] == plain_list[-1] and layered_list[3] == plain_list[3]
        at = [rnd.randrange(len(plain_list)) for _ in range(6)]
        assert layered_list.take(at) == [plain_list[i] for i in at]
        assert len(layered_map) == len(plain_dict) and dict(layered_map.items()) == plain_dict
        assert all(layered_map.get(f"k{i}") == plain_dict.get(f"k{i}") for i in range(41))
        assert all((f"k{i}" in layered_map) == (f"k{i}" in plain_dict) for i in range(41))
    for old_list, old_map, then_list, then_dict in history:
        assert list(old_list) == then_list and dict(old_map.items()) == then_dict
    with pytest.raises(IndexError):
        layered_list[len(plain_list)]
    with pytest.raises(IndexError):
        layered_list[-len(plain_list) - 1]
    with pytest.raises(KeyError):
        layered_map["absent"]
    copied = pickle.loads(pickle.dumps((layered_list, layered_map)))
    assert copied == (layered_list, layered_map) and copied[0] == plain_list and copied[1] == plain_dict


# ------------------------------------------------------------------ forks of an index
def _rankings(index, roles):
    out = []
    for r in roles:
        ranking = index.rank(r, top=100)
        out.append([(c.agent_id, c.score, c.explanation) for c in ranking.candidates])
        out.append([(m.agent_id, m.score, m.explanation) for m in ranking.near_misses])
    return json.dumps(out, default=str)


def test_changes_to_forks_never_show_in_their_origin_and_rank_as_changes_in_place(
    small_taxonomy, make_agent, make_role
):
    rnd = random.Random(7)
    skills = ["py", "js", "ts", "sql", "pg", "k8s", "rare"]

    def random_agent(i):
        return make_agent(
            f"a{i}",
            [(s, rnd.randint(1, 5)) for s in rnd.sample(skills, rnd.randint(1, 3))],
            share=rnd.choice([0.5, 0.7, 1.0]),
            text=rnd.choice(["python", "data", ""]),
            open_proposals=rnd.randint(0, 2),
        )

    roles = [make_role([("py", 3), ("sql", 2)], title="python data"), make_role([("js", 2)], required=("js",))]
    start = [random_agent(i) for i in range(60)]
    in_place = CandidateIndex(merge_every=9).fit(small_taxonomy, start)
    state = CandidateIndex(merge_every=9).fit(small_taxonomy, start)
    for step in range(60):
        before = (pickle.dumps(state), _rankings(state, roles))
        nxt = state.fork()
        for _ in range(rnd.randint(1, 3)):
            if rnd.random() < 0.3:
                victim = f"a{rnd.randint(0, 90)}"
                in_place.remove(victim)
                nxt.remove(victim)
            else:
                p = random_agent(rnd.randint(0, 90))
                in_place.upsert(p)
                nxt.upsert(p)
        if step == 30:  # a skill the index did not know at fit
            p = make_agent("a1", [("py", 3)], skill_objects=(AgentSkill("new", 3),))
            in_place.upsert(p)
            nxt.upsert(p)
        assert (pickle.dumps(state), _rankings(state, roles)) == before
        assert _rankings(nxt, roles) == _rankings(in_place, roles)
        state = nxt
    assert "new" in state.skill_index_ and "new" not in CandidateIndex().fit(small_taxonomy, start).skill_index_


def test_a_fork_shares_the_compiled_roles_and_deep_copies_share_the_profiles(
    small_taxonomy, make_agent, make_role
):
    profiles = [make_agent("a", [("py", 3)]), make_agent("b", [("py", 4)])]
    index = CandidateIndex().fit(small_taxonomy, profiles)
    index.rank(make_role())
    assert vars(index.fork())["_compiled"] is vars(index)["_compiled"]
    twin = copy.deepcopy(index, {id(p): p for p in profiles})
    assert twin.profiles_ == index.profiles_ and twin.profiles_[0] is profiles[0]
