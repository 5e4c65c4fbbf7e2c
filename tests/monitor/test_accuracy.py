"""Accuracy as actuals arrive: logged forecasts joined with later telemetry, with late
and bad actuals counted, and the metrics equal to the reference functions."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from modelphase.backtest.metrics import interval_pinball, mase_scale, smape
from modelphase.decisions.records import COLUMNS, DecisionRecord
from modelphase.frame import Panel
from modelphase.monitor import (
    JoinCounts,
    accuracy,
    alert_rates,
    forecast_rows,
    join_actuals,
    score_rows,
    series_scales,
)
from modelphase.monitor.accuracy import median_series_mase, residual_drift
from modelphase.monitor.policy import backtest_span_ns
from modelphase.spec import parse_spec

H = 3600 * 10**9
T0 = 1_767_225_600 * 10**9  # 2026-01-01T00:00:00Z


def iso(ns: int) -> str:
    return pd.Timestamp(ns, tz="UTC").isoformat()


def record(
    rid: str,
    version: int,
    alias: str,
    uid: str,
    start: int,
    mean: list[float],
    lo: list[float],
    hi: list[float],
    answered_by: str = "model",
) -> DecisionRecord:
    times = [iso(start + k * H) for k in range(len(mean))]
    return DecisionRecord(
        rid, T0 // 1000, "forecast", "m", version, alias, answered_by, None, "{}",
        json.dumps([{"unique_id": uid, "ds": times, "mean": mean}]),
        json.dumps([{"unique_id": uid, "intervals": {"80": {"lo": lo, "hi": hi}}}]),
        None, 1.0, "ci",
    )  # fmt: skip


def frame(records: list[DecisionRecord]) -> pd.DataFrame:
    return pd.DataFrame([r.to_row() for r in records], columns=list(COLUMNS))


def actuals(values: dict[str, list[float]]) -> Panel:
    return Panel.from_series(
        [
            (uid, T0 + np.arange(len(y)) * H, np.asarray(y, dtype=float))
            for uid, y in values.items()
        ],
        step=H,
    )


def test_rows_join_their_actuals_and_count_the_late_and_the_bad() -> None:
    log = frame(
        [
            record("r1", 1, "production", "a", T0 + 2 * H, [10, 12, 14], [9, 11, 13], [11, 13, 15]),
            record("r2", 1, "production", "b", T0 + 2 * H, [1.0, 2.0], [0, 1], [2, 3]),
        ]
    )  # fmt: skip
    rows = forecast_rows(log)
    assert len(rows) == 5
    assert rows.loc[rows["unique_id"] == "a", "step"].tolist() == [1, 2, 3]
    assert rows["ds"].iloc[0] == T0 + 2 * H
    truth = actuals({"a": [0, 0, 10.5, 11.0], "b": [0, 0, np.nan, 2.5]})  # a's 3rd is late
    joined, counts = join_actuals(rows, truth)
    assert counts.to_dict() == {"joined": 3, "late": 1, "bad": 1, "unparsed": 0}
    assert joined["y"].tolist() == [10.5, 11.0, 2.5]


def test_metrics_equal_the_reference_functions() -> None:
    rng = np.random.default_rng(0)
    y = 50 + 10 * np.sin(np.arange(48) * 2 * np.pi / 24) + rng.normal(0, 1, 48)
    mean = y[24:] + rng.normal(0, 2, 24)
    lo, hi = mean - 2.5, mean + 2.5
    log = frame(
        [record("r", 2, "production", "s", T0 + 24 * H, mean.tolist(), lo.tolist(), hi.tolist())]
    )
    joined, _ = join_actuals(forecast_rows(log), actuals({"s": y.tolist()}))
    scales = series_scales(actuals({"s": y.tolist()}), 24)
    assert scales["s"] == pytest.approx(mase_scale(y, 24))
    row = accuracy(joined, by=["version"], scales=scales).iloc[0]
    actual = y[24:]
    assert row["n"] == 24
    assert row["mae"] == pytest.approx(np.mean(np.abs(actual - mean)))
    assert row["smape"] == pytest.approx(smape(actual, mean))
    assert row["mase"] == pytest.approx(np.mean(np.abs(actual - mean)) / mase_scale(y, 24))
    assert row["coverage_80"] == pytest.approx(np.mean((actual >= lo) & (actual <= hi)))
    assert row["pinball_80"] == pytest.approx(interval_pinball(actual, lo=lo, hi=hi, level=80))


def test_groups_by_version_alias_and_step_and_marks_the_fallback() -> None:
    log = frame(
        [
            record("r1", 1, "production", "a", T0, [1.0, 1.0], [0, 0], [2, 2]),
            record("r2", 2, "canary", "a", T0, [3.0, 3.0], [2, 2], [4, 4], answered_by="fallback"),
        ]
    )
    joined, _ = join_actuals(forecast_rows(log), actuals({"a": [1.0, 1.0]}))
    table = accuracy(joined, by=["version", "alias", "step"])
    assert table[["version", "alias", "step"]].values.tolist() == [
        [1, "production", 1], [1, "production", 2], [2, "canary", 1], [2, "canary", 2],
    ]  # fmt: skip
    assert table["mae"].tolist() == [0.0, 0.0, 2.0, 2.0]
    assert table["fallback_share"].tolist() == [0.0, 0.0, 1.0, 1.0]


def test_rows_that_cannot_be_read_are_counted_never_raised() -> None:
    log = frame([record("r1", 1, "production", "a", T0, [1.0], [0], [2])])
    log.loc[len(log)] = {**log.iloc[0].to_dict(), "request_id": "r2", "prediction": "not json"}
    log.loc[len(log)] = {
        **log.iloc[0].to_dict(), "request_id": "r3",
        "prediction": '[{"unique_id": "a", "mean": [1.0]}]',  # logged before ds was
    }  # fmt: skip
    counts = JoinCounts()
    rows = forecast_rows(log, counts)
    assert len(rows) == 1
    assert counts.unparsed == 2
    empty, counts = join_actuals(forecast_rows(frame([])), actuals({"a": [1.0]}))
    assert len(empty) == 0
    assert len(accuracy(empty)) == 0


def test_alert_rates_with_labelled_incidents() -> None:
    def scored(rid: str, t_s: int, flags: list[bool]) -> DecisionRecord:
        return DecisionRecord(
            rid, t_s * 10**6, "score", "d", 1, "production", "model", None, "{}", "[]",
            None, json.dumps({"anomalies": flags, "threshold": 3.0}), 1.0, None,
        )  # fmt: skip

    log = frame(
        [scored("s1", 100, [False, True]), scored("s2", 200, [False, False]),
         scored("s3", 900, [True, True])]
    )  # fmt: skip
    rows = score_rows(log)
    assert rows["points"].tolist() == [2, 2, 2]
    assert rows["flagged"].tolist() == [1, 0, 2]
    table = alert_rates(
        rows, by=["version"], incidents=[(50 * 10**6, 150 * 10**6), (10**9, 2 * 10**9)]
    )
    row = table.iloc[0]
    assert row["flag_rate"] == pytest.approx(3 / 6)
    assert row["precision"] == pytest.approx(1 / 2)  # s1 in an incident, s3 not
    assert row["recall"] == pytest.approx(1 / 2)  # the second incident has no flag


def test_the_trigger_is_the_median_series_so_one_series_incident_does_not_move_it() -> None:
    rng = np.random.default_rng(0)
    ids = [f"s{i}" for i in range(5)]
    rows = pd.DataFrame(
        {
            "unique_id": np.repeat(ids, 40),
            "y": rng.normal(10.0, 1.0, 200),
            "request_id": np.repeat([f"r{i}" for i in range(20)], 10),
        }
    )
    rows["yhat"] = rows["y"] + np.tile(np.r_[np.full(20, 0.5), np.full(20, -0.5)], 5)
    scales = dict.fromkeys(ids, 0.5)
    assert median_series_mase(rows, scales) == (pytest.approx(1.0), 5)
    incident = rows.copy()
    incident.loc[incident["unique_id"] == "s0", "yhat"] += 100.0  # one series, way off
    assert median_series_mase(incident, scales)[0] == pytest.approx(1.0)
    assert (
        accuracy(incident.assign(answered_by="model"), by=["unique_id"], scales=scales)[
            "mase"
        ].mean()
        > 10
    )  # the pooled MASE is dominated by it
    most = rows.copy()
    most.loc[most["unique_id"].isin(["s0", "s1", "s2"]), "yhat"] += 3.0  # most series off
    assert median_series_mase(most, scales)[0] > 4.0
    unscaled = {**scales, "s4": float("nan")}  # a series without a scale is left out
    assert median_series_mase(rows, unscaled)[1] == 4
    empty, none = median_series_mase(rows.iloc[:0], scales)
    assert np.isnan(empty)
    assert none == 0


def test_a_retrain_waits_for_the_span_its_backtest_scores() -> None:
    spec = parse_spec(
        "name: m\nkind: forecast\ntarget: {dataset: abc}\nfrequency: 5m\nhorizon: 12\n"
        "backtest: {windows: 3, step: 12}\n"
    )
    assert backtest_span_ns(spec) == 36 * 300 * 10**9  # 2 steps of 12 and a horizon: 3 h
    gap = parse_spec(
        "name: m\nkind: forecast\ntarget: {dataset: abc}\nfrequency: 1m\nhorizon: 60\n"
        "backtest: {windows: 2, gap: 5}\n"
    )
    assert backtest_span_ns(gap) == (60 + 60 + 5) * 60 * 10**9  # step defaults to horizon


def test_residual_drift_compares_the_recent_residuals_with_the_earlier_ones() -> None:
    rng = np.random.default_rng(1)

    def window(n: int, bias: float) -> pd.DataFrame:
        y = rng.normal(10.0, 1.0, n)
        return pd.DataFrame({"unique_id": "s", "y": y, "yhat": y - bias - rng.normal(0.0, 0.5, n)})

    scales = {"s": 0.5}
    earlier = window(400, 0.0)
    moved = residual_drift(window(200, 1.0), earlier, scales)
    assert moved is not None
    assert moved["drifted"]
    assert moved["bias"] == pytest.approx(2.0, abs=0.3)  # 1.0 over a scale of 0.5
    assert abs(moved["reference_bias"]) < 0.2
    assert moved["effect_size"] > 1.0
    same = residual_drift(window(200, 0.0), earlier, scales)
    assert same is not None
    assert not same["drifted"]
    assert residual_drift(window(10, 1.0), earlier, scales) is None  # too few to say
