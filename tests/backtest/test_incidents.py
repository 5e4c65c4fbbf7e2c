"""Alerts against known incidents, on hand-made cases whose scores are counted by hand."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np
import pytest

from modelphase.backtest import IncidentScore, Window, score_alerts, service_days
from modelphase.exceptions import ValidationError
from modelphase.frame import Panel

MIN = 60 * 10**9
HOUR = 60 * MIN


def _w(service: str, start_min: int, end_min: int, *ids: str) -> Window:
    return Window(service, start_min * MIN, end_min * MIN, tuple(ids))


def test_precision_recall_delay_and_false_alerts_counted_by_hand() -> None:
    incidents = [
        _w("cart", 100, 200),  # found 10 minutes in, and again later
        _w("search", 500, 520),  # found 30 minutes in
        _w("auth", 900, 960),  # missed: the only auth alert is too late
    ]
    alerts = [
        _w("cart", 110, 115),
        _w("cart", 150, 150),
        _w("search", 530, 540),
        _w("auth", 1100, 1100),  # false: 140 minutes after the end
        _w("cart", 700, 700),  # false
    ]
    s = score_alerts(alerts, incidents, service_days=5.0)
    assert isinstance(s, IncidentScore)
    assert (s.n_alerts, s.true_alerts, s.false_alerts) == (5, 3, 2)
    assert (s.n_incidents, s.detected) == (3, 2)
    assert s.precision == pytest.approx(3 / 5)
    assert s.recall == pytest.approx(2 / 3)
    assert s.delay_median_minutes == pytest.approx(20.0)
    assert s.delay_p90_minutes == pytest.approx(28.0)  # 10 and 30: numpy's linear p90
    assert s.false_alerts_per_service_day == pytest.approx(0.4)
    assert s.alert_matches == ((0,), (0,), (1,), (), ())
    assert s.incident_delays == (10 * MIN, 30 * MIN, None)
    data = json.loads(json.dumps(s.to_dict()))
    assert data["precision"] == pytest.approx(0.6)
    assert "alert_matches" not in data


def test_tolerance_reaches_either_side_of_the_incident() -> None:
    incidents = [_w("cart", 100, 200)]
    just_after = [_w("cart", 230, 240)]
    assert score_alerts(just_after, incidents).recall == 1.0  # within the default hour
    assert score_alerts(just_after, incidents, tolerance=10 * MIN).recall == 0.0
    early = score_alerts([_w("cart", 60, 70)], incidents)
    assert early.recall == 1.0
    assert early.incident_delays == (0,)  # an alert already open detects it at once
    assert score_alerts([_w("cart", 60, 70)], incidents, tolerance=0).recall == 0.0
    around = score_alerts([_w("cart", 50, 300)], incidents, tolerance=0)
    assert around.recall == 1.0  # an alert spanning the incident overlaps it


def test_a_match_needs_the_same_service_or_with_series_a_shared_series() -> None:
    incidents = [_w("cart", 100, 200, "p99{service=cart}")]
    other_service = score_alerts([_w("search", 100, 200)], incidents)
    assert (other_service.true_alerts, other_service.detected) == (0, 0)
    alerts = [_w("cart", 120, 120, "cpu{service=cart}"), _w("cart", 130, 130, "p99{service=cart}")]
    by_service = score_alerts(alerts, incidents)
    by_series = score_alerts(alerts, incidents, match="series")
    assert by_service.alert_matches == ((0,), (0,))
    assert by_series.alert_matches == ((), (0,))
    assert by_series.incident_delays == (30 * MIN,)


@dataclass(frozen=True)
class Event:
    """The simulator's shape: non-incidents (surges, deploys) are left out."""

    service: str
    start: int
    end: int
    unique_ids: tuple[str, ...]
    is_incident: bool


def test_events_that_are_not_incidents_are_left_out() -> None:
    events = [
        Event("cart", 100 * MIN, 160 * MIN, (), False),  # a traffic surge
        Event("cart", 500 * MIN, 600 * MIN, (), True),
    ]
    s = score_alerts([_w("cart", 110, 110)], events)
    assert (s.n_incidents, s.true_alerts, s.detected) == (1, 0, 0)
    assert s.recall == 0.0


def test_nothing_to_score() -> None:
    none = score_alerts([], [_w("cart", 1, 2)])
    assert math.isnan(none.precision)
    assert none.recall == 0.0
    assert none.delay_median_minutes is None
    assert none.to_dict()["precision"] is None
    quiet = score_alerts([_w("cart", 1, 2)], [])
    assert math.isnan(quiet.recall)
    assert quiet.precision == 0.0
    assert quiet.false_alerts_per_service_day is None  # no service-days given


def test_service_days_of_a_panel() -> None:
    t = np.arange(2 * 288, dtype=np.int64) * 5 * MIN  # two days of 5-minute points
    ids = ['cpu{service="cart"}', 'p99{service="cart"}', 'cpu{service="search"}']
    panel = Panel.from_series([(u, t, np.ones(len(t))) for u in ids], step=5 * MIN)
    assert service_days(panel) == pytest.approx(4.0)
    with pytest.raises(ValidationError, match="no series has the label 'team'"):
        service_days(panel, label="team")


def test_bad_arguments_are_clear_errors() -> None:
    with pytest.raises(ValidationError, match="match"):
        score_alerts([], [], match="metric")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="tolerance"):
        score_alerts([], [], tolerance=-1)
    with pytest.raises(ValidationError, match="service_days"):
        score_alerts([], [], service_days=0.0)
