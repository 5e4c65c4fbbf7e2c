"""Offline change points: steps in level, turns in slope and changes of variance are
found near where they are, a trend or noise alone is one regime, and NaN, constant,
short, multivariate and huge inputs are handled."""

from __future__ import annotations

import numpy as np
import pytest

from modelphase.drift import changepoints
from modelphase.drift.changepoints import MAX_POINTS
from modelphase.exceptions import ValidationError


def near(found: list[int], want: list[int], within: int = 5) -> bool:
    if len(found) != len(want):
        return False
    return all(abs(f - w) <= within for f, w in zip(found, want, strict=True))


def test_steps_in_level_are_found_where_they_are() -> None:
    rng = np.random.default_rng(0)
    x = np.r_[np.zeros(150), np.full(100, 2.0), np.full(150, -1.0)] + rng.normal(0, 0.5, 400)
    assert near(changepoints(x), [150, 250])


def test_a_turn_in_slope_and_a_change_of_variance_are_found() -> None:
    rng = np.random.default_rng(1)
    t = np.arange(300.0)
    turn = np.where(t < 200, t * 0.05, 10 - (t - 200) * 0.2) + rng.normal(0, 0.3, 300)
    assert near(changepoints(turn), [200], within=10)
    wider = np.r_[rng.normal(0, 1, 300), rng.normal(0, 4, 300)]
    assert near(changepoints(wider), [300], within=10)


def test_noise_and_a_steady_trend_are_one_regime() -> None:
    rng = np.random.default_rng(2)
    assert changepoints(rng.normal(0, 1, 2000)) == []
    assert changepoints(np.linspace(0, 100, 1000) + rng.normal(0, 1, 1000)) == []


def test_nan_constant_and_short_series() -> None:
    rng = np.random.default_rng(3)
    x = np.r_[np.zeros(100), np.full(100, 3.0)] + rng.normal(0, 0.5, 200)
    holed = x.copy()
    holed[[0, 50, 120, 121, 199]] = np.nan
    holed[60] = np.inf
    assert changepoints(holed) == changepoints(x) == [100]
    assert changepoints(np.full(500, 7.0)) == []
    assert changepoints(np.full(50, np.nan)) == []
    assert changepoints(np.array([1.0, 5.0, 1.0])) == []
    assert changepoints(np.array([])) == []


def test_columns_change_together_and_dead_columns_are_dropped() -> None:
    rng = np.random.default_rng(4)
    a = np.r_[np.zeros(200), np.ones(200)] + rng.normal(0, 0.3, 400)
    b = np.r_[np.zeros(200), -np.ones(200)] + rng.normal(0, 0.3, 400)
    table = np.column_stack([a, b, np.full(400, 2.0), np.full(400, np.nan)])
    assert near(changepoints(table), [200])


def test_a_huge_series_is_averaged_in_blocks() -> None:
    rng = np.random.default_rng(5)
    n = 50 * MAX_POINTS
    x = np.where(np.arange(n) < 61_234, 0.0, 1.0) + rng.normal(0, 1, n)
    found = changepoints(x)
    assert near(found, [61_234], within=2 * n // MAX_POINTS)
    assert all(f % (n // MAX_POINTS) == 0 for f in found)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValidationError, match="expected an \\(n,\\) or \\(n, d\\) array"):
        changepoints(np.zeros((3, 3, 3)))
    with pytest.raises(ValidationError, match="penalty: expected a number >= 0"):
        changepoints(np.zeros(10), penalty=-1.0)
