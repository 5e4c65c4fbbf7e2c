"""Triage over labelled series (:mod:`modelphase.decide.triage_input`): instances
averaged per service and metric, instances that come and go, metrics on different
steps, series without a service label, thousands of series, and the window."""

from __future__ import annotations

import numpy as np
import pytest

from modelphase.decide.triage_input import triage_panel, wide_from_panel
from modelphase.exceptions import ValidationError
from modelphase.frame import NS_PER_SECOND, Panel, series_id

MIN = 60 * NS_PER_SECOND
T0 = 1_767_225_600 * NS_PER_SECOND
AT = T0 + 180 * MIN


def _uid(name: str, **labels: str) -> str:
    return series_id({"__name__": name, **labels})


def test_instances_are_averaged_and_may_come_and_go() -> None:
    rng = np.random.default_rng(0)
    t = T0 + MIN * np.arange(240, dtype=np.int64)
    old = 10 + rng.standard_normal(240)
    # pod a serves until the incident; pod b replaces it then and is slow
    items = [
        (_uid("latency", service="cart", pod="a"), t[:180], old[:180]),
        (_uid("latency", service="cart", pod="b"), t[180:], old[180:] + 20),
        (_uid("latency", service="db", pod="x"), t, 10 + rng.standard_normal(240)),
    ]
    result = triage_panel(Panel.from_series(items), AT)
    # per pod there is no evidence (a has no anomalous period, b no normal one); the
    # service's mean has both
    assert [s.service for s in result.ranking] == ["cart", "db"]
    assert result.ranking[0].metric == "latency"
    assert result.ranking[0].score > 10
    assert result.ranking[0].changed_at == AT / NS_PER_SECOND


def test_metrics_on_different_steps_need_no_resampling() -> None:
    rng = np.random.default_rng(1)
    fine = T0 + 15 * NS_PER_SECOND * np.arange(4 * 240, dtype=np.int64)
    coarse = T0 + 5 * MIN * np.arange(48, dtype=np.int64)
    slow = 1 + 0.01 * rng.standard_normal(len(coarse))
    slow[coarse >= AT] += 1.0  # the 5-minute metric is the one that moved
    items = [
        (_uid("cpu", service="api"), fine, 1 + 0.01 * rng.standard_normal(len(fine))),
        (_uid("disk_used", service="db"), coarse, slow),
    ]
    frame, names = wide_from_panel(Panel.from_series(items))
    assert len(frame) == len(np.union1d(fine, coarse))
    assert frame["c1"].notna().sum() == len(coarse)
    result = triage_panel(Panel.from_series(items), AT)
    assert result.ranking[0].service == "db"
    assert names == [("api", "cpu"), ("db", "disk_used")]


def test_other_labels_name_the_metric_and_a_series_without_service_is_its_own() -> None:
    t = T0 + MIN * np.arange(10, dtype=np.int64)
    items = [
        (_uid("errors", service="cart", code="500", pod="a"), t, np.ones(10)),
        (_uid("errors", service="cart", code="200", pod="a"), t, np.ones(10)),
        (_uid("up", job="node"), t, np.ones(10)),
    ]
    _, names = wide_from_panel(Panel.from_series(items))
    assert names == [("cart", 'errors{code="200"}'), ("cart", 'errors{code="500"}'),
                     ("up", 'up{job="node"}')]  # fmt: skip
    _, by_job = wide_from_panel(Panel.from_series(items), service_label="job")
    assert by_job[2] == ("node", "up")


def test_thousands_of_series_with_nan_runs_and_constant_metrics() -> None:
    rng = np.random.default_rng(2)
    t = T0 + MIN * np.arange(240, dtype=np.int64)
    items = []
    for i in range(1000):
        for metric in ("cpu", "latency", "errors"):
            y = 1 + 0.1 * rng.standard_normal(240)
            if metric == "errors":
                y = np.zeros(240)  # constant: no evidence
            if i % 7 == 0:
                y[50:90] = np.nan  # a scrape gap
            if i == 613 and metric == "latency":
                y[180:] += 3.0
            items.append((_uid(metric, service=f"svc{i:04d}", pod="p"), t, y))
    result = triage_panel(Panel.from_series(items), AT)
    assert len(result.ranking) == 1000
    assert result.ranking[0].service == "svc0613"
    assert all(np.isfinite(s.score) for s in result.metrics)


def test_the_window_and_its_errors() -> None:
    t = T0 + MIN * np.arange(240, dtype=np.int64)
    panel = Panel.from_series([(_uid("cpu", service="a"), t, np.arange(240.0))])
    result = triage_panel(panel, AT, before=30 * MIN, after=5 * MIN)
    assert (result.n_normal, result.n_anomalous) == (30, 6)
    with pytest.raises(ValidationError, match="no row before it"):
        triage_panel(panel, T0, before=30 * MIN)
    with pytest.raises(ValidationError, match="expected samples in the window"):
        triage_panel(panel, T0 + 10_000 * MIN)
    with pytest.raises(ValidationError, match="positive durations"):
        triage_panel(panel, AT, before=0)
