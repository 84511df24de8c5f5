"""Ranking agents for a role: :class:`CandidateIndex`.

How a role is ranked (details and figures in ``docs/matching.md``):

1. **Bulk score, one sparse product.** Every agent is one row of a CSR matrix. Its first columns
   (hashed) hold the *profile vector*: TF-IDF words of the profile text and the skills held
   (rarity-weighted), L2-normalised together. Then one column per (skill, level) pair, valued by the
   agent's interest × recency factors. A role becomes one dense vector: for each asked skill, the
   credit of each level (:func:`matching.scoring.level_credit`) times its weight and rarity (IDF), plus
   the same for related skills (taxonomy and co-occurrence) times their similarity; plus the role's
   own profile vector (its words, its skills expanded to related ones). ``matrix @ vector`` (read from the
   entries of the vector's nonzero columns only, the matrix being kept by column too), times
   each agent's fairness factor, gives every agent an *upper bound* of its exact score (related
   credit is summed there, maxed in the exact score; recency after the reference date only lowers it).
2. **Exact score on a short list.** Agents are taken in bulk order (``np.argpartition``), checked for
   eligibility (vectorised over per-agent free-share segments, then confirmed with
   :func:`matching.availability.eligibility`) and for required skills, and scored exactly. The list
   grows until ``top`` eligible agents have an exact score at least the bulk bound of every agent not
   yet looked at — so the returned order is the exact order, not an approximation.
3. **Explanations** are built only for the returned candidates and near misses.

Upserts and removals write to an overlay merged into the matrix every ``merge_every`` changes, so a
profile change is visible at once without rebuilding the matrix.
"""

from __future__ import annotations

import weakref
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np

from matching.availability import DEFAULT_FLOOR, Eligibility, above_floor
from matching.explain import Explained, ExplainingIndex, NearMiss
from matching.index import EPS, INTEREST_FACTOR, LEVEL_CREDIT, NOT_A_SOURCE, RoleVector
from matching.scoring import LEVELS, REQUIRED_WEIGHT, idf
from matching.types import CandidateProfile, RoleRequirement

if TYPE_CHECKING:
    from matching.team import TeamProposal

__all__ = ["Candidate", "CandidateIndex", "NearMiss", "Ranking"]

_COMPILED_KEPT = 64  # role vectors cached by an index and its forks (each holds a dense vector of the feature space)
# The bulk products the compiled roles keep (two floats an agent each): at 100 000 agents every compiled role keeps
# its own, at 1 000 000 the eight compiled last.
PRODUCTS_KEPT_BYTES = 128 * 2**20
_TRUE = np.ones(1, dtype=bool)


class Candidate(Explained):
    """An eligible agent for a role, with its score in [0, 1] and its explanation (JSON-ready dict, laid
    out when first read: see :class:`matching.explain.Explained`)."""

    __slots__ = ()


@dataclass(slots=True)
class Ranking:
    """Eligible candidates best first, near misses apart, and how many agents were examined exactly."""

    role_id: str
    candidates: list[Candidate] = field(default_factory=list)
    near_misses: list[NearMiss] = field(default_factory=list)
    examined: int = 0
    # Every candidate scoring above it is listed (ties with it: by agent id, as listed); -inf when the list holds
    # every candidate of the role. What a kept ranking may be mended with (:func:`matching.carry.carried`).
    bound: float = float("-inf")
    # The rarity weights of the role's skills it was scored with (the compiled weights' bytes): while they are the
    # same, so is the score of every agent that did not change (:func:`matching.carry.still_holds`).
    weights: bytes = b""


