from __future__ import annotations

from datetime import date

import pytest

from matching.availability import eligibility, free_segments
from matching.types import AvailabilityWindow as W
from matching.types import Commitment as C

pytestmark = pytest.mark.unit

S, E = date(2027, 3, 1), date(2027, 3, 31)


def test_share_exactly_at_the_floor_is_rejected():
    assert not eligibility([W(S, E, 1.0)], [], S, E, 0.5).eligible


def test_free_share_exactly_equal_to_the_role_share_is_accepted():
    assert eligibility([W(S, E, 0.6)], [], S, E, 0.6).eligible


def test_one_short_day_excludes():
    windows = [W(S, date(2027, 3, 14), 0.8), W(date(2027, 3, 16), E, 0.8)]
    el = eligibility(windows, [], S, E, 0.6)
    assert not el.eligible and el.short_days == 1 and el.first_short_day == date(2027, 3, 15)


def test_commitments_are_subtracted_from_declared_availability():
    assert not eligibility([W(S, E, 1.0)], [C(date(2027, 3, 10), date(2027, 3, 10), 0.5)], S, E, 0.6).eligible


def test_open_ended_periods_do_not_overflow():
    segs = free_segments([W(S, date.max, 0.8)], [C(date(2027, 3, 10), date.max, 0.3)], S, date.max)
    assert [s.free for s in segs] == [0.8, 0.5]
