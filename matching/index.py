"""The agents' index behind ranking: :class:`IndexBase` builds and maintains it.

Every agent is one row of a CSR matrix: hashed TF-IDF words of the profile text and the skills held
(rarity-weighted) in the first columns, then one column per (skill, level) pair valued by interest ×
recency. Free-share segments sit beside it for the vectorised eligibility check. Related skills are
learned at fit (taxonomy relations, co-occurrence in profiles). Upserts and removals go to an overlay
folded into the matrix every ``merge_every`` changes. Querying is :class:`matching.ranking.CandidateIndex`.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Self

import numpy as np
import scipy.sparse as sp

from matching.availability import free_segments
from matching.hashing import TextHasher
from matching.normalise import STOP_WORDS
from matching.occupations import OccupationModel
from matching.scoring import LEVELS, fairness_factor, idf, interest_factor, recency_factors
from matching.taxonomy import Taxonomy
from matching.types import AgentSkill, CandidateProfile

__all__ = ["EPS", "IndexBase", "RoleVector", "ranges"]

EPS = 1e-9
_NO_DATE = -1  # last_used unknown (text columns carry it too)
_OCCUPATION_BLOCK = 100_000  # profiles whose occupations are computed at once
# Words too common to say anything about a profile, in both languages.
_TEXT_STOP = sorted(
    STOP_WORDS
    | {"je", "j", "ai", "suis", "mon", "ma", "mes", "nous", "vous", "il", "elle", "qui", "que", "est", "sont"}
    | {"ce", "cette", "ces", "is", "are", "i", "my", "we"}
)


@dataclass(slots=True)
class _Row:
    """One agent's encoded row: matrix entries, last-use ordinals, free-share segments."""

    cols: np.ndarray
    vals: np.ndarray
    last_used: np.ndarray
    seg_start: np.ndarray
    seg_end: np.ndarray
    seg_free: np.ndarray


@dataclass(slots=True)
class RoleVector:
    """A role compiled against the index: bulk vector and what exact scoring needs."""

    vector: np.ndarray
    skill_idx: list[int]  # index of each asked skill in the vocabulary (-1 unknown)
    weights: np.ndarray  # normalised weight × rarity of each asked skill, summing to 1
    contrib_cols: np.ndarray  # columns that give credit to some asked skill
    contrib: np.ndarray  # (len(contrib_cols), n_asked) credit × similarity
    required_ok_cols: np.ndarray  # columns meeting a required skill's level
    required_low_cols: np.ndarray  # columns one level below a required skill's level
    n_required: int
    skill_weight: float
    text_weight: float


