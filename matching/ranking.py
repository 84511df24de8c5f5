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

import zlib
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer

from matching.availability import DEFAULT_FLOOR, Eligibility, above_floor, eligibility, free_segments
from matching.normalise import STOP_WORDS
from matching.scoring import (
    LEVELS,
    REQUIRED_WEIGHT,
    credit_table,
    fairness_factor,
    idf,
    interest_factor,
    level_credit,
    recency_factor,
    recency_factors,
)
from matching.taxonomy import Taxonomy
from matching.types import AgentSkill, CandidateProfile, RoleRequirement

if TYPE_CHECKING:
    from matching.team import TeamProposal

__all__ = ["Candidate", "CandidateIndex", "NearMiss", "Ranking"]

_EPS = 1e-9
_NO_DATE = -1  # last_used unknown (text columns carry it too)
# Words too common to say anything about a profile, in both languages.
_TEXT_STOP = sorted(
    STOP_WORDS
    | {"je", "j", "ai", "suis", "mon", "ma", "mes", "nous", "vous", "il", "elle", "qui", "que", "est", "sont"}
    | {"ce", "cette", "ces", "is", "are", "i", "my", "we"}
)


@dataclass(frozen=True, slots=True)
class Candidate:
    """An eligible agent for a role, with its score in [0, 1] and its explanation (JSON-ready dict)."""

    agent_id: str
    score: float
    explanation: dict[str, Any]


@dataclass(frozen=True, slots=True)
class NearMiss:
    """An agent who misses the role by a little; ``reasons`` say how, in French."""

    agent_id: str
    score: float
    reasons: list[str]
    explanation: dict[str, Any]


@dataclass(slots=True)
class Ranking:
    """Eligible candidates best first, near misses apart, and how many agents were examined exactly."""

    role_id: str
    candidates: list[Candidate] = field(default_factory=list)
    near_misses: list[NearMiss] = field(default_factory=list)
    examined: int = 0


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
class _RoleVector:
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


