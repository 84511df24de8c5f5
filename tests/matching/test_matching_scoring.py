from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from matching.scoring import (
    credit_table,
    fairness_factor,
    idf,
    interest_factor,
    level_credit,
    recency_factor,
    recency_factors,
)

pytestmark = pytest.mark.unit


def test_meeting_the_level_earns_most_but_not_all_of_the_credit():
    assert level_credit(3, 3) == pytest.approx(0.9)


def test_each_level_above_adds_a_capped_bonus():
    assert level_credit(4, 3) == pytest.approx(0.95)
    assert level_credit(5, 3) == pytest.approx(1.0)
    assert level_credit(5, 1) == pytest.approx(1.0)  # capped


def test_each_level_below_removes_thirty_percent_of_the_credit():
    assert level_credit(2, 3) == pytest.approx(0.63)
    assert level_credit(1, 3) == pytest.approx(0.36)
    assert level_credit(1, 5) == 0.0


def test_levels_out_of_range_are_clipped():
    assert level_credit(9, 3) == level_credit(5, 3)
    assert level_credit(0, 3) == level_credit(1, 3)


def test_credit_table_lists_the_five_levels():
    assert np.allclose(credit_table(3), [level_credit(lv, 3) for lv in range(1, 6)])


def test_a_rare_skill_weighs_more_than_a_common_one():
    assert idf(1, 100) > idf(50, 100) > idf(100, 100) == pytest.approx(1.0, abs=0.01)


def test_recent_or_unknown_use_keeps_full_credit_and_old_use_decays_to_a_floor():
    today = date(2027, 1, 1)
    assert recency_factor(None, today) == 1.0
    assert recency_factor(date(2026, 6, 1), today) == 1.0
    assert recency_factor(date(2022, 1, 1), today) < recency_factor(date(2024, 1, 1), today) < 1.0
    assert recency_factor(date(1980, 1, 1), today) == pytest.approx(0.6, abs=1e-3)


def test_vectorised_recency_matches_the_scalar_one():
    today = date(2027, 1, 1)
    days = [date(2026, 6, 1), date(2022, 1, 1), date(2010, 5, 5)]
    got = recency_factors(np.array([-1] + [d.toordinal() for d in days]), today)
    assert np.allclose(got, [1.0] + [recency_factor(d, today) for d in days])


def test_interest_nudges_within_ten_percent():
    assert interest_factor(5) == 1.0
    assert interest_factor(1) == pytest.approx(0.9)
    assert interest_factor(None) == interest_factor(3) == pytest.approx(0.95)


def test_fairness_penalty_decays_with_open_proposals_and_is_capped():
    assert fairness_factor(0) == 1.0
    assert fairness_factor(2) == pytest.approx(1 - 0.15 / 2)
    assert fairness_factor(1000) == pytest.approx(0.85)
    assert fairness_factor(1) > fairness_factor(3) > fairness_factor(10)
