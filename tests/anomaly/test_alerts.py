"""Alerts: explanations of hand-made streams whose answer is known, episodes built
online with their cool-down, grouping across series by labels, and a simulated fleet
whose injected incidents are found."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from modelphase.anomaly import (
    PATTERNS,
    Alert,
    Alerter,
    Decision,
    Episode,
    EpisodeTracker,
    Explanation,
    FixedThreshold,
    ZScore,
    detect_alerts,
    explain,
    group_episodes,
)
from modelphase.backtest import score_alerts, service_days
from modelphase.exceptions import SpecError, ValidationError
from modelphase.frame import Panel
from modelphase.simulate import simulate

MIN = 60 * 10**9
HOUR = 60 * MIN
DAY = 24 * HOUR


def _noise(n: int, seed: int = 0, sd: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, sd, n)


def _flat_history(days: float = 2.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    n = int(days * 1440)
    return np.arange(n, dtype=np.int64) * MIN, 10.0 + _noise(n, seed)


def _window(values: np.ndarray, first: int) -> np.ndarray:
    return (first + np.arange(len(values), dtype=np.int64)) * MIN


# ---------------------------------------------------------------- explanations


def test_a_lasting_shift_is_a_level_with_its_expected_value_and_range() -> None:
    bt, bx = _flat_history()
    wx = 18.0 + _noise(120, seed=1)
    wt = _window(wx, len(bt))
    e = explain(bt, bx, wt, wx, peak=int(wt[0]))
    assert e.pattern == "level", e.reason
    assert e.baseline == "day"
    assert e.expected == pytest.approx(10.0, abs=0.15)
    assert e.spread == pytest.approx(1.0, abs=0.1)
    assert (e.lower, e.upper) == pytest.approx(
        (e.expected - 3 * e.spread, e.expected + 3 * e.spread)
    )
    assert e.observed == wx[0]
    assert e.deviation_spreads == pytest.approx((wx[0] - e.expected) / e.spread)
    assert e.deviation_ratio == pytest.approx((wx[0] - e.expected) / e.expected)
    assert e.at == wt[0]


@pytest.mark.parametrize(("jolt", "pattern"), [(25.0, "spike"), (-5.0, "dip")])
def test_a_single_jolt_is_a_spike_or_a_dip(jolt: float, pattern: str) -> None:
    bt, bx = _flat_history()
    wx = np.concatenate([[jolt], 10.0 + _noise(90, seed=2)])
    wt = _window(wx, len(bt))
    e = explain(bt, bx, wt, wx, peak=int(wt[0]))
    assert e.pattern == pattern, e.reason
    assert math.copysign(1.0, e.deviation) == math.copysign(1.0, jolt - 10.0)


def test_a_spread_that_grows_without_a_level_change_is_variance() -> None:
    bt, bx = _flat_history()
    wx = np.concatenate([10.0 + _noise(60, seed=3, sd=6.0), 10.0 + _noise(60, seed=4)])
    wt = _window(wx, len(bt))
    peak = int(wt[np.argmax(np.abs(wx - 10.0))])
    e = explain(bt, bx, wt, wx, peak=peak)
    assert e.pattern == "variance", e.reason


def test_a_deviation_that_keeps_growing_is_a_trend() -> None:
    bt, bx = _flat_history()
    wx = 10.0 + np.linspace(0.0, 15.0, 180) + _noise(180, seed=5)
    wt = _window(wx, len(bt))
    peak = int(wt[np.argmax(wx > 14.0)])  # where a detector would see it first
    e = explain(bt, bx, wt, wx, peak=peak)
    assert e.pattern == "trend", e.reason


def _daily(n: int, first: int = 0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A day-long wave between 5 and 15 (15 at 06:00, 5 at 18:00), little noise."""
    t = (first + np.arange(n, dtype=np.int64)) * MIN
    phase = 2 * np.pi * (t % DAY) / DAY
    return t, 10.0 + 5.0 * np.sin(phase) + _noise(n, seed, sd=0.2)


