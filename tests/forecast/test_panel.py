"""The panel runner: fallbacks that say so, backtests that never look ahead, and the
automatic forecaster on simulated telemetry."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelphase.exceptions import ValidationError
from modelphase.forecast import (
    AutoForecast,
    PanelForecaster,
    SeasonalNaive,
    clean_series,
    default_models,
)
from modelphase.forecast.panel import alias_of
from modelphase.forecast.select import ENSEMBLE, WEIGHTED
from modelphase.frame import NS_PER_SECOND, Panel
from modelphase.simulate import simulate

HOUR = 3600 * NS_PER_SECOND


class Broken:
    """A model that fails to fit on short series and forecasts NaN on long ones."""

    alias = "Broken"

    def fit(self, y: np.ndarray, X: Any = None) -> Broken:
        if len(y) < 50:
            raise RuntimeError("not enough data")
        self.n_ = len(y)
        return self

    def predict(self, h: int, X: Any = None, level: Any = None) -> dict[str, np.ndarray]:
        return {"mean": np.full(h, np.nan)}


def _panel(lengths: dict[str, int]) -> Panel:
    items = [
        (uid, np.arange(n, dtype=np.int64) * HOUR, np.sin(np.arange(n) / 24 * 2 * np.pi) + 5)
        for uid, n in lengths.items()
    ]
    return Panel.from_series(items, step=HOUR)


def test_a_failing_model_falls_back_and_says_so() -> None:
    panel = _panel({"short": 30, "long": 80})
    runner = PanelForecaster([SeasonalNaive(24), Broken()], season_length=24).fit(panel)
    out = runner.predict(5)
    assert np.isfinite(out["Broken"]).all()
    reasons = {(f.unique_id, f.model): f.reason for f in runner.fallbacks_}
    assert reasons[("short", "Broken")] == "RuntimeError: not enough data"
    assert reasons[("long", "Broken")] == "non-finite forecast"
    fallback = out.loc[out["unique_id"] == "short", "Broken"].to_numpy()
    assert np.allclose(fallback, out.loc[out["unique_id"] == "short", "SeasonalNaive"])


def test_forecast_times_continue_each_series() -> None:
    panel = _panel({"a": 48, "b": 30})
    out = PanelForecaster([SeasonalNaive(24)]).fit(panel).predict(3, level=(80,))
    b = out[out["unique_id"] == "b"]
    assert b["ds"].iloc[0] == pd.Timestamp(30 * HOUR, tz="UTC")
    assert list(out.columns) == [
        "unique_id",
        "ds",
        "SeasonalNaive",
        "SeasonalNaive-lo-80",
        "SeasonalNaive-hi-80",
    ]


def test_cross_validation_forecasts_only_after_each_cutoff() -> None:
    panel = _panel({"a": 200, "b": 200})
    cv = PanelForecaster([SeasonalNaive(24)]).cross_validation(panel, h=12, n_windows=3)
    assert set(cv.columns) >= {"unique_id", "ds", "cutoff", "y", "SeasonalNaive"}
    assert (cv["ds"] > cv["cutoff"]).all()
    assert cv.groupby("cutoff").size().tolist() == [24, 24, 24]
    # a seasonal naive forecast of a pure daily cycle is exact
    assert np.allclose(cv["SeasonalNaive"], cv["y"])


def test_gaps_are_interpolated_and_empty_series_refused() -> None:
    assert clean_series(np.array([np.nan, 1.0, np.nan, 3.0, np.nan])).tolist() == [1.0, 2.0, 3.0]
    empty = Panel.from_series([("a", np.arange(3) * HOUR, np.full(3, np.nan))], step=HOUR)
    with pytest.raises(ValidationError, match="no values"):
        PanelForecaster([SeasonalNaive(1)]).fit(empty)


def test_auto_forecast_on_simulated_telemetry() -> None:
    panel = simulate(services=1, days=14, step=HOUR, seed=3, events=False).panel
    history = Panel(
        panel.ids,
        panel.indptr - np.arange(panel.n_series + 1) * 24,
        np.concatenate([panel.series(u)[0][:-24] for u in panel.ids]),
        np.concatenate([panel.series(u)[1][:-24] for u in panel.ids]),
        step=HOUR,
    )
    auto = AutoForecast()
    out = auto.fit_predict(history, 24, level=(80, 95))
    assert len(out) == 24 * panel.n_series
    names = {alias_of(m) for m in default_models(HOUR)} | {ENSEMBLE, WEIGHTED}
    assert set(out["model"]) <= names
    assert (out["yhat-lo-95"] <= out["yhat-lo-80"]).all()
    assert (out["yhat-lo-80"] <= out["yhat"]).all()
    assert (out["yhat-hi-80"] <= out["yhat-hi-95"]).all()
    actual = np.concatenate([panel.series(u)[1][-24:] for u in panel.ids])
    inside = (actual >= out["yhat-lo-95"]) & (actual <= out["yhat-hi-95"])
    assert inside.mean() > 0.7


def test_processes_give_the_same_forecasts() -> None:
    panel = simulate(services=1, days=6, step=HOUR, seed=5, events=False).panel
    serial = AutoForecast(n_jobs=1).fit_predict(panel, 12, level=(80,))
    parallel = AutoForecast(n_jobs=2).fit_predict(panel, 12, level=(80,))
    pd.testing.assert_frame_equal(serial, parallel)
