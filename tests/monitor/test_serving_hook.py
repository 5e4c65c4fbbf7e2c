"""The policy hook of the canary stage: the canary's serving metrics judged by the
judge of ``modelphase canary judge``, and a fast burn of its fallback share, each
enough to fail the stage (and so roll the canary back)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelphase.decide.serving import fast_burn, serving_samples
from modelphase.exceptions import SpecError
from modelphase.monitor.judge import serving_verdict
from modelphase.monitor.policy import Policy

T0 = 1_767_225_600 * 10**6  # epoch us


def rows(n: int, *, latency: float, fallback_share: float = 0.0, seed: int = 0) -> pd.DataFrame:
    """``n`` requests a second apart, lognormal latencies around ``latency`` ms."""
    rng = np.random.default_rng(seed)
    fallback = rng.random(n) < fallback_share
    return pd.DataFrame(
        {
            "time_us": pd.to_datetime(T0 + np.arange(n) * 1_000_000, unit="us", utc=True),
            "latency_ms": latency * rng.lognormal(0, 0.2, n),
            "answered_by": np.where(fallback, "fallback", "model"),
        }
    )


def test_a_canary_like_production_passes() -> None:
    found = serving_verdict(rows(600, latency=5, seed=1), rows(600, latency=5), Policy(), 1)
    assert found.outcome == "pass"
    assert found.evidence["serving"]["verdict"] in ("pass", "marginal")
    assert found.evidence["serving"]["fast_burn"] is None


def test_a_slow_canary_fails_on_latency() -> None:
    found = serving_verdict(rows(600, latency=10, seed=1), rows(600, latency=5), Policy(), 1)
    assert found.outcome == "fail"
    assert found.reason.startswith("serving metrics:")
    latency = found.evidence["serving"]["metrics"][0]
    assert (latency["metric"], latency["verdict"]) == ("latency_ms", "fail")


def test_a_canary_that_falls_back_burns_fast() -> None:
    # 20% of an hour's requests fall back: 20x a 99% objective's budget, above 14.4x
    found = serving_verdict(
        rows(3600, latency=5, fallback_share=0.2, seed=1), rows(3600, latency=5), Policy(), 1
    )
    assert found.outcome == "fail"
    assert found.reason.startswith("fast burn:")
    assert "page-quick" in found.reason


def test_the_burn_guard_ignores_a_single_fallback_among_few_requests() -> None:
    few = rows(10, latency=5)
    few.loc[9, "answered_by"] = "fallback"  # 10% of 10 requests: 10x, but 10 events
    assert fast_burn(few, 99.5, min_events=50) is None
    assert fast_burn(few, 99.5, min_events=5) is not None


def test_later_looks_need_more_evidence() -> None:
    # a shift near the tolerance: decided at the first look, not at the hundredth
    cand, base = rows(300, latency=6.9, seed=3), rows(300, latency=5, seed=4)
    first = serving_verdict(cand, base, Policy(), 1).evidence["serving"]["metrics"][0]
    late = serving_verdict(cand, base, Policy(), 100).evidence["serving"]["metrics"][0]
    assert late["confidence"] > first["confidence"]
    low = lambda m: m["relative_interval"][0]  # noqa: E731
    assert low(late) < low(first)


def test_serving_samples_bucket_fallbacks_by_minute() -> None:
    found = serving_samples(rows(180, latency=5, fallback_share=1.0))
    assert found["fallback_ratio"].tolist() == [1.0, 1.0, 1.0]
    assert len(found["latency_ms"]) == 180


def test_the_hook_is_configured_in_the_canary_plan() -> None:
    policy = Policy.of(None, {"serving": {"tolerance": 0.5, "objective": 99.9, "period": "7d"}})
    assert (policy.serving, policy.serving_tolerance, policy.serving_objective) == (
        True, 0.5, 99.9,
    )  # fmt: skip
    assert policy.serving_period_ns == 7 * 86_400 * 10**9
    assert Policy.of(None, {"serving": False}).serving is False
    assert Policy.of(None, {"serving": {"objective": None}}).serving_objective is None
    for bad in ({"objective": 100}, {"tolerance": -1}, {"nope": 1}):
        with pytest.raises(SpecError):
            Policy.of(None, {"serving": bad})
