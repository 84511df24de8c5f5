"""The agents' index behind ranking: :class:`IndexBase` builds and maintains it.

Every agent is one row of a matrix kept as two CSR blocks of columns: the *profile block* (hashed TF-IDF
words of the profile text and the skills held, rarity-weighted) and the *skill block* (one column per
(skill, level) pair valued by interest × recency, with each entry's last use and stated interest beside
it). Split so, a ranking gets every agent's exact profile similarity from the bulk mat-vec, and reads
back only the skill entries of the agents it examines. Free-share segments sit beside them for the
vectorised eligibility check. Related skills are
learned at fit (taxonomy relations, co-occurrence in profiles). Upserts and removals go to an overlay
folded into the matrix every ``merge_every`` changes. An index is copied for a change (:meth:`IndexBase.fork`)
at the cost of the changes since the last merge, not of the pool. Querying is
:class:`matching.ranking.CandidateIndex`.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Self

import numpy as np
import scipy.sparse as sp

from matching.availability import above_floor, free_segments
from matching.hashing import TextHasher
from matching.layered import LayeredList, LayeredMap
from matching.normalise import STOP_WORDS
from matching.occupations import OccupationModel
from matching.scoring import (
    LEVELS,
    RECENCY_DAYS,
    fairness_factor,
    idf,
    interest_factor,
    level_credit,
    recency_factors,
    recency_table_past,
)
from matching.taxonomy import Taxonomy
from matching.types import AgentSkill, CandidateProfile

__all__ = [
    "EPS",
    "INTEREST_FACTOR",
    "LEVEL_CREDIT",
    "NOT_A_SOURCE",
    "IndexBase",
    "Period",
    "RoleVector",
    "held_skills",
    "ranges",
]

EPS = 1e-9
NOT_A_SOURCE = np.iinfo(np.int64).max  # RoleVector.src_order of a skill that gives no credit to an asked one
# level_credit(agent level, required level), both 1..LEVELS, as a table indexed from 0
LEVEL_CREDIT = np.array([[level_credit(a, r) for r in range(1, LEVELS + 1)] for a in range(1, LEVELS + 1)])
# interest_factor by interest code (0: unknown, then 1..5)
INTEREST_FACTOR = np.array([interest_factor(None), *(interest_factor(i) for i in range(1, 6))])
_NOT_KEPT = ("_compiled", "_overlay_at", "text_by_column_", "skills_by_column_")  # what an index's pickle leaves out
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
    """One agent's encoded row: profile entries, skill entries (with last-use ordinals and stated
    interest), free-share segments."""

    text_cols: np.ndarray
    text_vals: np.ndarray
    skill_cols: np.ndarray  # in the skill block: skill × LEVELS + level - 1
    skill_vals: np.ndarray
    last_used: np.ndarray
    interest: np.ndarray
    seg_start: np.ndarray
    seg_end: np.ndarray
    seg_free: np.ndarray

    @classmethod
    def empty(cls) -> _Row:
        dtypes = (np.int64, float, np.int64, float, np.int64, np.int8, np.int64, np.int64, float)
        return cls(*(np.empty(0, dt) for dt in dtypes))


@dataclass(slots=True)
class _OverlayLayout:
    """Where the pending changes are, for one state of the index (see :meth:`IndexBase._overlay_rows`)."""

    rows: np.ndarray  # the rows with pending changes, in order
    mask: np.ndarray  # by row: whether it has some
    entries: dict[tuple[str, ...], tuple[np.ndarray, ...]] = field(default_factory=dict)  # _overlay_entries'


@dataclass(slots=True)
class RoleVector:
    """A role compiled against the index: bulk vector and what exact scoring needs."""

    vector: np.ndarray
    skill_idx: list[int]  # index of each asked skill in the vocabulary (-1 unknown)
    weights: np.ndarray  # normalised weight × rarity of each asked skill, summing to 1
    contrib_cols: np.ndarray  # skill-block columns that give credit to some asked skill
    contrib_at: np.ndarray  # per skill-block column, its position in contrib_cols (-1: none): a look-up, not a search
    contrib: np.ndarray  # (len(contrib_cols), n_asked) credit × similarity
    contrib_required_ok: np.ndarray  # 1 for the contrib_cols meeting a required skill's level, else 0
    contrib_required_low: np.ndarray  # 1 for the contrib_cols one level below a required skill's level
    n_required: int
    skill_weight: float
    text_weight: float
    # Where each asked skill may take its credit from, for the explanations: the skills that are a
    # source of some asked skill (sorted), their similarity to each asked skill (0: not a source),
    # their position in the order an explanation looks at them (0: the skill itself, then the related
    # ones in :attr:`IndexBase.related_` order) and the source's index per asked skill (-1: unknown).
    src_skills: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    src_sim: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    src_order: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int64))
    src_direct: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    # The same for explanations laid out in plain Python (a few items: lists beat numpy calls): per source
    # skill, the asked skills it gives credit to and its order for each (asked-skill order); ``contrib`` as
    # lists; each asked skill's entry as an explanation shows it, and the same with the agent's part still to
    # set (templates: copied for each agent, never handed out).
    src_targets: list[list[tuple[int, int]]] = field(default_factory=list)
    contrib_rows: list[list[float]] = field(default_factory=list)
    shown: list[dict[str, Any]] = field(default_factory=list)
    shown_held: list[dict[str, Any]] = field(default_factory=list)
    # The vector's nonzero entries in each block (columns ascending, the skill block's from 0): all that the
    # bulk product reads (:meth:`IndexBase._block_product`).
    text_cols: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    text_vals: np.ndarray = field(default_factory=lambda: np.empty(0))
    skill_cols: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    skill_vals: np.ndarray = field(default_factory=lambda: np.empty(0))
    # The bulk product over the merged matrices (:meth:`matching.ranking.CandidateIndex._bulk`), with the matrices
    # it was read from (weak references: a merge replaces them, and a role ranked no more must not keep them).
    merged_products: tuple[Any, ...] | None = None


@dataclass(slots=True)
class Period:
    """Free-share segments of some rows over a role's period, cut as :func:`matching.availability.eligibility`
    cuts them, and what eligibility reads from them; row ``i``'s segments are ``indptr[i]:indptr[i + 1]``."""

    indptr: np.ndarray
    start: np.ndarray  # ordinals
    end: np.ndarray
    free: np.ndarray
    min_free: np.ndarray
    short_days: np.ndarray  # days with free share below the role's
    eligible: np.ndarray


