"""Deciders turn scores into alerts; the monitor keeps flagged points out of learning."""

from __future__ import annotations

import math

import numpy as np
import pytest

from modelphase.anomaly import ZScore
from modelphase.anomaly.deciders import (
    FixedThreshold,
    LikelihoodThreshold,
    Monitor,
    QuantileThreshold,
)
from modelphase.exceptions import ValidationError


def test_fixed_threshold() -> None:
    d = FixedThreshold(2.5)
    assert not d.decide(2.4).is_anomaly
    got = d.decide(2.5)
    assert got.is_anomaly
    assert got.threshold == 2.5


def test_quantile_threshold_alerts_at_its_rate_with_bounded_memory() -> None:
    rng = np.random.default_rng(0)
    d = QuantileThreshold(q=0.99, window=2000, warmup=100)
    flagged = 0
    for s in rng.random(20_000).tolist():
        flagged += d.decide(s).is_anomaly
        d.learn(s)
    assert 0.005 < flagged / 20_000 < 0.02
    assert len(d.sorted_) == 2000
    assert not QuantileThreshold(warmup=10).decide(1e9).is_anomaly  # no history yet
    with pytest.raises(ValidationError, match="quantile"):
        QuantileThreshold(q=1.5, warmup=0).decide(1.0)


def test_likelihood_is_half_at_the_mean_and_near_one_far_above() -> None:
    rng = np.random.default_rng(1)
    d = LikelihoodThreshold(p=1e-4, warmup=50)
    for s in rng.normal(10.0, 2.0, 5000).tolist():
        d.learn(s)
    mid = d.decide(10.0)
    assert mid.likelihood == pytest.approx(0.5, abs=0.05)
    assert not mid.is_anomaly
    far = d.decide(10.0 + 5 * 2.0)
    assert far.likelihood is not None
    assert far.likelihood > 1 - 1e-4
    assert far.is_anomaly
    assert math.isclose(far.threshold, 1 - 1e-4)


def test_monitor_keeps_an_incident_out_of_the_normal_until_it_lasts() -> None:
    calm = [10.0, 11.0, 9.0, 10.5, 9.5] * 100
    incident = [40.0] * 50

    def run(learn_anomalies: bool) -> tuple[list[bool], float]:
        m = Monitor(ZScore(halflife=50), FixedThreshold(4.0), learn_anomalies, relearn_after=100)
        flags = [m.process_one(x).is_anomaly for x in calm + incident]
        detector = m.detector_
        assert isinstance(detector, ZScore)
        return flags[len(calm) :], detector.mean_

    kept_out, mean = run(False)
    assert all(kept_out)  # every incident point still alerts
    assert mean == pytest.approx(10.0, abs=0.5)  # and the mean did not move
    absorbed, moved = run(True)
    assert not all(absorbed)  # learning from it, the detector got used to it
    assert moved > 20.0
    m = Monitor(ZScore(halflife=50), FixedThreshold(4.0), relearn_after=10)
    flags = [m.process_one(x).is_anomaly for x in calm + [40.0] * 300]
    assert not flags[-1]  # a change that lasts becomes the new normal
