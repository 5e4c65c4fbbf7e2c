"""The default forecaster: candidates, a backtest, per-series selection, conformal
intervals.

For each series the candidate with the lowest backtest MAE (one rolling-origin window
of the horizon by default) is chosen among the models and two ensembles of them: their
median, and their mean weighted by the inverse of each model's backtest MAE on the
series; a series keeps the candidate that is best over the panel unless its own backtest
favours another clearly (``margin``). The models are refitted on all the data.
Intervals are conformal: the backtest's absolute errors of the candidates give, per
series, the half-width at each level, so their coverage is measured rather than assumed.

With many series the work is shared among processes (``n_jobs``, default: the cores
for panels of a few dozen series or more): the per-series models on parts of the panel,
each global model (learned across series, such as :class:`GlobalLightGBM`) on the whole
panel, so that no forecast depends on ``n_jobs``; backtests and final fits are separate
tasks. Processes are started with ``spawn``, so a script that calls this must guard its
entry point with ``if __name__ == "__main__":``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from modelphase.engine import default_jobs, run_tasks, split_panel
from modelphase.exceptions import ValidationError
from modelphase.forecast.catalog import default_season
from modelphase.forecast.naive import SeasonalNaive
from modelphase.forecast.panel import Fallback, PanelForecaster, alias_of, is_global
from modelphase.forecast.select import (
    ENSEMBLE,
    WEIGHTED,
    conformal_quantile,
    inverse_error_weights,
    series_scale,
)
from modelphase.frame import NS_PER_SECOND, Panel

__all__ = ["ENSEMBLE", "WEIGHTED", "AutoForecast", "default_models", "default_season"]

DAY = 86_400 * NS_PER_SECOND
WEEK = 7 * DAY

_Result = tuple[pd.DataFrame | None, pd.DataFrame, list[Fallback]]


def default_models(step: int, n_obs: int) -> list[Any]:
    """The default candidates for a step and the shortest series length.

    The seasonal naive always. Once the shortest series has two weeks of sub-daily
    points: three global LightGBM models (:class:`GlobalLightGBM`; their features reach
    two weeks back) that differ in what they learn, so that their ensembles gain: the
    change from the last value under L1 loss, and under L2 loss, and the change from the
    value a season ago under L2 loss. With less history: MSTL with the daily season.

    On M4 Hourly (validation windows cut from the training part) the three LightGBM
    models beat MSTL with daily and weekly seasons, alone and in ensembles, at a
    fraction of its cost; MSTL added nothing next to them.
    """
    from statsforecast.models import MSTL

    from modelphase.forecast.gbm import GlobalLightGBM

    season = default_season(step)
    models: list[Any] = [SeasonalNaive(season_length=season)]
    weekly = WEEK // step if step < DAY and WEEK % step == 0 else 0
    if season > 1 and weekly and n_obs >= 2 * weekly + 2:
        models += [
            GlobalLightGBM(season_length=season, alias="LightGBM"),
            GlobalLightGBM(season_length=season, objective="l2", alias="LightGBM_l2"),
            GlobalLightGBM(
                season_length=season,
                objective="l2",
                reference="season",
                alias="LightGBM_seasonal",
            ),
        ]
    elif season > 1 and n_obs >= 2 * season + 2:
        models.append(MSTL(season_length=season, alias="MSTL"))
    return models


class AutoForecast:
    """Backtest the candidates, choose one per series, refit, forecast with intervals.

    ``margin``: a series keeps the candidate that is best over the whole panel (lowest
    mean backtest MAE in units of each series' scale) unless another one's backtest MAE
    on the series is lower by more than this fraction. One window's errors are noisy,
    and choosing on noise costs accuracy: on M4 Hourly (validation windows) a margin of
    0.1 to 0.2 beat both 0 (pure per-series choice) and 1 (the panel's best for all).
    """

    def __init__(
        self,
        models: Sequence[Any] | None = None,
        *,
        n_windows: int = 1,
        ensemble: bool = True,
        margin: float = 0.2,
        fallback: Any | None = None,
        n_jobs: int | None = None,
    ) -> None:
        self.models = models
        self.n_windows = n_windows
        self.ensemble = ensemble
        self.margin = margin
        self.fallback = fallback
        self.n_jobs = n_jobs

    def fit_predict(self, panel: Panel, h: int, level: Sequence[float] = ()) -> pd.DataFrame:
        """Forecasts ``unique_id, ds, yhat[, yhat-lo-<l>, yhat-hi-<l>], model``."""
        if panel.step is None:
            raise ValidationError("expected a panel on its grid to forecast")
        if not 0 <= self.margin <= 1:
            raise ValidationError(f"margin: expected a fraction in [0, 1], got {self.margin!r}")
        sizes = [int(np.isfinite(panel.series(u)[1]).sum()) for u in panel.ids]
        shortest = min(sizes)
        models = (
            list(self.models)
            if self.models is not None
            else default_models(panel.step, shortest - self.n_windows * h)
        )
        season = default_season(panel.step)
        aliases = [alias_of(m) for m in models]
        cv, forecast, fallbacks = self._run(panel, models, season, h)
        forecast = forecast.sort_values(["unique_id", "ds"], kind="stable", ignore_index=True)
        names = self._names(aliases)
        chosen, widths, weights = self._select(panel, cv, h, aliases, names, level)
        _add_ensembles(forecast, aliases, names, weights)
        self.fallbacks_ = fallbacks
        self.chosen_ = chosen
        self.weights_ = weights
        pick = forecast["unique_id"].map(chosen).to_numpy()
        col = {name: i for i, name in enumerate(names)}
        values = forecast[names].to_numpy()[np.arange(len(forecast)), [col[p] for p in pick]]
        out = pd.DataFrame(
            {"unique_id": forecast["unique_id"], "ds": forecast["ds"], "yhat": values}
        )
        for lv in level:
            half = np.concatenate([widths[u][lv] for u in forecast["unique_id"].unique()])
            out[f"yhat-lo-{lv:g}"] = values - half
            out[f"yhat-hi-{lv:g}"] = values + half
        out["model"] = pick
        return out

    def _names(self, aliases: list[str]) -> list[str]:
        """The candidates: the models, their median from two models on, their weighted
        mean from three on (with two, the median already is their mean)."""
        if not self.ensemble or len(aliases) < 2:
            return list(aliases)
        return [*aliases, ENSEMBLE, *([WEIGHTED] if len(aliases) > 2 else [])]

    def _run(self, panel: Panel, models: list[Any], season: int, h: int) -> _Result:
        """Backtest and forecast every model, as tasks shared among processes: the
        per-series models on parts of the panel, each global model on the whole panel
        (so that no result depends on ``n_jobs``); backtest and final fit apart."""
        local = [m for m in models if not is_global(m)]
        shared = [[m] for m in models if is_global(m)]
        n_jobs = default_jobs(panel.n_series, self.n_jobs)
        groups = [(local, part) for part in split_panel(panel, n_jobs)] if local else []
        groups += [(group, panel) for group in shared]
        tasks = [(group, part, final) for group, part in groups for final in (False, True)]
        job = partial(_task, fallback=self.fallback, season=season, h=h, n_windows=self.n_windows)
        # the longest first: global models, then the parts
        order = sorted(range(len(tasks)), key=lambda i: -_cost(tasks[i]))
        jobs = n_jobs if len(tasks) > 2 else 1
        ran = run_tasks(job, [tasks[i] for i in order], n_jobs=jobs)
        done = [ran[order.index(i)] for i in range(len(tasks))]
        results = [(done[2 * i], *done[2 * i + 1]) for i in range(len(groups))]
        n_local = len(groups) - len(shared)
        return _merge(results[:n_local], results[n_local:])

    def _select(
        self,
        panel: Panel,
        cv: pd.DataFrame | None,
        h: int,
        aliases: list[str],
        names: list[str],
        level: Sequence[float],
    ) -> tuple[
        dict[str, str],
        dict[str, dict[float, NDArray[np.float64]]],
        dict[str, NDArray[np.float64]],
    ]:
        """Per-series choice, per-series and per-step interval half-widths, and the
        weighted ensemble's weights per series (over ``aliases``).

        Errors are divided by each series' scale (its mean absolute one-step change) and
        pooled across series at each horizon step; the conformal quantile of those, times
        a series' scale, is its half-width. Pooling gives hundreds of errors per step
        where one series has a handful, and keeps the widening with the horizon.
        """
        scales = {u: _scale(panel.series(u)[1]) for u in panel.ids}
        flat = {u: {lv: np.zeros(h) for lv in level} for u in panel.ids}
        equal = np.full(len(aliases), 1.0 / len(aliases))
        weights = dict.fromkeys(panel.ids, equal)
        if cv is None or cv.empty:  # too short to backtest: the first candidate, no widths
            return dict.fromkeys(panel.ids, aliases[0]), flat, weights
        model_mae = cv[aliases].sub(cv["y"], axis=0).abs().groupby(cv["unique_id"]).mean()
        table = inverse_error_weights(model_mae)
        weights |= {str(u): row for u, row in zip(table.index, table.to_numpy(), strict=True)}
        _add_ensembles(cv, aliases, names, weights)
        errors = cv[names].sub(cv["y"], axis=0).abs()
        errors["unique_id"] = cv["unique_id"].to_numpy()
        mae = errors.groupby("unique_id")[names].mean()
        chosen = self._choose(mae, scales)
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
        per_step = {
            lv: np.array([conformal_quantile(normalised[step_of == k], lv) for k in range(h)])
            for lv in level
        }
        widths = {uid: {lv: per_step[lv] * scales[uid] for lv in level} for uid in panel.ids}
        return chosen, widths, weights

    def _choose(self, mae: pd.DataFrame, scales: dict[str, float]) -> dict[str, str]:
        """Per series, the candidate of least backtest MAE, unless it is not better than
        the panel's best candidate by ``margin``."""
        known = mae.notna().any(axis=1)
        mae = mae[known].fillna(np.inf)
        if mae.empty:
            return {}
        pick = np.asarray(mae.idxmin(axis=1).to_numpy(), dtype=object)
        if self.margin > 0:
            scaled = mae.div(pd.Series(scales).reindex(mae.index), axis=0)
            best = str(scaled.replace(np.inf, np.nan).mean().idxmin())
            stay = mae.min(axis=1).to_numpy() >= (1 - self.margin) * mae[best].to_numpy()
            pick[stay] = best
        return {str(u): str(p) for u, p in zip(mae.index, pick, strict=True)}


def _add_ensembles(
    frame: pd.DataFrame,
    aliases: list[str],
    names: list[str],
    weights: dict[str, NDArray[np.float64]],
) -> None:
    """Add the ensemble columns among ``names`` to a frame of the models' forecasts."""
    if ENSEMBLE in names:
        frame[ENSEMBLE] = frame[aliases].median(axis=1)
    if WEIGHTED in names:
        w = np.stack([weights[u] for u in frame["unique_id"].astype(str)])
        frame[WEIGHTED] = np.einsum("ij,ij->i", frame[aliases].to_numpy(np.float64), w)


def _task(
    task: tuple[Sequence[Any], Panel, bool],
    *,
    fallback: Any,
    season: int,
    h: int,
    n_windows: int,
) -> Any:
    """One task: the backtest of ``models`` on ``panel`` (None if no series is long
    enough), or (``final``) their forecasts from all the data and the fallbacks."""
    models, panel, final = task
    runner = PanelForecaster(models, fallback=fallback, season_length=season)
    if final:
        return runner.fit(panel).predict(h), runner.fallbacks_
    try:
        return runner.cross_validation(panel, h=h, n_windows=n_windows, align="series")
    except ValidationError:
        return None


def _cost(task: tuple[Sequence[Any], Panel, bool]) -> float:
    """A rough order of a task's cost: global models are fitted on the whole panel."""
    models, panel, _ = task
    return panel.n_points * (10.0 if any(is_global(m) for m in models) else 1.0)


def _merge(local: list[_Result], shared: list[_Result]) -> _Result:
    """The per-series models' parts, one under the other, beside each global model's."""
    cvs = [cv for cv, _, _ in local if cv is not None]
    cv = pd.concat(cvs, ignore_index=True) if cvs else None
    forecast = pd.concat([fc for _, fc, _ in local], ignore_index=True) if local else None
    fallbacks = [fb for _, _, fbs in local for fb in fbs]
    for other_cv, other_fc, other_fb in shared:
        fallbacks += other_fb
        if forecast is None:
            cv, forecast = other_cv, other_fc
            continue
        forecast = forecast.merge(other_fc, on=["unique_id", "ds"], how="inner")
        if cv is not None and other_cv is not None:
            keys = ["unique_id", "ds", "cutoff"]
            cv = cv.merge(other_cv.drop(columns="y"), on=keys, how="inner")
        else:  # every model has the same backtest windows, or none has
            cv = None
    assert forecast is not None
    return cv, forecast, fallbacks


def _scale(y: NDArray[np.float64]) -> float:
    """A series' scale for pooling errors: :func:`series_scale`, or for a constant
    series its mean absolute level (else 1), so that every series counts."""
    scale = series_scale(y)
    if scale > 0:
        return scale
    level = float(np.nanmean(np.abs(y))) if np.isfinite(y).any() else 0.0
    return level if level > 0 else 1.0
