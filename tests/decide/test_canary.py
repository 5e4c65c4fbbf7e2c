"""The canary judge's core: the rank interval against independent computations, each
metric's pass / fail / inconclusive rule, the release's score and verdict, the
minimum-data rule, the silent canary, and the sequential mode's error rate."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from modelphase.decide import (
    MetricSpec,
    hodges_lehmann,
    judge_canary,
    judge_metric,
    mann_whitney_p,
)


def brute_force_interval(x: np.ndarray, y: np.ndarray, confidence: float) -> tuple[float, float]:
    """The order statistics of the pairwise differences picked from U's exact null
    distribution, counted by enumerating every split of the pooled ranks."""
    m, n = len(x), len(y)
    counts = np.zeros(m * n + 1)
    for ranks in itertools.combinations(range(1, m + n + 1), m):
        counts[sum(ranks) - m * (m + 1) // 2] += 1
    cdf = np.cumsum(counts / counts.sum())
    k = int(np.sum(cdf <= (1 - confidence) / 2 * (1 + 1e-12)))
    diffs = np.sort(np.subtract.outer(x, y).ravel())
    return float(diffs[k - 1]), float(diffs[len(diffs) - k])


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(-100, 100, allow_nan=False), min_size=3, max_size=6, unique=True),
    st.lists(st.floats(-100, 100, allow_nan=False), min_size=3, max_size=7, unique=True),
)
def test_interval_matches_the_exact_order_statistics(xs: list[float], ys: list[float]) -> None:
    x, y = np.array(xs), np.array(ys)
    est, low, high = hodges_lehmann(x, y, confidence=0.9)
    assert est == pytest.approx(float(np.median(np.subtract.outer(x, y))))
    ref_low, ref_high = brute_force_interval(x, y, 0.9)
    assert (low, high) == (ref_low, ref_high)


def test_large_samples_cover_the_true_shift() -> None:
    rng = np.random.default_rng(7)
    hits = 0
    for _ in range(200):
        x, y = rng.standard_t(3, 150) + 2.0, rng.standard_t(3, 180)
        _, low, high = hodges_lehmann(x, y, confidence=0.9)
        hits += low <= 2.0 <= high
    assert 0.85 <= hits / 200 <= 0.95


def test_too_few_points_give_an_unbounded_interval() -> None:
    _, low, high = hodges_lehmann([1.0, 2.0], [3.0, 4.0], confidence=0.98)
    assert (low, high) == (-math.inf, math.inf)


def test_p_value_is_scipys_and_one_when_all_equal() -> None:
    x, y = [1.0, 5.0, 7.0, 9.0], [0.0, 2.0, 3.0]
    want = stats.mannwhitneyu(x, y, alternative="greater").pvalue
    assert mann_whitney_p(x, y, alternative="greater") == pytest.approx(want)
    assert mann_whitney_p([100.0] * 5, [100.0] * 9) == 1.0


def test_metric_fails_only_beyond_its_tolerance_in_the_bad_direction() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(100, 2, 80)
    slower = rng.normal(140, 2, 20)  # +40%
    spec = MetricSpec("latency", "increase", tolerance=0.25)
    assert judge_metric(slower, base, spec).verdict == "fail"
    assert judge_metric(slower, base, MetricSpec("latency", "increase", 0.5)).verdict == "pass"
    faster = rng.normal(60, 2, 20)
    assert judge_metric(faster, base, spec).verdict == "pass"  # lower is not bad here
    assert judge_metric(faster, base, MetricSpec("latency", "either", 0.25)).verdict == "fail"
    v = judge_metric(slower, base, spec)
    assert v.relative_interval is not None
    assert v.relative_interval[0] > 0.25
    assert v.canary_median == pytest.approx(float(np.median(slower)))


def test_a_pass_needs_evidence_and_too_little_data_is_inconclusive() -> None:
    spec = MetricSpec("success", "decrease", tolerance=0.05, min_points=3)
    two = judge_metric([100.0, 100.0], [100.0] * 10, spec)
    assert two.verdict == "inconclusive"
    assert "too little data" in two.reason
    same = judge_metric([100.0] * 5, [100.0] * 20, spec)
    assert same.verdict == "pass"
    noisy = judge_metric([60.0, 100.0, 80.0], [100.0, 50.0, 70.0, 90.0], spec)
    assert noisy.verdict == "inconclusive"


def test_no_data_on_a_side_and_nans_are_reported() -> None:
    spec = MetricSpec("latency")
    v = judge_metric([], [1.0, 2.0], spec)
    assert (v.verdict, v.reason) == ("inconclusive", "no canary data")
    nan = judge_metric([np.nan, np.nan], [np.nan], spec)
    assert nan.reason == "no canary and no baseline data"
    assert nan.dropped_nan == 3


def test_release_score_critical_metrics_and_marginal() -> None:
    rng = np.random.default_rng(1)
    good = {f"m{i}": rng.normal(10, 0.1, 30) for i in range(8)}
    base = {f"m{i}": rng.normal(10, 0.1, 60) for i in range(8)}
    specs = [MetricSpec(f"m{i}", "increase", 0.1) for i in range(8)]
    assert judge_canary(good, base, specs).verdict == "pass"
    bad = dict(good, m0=rng.normal(20, 0.1, 30))
    one_bad = judge_canary(bad, base, specs)
    assert (one_bad.verdict, one_bad.score) == ("marginal", 87.5)
    crit = [MetricSpec("m0", "increase", 0.1, critical=True), *specs[1:]]
    assert judge_canary(bad, base, crit).verdict == "fail"
    three_bad = dict(bad, m1=rng.normal(20, 0.1, 30), m2=rng.normal(20, 0.1, 30))
    assert judge_canary(three_bad, base, specs).verdict == "fail"


def test_release_without_enough_data_is_never_a_pass() -> None:
    base = {"a": np.full(40, 1.0), "b": np.full(40, 2.0)}
    few = {"a": np.full(2, 1.0), "b": np.full(2, 2.0)}
    assert judge_canary(few, base).verdict == "inconclusive"
    assert judge_canary({}, base).verdict == "inconclusive"


def test_silent_canary_fails_after_the_grace_period() -> None:
    base = {"a": np.full(40, 1.0)}
    early = judge_canary({}, base, silent_for=120, silent_after=300)
    assert early.verdict == "inconclusive"
    late = judge_canary({}, base, silent_for=600, silent_after=300)
    assert late.verdict == "fail"
    assert late.reason.startswith("silent canary")


def test_bad_specs_are_refused() -> None:
    with pytest.raises(ValueError, match="direction"):
        MetricSpec("x", "up")
    with pytest.raises(ValueError, match="tolerance"):
        MetricSpec("x", tolerance=-1)
    with pytest.raises(ValueError, match="threshold"):
        judge_canary({"x": [1.0]}, {"x": [1.0]}, pass_threshold=50, marginal_threshold=80)


def test_sequential_looks_keep_false_fails_rare() -> None:
    """A good canary judged at every one of 20 looks: the fixed-level judge fails some
    of 150 such analyses somewhere; the sequential one stays within its alpha."""
    rng = np.random.default_rng(3)
    spec = MetricSpec("x", "either", tolerance=0.0, min_points=3)
    fixed = sequential = 0
    for _ in range(150):
        base, can = rng.normal(10, 1, 120), rng.normal(10, 1, 30)
        fixed_fail = seq_fail = False
        for k in range(1, 21):
            c, b = can[:k], base[: 4 * k]
            fixed_fail |= judge_metric(c, b, spec).verdict == "fail"
            seq_fail |= judge_metric(c, b, spec, look=k).verdict == "fail"
        fixed += fixed_fail
        sequential += seq_fail
    assert sequential / 150 <= 0.03
    assert fixed > 2 * sequential
