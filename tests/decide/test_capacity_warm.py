"""Warm plans (:mod:`modelphase.decide.capacity.warm`): the idle-time hazard, the
cost-ratio window, the renewal probabilities, and the fallback with too little history."""

from __future__ import annotations

import math

import numpy as np
import pytest

from modelphase.decide.capacity.warm import (
    MAX_IDLE,
    break_even,
    hazard,
    idle_times,
    invocation_probability,
    outcome,
    plan_function,
    warm_plans,
    window,
)
from modelphase.exceptions import ValidationError


def renewal(gaps: np.ndarray) -> np.ndarray:
    """Invocation minutes from idle times."""
    return np.concatenate([[0], np.cumsum(gaps)]).astype(np.int64)


def test_idle_times_and_the_censored_one() -> None:
    gaps, open_ = idle_times([5, 2, 3, 3, 9], now=12)  # unsorted, a repeat
    assert gaps.tolist() == [1, 2, 4]
    assert open_ == 2  # minutes 10 and 11 seen idle
    with pytest.raises(ValidationError, match="before now"):
        idle_times([1, 12], now=12)


def test_the_hazard_is_empirical_where_the_history_is_thick() -> None:
    gaps = np.array([1] * 300 + [2] * 100 + [4] * 100)
    h = hazard(gaps, length=6)
    # empirical: P(1 | >= 1) = 0.6, P(2 | >= 2) = 0.5, P(3 | >= 3) = 0, P(4 | >= 4) = 1
    np.testing.assert_allclose(h[:4], [0.6, 0.5, 0.0, 1.0], atol=0.012)
    # beyond the data: the function's constant hazard, 500 idle times over 900 minutes
    assert h[4] == pytest.approx(500 / 900)


def test_a_censored_idle_time_lowers_the_hazard_it_is_at_risk_for() -> None:
    gaps = np.array([3, 3, 3])
    closed = hazard(gaps, 0, length=5)
    waiting = hazard(gaps, 4, length=5)  # 4 idle minutes without an invocation so far
    assert (waiting[:3] < closed[:3]).all()
    assert waiting[2] == pytest.approx((3 + 2 * 3 / 13) / (4 + 2))


def test_the_window_keeps_warm_where_the_hazard_beats_the_ratio() -> None:
    q = 0.2  # a Poisson function: constant hazard, all or nothing at 1 / (1 + r) = q
    h = np.full(30, q)
    assert window(h, cost_ratio=5.0) == (0, 30)  # 1 / 6 < 0.2
    assert window(h, cost_ratio=3.0) == (0, 0)  # 1 / 4 > 0.2
    # a gap of 4 minutes, nearly always: unload, load for minute 4 only
    h = np.array([0.01, 0.01, 0.01, 0.97, 0.01, 0.01])
    assert window(h, cost_ratio=10.0) == (3, 1)
    with pytest.raises(ValidationError, match="cost ratio > 0"):
        window(h, cost_ratio=0.0)


@pytest.mark.parametrize("seed", range(12))
def test_the_window_is_the_best_contiguous_one(seed: int) -> None:
    rng = np.random.default_rng(seed)
    h = rng.beta(0.5, 2.0, 12)
    r = float(rng.choice([0.5, 2.0, 10.0, 50.0]))

    def cost(a: int, k: int) -> float:
        cold, idle = outcome(h, a, k)
        return r * cold + idle

    best = min(((a, k) for a in range(12) for k in range(1, 13 - a)), key=lambda w: cost(*w))
    found = window(h, r)
    assert cost(*found) <= min(cost(*best), cost(0, 0)) + 1e-12


def test_expected_outcomes_match_a_replay_of_the_same_process() -> None:
    """The plan's expected cold-start share and idle minutes are what a replay of
    fresh draws of the same idle-time distribution gives."""
    rng = np.random.default_rng(7)
    support, probs = np.array([1, 2, 6, 7, 30]), np.array([0.35, 0.15, 0.25, 0.15, 0.10])
    history = renewal(rng.choice(support, 3000, p=probs))
    plan = plan_function(history, int(history[-1]) + 1, cost_ratio=10.0, horizon=1)
    first, last = plan.prewarm + 1, plan.prewarm + plan.keep_alive
    assert first <= 6
    assert last >= 7
    fresh = rng.choice(support, 20000, p=probs)
    cold = np.mean((fresh < first) | (fresh > last))
    idle = np.clip(np.minimum(fresh - 1, last) - first + 1, 0, None).mean()
    assert plan.cold_start_share == pytest.approx(cold, abs=0.01)
    per_hour = 60 / float(support @ probs)  # invocation minutes an hour
    assert plan.wasted_minutes_per_hour == pytest.approx(idle * per_hour, rel=0.05)


