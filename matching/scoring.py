"""Pure scoring functions: level credit, rarity, recency, interest, exposure fairness.

Each constant here is pinned by a unit test (``tests/matching/test_matching_scoring.py``) and, where a
benchmark figure justified its value, that figure is recorded in ``docs/matching.md``.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache

import numpy as np

__all__ = [
    "ABOVE_BONUS_PER_LEVEL",
    "BELOW_PENALTY_PER_LEVEL",
    "LEVELS",
    "MEET_CREDIT",
    "RECENCY_DAYS",
    "REQUIRED_WEIGHT",
    "credit_table",
    "fairness_factor",
    "idf",
    "interest_factor",
    "level_credit",
    "recency_factor",
    "recency_factors",
    "recency_table_past",
]

LEVELS = 5
# Meeting the required level earns 0.9; up to +0.1 more for levels above (0.05 a level), so an expert
# edges out a practitioner without outweighing a missing skill.
MEET_CREDIT = 0.9
ABOVE_BONUS_PER_LEVEL = 0.05
# Each level below the required one removes 30 % of the credit: one level short keeps 0.63.
BELOW_PENALTY_PER_LEVEL = 0.3
# A required skill weighs twice an optional one of the same stated weight.
REQUIRED_WEIGHT = 2.0


def level_credit(agent_level: int, required_level: int) -> float:
    """Credit in [0, 1] for holding a skill at ``agent_level`` when ``required_level`` is asked.

    Partial credit below the required level, a capped bonus above it.
    """
    a = min(max(int(agent_level), 1), LEVELS)
    r = min(max(int(required_level), 1), LEVELS)
    if a >= r:
        return min(1.0, MEET_CREDIT + ABOVE_BONUS_PER_LEVEL * (a - r))
    return MEET_CREDIT * max(0.0, 1.0 - BELOW_PENALTY_PER_LEVEL * (r - a))


def credit_table(required_level: int) -> np.ndarray:
    """``level_credit(l, required_level)`` for l = 1..5, as an array (used to build role vectors)."""
    return np.array([level_credit(lvl, required_level) for lvl in range(1, LEVELS + 1)])


def idf(df: np.ndarray | float, n: int) -> np.ndarray | float:
    """Rarity of a skill held by ``df`` of ``n`` agents: smooth IDF, 1 for a skill everyone has."""
    return np.log((1.0 + n) / (1.0 + np.asarray(df, dtype=float))) + 1.0


def recency_factor(last_used: date | None, today: date, half_life_years: float = 3.0, floor: float = 0.6) -> float:
    """Multiplier in [floor, 1] for a skill last used at ``last_used``.

    Unknown or used within the last year: 1. Older: decays towards ``floor`` with the given half-life,
    so a skill unused for ten years still counts, but less.
    """
    if last_used is None:
        return 1.0
    age = (today - last_used).days / 365.25
    if age <= 1.0:
        return 1.0
    return floor + (1.0 - floor) * 0.5 ** ((age - 1.0) / half_life_years)


def recency_factors(
    last_used_ordinal: np.ndarray, today: date, half_life_years: float = 3.0, floor: float = 0.6
) -> np.ndarray:
    """Vectorised :func:`recency_factor`; ordinal ≤ 0 means unknown."""
    lu = np.asarray(last_used_ordinal)
    if lu.dtype.kind in "iu":
        # whole days: read from the table (the same floats, a few array passes instead of a dozen)
        days = today.toordinal() - lu
        if not days.size or days.max() <= RECENCY_DAYS:
            return np.where(lu <= 0, 1.0, _recency_table(half_life_years, floor)[np.maximum(days, 0)])
    return _recency_formula(today.toordinal() - np.asarray(lu, dtype=float), lu, half_life_years, floor)


RECENCY_DAYS = 1 << 15  # ages tabulated, in days (about 90 years); older ones are computed


def _recency_formula(days: np.ndarray, lu: np.ndarray, half_life_years: float, floor: float) -> np.ndarray:
    age = days / 365.25
    decayed = floor + (1.0 - floor) * np.power(0.5, np.maximum(age - 1.0, 0.0) / half_life_years)
    return np.where((lu <= 0) | (age <= 1.0), 1.0, decayed)


@lru_cache(maxsize=8)
def _recency_table(half_life_years: float, floor: float) -> np.ndarray:
    """The recency factor of a skill last used 0, 1, … ``RECENCY_DAYS`` days ago (read-only)."""
    days = np.arange(RECENCY_DAYS + 1, dtype=float)
    table = _recency_formula(days, np.ones_like(days), half_life_years, floor)
    table.setflags(write=False)
    return table


def interest_factor(interest: int | None) -> float:
    """Multiplier in [0.9, 1] for the agent's stated interest 1–5 (unknown counts as 3, i.e. 0.95).

    Interest nudges the order between equally skilled agents; it never outweighs a level.
    """
    i = 3 if interest is None else min(max(int(interest), 1), 5)
    return 1.0 - 0.025 * (5 - i)


def fairness_factor(open_proposals: float | np.ndarray, max_penalty: float = 0.15, half: float = 2.0):
    """Exposure fairness: multiplier in [1 - max_penalty, 1] that decays with open proposals.

    ``1 - max_penalty * (1 - 0.5 ** (open / half))``: 0 open → 1; 2 open → 1 - max_penalty/2;
    many open → 1 - max_penalty. An agent already proposed elsewhere yields to an equally good one,
    but a clearly better agent (by more than ``max_penalty``) is still ranked first.
    """
    op = np.maximum(np.asarray(open_proposals, dtype=float), 0.0)
    out = 1.0 - max_penalty * (1.0 - np.power(0.5, op / half))
    return float(out) if np.ndim(out) == 0 else out


@lru_cache(maxsize=8)
def recency_table_past(half_life_years: float, floor: float) -> np.ndarray:
    """The table of :func:`_recency_table` and one more entry, 1.0 (read-only): read with ``take(ages,
    mode="clip")``, an age in the future reads 0 days (a factor of 1), any age past the table 1 — right for an
    unknown date, and for none other (the caller checks that no known date is that old)."""
    table = np.append(_recency_table(half_life_years, floor), 1.0)
    table.setflags(write=False)
    return table
