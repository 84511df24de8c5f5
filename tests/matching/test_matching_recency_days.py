"""What the index reads of recency, and how near-miss reasons write a day: the same values as before, faster."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from matching.explain import _french_day
from matching.ranking import CandidateIndex
from matching.scoring import recency_factors

pytestmark = pytest.mark.unit


def test_the_index_recency_with_unknown_dates_is_the_vectorised_one_float_for_float(small_taxonomy, make_agent):
    index = CandidateIndex().fit(small_taxonomy, [make_agent("a", [("py", 3)])])
    today = date(2027, 3, 1)
    rng = np.random.default_rng(0)
    days = today.toordinal() - rng.integers(-400, 40_000, size=500)  # future, recent, old and very old uses
    last_used = np.where(rng.random(500) < 0.4, rng.choice([-1, 0], size=500), days)
    # unknown dates are given as today (a factor of 1): the known ones read from the table of ages, not the formula
    got = index._recency(last_used, today)
    assert np.array_equal(got, recency_factors(last_used, today))
    assert (got[last_used <= 0] == 1.0).all()


@pytest.mark.parametrize("oldest", [1_000, 30_000, 40_000])
def test_the_index_recency_read_in_one_take_is_the_table_s_float_for_float(small_taxonomy, make_agent, oldest):
    index = CandidateIndex().fit(small_taxonomy, [make_agent("a", [("py", 3)])])
    today = date(2027, 3, 1)
    rng = np.random.default_rng(1)
    # future and past uses up to ``oldest`` days ago (past the table's 32 768 days: the formula decides), unknowns
    days = today.toordinal() - rng.integers(-400, oldest, size=500)
    last_used = np.where(rng.random(500) < 0.4, rng.choice([-1, -7], size=500), days)
    known = np.where(last_used > 0, last_used, today.toordinal())
    assert np.array_equal(index._recency(last_used, today), recency_factors(known, today))
    for one in (-1, 0, 1, today.toordinal() + 3):  # unknown, zero, very old (the formula), in the future
        single = np.array([one])
        expected = recency_factors(np.where(single > 0, single, today.toordinal()), today)
        assert np.array_equal(index._recency(single, today), expected)


@pytest.mark.parametrize("day", [date(1, 1, 1), date(999, 12, 31), date(2027, 1, 5), date(2031, 11, 30), date.max])
def test_a_near_miss_day_is_written_as_strftime_writes_it(day):
    assert _french_day(day.toordinal()) == f"{day:%d/%m/%Y}"
