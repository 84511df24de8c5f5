"""French formatting of the pages (Babel) and the geometry of the server-rendered charts."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from talents.kernel.errors import ValidationFailedError
from talents.web.charts import bars
from talents.web.common import french_error
from talents.web.filters import date_fr, datetime_fr, decimal_fr, level_fr, percent_fr, state_fr

pytestmark = pytest.mark.unit


def test_dates_read_as_in_french_prose():
    assert date_fr(date(2027, 1, 4)) == "4 janvier 2027"
    assert date_fr("2027-08-15") == "15 août 2027"
    assert date_fr(None) == "—"
    assert date_fr("2026-05-01") == "1er mai 2026"
    # Paris time, summer and winter.
    assert datetime_fr(datetime(2027, 1, 4, 13, 5, tzinfo=UTC)) == "4 janvier 2027 à 14:05"
    assert datetime_fr(datetime(2027, 7, 4, 13, 5, tzinfo=UTC)) == "4 juillet 2027 à 15:05"


def test_shares_and_decimals_use_french_typography():
    assert percent_fr(0.6).replace("\xa0", " ").replace("\u202f", " ") == "60 %"
    assert percent_fr(0.286, 1).replace("\xa0", " ").replace("\u202f", " ") == "28,6 %"
    assert decimal_fr(2.5) == "2,5"
    assert decimal_fr(4.0) == "4"
    assert decimal_fr(1234.56).replace("\u202f", " ").replace("\xa0", " ") == "1 234,6"


def test_states_and_levels_are_named_in_french():
    assert state_fr("accepted") == "accepté par l'agent"
    assert state_fr("withdrawn") == "retiré"
    assert state_fr("open") == "ouvert"
    assert level_fr(5) == "5 — expert·e, référent·e"
    assert level_fr(None) == "—"


def test_the_floor_is_refused_with_the_programmes_rule_in_french():
    error = ValidationFailedError("share must be above 50% of working time (got 40%)", field="share")
    sentence = french_error(error)
    assert sentence.startswith("La part du temps de travail doit être supérieure à 50")
    assert "moitié du temps de travail" in sentence


def test_bars_share_one_scale_from_zero_and_keep_every_row():
    chart = bars([("a", 10), ("b", 5), ("c", 0)])
    widths = [b.width for b in chart.bars]
    assert widths[0] > widths[1] > widths[2] == 0
    assert widths[0] == 2 * widths[1]
    assert [label for label, _ in chart.rows] == ["a", "b", "c"]
    two = bars([("x", 4, 2), ("y", 1, 8)])
    assert {b.series for b in two.bars} == {1, 2}
    assert max(b.width for b in two.bars) == next(b.width for b in two.bars if b.value == 8)
    capped = bars([("p", 150)], maximum=100)
    assert capped.bars[0].width == bars([("p", 100)], maximum=100).bars[0].width
