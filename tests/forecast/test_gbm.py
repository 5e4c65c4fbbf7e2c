"""The global LightGBM forecaster: it learns what series share, never looks ahead, is
deterministic and picklable, copes with gaps, ragged and constant series, and the panel
runner falls back when it fails."""

from __future__ import annotations

import json
import pickle
from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelphase.exceptions import ValidationError
from modelphase.forecast import (
    AutoForecast,
    GlobalLightGBM,
    PanelForecaster,
    SeasonalNaive,
)
from modelphase.frame import NS_PER_SECOND, Panel

HOUR = 3600 * NS_PER_SECOND
DAY = 24
# a daily shape no sine would give: quiet nights, a morning ramp, a lunch peak
SHAPE = np.array([1, 1, 1, 1, 1, 1, 2, 4, 6, 7, 7, 8, 10, 9, 7, 7, 6, 5, 4, 3, 2, 2, 1, 1.0])


def small(**kw: Any) -> GlobalLightGBM:
    """A quick model for tests."""
    params: dict[str, Any] = {"season_length": DAY, "n_estimators": 40, "num_leaves": 15}
    return GlobalLightGBM(**{**params, **kw})


def shaped_panel(
    n: int, length: int, *, seed: int = 0, noise: float = 0.2, ragged: bool = False
) -> Panel:
    """``n`` series with the same daily shape at their own level, on a common UTC clock."""
    rng = np.random.default_rng(seed)
    items = []
    for i in range(n):
        size = int(rng.integers(length // 2, length + 1)) if ragged else length
        start = int(rng.integers(0, 2 * DAY))
        t = np.arange(start, start + size)
        level = rng.uniform(5, 50)
        y = level * SHAPE[t % DAY] + rng.normal(0, noise * level, size)
        items.append((f"s{i:02d}", t.astype(np.int64) * HOUR, y))
    return Panel.from_series(items, step=HOUR)


def test_params_are_plain_json_and_rebuild_the_model() -> None:
    model = GlobalLightGBM(lags=[1, 24], rolling={"rolling_mean": [24]}, calendar=[], seed=3)
    params = model.get_params()
    assert json.loads(json.dumps(params)) == params
    assert GlobalLightGBM(**params).get_params() == params
    assert not hasattr(model, "booster_")  # __init__ stores, fit learns


def test_learns_a_daily_shape_from_other_series_that_one_short_series_cannot() -> None:
    panel = shaped_panel(30, 24 * 21, seed=1)
    short_t = np.arange(30)  # a day and a bit of a new series
    short_y = 20 * SHAPE[short_t % DAY] + np.random.default_rng(9).normal(0, 4, 30)
    items = [(u, *panel.series(u)) for u in panel.ids]
    items.append(("new", short_t.astype(np.int64) * HOUR, short_y))
    h = 24
    truth = 20 * SHAPE[np.arange(30, 30 + h) % DAY]
    together = small().fit_panel(Panel.from_series(items, step=HOUR)).predict_panel(h)
    alone = small().fit(short_y).predict(h)
    err_together = np.abs(together["new"]["mean"] - truth).mean()
    err_alone = np.abs(alone["mean"] - truth).mean()
    assert err_together < 0.2 * err_alone
    assert err_together < 0.1 * truth.mean()


def test_a_backtest_fold_never_sees_data_after_its_cutoff() -> None:
    panel = shaped_panel(6, 24 * 16, seed=2)
    runner = PanelForecaster([small()], season_length=DAY)
    cv = runner.cross_validation(panel, h=12, n_windows=2, step=12)
    first = cv["cutoff"].min()
    # change every value after the first cutoff: that fold's forecasts must not move
    changed = panel.y.copy()
    changed[panel.ds > first.value] *= 10.0
    later = Panel(panel.ids, panel.indptr, panel.ds, changed, panel.step)
    cv2 = runner.cross_validation(later, h=12, n_windows=2, step=12)
    fold = cv["cutoff"] == first
    assert (cv2["cutoff"] == first).sum() == fold.sum()
    np.testing.assert_array_equal(
        cv.loc[fold, "LightGBM"].to_numpy(), cv2.loc[cv2["cutoff"] == first, "LightGBM"]
    )
    assert not np.allclose(cv.loc[~fold, "LightGBM"], cv2.loc[cv2["cutoff"] != first, "LightGBM"])


def test_deterministic_and_a_pickled_fit_forecasts_the_same() -> None:
    panel = shaped_panel(8, 24 * 15, seed=3, ragged=True)
    one = small(max_train_rows=500).fit_panel(panel)  # the cap samples series: seeded
    two = small(max_train_rows=500).fit_panel(panel)
    a, b = one.predict_panel(24, level=[80]), two.predict_panel(24, level=[80])
    for uid in panel.ids:
        np.testing.assert_array_equal(a[uid]["mean"], b[uid]["mean"])
    clone = pickle.loads(pickle.dumps(one))
    c = clone.predict_panel(24, level=[80])
    for uid in panel.ids:
        np.testing.assert_array_equal(a[uid]["mean"], c[uid]["mean"])
        np.testing.assert_array_equal(a[uid]["hi-80"], c[uid]["hi-80"])


def test_intervals_are_ordered_and_widen() -> None:
    out = small().fit_panel(shaped_panel(5, 24 * 15, seed=4)).predict_panel(48, level=[80, 95])
    for series in out.values():
        assert np.all(series["lo-95"] <= series["lo-80"])
        assert np.all(series["lo-80"] <= series["mean"])
        assert np.all(series["mean"] <= series["hi-80"])
        assert np.all(series["hi-80"] <= series["hi-95"])
        width = series["hi-80"] - series["lo-80"]
        assert width[-1] > width[0] > 0


def test_gaps_ragged_lengths_and_trailing_gaps() -> None:
    panel = shaped_panel(5, 24 * 15, seed=5, ragged=True)
    y = panel.y.copy()
    rng = np.random.default_rng(5)
    y[rng.random(len(y)) < 0.1] = np.nan  # 10% missing at random
    last = panel.indptr[1:] - 1
    y[last[0] - 2 : last[0] + 1] = np.nan  # the first series ends with a gap
    gappy = Panel(panel.ids, panel.indptr, panel.ds, y, panel.step)
    out = PanelForecaster([small()], season_length=DAY).fit(gappy).predict(6)
    assert np.isfinite(out["LightGBM"]).all()
    first = out[out["unique_id"] == panel.ids[0]]
    ds, values = gappy.series(panel.ids[0])
    last_seen = ds[np.flatnonzero(np.isfinite(values))[-1]]
    assert first["ds"].iloc[0] == pd.Timestamp(int(last_seen) + HOUR, tz="UTC")
    assert sorted(out.groupby("unique_id").size()) == [6] * 5


def test_constant_series_stay_constant() -> None:
    t = np.arange(24 * 15, dtype=np.int64) * HOUR
    flat = Panel.from_series(
        [("a", t, np.full(len(t), 7.0)), ("b", t, np.zeros(len(t)))], step=HOUR
    )
    out = small().fit_panel(flat).predict_panel(12, level=[95])
    np.testing.assert_allclose(out["a"]["mean"], 7.0)
    np.testing.assert_allclose(out["b"]["mean"], 0.0)
    np.testing.assert_allclose(out["a"]["hi-95"], 7.0)
    # among varying series, a constant one keeps its level
    items = [(u, *shaped_panel(4, len(t), seed=6).series(u)) for u in ("s00", "s01", "s02")]
    mixed = Panel.from_series([*items, ("flat", t, np.full(len(t), 3.0))], step=HOUR)
    got = small().fit_panel(mixed).predict_panel(12)["flat"]["mean"]
    np.testing.assert_allclose(got, 3.0, rtol=0.05)


class Failing:
    """A global model that fails to fit, or forecasts NaN for the series ``"s01"``."""

    is_global = True
    alias = "Global"

    def __init__(self, fail_fit: bool) -> None:
        self.fail_fit = fail_fit

    def fit_panel(self, panel: Panel) -> Failing:
        if self.fail_fit:
            raise RuntimeError("no luck")
        self.ids_ = list(panel.ids)
        return self

    def predict_panel(self, h: int, level: Any = ()) -> dict[str, dict[str, np.ndarray]]:
        return {u: {"mean": np.full(h, np.nan if u == "s01" else 1.0)} for u in self.ids_}


def test_the_panel_falls_back_when_the_global_model_fails() -> None:
    panel = shaped_panel(3, 24 * 3, seed=7)
    runner = PanelForecaster([SeasonalNaive(DAY), Failing(fail_fit=True)], season_length=DAY)
    out = runner.fit(panel).predict(4)
    assert {(f.unique_id, f.reason) for f in runner.fallbacks_} == {
        (u, "RuntimeError: no luck") for u in panel.ids
    }
    np.testing.assert_array_equal(out["Global"], out["SeasonalNaive"])

    runner = PanelForecaster([SeasonalNaive(DAY), Failing(fail_fit=False)], season_length=DAY)
    out = runner.fit(panel).predict(4)
    assert [(f.unique_id, f.reason) for f in runner.fallbacks_] == [("s01", "non-finite forecast")]
    by_id = out.set_index("unique_id")
    assert (by_id.loc["s00", "Global"] == 1.0).all()
    np.testing.assert_array_equal(by_id.loc["s01", "Global"], by_id.loc["s01", "SeasonalNaive"])


def test_refuses_bad_input_with_a_clear_message() -> None:
    with pytest.raises(ValidationError, match="not fitted"):
        small().predict_panel(3)
    with pytest.raises(ValidationError, match="regular grid"):
        small().fit_panel(Panel.from_series([("a", np.arange(3) * HOUR, np.ones(3))]))
    with pytest.raises(ValidationError, match="reference"):
        small(reference="mean").fit(np.ones(50))
    model = small().fit_panel(shaped_panel(2, 24 * 3))
    with pytest.raises(ValidationError, match="predict_panel"):
        model.predict(3)


def test_auto_forecast_uses_global_models_the_same_way_in_processes() -> None:
    panel = shaped_panel(4, 24 * 16, seed=8)
    models = [SeasonalNaive(DAY), small(), small(objective="l2", alias="LightGBM_l2")]
    serial = AutoForecast(models, n_jobs=1).fit_predict(panel, 12, level=(80,))
    parallel = AutoForecast(models, n_jobs=2).fit_predict(panel, 12, level=(80,))
    pd.testing.assert_frame_equal(serial, parallel)
    assert (serial["yhat-lo-80"] <= serial["yhat"]).all()


def test_forward_forecasts_new_data_with_the_fitted_trees() -> None:
    panel = shaped_panel(6, 24 * 16, seed=7)
    model = small().fit_panel(panel)
    same = model.forward_panel(panel, 24, level=[80])
    fitted = model.predict_panel(24, level=[80])
    for uid in panel.ids:
        np.testing.assert_allclose(same[uid]["mean"], fitted[uid]["mean"])
        np.testing.assert_allclose(same[uid]["hi-80"], fitted[uid]["hi-80"])
    # trained on the first 14 days, forecasting day 16 from data up to day 15
    head = panel.take(np.repeat(np.arange(24 * 16) < 24 * 14, 6))
    early = small().fit_panel(head)
    booster = early.booster_
    cut = panel.take(np.repeat(np.arange(24 * 16) < 24 * 15, 6))
    out = early.forward_panel(cut, 24, level=[80])
    assert early.booster_ is booster  # nothing refitted
    for uid in panel.ids:
        truth = panel.series(uid)[1][24 * 15 :]
        level = np.abs(truth).mean()
        assert np.abs(out[uid]["mean"] - truth).mean() < 0.25 * level, uid
    with pytest.raises(ValidationError, match="grid step"):
        early.forward_panel(Panel(cut.ids, cut.indptr, cut.ds, cut.y, 2 * HOUR), 24)