class CandidateIndex(ExplainingIndex):
    """An index of agents that ranks them for a role, and proposes teams for a need.

    Build it with :meth:`fit`; parameters are described on :class:`matching.index.IndexBase`.
    """

    # ================================================================== role compilation
    def _compile(self, role: RoleRequirement) -> RoleVector:
        """The role's vector, cached by what it is computed from (the same role is ranked again and again: a page,
        its refresh, the team view); nothing in it is written to after.

        Of the pool, a role's vector reads only the rarity of its skills — how many agents are indexed, how many
        hold each asked skill — and the width of the skill block: these are in the key, so the cache is shared
        with the index's forks (:meth:`~matching.index.IndexBase.fork`), and a profile edit that leaves them as
        they were (a bio, a window, a level) does not compile the roles again. A new fit starts an empty cache.
        """
        df = self.skill_df_
        found = (self.skill_index_.get(r.skill_id) for r in role.skills)
        rarity = (self.n_alive_, len(self.skill_ids_), *(-1.0 if k is None else float(df[k]) for k in found))
        key = (
            role.title,
            role.description,
            tuple(role.skills),
            self.text_weight,
            self.context_weight,
            self.occupation_weight,
            self.use_rarity,
            rarity,
        )
        cache = self.__dict__.setdefault("_compiled", {})
        rv = cache.get(key)
        if rv is None:
            if len(cache) >= _COMPILED_KEPT:
                cache.clear()
            rv = cache[key] = self._compile_now(role)
        return rv

    def _compile_now(self, role: RoleRequirement) -> RoleVector:
        n_alive = max(self.n_alive_, 1)
        n_asked = len(role.skills)
        text = f"{role.title} {role.description}".strip()
        ncols = self.text_features + LEVELS * len(self.skill_ids_)
        vec = np.zeros(ncols)
        skill_idx = [self.skill_index_.get(r.skill_id, -1) for r in role.skills]
        df = np.array([self.skill_df_[k] if k >= 0 else 0.0 for k in skill_idx], dtype=np.float64)
        rarity = idf(df, n_alive) if self.use_rarity else 1.0
        stated = np.array([r.weight * (REQUIRED_WEIGHT if r.required else 1.0) for r in role.skills], dtype=float)
        raw = stated * rarity
        weights = raw / raw.sum() if raw.size and raw.sum() > 0 else np.zeros(n_asked)
        # Where each asked skill takes credit from: itself, then its related skills in related_ order.
        # A handful of entries: plain Python lists, numpy only for the vector.
        src = [
            (t, j, sim, order)
            for j, k in enumerate(skill_idx)
            if k >= 0
            for order, (t, sim) in enumerate(
                [(k, 1.0), *((t, sim) for t, (sim, _) in self.related_.get(k, {}).items() if t != k)]
            )
        ]
        w = weights.tolist()
        # profile channel of the role: its words, and its skills expanded to their related ones
        context: dict[int, float] = {}
        for t, j, sim, _ in src:
            c = int(self.context_cols_[t])
            context[c] = context.get(c, 0.0) + w[j] * sim
        tcols, tvals = self._text_row(None, text)
        ccols = np.fromiter(context, dtype=np.int64, count=len(context))
        cvals = np.fromiter(context.values(), dtype=np.float64, count=len(context))
        asked = np.array(sorted({k for k in skill_idx if k >= 0}), dtype=np.int64)
        pcols, pvals = self._profile_vector(tcols, tvals, ccols, cvals, asked)
        tw = self.text_weight if pcols.size else 0.0
        sw = 1.0 - tw
        np.add.at(vec, pcols, tw * pvals)
        # skill channel: each (source skill, level) column earns similarity × level credit of the asked one
        levels = [min(max(r.level, 1), LEVELS) for r in role.skills]
        src_skills = sorted({t for t, *_ in src})
        at = {t: i for i, t in enumerate(src_skills)}
        s_at = np.array([at[t] for t, *_ in src], dtype=np.int64)
        s_j = np.array([j for _, j, _, _ in src], dtype=np.int64)
        s_sim = np.array([sim for _, _, sim, _ in src], dtype=np.float64)
        s_order = np.array([order for *_, order in src], dtype=np.int64)
        s_skill = np.array(src_skills, dtype=np.int64)
        table = LEVEL_CREDIT[:, np.array(levels, dtype=np.int64)[s_j] - 1].T  # (source, agent level)
        cols = self.text_features + s_skill[s_at][:, None] * LEVELS + np.arange(LEVELS)  # skill block
        np.add.at(vec, cols.ravel(), ((sw * weights[s_j] * s_sim)[:, None] * table).ravel())
        contrib = np.zeros((s_skill.size, LEVELS, n_asked))
        contrib[s_at, :, s_j] = s_sim[:, None] * table
        src_sim = np.zeros((s_skill.size, n_asked))
        src_sim[s_at, s_j] = s_sim
        src_order = np.full((s_skill.size, n_asked), NOT_A_SOURCE, dtype=np.int64)
        src_order[s_at, s_j] = s_order
        src_direct = np.full(n_asked, -1, dtype=np.int64)
        src_direct[s_j[s_order == 0]] = s_at[s_order == 0]
        ok_cols: list[int] = []
        low_cols: list[int] = []
        for req, k, lvl_req in zip(role.skills, skill_idx, levels, strict=True):
            if req.required and k >= 0:
                ok_cols.extend(self._skill_col(k, lvl) for lvl in range(lvl_req, LEVELS + 1))
                if lvl_req > 1:
                    low_cols.append(self._skill_col(k, lvl_req - 1))
        targets: list[list[tuple[int, int]]] = [[] for _ in src_skills]
        for t, j, _, order in src:
            targets[at[t]].append((j, order))
        for pairs in targets:
            pairs.sort()  # asked-skill order (one pair per source and asked skill)
        label = self.taxonomy_.label
        shown = [
            {
                "skill_id": r.skill_id,
                "label": label(r.skill_id),
                "required_level": r.level,
                "required": r.required,
                "weight": round(wj, 4),
            }
            for r, wj in zip(role.skills, w, strict=True)
        ]
        # the vector's nonzero columns: where it was written, less any zero written there
        touched = np.unique(np.concatenate([pcols, cols.ravel()]))
        touched = touched[vec[touched] != 0]
        split = int(touched.searchsorted(self.text_features))
        contrib_cols = (s_skill[:, None] * LEVELS + np.arange(LEVELS)).ravel()
        contrib_at = np.full(LEVELS * len(self.skill_ids_), -1, dtype=np.int32)
        contrib_at[contrib_cols] = np.arange(contrib_cols.size, dtype=np.int32)
        return RoleVector(
            vector=vec,
            skill_idx=skill_idx,
            weights=weights,
            contrib_cols=contrib_cols,
            contrib_at=contrib_at,
            contrib=contrib.reshape(s_skill.size * LEVELS, n_asked),
            contrib_required_ok=np.isin(contrib_cols, ok_cols).astype(np.float64),
            contrib_required_low=np.isin(contrib_cols, low_cols).astype(np.float64),
            n_required=sum(1 for r in role.skills if r.required),
            skill_weight=sw,
            text_weight=tw,
            src_skills=s_skill,
            src_sim=src_sim,
            src_order=src_order,
            src_direct=src_direct,
            src_targets=targets,
            contrib_rows=contrib.reshape(s_skill.size * LEVELS, n_asked).tolist(),
            shown=shown,
            shown_held=[b | {"agent_level": 0, "credit": 0.0, "last_used": None, "interest": None} for b in shown],
            text_cols=touched[:split],
            text_vals=vec[touched[:split]],
            skill_cols=touched[split:] - self.text_features,
            skill_vals=vec[touched[split:]],
        )

    def _bulk(self, rv: RoleVector) -> tuple[np.ndarray, np.ndarray]:
        """Upper bound of every agent's score, and its exact profile part (the profile similarity times its
        weight): each block of the matrix times the role's vector, from the entries of the vector's nonzero
        columns only (the same floats as the mat-vec), then the few overlay rows."""
        n = len(self.agent_ids_)
        text, bound = self._merged_products(rv)
        nb = bound.size
        if n > nb:  # rows added since the last merge
            text, bound = np.concatenate([text, np.zeros(n - nb)]), np.concatenate([bound, np.zeros(n - nb)])
        if self.overlay_:
            h = self.text_features
            rows = self._overlay_rows()[0]
            text[rows] = self._text_scores(rows, rv.vector)
            for row, r in self.overlay_.items():
                bound[row] = text[row] + float(r.skill_vals @ rv.vector[h + r.skill_cols])
        if self.n_alive_ < n:
            bound[~self.alive_] = -np.inf
        return bound, text

    def _merged_products(self, rv: RoleVector) -> tuple[np.ndarray, np.ndarray]:
        """The merged matrices' part of :meth:`_bulk` (profile part, bound), as new arrays for the caller to change.

        Kept on the role's vector while the matrices are those it was read from: a role is ranked again on state
        after state (each profile edit publishes one), the matrices change only when the pending rows are merged
        (every ``merge_every`` changes), and the rows changed since are read from the overlay anyway."""
        kept = rv.merged_products
        if kept is not None and kept[0]() is self.text_ and kept[1]() is self.skills_:
            return kept[2].copy(), kept[3].copy()
        h = self.text_features
        width = self.skills_.shape[1]
        text = self._block_product(self.text_, self.text_by_column_, rv.text_cols, rv.text_vals, rv.vector[:h])
        skill_cols, skill_vals = rv.skill_cols, rv.skill_vals
        if skill_cols.size and skill_cols[-1] >= width:  # skills new since the last merge
            inside = skill_cols < width
            skill_cols, skill_vals = skill_cols[inside], skill_vals[inside]
        skills = self.skills_by_column_
        bound = text + self._block_product(self.skills_, skills, skill_cols, skill_vals, rv.vector[h : h + width])
        text.flags.writeable = bound.flags.writeable = False  # shared by the threads that rank the role
        rv.merged_products = (weakref.ref(self.text_), weakref.ref(self.skills_), text, bound)
        self._within_products_budget(rv, text.nbytes + bound.nbytes)
        return text.copy(), bound.copy()

    def _within_products_budget(self, newest: RoleVector, size: int) -> None:
        """At most :data:`PRODUCTS_KEPT_BYTES` of products kept by the compiled roles: past it, those of the roles
        compiled first are dropped (they are computed again when asked)."""
        room = max(PRODUCTS_KEPT_BYTES // max(size, 1), 1)
        holding = [rv for rv in list(self.__dict__.get("_compiled", {}).values())
                   if rv.merged_products is not None and rv is not newest]
        for rv in holding[: max(len(holding) + 1 - room, 0)]:
            rv.merged_products = None

    def _available(
        self, rows: np.ndarray, role: RoleRequirement, slack: bool, checks: tuple[np.ndarray, ...] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Whether each row has free share ≥ the role's on every day of its period; and, with ``slack``,
        whether it would with a little slack instead — ``near_miss_share`` less, or the period starting
        or ending ``near_miss_days`` later or earlier (the near misses' pre-filter). Vectorised.
        ``checks``: :meth:`_checks` of the role and ``slack``, when the caller has them (a ranking's rounds)."""
        first, last, need, days_in, line = checks if checks is not None else self._checks(role, slack)
        pos, ss, ee, ff = self._segments_of(rows)
        # each segment's days within each check's period (0 outside), counted where its free share is enough
        inside = np.maximum(np.minimum(ee, last) - np.maximum(ss, first) + 1, 0)
        counted = inside * (ff + EPS >= need)
        # days covered per (check, row), with one bincount over check × rows (no selection: cheaper)
        at = pos + rows.size * line
        days = np.bincount(at.ravel(), weights=counted.ravel(), minlength=line.size * rows.size)
        ok = days.reshape(line.size, -1) == days_in
        free = ok[0]
        if not slack:
            return free, np.zeros(rows.size, dtype=bool)
        return free, ok[1:].any(axis=0) & ~free

    def _checks(self, role: RoleRequirement, slack: bool) -> tuple[np.ndarray, ...]:
        """What :meth:`_available` checks, one line each (columns): first day, last day, share needed, days
        from first to last, the line's number. Segments are disjoint: enough iff the days with enough free
        share cover all of [first, last]. The role itself, then with slack."""
        s, e = role.start.toordinal(), role.end.toordinal()
        checks = [(s, e, role.share)]
        if slack:
            checks.append((s, e, role.share - self.near_miss_share))
            if e - s >= self.near_miss_days:
                checks += [(s + self.near_miss_days, e, role.share), (s, e - self.near_miss_days, role.share)]
        # one array of the checks (days as floats: whole numbers, exact), a column each
        lines = np.array(checks)
        first, last, need = lines[:, 0:1], lines[:, 1:2], lines[:, 2:3]
        return first, last, need, last - first + 1, np.arange(len(checks))[:, None]

    def _exact(
        self, rows: np.ndarray, rv: RoleVector, today: date, fairness: bool, text: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Exact scores of ``rows`` and their parts: (score, skill fit, text, fairness, required ok/low).
        ``text``: every agent's profile part, as :meth:`_bulk` gives it (else computed for ``rows``)."""
        m = rows.size
        text = text[rows] if text is not None else self._text_scores(rows, rv.vector)
        fit = np.zeros(m)
        req = np.zeros((2, m))
        if rv.contrib_cols.size:
            # the entries that give credit to an asked skill
            hp, at, lu, code = self._skill_hits(rows, rv.contrib_at)
            if hp.size:
                # similarity × level credit × interest × recency at ``today``, multiplied as explanations do
                c = rv.contrib[at] * INTEREST_FACTOR[code][:, None]
                c *= self._recency(lu, today)[:, None]
                # a row's entries are contiguous: max per (row, asked skill) with one reduceat
                first = np.concatenate((_TRUE, hp[1:] != hp[:-1])).nonzero()[0]
                best = np.zeros((m, rv.contrib.shape[1]))
                best[hp[first]] = np.maximum.reduceat(c, first, axis=0)
                fit = best @ rv.weights
                if rv.n_required:  # required skills held at their level, and one level below
                    req[0] = np.bincount(hp, weights=rv.contrib_required_ok[at], minlength=m)
                    req[1] = np.bincount(hp, weights=rv.contrib_required_low[at], minlength=m)
        fair = self.fair_[rows] if fairness else np.ones(m)
        text_sim = text / rv.text_weight if rv.text_weight > 0 else text
        score = np.minimum(np.maximum((rv.skill_weight * fit + rv.text_weight * text_sim) * fair, 0.0), 1.0)
        return score, fit, text_sim, fair, req

    # ================================================================== ranking
    def rank(
        self,
        role: RoleRequirement,
        top: int = 50,
        near_misses: int = 10,
        exclude: Collection[str] = (),
        fairness: bool = True,
        floor: float = DEFAULT_FLOOR,
        today: date | None = None,
    ) -> Ranking:
        """Rank eligible agents for ``role``, best first, with near misses apart.

        Eligible: ``role.share > floor`` and free share ≥ ``role.share`` on every day of the role's
        period, and every *required* skill held at least at its level. Agents with no skill or text in
        common with the role (score 0) are not listed. ``exclude`` lists agent ids to leave out.
        ``today`` (default: ``role.start``) dates recency.
        """
        today = today or role.start
        ranking = Ranking(role.role_id)
        n = len(self.agent_ids_)
        if n == 0 or role.end < role.start or not above_floor(role.share, floor):
            return ranking
        rv = self._compile(role)
        ranking.weights = rv.weights.tobytes()
        bulk, text_all = self._bulk(rv)
        if fairness:  # fairness only lowers scores: folding it in keeps the bound and tightens it
            bulk *= self.fair_
        # Recency only lowers scores after the reference date; before it, widen the bound to stay safe.
        slack = 1.0 if today >= self.reference_date_ else 1.0 / self.recency_floor
        for aid in exclude:
            row = self.row_of_.get(aid)
            if row is not None:
                bulk[row] = -np.inf
        # array methods rather than numpy's functions around them, which cost more than the work at this size
        positive = (bulk > EPS).nonzero()[0]  # agents with no score (or excluded) are never examined
        n_pos = positive.size
        if n_pos == 0:
            return ranking
        want_near = near_misses
        found_rows: list[np.ndarray] = []
        found_scores: list[np.ndarray] = []
        found_text: list[np.ndarray] = []
        pool_rows: list[np.ndarray] = []
        pool_scores: list[np.ndarray] = []
        pool_text: list[np.ndarray] = []
        # ``part``: the positive agents partitioned at the ends of the next rounds (``ready`` of them in
        # place), so that each round takes the next best by bulk bound and sorts only those.
        part, ready = positive, 0
        seen = 0
        m = min(n_pos, max(5 * top, 256))
        checks = self._checks(role, want_near > 0)  # the same in every round
        while True:
            if m > ready:
                # One partial sort over the positive agents serves this round and the next two.
                ends = [x for x in (seen, m, 2 * m, 4 * m) if 0 < x < n_pos]
                if ends:
                    part = positive[(-bulk[positive]).argpartition(ends)]
                ready = min(4 * m, n_pos)
            new = part[seen:m]
            new = new[(-bulk[new]).argsort(kind="stable")]
            bound = float(bulk[part[m]]) if m < n_pos else -np.inf
            seen = m
            if new.size:
                # availability first (cheap): only the available, and near misses, are scored exactly
                free, almost = self._available(new, role, want_near > 0, checks)
                scored = (free | almost).nonzero()[0]
                rows_s = new[scored]
                score, _, text, _, req = self._exact(rows_s, rv, today, fairness, text_all)
                if rv.n_required:
                    gate = req[0] >= rv.n_required
                    ok = free[scored] & gate
                else:  # nothing required: the available are the candidates, the almost available near misses
                    ok = free[scored]
                found_rows.append(rows_s[ok])
                found_scores.append(score[ok])
                found_text.append(text[ok])
                if want_near:
                    if rv.n_required:
                        low_one = (req[0] == rv.n_required - 1) & (req[1] >= 1)
                        near = (free[scored] & low_one) | (almost[scored] & gate)
                    else:
                        near = almost[scored]
                    pool_rows.append(rows_s[near])
                    pool_scores.append(score[near])
                    pool_text.append(text[near])
            allscores = _joined(found_scores, np.float64)
            enough = allscores.size >= top and np.partition(allscores, -top)[-top] + EPS >= bound * slack
            pool_size = sum(p.size for p in pool_rows)
            if m >= n_pos or (enough and pool_size >= want_near):
                break
            if enough and m >= 8 * max(top, 64):  # near misses are best-effort beyond this
                break
            m = min(n_pos, 2 * m)
        ranking.examined = seen
        rows, scores, texts = _joined(found_rows, np.int64), allscores, _joined(found_text, np.float64)
        best = self._best_first(rows, scores, top)[:top]
        pool, pool_score = _joined(pool_rows, np.int64), _joined(pool_scores, np.float64)
        pool_txt = _joined(pool_text, np.float64)
        near_order = (-pool_score).argsort(kind="stable")
        # Most of the pre-filtered pool are near misses: a few more than needed are looked at with the
        # candidates (one eligibility pass, one explanation pass), the rest only if that is not enough.
        near = near_order[: max(2 * want_near, 8)] if want_near else near_order[:0]
        both = np.concatenate([rows[best], pool[near]])
        period = self._period(both, role.start, role.end, role.share, floor)
        if not period.eligible[: best.size].all():
            # The authoritative check, on the segments eligibility() computes, disagrees with the first
            # pass (the same rule, so not expected): keep the eligible ones, in order, of all found.
            order = self._best_first(rows, scores, rows.size)
            best = order[self._period(rows[order], role.start, role.end, role.share, floor).eligible][:top]
            both = np.concatenate([rows[best], pool[near]])
            period = self._period(both, role.start, role.end, role.share, floor)
        picked, reasons = self._miss_picks(pool[near], role, period, best.size, want_near)
        keep = np.concatenate([np.arange(best.size), best.size + np.array(picked, dtype=np.int64)])
        texts_both = np.concatenate([texts[best], pool_txt[near]])
        expl = self._explain_rows(
            both[keep],
            role,
            rv,
            today,
            fairness,
            floor,
            texts_both[keep],
            period,
            keep,
        )
        ranking.candidates = [
            Candidate(a or "", s, e)
            for a, s, e in zip(self.agent_ids_.take(rows[best].tolist()), scores[best].tolist(), expl, strict=False)
        ]
        if rows.size > best.size or seen < n_pos:  # some candidates were left out, or never looked at
            ranking.bound = ranking.candidates[-1].score if ranking.candidates else float("inf")
        chosen = near[picked].tolist()
        explained = expl[best.size :]
        at = near.size
        while len(chosen) < want_near and at < near_order.size:  # rarely: further down the pool
            more = near_order[at : at + 2 * (want_near - len(chosen))]
            at += more.size
            period = self._period(pool[more], role.start, role.end, role.share, floor)
            got, why = self._miss_picks(pool[more], role, period, 0, want_near - len(chosen))
            if got:
                idx = np.array(got, dtype=np.int64)
                explained += self._explain_rows(
                    pool[more[idx]], role, rv, today, fairness, floor, pool_txt[more[idx]], period, idx
                )
                chosen += more[idx].tolist()
                reasons += why
        near_ids = self.agent_ids_.take(pool[chosen].tolist())
        ranking.near_misses = [
            NearMiss(a or "", s, why, e)
            for a, s, why, e in zip(near_ids, pool_score[chosen].tolist(), reasons, explained, strict=True)
        ]
        return ranking

    def candidates_among(
        self, agent_ids: Collection[str], role: RoleRequirement, fairness: bool = True,
        floor: float = DEFAULT_FLOOR, today: date | None = None,
    ) -> list[Candidate]:
        """Those of ``agent_ids`` that :meth:`rank` would list for ``role`` (indexed, available on every day,
        every required skill held, a score above 0), each with its score and explanation, best first (ties by
        agent id). Nobody is left out here: the caller leaves out whom it must."""
        at = (self.row_of_.get(a) for a in agent_ids)
        rows = np.array(sorted(r for r in at if r is not None and self.alive_[r]), dtype=np.int64)
        if rows.size == 0 or role.end < role.start or not above_floor(role.share, floor):
            return []
        today = today or role.start
        rv = self._compile(role)
        free, _ = self._available(rows, role, slack=False)
        score, _, text, _, req = self._exact(rows, rv, today, fairness)
        ok = free & (score > EPS) & (req[0] >= rv.n_required)
        rows, score, text = rows[ok], score[ok], text[ok]
        period = self._period(rows, role.start, role.end, role.share, floor)  # the authoritative check, as rank's
        eligible = period.eligible.nonzero()[0]
        expl = self._explain_rows(rows[eligible], role, rv, today, fairness, floor, text[eligible], period, eligible)
        ids = self.agent_ids_.take(rows[eligible].tolist())
        found = [Candidate(a or "", s, e) for a, s, e in zip(ids, score[eligible].tolist(), expl, strict=True)]
        return sorted(found, key=lambda c: (-c.score, c.agent_id))

    def _best_first(self, rows: np.ndarray, scores: np.ndarray, top: int) -> np.ndarray:
        """Positions of the best ``top`` of ``rows`` (and of those tied with the last), by score, ties by
        agent id: agent ids are strings, and sorting all of them would cost more than the ranking."""
        if rows.size > top:
            kth = np.partition(scores, rows.size - top)[rows.size - top]
            head = (scores >= kth).nonzero()[0]
        else:
            head = np.arange(rows.size)
        order = head[(-scores[head]).argsort(kind="stable")]
        ordered = scores[order]
        if not (ordered[1:] == ordered[:-1]).any():  # no tie: the agent ids are not needed
            return order
        names = np.array([a or "" for a in self.agent_ids_.take(rows[head].tolist())])
        return head[np.lexsort((names, -scores[head]))]

    def explain(
        self,
        profile: CandidateProfile,
        role: RoleRequirement,
        today: date | None = None,
        fairness: bool = True,
        floor: float = DEFAULT_FLOOR,
        eligibility_: Eligibility | None = None,
        rv: RoleVector | None = None,
        text_sim: float | None = None,
    ) -> dict[str, Any]:
        """The explanation of one agent's score for a role (shape documented in ``docs/matching.md``)."""
        return self._explain(profile, role, rv or self._compile(role), today, fairness, floor, eligibility_, text_sim)

    # ================================================================== teams
    def propose_team(self, roles: Sequence[RoleRequirement], **kwargs: Any) -> TeamProposal:
        """Shortcut for :func:`matching.team.propose_team` on this index."""
        # imported here: it brings scipy.optimize, which ranking alone (`talents match`) does not need
        from matching.team import propose_team

        return propose_team(self, roles, **kwargs)


def _joined(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    """The rounds' arrays end to end: the one array itself when one round was enough (read only, not copied)."""
    if len(parts) == 1:
        return parts[0]
    return np.concatenate(parts) if parts else np.empty(0, dtype)
