"""Explanations of a score and near-miss reasons, built only for the agents a ranking returns.

The explanation separates skills matched directly (with levels), matched through a related or
normalised skill, held below the required level, and missing; its JSON shape is documented in
``docs/matching.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import lru_cache, partial
from typing import Any

import numpy as np

from matching.availability import DEFAULT_FLOOR, Eligibility, eligibility
from matching.index import EPS, INTEREST_FACTOR, NOT_A_SOURCE, IndexBase, Period, RoleVector, held_skills
from matching.scoring import LEVELS, interest_factor, level_credit
from matching.types import AgentSkill, CandidateProfile, RoleRequirement, SkillRequirement

__all__ = ["Explained", "ExplainingIndex", "NearMiss"]

Explanation = dict[str, Any]


@lru_cache(maxsize=4096)
def _iso_day(ordinal: int) -> str | None:
    """The ISO date of a day ordinal, ``None`` for 0 or less (no day); rankings show the same few days."""
    return date.fromordinal(ordinal).isoformat() if ordinal > 0 else None


def rounded(values: np.ndarray, digits: int | np.ndarray) -> list[float]:
    """``[round(v, digits) for v in values.tolist()]`` of a 1-d array: the same floats, at once; ``digits``
    is one number for all, or an integer array of one per value.

    Python's ``round`` picks the integer nearest to the exact ``v × 10**digits`` (ties to even) and returns
    the double nearest to that integer over ``10**digits``. ``np.rint`` of the product picks the same
    integer unless the product lies within its rounding error of a half (then Python's ``round`` is
    asked), and dividing an exact integer by an exact power of ten rounds as Python's ``round`` does.
    """
    per_value = np.ndim(digits) > 0
    scale = _POWERS_OF_TEN[digits] if per_value else 10.0**digits
    places = np.asarray(digits).tolist() if per_value else None  # each value's digits, for Python's round
    scaled = values * scale
    if not (np.abs(scaled) < 2.0**40).all():  # too large for the product to be exact to a millionth, or nan
        flat = values.tolist()
        return [round(v, places[k] if places else digits) for k, v in enumerate(flat)]  # type: ignore[arg-type]
    whole = np.rint(scaled)
    out = (whole / scale).tolist()
    doubtful = (np.abs(np.abs(scaled - whole) - 0.5) <= 1e-6).nonzero()[0]  # near a half: Python decides
    if doubtful.size:
        flat = values.tolist()
        for k in doubtful.tolist():
            out[k] = round(flat[k], places[k] if places else digits)  # type: ignore[arg-type]
    return out


_POWERS_OF_TEN = np.array([10.0**d for d in range(16)])  # exact doubles, as Python computes 10.0**digits


def _held_among(profile: CandidateProfile, skill_ids: set[str]) -> dict[str, AgentSkill]:
    """:func:`matching.index.held_skills` of the profile, for ``skill_ids`` only (the same entries)."""
    held: dict[str, AgentSkill] = {}
    for s in profile.skills:
        if s.skill_id in skill_ids:
            cur = held.get(s.skill_id)
            if cur is None or min(max(s.level, 1), LEVELS) >= min(max(cur.level, 1), LEVELS):
                held[s.skill_id] = s
    return held


class Explained:
    """An agent with a score in [0, 1] and its explanation, a JSON-ready dict.

    A ranking reads what the explanations need of the index with the scores; their numbers are computed
    when the first of a ranking's explanations is read, and each dictionary laid out when read, so that
    callers that only need scores (the allocation solver ranks every open role) do not pay for them.
    """

    __slots__ = ("_explanation", "agent_id", "score")

    def __init__(self, agent_id: str, score: float, explanation: Explanation | Callable[[], Explanation]) -> None:
        self.agent_id = agent_id
        self.score = score
        self._explanation = explanation

    @property
    def explanation(self) -> Explanation:
        if not isinstance(self._explanation, dict):
            self._explanation = self._explanation()
        return self._explanation

    def _key(self) -> tuple[Any, ...]:
        return (self.agent_id, self.score, self.explanation)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._key() == other._key()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(agent_id={self.agent_id!r}, score={self.score!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), self._key())


class NearMiss(Explained):
    """An agent who misses the role by a little; ``reasons`` say how, in French."""

    __slots__ = ("reasons",)

    def __init__(
        self, agent_id: str, score: float, reasons: list[str], explanation: Explanation | Callable[[], Explanation]
    ) -> None:
        super().__init__(agent_id, score, explanation)
        self.reasons = reasons

    def _key(self) -> tuple[Any, ...]:
        return (self.agent_id, self.score, self.reasons, self.explanation)


class ExplainingIndex(IndexBase):
    """Adds explanations and near-miss reasons to the index."""

    def _text_similarity(self, profile: CandidateProfile, rv: RoleVector) -> float:
        if rv.text_weight <= 0:
            return 0.0
        row = self.row_of_.get(profile.agent_id)
        if row is not None and self.profiles_[row] is profile:
            # indexed: the stored text vector, summed as the ranking sums it (same float, bit for bit)
            return float(self._text_scores(np.array([row], dtype=np.int64), rv.vector)[0] / rv.text_weight)
        tcols, tvals = self._text_row(None, profile.text)
        return float(tvals @ rv.vector[tcols]) / rv.text_weight if tcols.size else 0.0

    def _miss_picks(
        self, rows: np.ndarray, role: RoleRequirement, period: Period, offset: int, limit: int
    ) -> tuple[list[int], list[list[str]]]:
        """Of ``rows`` (best first, their eligibility at ``period`` positions ``offset``…), the first
        ``limit`` that miss the role by a little: their positions in ``rows`` and their reasons."""
        picked: list[int] = []
        reasons_of: list[list[str]] = []
        starts, ends, frees = period.start.tolist(), period.end.tolist(), period.free.tolist()
        bounds = period.indptr.tolist()
        eligible, min_free = period.eligible.tolist(), period.min_free.tolist()
        required = [r for r in role.skills if r.required]
        for c, row in enumerate(rows.tolist()):
            if len(picked) >= limit:
                break
            profile = self.profiles_[row]
            if profile is None:
                continue
            i = offset + c
            a, b = bounds[i], bounds[i + 1]
            # the segments tell only why an agent is not available
            segments = [] if eligible[i] else list(zip(starts[a:b], ends[a:b], frees[a:b], strict=True))
            reasons = self._miss_reasons(profile, role, eligible[i], segments, min_free[i], required)
            if reasons:
                picked.append(c)
                reasons_of.append(reasons)
        return picked, reasons_of

    def _miss_reasons(
        self,
        profile: CandidateProfile,
        role: RoleRequirement,
        eligible: bool,
        segments: list[tuple[int, int, float]],
        min_free: float,
        required: list[SkillRequirement] | None = None,
    ) -> list[str]:
        """French reasons when the agent misses by a little on exactly one point, else ``[]``.

        ``eligible``, ``segments`` (ordinal start, ordinal end, free share) and ``min_free`` are those of
        :func:`matching.availability.eligibility` for the role's period; ``required``: the role's required
        skills, when the caller has them.
        """
        low = []
        required = [r for r in role.skills if r.required] if required is None else required
        if required:
            held = _held_among(profile, {r.skill_id for r in required})
            for r in required:
                s = held.get(r.skill_id)
                level = s.level if s else 0
                if level < r.level:
                    low.append((r, level))
        if eligible:
            if len(low) == 1 and low[0][1] == low[0][0].level - 1:
                r, level = low[0]
                label = self.taxonomy_.label(r.skill_id)
                return [f"Niveau {level} en {label} pour un niveau {r.level} requis"]
            return []
        if low:
            return []
        share = role.share
        short = [(s, e) for s, e, free in segments if free + EPS < share]
        if not short:
            return []
        short_days = sum(e - s + 1 for s, e in short)
        last_short = max(e for _, e in short)
        first_short = min(s for s, _ in short)
        start, end = role.start.toordinal(), role.end.toordinal()
        # a late start: every short day sits at the beginning of the period
        late = first_short == start and short_days == last_short - start + 1
        if late and short_days <= self.near_miss_days:
            first_ok = date.fromordinal(last_short + 1)
            return [
                f"Disponible seulement à partir du {first_ok:%d/%m/%Y}, "
                f"soit {short_days} jour{'s' if short_days > 1 else ''} après le début du rôle"
            ]
        # an early end: every short day sits at the end
        early = last_short == end and short_days == end - first_short + 1
        if early and short_days <= self.near_miss_days:
            last_ok = date.fromordinal(first_short - 1)
            return [
                f"Disponibilité jusqu'au {last_ok:%d/%m/%Y} seulement, "
                f"soit {short_days} jour{'s' if short_days > 1 else ''} avant la fin du rôle"
            ]
        if min_free + self.near_miss_share + EPS >= share and min_free > 0:
            return [f"Temps libre de {round(min_free * 100)} % au plus bas pour {round(share * 100)} % demandés"]
        return []

    # ================================================================== explanations
    def _explain(
        self,
        profile: CandidateProfile,
        role: RoleRequirement,
        rv: RoleVector,
        today: date | None = None,
        fairness: bool = True,
        floor: float = DEFAULT_FLOOR,
        eligibility_: Eligibility | None = None,
        text_sim: float | None = None,
    ) -> dict[str, Any]:
        """The explanation of one agent's score for a role (shape documented in ``docs/matching.md``).

        ``eligibility_`` and ``text_sim`` let a ranking pass what it already computed.
        """
        today = today or role.start
        held = held_skills(profile)
        matched: list[dict[str, Any]] = []
        related: list[dict[str, Any]] = []
        below: list[dict[str, Any]] = []
        missing: list[dict[str, Any]] = []
        fit = 0.0
        for j, req in enumerate(role.skills):
            k = rv.skill_idx[j]
            direct = held.get(req.skill_id)
            best, how = 0.0, None
            if direct is not None:
                best = self._credit(direct, req.level, 1.0, today)
                how = ("direct", direct, 1.0, "")
            for t, (sim, source) in (self.related_.get(k, {}) if k >= 0 else {}).items():
                other = held.get(self.skill_ids_[t])
                if other is not None:
                    c = self._credit(other, req.level, sim, today)
                    if c > best + EPS:
                        best, how = c, ("related", other, sim, source)
            fit += float(rv.weights[j]) * best
            base = {
                "skill_id": req.skill_id,
                "label": self.taxonomy_.label(req.skill_id),
                "required_level": req.level,
                "required": req.required,
                "weight": round(float(rv.weights[j]), 4),
            }
            if how is None:
                missing.append(base)
            elif direct is not None and (how[0] == "direct" or direct.level < req.level):
                # Held directly: matched at or above the required level, else below level (both levels
                # shown) even when a related skill earned more credit.
                held_entry = base | {
                    "agent_level": direct.level,
                    "credit": round(best, 4),
                    "last_used": direct.last_used.isoformat() if direct.last_used else None,
                    "interest": direct.interest,
                }
                (matched if direct.level >= req.level else below).append(held_entry)
            else:
                s = how[1]
                related.append(
                    base
                    | {
                        "via_skill_id": s.skill_id,
                        "via_label": self.taxonomy_.label(s.skill_id),
                        "agent_level": s.level,
                        "source": how[3],
                        "similarity": round(how[2], 4),
                        "credit": round(best, 4),
                    }
                )
        if text_sim is None:
            text_sim = self._text_similarity(profile, rv)
        row = self.row_of_.get(profile.agent_id)
        if not fairness:
            fair = 1.0
        elif row is not None and self.profiles_[row] is profile:
            fair = float(self.fair_[row])
        else:
            fair = float(self._fairness(profile.open_proposals))
        score = min(1.0, max(0.0, (rv.skill_weight * fit + rv.text_weight * text_sim) * fair))
        el = eligibility_ or eligibility(
            profile.availability, profile.commitments, role.start, role.end, role.share, floor
        )
        return {
            "score": round(score, 6),
            "parts": {
                "skills": round(fit, 6),
                "text": round(text_sim, 6),
                "skills_weight": round(rv.skill_weight, 6),
                "text_weight": round(rv.text_weight, 6),
                "fairness_factor": round(fair, 6),
            },
            "matched": matched,
            "related": related,
            "below_level": below,
            "missing": missing,
            "availability": {
                "start": role.start.isoformat(),
                "end": role.end.isoformat(),
                "share": role.share,
                "eligible": el.eligible,
                "min_free": round(el.min_free, 6),
                "short_days": el.short_days,
                "segments": [
                    {"start": s.start.isoformat(), "end": s.end.isoformat(), "free": round(s.free, 6)}
                    for s in el.segments
                ],
            },
            "fairness": {
                "applied": fairness,
                "open_proposals": profile.open_proposals,
                "factor": round(fair, 6),
            },
        }

    def _credit(self, s: AgentSkill, required_level: int, sim: float, today: date) -> float:
        # recency from the vectorised function the scores use (numpy's power may differ from Python's
        # in the last bit), so that this and _credits give the same floats
        recency = float(self._recency(np.array([s.last_used.toordinal() if s.last_used else -1]), today)[0])
        return sim * level_credit(s.level, required_level) * interest_factor(s.interest) * recency

    def _explain_rows(
        self,
        rows: np.ndarray,
        role: RoleRequirement,
        rv: RoleVector,
        today: date,
        fairness: bool,
        floor: float,
        text_sim: np.ndarray,
        period: Period,
        at: np.ndarray | None = None,
    ) -> list[Explanation | Callable[[], Explanation]]:
        """:meth:`_explain` of indexed ``rows`` (their eligibility at positions ``at`` of ``period``, by
        default the same positions), for all rows together from the matrix: numpy arrays of entries held ×
        asked skills give the credits, the source each asked skill takes its credit from, the skill fit
        and the score. Same content, float for float, as :meth:`_explain` (pinned by a test).

        What the explanations need of the index is read now (the index may change before they are read);
        the rest is computed when the first of them is read, and each dictionary laid out when read (see
        :class:`Explained`). Rows that are not *plain* (a level or interest out of range) are explained by
        :meth:`_explain` at once."""
        m = rows.size
        entries = self._skill_entries(rows) if rv.src_skills.size and role.skills else None
        profiles = [self.profiles_[r] for r in rows.tolist()]
        batch = _Layout(
            self,
            role,
            rv,
            today,
            fairness,
            entries,
            text_sim,
            self.fair_[rows] if fairness else np.ones(m),
            [p.open_proposals if p is not None else 0 for p in profiles],
            period,
            at,
        )
        layout = batch.layout
        out: list[Explanation | Callable[[], Explanation]] = [partial(layout, i) for i in range(m)]
        for i in (~self.plain_[rows]).nonzero()[0].tolist():
            # read now: the index may change before the explanation is read
            p = profiles[i]
            assert p is not None
            el = eligibility(p.availability, p.commitments, role.start, role.end, role.share, floor)
            out[i] = self._explain(p, role, rv, today, fairness, floor, el, float(text_sim[i]))
        return out

    def _credits(
        self,
        entries: tuple[np.ndarray, ...],
        m: int,
        asked: tuple[SkillRequirement, ...],
        rv: RoleVector,
        today: date,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """For ``m`` rows × asked skills, from the rows' skill ``entries`` (:meth:`_skill_entries`): the kind
        of explanation entry (0 missing, 1 matched, 2 below level, 3 related), the credit taken, the source
        skill shown (position in ``rv.src_skills``) and what the entry shows of it, packed:
        ``(last used ordinal + 1) * 64 + interest * 8 + level``.

        Each credit is ``similarity × level credit × interest × recency``, multiplied in that order as
        :meth:`_credit` does, so the floats are the same. A skill held directly gives its credit; a related
        one replaces it only when better by more than ``EPS`` — the first in ``related_`` order among
        equals — as the reference loop decides.
        """
        n_asked = len(asked)
        # -1 where nothing is held; one allocation for the three float and the three integer tables
        floats = np.full((3, m, n_asked), -1.0)
        ints = np.zeros((3, m, n_asked), dtype=np.int64)
        direct, top, related = floats  # credit of the asked skill held itself, best and shown related credit
        source, d_shown, r_shown = ints
        # the same tables flat: assignments at flat positions (row × n_asked + asked skill) are cheaper
        flat_direct, flat_top, flat_related = floats.reshape(3, -1)
        flat_source, flat_d_shown, flat_r_shown = ints.reshape(3, -1)
        pos, cols, lu, code = entries
        # Only the entries held in a source of some asked skill, as (entry × asked skill) arrays.
        where = np.minimum(rv.contrib_cols.searchsorted(cols), rv.contrib_cols.size - 1)
        hit = (rv.contrib_cols[where] == cols).nonzero()[0]
        if hit.size:
            hp, at, lu, code = pos[hit], where[hit], lu[hit], code[hit].astype(np.int64)
            si, below = np.divmod(at, LEVELS)  # source skill, level - 1
            # rv.contrib is similarity × level credit, so this is _credit's product, float for float
            credit = (rv.contrib[at] * INTEREST_FACTOR[code][:, None]) * self._recency(lu, today)[:, None]
            order = rv.src_order[si]
            shown = (lu * 8 + code) * 8 + below + 65  # (lu + 1) * 64 + code * 8 + level
            row_at = hp * n_asked
            e, j = (si[:, None] == rv.src_direct).nonzero()  # one entry at most per row and asked skill
            cell = row_at[e] + j
            flat_direct[cell] = credit[e, j]
            flat_d_shown[cell] = shown[e]
            # Related skills held: a few per ranking, so their best per cell is picked in plain Python.
            e, j = ((order > 0) & (order != NOT_A_SOURCE)).nonzero()
            if e.size:
                cells, credits = (row_at[e] + j).tolist(), credit[e, j].tolist()
                top_of: dict[int, float] = {}  # cell → best related credit
                for c, x in zip(cells, credits, strict=True):
                    if x > top_of.get(c, -1.0):
                        top_of[c] = x
                # the first in order among the related skills within EPS of the best
                pick: dict[int, tuple[int, int]] = {}  # cell → (order, candidate)
                for k, (c, x, o) in enumerate(zip(cells, credits, order[e, j].tolist(), strict=True)):
                    if x >= top_of[c] - EPS and (c not in pick or o < pick[c][0]):
                        pick[c] = (o, k)
                flat_top[list(top_of)] = list(top_of.values())
                won = np.array([k for _, k in pick.values()])
                cell, e_won = np.array(list(pick)), e[won]
                flat_source[cell] = si[e_won]
                flat_related[cell] = credit[e_won, j[won]]
                flat_r_shown[cell] = shown[e_won]
        base = np.maximum(direct, 0.0)
        related_won = top > base + EPS
        best = np.where(related_won, related, base)
        low = d_shown % 8 < np.array([r.level for r in asked])
        # held directly: matched at or above the level, else below level even when a related skill won
        shown_held = (direct >= 0) & (low | ~related_won)
        kind = np.where(shown_held, low + 1, related_won * 3)
        what = np.where(shown_held, d_shown, r_shown)
        return kind, best, source, what


class _Layout:
    """What a batch of explanations shows: the index's part read with the ranking, the rest computed when
    the first of them is read (:meth:`_compute`), when all the batch's dictionaries are laid out together
    (the shape of :meth:`ExplainingIndex._explain`) from plain Python lists, one pass per row."""

    def __init__(
        self,
        index: ExplainingIndex,
        role: RoleRequirement,
        rv: RoleVector,
        today: date,
        fairness: bool,
        entries: tuple[np.ndarray, ...] | None,
        text: np.ndarray,
        fair: np.ndarray,
        open_proposals: list[int],
        period: Period,
        at: np.ndarray | None,
    ) -> None:
        # what the index may change later (fit replaces these mappings; upserts only append skills)
        self._credits, self._related, self._skill_ids = index._credits, index.related_, index.skill_ids_
        self._label = index.taxonomy_.label
        self._inputs = (role, rv, today, entries, text, fair, period, at)
        self.fairness, self.open_proposals = fairness, open_proposals
        self._laid: list[Explanation] | None = None

    def layout(self, i: int) -> Explanation:
        """The explanation of the batch's ``i``-th row."""
        if self._laid is None:
            self._laid = self._compute()
        return self._laid[i]

    def _compute(self) -> list[Explanation]:
        role, rv, today, entries, text, fair, period, at = self._inputs
        m, n_asked = text.size, len(role.skills)
        if entries is not None:
            kind, best, source, what = self._credits(entries, m, role.skills, rv, today)
        else:
            kind = source = what = np.zeros((m, n_asked), dtype=np.int64)
            best = np.zeros((m, n_asked))
        # summed left to right as the reference sums, so that the sum is the same float (a cumulative sum adds
        # in that order; a plain sum along the row may not)
        fit = (best * rv.weights).cumsum(axis=1)[:, -1] if n_asked else np.zeros(m)
        score = np.minimum(1.0, np.maximum(0.0, (rv.skill_weight * fit + rv.text_weight * text) * fair))
        label = self._label
        via: dict[tuple[int, int], tuple[str, str, str, float]] = {}  # (source, asked skill) → shown
        for i, j in zip(*(kind == 3).nonzero(), strict=True):
            src = int(source[i, j])
            if (src, j) not in via:
                t = int(rv.src_skills[src])
                sim, how = self._related[rv.skill_idx[j]][t]
                sid = self._skill_ids[t]
                via[(src, int(j))] = (sid, label(sid), how, round(sim, 4))
        # each asked skill's part of an entry: its dictionary (copied for a missing skill) and its values
        asked = [
            (r.skill_id, label(r.skill_id), r.level, r.required, round(float(rv.weights[j]), 4))
            for j, r in enumerate(role.skills)
        ]
        bases = [
            {"skill_id": sid, "label": lab, "required_level": lvl, "required": req, "weight": weight}
            for sid, lab, lvl, req, weight in asked
        ]
        # Python numbers from here, rounded a whole array at a time as the reference rounds each
        skills_weight, text_weight = round(rv.skill_weight, 6), round(rv.text_weight, 6)
        kinds, sources, whats = (x.tolist() for x in (kind, source, what))
        positions = at if at is not None else np.arange(m)  # each row's position in the period
        # credits to 4 digits, the rest to 6, in one pass
        by_row = [score, fit, text, fair, period.min_free[positions], period.free]
        n_credits = best.size
        values = np.concatenate([best.ravel(), *by_row])
        all_rounded = rounded(values, np.array([4, 6]).repeat([n_credits, values.size - n_credits]))
        flat_credits = all_rounded[:n_credits]
        scores, fits, texts, fairs, min_free = (
            all_rounded[n_credits + k * m : n_credits + (k + 1) * m] for k in range(5)
        )
        seg_free = all_rounded[n_credits + 5 * m :]
        eligible, short_days = period.eligible[positions].tolist(), period.short_days[positions].tolist()
        bounds, seg_start, seg_end = period.indptr.tolist(), period.start.tolist(), period.end.tolist()
        start, end, share, fairness = role.start.isoformat(), role.end.isoformat(), role.share, self.fairness
        day, open_proposals = _iso_day, self.open_proposals
        laid: list[Explanation] = []
        rows = zip(kinds, whats, sources, positions.tolist(), strict=True)
        for i, (kind_i, what_i, source_i, p) in enumerate(rows):
            matched: list[dict[str, Any]] = []
            related: list[dict[str, Any]] = []
            below: list[dict[str, Any]] = []
            missing: list[dict[str, Any]] = []
            credit_i = flat_credits[i * n_asked : (i + 1) * n_asked]
            for j, k in enumerate(kind_i):
                if k == 0:
                    missing.append(bases[j].copy())
                    continue
                sid, lab, lvl, req, weight = asked[j]
                w = what_i[j]  # (last used ordinal + 1) * 64 + interest * 8 + level
                # dictionaries written out whole: cheaper than unpacking the base into them
                if k == 3:
                    via_id, via_label, how, similarity = via[(source_i[j], j)]
                    related.append(
                        {
                            "skill_id": sid,
                            "label": lab,
                            "required_level": lvl,
                            "required": req,
                            "weight": weight,
                            "via_skill_id": via_id,
                            "via_label": via_label,
                            "agent_level": w & 7,
                            "source": how,
                            "similarity": similarity,
                            "credit": credit_i[j],
                        }
                    )
                else:
                    (matched if k == 1 else below).append(
                        {
                            "skill_id": sid,
                            "label": lab,
                            "required_level": lvl,
                            "required": req,
                            "weight": weight,
                            "agent_level": w & 7,
                            "credit": credit_i[j],
                            "last_used": day((w >> 6) - 1),
                            "interest": (w >> 3) & 7 or None,
                        }
                    )
            a, b = bounds[p], bounds[p + 1]
            if b == a + 1:  # the common case, without a comprehension's call
                segments = [{"start": day(seg_start[a]), "end": day(seg_end[a]), "free": seg_free[a]}]
            else:
                segments = [
                    {"start": day(seg_start[s]), "end": day(seg_end[s]), "free": seg_free[s]} for s in range(a, b)
                ]
            laid.append(
                {
                    "score": scores[i],
                    "parts": {
                        "skills": fits[i],
                        "text": texts[i],
                        "skills_weight": skills_weight,
                        "text_weight": text_weight,
                        "fairness_factor": fairs[i],
                    },
                    "matched": matched,
                    "related": related,
                    "below_level": below,
                    "missing": missing,
                    "availability": {
                        "start": start,
                        "end": end,
                        "share": share,
                        "eligible": eligible[i],
                        "min_free": min_free[i],
                        "short_days": short_days[i],
                        "segments": segments,
                    },
                    "fairness": {"applied": fairness, "open_proposals": open_proposals[i], "factor": fairs[i]},
                }
            )
        return laid
