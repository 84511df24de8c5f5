"""Ranking agents for a role: :class:`CandidateIndex`.

How a role is ranked (details and figures in ``docs/matching.md``):

1. **Bulk score, one sparse mat-vec.** Every agent is one row of a CSR matrix. Its first columns
   (hashed) hold the *profile vector*: TF-IDF words of the profile text and the skills held
   (rarity-weighted), L2-normalised together. Then one column per (skill, level) pair, valued by the
   agent's interest × recency factors. A role becomes one dense vector: for each asked skill, the
   credit of each level (:func:`matching.scoring.level_credit`) times its weight and rarity (IDF), plus
   the same for related skills (taxonomy and co-occurrence) times their similarity; plus the role's
   own profile vector (its words, its skills expanded to related ones). ``matrix @ vector``, times
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

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np

from matching.availability import DEFAULT_FLOOR, Eligibility, above_floor, eligibility
from matching.explain import ExplainingIndex, NearMiss
from matching.index import EPS, RoleVector, ranges
from matching.scoring import LEVELS, REQUIRED_WEIGHT, credit_table, idf
from matching.team import TeamProposal, propose_team
from matching.types import CandidateProfile, RoleRequirement

__all__ = ["Candidate", "CandidateIndex", "NearMiss", "Ranking"]


@dataclass(frozen=True, slots=True)
class Candidate:
    """An eligible agent for a role, with its score in [0, 1] and its explanation (JSON-ready dict)."""

    agent_id: str
    score: float
    explanation: dict[str, Any]



@dataclass(slots=True)
class Ranking:
    """Eligible candidates best first, near misses apart, and how many agents were examined exactly."""

    role_id: str
    candidates: list[Candidate] = field(default_factory=list)
    near_misses: list[NearMiss] = field(default_factory=list)
    examined: int = 0

class CandidateIndex(ExplainingIndex):
    """An index of agents that ranks them for a role, and proposes teams for a need.

    Build it with :meth:`fit`; parameters are described on :class:`matching.index.IndexBase`.
    """

    # ================================================================== role compilation
    def _compile(self, role: RoleRequirement) -> RoleVector:
        n_alive = max(self.n_alive_, 1)
        text = f"{role.title} {role.description}".strip()
        counts = self._hasher.transform([text]).tocsr()
        ncols = self.text_features + LEVELS * len(self.skill_ids_)
        vec = np.zeros(ncols)
        skill_idx = [self.skill_index_.get(r.skill_id, -1) for r in role.skills]
        raw = np.array(
            [
                r.weight
                * (REQUIRED_WEIGHT if r.required else 1.0)
                * (float(idf(self.skill_df_[k] if k >= 0 else 0.0, n_alive)) if self.use_rarity else 1.0)
                for r, k in zip(role.skills, skill_idx, strict=True)
            ],
            dtype=float,
        )
        weights = raw / raw.sum() if raw.size and raw.sum() > 0 else np.zeros(len(role.skills))
        # profile channel of the role: its words, and its skills expanded to their related ones
        context: dict[int, float] = {}
        for j, k in enumerate(skill_idx):
            if k < 0:
                continue
            for t, sim in [(k, 1.0), *((t, sim) for t, (sim, _) in self.related_.get(k, {}).items())]:
                c = int(self.context_cols_[t])
                context[c] = context.get(c, 0.0) + weights[j] * sim
        tcols, tvals = self._text_row(counts, text)
        ccols = np.fromiter(context, dtype=np.int64, count=len(context))
        cvals = np.fromiter(context.values(), dtype=np.float64, count=len(context))
        asked = np.array(sorted({k for k in skill_idx if k >= 0}), dtype=np.int64)
        pcols, pvals = self._profile_vector(tcols, tvals, ccols, cvals, asked)
        tw = self.text_weight if pcols.size else 0.0
        sw = 1.0 - tw
        np.add.at(vec, pcols, tw * pvals)
        n_asked = len(role.skills)
        contrib: dict[int, np.ndarray] = {}  # first column of a skill's level block → (LEVELS, n_asked)
        ok_cols: list[int] = []
        low_cols: list[int] = []
        for j, (req, k) in enumerate(zip(role.skills, skill_idx, strict=True)):
            if k < 0:
                continue
            table = credit_table(req.level)
            sources = [(k, 1.0), *((t, sim) for t, (sim, _) in self.related_.get(k, {}).items())]
            for t, sim in sources:
                base = self._skill_col(t, 1)
                block = contrib.get(base)
                if block is None:
                    block = contrib[base] = np.zeros((LEVELS, n_asked))
                np.maximum(block[:, j], sim * table, out=block[:, j])
                vec[base : base + LEVELS] += sw * weights[j] * sim * table
            if req.required:
                lvl_req = min(max(req.level, 1), LEVELS)
                ok_cols.extend(self._skill_col(k, lvl) for lvl in range(lvl_req, LEVELS + 1))
                if lvl_req > 1:
                    low_cols.append(self._skill_col(k, lvl_req - 1))
        starts = sorted(contrib)
        ccols = (np.array(starts, dtype=np.int64)[:, None] + np.arange(LEVELS)).ravel()
        cmat = np.concatenate([contrib[c] for c in starts]) if starts else np.zeros((0, n_asked))
        return RoleVector(
            vector=vec,
            skill_idx=skill_idx,
            weights=weights,
            contrib_cols=ccols,
            contrib=cmat,
            required_ok_cols=np.array(ok_cols, dtype=np.int64),
            required_low_cols=np.array(low_cols, dtype=np.int64),
            n_required=sum(1 for r in role.skills if r.required),
            skill_weight=sw,
            text_weight=tw,
        )

    def _bulk(self, rv: RoleVector) -> np.ndarray:
        """Upper bound of every agent's score: one sparse mat-vec, then the few overlay rows."""
        n = len(self.agent_ids_)
        nb = self.base_.shape[0]
        out = np.empty(n)
        out[:nb] = self.base_ @ rv.vector[: self.base_.shape[1]]
        for row, r in self.overlay_.items():
            out[row] = float(r.vals @ rv.vector[r.cols]) if r.cols.size else 0.0
        out[~self.alive_] = -np.inf
        return out

    def _free_ok(self, rows: np.ndarray, start: date, end: date, share: float) -> np.ndarray:
        """Whether each row has free share ≥ ``share`` on every day of [start, end] (vectorised)."""
        s, e = start.toordinal(), end.toordinal()
        nb = self.base_.shape[0]
        in_overlay = self._in_overlay(rows, nb)
        covered = np.zeros(rows.size, dtype=np.int64)
        pos_b = np.flatnonzero(~in_overlay)
        rb = rows[pos_b]
        idx, owner = ranges(self.seg_indptr_[rb], self.seg_indptr_[rb + 1])
        chunks = [(pos_b[owner], self.seg_start_[idx], self.seg_end_[idx], self.seg_free_[idx])]
        for p in np.flatnonzero(in_overlay).tolist():
            r = self.overlay_[int(rows[p])]
            chunks.append((np.full(r.seg_start.size, p, dtype=np.int64), r.seg_start, r.seg_end, r.seg_free))
        pos = np.concatenate([c[0] for c in chunks])
        ss = np.concatenate([c[1] for c in chunks])
        ee = np.concatenate([c[2] for c in chunks])
        ff = np.concatenate([c[3] for c in chunks])
        # Segments are disjoint: eligible iff the days with enough free share cover the whole period.
        overlap = np.minimum(ee, e) - np.maximum(ss, s) + 1
        good = (ff + EPS >= share) & (overlap > 0)
        covered = np.bincount(pos[good], weights=overlap[good], minlength=rows.size).astype(np.int64)
        return covered == (e - s + 1)

    def _exact(
        self, rows: np.ndarray, rv: RoleVector, today: date, fairness: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Exact scores of ``rows`` and their parts: (score, skill fit, text, fairness, required ok/low)."""
        pos, cols, vals, lu = self._gather(rows)
        m = rows.size
        text_mask = cols < self.text_features
        # np.bincount, not np.add.at: the latter is an order of magnitude slower
        text = np.bincount(pos[text_mask], weights=vals[text_mask] * rv.vector[cols[text_mask]], minlength=m)
        fit = np.zeros(m)
        if rv.contrib_cols.size:
            where = np.searchsorted(rv.contrib_cols, cols)
            where = np.minimum(where, rv.contrib_cols.size - 1)
            hit = rv.contrib_cols[where] == cols
            if hit.any():
                # the matrix holds recency as of the reference date; rescale it to ``today``
                rec = self._recency(lu[hit], today) / self._recency(lu[hit], self.reference_date_)
                c = rv.contrib[where[hit]] * (vals[hit] * rec)[:, None]
                # a row's entries are contiguous: max per (row, asked skill) with one reduceat
                hp = pos[hit]
                first = np.flatnonzero(np.r_[True, hp[1:] != hp[:-1]])
                best = np.zeros((m, rv.contrib.shape[1]))
                best[hp[first]] = np.maximum.reduceat(c, first, axis=0)
                fit = best @ rv.weights
        n_ok = np.zeros(m)
        n_low = np.zeros(m)
        if rv.n_required:
            n_ok = np.bincount(pos, weights=np.isin(cols, rv.required_ok_cols), minlength=m)
            n_low = np.bincount(pos, weights=np.isin(cols, rv.required_low_cols), minlength=m)
        fair = self.fair_[rows] if fairness else np.ones(m)
        text_sim = text / rv.text_weight if rv.text_weight > 0 else text
        score = np.clip((rv.skill_weight * fit + rv.text_weight * text_sim) * fair, 0.0, 1.0)
        return score, fit, text_sim, np.asarray(fair, dtype=float), np.stack([n_ok, n_low])

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
        bulk = self._bulk(rv)
        if fairness:  # fairness only lowers scores: folding it in keeps the bound and tightens it
            bulk *= self.fair_
        # Recency only lowers scores after the reference date; before it, widen the bound to stay safe.
        slack = 1.0 if today >= self.reference_date_ else 1.0 / self.recency_floor
        for aid in exclude:
            row = self.row_of_.get(aid)
            if row is not None:
                bulk[row] = -np.inf
        n_pos = int(np.count_nonzero(bulk > EPS))
        if n_pos == 0:
            return ranking
        want_near = near_misses
        seen = np.zeros(n, dtype=bool)
        found_rows: list[np.ndarray] = []
        found_scores: list[np.ndarray] = []
        found_text: list[np.ndarray] = []
        pool_rows: list[np.ndarray] = []
        pool_scores: list[np.ndarray] = []
        pool_text: list[np.ndarray] = []
        m = min(n_pos, max(4 * top, 128))  # usually one round: argpartition is O(n) each time
        while True:
            if m < n:
                part = np.argpartition(-bulk, m)
                head, bound = part[:m], float(bulk[part[m]])
            else:
                head, bound = np.arange(n), -np.inf
            head = head[~seen[head] & (bulk[head] > EPS)]
            seen[head] = True
            if head.size:
                free = self._free_ok(head, role.start, role.end, role.share)
                score, _, text, _, req = self._exact(head, rv, today, fairness)
                gate = req[0] >= rv.n_required
                ok = free & gate
                found_rows.append(head[ok])
                found_scores.append(score[ok])
                found_text.append(text[ok])
                if want_near:
                    near = self._near_pool(head, role, free, gate, req, rv)
                    pool_rows.append(head[near])
                    pool_scores.append(score[near])
                    pool_text.append(text[near])
            allscores = np.concatenate(found_scores) if found_scores else np.empty(0)
            enough = allscores.size >= top and np.partition(allscores, -top)[-top] + EPS >= bound * slack
            pool_size = sum(p.size for p in pool_rows)
            if m >= n_pos or (enough and pool_size >= want_near):
                break
            if enough and m >= 8 * max(top, 64):  # near misses are best-effort beyond this
                break
            m = min(n_pos, 2 * m)
        ranking.examined = int(seen.sum())
        rows = np.concatenate(found_rows) if found_rows else np.empty(0, np.int64)
        scores = np.concatenate(found_scores) if found_scores else np.empty(0)
        texts = np.concatenate(found_text) if found_text else np.empty(0)
        order = np.lexsort((np.array([self.agent_ids_[r] or "" for r in rows.tolist()]), -scores))
        for i in order.tolist():
            if len(ranking.candidates) >= top:
                break
            row = int(rows[i])
            profile = self.profiles_[row]
            assert profile is not None
            el = eligibility(profile.availability, profile.commitments, role.start, role.end, role.share, floor)
            if not el.eligible:  # the authoritative check; the vectorised one is only a filter
                continue
            expl = self.explain(
                profile,
                role,
                today=today,
                fairness=fairness,
                eligibility_=el,
                rv=rv,
                text_sim=float(texts[i]),
            )
            ranking.candidates.append(Candidate(profile.agent_id, float(scores[i]), expl))
        if want_near:
            ranking.near_misses = self._near_misses(
                np.concatenate(pool_rows) if pool_rows else np.empty(0, np.int64),
                np.concatenate(pool_scores) if pool_scores else np.empty(0),
                np.concatenate(pool_text) if pool_text else np.empty(0),
                role,
                rv,
                want_near,
                floor,
                today,
                fairness,
            )
        return ranking

    def _near_pool(
        self,
        rows: np.ndarray,
        role: RoleRequirement,
        free: np.ndarray,
        gate: np.ndarray,
        req: np.ndarray,
        rv: RoleVector,
    ) -> np.ndarray:
        """Vectorised pre-filter of near misses: short on one point only, by a little."""
        low_one = (req[0] == rv.n_required - 1) & (req[1] >= 1)
        out = free & low_one
        cand = np.flatnonzero(gate & ~free)
        if cand.size:
            r = rows[cand]
            days = timedelta(days=self.near_miss_days)
            relaxed = self._free_ok(r, role.start, role.end, role.share - self.near_miss_share)
            if role.start + days <= role.end:
                relaxed |= self._free_ok(r, role.start + days, role.end, role.share)
                relaxed |= self._free_ok(r, role.start, role.end - days, role.share)
            out[cand] = relaxed
        return out

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
        return propose_team(self, roles, **kwargs)
