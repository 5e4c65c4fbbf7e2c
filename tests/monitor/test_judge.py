"""The rollout judge: pass only on evidence, fail on clear harm, wait in between."""

from __future__ import annotations

import numpy as np
import pytest

from modelphase.monitor import judge


def errors(n: int, scale: float, seed: int) -> np.ndarray:
    return np.abs(np.random.default_rng(seed).normal(0, scale, n))


def test_too_little_data_waits_and_says_so() -> None:
    verdict = judge(errors(20, 1, 0), errors(20, 1, 1), paired=False, min_samples=50)
    assert verdict.outcome == "wait"
    assert "not enough data yet" in verdict.reason
    assert verdict.evidence["candidate_n"] == 20


@pytest.mark.parametrize("paired", [True, False])
def test_a_better_candidate_passes_and_a_worse_one_fails(paired: bool) -> None:
    base = errors(400, 1.0, 2)
    better = base * 0.7 if paired else errors(400, 0.7, 3)
    worse = base * 1.6 if paired else errors(400, 1.6, 4)
    assert judge(better, base, paired=paired).outcome == "pass"
    failed = judge(worse, base, paired=paired)
    assert failed.outcome == "fail"
    assert "worse than production" in failed.reason
    assert failed.evidence["p_worse"] < 0.05
    assert failed.evidence["error_ratio"] == pytest.approx(worse.mean() / base.mean())


def test_the_mean_is_judged_not_the_median() -> None:
    """Most errors smaller, a few far larger: a mean 1.5 times production's fails,
    where a rank test would have passed it."""
    base = errors(400, 1.0, 12)
    cand = base * 0.8
    cand[::20] *= 20.0  # one error in twenty, twenty times larger
    assert cand.mean() / base.mean() > 1.3
    assert judge(cand, base, paired=True).outcome == "fail"


def test_errors_of_one_request_are_resampled_together() -> None:
    base = errors(240, 1.0, 13)
    cand = base * 0.75
    requests = np.repeat(np.arange(30), 8)  # 30 requests of 8 steps
    verdict = judge(cand, base, paired=True, requests=requests, min_samples=50)
    assert verdict.outcome == "pass"
    with pytest.raises(ValueError, match="one request per error"):
        judge(cand, base, paired=True, requests=requests[:10])


def test_an_equal_candidate_is_not_promoted_without_evidence() -> None:
    base = errors(60, 1.0, 5)
    same = errors(60, 1.0, 6)
    verdict = judge(same, base, paired=False, min_samples=50, tolerance=0.0)
    assert verdict.outcome == "wait"  # neither shown better nor worse
    same_errors = errors(300, 1.0, 7)
    stuck = judge(same_errors, same_errors.copy(), paired=False, tolerance=0.0, max_samples=300)
    assert stuck.outcome == "fail"
    assert "inconclusive" in stuck.reason


def test_failing_more_often_than_production_fails_even_when_accurate() -> None:
    base = errors(400, 1.0, 9)
    verdict = judge(base * 0.5, base, paired=True, failures=(30, 200), baseline_failures=(1, 800))
    assert verdict.outcome == "fail"
    assert "fails more often" in verdict.reason
    fine = judge(base * 0.5, base, paired=True, failures=(1, 200), baseline_failures=(1, 800))
    assert fine.outcome == "pass"


def test_paired_errors_must_line_up_and_nan_is_dropped() -> None:
    with pytest.raises(ValueError, match="same length"):
        judge([1.0, 2.0], [1.0], paired=True)
    cand = np.r_[errors(100, 0.5, 10), np.nan]
    base = np.r_[errors(100, 1.0, 11), 1.0]
    verdict = judge(cand, base, paired=True)
    assert verdict.evidence["candidate_n"] == 100
