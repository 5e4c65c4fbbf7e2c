"""Features: training and serving agree, no look-ahead, specs round-trip."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from modelphase.exceptions import ValidationError
from modelphase.features import (
    DayOfWeek,
    Feature,
    FeatureSet,
    HourOfDay,
    Lag,
    MinuteOfHour,
    RollingMax,
    RollingMean,
    RollingMin,
    RollingStd,
)
from modelphase.frame import Panel

STEP = 15 * 60 * 10**9  # 15 minutes
T0 = 1_700_000_000 * 10**9


def _same(a: NDArray[np.float64], b: NDArray[np.float64]) -> bool:
    return bool(np.array_equal(a, b, equal_nan=True))


windows = st.integers(1, 6)
lags = st.integers(1, 4)
features_st: st.SearchStrategy[Feature] = st.one_of(
    st.builds(Lag, st.integers(1, 8)),
    st.builds(RollingMean, windows, lags),
    st.builds(RollingStd, st.integers(2, 6), lags),
    st.builds(RollingMin, windows, lags),
    st.builds(RollingMax, windows, lags),
    st.just(HourOfDay()),
    st.just(DayOfWeek()),
    st.just(MinuteOfHour()),
)
feature_sets = st.lists(features_st, min_size=1, max_size=6, unique_by=lambda f: f.name).map(
    lambda fs: FeatureSet(tuple(fs))
)
values = st.one_of(st.just(np.nan), st.floats(-1e6, 1e6, allow_nan=False))
series_values = st.lists(values, min_size=0, max_size=40)


def _panel(ys: list[list[float]], start: int = T0) -> Panel:
    items = [
        (f"s{i}", start + np.arange(len(y), dtype=np.int64) * STEP, np.array(y, np.float64))
        for i, y in enumerate(ys)
    ]
    return Panel.from_series(items, step=STEP)


@settings(max_examples=150, deadline=None)
@given(feature_sets, st.lists(series_values, min_size=1, max_size=3))
def test_training_rows_equal_serving_rows(fs: FeatureSet, ys: list[list[float]]) -> None:
    panel = _panel(ys)
    x, names = fs.transform(panel)
    assert names == fs.names
    assert x.shape == (panel.n_points, len(fs.features))
    for s in range(panel.n_series):
        lo, hi = int(panel.indptr[s]), int(panel.indptr[s + 1])
        ds, y = panel.ds[lo:hi], panel.y[lo:hi]
        for i in range(fs.max_lookback, hi - lo):
            served = fs.transform_last(ds[:i], y[:i], int(ds[i]))
            assert _same(served, x[lo + i]), (s, i)


@settings(max_examples=100, deadline=None)
@given(feature_sets, st.lists(series_values, min_size=1, max_size=3))
@example(FeatureSet((Lag(1),)), [[np.nan], [np.nan, 0.0], []])  # an empty series last
def test_next_rows_equal_serving_rows(fs: FeatureSet, ys: list[list[float]]) -> None:
    panel = _panel(ys)
    x, _ = fs.transform_next(panel)
    assert x.shape == (panel.n_series, len(fs.features))
    for s in range(panel.n_series):
        lo, hi = int(panel.indptr[s]), int(panel.indptr[s + 1])
        if hi - lo >= fs.max_lookback and hi > lo:
            served = fs.transform_last(
                panel.ds[lo:hi], panel.y[lo:hi], int(panel.ds[hi - 1]) + STEP
            )
            assert _same(served, x[s])


@settings(max_examples=100, deadline=None)
@given(feature_sets, series_values.filter(len), st.data())
def test_a_row_never_sees_its_own_or_later_values(
    fs: FeatureSet, y: list[float], data: st.DataObject
) -> None:
    i = data.draw(st.integers(0, len(y) - 1))
    changed = list(y)
    for j in range(i, len(y)):
        changed[j] = data.draw(values)
    before, _ = fs.transform(_panel([y]))
    after, _ = fs.transform(_panel([changed]))
    assert _same(before[: i + 1], after[: i + 1])


@settings(max_examples=100, deadline=None)
@given(feature_sets, series_values, series_values, values)
def test_series_never_read_each_other(
    fs: FeatureSet, first: list[float], second: list[float], fill: float
) -> None:
    alone, _ = fs.transform(_panel([second]))
    together, _ = fs.transform(_panel([first, second]))
    other, _ = fs.transform(_panel([[fill] * len(first), second]))
    assert _same(together[len(first) :], alone)
    assert _same(other[len(first) :], alone)


def test_values_by_hand() -> None:
    y = [1.0, 2.0, np.nan, 4.0, 5.0, 7.0]
    fs = FeatureSet(
        (
            Lag(2),
            RollingMean(3),
            RollingStd(3),
            RollingMin(3, lag=2),
            RollingMax(2, min_periods=2),
        )
    )
    x, names = fs.transform(_panel([y]))
    assert names == [
        "lag_2",
        "rolling_mean_3",
        "rolling_std_3",
        "rolling_min_3_lag_2",
        "rolling_max_2",
    ]
    nan = np.nan
    expected = np.array(
        [
            [nan, nan, nan, nan, nan],
            [nan, 1.0, nan, nan, nan],
            [1.0, 1.5, np.std([1.0, 2.0], ddof=1), 1.0, 2.0],
            [2.0, 1.5, np.std([1.0, 2.0], ddof=1), 1.0, nan],
            [nan, 3.0, np.std([2.0, 4.0], ddof=1), 1.0, nan],
            [4.0, 4.5, np.std([4.0, 5.0], ddof=1), 2.0, 5.0],
        ]
    )
    np.testing.assert_allclose(x, expected, rtol=1e-12)


def test_rolling_matches_pandas() -> None:
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(3)
    y = rng.normal(size=300)
    y[rng.random(300) < 0.2] = np.nan
    fs = FeatureSet((RollingMean(12), RollingStd(12), RollingMin(12, lag=3), RollingMax(12)))
    x, _ = fs.transform(_panel([y.tolist()]))
    s = pd.Series(y)
    expected = np.column_stack(
        [
            s.shift(1).rolling(12, min_periods=6).mean(),
            s.shift(1).rolling(12, min_periods=6).std(),
            s.shift(3).rolling(12, min_periods=6).min(),
            s.shift(1).rolling(12, min_periods=6).max(),
        ]
    )
    np.testing.assert_allclose(x, expected, rtol=1e-9, atol=1e-12)


def test_calendar_fields_are_read_in_utc() -> None:
    # 2024-03-04 is a Monday; points at 23:45, 00:00 (Tuesday), 00:15 UTC
    ds = np.datetime64("2024-03-04T23:45", "ns").astype(np.int64) + np.arange(3) * STEP
    panel = Panel.from_series([("a", ds, np.zeros(3))], step=STEP)
    x, _ = FeatureSet((HourOfDay(), DayOfWeek(), MinuteOfHour())).transform(panel)
    assert x.tolist() == [[23, 0, 45], [0, 1, 0], [0, 1, 15]]
    sunday = np.datetime64("1969-12-28T05:00", "ns").astype(np.int64)  # before the epoch
    row = FeatureSet((HourOfDay(), DayOfWeek())).transform_last(
        np.empty(0, np.int64), np.empty(0), int(sunday)
    )
    assert row.tolist() == [5, 6]


def test_parse_the_short_syntax() -> None:
    fs = FeatureSet.parse(
        {
            "lags": [1, 2, 24],
            "rolling_mean": [24],
            "rolling_std": [24],
            "calendar": ["hour_of_day", "day_of_week"],
        }
    )
    assert fs.names == [
        "lag_1",
        "lag_2",
        "lag_24",
        "rolling_mean_24",
        "rolling_std_24",
        "hour_of_day",
        "day_of_week",
    ]
    assert fs.max_lookback == 24


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"lag": [1]}, "expected some of"),
        ({"lags": 1}, "to be a list"),
        ({"lags": [0]}, "positive integer"),
        ({"lags": [1.5]}, "positive integer"),
        ({"lags": [True]}, "positive integer"),
        ({"rolling_mean": ["24"]}, "positive integer"),
        ({"calendar": ["month"]}, "hour_of_day"),
        ({"lags": [1, 1]}, "more than once"),
    ],
)
def test_parse_refuses_what_it_does_not_know(spec: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        FeatureSet.parse(spec)


def test_from_dict_refuses_unknown_kinds_and_keys() -> None:
    with pytest.raises(ValidationError, match="expected one of"):
        FeatureSet.from_dict({"features": [{"kind": "ewm", "alpha": 0.5}]})
    with pytest.raises(ValidationError, match="unknown key"):
        FeatureSet.from_dict({"features": [{"kind": "lag", "k": 1, "window": 3}]})
    with pytest.raises(ValidationError, match="single key 'features'"):
        FeatureSet.from_dict({"lags": [1]})
    with pytest.raises(ValidationError, match="min_periods"):
        RollingMean(3, min_periods=4)


@settings(max_examples=100)
@given(feature_sets)
def test_specs_round_trip_through_json(fs: FeatureSet) -> None:
    text = json.dumps(fs.to_dict())
    assert FeatureSet.from_dict(json.loads(text)) == fs


def test_serving_refuses_a_short_or_broken_window() -> None:
    fs = FeatureSet((Lag(3),))
    ds = T0 + np.arange(5, dtype=np.int64) * STEP
    y = np.arange(5.0)
    with pytest.raises(ValidationError, match="at least 3 points"):
        fs.transform_last(ds[:2], y[:2], int(ds[2]))
    with pytest.raises(ValidationError, match="regular grid"):
        fs.transform_last(ds[:4], y[:4], int(ds[4]) + STEP)
    with pytest.raises(ValidationError, match="regular grid"):
        fs.transform_last(ds[[0, 1, 3]], y[[0, 1, 3]], int(ds[4]))
    assert fs.transform_last(ds, y, int(ds[4]) + STEP).tolist() == [2.0]


def test_training_needs_a_panel_on_its_grid() -> None:
    panel = Panel.from_series([("a", np.arange(3, dtype=np.int64), np.zeros(3))])
    with pytest.raises(ValidationError, match="regular grid"):
        FeatureSet((Lag(1),)).transform(panel)


@settings(max_examples=100, deadline=None)
@given(feature_sets, st.lists(series_values, min_size=1, max_size=3), st.data())
def test_recursion_rows_equal_next_rows_step_after_step(
    fs: FeatureSet, ys: list[list[float]], data: st.DataObject
) -> None:
    """The running sums of a recursive forecast give transform_next's rows, to rounding,
    at every step, with gaps and values pushed back."""
    width = max(fs.max_lookback, 1)
    tail = np.full((len(ys), width), np.nan)
    for i, y in enumerate(ys):
        kept = np.array(y[-width:], np.float64)
        tail[i, width - len(kept) :] = kept
    last = T0 + (width - 1) * STEP + np.arange(len(ys), dtype=np.int64) * STEP
    h = data.draw(st.integers(1, 8))
    pushed = data.draw(
        st.lists(st.lists(values, min_size=len(ys), max_size=len(ys)), min_size=h, max_size=h)
    )
    steps = fs.recursion(tail, last, STEP, h)
    history = tail
    for k in range(h):
        ds = (last[:, None] - (history.shape[1] - 1 - np.arange(history.shape[1])) * STEP).ravel()
        indptr = np.arange(len(ys) + 1, dtype=np.int64) * history.shape[1]
        expected, _ = fs.transform_next(Panel(_ids(len(ys)), indptr, ds, history.ravel(), STEP))
        got = steps.next_rows()
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-6)
        assert np.array_equal(np.isnan(got), np.isnan(expected))
        new = np.array(pushed[k], np.float64)
        steps.push(new)
        history = np.concatenate([history, new[:, None]], axis=1)
        last = last + STEP
    with pytest.raises(ValidationError, match="pushes"):
        steps.push(np.zeros(len(ys)))


def _ids(n: int) -> list[str]:
    return [f"s{i}" for i in range(n)]
