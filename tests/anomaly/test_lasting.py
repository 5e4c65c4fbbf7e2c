"""Episodes that last are explained as lasting, even when the detector flags them once."""

from __future__ import annotations

import numpy as np

from modelphase.anomaly import EpisodeTracker

MIN = 60 * 10**9
HOUR = 60 * MIN


def _hourly(n: int = 14 * 24, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    hour = np.arange(n) % 24
    return 1000.0 * (1 + 0.5 * np.sin(2 * np.pi * (hour - 6) / 24)) * (1 + rng.normal(0, 0.04, n))


def _episodes(tracker: EpisodeTracker, y: np.ndarray, flags: set[int], step: int) -> list:
    out = []
    for i, x in enumerate(y.tolist()):
        e = tracker.update(i * step, x, i in flags, 9.0 if i in flags else 0.0)
        if e is not None:
            out.append(e)
    last = tracker.close()
    return out + ([last] if last is not None else [])


def test_a_three_hour_outage_flagged_once_lasts_three_hours() -> None:
    y = _hourly()
    at = 12 * 24 + 14
    y[at : at + 3] *= 0.2
    [episode] = _episodes(EpisodeTracker("api", cooldown="1h"), y, {at}, HOUR)
    assert (episode.start, episode.end, episode.n_flagged) == (at * HOUR, (at + 2) * HOUR, 1)
    e = episode.explanation
    assert (e.pattern, e.baseline) == ("level", "time_of_day")
    assert "stayed off for 3h" in e.reason
    assert "or more" not in e.reason  # the closing point shows it ended


def test_a_one_hour_spike_is_still_a_spike() -> None:
    y = _hourly()
    at = 10 * 24 + 10
    y[at] *= 2.0
    [episode] = _episodes(EpisodeTracker("cart", cooldown="1h"), y, {at}, HOUR)
    assert episode.end == episode.start
    assert episode.explanation.pattern == "spike"
    assert "one point only" in episode.explanation.reason


def test_a_40_minute_dip_at_5_minutes_lasts_40_minutes() -> None:
    rng = np.random.default_rng(1)
    y = 50.0 + rng.normal(0, 1, 2000)
    y[1500:1508] -= 15.0  # eight points of five minutes
    [episode] = _episodes(EpisodeTracker("db", cooldown="10m"), y, {1500}, 5 * MIN)
    assert episode.end == 1507 * 5 * MIN
    assert "stayed off for 40m" in episode.explanation.reason


def test_a_shift_that_never_ends_closes_after_extend() -> None:
    rng = np.random.default_rng(2)
    y = 50.0 + rng.normal(0, 1, 3000)
    y[1500:] += 20.0
    tracker = EpisodeTracker("db", cooldown="10m", extend="2h")
    [episode] = _episodes(tracker, y, {1500}, MIN)
    assert episode.end == (1500 + 120) * MIN  # the last deviant point within 2 hours
    assert "or more" in episode.explanation.reason


def test_flags_on_noise_are_not_extended() -> None:
    y = 10.0 + np.random.default_rng(3).normal(0, 1, 3000)
    [episode] = _episodes(EpisodeTracker("x", cooldown="1h"), y, {2000}, MIN)
    assert episode.end == episode.start == 2000 * MIN
