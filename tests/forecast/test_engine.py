"""One selection engine: seasons per series, intervals per level with few series, no
negative forecasts of a non-negative series, the same forecast from `forecast` and
`train`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelphase.forecast import AutoForecast, Seasonal
from modelphase.forecast.panel import alias_of
from modelphase.forecast.seasons import MAX_THETA_POINTS, default_models
from modelphase.forecast.select import calibrate_widths, min_errors
from modelphase.frame import Panel
from modelphase.spec import parse_spec
from modelphase.train import train

HOUR = 3600 * 10**9
DAY = 24


def weekly(days: int, seed: int, *, level: float = 100.0) -> np.ndarray:
    """Hourly requests with a daily rhythm and quiet weekends, ending on a Monday."""
    rng = np.random.default_rng(seed)
    t = np.arange(days * DAY)
    weekday = ((t // DAY) - days + 1) % 7  # the last day is day 0 of its week
    daily = 1 + 0.5 * np.sin(2 * np.pi * (t % DAY) / DAY)
    weekend = np.where(weekday >= 5, 0.3, 1.0)
    return level * daily * weekend + rng.normal(0, 2, len(t))


def panel_of(series: dict[str, np.ndarray]) -> Panel:
    end = 60 * DAY * HOUR
    items = [(u, end - HOUR * np.arange(len(y) - 1, -1, -1), y) for u, y in series.items()]
    return Panel.from_series(items, step=HOUR)


def test_each_series_gets_the_seasons_its_own_history_allows() -> None:
    long, short = weekly(28, 1), weekly(5, 2)
    assert Seasonal("MSTL", seasons=[DAY, 7 * DAY]).fit(long).seasons_ == [DAY, 7 * DAY]
    assert Seasonal("MSTL", seasons=[DAY, 7 * DAY]).fit(short).seasons_ == [DAY]
    # in one panel the short series does not turn the weekly season off for the long one:
    # its forecast of a busy Monday follows last Monday, not yesterday's quiet Sunday
    history = panel_of({"long": long[:-DAY], "short": short[:-DAY]})
    out = AutoForecast(n_jobs=1).fit_predict(history, DAY, level=(80,))
    sunday = out[out["unique_id"] == "long"]["yhat"].to_numpy()
    error = np.abs(sunday - long[-DAY:]).mean()
    daily_naive = np.abs(long[-2 * DAY : -DAY] - long[-DAY:]).mean()
    assert error < 0.5 * daily_naive
    assert len(out[out["unique_id"] == "short"]) == DAY


@pytest.mark.parametrize(
    ("minutes", "mstl", "theta"),
    [(5, 8064, 8064), (1, 40320, MAX_THETA_POINTS), (24 * 60, None, MAX_THETA_POINTS)],
)
def test_the_default_models_fit_on_a_bounded_history(
    minutes: int, mstl: int | None, theta: int
) -> None:
    # four weeks of sub-daily data for MSTL, and never more points than Theta fits in
    # seconds (a month at one minute took it minutes); daily data keeps its whole history
    models = {alias_of(m): m for m in default_models(minutes * 60 * 10**9)}
    assert models["MSTL"].max_history == mstl
    assert models["Theta"].max_history == theta


def test_few_series_still_get_distinct_calibrated_levels() -> None:
    history = panel_of({f"s{i}": weekly(21, i)[:-DAY] for i in range(3)})
    auto = AutoForecast(n_jobs=1)
    out = auto.fit_predict(history, DAY, level=(80, 95))
    width80 = (out["yhat-hi-80"] - out["yhat-lo-80"]).to_numpy()
    width95 = (out["yhat-hi-95"] - out["yhat-lo-95"]).to_numpy()
    assert (width95 > width80).mean() > 0.95
    assert set(auto.selection_.calibration.values()) <= {"conformal", "laplace"}


def test_calibration_pools_neighbouring_leads_and_says_how() -> None:
    rng = np.random.default_rng(0)
    lead = np.repeat(np.arange(24), 3)  # three series: three errors per lead
    err = np.abs(rng.normal(size=len(lead)))
    widths, how = calibrate_widths(err, lead, np.ones(len(lead)), [80, 95], 24)
    assert how == {80.0: "conformal", 95.0: "conformal"}
    assert (widths[95.0] > widths[80.0]).all()  # one lead's 3 errors could not tell them
    widths, how = calibrate_widths(err[:12], lead[:12], np.ones(12), [80, 95], 24)
    assert how == {80.0: "laplace", 95.0: "laplace"}
    assert widths[95.0][0] == pytest.approx(np.log(20) / np.log(5) * widths[80.0][0])
    assert min_errors(95) == 40
    assert min_errors(80) == 20


def test_forecasts_of_a_non_negative_series_stay_non_negative() -> None:
    rng = np.random.default_rng(4)
    counts = rng.poisson(0.3, 21 * DAY).astype(float)  # mostly zeros, a few requests
    out = AutoForecast(n_jobs=1).fit_predict(panel_of({"jobs": counts}), DAY, level=(80, 95))
    assert (out[["yhat", "yhat-lo-80", "yhat-lo-95"]].to_numpy() >= 0).all()
    assert (out["yhat-hi-95"] > 0).all()


def test_forecast_and_train_are_one_engine() -> None:
    history = panel_of({"a": weekly(16, 5), "b": weekly(9, 6, level=40.0)})
    auto = AutoForecast(n_jobs=1)
    expected = auto.fit_predict(history, 12, level=(80, 95))
    spec = parse_spec(
        "name: same\nkind: forecast\ntarget: {dataset: abc}\nfrequency: 1h\nhorizon: 12\n"
    )
    run = train(spec, history, n_jobs=1)
    got = run.forecast.sort_values(["unique_id", "ds"], ignore_index=True)
    pd.testing.assert_frame_equal(got, expected)
    assert run.chosen == auto.chosen_


def test_series_that_end_at_different_times_all_get_their_windows() -> None:
    """M4's series (and NAB's files) end at different times: each series is backtested
    on its own last windows, not on windows cut at the panel's last time."""
    start = 0
    items = [
        ("early", start + HOUR * np.arange(10 * DAY), weekly(10, 7)),
        ("late", start + HOUR * np.arange(20 * DAY), weekly(20, 8)),
    ]
    auto = AutoForecast(n_jobs=1)
    out = auto.fit_predict(Panel.from_series(items, step=HOUR), DAY, level=(80,))
    windows = auto.selection_.backtest.groupby("unique_id")["window"].nunique()
    assert windows.to_dict() == {"early": 2, "late": 2}  # windows 1 and 2 are scored
    first = out.groupby("unique_id")["ds"].min()
    assert first["early"] == pd.Timestamp(10 * DAY * HOUR, tz="UTC")