def ranges(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Concatenated ``arange(s, e)`` for each pair, and the position of the pair each value came from."""
    lens = (ends - starts).astype(np.int64)
    total = int(lens.sum())
    if total == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    owner = np.repeat(np.arange(len(starts)), lens)
    offsets = np.cumsum(lens) - lens
    idx = np.arange(total) - offsets[owner] + starts[owner]
    return idx, owner


def _ordinal(day: date | None) -> int:
    return day.toordinal() if day is not None else _NO_DATE


class IndexBase:
    """The agents' matrix, segments and related skills, kept up to date by :meth:`upsert` and :meth:`remove`.

    Parameters
    ----------
    text_weight:
        Share of the score given to *profile similarity* (the rest is skill fit): a cosine between the
        role (TF-IDF words of title and description, plus its skills and their related ones) and the
        agent (TF-IDF words of the profile text, plus the skills held).
    context_weight:
        In that profile similarity, weight of the skills held (a rarity-weighted vector of the agent's
        skills, against the role's skills expanded to related ones) next to the words (weight 1).
        It rewards a profile centred on the role's field over one that shares a skill by chance.
    occupation_weight:
        In that profile similarity, weight of the occupations (next to the words, weight 1): the
        distribution over the taxonomy's occupations of the agent's skills against that of the role's
        skills (:class:`matching.occupations.OccupationModel`). An agent of the role's trade holds other
        skills of that trade the role did not ask; this is what tells them from a neighbour's. Unused
        when the taxonomy lists no occupation.
    occupation_sharpness, occupation_top:
        See :class:`matching.occupations.OccupationModel`.
    use_rarity:
        Weigh each asked skill by its rarity in the pool (smooth IDF): matching a rare skill counts more.
    related_credit:
        Similarity credited to a skill related in the taxonomy (its holder earns this fraction of the
        asked skill's credit).
    cooccurrence_credit:
        Credit of a skill that co-occurs with the asked one in profiles, times their cosine.
    cooccurrence_min_support, cooccurrence_min_cosine, cooccurrence_top:
        A co-occurring pair counts from this many agents holding both, and this cosine; at most
        ``cooccurrence_top`` neighbours per skill.
    cooccurrence_sample:
        Co-occurrence is learned on at most this many profiles (random sample) to bound fit time.
    recency_half_life_years, recency_floor:
        See :func:`matching.scoring.recency_factor`.
    fairness_max_penalty, fairness_half:
        See :func:`matching.scoring.fairness_factor`.
    near_miss_days, near_miss_share:
        How late a start / early an end (days), or how short a free share, still makes a near miss.
    text_features:
        Hashed text dimensions.
    merge_every:
        Pending upserts/removals folded into the matrix after this many changes.
    reference_date:
        Recency is folded into the matrix as of this date (default: the latest ``last_used`` seen at
        fit), which keeps the bulk score an upper bound for any ranking date on or after it.
    random_state:
        Seed of the co-occurrence sample.
    """

    def __init__(
        self,
        text_weight: float = 0.5,
        context_weight: float = 1.0,
        occupation_weight: float = 2.0,
        occupation_sharpness: float = 4.6,
        occupation_top: int = 5,
        use_rarity: bool = True,
        related_credit: float = 0.5,
        cooccurrence_credit: float = 0.6,
        cooccurrence_min_support: int = 3,
        cooccurrence_min_cosine: float = 0.15,
        cooccurrence_top: int = 8,
        cooccurrence_sample: int = 50_000,
        recency_half_life_years: float = 3.0,
        recency_floor: float = 0.6,
        fairness_max_penalty: float = 0.15,
        fairness_half: float = 2.0,
        near_miss_days: int = 7,
        near_miss_share: float = 0.1,
        text_features: int = 2**17,
        merge_every: int = 512,
        reference_date: date | None = None,
        random_state: int = 0,
    ) -> None:
        self.text_weight = text_weight
        self.context_weight = context_weight
        self.occupation_weight = occupation_weight
        self.occupation_sharpness = occupation_sharpness
        self.occupation_top = occupation_top
        self.use_rarity = use_rarity
        self.related_credit = related_credit
        self.cooccurrence_credit = cooccurrence_credit
        self.cooccurrence_min_support = cooccurrence_min_support
        self.cooccurrence_min_cosine = cooccurrence_min_cosine
        self.cooccurrence_top = cooccurrence_top
        self.cooccurrence_sample = cooccurrence_sample
        self.recency_half_life_years = recency_half_life_years
        self.recency_floor = recency_floor
        self.fairness_max_penalty = fairness_max_penalty
        self.fairness_half = fairness_half
        self.near_miss_days = near_miss_days
        self.near_miss_share = near_miss_share
        self.text_features = text_features
        self.merge_every = merge_every
        self.reference_date = reference_date
        self.random_state = random_state

    # ================================================================== building
    def fit(self, taxonomy: Taxonomy, profiles: Iterable[CandidateProfile]) -> Self:
        """Index ``profiles`` against ``taxonomy``; returns ``self``. A later duplicate agent id wins."""
        self.taxonomy_ = taxonomy
        self._hasher = TextHasher(self.text_features, stop_words=_TEXT_STOP, accents=False)
        by_id: dict[str, CandidateProfile] = {}
        for p in profiles:
            by_id[p.agent_id] = p
        plist = list(by_id.values())
        self.skill_ids_: list[str] = list(taxonomy.ids())
        self.skill_index_: dict[str, int] = {s: i for i, s in enumerate(self.skill_ids_)}
        for p in plist:
            for s in p.skills:
                if s.skill_id not in self.skill_index_:
                    self.skill_index_[s.skill_id] = len(self.skill_ids_)
                    self.skill_ids_.append(s.skill_id)
        self.agent_ids_: list[str | None] = [p.agent_id for p in plist]
        self.row_of_: dict[str, int] = {p.agent_id: i for i, p in enumerate(plist)}
        self.profiles_: list[CandidateProfile | None] = list(plist)
        n = len(plist)
        self.alive_ = np.ones(n, dtype=bool)
        self.n_alive_ = n
        self.open_proposals_ = np.array([p.open_proposals for p in plist], dtype=np.float64)
        self.fair_ = self._fairness(self.open_proposals_)

        # Text: hashed term counts, IDF over the pool, then L2 rows (all vectorised).
        counts = self._hasher.transform([p.text for p in plist]).tocsr() if n else sp.csr_matrix((0, 1))
        text_df = np.bincount(counts.indices, minlength=self.text_features).astype(np.float64)
        self.text_idf_ = idf(text_df, n)
        t_rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(counts.indptr))
        t_cols = counts.indices.astype(np.int64)
        t_vals = counts.data * self.text_idf_[t_cols]
        norms = np.sqrt(np.bincount(t_rows, weights=t_vals**2, minlength=n))
        t_vals = t_vals / np.where(norms > 0, norms, 1.0)[t_rows]

        # Skills: flattened with list comprehensions, then deduplicated and valued with numpy.
        self.skill_df_ = np.zeros(len(self.skill_ids_), dtype=np.float64)
        index_of = self.skill_index_
        h = self.text_features
        flat = [(i, sk) for i, p in enumerate(plist) for sk in p.skills]
        r_all = np.fromiter((i for i, _ in flat), dtype=np.int64, count=len(flat))
        k_all = np.fromiter((index_of[sk.skill_id] for _, sk in flat), dtype=np.int64, count=len(flat))
        lvl_all = np.clip(np.fromiter((sk.level for _, sk in flat), dtype=np.int64, count=len(flat)), 1, LEVELS)
        int_all = np.fromiter((sk.interest or 3 for _, sk in flat), dtype=np.float64, count=len(flat))
        lu_all = np.fromiter(
            (sk.last_used.toordinal() if sk.last_used else _NO_DATE for _, sk in flat),
            dtype=np.int64,
            count=len(flat),
        )
        del flat
        # a skill listed twice by one agent keeps its best level
        key = r_all * max(len(self.skill_ids_), 1) + k_all
        order = np.lexsort((lvl_all, key))
        last = np.r_[key[order][1:] != key[order][:-1], True] if order.size else np.zeros(0, dtype=bool)
        keep = order[last]
        s_rows_a = r_all[keep]
        s_k = k_all[keep]
        s_cols_a = h + s_k * LEVELS + lvl_all[keep] - 1
        s_vals_list = 1.0 - 0.025 * (5 - np.clip(int_all[keep], 1, 5))  # = scoring.interest_factor
        s_lu_a = lu_all[keep]
        # Free-share segments, one agent at a time (most take the fast path).
        g_rows: list[int] = []
        g_start: list[int] = []
        g_end: list[int] = []
        g_free: list[float] = []
        for i, p in enumerate(plist):
            for start, end, free in self._segments(p):
                g_rows.append(i)
                g_start.append(start)
                g_end.append(end)
                g_free.append(free)
        ref = self.reference_date or (
            date.fromordinal(int(s_lu_a.max())) if s_lu_a.size and s_lu_a.max() > 0 else date(1, 1, 1)
        )
        self.reference_date_ = ref
        s_vals_a = s_vals_list * self._recency(s_lu_a, ref)
        self.skill_df_ += np.bincount(s_k, minlength=len(self.skill_ids_))
        # Profile channel: the words (unit vector) and the skills held (rarity-weighted unit vector)
        # share one L2-normalised row, so a cosine rewards a profile centred on the role's skills.
        self.context_cols_ = np.array([self._context_col(sid) for sid in self.skill_ids_], dtype=np.int64)
        c_rows, c_cols = s_rows_a, self.context_cols_[s_k]
        c_vals = np.asarray(self._rarity(self.skill_df_[s_k], n), dtype=np.float64)
        c_norm = np.sqrt(np.bincount(c_rows, weights=c_vals**2, minlength=n))
        c_vals = c_vals / np.where(c_norm > 0, c_norm, 1.0)[c_rows] * self.context_weight
        self._fit_occupations(taxonomy)
        o_rows, o_cols, o_vals = self._occupations_of(s_rows_a, s_k, n)
        o_norm = np.sqrt(np.bincount(o_rows, weights=o_vals**2, minlength=n))
        o_vals = o_vals / np.where(o_norm > 0, o_norm, 1.0)[o_rows] * self.occupation_weight
        both = np.sqrt((norms > 0) + (c_norm > 0) * self.context_weight**2 + (o_norm > 0) * self.occupation_weight**2)
        both[both == 0] = 1.0
        t_vals = t_vals / both[t_rows]
        c_vals = c_vals / both[c_rows]
        o_vals = o_vals / both[o_rows]
        self._assemble(
            n,
            np.concatenate([t_rows, c_rows, o_rows, s_rows_a]),
            np.concatenate([t_cols, c_cols, o_cols, s_cols_a]),
            np.concatenate([t_vals, c_vals, o_vals, s_vals_a]),
            np.concatenate([np.full(t_cols.size + c_cols.size + o_cols.size, _NO_DATE, dtype=np.int64), s_lu_a]),
            np.array(g_rows, dtype=np.int64),
            np.array(g_start, dtype=np.int64),
            np.array(g_end, dtype=np.int64),
            np.array(g_free, dtype=np.float64),
        )
        self.overlay_: dict[int, _Row] = {}
        self._learn_related()
        return self

    def _text_row(self, counts_row: sp.csr_matrix | None, text: str) -> tuple[np.ndarray, np.ndarray]:
        if counts_row is None:
            counts_row = self._hasher.transform([text]).tocsr()
        cols = counts_row.indices.astype(np.int64)
        if cols.size == 0:
            return cols, np.empty(0)
        vals = counts_row.data * self.text_idf_[cols]
        vals = vals / np.linalg.norm(vals)
        return cols, vals

    def _context_col(self, skill_id: str) -> int:
        # a stable hash (not Python's salted one) into the text columns
        return zlib.crc32(f"skill:{skill_id}".encode()) % self.text_features

    def _fit_occupations(self, taxonomy: Taxonomy) -> None:
        """The occupation model over the taxonomy's occupation–skill relations (none: no model)."""
        occupations = taxonomy.occupations() if self.occupation_weight > 0 else {}
        self.occupation_ids_: list[str] = list(occupations)
        self.occupation_cols_ = np.array(
            [zlib.crc32(f"occupation:{o}".encode()) % self.text_features for o in self.occupation_ids_],
            dtype=np.int64,
        )
        self.occupation_model_: OccupationModel | None = None
        if not occupations:
            return
        pairs = [(j, self.skill_index_[s]) for j, skills in enumerate(occupations.values()) for s in skills]
        rows, cols = np.array(pairs, dtype=np.int64).T
        membership = sp.csr_matrix(
            (np.ones(rows.size), (rows, cols)), shape=(len(occupations), len(self.skill_ids_))
        )
        self.occupation_model_ = OccupationModel(self.occupation_sharpness, self.occupation_top).fit(membership)

    def _occupations_of(
        self, rows: np.ndarray, skills: np.ndarray, n: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row, column, probability) of the likely occupations of ``n`` skill sets given as (row, skill)."""
        model = self.occupation_model_
        if model is None or n == 0:
            return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)
        width = model.membership_.shape[0]  # skills added after fit belong to no occupation
        keep = skills < width
        held = sp.csr_matrix((np.ones(int(keep.sum())), (rows[keep], skills[keep])), shape=(n, width))
        # by blocks of rows: the skills × occupations product of a million profiles is large at once
        post = sp.vstack([model.posterior(held[i : i + _OCCUPATION_BLOCK]) for i in range(0, n, _OCCUPATION_BLOCK)])
        post = post.tocsr()
        o_rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(post.indptr))
        return o_rows, self.occupation_cols_[post.indices], post.data

    def _rarity(self, df: np.ndarray | float, n: int) -> np.ndarray | float:
        return idf(df, n) if self.use_rarity else np.ones_like(np.asarray(df, dtype=float))

    def _profile_vector(
        self,
        tcols: np.ndarray,
        tvals: np.ndarray,
        ccols: np.ndarray,
        cvals: np.ndarray,
        skills: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Words (unit), skills context (unit × context_weight) and the occupations of ``skills`` (indices,
        unit × occupation_weight), together L2-normalised."""
        cn = float(np.linalg.norm(cvals))
        if cn > 0:
            cvals = cvals / cn * self.context_weight
        ocols, ovals = np.empty(0, np.int64), np.empty(0)
        if skills is not None and skills.size:
            _, ocols, ovals = self._occupations_of(np.zeros(skills.size, np.int64), skills, 1)
        on = float(np.linalg.norm(ovals))
        if on > 0:
            ovals = ovals / on * self.occupation_weight
        both = np.sqrt(float(tvals.size > 0) + (cn > 0) * self.context_weight**2 + (on > 0) * self.occupation_weight**2)
        return np.concatenate([tcols, ccols, ocols]), np.concatenate([tvals, cvals, ovals]) / (both or 1.0)

    def _skill_col(self, k: int, level: int) -> int:
        return self.text_features + k * LEVELS + (min(max(int(level), 1), LEVELS) - 1)

    def _encode(self, p: CandidateProfile, counts_row: sp.csr_matrix | None = None) -> _Row:
        """Encode a profile as a row and count its skills in the pool's document frequency."""
        tcols, tvals = self._text_row(counts_row, p.text)
        best: dict[int, AgentSkill] = {}
        for s in p.skills:
            k = self.skill_index_.get(s.skill_id)
            if k is None:
                k = self.skill_index_[s.skill_id] = len(self.skill_ids_)
                self.skill_ids_.append(s.skill_id)
                self.skill_df_ = np.append(self.skill_df_, 0.0)
                self.context_cols_ = np.append(self.context_cols_, self._context_col(s.skill_id))
            if k not in best or s.level > best[k].level:  # a skill listed twice keeps its best level
                best[k] = s
        ks = sorted(best)
        self.skill_df_[ks] += 1.0
        scols = np.array([self._skill_col(k, best[k].level) for k in ks], dtype=np.int64)
        slu = np.array([_ordinal(best[k].last_used) for k in ks], dtype=np.int64)
        svals = np.array([interest_factor(best[k].interest) for k in ks], dtype=np.float64)
        svals = svals * self._recency(slu, self.reference_date_)
        n_alive = max(self.n_alive_, 1)
        ccols = self.context_cols_[np.array(ks, dtype=np.int64)]
        cvals = np.asarray(self._rarity(self.skill_df_[ks], n_alive), dtype=np.float64).reshape(-1)
        tcols, tvals = self._profile_vector(tcols, tvals, ccols, cvals, np.array(ks, dtype=np.int64))
        segs = self._segments(p)
        return _Row(
            cols=np.concatenate([tcols, scols]),
            vals=np.concatenate([tvals, svals]),
            last_used=np.concatenate([np.full(tcols.size, _NO_DATE, dtype=np.int64), slu]),
            seg_start=np.array([s[0] for s in segs], dtype=np.int64),
            seg_end=np.array([s[1] for s in segs], dtype=np.int64),
            seg_free=np.array([s[2] for s in segs], dtype=np.float64),
        )

    def _uncount(self, p: CandidateProfile) -> None:
        ks = sorted({self.skill_index_[s.skill_id] for s in p.skills if s.skill_id in self.skill_index_})
        self.skill_df_[ks] -= 1.0

    @staticmethod
    def _segments(p: CandidateProfile) -> list[tuple[int, int, float]]:
        """Free-share segments (ordinal start, ordinal end, free > 0) over the agent's whole horizon."""
        if not p.availability:
            return []
        if len(p.availability) == 1 and not p.commitments:  # the most common case, kept cheap
            w = p.availability[0]
            return (
                [(w.start.toordinal(), w.end.toordinal(), min(w.share, 1.0))]
                if w.share > 0 and w.end >= w.start
                else []
            )
        windows = sorted(p.availability, key=lambda w: w.start)
        disjoint = all(a.end < b.start for a, b in zip(windows, windows[1:], strict=False))
        if not p.commitments and disjoint:  # fast path: the windows are the segments
            return [
                (w.start.toordinal(), w.end.toordinal(), min(w.share, 1.0))
                for w in windows
                if w.share > 0 and w.end >= w.start
            ]
        lo = min(w.start for w in windows)
        hi = max(w.end for w in windows)
        return [
            (s.start.toordinal(), s.end.toordinal(), s.free)
            for s in free_segments(p.availability, p.commitments, lo, hi)
            if s.free > 0
        ]

    def _assemble(
        self,
        n: int,
        rows: np.ndarray,
        cols: np.ndarray,
        vals: np.ndarray,
        last_used: np.ndarray,
        seg_rows: np.ndarray,
        seg_start: np.ndarray,
        seg_end: np.ndarray,
        seg_free: np.ndarray,
    ) -> None:
        """Build the CSR matrix and the segment arrays from flat (row, …) entries, in any row order."""
        order = np.argsort(rows, kind="stable")
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
        ncols = self.text_features + LEVELS * len(self.skill_ids_)
        self.base_ = sp.csr_matrix((vals[order], cols[order].astype(np.int32), indptr), shape=(n, ncols))
        self.base_last_used_ = last_used[order]
        order = np.argsort(seg_rows, kind="stable")
        self.seg_indptr_ = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(seg_rows, minlength=n), out=self.seg_indptr_[1:])
        self.seg_start_ = seg_start[order]
        self.seg_end_ = seg_end[order]
        self.seg_free_ = seg_free[order]

    def _learn_related(self) -> None:
        """Related skills: taxonomy relations, plus skills that co-occur in profiles (cosine)."""
        n_skills = len(self.skill_ids_)
        related: dict[int, dict[int, tuple[float, str]]] = {}
        for k, sid in enumerate(self.skill_ids_):
            for other in self.taxonomy_.related(sid):
                t = self.skill_index_.get(other)
                if t is not None:
                    related.setdefault(k, {})[t] = (self.related_credit, "taxonomy")
        n = self.base_.shape[0]
        if n and self.cooccurrence_credit > 0:
            rows = np.arange(n)
            if n > self.cooccurrence_sample:
                rng = np.random.default_rng(self.random_state)
                rows = np.sort(rng.choice(n, self.cooccurrence_sample, replace=False))
            sub = self.base_[rows]
            mask = sub.indices >= self.text_features
            owner = np.repeat(np.arange(sub.shape[0]), np.diff(sub.indptr))[mask]
            kk = (sub.indices[mask] - self.text_features) // LEVELS
            b = sp.csr_matrix((np.ones(kk.size), (owner, kk)), shape=(sub.shape[0], n_skills))
            co = (b.T @ b).tocsr()
            diag = co.diagonal()
            for k in range(n_skills):
                a, e = co.indptr[k], co.indptr[k + 1]
                ts, cs = co.indices[a:e], co.data[a:e]
                keep = (ts != k) & (cs >= self.cooccurrence_min_support)
                ts, cs = ts[keep], cs[keep]
                if ts.size == 0:
                    continue
                cos = cs / np.sqrt(diag[k] * diag[ts])
                order = np.argsort(-cos)[: self.cooccurrence_top]
                for t, c in zip(ts[order], cos[order], strict=True):
                    if c < self.cooccurrence_min_cosine:
                        break
                    sim = float(self.cooccurrence_credit * c)
                    current = related.setdefault(k, {}).get(int(t))
                    if current is None or current[0] < sim:
                        related[k][int(t)] = (sim, "cooccurrence")
        self.related_: dict[int, dict[int, tuple[float, str]]] = related

    # ================================================================== changes
    def upsert(self, profile: CandidateProfile) -> Self:
        """Add or replace one agent's profile; visible to the next :meth:`rank` without a rebuild."""
        row = self.row_of_.get(profile.agent_id)
        if row is None:
            row = len(self.agent_ids_)
            self.agent_ids_.append(profile.agent_id)
            self.profiles_.append(profile)
            self.row_of_[profile.agent_id] = row
            self.alive_ = np.append(self.alive_, True)
            self.n_alive_ += 1
            self.open_proposals_ = np.append(self.open_proposals_, float(profile.open_proposals))
            self.fair_ = np.append(self.fair_, self._fairness(float(profile.open_proposals)))
        else:
            old = self.profiles_[row]
            if old is not None and self.alive_[row]:
                self._uncount(old)
            self.profiles_[row] = profile
            self.alive_[row] = True
            self.open_proposals_[row] = float(profile.open_proposals)
            self.fair_[row] = self._fairness(float(profile.open_proposals))
        self.overlay_[row] = self._encode(profile)
        self._maybe_merge()
        return self

    def remove(self, agent_id: str) -> Self:
        """Forget one agent (no-op for an unknown id); it is never ranked again until re-added."""
        row = self.row_of_.pop(agent_id, None)
        if row is None:
            return self
        old = self.profiles_[row]
        if old is not None and self.alive_[row]:
            self._uncount(old)
        self.alive_[row] = False
        self.n_alive_ -= 1
        self.profiles_[row] = None
        self.agent_ids_[row] = None
        self.overlay_[row] = _Row(*(np.empty(0, dt) for dt in (np.int64, float, np.int64, np.int64, np.int64, float)))
        self._maybe_merge()
        return self

    def _maybe_merge(self) -> None:
        if len(self.overlay_) >= self.merge_every:
            self.merge()

    def merge(self) -> Self:
        """Fold pending changes into the matrix (done automatically every ``merge_every`` changes).

        Rows stay in order, so the new arrays are the old ones cut around the changed rows and
        stitched with them: one copy of the data, no sort.
        """
        n = len(self.agent_ids_)
        ncols = self.text_features + LEVELS * len(self.skill_ids_)
        over = sorted(self.overlay_.items())

        def stitch(indptr: np.ndarray, arrays: list[np.ndarray], fields: list[str]) -> tuple[np.ndarray, ...]:
            nb = indptr.size - 1
            lengths = np.zeros(n, dtype=np.int64)
            lengths[:nb] = np.diff(indptr)
            pieces: list[list[np.ndarray]] = [[] for _ in arrays]
            prev = 0
            for row, r in over:
                if row < nb:
                    cut = slice(indptr[prev], indptr[row])
                    prev = row + 1
                else:  # new rows come after every base row
                    cut = slice(indptr[prev], indptr[nb])
                    prev = nb
                for out, arr in zip(pieces, arrays, strict=True):
                    out.append(arr[cut])
                own = [getattr(r, f) for f in fields]
                for out, arr in zip(pieces, own, strict=True):
                    out.append(arr.astype(out[0].dtype, copy=False))
                lengths[row] = own[0].size
            for out, arr in zip(pieces, arrays, strict=True):
                out.append(arr[indptr[prev] : indptr[nb]])
            new_indptr = np.zeros(n + 1, dtype=np.int64)
            np.cumsum(lengths, out=new_indptr[1:])
            return (new_indptr, *(np.concatenate(p) for p in pieces))

        indptr, indices, data, last_used = stitch(
            self.base_.indptr,
            [self.base_.indices, self.base_.data, self.base_last_used_],
            ["cols", "vals", "last_used"],
        )
        self.base_ = sp.csr_matrix((data, indices, indptr), shape=(n, ncols))
        self.base_last_used_ = last_used
        self.seg_indptr_, self.seg_start_, self.seg_end_, self.seg_free_ = stitch(
            self.seg_indptr_, [self.seg_start_, self.seg_end_, self.seg_free_], ["seg_start", "seg_end", "seg_free"]
        )
        self.overlay_ = {}
        return self

    def __len__(self) -> int:
        return self.n_alive_

    def __contains__(self, agent_id: object) -> bool:
        return agent_id in self.row_of_

    def profile(self, agent_id: str) -> CandidateProfile | None:
        """The indexed profile of an agent, or ``None``."""
        row = self.row_of_.get(agent_id)
        return None if row is None else self.profiles_[row]

    # ================================================================== vectorised pieces
    def _recency(self, last_used: np.ndarray, when: date) -> np.ndarray:
        return recency_factors(last_used, when, self.recency_half_life_years, self.recency_floor)

    def _fairness(self, open_proposals: np.ndarray | float) -> np.ndarray | float:
        return fairness_factor(open_proposals, self.fairness_max_penalty, self.fairness_half)

    def _in_overlay(self, rows: np.ndarray, nb: int) -> np.ndarray:
        out = rows >= nb
        if self.overlay_:
            out |= np.isin(rows, np.fromiter(self.overlay_, dtype=np.int64, count=len(self.overlay_)))
        return out

    def _gather(self, rows: np.ndarray) -> tuple[np.ndarray, ...]:
        """Entries of ``rows``: (position in rows, column, value, last used)."""
        nb = self.base_.shape[0]
        in_overlay = self._in_overlay(rows, nb)
        pos_b = np.flatnonzero(~in_overlay)
        rb = rows[pos_b]
        idx, owner = ranges(self.base_.indptr[rb], self.base_.indptr[rb + 1])
        parts = [
            (
                pos_b[owner],
                self.base_.indices[idx].astype(np.int64),
                self.base_.data[idx],
                self.base_last_used_[idx],
            )
        ]
        for p in np.flatnonzero(in_overlay).tolist():
            r = self.overlay_[int(rows[p])]
            parts.append((np.full(r.cols.size, p, dtype=np.int64), r.cols, r.vals, r.last_used))
        return tuple(np.concatenate([x[i] for x in parts]) for i in range(4))

