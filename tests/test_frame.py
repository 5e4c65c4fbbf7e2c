"""The telemetry frame: identities, durations, the panel, validation and the grid."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelphase.exceptions import (
    DuplicateTimestampError,
    MixedStepError,
    NonFiniteValueError,
    NonMonotonicTimestampError,
    TimestampParseError,
    ValidationError,
)
from modelphase.frame import (
    NS_PER_SECOND,
    Panel,
    check_finite,
    check_order,
    format_duration,
    format_time,
    infer_step,
    label_table,
    parse_duration,
    parse_series_id,
    parse_time,
    series_id,
    to_grid,
)

MIN = 60 * NS_PER_SECOND
T0 = 1_704_067_200 * NS_PER_SECOND  # 2024-01-01T00:00:00Z

legacy_names = st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,12}", fullmatch=True)
label_names = st.one_of(
    st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,10}", fullmatch=True), st.text(min_size=1)
).filter(lambda k: k != "__name__")
metric_names = st.one_of(legacy_names, st.text(min_size=1), st.just(""))


@settings(max_examples=300, deadline=None)
@given(name=metric_names, labels=st.dictionaries(label_names, st.text(), max_size=5))
def test_series_id_round_trips(name: str, labels: dict[str, str]) -> None:
    full = {**labels, "__name__": name}
    uid = series_id(full)
    expected = {k: v for k, v in full.items() if v != ""}
    assert parse_series_id(uid) == expected
    assert series_id(parse_series_id(uid)) == uid


def test_series_id_is_canonical_and_escapes_like_prometheus() -> None:
    uid = series_id({"job": "api", "__name__": "rpc", "path": 'a\\b"c\nd'})
    assert uid == 'rpc{job="api",path="a\\\\b\\"c\\nd"}'
    assert series_id({"b": "2", "a": "1"}) == '{a="1",b="2"}'
    assert series_id({"__name__": "up", "empty": ""}) == "up"
    assert series_id({}) == "{}"


@pytest.mark.parametrize(
    "bad", ['up{job="a"', "up{job=a}", 'up{b="1",a="2"}', "{", 'x{a="1",}', 'up{a="\\q"}', "9x"]
)
def test_parse_series_id_rejects_non_canonical(bad: str) -> None:
    with pytest.raises(ValidationError, match="canonical"):
        parse_series_id(bad)


def test_label_table_lists_every_label() -> None:
    table = label_table(['up{job="a"}', "free form id"])
    assert table.to_dict("records") == [
        {"unique_id": 'up{job="a"}', "label": "__name__", "value": "up"},
        {"unique_id": 'up{job="a"}', "label": "job", "value": "a"},
    ]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("60s", 60), ("5m", 300), ("1h30m", 5400), ("1d", 86400), ("2w", 1209600), ("90", 90)],
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds * NS_PER_SECOND
    assert parse_duration(format_duration(parse_duration(text))) == parse_duration(text)


@pytest.mark.parametrize("bad", ["", "0s", "-5m", "5 minutes", "m5", "1h-", "nan"])
def test_parse_duration_rejects(bad: str) -> None:
    with pytest.raises(ValidationError, match="duration"):
        parse_duration(bad)


def test_times_round_trip() -> None:
    assert parse_time("2024-01-01T00:00:00Z") == T0
    assert parse_time("2024-01-01T01:00:00+01:00") == T0
    assert parse_time("1704067200.5") == T0 + NS_PER_SECOND // 2
    assert format_time(T0) == "2024-01-01T00:00:00Z"
    with pytest.raises(TimestampParseError, match="zone"):
        parse_time("2024-01-01T00:00:00")
    with pytest.raises(TimestampParseError):
        parse_time("yesterday")


def _panel(rows: list[tuple[str, int, float]]) -> Panel:
    uid = [r[0] for r in rows]
    return Panel.from_arrays(
        uid, np.array([r[1] for r in rows], np.int64), np.array([r[2] for r in rows])
    )


def test_panel_groups_series_and_keeps_source_rows() -> None:
    p = _panel([("b", T0, 1.0), ("a", T0, 2.0), ("b", T0 + MIN, 3.0)])
    assert p.ids == ["a", "b"]
    assert p.indptr.tolist() == [0, 1, 3]
    assert p.y.tolist() == [2.0, 1.0, 3.0]
    assert p.rows is not None
    assert p.rows.tolist() == [2, 1, 3]
    long = p.to_long()
    assert list(long.columns) == ["unique_id", "ds", "y"]
    assert str(long["ds"].dt.tz) == "UTC"
    back = Panel.from_long(long)
    assert back.ids == p.ids
    assert np.array_equal(back.ds, p.ds)


def test_grid_fills_gaps_with_nan_and_infers_step() -> None:
    p = _panel([("a", T0, 1.0), ("a", T0 + MIN, 2.0), ("a", T0 + 3 * MIN, 4.0)])
    check_order(p)
    assert infer_step(p) == MIN
    g = to_grid(p, MIN)
    assert g.step == MIN
    assert g.ds.tolist() == [T0 + k * MIN for k in range(4)]
    assert np.array_equal(g.y, [1.0, 2.0, np.nan, 4.0], equal_nan=True)
    assert g.n_missing == 1


def test_grid_over_a_fixed_range_pads_every_series() -> None:
    p = _panel([("a", T0 + MIN, 1.0), ("b", T0 + 2 * MIN, 2.0)])
    g = to_grid(p, MIN, start=T0, end=T0 + 3 * MIN)
    assert g.sizes().tolist() == [4, 4]
    assert np.isnan(g.y).sum() == 6


def test_grid_tolerates_jitter_within_tolerance_only() -> None:
    jitter = 2 * NS_PER_SECOND
    p = _panel([("a", T0, 1.0), ("a", T0 + MIN + jitter, 2.0), ("a", T0 + 2 * MIN - jitter, 3.0)])
    with pytest.raises(MixedStepError, match="off that grid") as info:
        to_grid(p, MIN)
    assert info.value.rows == [2, 3]
    g = to_grid(p, MIN, tolerance=5 * NS_PER_SECOND)
    assert g.ds.tolist() == [T0, T0 + MIN, T0 + 2 * MIN]
    crowded = _panel([("a", T0, 1.0), ("a", T0 + 1, 2.0)])
    with pytest.raises(DuplicateTimestampError, match="grid point"):
        to_grid(crowded, MIN, tolerance=5 * NS_PER_SECOND)


def test_duplicates_are_listed_with_their_rows() -> None:
    p = _panel([("a", T0, 1.0), ("a", T0 + MIN, 2.0), ("a", T0 + MIN, 3.0), ("b", T0, 1.0)])
    with pytest.raises(DuplicateTimestampError) as info:
        check_order(p)
    assert info.value.unique_ids == ["a"]
    assert info.value.rows == [3]
    assert "2024-01-01T00:01:00Z" in str(info.value)


def test_backwards_timestamps_are_rejected() -> None:
    p = _panel([("a", T0 + MIN, 1.0), ("a", T0, 2.0)])
    with pytest.raises(NonMonotonicTimestampError, match="backwards") as info:
        check_order(p)
    assert info.value.rows == [2]


def test_mixed_steps_are_rejected() -> None:
    fine = [(u, T0 + k * MIN, 1.0) for u in "ac" for k in range(5)]
    both = _panel(fine + [("b", T0 + k * 5 * MIN, 1.0) for k in range(4)])
    with pytest.raises(MixedStepError, match="one step") as info:
        infer_step(both)
    assert info.value.unique_ids == ["b"]
    odd = _panel([("a", T0, 1.0), ("a", T0 + MIN, 1.0), ("a", T0 + 150 * NS_PER_SECOND, 1.0)])
    with pytest.raises(MixedStepError):
        to_grid(odd, infer_step(odd))


def test_nonfinite_values_are_rejected_or_dropped() -> None:
    p = _panel([("a", T0, 1.0), ("a", T0 + MIN, np.nan), ("a", T0 + 2 * MIN, np.inf)])
    with pytest.raises(NonFiniteValueError, match="NaN") as info:
        check_finite(p)
    assert info.value.rows == [2, 3]
    kept = check_finite(p, nonfinite="drop")
    assert kept.n_points == 1
    assert to_grid(kept, MIN, start=T0, end=T0 + 2 * MIN).n_missing == 2


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 50), st.floats(-1e9, 1e9)),
        min_size=1,
        max_size=60,
        unique_by=lambda t: (t[0], t[1]),
    )
)
def test_grid_keeps_every_sample_at_its_time(samples: list[tuple[str, int, float]]) -> None:
    samples = sorted(samples, key=lambda s: (s[0], s[1]))
    p = _panel([(u, T0 + k * MIN, v) for u, k, v in samples])
    g = to_grid(p, MIN)
    for uid, k, value in samples:
        ds, y = g.series(uid)
        assert y[np.searchsorted(ds, T0 + k * MIN)] == value
    assert g.n_points - g.n_missing == len(samples)
    assert (np.diff(g.ds)[np.diff(g.series_index()) == 0] == MIN).all()


def test_describe_summarises_each_series() -> None:
    p = to_grid(_panel([("a", T0, 1.0), ("a", T0 + 2 * MIN, 3.0)]), MIN)
    row = p.describe().iloc[0]
    assert (row["points"], row["missing"], row["mean"], row["max"]) == (3, 1, 2.0, 3.0)
    assert row["start"] == pd.Timestamp("2024-01-01T00:00:00Z")


def test_relative_times_need_now() -> None:
    now = T0 + 7 * 86400 * NS_PER_SECOND
    assert parse_time("now", now=now) == now
    assert parse_time("now-7d", now=now) == T0
    with pytest.raises(TimestampParseError, match="now-<duration>"):
        parse_time("now+1d", now=now)
    with pytest.raises(TimestampParseError):
        parse_time("now-7d")


def test_grid_over_a_range_refuses_samples_outside_it() -> None:
    p = _panel([("a", T0, 1.0), ("a", T0 + MIN, 2.0)])
    with pytest.raises(ValidationError, match="outside") as info:
        to_grid(p, MIN, start=T0 + MIN, end=T0 + 2 * MIN)
    assert info.value.rows == [1]
    with pytest.raises(ValidationError, match="outside"):
        to_grid(p, MIN, start=T0 - MIN, end=T0)
