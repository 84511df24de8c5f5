"""Which occupations a set of skills points to, from the taxonomy's occupation–skill relations.

Two profiles that share a skill may belong to different trades; what tells them apart is the rest of
the profile. :class:`OccupationModel` turns a set of skills (an agent's profile, or the skills a role
asks for) into a distribution over the taxonomy's occupations: each occupation scores ``sharpness`` per
skill of the set it lists, and a softmax over every occupation (those sharing no skill included) gives
the distribution. Only the ``top`` most likely occupations of each set are kept, so the result stays a
sparse matrix however many occupations the taxonomy has.
"""

from __future__ import annotations

from typing import Self

import numpy as np
import scipy.sparse as sp

__all__ = ["OccupationModel", "top_per_row"]


def top_per_row(m: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """``m`` with only the ``k`` largest entries of each row kept (vectorised)."""
    m = m.tocsr()
    m.sum_duplicates()
    counts = np.diff(m.indptr)
    if m.nnz == 0 or counts.max() <= k:
        return m
    rows = np.repeat(np.arange(m.shape[0]), counts)
    order = np.lexsort((-m.data, rows))
    rank = np.arange(m.nnz) - m.indptr[rows[order]]
    keep = np.sort(order[rank < k])
    return sp.csr_matrix((m.data[keep], (rows[keep], m.indices[keep])), shape=m.shape)


class OccupationModel:
    """P(occupation | skills) by a softmax of the skills each occupation lists.

    Parameters
    ----------
    sharpness:
        Log-odds gained by an occupation for each skill of the set it lists: 4.6 means a shared skill
        makes an occupation a hundred times likelier.
    top:
        Occupations kept per set of skills.
    """

    def __init__(self, sharpness: float = 4.6, top: int = 5) -> None:
        self.sharpness = sharpness
        self.top = top

    def fit(self, membership: sp.spmatrix) -> Self:
        """``membership``: occupations × skills, non-zero where the occupation lists the skill."""
        self.membership_ = (sp.csr_matrix(membership) != 0).astype(np.float64).T.tocsr()  # skills × occupations
        self.n_occupations_ = int(membership.shape[0])
        return self

    def posterior(self, skills: sp.spmatrix) -> sp.csr_matrix:
        """Rows of ``skills`` (sets × skills, non-zero where held) → sets × occupations probabilities.

        A row sharing no skill with any occupation gets an empty row (no opinion), not a uniform one.
        """
        held = (sp.csr_matrix(skills) != 0).astype(np.float64)
        shared = (held @ self.membership_).tocsr()  # skills of the set listed by each occupation
        shared.eliminate_zeros()
        n, j = shared.shape
        counts = np.diff(shared.indptr)
        rows = np.repeat(np.arange(n), counts)
        if shared.nnz == 0:
            return sp.csr_matrix((n, j))
        starts = shared.indptr[:-1][counts > 0]
        best = np.zeros(n)
        best[counts > 0] = np.maximum.reduceat(shared.data, starts)
        # relative to the best occupation, so the exponentials stay in range
        e = np.exp(self.sharpness * (shared.data - best[rows]))
        background = (j - counts) * np.exp(-self.sharpness * best)  # occupations sharing none
        z = np.bincount(rows, weights=e, minlength=n) + background
        out = sp.csr_matrix((e / z[rows], shared.indices, shared.indptr), shape=(n, j))
        return top_per_row(out, self.top)