def test_normal_for_the_day_but_wrong_for_its_time_is_seasonality() -> None:
    start = 3 * 1440 + 17 * 60  # 17:00 on day 4, near the daily low of 5
    bt, bx = _daily(start)
    wt, _ = _daily(120, first=start)
    wx = 13.0 + _noise(120, seed=6, sd=0.2)  # a value the day has, at the wrong hour
    e = explain(bt, bx, wt, wx, peak=int(wt[0]))
    assert e.baseline == "time_of_day"
    assert e.pattern == "seasonality", e.reason
    assert e.expected == pytest.approx(10.0 + 5.0 * np.sin(2 * np.pi * 17 / 24), abs=0.3)


def test_a_shift_beyond_the_days_range_is_a_level_even_on_a_seasonal_series() -> None:
    start = 3 * 1440 + 17 * 60
    bt, bx = _daily(start)
    wt, wx = _daily(120, first=start, seed=7)
    e = explain(bt, bx, wt, wx + 20.0, peak=int(wt[0]))
    assert e.baseline == "time_of_day"
    assert e.pattern == "level", e.reason


def test_a_peak_inside_the_range_is_none_and_too_little_history_too() -> None:
    bt, bx = _flat_history()
    wx = np.array([11.0, 10.0, 9.5])
    wt = _window(wx, len(bt))
    assert explain(bt, bx, wt, wx, peak=int(wt[0])).pattern == "none"
    short = explain(bt[:5], bx[:5], wt, wx, peak=int(wt[0]))
    assert short.pattern == "none"
    assert math.isnan(short.expected)
    assert short.to_dict()["expected"] is None
    assert set(PATTERNS) >= {"level", "spike", "dip", "variance", "trend", "seasonality"}


# ---------------------------------------------------------------- episodes


def _feed(
    tracker: EpisodeTracker,
    values: np.ndarray,
    flagged: set[int],
    scores: dict[int, float],
    close: bool = True,
) -> list[Episode]:
    out = []
    for i, x in enumerate(values.tolist()):
        episode = tracker.update(
            i * MIN, x, i in flagged, scores.get(i, 5.0 if i in flagged else 0.0)
        )
        if episode is not None:
            out.append(episode)
    last = tracker.close() if close else None
    return out + ([last] if last is not None else [])


def test_the_cooldown_merges_two_bursts_and_splits_distant_ones() -> None:
    values = 10.0 + _noise(3000, seed=8)
    near = _feed(EpisodeTracker("a", cooldown="1h"), values, {2000, 2001, 2030}, {2030: 7.0})
    assert [(e.start, e.end, e.n_flagged, e.peak, e.peak_score) for e in near] == [
        (2000 * MIN, 2030 * MIN, 3, 2030 * MIN, 7.0)
    ]
    far = _feed(EpisodeTracker("a", cooldown="1h"), values, {2000, 2090}, {})
    assert [(e.start, e.end) for e in far] == [(2000 * MIN, 2000 * MIN), (2090 * MIN, 2090 * MIN)]
    exactly = _feed(EpisodeTracker("a", cooldown="1h"), values, {2000, 2060}, {})
    assert len(exactly) == 2  # an hour apart is not "less than the cooldown"


def test_an_episode_closes_at_the_first_point_a_cooldown_after_its_last_flag() -> None:
    tracker = EpisodeTracker("a", {"service": "cart"}, cooldown=10 * MIN)
    for i in range(100):
        assert tracker.update(i * MIN, 10.0, False) is None
    assert tracker.update(100 * MIN, 30.0, Decision(9.0, 3.0, True)) is None
    for i in range(101, 110):
        assert tracker.update(i * MIN, 10.0, False) is None
    episode = tracker.update(110 * MIN, 10.0, False)
    assert episode is not None
    assert (episode.start, episode.peak_score, episode.service) == (100 * MIN, 9.0, "cart")
    assert tracker.close() is None


def test_a_missing_value_never_opens_an_episode() -> None:
    values = np.full(200, 10.0)
    values[150] = np.nan
    assert _feed(EpisodeTracker("a"), values, {150}, {}) == []