def test_a_poisson_function_has_the_same_chance_every_minute() -> None:
    h = np.full(80, 0.3)
    np.testing.assert_allclose(invocation_probability(h, 5, 20), 0.3, atol=1e-12)


def test_a_periodic_function_is_predicted_on_its_period() -> None:
    history = np.arange(0, 300, 5)  # every fifth minute; the last at 295
    plan = plan_function(history, now=297, cost_ratio=10.0, horizon=10)
    p = plan.p_invocation
    assert p.argmax() == 3  # minute 300 = now + 3
    assert p[3] > 0.9
    assert p[8] > 0.8
    assert (np.delete(p, [3, 8]) < 0.1).all()
    assert (plan.prewarm, plan.basis) == (4, "idle-time model")
    assert plan.cold_start_share < 0.05


def test_a_higher_cost_ratio_keeps_warm_longer_and_starts_cold_less() -> None:
    rng = np.random.default_rng(3)
    history = renewal(rng.geometric(0.15, 200))
    plans = [plan_function(history, int(history[-1]) + 1, cost_ratio=r) for r in (1, 5, 20, 100)]
    ends = [p.prewarm + p.keep_alive for p in plans]
    colds = [p.cold_start_share for p in plans]
    wasted = [p.wasted_minutes_per_hour for p in plans]
    assert ends == sorted(ends)
    assert colds == sorted(colds, reverse=True)
    assert wasted == sorted(wasted)
    assert ends[0] == 0
    assert ends[-1] > ends[1]


def test_the_window_goes_on_past_the_longest_idle_time_for_the_break_even_time() -> None:
    history = np.arange(0, 120, 3)
    plan = plan_function(history, 118, cost_ratio=10.0, horizon=3)
    assert (plan.prewarm, plan.keep_alive) == (2, 1 + 10)


def test_too_little_history_falls_back_to_the_break_even_keep_alive() -> None:
    plan = plan_function([4, 9], now=20, cost_ratio=7.5, horizon=4, function="rare")
    assert (plan.prewarm, plan.keep_alive) == (0, 8)
    assert plan.basis == "break-even keep-alive"
    assert "1 idle time(s), fewer than 2" in plan.note
    assert np.isnan(plan.p_invocation).all()
    assert len(plan.p_invocation) == 4
    assert math.isnan(plan.cold_start_share)
    assert plan.to_dict()["expected_cold_start_share"] is None
    assert break_even(0.3) == 1
    assert break_even(1e5) == MAX_IDLE


def test_a_long_idle_function_is_read_at_the_range() -> None:
    plan = plan_function([0, 2, 4, 6], now=1000, horizon=5)
    assert "past the 240-min range" in plan.note
    assert np.isfinite(plan.p_invocation).all()


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda: plan_function([1, 2, 3], 5, cost_ratio=-1.0), "cost ratio > 0"),
        (lambda: plan_function([1, 2, 3], 5, cost_ratio=math.nan), "cost ratio > 0"),
        (lambda: plan_function([], 5), "at least one invocation"),
        (lambda: plan_function([1, 2, 3], 5, horizon=0), "horizon of 1 minute"),
        (lambda: warm_plans([], [], 5), "at least one function"),
        (lambda: warm_plans(["a"], [], 5), "one array of minutes per function"),
        (lambda: hazard([], 0), "at least one idle time"),
    ],
)
def test_bad_input_is_a_clear_error(call: object, needle: str) -> None:
    with pytest.raises(ValidationError, match=needle):
        call()  # type: ignore[operator]


def test_warm_plans_plans_each_function_and_reports_progress() -> None:
    seen: list[tuple[int, int]] = []
    plans = warm_plans(
        ["a", "b"],
        [np.arange(0, 50, 2), np.array([10])],
        50,
        horizon=3,
        on_progress=lambda done, total: seen.append((done, total)),
    )
    assert [p.function for p in plans] == ["a", "b"]
    assert [p.basis for p in plans] == ["idle-time model", "break-even keep-alive"]
    assert seen == [(1, 2), (2, 2)]
