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
from matching.index import EPS, INTEREST_FACTOR, IndexBase, Period, RoleVector, held_skills
from matching.scoring import LEVELS, interest_factor, level_credit
from matching.types import AgentSkill, CandidateProfile, RoleRequirement, SkillRequirement

__all__ = ["Explained", "ExplainingIndex", "NearMiss"]

Explanation = dict[str, Any]


@lru_cache(maxsize=4096)
def _iso_day(ordinal: int) -> str | None:
    """The ISO date of a day ordinal, ``None`` for 0 or less (no day); rankings show the same few days."""
    return date.fromordinal(ordinal).isoformat() if ordinal > 0 else None


def _french_day(ordinal: int) -> str:
    """The day as ``strftime("%d/%m/%Y")`` writes it, without going through the C library's strftime."""
    day = date.fromordinal(ordinal)
    return f"{day.day:02d}/{day.month:02d}/{day.year}"


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
    scaled = values * scale
    if not (np.abs(scaled) < 2.0**40).all():  # too large for the product to be exact to a millionth, or nan
        places = np.broadcast_to(digits, values.shape).tolist()
        return [round(v, d) for v, d in zip(values.tolist(), places, strict=True)]
    whole = np.rint(scaled)
    out = (whole / scale).tolist()
    # near a half (within 1e-6, and a little more: asking Python for a few more changes nothing): Python decides
    doubtful = (np.abs(scaled - whole) >= 0.5 - 2e-6).nonzero()[0]
    if doubtful.size:
        flat = values.tolist()
        for k in doubtful.tolist():
            out[k] = round(flat[k], int(digits[k]) if per_value else digits)  # type: ignore[index,arg-type]
    return out


