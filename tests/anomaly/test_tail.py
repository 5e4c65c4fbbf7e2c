"""The fitted tail of calibrated scores: past the largest score seen, and only there."""

from __future__ import annotations

import math

import numpy as np
import pytest

from modelphase.anomaly import Calibrated, ZScore, build_detector, tail_probability
from modelphase.exceptions import ValidationError
from modelphase.testing import check_detector

HOUR = 3600 * 10**9


def _short_history(n: int = 500, seed: int = 0) -> np.ndarray:
    y = 100.0 + np.random.default_rng(seed).normal(0.0, 1.0, n)
    y[-1] -= 18.0  # an 18-sd drop at the last point
    return y


@pytest.mark.parametrize("tail", ["exponential", "pareto"])
def test_an_18_sd_drop_in_500_points_passes_the_threshold(tail: str) -> None:
    y = _short_history()
    t = np.arange(len(y)) * HOUR  # three weeks of hours
    empirical = Calibrated(ZScore(halflife=1000.0), tail="empirical").score_many(y, t)
    fitted = Calibrated(ZScore(halflife=1000.0), tail=tail).score_many(y, t)
    assert empirical[-1] < 3 <= math.log10(1000)  # the empirical ceiling: log10(n + 1)
    assert fitted[-1] > 5
    assert (fitted >= empirical).all()  # only new records score higher
    assert (fitted[:-1] != empirical[:-1]).sum() < 10


def test_below_the_largest_score_seen_the_fit_changes_nothing() -> None:
    rng = np.random.default_rng(1)
    ranked = sorted(rng.exponential(1.0, 2000).tolist())
    for x in np.linspace(0.0, ranked[-1], 50).tolist():
        emp = tail_probability(ranked, x, "empirical", 0.02)
        assert tail_probability(ranked, x, "pareto", 0.02) == emp
    beyond = [tail_probability(ranked, ranked[-1] + d, "pareto", 0.02) for d in (0.1, 1, 5)]
    assert beyond == sorted(beyond, reverse=True)  # further out is rarer
    assert beyond[0] <= 1 / 2001


def test_the_pareto_fit_reads_a_heavy_tail() -> None:
    rng = np.random.default_rng(2)
    ranked = sorted(rng.pareto(3.0, 20_000).tolist())
    x = 60.0  # true P(X >= 60) = 61 ** -3 (1e-5.36)
    got = -math.log10(tail_probability(ranked, x, "pareto", 0.02))
    light = -math.log10(tail_probability(ranked, x, "exponential", 0.02))
    assert abs(got - 3 * math.log10(61)) < 1.0
    assert light > got + 3  # an exponential tail calls it far rarer than it is


def test_the_fit_waits_for_a_day_of_history() -> None:
    """In its first hours a stream has not shown its daily rhythm: no extrapolation."""
    y = _short_history(300)
    minutes = np.arange(300) * 60 * 10**9  # five hours
    fitted = Calibrated(ZScore(halflife=1000.0), tail_days=1.0).score_many(y, minutes)
    plain = Calibrated(ZScore(halflife=1000.0), tail="empirical").score_many(y, minutes)
    np.testing.assert_array_equal(fitted, plain)
    sooner = Calibrated(ZScore(halflife=1000.0), tail_days=0.1).score_many(y, minutes)
    assert sooner[-1] > 5
    untimed = Calibrated(ZScore(halflife=1000.0)).score_many(y)  # no times: 1,000 points
    assert untimed[-1] == plain[-1]


def test_the_cool_down_is_held_on_the_empirical_scale() -> None:
    """One far-out score does not silence the next incident for the whole cool-down."""
    y = 100.0 + np.random.default_rng(3).normal(0.0, 1.0, 3000)
    y[1000] += 60.0
    y[1400:1420] += 8.0
    params = {"detector": {"name": "zscore", "params": {"halflife": 5000.0}}, "cooldown": 2000}
    plain = build_detector("calibrated", params | {"tail": "empirical"}).score_many(y)
    fitted = build_detector("calibrated", params | {"tail": "pareto"}).score_many(y)
    assert fitted[1000] > plain[1000]
    np.testing.assert_array_equal(fitted[1001:] > 0, plain[1001:] > 0)


def test_calibrated_with_a_tail_conforms() -> None:
    check_detector(lambda: Calibrated(ZScore(halflife=50.0), warmup=5, tail="pareto"))


def test_bad_tails_are_clear_errors() -> None:
    with pytest.raises(ValidationError, match="tail: expected one of"):
        Calibrated(tail="gaussian")
    with pytest.raises(ValidationError, match="tail_share"):
        Calibrated(tail="pareto", tail_share=1.5)