def _ranges(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


class CandidateIndex:
    """An index of agents that ranks them for a role, and proposes teams for a need.

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
    def fit(self, taxonomy: Taxonomy, profiles: Iterable[CandidateProfile]) -> CandidateIndex:
        """Index ``profiles`` against ``taxonomy``; returns ``self``. A later duplicate agent id wins."""
        self.taxonomy_ = taxonomy
        self._hasher = HashingVectorizer(
            n_features=self.text_features,
            alternate_sign=False,
            norm=None,
            strip_accents="unicode",
            lowercase=True,
            stop_words=_TEXT_STOP,
        )
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
        both = np.sqrt((norms > 0) + (c_norm > 0) * self.context_weight**2)
        both[both == 0] = 1.0
        t_vals = t_vals / both[t_rows]
        c_vals = c_vals / both[c_rows]
        self._assemble(
            n,
            np.concatenate([t_rows, c_rows, s_rows_a]),
            np.concatenate([t_cols, c_cols, s_cols_a]),
            np.concatenate([t_vals, c_vals, s_vals_a]),
            np.concatenate([np.full(t_cols.size + c_cols.size, _NO_DATE, dtype=np.int64), s_lu_a]),
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

    def _rarity(self, df: np.ndarray | float, n: int) -> np.ndarray | float:
        return idf(df, n) if self.use_rarity else np.ones_like(np.asarray(df, dtype=float))

    def _profile_vector(
        self, tcols: np.ndarray, tvals: np.ndarray, ccols: np.ndarray, cvals: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Words (unit) and skills context (unit × context_weight), together L2-normalised."""
        cn = float(np.linalg.norm(cvals))
        if cn > 0:
            cvals = cvals / cn * self.context_weight
        both = np.sqrt(float(tvals.size > 0) + (cn > 0) * self.context_weight**2) or 1.0
        return np.concatenate([tcols, ccols]), np.concatenate([tvals, cvals]) / both

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
        tcols, tvals = self._profile_vector(tcols, tvals, ccols, cvals)
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
    def upsert(self, profile: CandidateProfile) -> CandidateIndex:
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

    def remove(self, agent_id: str) -> CandidateIndex:
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

    def merge(self) -> CandidateIndex:
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

    # ================================================================== role compilation
    def _compile(self, role: RoleRequirement) -> _RoleVector:
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
        pcols, pvals = self._profile_vector(tcols, tvals, ccols, cvals)
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
        return _RoleVector(
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

    # ================================================================== vectorised pieces
    def _recency(self, last_used: np.ndarray, when: date) -> np.ndarray:
        return recency_factors(last_used, when, self.recency_half_life_years, self.recency_floor)

    def _fairness(self, open_proposals: np.ndarray | float) -> np.ndarray | float:
        return fairness_factor(open_proposals, self.fairness_max_penalty, self.fairness_half)

    def _bulk(self, rv: _RoleVector) -> np.ndarray:
        """Upper bound of every agent's score: one sparse mat-vec, then the few overlay rows."""
        n = len(self.agent_ids_)
        nb = self.base_.shape[0]
        out = np.empty(n)
        out[:nb] = self.base_ @ rv.vector[: self.base_.shape[1]]
        for row, r in self.overlay_.items():
            out[row] = float(r.vals @ rv.vector[r.cols]) if r.cols.size else 0.0
        out[~self.alive_] = -np.inf
        return out

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
        idx, owner = _ranges(self.base_.indptr[rb], self.base_.indptr[rb + 1])
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

    def _free_ok(self, rows: np.ndarray, start: date, end: date, share: float) -> np.ndarray:
        """Whether each row has free share ≥ ``share`` on every day of [start, end] (vectorised)."""
        s, e = start.toordinal(), end.toordinal()
        nb = self.base_.shape[0]
        in_overlay = self._in_overlay(rows, nb)
        covered = np.zeros(rows.size, dtype=np.int64)
        pos_b = np.flatnonzero(~in_overlay)
        rb = rows[pos_b]
        idx, owner = _ranges(self.seg_indptr_[rb], self.seg_indptr_[rb + 1])
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
        good = (ff + _EPS >= share) & (overlap > 0)
        covered = np.bincount(pos[good], weights=overlap[good], minlength=rows.size).astype(np.int64)
        return covered == (e - s + 1)

    def _exact(
        self, rows: np.ndarray, rv: _RoleVector, today: date, fairness: bool
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
        n_pos = int(np.count_nonzero(bulk > _EPS))
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
            head = head[~seen[head] & (bulk[head] > _EPS)]
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
            enough = allscores.size >= top and np.partition(allscores, -top)[-top] + _EPS >= bound * slack
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
        rv: _RoleVector,
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

    def _text_similarity(self, profile: CandidateProfile, rv: _RoleVector) -> float:
        if rv.text_weight <= 0:
            return 0.0
        row = self.row_of_.get(profile.agent_id)
        if row is not None and self.profiles_[row] is profile:  # indexed: reuse the stored text vector
            _, cols, vals, _ = self._gather(np.array([row], dtype=np.int64))
            keep = cols < self.text_features
            tcols, tvals = cols[keep], vals[keep]
        else:
            tcols, tvals = self._text_row(None, profile.text)
        return float(tvals @ rv.vector[tcols]) / rv.text_weight if tcols.size else 0.0

    def _near_misses(
        self,
        rows: np.ndarray,
        score: np.ndarray,
        text: np.ndarray,
        role: RoleRequirement,
        rv: _RoleVector,
        limit: int,
        floor: float,
        today: date,
        fairness: bool,
    ) -> list[NearMiss]:
        if rows.size == 0:
            return []
        out: list[NearMiss] = []
        for i in np.argsort(-score, kind="stable").tolist():
            if len(out) >= limit:
                break
            row = int(rows[i])
            profile = self.profiles_[row]
            if profile is None:
                continue
            el = eligibility(profile.availability, profile.commitments, role.start, role.end, role.share, floor)
            reasons = self._miss_reasons(profile, role, el)
            if reasons:
                expl = self.explain(
                    profile,
                    role,
                    today=today,
                    fairness=fairness,
                    eligibility_=el,
                    rv=rv,
                    text_sim=float(text[i]),
                )
                out.append(NearMiss(profile.agent_id, float(score[i]), reasons, expl))
        return out

    def _miss_reasons(self, profile: CandidateProfile, role: RoleRequirement, el: Eligibility) -> list[str]:
        """French reasons when the agent misses by a little on exactly one point, else ``[]``."""
        held = {s.skill_id: s for s in profile.skills}
        low = []
        for r in role.skills:
            if r.required:
                s = held.get(r.skill_id)
                level = s.level if s else 0
                if level < r.level:
                    low.append((r, level))
        if el.eligible:
            if len(low) == 1 and low[0][1] == low[0][0].level - 1:
                r, level = low[0]
                label = self.taxonomy_.label(r.skill_id)
                return [f"Niveau {level} en {label} pour un niveau {r.level} requis"]
            return []
        if low:
            return []
        share = role.share
        short = [s for s in el.segments if s.free + _EPS < share]
        if not short:
            return []
        short_days = sum((s.end - s.start).days + 1 for s in short)
        last_short = max(s.end for s in short)
        first_short = min(s.start for s in short)
        # a late start: every short day sits at the beginning of the period
        late = first_short == role.start and short_days == (last_short - role.start).days + 1
        if late and short_days <= self.near_miss_days:
            first_ok = last_short + timedelta(days=1)
            return [
                f"Disponible seulement à partir du {first_ok:%d/%m/%Y}, "
                f"soit {short_days} jour{'s' if short_days > 1 else ''} après le début du rôle"
            ]
        # an early end: every short day sits at the end
        early = last_short == role.end and short_days == (role.end - first_short).days + 1
        if early and short_days <= self.near_miss_days:
            last_ok = first_short - timedelta(days=1)
            return [
                f"Disponibilité jusqu'au {last_ok:%d/%m/%Y} seulement, "
                f"soit {short_days} jour{'s' if short_days > 1 else ''} avant la fin du rôle"
            ]
        if el.min_free + self.near_miss_share + _EPS >= share and el.min_free > 0:
            return [f"Temps libre de {round(el.min_free * 100)} % au plus bas pour {round(share * 100)} % demandés"]
        return []

    # ================================================================== explanations
    def explain(
        self,
        profile: CandidateProfile,
        role: RoleRequirement,
        today: date | None = None,
        fairness: bool = True,
        floor: float = DEFAULT_FLOOR,
        eligibility_: Eligibility | None = None,
        rv: _RoleVector | None = None,
        text_sim: float | None = None,
    ) -> dict[str, Any]:
        """The explanation of one agent's score for a role (shape documented in ``docs/matching.md``).

        ``eligibility_``, ``rv`` and ``text_sim`` let :meth:`rank` pass what it already computed.
        """
        today = today or role.start
        rv = rv or self._compile(role)
        held = {s.skill_id: s for s in profile.skills}
        matched: list[dict[str, Any]] = []
        related: list[dict[str, Any]] = []
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
                    if c > best + _EPS:
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
            elif how[0] == "direct":
                s = how[1]
                matched.append(
                    base
                    | {
                        "agent_level": s.level,
                        "credit": round(best, 4),
                        "last_used": s.last_used.isoformat() if s.last_used else None,
                        "interest": s.interest,
                    }
                )
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
        return (
            sim
            * level_credit(s.level, required_level)
            * interest_factor(s.interest)
            * recency_factor(s.last_used, today, self.recency_half_life_years, self.recency_floor)
        )

    # ================================================================== teams
    def propose_team(self, roles: Sequence[RoleRequirement], **kwargs: Any) -> TeamProposal:
        """Shortcut for :func:`matching.team.propose_team` on this index."""
        from matching.team import propose_team

        return propose_team(self, roles, **kwargs)
