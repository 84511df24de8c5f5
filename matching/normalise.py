"""Fuzzy normalisation of free-text skill names against the taxonomy.

A typed name goes through increasingly loose steps, and the first one that hits wins:

1. exact folded label or alias (accents, case, punctuation folded) — confidence 1.0;
2. same words in another order, or without stop words / spaces ("NodeJS", "projet gestion") — 0.97;
3. acronym of a label ("RSSI" → "Responsable de la sécurité des systèmes d'information") — 0.9;
4. built-in abbreviation expansion of words ("dev front" → "développement front") then steps 1–2 — 0.93;
5. fuzzy scoring with rapidfuzz (typos) and word-prefix matching — the score itself.

Below ``threshold`` the text resolves to status ``"pending"`` with ``skill_id=None``: the app keeps it
for curation instead of dropping it.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from rapidfuzz import fuzz, process, utils

from matching.hashing import TextHasher
from matching.taxonomy import Taxonomy

__all__ = ["STOP_WORDS", "Resolution", "SkillNormaliser", "Suggestion", "fold", "strip_accents"]

Status = Literal["matched", "pending"]

# Words that carry no meaning for matching, in both languages of the taxonomy.
STOP_WORDS = frozenset(
    [
        "de",
        "du",
        "des",
        "la",
        "le",
        "les",
        "l",
        "d",
        "et",
        "en",
        "a",
        "au",
        "aux",
        "un",
        "une",
        "pour",
        "sur",
        "par",
        "avec",
        "dans",
        "of",
        "the",
        "and",
        "for",
        "to",
        "in",
        "on",
        "with",
        "an",
    ]
)

# Generic abbreviations of French/English IT vocabulary; skill-specific ones come from taxonomy aliases.
_ABBREVIATIONS: dict[str, tuple[str, ...]] = {
    "dev": ("developpement", "developpeur", "development", "developer"),
    "devs": ("developpeurs", "developers"),
    "admin": ("administration", "administrateur", "administrator"),
    "adminsys": ("administration systeme",),
    "sysadmin": ("administration systeme", "system administration"),
    "archi": ("architecture", "architecte"),
    "secu": ("securite",),
    "appli": ("application",),
    "applis": ("applications",),
    "gest": ("gestion",),
    "mgmt": ("management",),
    "mgt": ("management",),
    "dba": ("administration base de donnees", "database administration"),
    "bdd": ("base de donnees",),
    "db": ("database", "base de donnees"),
    "infra": ("infrastructure",),
    "ops": ("operations", "exploitation"),
    "prog": ("programmation", "programming"),
    "techno": ("technologie",),
    "dataviz": ("visualisation de donnees", "data visualization"),
    "front": ("front end", "frontend"),
    "back": ("back end", "backend"),
    "fullstack": ("full stack",),
    "ux": ("experience utilisateur", "user experience"),
    "ui": ("interface utilisateur", "user interface"),
    "pm": ("project management", "gestion de projet"),
    "po": ("product owner",),
}

_KEEP_SYMBOLS = (("c++", " cplusplus "), ("c#", " csharp "), ("f#", " fsharp "), (".net", " dotnet "))
_NON_WORD = re.compile(r"[^0-9a-z]+")


def strip_accents(text: str) -> str:
    """Case-folded, accents dropped, ligatures spelled out: "Œuvre Écrite" → "oeuvre ecrite". The one accent
    folding of the project: keys, ids, slugs and the matcher's terms all start from it."""
    text = unicodedata.normalize("NFKD", text.casefold().replace("œ", "oe").replace("æ", "ae"))
    return "".join(ch for ch in text if not unicodedata.combining(ch))


def fold(text: str) -> str:
    """Lower-case, strip accents and punctuation, collapse spaces.

    "Développement Front-End" → "developpement front end".

    Symbols that distinguish languages (C++, C#, .NET) are kept as words first.
    """
    text = strip_accents(text)
    for symbol, word in _KEEP_SYMBOLS:
        text = text.replace(symbol, word)
    return _NON_WORD.sub(" ", text).strip()


def _content_key(folded: str) -> str:
    """Words without stop words, sorted: makes word order and small words irrelevant."""
    words = [w for w in folded.split() if w not in STOP_WORDS]
    return " ".join(sorted(words)) if words else folded


def _acronym(folded: str) -> str:
    words = [w for w in folded.split() if w not in STOP_WORDS]
    return "".join(w[0] for w in words) if len(words) >= 2 else ""


@dataclass(frozen=True, slots=True)
class Suggestion:
    """One autocomplete proposal: a skill and how well it fits the typed text (score in [0, 1])."""

    skill_id: str
    label_fr: str
    label_en: str
    category: str
    score: float