def test_combine_applies_each_series_decisions_to_its_own_rows() -> None:
    """The final forecast is each series' chosen model (or ensemble), its scale times the
    width of each lead, and a floor at zero only for the series that never went below it;
    shuffled rows and a series the choices never saw (the default) included."""
    from modelphase.forecast.select import ENSEMBLE, WEIGHTED
    from modelphase.forecast.trained import combine

    rng = np.random.default_rng(3)
    models, h = ["A", "B", "C"], 4
    ids = ["s0", "s1", "s2", "s3"]
    raw = pd.DataFrame(
        {
            "unique_id": np.repeat(ids, h),
            "ds": np.tile(np.arange(h), len(ids)),
            **{m: rng.normal(0, 5, len(ids) * h) for m in models},
        }
    ).sample(frac=1.0, random_state=0)
    chosen = {"s0": "B", "s1": ENSEMBLE, "s2": WEIGHTED}  # s3: the default, "C"
    weights = {"s2": np.array([0.5, 0.25, 0.25])}
    widths = {80.0: np.array([1.0, 2.0]), 95.0: np.array([3.0, 4.0])}  # last lead repeats
    scales = {"s0": 2.0, "s1": 1.0, "s2": 0.5, "s3": 10.0}
    out = combine(raw, models, chosen, weights, widths, scales, [80, 95], "C", {"s1", "s3"})
    for uid in ids:
        got = out[out["unique_id"] == uid].reset_index(drop=True)
        rows = raw[raw["unique_id"] == uid].sort_values("ds")[models].to_numpy()
        pick = chosen.get(uid, "C")
        if pick == ENSEMBLE:
            want = np.median(rows, axis=1)
        elif pick == WEIGHTED:
            want = rows @ weights[uid]
        else:
            want = rows[:, models.index(pick)]
        half = widths[80.0][np.minimum(np.arange(h), 1)] * scales[uid]
        lo = want - half
        if uid in {"s1", "s3"}:
            want, lo = np.maximum(want, 0.0), np.maximum(np.maximum(want, 0.0) - half, 0.0)
        np.testing.assert_allclose(got["yhat"], want)
        np.testing.assert_allclose(got["yhat-lo-80"], lo)
        np.testing.assert_allclose(got["yhat-hi-80"], want + half)
        assert list(got["model"]) == [pick] * h
