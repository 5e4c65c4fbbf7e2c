"""The cool-down of calibrated scores, in points or over a duration."""

from __future__ import annotations

import numpy as np

from modelphase.anomaly import Calibrated, ZScore

HOUR = 3600 * 10**9


def test_a_cool_down_in_days_lasts_the_same_time_at_any_step() -> None:
    y = 100.0 + np.random.default_rng(0).normal(0.0, 1.0, 3000)
    y[1000] += 30.0
    y[1020] += 25.0  # a second jolt, a little smaller, 20 steps later
    for step in (HOUR, HOUR // 12):  # hourly: 20 h later; 5-minute: 100 minutes later
        t = np.arange(3000) * step
        days = Calibrated(ZScore(halflife=5000.0), cooldown=2000, cooldown_days=2.0)
        s = days.score_many(y, t)
        assert s[1000] > 0
        # 20 h is far into the 2 days' decay, 100 minutes is not
        assert (s[1020] > 0) == (step == HOUR), step
    points = Calibrated(ZScore(halflife=5000.0), cooldown=2000).score_many(
        y, np.arange(3000) * HOUR
    )
    assert points[1020] == 0.0  # 20 points into a 2,000-point cool-down


def test_without_times_a_cool_down_in_days_falls_back_to_points() -> None:
    y = 100.0 + np.random.default_rng(1).normal(0.0, 1.0, 3000)
    y[1000] += 30.0
    d = Calibrated(ZScore(halflife=5000.0), cooldown=2000, cooldown_days=2.0)
    plain = Calibrated(ZScore(halflife=5000.0), cooldown=2000)
    np.testing.assert_array_equal(d.score_many(y), plain.score_many(y))
