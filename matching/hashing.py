"""Hashed bags of words or of character trigrams, as sparse rows: the feature hashing of
scikit-learn's ``HashingVectorizer`` (same tokens, non-negative counts), without importing
scikit-learn — whose import alone costs more than a whole repeat ``talents match``.

Tokens are hashed with CRC-32 (stable across processes, unlike Python's salted ``hash``), modulo the
number of features; a token seen once is remembered, so hashing a known vocabulary again is a lookup.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections.abc import Collection, Iterable
from typing import Literal

import numpy as np
import scipy.sparse as sp

__all__ = ["TextHasher", "strip_accents"]

_TOKEN = re.compile(r"(?u)\b\w\w+\b")
_SPACES = re.compile(r"\s\s+")


def strip_accents(text: str) -> str:
    """Accents removed (NFKD, combining marks dropped)."""
    nfkd = unicodedata.normalize("NFKD", text)
    return "".join(c for c in nfkd if not unicodedata.combining(c))


class TextHasher:
    """Texts → CSR matrix of hashed token counts.

    ``analyzer="word"``: words of two characters or more, lower case, without ``stop_words``;
    ``analyzer="char_wb"``: character trigrams of each word padded with a space on both sides.
    ``accents=False`` strips accents first; ``binary=True`` counts each token once per text.
    """

    def __init__(
        self,
        n_features: int,
        analyzer: Literal["word", "char_wb"] = "word",
        stop_words: Collection[str] = (),
        accents: bool = True,
        binary: bool = False,
    ) -> None:
        self.n_features = n_features
        self.analyzer = analyzer
        self.stop_words = frozenset(stop_words)
        self.accents = accents
        self.binary = binary
        self._columns: dict[str, int] = {}

    def _tokens(self, text: str) -> list[str]:
        text = text.lower() if self.accents else strip_accents(text.lower())
        if self.analyzer == "word":
            return [t for t in _TOKEN.findall(text) if t not in self.stop_words]
        out: list[str] = []
        for word in _SPACES.sub(" ", text).split():
            w = f" {word} "
            out.extend(w[i : i + 3] for i in range(max(len(w) - 2, 1)))
        return out

    def _column(self, token: str) -> int:
        col = self._columns.get(token)
        if col is None:
            col = self._columns[token] = zlib.crc32(token.encode("utf-8")) % self.n_features
        return col

    def counts(self, text: str) -> tuple[list[int], list[float]]:
        """One text's columns (sorted) and counts: a row of :meth:`transform`, without building a matrix."""
        counts: dict[int, float] = {}
        for token in self._tokens(text):
            c = self._column(token)
            counts[c] = 1.0 if self.binary else counts.get(c, 0.0) + 1.0
        cols = sorted(counts)
        return cols, [counts[c] for c in cols]

    def transform(self, texts: Iterable[str]) -> sp.csr_matrix:
        indptr = [0]
        indices: list[int] = []
        values: list[float] = []
        for text in texts:
            cols, counts = self.counts(text)
            indices.extend(cols)
            values.extend(counts)
            indptr.append(len(indices))
        return sp.csr_matrix(
            (np.array(values, dtype=np.float64), np.array(indices, dtype=np.int32), np.array(indptr, dtype=np.int64)),
            shape=(len(indptr) - 1, self.n_features),
        )