def test_state_is_bounded() -> None:
    tracker = EpisodeTracker("a", history="1d")
    values = 10.0 + _noise(5 * 1440, seed=9)
    _feed(tracker, values, set(), {})
    assert len(tracker.times_) == 1441
    small = EpisodeTracker("a", max_points=100)
    flags = set(range(1000, 1400))  # a long episode: its window is capped too
    for i, x in enumerate(values[:1300].tolist()):
        small.update(i * MIN, x, i in flags, 5.0)
    assert len(small.times_) == 100
    assert len(small.window_t_) == 100
    episode = small.close()
    assert episode is not None
    assert episode.end == 1299 * MIN


def test_episodes_are_built_online_appending_points_changes_no_closed_episode() -> None:
    values = 10.0 + _noise(4000, seed=10)
    flags = {1500, 1510, 2600, 3900}
    scores = {i: 4.0 + i / 1000 for i in flags}
    full = _feed(EpisodeTracker("a"), values, flags, scores)
    prefix = _feed(EpisodeTracker("a"), values[:2800], flags, scores, close=False)
    assert [(e.start // MIN, e.n_flagged) for e in prefix] == [(1500, 2), (2600, 1)]
    assert [e.to_dict() for e in full[:2]] == [e.to_dict() for e in prefix]
    assert len(full) == 3


def test_bad_settings_are_clear_errors() -> None:
    with pytest.raises(ValidationError, match="duration"):
        EpisodeTracker(cooldown="soon")
    with pytest.raises(ValidationError, match="cooldown"):
        EpisodeTracker(cooldown=-5)
    with pytest.raises(ValidationError, match="band"):
        EpisodeTracker(band=0)


# ---------------------------------------------------------------- grouping


def _explained(spreads: float, pattern: str = "level") -> Explanation:
    return Explanation(0, 10.0 + spreads, 10.0, 7.0, 13.0, 1.0, "day", spreads, spreads,
                       spreads / 10.0, pattern, "hand-made")  # fmt: skip


def _ep(uid: str, service: str | None, start: int, end: int, spreads: float = 5.0) -> Episode:
    labels = {"__name__": uid} | ({"service": service} if service else {})
    return Episode(uid, start * MIN, end * MIN, start * MIN, 4.0, 1, _explained(spreads), labels)


def test_metrics_of_one_service_in_one_incident_are_one_alert_lead_first() -> None:
    alerts = group_episodes(
        [
            _ep("p99", "cart", 100, 110, spreads=6.0),
            _ep("cpu", "cart", 105, 105, spreads=9.0),
            _ep("errors", "cart", 150, 150, spreads=4.0),  # 40 minutes after the end: joins
            _ep("cpu", "search", 100, 100),  # another service
            _ep("p99", "cart", 300, 300),  # later: a new alert
            _ep("up", None, 100, 100),  # no service label: its own group
        ]
    )
    shape = [(a.group, a.start // MIN, a.end // MIN, a.unique_ids) for a in alerts]
    assert shape == [
        ({"service": "cart"}, 100, 150, ("cpu", "p99", "errors")),
        ({"service": "search"}, 100, 100, ("cpu",)),
        ({"unique_id": "up"}, 100, 100, ("up",)),
        ({"service": "cart"}, 300, 300, ("p99",)),
    ]
    cart = alerts[0]
    assert cart.explanation.deviation_spreads == 9.0  # the lead deviates most
    assert (cart.service, cart.pattern, cart.peak) == ("cart", "level", 105 * MIN)
    data = json.loads(json.dumps(cart.to_dict()))
    assert data["service"] == "cart"
    assert [m["unique_id"] for m in data["members"]] == ["cpu", "p99", "errors"]
    assert data["explanation"]["unique_id"] == "cpu"
    assert data["start"] == "1970-01-01T01:40:00Z"


def test_grouping_by_other_labels() -> None:
    episodes = [_ep("p99", "cart", 100, 100), _ep("p99", "search", 100, 100)]
    by_name = group_episodes(episodes, group_by=("__name__",))
    assert [a.group for a in by_name] == [{"__name__": "p99"}]
    assert by_name[0].service == ""  # the members have two services
    assert len(group_episodes(episodes, cooldown="1m")) == 2


def _panel(series: dict[str, np.ndarray]) -> Panel:
    t = np.arange(len(next(iter(series.values()))), dtype=np.int64) * MIN
    return Panel.from_series([(uid, t, y) for uid, y in series.items()], step=MIN)


def test_detect_alerts_groups_one_service_and_keeps_services_apart() -> None:
    n = 3000
    shift = np.where(np.arange(n) >= 2500, 20.0, 0.0)
    panel = _panel(
        {
            'cpu_usage_cores{service="cart"}': 10.0 + _noise(n, 1) + shift,
            'http_request_duration_seconds{quantile="0.99",service="cart"}': 5
            + _noise(n, 2)
            + shift,
            'cpu_usage_cores{service="search"}': 10.0 + _noise(n, 3) + shift,
            'memory_usage_bytes{service="search"}': 10.0 + _noise(n, 4),
        }
    )
    seen: list[tuple[int, int]] = []
    alerts = detect_alerts(
        panel, ZScore(halflife=500), FixedThreshold(8.0), progress=lambda d, t: seen.append((d, t))
    )
    assert seen[-1] == (4, 4)
    assert [(a.service, a.start // MIN, len(a.episodes), a.pattern) for a in alerts] == [
        ("cart", 2500, 2, "level"),
        ("search", 2500, 1, "level"),
    ]
    assert all(isinstance(a, Alert) for a in alerts)
    merged = detect_alerts(panel, ZScore(halflife=500), FixedThreshold(8.0), group_by=())
    assert len(merged) == 1  # no grouping label: one group
    assert len(merged[0].episodes) == 3


def test_alerter_parameters_are_plain_json_and_rebuild_it() -> None:
    alerter = Alerter(ZScore(halflife=100), FixedThreshold(5.0), ("service", "job"), "30m")
    params = json.loads(json.dumps(alerter.get_params()))
    assert params["detector"] == {"name": "zscore", "params": {"halflife": 100, "min_periods": 10}}
    assert Alerter(**params).get_params() == params
    assert Alerter(detector={"name": "zscore"}).get_params()["decider"]["params"] == {
        "threshold": 6.0
    }
    with pytest.raises(SpecError, match="unknown decider"):
        Alerter(decider={"name": "Magic"}).get_params()
    with pytest.raises(ValidationError, match="group_by"):
        Alerter(group_by="service").episodes(_panel({"a": np.ones(10)}))
    with pytest.raises(ValidationError, match="duration"):
        Alerter(cooldown="an hour").run(_panel({"a": np.ones(10)}))


# ---------------------------------------------------------------- the simulated fleet


def test_the_default_detector_finds_the_injected_incidents() -> None:
    sim = simulate(services=3, days=7, seed=0)
    alerts = detect_alerts(sim.panel)
    score = score_alerts(alerts, sim.events, service_days=service_days(sim.panel))
    print(score.to_dict())  # precision, delays and false alerts, for the record
    assert score.n_incidents >= 6
    assert score.recall >= 0.5
    assert score.precision > 0.2
    assert all(a.pattern in PATTERNS for a in alerts)
    assert any(len(a.episodes) >= 2 for a in alerts)  # a regression moves p50 and p99


def test_small_deviations_are_not_alerts() -> None:
    """Episodes whose flagged points (the peak included) are all fewer than
    min_deviation robust deviations from the expected value are dropped; 0 keeps them
    all."""

    def size(e: Episode) -> float:
        peak = abs(e.explanation.deviation_spreads)
        return max(peak, e.max_deviation) if e.max_deviation == e.max_deviation else peak

    sim = simulate(services=3, days=7, seed=0)
    every = detect_alerts(sim.panel, min_deviation=0.0)
    kept = detect_alerts(sim.panel)  # the default, 6
    assert 0 < len(kept) < len(every)
    for alert in kept:
        assert max(size(e) for e in alert.episodes) >= 6.0
    dropped = [e for a in every for e in a.episodes if size(e) < 6.0]
    assert dropped
