"""The explanations' whole-array rounding gives Python's ``round``, float for float."""

from __future__ import annotations

import math

import numpy as np
import pytest

from matching.explain import rounded


def _same(got: list[float], want: list[float]) -> bool:
    # bit for bit: -0.0 and 0.0 differ, nan equals nan
    return [x.hex() for x in got] == [x.hex() for x in want]


@pytest.mark.parametrize("digits", [4, 6])
def test_rounded_is_pythons_round_on_random_values(digits: int) -> None:
    rng = np.random.default_rng(3)
    values = np.concatenate([rng.random(20_000), rng.random(2_000) * 1e4, -rng.random(2_000)])
    want = [round(v, digits) for v in values.tolist()]
    assert _same(rounded(values, digits), want)


@pytest.mark.parametrize("digits", [4, 6])
def test_rounded_is_pythons_round_at_and_near_halves(digits: int) -> None:
    scale = 10**digits
    halves = (np.arange(0, 5000) + 0.5) / scale  # products at or within a rounding error of a half
    exact = np.array([0.0078125, 0.5, 0.25, 0.125, 1 / 1024, 3 / 2048, 2.5e-5, 0.00015, -0.00005])
    nudged = np.concatenate([np.nextafter(halves, 0), np.nextafter(halves, 1)])
    values = np.concatenate([halves, exact, nudged, [0.0, -0.0, 1.0, -1e-9]])
    assert _same(rounded(values, digits), [round(v, digits) for v in values.tolist()])


def test_rounded_with_values_too_large_or_not_finite() -> None:
    values = np.array([0.1234567, 3e13, math.inf, -math.inf, math.nan, 0.0000005])
    assert _same(rounded(values, 6), [round(v, 6) for v in values.tolist()])


def test_rounded_of_nothing() -> None:
    assert rounded(np.empty(0), 6) == []


def test_rounded_with_digits_per_value() -> None:
    rng = np.random.default_rng(5)
    values = np.concatenate([rng.random(3_000), (np.arange(0, 500) + 0.5) / 10**4, [3e13, math.nan]])
    digits = rng.choice([4, 6], size=values.size)
    want = [round(v, int(d)) for v, d in zip(values.tolist(), digits.tolist(), strict=True)]
    assert _same(rounded(values, digits), want)
    finite = values[:-2]
    assert _same(rounded(finite, digits[:-2]), want[:-2])