def ranges(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Concatenated ``arange(s, e)`` for each pair, and the position of the pair each value came from."""
    lens = ends - starts
    owner = np.arange(lens.size).repeat(lens)
    if owner.size == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    # value k of pair i is starts[i] + (k - first k of pair i): two repeats and in-place sums (cheaper than a
    # look-up by owner)
    shift = starts - lens.cumsum()
    shift += lens
    idx = shift.repeat(lens)
    idx += np.arange(owner.size)
    return idx, owner


def by_column(block: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """The entries of a CSR block by column: (column pointer, row, value), each column's entries in row order
    (one linear pass, the block's transpose), read in sequence by :meth:`IndexBase._block_product`; and
    whether each row's entries are in column order (then column by column is each row's entry order too)."""
    by_col = block.tocsc()
    indices, indptr = block.indices, block.indptr
    rising = indices[1:] > indices[:-1]
    starts = indptr[1:-1]
    rising[starts[(starts > 0) & (starts < indices.size)] - 1] = True  # a row's first entry follows the row before
    return by_col.indptr, by_col.indices, by_col.data, bool(rising.all())


def _ordinal(day: date | None) -> int:
    return day.toordinal() if day is not None else _NO_DATE


def held_skills(profile: CandidateProfile) -> dict[str, AgentSkill]:
    """An agent's skills by id; a skill listed twice counts once, at its best level (the last listed among
    equal levels) — the entry the index scores, and the one explanations show."""
    held: dict[str, AgentSkill] = {}
    for s in profile.skills:
        cur = held.get(s.skill_id)
        if cur is None or min(max(s.level, 1), LEVELS) >= min(max(cur.level, 1), LEVELS):
            held[s.skill_id] = s
    return held


def _interest_code(interest: int | None) -> int:
    """Stated interest as kept in the index: 1–5 as :func:`interest_factor` reads it, 0 for unknown."""
    return 0 if interest is None else min(max(int(interest), 1), 5)


def _plain(skill: AgentSkill) -> bool:
    """A level and an interest in range, as the database holds them (the index can show them as stated)."""
    return 1 <= skill.level <= LEVELS and (skill.interest is None or 1 <= skill.interest <= 5)


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
        self.__dict__.pop("_compiled", None)
        self.__dict__.pop("_overlay_at", None)
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
        # per agent, by row (a removed agent's row keeps None); shared with the index's forks, see fork()
        self.agent_ids_: LayeredList[str | None] = LayeredList(p.agent_id for p in plist)
        self.row_of_: LayeredMap[str, int] = LayeredMap({p.agent_id: i for i, p in enumerate(plist)})
        self.profiles_: LayeredList[CandidateProfile | None] = LayeredList(plist)
        n = len(plist)
        self.alive_ = np.ones(n, dtype=bool)
        self.n_alive_ = n
        self.fair_ = self._fairness(np.array([p.open_proposals for p in plist], dtype=np.float64))

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
        flat = [(i, sk) for i, p in enumerate(plist) for sk in p.skills]
        r_all = np.fromiter((i for i, _ in flat), dtype=np.int64, count=len(flat))
        k_all = np.fromiter((index_of[sk.skill_id] for _, sk in flat), dtype=np.int64, count=len(flat))
        lvl_all = np.clip(np.fromiter((sk.level for _, sk in flat), dtype=np.int64, count=len(flat)), 1, LEVELS)
        code_all = np.fromiter((_interest_code(sk.interest) for _, sk in flat), dtype=np.int8, count=len(flat))
        odd = np.fromiter((not _plain(sk) for _, sk in flat), dtype=bool, count=len(flat))
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
        # Rows the vectorised explanation reads from the matrix alone: levels and interests in range
        # (as the database ensures); the others are explained from their profile (matching.explain).
        self.plain_ = np.bincount(r_all[odd], minlength=n) == 0
        s_rows_a = r_all[keep]
        s_k = k_all[keep]
        s_cols_a = s_k * LEVELS + lvl_all[keep] - 1
        s_lu_a = lu_all[keep]
        s_int_a = code_all[keep]
        s_vals_list = INTEREST_FACTOR[s_int_a]
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
            (
                np.concatenate([t_rows, c_rows, o_rows]),
                np.concatenate([t_cols, c_cols, o_cols]),
                np.concatenate([t_vals, c_vals, o_vals]),
            ),
            (s_rows_a, s_cols_a, s_vals_a, s_lu_a, s_int_a),
            (
                np.array(g_rows, dtype=np.int64),
                np.array(g_start, dtype=np.int64),
                np.array(g_end, dtype=np.int64),
                np.array(g_free, dtype=np.float64),
            ),
        )
        self.overlay_: dict[int, _Row] = {}
        self._learn_related()
        return self

    def _text_row(self, counts_row: sp.csr_matrix | None, text: str) -> tuple[np.ndarray, np.ndarray]:
        if counts_row is None:  # one text: no matrix to build
            c, v = self._hasher.counts(text)
            cols, counts = np.array(c, dtype=np.int64), np.array(v, dtype=np.float64)
        else:
            cols, counts = counts_row.indices.astype(np.int64), counts_row.data
        if cols.size == 0:
            return cols, np.empty(0)
        vals = counts * self.text_idf_[cols]
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

    @staticmethod
    def _skill_col(k: int, level: int) -> int:
        """Column of (skill ``k``, ``level``) in the skill block."""
        return k * LEVELS + (min(max(int(level), 1), LEVELS) - 1)

    def _encode(self, p: CandidateProfile, counts_row: sp.csr_matrix | None = None) -> tuple[_Row, bool]:
        """Encode a profile as a row and count its skills in the pool's document frequency; also whether
        the row is *plain* (see :meth:`fit`)."""
        tcols, tvals = self._text_row(counts_row, p.text)
        plain = all(_plain(s) for s in p.skills)
        best: dict[int, AgentSkill] = {}
        for s in p.skills:
            k = self.skill_index_.get(s.skill_id)
            if k is None:  # rare (a skill unknown at fit): new containers, as the forks share these
                k = len(self.skill_ids_)
                self.skill_index_ = {**self.skill_index_, s.skill_id: k}
                self.skill_ids_ = [*self.skill_ids_, s.skill_id]
                self.skill_df_ = np.append(self.skill_df_, 0.0)
                self.context_cols_ = np.append(self.context_cols_, self._context_col(s.skill_id))
            if k not in best or min(max(s.level, 1), LEVELS) >= min(max(best[k].level, 1), LEVELS):
                best[k] = s  # a skill listed twice keeps its best level, the last listed among equals (as fit)
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
        sint = np.array([_interest_code(best[k].interest) for k in ks], dtype=np.int8)
        segs = self._segments(p)
        row = _Row(
            text_cols=tcols,
            text_vals=tvals,
            skill_cols=scols,
            skill_vals=svals,
            last_used=slu,
            interest=sint,
            seg_start=np.array([s[0] for s in segs], dtype=np.int64),
            seg_end=np.array([s[1] for s in segs], dtype=np.int64),
            seg_free=np.array([s[2] for s in segs], dtype=np.float64),
        )
        return row, plain

    def _uncount(self, p: CandidateProfile) -> None:
        ks = sorted({self.skill_index_[s.skill_id] for s in p.skills if s.skill_id in self.skill_index_})
        self.skill_df_[ks] -= 1.0

    @staticmethod
    def _segments(p: CandidateProfile) -> list[tuple[int, int, float]]:
        """Free-share segments (ordinal start, ordinal end, free) of the agent's horizon — from the first
        window or commitment to the last — exactly as :func:`matching.availability.free_segments` cuts
        it: contiguous, equal neighbours merged, zero and negative shares included. Outside the horizon
        the free share is 0, so a role's segments are these, clipped, padded with 0 (``_period``)."""
        windows = [w for w in p.availability if w.end >= w.start]
        if not p.commitments:
            if not windows:
                return []
            if len(windows) == 1:  # the most common case, kept cheap
                w = windows[0]
                return [(w.start.toordinal(), w.end.toordinal(), round(min(w.share, 1.0), 9))]
            windows.sort(key=lambda w: w.start)
            if all(a.end < b.start for a, b in zip(windows, windows[1:], strict=False)):
                # disjoint windows: each its own share, 0 in the gaps, equal neighbours merged
                out: list[tuple[int, int, float]] = []
                for w in windows:
                    s, e, f = w.start.toordinal(), w.end.toordinal(), round(min(w.share, 1.0), 9)
                    if out and out[-1][1] + 1 < s:
                        if abs(out[-1][2]) < EPS:
                            out[-1] = (out[-1][0], s - 1, out[-1][2])
                        else:
                            out.append((out[-1][1] + 1, s - 1, 0.0))
                    if out and abs(out[-1][2] - f) < EPS:
                        out[-1] = (out[-1][0], e, out[-1][2])
                    else:
                        out.append((s, e, f))
                return out
        lo = min([w.start for w in windows] + [c.start for c in p.commitments])
        hi = max([w.end for w in windows] + [c.end for c in p.commitments])
        return [(s.start.toordinal(), s.end.toordinal(), s.free) for s in free_segments(windows, p.commitments, lo, hi)]

    def _assemble(
        self,
        n: int,
        text: tuple[np.ndarray, ...],
        skills: tuple[np.ndarray, ...],
        segments: tuple[np.ndarray, ...],
    ) -> None:
        """Build the two blocks and the segment arrays from flat entries, in any row order: ``text`` as
        (row, column, value), ``skills`` as (row, column, value, last used, interest), ``segments`` as
        (row, start, end, free). A row's entries keep their given order."""

        def by_row(rows: np.ndarray, *arrays: np.ndarray) -> tuple[np.ndarray, ...]:
            order = np.argsort(rows, kind="stable")
            indptr = np.zeros(n + 1, dtype=np.int64)
            np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
            return (indptr, *(a[order] for a in arrays))

        indptr, cols, vals = by_row(*text)
        self.text_ = sp.csr_matrix((vals, cols.astype(np.int32), indptr), shape=(n, self.text_features))
        indptr, cols, vals, self.last_used_, self.interest_ = by_row(*skills)
        width = LEVELS * len(self.skill_ids_)
        self.skills_ = sp.csr_matrix((vals, cols.astype(np.int32), indptr), shape=(n, width))
        self.seg_indptr_, self.seg_start_, self.seg_end_, self.seg_free_ = by_row(*segments)
        self._index_columns()

    def _learn_related(self) -> None:
        """Related skills: taxonomy relations, plus skills that co-occur in profiles (cosine)."""
        n_skills = len(self.skill_ids_)
        related: dict[int, dict[int, tuple[float, str]]] = {}
        for k, sid in enumerate(self.skill_ids_):
            for other in self.taxonomy_.related(sid):
                t = self.skill_index_.get(other)
                if t is not None:
                    related.setdefault(k, {})[t] = (self.related_credit, "taxonomy")
        n = self.skills_.shape[0]
        if n and self.cooccurrence_credit > 0:
            rows = np.arange(n)
            if n > self.cooccurrence_sample:
                rng = np.random.default_rng(self.random_state)
                rows = np.sort(rng.choice(n, self.cooccurrence_sample, replace=False))
            sub = self.skills_[rows]
            owner = np.repeat(np.arange(sub.shape[0]), np.diff(sub.indptr))
            kk = sub.indices // LEVELS
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
    def __getstate__(self) -> dict[str, Any]:
        # the compiled roles are a cache: neither kept on disk nor copied; the blocks by column are made again
        # from the blocks (cheaper than reading them back)
        return {k: v for k, v in self.__dict__.items() if k not in _NOT_KEPT}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if "text_" in state:
            self._index_columns()

    def _index_columns(self) -> None:
        """Each block's entries by column (:func:`by_column`), for :meth:`_block_product`."""
        self.text_by_column_ = by_column(self.text_)
        self.skills_by_column_ = by_column(self.skills_)

    def fork(self) -> Self:
        """A copy that :meth:`upsert`, :meth:`remove` and :meth:`merge` may change while this index goes on
        being read (ranked, explained) from other threads. It shares the compiled roles (a cache keyed by what a
        role reads of the pool: see :meth:`matching.ranking.CandidateIndex._compile`).

        What a change writes in place is copied: the changes since the last merge of the per-agent lists and
        mapping (:class:`matching.layered.LayeredList`, their base is shared), the overlay, and the per-agent
        and per-skill arrays. Everything else is shared: a change replaces it rather than writing into it (a
        merge builds new matrices, a new skill new per-skill containers), and the shared arrays are made
        read-only, so that a change that wrote into one would fail rather than go unseen. Past one memory copy
        of those arrays (10 bytes an agent), the cost follows the changes since the last merge, not the pool.
        """
        kept = dict(vars(self))  # one C-level copy: a ranking of this index may add its compiled roles meanwhile
        kept["_compiled"] = self.__dict__.setdefault("_compiled", {})  # shared from now on, whoever compiles first
        kept.pop("_overlay_at", None)
        for name in ("agent_ids_", "profiles_", "row_of_"):
            kept[name] = kept[name].fork()
        kept["overlay_"] = dict(kept["overlay_"])
        copied = ("alive_", "fair_", "plain_", "skill_df_")
        for name in copied:
            kept[name] = kept[name].copy()
        for name, value in kept.items():
            if isinstance(value, np.ndarray) and name not in copied:
                value.flags.writeable = False
        new = object.__new__(type(self))
        vars(new).update(kept)
        return new

    def upsert(self, profile: CandidateProfile) -> Self:
        """Add or replace one agent's profile; visible to the next :meth:`rank` without a rebuild."""
        self.__dict__.pop("_overlay_at", None)
        row = self.row_of_.get(profile.agent_id)
        if row is None:
            row = len(self.agent_ids_)
            self.agent_ids_.append(profile.agent_id)
            self.profiles_.append(profile)
            self.row_of_[profile.agent_id] = row
            self.alive_ = np.append(self.alive_, True)
            self.n_alive_ += 1
            self.fair_ = np.append(self.fair_, self._fairness(float(profile.open_proposals)))
            self.plain_ = np.append(self.plain_, False)
        else:
            old = self.profiles_[row]
            if old is not None and self.alive_[row]:
                self._uncount(old)
            self.profiles_[row] = profile
            self.alive_[row] = True
            self.fair_[row] = self._fairness(float(profile.open_proposals))
        self.overlay_[row], self.plain_[row] = self._encode(profile)
        self._maybe_merge()
        return self

    def remove(self, agent_id: str) -> Self:
        """Forget one agent (no-op for an unknown id); it is never ranked again until re-added."""
        self.__dict__.pop("_overlay_at", None)
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
        self.overlay_[row] = _Row.empty()
        self._maybe_merge()
        return self

    def _maybe_merge(self) -> None:
        if len(self.overlay_) >= self.merge_every:
            self.merge()

    def merge(self) -> Self:
        """Fold pending changes into the matrix and the per-agent lists (done automatically every
        ``merge_every`` changes).

        Rows stay in order, so the new arrays are the old ones cut around the changed rows and
        stitched with them: one copy of the data, no sort; then each block by column again (one linear pass).
        """
        for layered in (self.agent_ids_, self.profiles_, self.row_of_):
            layered.fold()
        n = len(self.agent_ids_)
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

        t = self.text_
        indptr, cols, vals = stitch(t.indptr, [t.indices, t.data], ["text_cols", "text_vals"])
        self.text_ = sp.csr_matrix((vals, cols, indptr), shape=(n, self.text_features))
        k = self.skills_
        indptr, cols, vals, self.last_used_, self.interest_ = stitch(
            k.indptr,
            [k.indices, k.data, self.last_used_, self.interest_],
            ["skill_cols", "skill_vals", "last_used", "interest"],
        )
        self.skills_ = sp.csr_matrix((vals, cols, indptr), shape=(n, LEVELS * len(self.skill_ids_)))
        self.seg_indptr_, self.seg_start_, self.seg_end_, self.seg_free_ = stitch(
            self.seg_indptr_, [self.seg_start_, self.seg_end_, self.seg_free_], ["seg_start", "seg_end", "seg_free"]
        )
        self.overlay_ = {}
        self.__dict__.pop("_overlay_at", None)
        self._index_columns()
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
        # An unknown date (0 or less) is given as ``when`` (a factor of 1, as for unknown): one unknown date
        # would otherwise send the whole array through the formula instead of the table of ages in days.
        today = when.toordinal()
        # The same table read in one clipped take (a dozen array calls less, each costing more than the work
        # here): a day after ``when`` reads age 0, an unknown date (-1) the 1 past the table's end. Unless a
        # known date is older than the table (a date from 1 to today - RECENCY_DAYS, seen unsigned as the
        # smallest; 0 too), when the formula decides as before.
        if (
            last_used.dtype == np.int64
            and today > RECENCY_DAYS + 1
            and last_used.size
            and np.minimum.reduce(last_used.view(np.uint64)) >= today - RECENCY_DAYS
        ):
            table = recency_table_past(self.recency_half_life_years, self.recency_floor)
            return table.take(today - last_used, mode="clip")
        known = np.where(last_used > 0, last_used, today)
        return recency_factors(known, when, self.recency_half_life_years, self.recency_floor)

    def _fairness(self, open_proposals: np.ndarray | float) -> np.ndarray | float:
        return fairness_factor(open_proposals, self.fairness_max_penalty, self.fairness_half)

    def _overlay_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """The rows with pending changes (in order) and, by row, whether it has some: made once for a state of the
        index (a change makes them again), where a ranking asks several times (a search in the overlay's ids
        each time cost a tenth of a ranking under a stream of profile edits)."""
        layout = self._overlay_layout()
        return layout.rows, layout.mask

    def _overlay_layout(self) -> _OverlayLayout:
        made: _OverlayLayout | None = self.__dict__.get("_overlay_at")
        if made is None:
            rows = np.fromiter(sorted(self.overlay_), dtype=np.int64, count=len(self.overlay_))
            mask = np.zeros(len(self.agent_ids_), dtype=bool)
            mask[rows] = True
            made = self.__dict__["_overlay_at"] = _OverlayLayout(rows, mask)  # (two threads may both make it)
        return made

    def _overlay_entries(self, fields: tuple[str, ...]) -> tuple[np.ndarray, ...]:
        """The pending changes' ``fields`` laid out as the base arrays are: an ``indptr`` over the rows of
        :meth:`_overlay_rows`, then each field's values, row after row. Made once for a state of the index: the
        checks of kept rankings read the rows of the agents who changed, which are in the overlay, on every
        request, and reading them one row at a time cost those checks half their time."""
        layout = self._overlay_layout()
        made = layout.entries.get(fields)
        if made is None:
            own = [self.overlay_[row] for row in layout.rows.tolist()]
            sizes = np.fromiter((getattr(r, fields[0]).size for r in own), dtype=np.int64, count=len(own))
            indptr = np.zeros(len(own) + 1, dtype=np.int64)
            np.cumsum(sizes, out=indptr[1:])
            values = [np.concatenate([getattr(r, f) for r in own]) if own else np.empty(0) for f in fields]
            made = layout.entries[fields] = (indptr, *values)
        return made

    def _in_overlay(self, rows: np.ndarray, nb: int) -> np.ndarray:
        out = rows >= nb
        if self.overlay_:
            out |= self._overlay_rows()[1][rows]
        return out

    def _entries(
        self, rows: np.ndarray, indptr: np.ndarray, arrays: list[np.ndarray], fields: list[str]
    ) -> tuple[np.ndarray, ...]:
        """Entries of ``rows`` in flat per-row ``arrays`` (CSR-style ``indptr``): (position in rows, then each
        array's values), rows in the order given; a row with pending changes reads its overlay ``fields``."""
        in_overlay = self._in_overlay(rows, indptr.size - 1) if self.overlay_ else None
        if in_overlay is None or not in_overlay.any():  # the common case: one slice per row, nothing to sort
            idx, owner = ranges(indptr[rows], indptr[rows + 1])
            return (owner, *(a[idx] for a in arrays))
        pos_b = np.flatnonzero(~in_overlay)
        rb = rows[pos_b]
        idx, owner = ranges(indptr[rb], indptr[rb + 1])
        pos_o = np.flatnonzero(in_overlay)
        o_indptr, *o_arrays = self._overlay_entries(tuple(fields))
        slots = np.searchsorted(self._overlay_rows()[0], rows[pos_o])
        o_idx, o_owner = ranges(o_indptr[slots], o_indptr[slots + 1])
        pos = np.concatenate([pos_b[owner], pos_o[o_owner]])
        # rows in their given order: the entries of one row stay contiguous
        order = np.argsort(pos, kind="stable")
        return (pos[order], *(np.concatenate([a[idx], o[o_idx]])[order] for a, o in zip(arrays, o_arrays,
                                                                                        strict=True)))

    def _segments_of(self, rows: np.ndarray) -> tuple[np.ndarray, ...]:
        """Free-share segments of ``rows``: (position in rows, start, end, free), by position then start."""
        arrays = [self.seg_start_, self.seg_end_, self.seg_free_]
        return self._entries(rows, self.seg_indptr_, arrays, ["seg_start", "seg_end", "seg_free"])

    def _period(self, rows: np.ndarray, start: date, end: date, share: float, floor: float) -> Period:
        """Eligibility of ``rows`` for a share over [start, end] (``end >= start``), vectorised.

        The stored segments cover each agent's horizon exactly as ``free_segments`` would; clipped to
        the period and padded with a free share of 0 outside the horizon, they are the segments
        ``eligibility()`` computes (same cuts, same merged neighbours, same values).
        """
        s, e = start.toordinal(), end.toordinal()
        m = rows.size
        pos, ss, ee, ff = self._segments_of(rows)
        # each row's horizon: segments are contiguous and sorted, so its first start and last end
        rng = np.arange(m)
        first, stop = np.searchsorted(pos, rng), np.searchsorted(pos, rng, side="right")
        has = stop > first
        lo = np.where(has, ss[np.minimum(first, ss.size - 1)] if ss.size else 0, e + 1)  # none: one padding [s, e]
        hi = np.where(has, ee[np.maximum(stop - 1, 0)] if ee.size else 0, e)
        cs, ce = np.maximum(ss, s), np.minimum(ee, e)
        keep = cs <= ce
        p_all, s_all, e_all, f_all = pos[keep], cs[keep], ce[keep], ff[keep]
        before, after = lo > s, hi < e
        if before.any() or after.any():  # pad with a free share of 0 where the horizon ends
            b, a = np.flatnonzero(before), np.flatnonzero(after)
            p_all = np.concatenate([p_all, b, a])
            s_all = np.concatenate([s_all, np.full(b.size, s), np.maximum(hi[a] + 1, s)])
            e_all = np.concatenate([e_all, np.minimum(lo[b] - 1, e), np.full(a.size, e)])
            f_all = np.concatenate([f_all, np.zeros(b.size + a.size)])
            order = np.lexsort((s_all, p_all))
            p_all, s_all, e_all, f_all = p_all[order], s_all[order], e_all[order], f_all[order]
            # a padding next to a segment of free share 0 is one segment, as free_segments merges them
            same = (p_all[1:] == p_all[:-1]) & (np.abs(f_all[1:] - f_all[:-1]) < EPS)
            if same.any():
                first = np.flatnonzero(np.concatenate([[True], ~same]))
                last = np.concatenate([first[1:] - 1, [p_all.size - 1]])
                p_all, s_all, e_all, f_all = p_all[first], s_all[first], e_all[last], f_all[first]
        counts = np.bincount(p_all, minlength=m)
        indptr = np.zeros(m + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        short = f_all + EPS < share
        short_days = np.bincount(p_all, weights=(e_all - s_all + 1) * short, minlength=m).astype(np.int64)
        min_free = np.minimum.reduceat(f_all, indptr[:-1]) if m else np.empty(0)
        eligible = (short_days == 0) & above_floor(share, floor)
        return Period(indptr, s_all, e_all, f_all, min_free, short_days, eligible)

    def _text_entries(self, rows: np.ndarray) -> tuple[np.ndarray, ...]:
        """Profile-block entries of ``rows``: (position in rows, column, value)."""
        t = self.text_
        return self._entries(rows, t.indptr, [t.indices, t.data], ["text_cols", "text_vals"])

    def _skill_entries(self, rows: np.ndarray) -> tuple[np.ndarray, ...]:
        """Skill-block entries of ``rows``: (position in rows, column, last used, interest code)."""
        arrays = [self.skills_.indices, self.last_used_, self.interest_]
        return self._entries(rows, self.skills_.indptr, arrays, ["skill_cols", "last_used", "interest"])

    def _skill_hits(self, rows: np.ndarray, column_at: np.ndarray) -> tuple[np.ndarray, ...]:
        """The skill-block entries of ``rows`` whose column has a position in ``column_at`` (≥ 0; a role's
        columns that give credit): (position in rows, that position, last used, interest code), rows in the
        order given. Only those entries' last use and interest are read (most entries give no credit)."""
        k = self.skills_
        nb = k.indptr.size - 1
        if not self.overlay_ or not self._in_overlay(rows, nb).any():
            idx, owner = ranges(k.indptr[rows], k.indptr[rows + 1])
            where = column_at[k.indices[idx]]
            hit = (where >= 0).nonzero()[0]
            at = idx[hit]
            # positions as indices (intp): read again and again, an int32 array would be converted each time
            return owner[hit], where[hit].astype(np.intp), self.last_used_[at], self.interest_[at]
        pos, cols, lu, code = self._skill_entries(rows)
        where = column_at[cols]
        hit = (where >= 0).nonzero()[0]
        return pos[hit], where[hit].astype(np.intp), lu[hit], code[hit]

    def _block_product(
        self, block: sp.csr_matrix, by_col: tuple[Any, ...], cols: np.ndarray, values: np.ndarray, vector: np.ndarray
    ) -> np.ndarray:
        """``block @ vector`` (``vector``: the block's part of a role's vector, whose only nonzero entries are
        ``values`` at columns ``cols``) from the entries of those columns only: a role's vector has a few dozen
        nonzero columns, read by a few thousand entries in a pool of 10 000 agents (the mat-vec reads all).

        The same floats, bit for bit: the mat-vec sums each row's products in entry order, and a zero entry
        adds nothing; summed here column by column, a row's products come in another order only when it has
        three or more of them (two add up the same either way), and those few rows are summed again in entry
        order (unless every row's entries are in column order, as in the skill block)."""
        colptr, rows, data, in_column_order = by_col
        idx, owner = ranges(colptr[cols], colptr[cols + 1])
        if idx.size == 0:  # (bincount would count in integers)
            return np.zeros(block.shape[0])
        hit = rows[idx]
        out = np.bincount(hit, weights=data[idx] * values[owner], minlength=block.shape[0])
        if in_column_order:
            return out
        several = (np.bincount(hit, minlength=block.shape[0]) >= 3).nonzero()[0]
        if several.size:
            idx, owner = ranges(block.indptr[several], block.indptr[several + 1])
            products = block.data[idx] * vector[block.indices[idx]]
            out[several] = np.bincount(owner, weights=products, minlength=several.size)
        return out

    def _text_scores(self, rows: np.ndarray, vector: np.ndarray) -> np.ndarray:
        """The profile block of ``rows`` times ``vector``, each row summed in entry order as the mat-vec
        sums it (the same float, bit for bit)."""
        pos, cols, vals = self._text_entries(rows)
        # np.bincount, not np.add.at: the latter is an order of magnitude slower
        return np.bincount(pos, weights=vals * vector[cols], minlength=rows.size)
