"""Backtests without refitting (``refit=False``): each model is fitted once, at the first
cutoff, and later windows forecast forward from their own data with those parameters,
never from data after their cutoff; parameter-free models give the refitted backtest;
failures still fall back and say so."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from modelphase.backtest import folds, split
from modelphase.forecast import (
    GlobalLightGBM,
    PanelForecaster,
    SeasonalNaive,
    build_model,
    clean_series,
)
from modelphase.frame import NS_PER_SECOND, Panel

HOUR = 3600 * NS_PER_SECOND
H = 12
# with 120 hourly points, h=12 and 3 windows, the cutoffs are at indices 83, 95 and 107
CUTS = [83, 95, 107]


class Probe:
    """Forecasts the length of the series it was fitted on, so a window's forecast says
    which fit made it. Refuses to fit fewer than 10 points; its forward fails on a level
    shift (a value above 500) and forecasts NaN after a negative value."""

    alias = "Probe"

    def fit(self, y: np.ndarray, X: Any = None) -> Probe:
        if len(y) < 10:
            raise RuntimeError("too short")
        self.n_ = len(y)
        return self

    def predict(self, h: int, X: Any = None, level: Any = None) -> dict[str, np.ndarray]:
        return {"mean": np.full(h, float(self.n_))}

    def forward(
        self, y: np.ndarray, h: int, X: Any = None, X_future: Any = None, level: Any = None
    ) -> dict[str, np.ndarray]:
        if y.max() > 500:
            raise RuntimeError("level shift")
        if y.min() < 0:
            return {"mean": np.full(h, np.nan)}
        return self.predict(h)


def hourly(series: dict[str, tuple[int, np.ndarray]]) -> Panel:
    """A panel of ``{uid: (first index, values)}`` on an hourly grid."""
    items = [
        (uid, (start + np.arange(len(y), dtype=np.int64)) * HOUR, np.asarray(y, np.float64))
        for uid, (start, y) in series.items()
    ]
    return Panel.from_series(items, step=HOUR)


def seasonal(n: int, season: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 20 + 0.05 * t + 4 * np.sin(2 * np.pi * t / season) + rng.normal(0, 0.5, n)


def by_window(cv: pd.DataFrame, uid: str, column: str) -> list[np.ndarray]:
    rows = cv[cv["unique_id"] == uid].sort_values("ds")
    return [g[column].to_numpy() for _, g in rows.groupby("cutoff", sort=True)]


@pytest.mark.parametrize("align", ["time", "series"])
def test_parameter_free_models_give_the_refitted_backtest(align: str) -> None:
    """SeasonalNaive has no forward and is refitted; statsforecast's Naive goes forward:
    both give exactly the refitted backtest, intervals, fallbacks and all."""
    y = seasonal(120, 6, seed=1)
    y[[30, 90, 91]] = np.nan  # inner gaps, cleaned before fit and before forward
    panel = hourly({"a": (0, y), "b": (0, seasonal(120, 6, seed=2)), "late": (88, y[:32])})
    models = [SeasonalNaive(season_length=6), build_model("Naive", {}, step=HOUR)]
    refit, once = PanelForecaster(models, season_length=6), PanelForecaster(models, season_length=6)
    a = refit.cross_validation(panel, h=H, level=(80,), align=align)
    b = once.cross_validation(panel, h=H, level=(80,), align=align, refit=False)
    pd.testing.assert_frame_equal(a, b)
    assert once.cv_fallbacks_ == refit.cv_fallbacks_
    assert a["cutoff"].nunique() == 3


def test_autoets_keeps_the_parameters_of_its_first_fit() -> None:
    y = seasonal(120, 6, seed=3)
    y[[40, 100]] = np.nan  # one gap before the first cutoff, one inside the last window
    panel = hourly({"a": (0, y)})
    ets = build_model("AutoETS", {"season_length": 6}, step=HOUR)
    once = PanelForecaster([ets]).cross_validation(panel, h=H, refit=False)
    refit = PanelForecaster([ets]).cross_validation(panel, h=H)
    got = by_window(once, "a", "AutoETS")
    redone = by_window(refit, "a", "AutoETS")
    first = build_model("AutoETS", {"season_length": 6}, step=HOUR).fit(clean_series(y[:84]))
    np.testing.assert_allclose(got[0], first.predict(H)["mean"])
    np.testing.assert_allclose(got[0], redone[0])  # the first window is the refitted one
    for k in (1, 2):
        expected = first.forward(clean_series(y[: CUTS[k] + 1]), H)["mean"]
        np.testing.assert_allclose(got[k], expected)
        assert np.abs(got[k] - redone[k]).max() > 1e-3, k  # a refit would differ


def test_a_series_is_fitted_at_the_first_window_where_its_fit_succeeds() -> None:
    """``a`` is fitted at the first cutoff (84 points); ``late`` is absent from the first
    window, too short for a fit in the second (6 points: it falls back), and fitted in
    the third (18 points)."""
    panel = hourly({"a": (0, np.full(120, 5.0)), "late": (90, np.full(30, 7.0))})
    runner = PanelForecaster([Probe()])
    cv = runner.cross_validation(panel, h=H, refit=False)
    assert [w[0] for w in by_window(cv, "a", "Probe")] == [84.0, 84.0, 84.0]
    assert [w[0] for w in by_window(cv, "late", "Probe")] == [7.0, 18.0]  # fallback, then fit
    assert [(f.unique_id, f.reason) for f in runner.cv_fallbacks_] == [
        ("late", "RuntimeError: too short")
    ]
    refitted = PanelForecaster([Probe()]).cross_validation(panel, h=H)
    assert [w[0] for w in by_window(refitted, "a", "Probe")] == [84.0, 96.0, 108.0]


def test_a_model_failing_in_a_later_window_falls_back_and_says_so() -> None:
    shift = np.full(120, 5.0)
    shift[100:] = 1000.0  # after the second cutoff: the third window's forward fails
    dip = np.full(120, 5.0)
    dip[90:] = -1.0  # before the second cutoff: the later forwards are NaN
    panel = hourly({"ok": (0, np.full(120, 5.0)), "shift": (0, shift), "dip": (0, dip)})
    runner = PanelForecaster([Probe()])
    cv = runner.cross_validation(panel, h=H, refit=False)
    cutoff = {k: pd.Timestamp(c * HOUR, tz="UTC") for k, c in enumerate(CUTS)}
    assert sorted((f.unique_id, f.model, f.reason) for f in runner.cv_fallbacks_) == [
        ("dip", "Probe", "non-finite forecast"),
        ("dip", "Probe", "non-finite forecast"),
        ("shift", "Probe", "RuntimeError: level shift"),
    ]
    # the fallback (seasonal naive) answers there: the last value before the cutoff
    assert [w[0] for w in by_window(cv, "shift", "Probe")] == [84.0, 84.0, 1000.0]
    assert [w[0] for w in by_window(cv, "dip", "Probe")] == [84.0, -1.0, -1.0]
    assert [w[0] for w in by_window(cv, "ok", "Probe")] == [84.0, 84.0, 84.0]
    assert set(cv["cutoff"]) == set(cutoff.values())


# ---------------------------------------------------------------- global models

DAY = 24


def small() -> GlobalLightGBM:
    return GlobalLightGBM(season_length=DAY, n_estimators=20, num_leaves=15)


def daily_panel(n: int = 5, days: int = 12) -> Panel:
    rng = np.random.default_rng(4)
    t = np.arange(days * DAY)
    series = {}
    for i in range(n):
        level = rng.uniform(5, 50)
        y = level * (2 + np.sin(2 * np.pi * t / DAY + i)) + rng.normal(0, 0.1 * level, len(t))
        series[f"s{i}"] = (0, y)
    return hourly(series)


def test_a_global_model_is_fitted_once_and_goes_forward(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"fit_panel": 0, "forward_panel": 0}
    for name in calls:
        original = getattr(GlobalLightGBM, name)

        def counted(self: Any, *args: Any, _name: str = name, _f: Any = original, **kw: Any) -> Any:
            calls[_name] += 1
            return _f(self, *args, **kw)

        monkeypatch.setattr(GlobalLightGBM, name, counted)
    panel = daily_panel()
    cv = PanelForecaster([small()]).cross_validation(panel, h=DAY, level=(80,), refit=False)
    assert calls == {"fit_panel": 1, "forward_panel": 2}
    windows = folds(panel, h=DAY, n_windows=3)
    first = small().fit_panel(split(panel, windows[0])[0])
    refit = PanelForecaster([small()]).cross_validation(panel, h=DAY, level=(80,))
    for uid in panel.ids:
        got = by_window(cv, uid, "LightGBM")
        high = by_window(cv, uid, "LightGBM-hi-80")
        redone = by_window(refit, uid, "LightGBM")
        np.testing.assert_allclose(got[0], redone[0])
        for k in (1, 2):
            ahead = first.forward_panel(split(panel, windows[k])[0], DAY, level=[80])[uid]
            np.testing.assert_allclose(got[k], ahead["mean"])
            np.testing.assert_allclose(high[k], ahead["hi-80"])
    assert not np.allclose(cv["LightGBM"], refit["LightGBM"])


def test_a_global_model_never_sees_data_after_a_window_cutoff() -> None:
    panel = daily_panel()
    cutoff = folds(panel, h=DAY, n_windows=3)[1].cutoff
    y = panel.y.copy()
    y[panel.ds > cutoff] *= 3.0
    changed = Panel(panel.ids, panel.indptr, panel.ds, y, panel.step)
    base = PanelForecaster([small()]).cross_validation(panel, h=DAY, refit=False)
    other = PanelForecaster([small()]).cross_validation(changed, h=DAY, refit=False)
    early = base["cutoff"] <= pd.Timestamp(cutoff, tz="UTC")
    assert early.sum() == 2 * DAY * panel.n_series
    cols = ["unique_id", "ds", "cutoff", "LightGBM"]
    pd.testing.assert_frame_equal(base.loc[early, cols], other.loc[early, cols])
    assert not np.allclose(base.loc[~early, "LightGBM"], other.loc[~early, "LightGBM"])


def test_float_levels_name_statsforecast_keys_as_ints() -> None:
    """Levels given as floats (80.0) find statsforecast's ``lo-80`` keys."""
    from statsforecast.models import AutoETS

    t = np.arange(24 * 6, dtype=np.int64) * 3_600 * 10**9
    y = 10 + np.sin(2 * np.pi * np.arange(len(t)) / 24)
    panel = Panel.from_series([("a", t, y)], step=3_600 * 10**9)
    out = PanelForecaster([AutoETS(season_length=24)]).fit(panel).predict(6, level=[80.0])
    assert np.isfinite(out["AutoETS-lo-80"]).all()
