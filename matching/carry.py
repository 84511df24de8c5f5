"""Whether a ranking still holds after some agents changed: :func:`still_holds`.

A ranking over 100 000 agents costs milliseconds; a profile edit changes one agent. A ranking made before a change
still shows what a new one would when no changed agent was shown in it and none could now enter it — its own
candidates and near misses are the same agents with the same profiles. Checking that costs the exact score and
the availability of the changed agents only. It is conservative: when a changed agent comes close to the last
candidate or near miss (or the lists are not full), the answer is no and the role is ranked again.

The scores also rest on the rarity of the role's skills in the pool (IDF), which moves when an agent holding one of
them comes, goes, gains or drops it. While the role's rarity weights are those the ranking was scored with, every
agent that did not change scores exactly as then, and the answer is exact (but ``examined``, which counts the agents
examined then). When they moved, unchanged agents' scores moved a little: ``rarity_may_move`` says whether the
caller accepts that (``talents.ranking_index.RankingMemo`` does for a few seconds).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date

import numpy as np

from matching.availability import DEFAULT_FLOOR, above_floor
from matching.index import EPS
from matching.ranking import CandidateIndex, Ranking
from matching.types import RoleRequirement

__all__ = ["carried", "still_holds"]

# A changed agent this close to the last score shown (in score units, [0, 1]) counts as entering: it covers the
# drift of the rarity weights between the kept ranking's state and the new one, and ties broken by agent id.
MARGIN = 1e-3


def still_holds(
    index: CandidateIndex,
    ranking: Ranking,
    role: RoleRequirement,
    changed: Collection[str],
    *,
    top: int,
    near_misses: int,
    exclude: Collection[str] = (),
    fairness: bool = True,
    floor: float = DEFAULT_FLOOR,
    today: date | None = None,
    rarity_may_move: bool = True,
) -> bool:
    """Whether ``ranking`` — ``role`` ranked with these arguments on an earlier state of ``index`` — is what
    ranking it on ``index`` would show, given that only the agents ``changed`` differ between the two states;
    with ``rarity_may_move`` false, only if the role's rarity weights are also the same (see the module)."""
    return carried(index, ranking, role, changed, top=top, near_misses=near_misses, exclude=exclude,
                   fairness=fairness, floor=floor, today=today, rarity_may_move=rarity_may_move,
                   mend=False) is ranking


def carried(
    index: CandidateIndex,
    ranking: Ranking,
    role: RoleRequirement,
    changed: Collection[str],
    *,
    top: int,
    near_misses: int,
    at_least: int | None = None,
    exclude: Collection[str] = (),
    fairness: bool = True,
    floor: float = DEFAULT_FLOOR,
    today: date | None = None,
    rarity_may_move: bool = True,
    mend: bool = True,
) -> Ranking | None:
    """``ranking`` — ``role`` ranked with these arguments on an earlier state of ``index`` — as ranking it on
    ``index`` would show its first ``at_least`` candidates (default: ``top``) and its near misses, given that only
    the agents ``changed`` differ between the two states: ``ranking`` itself when none of them alters it; with
    ``mend``, a new ranking when they alter only its candidates (the changed ones taken out, those of them who are
    candidates now put in at their new score, with their new explanation); ``None`` when it must be ranked again.

    Mending is exact above the ranking's ``bound`` (every candidate scoring above it was listed, and unchanged
    agents keep their scores): a ranking made deeper than what is shown can lose a few candidates — an agent
    proposed, or taken by another need — and still show its first ``at_least`` exactly."""
    at_least = top if at_least is None else at_least
    near_ids = {m.agent_id for m in ranking.near_misses}
    if not near_ids.isdisjoint(changed):
        return None
    listed = {c.agent_id for c in ranking.candidates}
    shown_changed = not listed.isdisjoint(changed)
    if shown_changed and not mend:
        return None
    if len(index.agent_ids_) == 0 or role.end < role.start or not above_floor(role.share, floor):
        return ranking  # nobody is ranked for such a role, before or after
    rv = index._compile(role)  # kept with the index's state: the ranking of this state compiles it once
    if not rarity_may_move and rv.weights.tobytes() != ranking.weights:
        return None
    left_out = set(exclude)
    found = [index.row_of_.get(a) for a in changed if a not in left_out]
    rows = np.array([r for r in found if r is not None and index.alive_[r]], dtype=np.int64)
    if rows.size == 0 and not shown_changed:  # removed, excluded or never indexed: not shown, nothing to take out
        return ranking
    score = np.empty(0)
    candidate = np.zeros(0, dtype=bool)
    if rows.size:
        free, almost = index._available(rows, role, slack=near_misses > 0)
        score, _, _, _, req = index._exact(rows, rv, today or role.start, fairness)
        held = req[0] >= rv.n_required
        scored = score > EPS  # as in the ranking: an agent with nothing in common with the role is never listed
        if near_misses:
            low_one = (req[0] == rv.n_required - 1) & (req[1] >= 1)
            near = scored & ((free & low_one) | (almost & held))
            if _could_enter(score[near], [m.score for m in ranking.near_misses], near_misses):
                return None
        candidate = scored & free & held
    bound = ranking.bound
    entering = score[candidate]
    if not mend:
        listed_scores = [c.score for c in ranking.candidates]
        return None if _could_enter(entering, listed_scores, top) else ranking
    # Within MARGIN of the bound, a changed agent may or may not belong to the list: rank again.
    if entering.size and bool((np.abs(entering - bound) <= MARGIN).any()):
        return None
    if not shown_changed and not bool((entering > bound).any()):
        return ranking
    came = index.candidates_among(
        [index.agent_ids_[r] for r in rows[candidate][entering > bound].tolist()], role, fairness=fairness,
        floor=floor, today=today)
    mended = sorted([c for c in ranking.candidates if c.agent_id not in changed] + came,
                    key=lambda c: (-c.score, c.agent_id))
    if len(mended) > top:
        mended, bound = mended[:top], mended[top - 1].score
    if len(mended) < at_least and bound != float("-inf"):
        return None  # fewer than asked are known exactly: those below the bound are not known
    return Ranking(ranking.role_id, mended, ranking.near_misses, ranking.examined, bound, ranking.weights)


def _could_enter(scores: np.ndarray, listed: list[float], room: int) -> bool:
    """Whether an agent with one of ``scores`` could take a place in a list of ``room`` places that shows
    ``listed`` (best first)."""
    if scores.size == 0:
        return False
    if len(listed) < room:
        return True
    return bool(scores.max() + MARGIN >= min(listed))
