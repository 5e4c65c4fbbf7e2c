"""The default forecaster: candidates, a backtest, per-series selection, conformal
intervals.

For each series the candidate with the lowest backtest MAE (one rolling-origin window
of the horizon by default) is chosen among the models and their median ensemble; it is
refitted on all the data. Intervals are conformal: the backtest's absolute errors of the
chosen candidate give, per series, the half-width at each level, so their coverage is
measured rather than assumed.

With many series the work is shared among processes (``n_jobs``, default: the cores
for panels of a few dozen series or more). They are started with ``spawn``, so a script
that calls this must guard its entry point with ``if __name__ == "__main__":``.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from modelphase.exceptions import ValidationError
from modelphase.forecast.naive import SeasonalNaive
from modelphase.forecast.panel import Fallback, PanelForecaster, alias_of
from modelphase.frame import NS_PER_SECOND, Panel

__all__ = ["ENSEMBLE", "AutoForecast", "default_models", "default_season"]

ENSEMBLE = "Ensemble"
DAY = 86_400 * NS_PER_SECOND
WEEK = 7 * DAY


def default_season(step: int) -> int:
    """Points in a day for sub-daily data, 7 for daily data, else 1."""
    if step < DAY and DAY % step == 0:
        return DAY // step
    if step == DAY:
        return 7
    return 1


def default_models(step: int, n_obs: int) -> list[Any]:
    """The default candidates for a step and the shortest series length."""
    from statsforecast.models import MSTL

    season = default_season(step)
    models: list[Any] = [SeasonalNaive(season_length=season)]
    if season > 1 and n_obs >= 2 * season + 2:
        models.append(MSTL(season_length=season, alias="MSTL"))
        weekly = WEEK // step if step < DAY and WEEK % step == 0 else 0
        if weekly and n_obs >= 2 * weekly + 2:
            models.append(MSTL(season_length=[season, weekly], alias="MSTL_weekly"))
    return models


class AutoForecast:
    """Backtest the candidates, choose one per series, refit, forecast with intervals."""

    def __init__(
        self,
        models: Sequence[Any] | None = None,
        *,
        n_windows: int = 1,
        ensemble: bool = True,
        fallback: Any | None = None,
        n_jobs: int | None = None,
    ) -> None:
        self.models = models
        self.n_windows = n_windows
        self.ensemble = ensemble
        self.fallback = fallback
        self.n_jobs = n_jobs

    def fit_predict(self, panel: Panel, h: int, level: Sequence[float] = ()) -> pd.DataFrame:
        """Forecasts ``unique_id, ds, yhat[, yhat-lo-<l>, yhat-hi-<l>], model``."""
        if panel.step is None:
            raise ValidationError("expected a panel on its grid to forecast")
        sizes = [int(np.isfinite(panel.series(u)[1]).sum()) for u in panel.ids]
        shortest = min(sizes)
        models = (
            list(self.models)
            if self.models is not None
            else default_models(panel.step, shortest - self.n_windows * h)
        )
        season = default_season(panel.step)
        aliases = [alias_of(m) for m in models]
        job = partial(_backtest_and_forecast, models, self.fallback, season, h, self.n_windows)
        chunks = _chunks(panel, self._jobs(panel))
        if len(chunks) > 1:
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=len(chunks), mp_context=context) as pool:
                results = list(pool.map(job, chunks))
        else:
            results = [job(panel)]
        cvs = [cv for cv, _, _ in results if cv is not None]
        forecast = pd.concat([fc for _, fc, _ in results], ignore_index=True)
        forecast = forecast.sort_values(["unique_id", "ds"], kind="stable", ignore_index=True)
        fallbacks = [fb for _, _, fbs in results for fb in fbs]
        cv = pd.concat(cvs, ignore_index=True) if cvs else None
        chosen, widths = self._select(panel, cv, h, aliases, level)
        if self.ensemble and len(aliases) > 1:
            forecast[ENSEMBLE] = forecast[aliases].median(axis=1)
        self.fallbacks_ = fallbacks
        self.chosen_ = chosen
        pick = forecast["unique_id"].map(chosen).to_numpy()
        candidates = forecast[[*aliases, *([ENSEMBLE] if ENSEMBLE in forecast else [])]]
        col = {name: i for i, name in enumerate(candidates.columns)}
        values = candidates.to_numpy()[np.arange(len(forecast)), [col[p] for p in pick]]
        out = pd.DataFrame(
            {"unique_id": forecast["unique_id"], "ds": forecast["ds"], "yhat": values}
        )
        for lv in level:
            half = np.concatenate([widths[u][lv] for u in forecast["unique_id"].unique()])
            out[f"yhat-lo-{lv:g}"] = values - half
            out[f"yhat-hi-{lv:g}"] = values + half
        out["model"] = pick
        return out

    def _jobs(self, panel: Panel) -> int:
        if self.n_jobs is not None:
            return max(1, self.n_jobs)
        # processes pay off from a few dozen series on; spawning costs seconds
        return min(os.cpu_count() or 1, max(1, panel.n_series // 50))

    def _select(
        self,
        panel: Panel,
        cv: pd.DataFrame | None,
        h: int,
        aliases: list[str],
        level: Sequence[float],
    ) -> tuple[dict[str, str], dict[str, dict[float, NDArray[np.float64]]]]:
        """Per-series choice, and per-series, per-step interval half-widths.

        Errors are divided by each series' scale (its mean absolute one-step change) and
        pooled across series at each horizon step; the conformal quantile of those, times
        a series' scale, is its half-width. Pooling gives hundreds of errors per step
        where one series has a handful, and keeps the widening with the horizon.
        """
        names = [*aliases, *([ENSEMBLE] if self.ensemble and len(aliases) > 1 else [])]
        scales = {u: _scale(panel.series(u)[1]) for u in panel.ids}
        flat = {u: {lv: np.zeros(h) for lv in level} for u in panel.ids}
        if cv is None or cv.empty:  # too short to backtest: the first candidate, no widths
            return dict.fromkeys(panel.ids, aliases[0]), flat
        if ENSEMBLE in names:
            cv[ENSEMBLE] = cv[aliases].median(axis=1)
        errors = cv[names].sub(cv["y"], axis=0).abs()
        errors["unique_id"] = cv["unique_id"].to_numpy()
        mae = errors.groupby("unique_id")[names].mean()
        chosen: dict[str, str] = {str(k): str(v) for k, v in mae.idxmin(axis=1).items()}
        for uid in panel.ids:  # series that had no backtest window
            chosen.setdefault(uid, aliases[0])
        # the chosen candidate's own backtest errors are optimistic (it was chosen for
        # them): calibrate on the errors of every candidate instead
        abs_err = errors[names].to_numpy().ravel()
        step = panel.step or 1
        lead = ((cv["ds"] - cv["cutoff"]).dt.total_seconds().to_numpy() * 1e9).round()
        step_of = np.repeat((lead // step).astype(np.int64) - 1, len(names))
        scale = np.repeat(cv["unique_id"].map(scales).to_numpy(), len(names))
        normalised = abs_err / scale
        widths: dict[str, dict[float, NDArray[np.float64]]] = {}
        per_step = {
            lv: np.array([_conformal(normalised[step_of == k], lv) for k in range(h)])
            for lv in level
        }
        for uid in panel.ids:
            widths[uid] = {lv: per_step[lv] * scales[uid] for lv in level}
        return chosen, widths


def _backtest_and_forecast(
    models: Sequence[Any], fallback: Any, season: int, h: int, n_windows: int, panel: Panel
) -> tuple[pd.DataFrame | None, pd.DataFrame, list[Fallback]]:
    """One worker's share: the backtest of every candidate, then the final forecasts."""
    runner = PanelForecaster(models, fallback=fallback, season_length=season)
    try:
        cv: pd.DataFrame | None = runner.cross_validation(
            panel, h=h, n_windows=n_windows, align="series"
        )
    except ValidationError:
        cv = None
    forecast = runner.fit(panel).predict(h)
    return cv, forecast, runner.fallbacks_


def _chunks(panel: Panel, n: int) -> list[Panel]:
    """``n`` panels of alternate series (so that long and short series spread evenly)."""
    if n <= 1 or panel.n_series < 2:
        return [panel]
    return [panel.subset(panel.ids[i::n]) for i in range(n) if panel.ids[i::n]]


def _scale(y: NDArray[np.float64]) -> float:
    diffs = np.abs(np.diff(y))
    diffs = diffs[np.isfinite(diffs)]
    scale = float(np.mean(diffs)) if len(diffs) else 0.0
    if scale > 0:
        return scale
    level = float(np.nanmean(np.abs(y))) if np.isfinite(y).any() else 0.0
    return level if level > 0 else 1.0


def _conformal(abs_err: np.ndarray, level: float) -> float:
    """The split-conformal half-width: the ceil((n + 1) * level)-th smallest error."""
    errs = np.sort(abs_err[np.isfinite(abs_err)])
    if not len(errs):
        return 0.0
    rank = int(np.ceil((len(errs) + 1) * level / 100.0)) - 1
    return float(errs[min(rank, len(errs) - 1)])