_POWERS_OF_TEN = np.array([10.0**d for d in range(16)])  # exact doubles, as Python computes 10.0**digits
_INTEREST = INTEREST_FACTOR.tolist()  # the same doubles, read by plain Python


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
        for c, profile in enumerate(self.profiles_.take(rows.tolist())):
            if len(picked) >= limit:
                break
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
        # the segments short of the share: their days, first day and last day (one loop: a few segments)
        short, short_days, first_short, last_short = False, 0, 0, 0
        for first, last, free in segments:
            if free + EPS < share:
                first_short = min(first_short, first) if short else first
                last_short = max(last_short, last) if short else last
                short_days += last - first + 1
                short = True
        if not short:
            return []
        start, end = role.start.toordinal(), role.end.toordinal()
        # a late start: every short day sits at the beginning of the period
        late = first_short == start and short_days == last_short - start + 1
        if late and short_days <= self.near_miss_days:
            return [
                f"Disponible seulement à partir du {_french_day(last_short + 1)}, "
                f"soit {short_days} jour{'s' if short_days > 1 else ''} après le début du rôle"
            ]
        # an early end: every short day sits at the end
        early = last_short == end and short_days == end - first_short + 1
        if early and short_days <= self.near_miss_days:
            return [
                f"Disponibilité jusqu'au {_french_day(first_short - 1)} seulement, "
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
        # in the last bit), so that this and the ranking's explanations (_Layout._pairs) give the same floats
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
        default the same positions), for all rows together from the matrix: the skill entries held that give
        credit to an asked skill give the credits (numpy), the source each asked skill takes its credit from,
        the skill fit (plain Python: a few per row) and the score. Same content, float for float, as
        :meth:`_explain` (pinned by a test).

        What the explanations need of the index is read now (the index may change before they are read);
        the rest is computed when the first of them is read, and each dictionary laid out when read (see
        :class:`Explained`). Rows that are not *plain* (a level or interest out of range) are explained by
        :meth:`_explain` at once."""
        m = rows.size
        entries = self._skill_hits(rows, rv.contrib_at) if rv.src_skills.size and role.skills else None
        profiles = self.profiles_.take(rows.tolist())
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
        self._recency, self._related, self._skill_ids = index._recency, index.related_, index.skill_ids_
        self._label = index.taxonomy_.label
        self._inputs = (role, rv, today, entries, text, fair, period, at)
        self.fairness, self.open_proposals = fairness, open_proposals
        self._laid: list[Explanation] | None = None

    def layout(self, i: int) -> Explanation:
        """The explanation of the batch's ``i``-th row."""
        if self._laid is None:
            self._laid = self._compute()
        return self._laid[i]

    def _cells(
        self, entries: tuple[np.ndarray, ...], rv: RoleVector, today: date
    ) -> tuple[dict[int, list[Any]], list[int], list[int], list[int], list[int]]:
        """Every (skill entry held, asked skill) pair where the entry gives credit to the asked skill, by row
        and asked skill: the credit and entry of the asked skill held itself (one at most), and the related
        skills' offers (credit, order, entry) in entry order. Then what each such entry shows: its position
        among the source skills of the role (``rv.src_skills``), level, last used ordinal, interest code.

        Each credit is ``similarity × level credit × interest × recency``, multiplied in that order as
        :meth:`ExplainingIndex._credit` does, so the floats are the same. ``entries``: the entries that count,
        as :meth:`IndexBase._skill_hits` reads them (about 80 a ranking); plain Python, cheaper than numpy
        calls on so few, does the rest."""
        pos, where, last_used, code = entries
        recency = self._recency(last_used, today).tolist()
        codes = code.tolist()
        targets, contrib, interest, n_asked = rv.src_targets, rv.contrib_rows, _INTEREST, len(rv.skill_idx)
        held: dict[int, list[Any]] = {}
        sources: list[int] = []
        levels: list[int] = []
        for e, (i, at, c, r) in enumerate(zip(pos.tolist(), where.tolist(), codes, recency, strict=True)):
            source, below = divmod(at, LEVELS)
            sources.append(source)
            levels.append(below + 1)
            cells = held.get(i)
            if cells is None:
                cells = held[i] = [None] * n_asked
            credits = contrib[at]  # similarity × level credit: _credit's product, float for float
            for j, order in targets[source]:
                x = credits[j] * interest[c] * r
                cell = cells[j]
                if cell is None:
                    cell = cells[j] = [None, None]
                if order == 0:
                    cell[0] = (x, e)
                elif cell[1] is None:
                    cell[1] = [(x, order, e)]
                else:
                    cell[1].append((x, order, e))
        return held, sources, levels, last_used.tolist(), codes

    def _compute(self) -> list[Explanation]:
        role, rv, today, entries, text, fair, period, at = self._inputs
        m = text.size
        skills, fits, shown = self._skill_parts(role, rv, today, entries, m)
        # the same floats as the reference: its fit, then its score's operations in its order
        fit = np.array(fits)
        score = np.minimum(1.0, np.maximum(0.0, (rv.skill_weight * fit + rv.text_weight * text) * fair))
        positions = at if at is not None else np.arange(m)  # each row's position in the period
        # Python numbers from here, rounded a whole array at a time as the reference rounds each: the credits
        # shown to 4 digits, the rest to 6, in one pass
        n = len(shown)
        credits = [c for _, c in shown]
        values = np.concatenate([credits, score, fit, text, fair, period.min_free[positions], period.free])
        digits = np.full(values.size, 6)
        digits[:n] = 4
        all_rounded = rounded(values, digits)
        for (entry, _), credit in zip(shown, all_rounded, strict=False):
            entry["credit"] = credit
        by_row = [all_rounded[n + k * m : n + (k + 1) * m] for k in range(5)]  # score, fit, text, fairness, min free
        return self._lay_out(role, rv, skills, by_row, all_rounded[n + 5 * m :], period, positions)

    def _lay_out(
        self,
        role: RoleRequirement,
        rv: RoleVector,
        skills: list[tuple[list[Explanation], ...]],
        by_row: list[list[float]],
        seg_free: list[float],
        period: Period,
        positions: np.ndarray,
    ) -> list[Explanation]:
        """Each row's explanation, from its skill entries, its rounded figures and its period's segments."""
        scores, fits, texts, fairs, min_free = by_row
        eligible, short_days = period.eligible[positions].tolist(), period.short_days[positions].tolist()
        day, open_proposals, copy = _iso_day, self.open_proposals, dict.copy
        # Each row's dictionaries are copies of these, their row's values set: cheaper than writing them out
        # whole (a copy takes the keys at once, a literal inserts them one by one).
        parts_of = {
            "skills": 0.0,
            "text": 0.0,
            "skills_weight": round(rv.skill_weight, 6),
            "text_weight": round(rv.text_weight, 6),
            "fairness_factor": 0.0,
        }
        availability_of = {
            "start": role.start.isoformat(),
            "end": role.end.isoformat(),
            "share": role.share,
            "eligible": False,
            "min_free": 0.0,
            "short_days": 0,
            "segments": [],
        }
        fairness_of = {"applied": self.fairness, "open_proposals": 0, "factor": 1.0}
        # every segment of the period at once (a comprehension; each row takes its slice of them, its own)
        every = [
            {"start": day(a), "end": day(b), "free": f}
            for a, b, f in zip(period.start.tolist(), period.end.tolist(), seg_free, strict=True)
        ]
        bounds = period.indptr.tolist()
        laid: list[Explanation] = []
        for i, ((matched, related, below, missing), p) in enumerate(zip(skills, positions.tolist(), strict=True)):
            segments = every[bounds[p] : bounds[p + 1]]
            parts = copy(parts_of)
            parts["skills"], parts["text"], parts["fairness_factor"] = fits[i], texts[i], fairs[i]
            availability = copy(availability_of)
            availability["eligible"], availability["min_free"] = eligible[i], min_free[i]
            availability["short_days"], availability["segments"] = short_days[i], segments
            fairness = copy(fairness_of)
            fairness["open_proposals"], fairness["factor"] = open_proposals[i], fairs[i]
            laid.append(
                {
                    "score": scores[i],
                    "parts": parts,
                    "matched": matched,
                    "related": related,
                    "below_level": below,
                    "missing": missing,
                    "availability": availability,
                    "fairness": fairness,
                }
            )
        return laid

    def _skill_parts(
        self, role: RoleRequirement, rv: RoleVector, today: date, entries: tuple[np.ndarray, ...] | None, m: int
    ) -> tuple[list[tuple[list[Explanation], ...]], list[float], list[tuple[Explanation, float]]]:
        """Of each row: its matched, related, below-level and missing entries, and its skill fit; and the
        entries shown with a credit, each with its credit not yet rounded (the caller rounds them at once,
        and sets them).

        A skill held directly gives its credit; a related one replaces it only when better by more than
        ``EPS`` — the first in ``related_`` order among those within ``EPS`` of the best — as the reference
        loop decides. Held directly, a skill is shown matched at or above the required level, else below
        level even when a related skill earned more credit."""
        held, sources, levels, last_used, interests = (
            self._cells(entries, rv, today) if entries is not None else ({}, [], [], [], [])
        )
        weights = rv.weights.tolist()
        required_levels = [r.level for r in role.skills]
        bases, held_of = rv.shown, rv.shown_held  # templates: the entries are copies, their values set
        copy, day = dict.copy, _iso_day
        via: dict[tuple[int, int], Explanation] = {}  # (source, asked skill) → a related entry but its level
        parts: list[tuple[list[Explanation], ...]] = []
        fits: list[float] = []
        shown: list[tuple[Explanation, float]] = []
        for i in range(m):
            cells = held.get(i)
            if cells is None:  # nothing asked is held: every skill missing
                parts.append(([], [], [], list(map(copy, bases))))
                fits.append(0.0)
                continue
            matched: list[Explanation] = []
            related: list[Explanation] = []
            below: list[Explanation] = []
            missing: list[Explanation] = []
            fit = 0.0  # summed left to right, as the reference sums (a missing skill adds 0)
            for j, cell in enumerate(cells):
                if cell is None:
                    missing.append(copy(bases[j]))
                    continue
                direct, offers = cell
                best = direct[0] if direct is not None else 0.0
                offer = _first_best(offers) if offers is not None else None
                won = offer is not None and offer[0] > best + EPS
                if won:
                    best = offer[1]  # type: ignore[index]
                level = required_levels[j]
                if direct is not None and (levels[direct[1]] < level or not won):
                    k = direct[1]
                    entry = copy(held_of[j])
                    entry["agent_level"], entry["last_used"] = levels[k], day(last_used[k])
                    entry["interest"] = interests[k] or None
                    (matched if levels[k] >= level else below).append(entry)
                elif won:
                    src = sources[offer[2]]  # type: ignore[index]
                    template = via.get((src, j))
                    if template is None:
                        template = via[src, j] = self._via(rv, src, bases[j], j)
                    entry = copy(template)
                    entry["agent_level"] = levels[offer[2]]  # type: ignore[index]
                    related.append(entry)
                else:
                    missing.append(copy(bases[j]))
                    continue
                fit += weights[j] * best
                shown.append((entry, best))
            parts.append((matched, related, below, missing))
            fits.append(fit)
        return parts, fits, shown

    def _via(self, rv: RoleVector, source: int, base: Explanation, j: int) -> Explanation:
        """A related entry of the ``j``-th asked skill (``base``) through one of its source skills, but the
        agent's level (and its credit, set when rounded): the skill's id and label, the relation's source
        and similarity."""
        t = int(rv.src_skills[source])
        sim, how = self._related[rv.skill_idx[j]][t]
        sid = self._skill_ids[t]
        return base | {
            "via_skill_id": sid,
            "via_label": self._label(sid),
            "agent_level": 0,
            "source": how,
            "similarity": round(sim, 4),
            "credit": 0.0,
        }


def _first_best(offers: list[tuple[float, int, int]]) -> tuple[float, float, int]:
    """Of the related skills that offer credit to one asked skill (credit, order, entry): the best credit,
    and the credit and entry of the first in order among those within ``EPS`` of it (the first offered
    among equal orders)."""
    top = max(x for x, _, _ in offers)
    pick = min((o, n) for n, (x, o, _) in enumerate(offers) if x >= top - EPS)[1]
    return top, offers[pick][0], offers[pick][2]
