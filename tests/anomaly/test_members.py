"""Behaviour of the default detector's persistence and novelty members."""

from __future__ import annotations

import numpy as np

from modelphase.anomaly import ContextualNovelty, MaxOf, SumOf, Sustained, ZScore

MIN = 60 * 10**9
HOUR = 60 * MIN
DAY = 24 * HOUR


def _one_by_one(detector, values, times=None):
    out = []
    for i, x in enumerate(values):
        t = None if times is None else int(times[i])
        out.append(detector.score_one(float(x), t))
        detector.learn_one(float(x), t)
    return np.array(out)


def test_novelty_is_silent_on_a_learned_pattern_and_full_on_a_new_step() -> None:
    saw = [0.0, 1.0, 2.0, 3.0, 4.0] * 200
    s = ContextualNovelty().score_many([*saw, 4.0, 0.0, 4.0])
    assert s[500:1000].max() == 0.0  # a recurring pattern, spikes included, is learned
    assert s[-1] == 1.0  # a reset straight back to the top: never seen after any context


def test_novelty_keeps_its_table_bounded_and_equal_scores_when_it_prunes() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(0.0, 1.0, 3000).cumsum()  # a random walk keeps finding new contexts
    fast = ContextualNovelty(capacity=300)
    many = fast.score_many(x)
    slow = _one_by_one(ContextualNovelty(capacity=300), x)
    np.testing.assert_array_equal(many, slow)
    assert len(fast.transitions_) <= 300


def test_sustained_ignores_a_spike_and_scores_a_sag_once_it_lasts() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(10.0, 1.0, 3000)
    y[2000] += 15.0  # fifteen deviations, for one point
    y[2500:2600] -= 6.0  # six deviations, for 100 points (over 8 hours)
    t = np.arange(3000) * 5 * MIN
    s = Sustained().score_many(y, t)
    assert s[:2500].max() == 0.0
    assert s[2500:2540].max() < 1.0  # not yet 4 hours (48 points) of it
    assert s[2560:2600].min() > 2.0


def test_sustained_reads_its_window_from_the_sampling_interval() -> None:
    y = np.ones(30)
    for step, width in ((5 * MIN, 48), (HOUR, 16), (MIN, 240), (10 * 10**9, 256)):
        d = Sustained()
        d.score_many(y, np.arange(30) * step)
        assert d.width_ == width, step
    d = Sustained()
    d.score_many(y)  # no times: the smallest window
    assert d.width_ == 16


def test_sustained_sees_a_weekday_that_runs_like_a_sunday_through_its_week() -> None:
    """Weekdays at 100, weekends at 40: a Wednesday at 40 is normal for the level (the
    stream often sits at 40) and wrong for a Wednesday."""
    step = 30 * MIN
    t = np.arange(4 * 7 * 48 + 48) * step  # four weeks and a day, from a Thursday
    rng = np.random.default_rng(1)
    weekday = ((t // DAY) + 3) % 7 < 5  # 1970-01-01 was a Thursday
    y = np.where(weekday, 100.0, 40.0) + rng.normal(0.0, 2.0, len(t))
    last_day = slice(len(t) - 48, len(t))
    assert weekday[last_day].all()
    y[last_day] = 40.0 + rng.normal(0.0, 2.0, 48)
    level_only = Sustained(context=0.0).score_many(y, t)
    with_context = Sustained().score_many(y, t)
    assert level_only[last_day].max() < 1.5
    assert with_context[last_day].max() > max(2.0, 1.5 * level_only[last_day].max())


def test_sustained_scores_many_as_one_by_one_with_gaps() -> None:
    rng = np.random.default_rng(2)
    y = rng.normal(0.0, 1.0, 2000)
    y[1500:1700] += 3.0
    y[rng.integers(0, 2000, 40)] = np.nan
    t = np.arange(2000) * 5 * MIN
    np.testing.assert_allclose(
        Sustained().score_many(y, t), _one_by_one(Sustained(), y, t), rtol=0, atol=1e-12
    )


def test_sum_and_max_combine_the_same_weighted_members() -> None:
    members = [
        {"name": "zscore", "params": {"halflife": 50.0}},
        {"name": "zscore", "params": {"halflife": 500.0}, "weight": 0.5},
    ]
    x = np.r_[np.tile([10.0, 11.0, 9.0], 100), 40.0]
    a = ZScore(halflife=50.0).score_many(x)
    b = 0.5 * ZScore(halflife=500.0).score_many(x)
    np.testing.assert_allclose(SumOf(members).score_many(x), a + b)
    np.testing.assert_allclose(MaxOf(members).score_many(x), np.maximum(a, b))
    assert SumOf(members).get_params() == {"members": members}


def _daily_spikes(days: int, hour: float) -> tuple[np.ndarray, np.ndarray]:
    """5-minute noise with a spike at ``hour`` o'clock every day."""
    rng = np.random.default_rng(5)
    t = np.arange(days * 288) * 5 * MIN
    y = rng.normal(10.0, 1.0, len(t))
    y[int(hour * 12) :: 288] += 12.0
    return y, t


def test_a_spike_at_the_same_hour_every_day_stops_alerting_and_an_odd_hour_does_not() -> None:
    from modelphase.anomaly import Calibrated

    y, t = _daily_spikes(10, 2.0)
    y[9 * 288 + 14 * 12] += 12.0  # on the last day, the same spike at 14:00
    spikes = np.arange(2 * 12, len(y), 288)
    plain = Calibrated(ZScore(halflife=5000.0), cooldown=100).score_many(y, t)
    recur = Calibrated(ZScore(halflife=5000.0), cooldown=100, recur_days=3).score_many(y, t)
    assert (plain[spikes[4:]] > 2.0).all()  # the tail probability never learns the clock
    assert (recur[spikes[1:]] == 0.0).all()  # silenced from the second day on
    assert recur[9 * 288 + 14 * 12] > 2.0  # the same spike at an unusual hour still alerts
    y[9 * 288 + 2 * 12] += 30.0  # and one far larger than usual at the usual hour
    recur = Calibrated(ZScore(halflife=5000.0), cooldown=100, recur_days=3).score_many(y, t)
    assert recur[9 * 288 + 2 * 12] > 2.0


def test_recurrence_keeps_a_bounded_clock_and_scores_many_as_one_by_one() -> None:
    from modelphase.anomaly import Calibrated

    y, t = _daily_spikes(30, 7.5)
    d = Calibrated(ZScore(halflife=5000.0), cooldown=100, recur_days=3)
    many = d.score_many(y, t)
    assert len(d.slots_) <= d.keep_ + 8 < 3 * 96 + 20
    slow = _one_by_one(Calibrated(ZScore(halflife=5000.0), cooldown=100, recur_days=3), y, t)
    np.testing.assert_array_equal(many, slow)
    # without times the rule is off
    assert (Calibrated(ZScore(halflife=5000.0), cooldown=100, recur_days=3).score_many(y) > 2).any()