@dataclass(frozen=True, slots=True)
class Resolution:
    """The outcome of normalising one typed name.

    ``status`` is ``"matched"`` with a ``skill_id`` when ``confidence`` reached the threshold, else
    ``"pending"`` with ``skill_id=None`` (kept for curation). ``alternatives`` lists other close skills.
    """

    text: str
    skill_id: str | None
    label: str | None
    confidence: float
    status: Status
    alternatives: tuple[Suggestion, ...] = ()


class SkillNormaliser:
    """Resolve free-text skill names to taxonomy ids, and suggest skills while typing.

    Parameters
    ----------
    taxonomy:
        The taxonomy whose labels (French and English) and aliases are the targets.
    threshold:
        Minimal confidence in [0, 1] for status ``"matched"``. The default 0.8 accepts one typo in a
        six-letter word ("pyhton", ratio 0.83) and rejects unrelated words; pinned by the unit tests of
        ``tests/matching/test_normalise.py`` and the quality benchmark.
    n_alternatives:
        How many other close skills each resolution reports.

    All lookup structures are built in the constructor; ``resolve`` only reads them.
    """

    def __init__(self, taxonomy: Taxonomy, threshold: float = 0.8, n_alternatives: int = 3) -> None:
        self.taxonomy = taxonomy
        self.threshold = threshold
        self.n_alternatives = n_alternatives
        self._build()

    # ------------------------------------------------------------------ build
    def _build(self) -> None:
        exact: dict[str, list[str]] = defaultdict(list)  # folded name → skill ids (labels first)
        content: dict[str, list[str]] = defaultdict(list)
        compact: dict[str, list[str]] = defaultdict(list)
        acronyms: dict[str, set[str]] = defaultdict(set)
        names: list[str] = []  # folded names, aligned with name_skill
        keys: list[str] = []  # their content keys, for the fuzzy scan
        name_skill: list[str] = []
        token_names: dict[str, set[int]] = defaultdict(set)
        for skill in self.taxonomy:
            labels = [x for x in (skill.label_fr, skill.label_en) if x]
            for rank, raw in enumerate(labels + list(skill.aliases)):
                f = fold(raw)
                if not f:
                    continue
                is_label = rank < len(labels)
                for table, key in ((exact, f), (content, _content_key(f)), (compact, f.replace(" ", ""))):
                    ids = table[key]
                    if skill.id not in ids:
                        # labels win over aliases when several skills share a name
                        ids.insert(0, skill.id) if is_label else ids.append(skill.id)
                if is_label and (a := _acronym(f)) and len(a) >= 2:
                    acronyms[a].add(skill.id)
                idx = len(names)
                names.append(f)
                keys.append(_content_key(f))
                name_skill.append(skill.id)
                for tok in f.split():
                    token_names[tok].add(idx)
        self.exact_ = dict(exact)
        self.content_ = dict(content)
        self.compact_ = dict(compact)
        # An acronym is trusted only when it names one skill and is not itself a word of the taxonomy.
        self.acronyms_ = {a: next(iter(ids)) for a, ids in acronyms.items() if len(ids) == 1}
        self.names_ = names
        self.keys_ = keys
        self.name_skill_ = np.array(name_skill, dtype=object)
        self.tokens_ = sorted(token_names)
        self.token_names_ = {t: np.fromiter(sorted(v), dtype=np.int64) for t, v in token_names.items()}
        order = sorted(range(len(names)), key=names.__getitem__)
        self.sorted_names_ = [names[i] for i in order]
        self.sorted_name_idx_ = order
        # Character trigrams of every name's key: a sparse mat-vec shortlists the names sharing most
        # trigrams with a query, and rapidfuzz scores only those (a full scan of a 13 000-skill
        # taxonomy's 30 000 names costs ~10–20 ms a query; the shortlist well under 1 ms).
        self._grams = TextHasher(2**18, analyzer="char_wb", binary=True)
        self.gram_matrix_ = self._grams.transform(keys).tocsr() if keys else None
        self.gram_sizes_ = (
            np.asarray(self.gram_matrix_.sum(axis=1)).ravel() if self.gram_matrix_ is not None else np.zeros(0)
        )

    # ------------------------------------------------------------------ helpers
    def _suggestion(self, skill_id: str, score: float) -> Suggestion:
        s = self.taxonomy[skill_id]
        return Suggestion(skill_id, s.label_fr, s.label_en, s.category, round(float(score), 4))

    def _lookup(self, folded: str) -> tuple[list[str], float]:
        """Exact-ish hits: folded name, then order/stop-word free key, then without spaces."""
        if folded in self.exact_:
            return self.exact_[folded], 1.0
        ck = _content_key(folded)
        if ck in self.content_:
            return self.content_[ck], 0.97
        cp = folded.replace(" ", "")
        if cp in self.compact_:
            return self.compact_[cp], 0.97
        return [], 0.0

    def _expansions(self, folded: str) -> list[str]:
        words = folded.split()
        if not any(w in _ABBREVIATIONS for w in words):
            return []
        variants = [""]
        for w in words:
            options = _ABBREVIATIONS.get(w, (w,))
            variants = [f"{v} {o}".strip() for v in variants for o in options][:64]
        return variants

    def _prefix_candidates(self, folded: str, limit: int = 200) -> dict[int, float]:
        """Names whose words start with each typed word ("dev front" → "developpement front end").

        Score in [0, 1]: share of the name's characters typed, so that fuller matches rank first.
        """
        words = [w for w in folded.split() if w not in STOP_WORDS] or folded.split()
        if not words:
            return {}
        sets: list[np.ndarray] = []
        for w in words:
            lo = bisect.bisect_left(self.tokens_, w)
            hits = []
            for tok in self.tokens_[lo : lo + 400]:
                if not tok.startswith(w):
                    break
                hits.append(self.token_names_[tok])
            if not hits:
                return {}
            sets.append(np.unique(np.concatenate(hits)))
        common = sets[0]
        for s in sets[1:]:
            common = np.intersect1d(common, s, assume_unique=True)
            if common.size == 0:
                return {}
        typed = sum(len(w) for w in words)
        out: dict[int, float] = {}
        for i in common[:limit]:
            name = self.names_[int(i)]
            content = sum(len(w) for w in name.split() if w not in STOP_WORDS) or len(name)
            out[int(i)] = min(1.0, typed / content)
        return out

    def _shortlist(self, key: str, size: int = 300) -> np.ndarray:
        """Indices of the names sharing most character trigrams with ``key`` (Dice coefficient)."""
        if self.gram_matrix_ is None:
            return np.empty(0, dtype=np.int64)
        if len(self.keys_) <= size:
            return np.arange(len(self.keys_))
        q = self._grams.transform([key])
        dense = np.zeros(self.gram_matrix_.shape[1])
        dense[q.indices] = 1.0
        shared = self.gram_matrix_ @ dense  # a sparse mat-vec; sparse × sparse is ten times slower
        dice = 2.0 * shared / (self.gram_sizes_ + q.nnz)
        top = np.argpartition(-dice, size)[:size]
        return top[dice[top] > 0]

    def _fuzzy(self, folded: str, limit: int) -> dict[str, float]:
        """Best fuzzy score per skill, in [0, 1]."""
        best: dict[str, float] = {}
        ck = _content_key(folded)
        short = self._shortlist(ck)
        choices = [self.keys_[i] for i in short]
        for _, score, pos in process.extract(
            ck, choices, scorer=fuzz.ratio, processor=utils.default_process, limit=limit, score_cutoff=50
        ):
            sid = self.name_skill_[short[pos]]
            best[sid] = max(best.get(sid, 0.0), score / 100.0)
        # word-prefix hits ("dev front"): credit scales with how much of the name was typed
        for idx, frac in self._prefix_candidates(folded).items():
            sid = self.name_skill_[idx]
            best[sid] = max(best.get(sid, 0.0), 0.75 + 0.2 * frac)
        return best

    # ------------------------------------------------------------------ public API
    def resolve(self, text: str) -> Resolution:
        """Normalise one typed skill name (never raises, never drops: unknown → ``"pending"``)."""
        folded = fold(text)
        if not folded:
            return Resolution(text, None, None, 0.0, "pending")
        ids, conf = self._lookup(folded)
        if not ids and " " not in folded and folded in self.acronyms_:
            ids, conf = [self.acronyms_[folded]], 0.9
        if not ids:
            for variant in self._expansions(folded):
                hit, c = self._lookup(variant)
                if hit:
                    ids, conf = hit, min(c, 0.93)
                    break
        scores: dict[str, float] = {}
        if ids:
            for rank, sid in enumerate(ids):
                # several skills sharing one name: the first (a label) keeps the confidence, others less
                scores[sid] = conf if rank == 0 else conf - 0.05
            if len(ids) > 1:
                conf -= 0.05
        else:
            scores = self._fuzzy(folded, limit=20)
            for variant in self._expansions(folded)[:4]:
                for sid, sc in self._fuzzy(variant, limit=10).items():
                    scores[sid] = max(scores.get(sid, 0.0), sc * 0.97)
        return self._decide(text, scores, ids[0] if ids else None, conf if ids else None)

    def _decide(
        self, text: str, scores: dict[str, float], top: str | None = None, conf: float | None = None
    ) -> Resolution:
        ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
        if top is None and ranked:
            top, conf = ranked[0]
        alternatives = tuple(self._suggestion(s, sc) for s, sc in ranked if s != top)[: self.n_alternatives]
        if top is None or conf is None or conf < self.threshold:
            return Resolution(text, None, None, round(float(conf or 0.0), 4), "pending", alternatives)
        return Resolution(text, top, self.taxonomy[top].label_fr, round(float(conf), 4), "matched", alternatives)

    def resolve_many(self, texts: Sequence[str] | Iterable[str]) -> list[Resolution]:
        """Normalise many names: exact hits by dictionary, the rest with one batched ``cdist`` scan."""
        texts = list(texts)
        out: list[Resolution | None] = [None] * len(texts)
        fuzzy_idx: list[int] = []
        for i, t in enumerate(texts):
            folded = fold(t)
            ids, _ = self._lookup(folded) if folded else ([], 0.0)
            if ids or not folded or (" " not in folded and folded in self.acronyms_):
                out[i] = self.resolve(t)
            else:
                fuzzy_idx.append(i)
        if fuzzy_idx:
            queries = [_content_key(fold(texts[i])) for i in fuzzy_idx]
            for lo in range(0, len(queries), 256):  # bound the score matrix's memory
                chunk = queries[lo : lo + 256]
                mat = process.cdist(
                    chunk,
                    self.keys_,
                    scorer=fuzz.ratio,
                    processor=utils.default_process,
                    dtype=np.uint8,
                    workers=-1,
                    score_cutoff=50,
                )
                for row, i in enumerate(fuzzy_idx[lo : lo + 256]):
                    top = np.argpartition(mat[row], -20)[-20:] if mat.shape[1] > 20 else np.arange(mat.shape[1])
                    scores: dict[str, float] = {}
                    for j in top:
                        if mat[row, j] >= 50:
                            sid = self.name_skill_[j]
                            scores[sid] = max(scores.get(sid, 0.0), mat[row, j] / 100.0)
                    folded = fold(texts[i])
                    for idx, frac in self._prefix_candidates(folded).items():
                        sid = self.name_skill_[idx]
                        scores[sid] = max(scores.get(sid, 0.0), 0.75 + 0.2 * frac)
                    for variant in self._expansions(folded)[:4]:
                        for sid, sc in self._fuzzy(variant, limit=10).items():
                            scores[sid] = max(scores.get(sid, 0.0), sc * 0.97)
                    out[i] = self._decide(texts[i], scores)
        return [r for r in out if r is not None]

    def suggest(self, text: str, limit: int = 10) -> list[Suggestion]:
        """Autocomplete: skills whose names start with, contain words starting with, or resemble ``text``.

        Names starting with the typed text rank first (shorter names first), then word-prefix hits,
        then fuzzy ones. Scores are in [0, 1].
        """
        folded = fold(text)
        if not folded:
            return []
        best: dict[str, float] = {}

        def offer(sid: str, score: float) -> None:
            if score > best.get(sid, -1.0):
                best[sid] = score

        lo = bisect.bisect_left(self.sorted_names_, folded)
        for pos in range(lo, min(lo + 50 * limit, len(self.sorted_names_))):
            name = self.sorted_names_[pos]
            if not name.startswith(folded):
                break
            sid = self.name_skill_[self.sorted_name_idx_[pos]]
            offer(sid, 0.9 + 0.1 * len(folded) / len(name))
        for idx, frac in self._prefix_candidates(folded, limit=50 * limit).items():
            offer(self.name_skill_[idx], 0.7 + 0.2 * frac)
        if len(best) < limit:  # typos: fuzzy names, below every prefix hit
            for variant in [folded, *self._expansions(folded)[:2]]:
                short = self._shortlist(variant, size=100)
                choices = [self.names_[i] for i in short]
                for _, score, pos in process.extract(
                    variant,
                    choices,
                    scorer=fuzz.partial_ratio,
                    processor=utils.default_process,
                    limit=limit,
                    score_cutoff=60,
                ):
                    offer(self.name_skill_[short[pos]], 0.7 * score / 100.0)
        ranked = sorted(best.items(), key=lambda kv: (-kv[1], self.taxonomy[kv[0]].label_fr))[:limit]
        return [self._suggestion(sid, sc) for sid, sc in ranked]
