"""The selection engine behind ``modelphase forecast`` and ``modelphase train``.

:func:`select` takes candidate models and a panel, and:

1. backtests every candidate (and a seasonal-naive ``baseline``) on rolling-origin
   windows cut at the same times for every series (:func:`modelphase.backtest.folds`),
   each window refitted on the data up to its cutoff (or, with ``refit=False``, fitted
   once and run forward);
2. adds the median and the backtest-weighted ensembles of the candidates and chooses one
   per series. Window ``k`` is scored with the choice and the interval calibration made
   from the windows before it, so the scored backtest is out of sample (with one window
   it cannot be, and ``in_sample`` says so); a series keeps the panel's best candidate
   unless its own windows favour another by more than ``margin`` (shrinkage: one or two
   windows of one series are a noisy basis for a choice);
3. calibrates interval half-widths per lead step from the errors the selection made,
   pooled across series, windows and neighbouring leads
   (:func:`modelphase.forecast.select.calibrate_widths`);
4. refits on all the data and forecasts the horizon (:func:`combine`), never below zero
   for a series that never went below zero.

The result (:class:`Selection`) holds the scored backtest and a
:class:`~modelphase.forecast.trained.TrainedForecaster`, which is what a training run
registers and what :class:`~modelphase.forecast.auto.AutoForecast` forecasts with.

Work is shared among processes (``n_jobs``): the per-series models on parts of the
panel, each global model (learned across series) on the whole panel, so that no result
depends on ``n_jobs``. Processes are started with ``spawn``, so a script that calls this
with ``n_jobs > 1`` must guard its entry point with ``if __name__ == "__main__":``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from modelphase.backtest import Fold
from modelphase.engine import default_jobs, run_tasks, split_panel
from modelphase.exceptions import ValidationError
from modelphase.forecast.catalog import default_season
from modelphase.forecast.naive import SeasonalNaive
from modelphase.forecast.panel import Fallback, PanelForecaster, alias_of, is_global
from modelphase.forecast.select import (
    add_ensembles,
    calibrate_widths,
    choose,
    inverse_error_weights,
    period_scale,
    scale_period,
    window_mae,
)
from modelphase.forecast.trained import TrainedForecaster, combine, nonnegative_ids
from modelphase.frame import Panel

__all__ = ["BASELINE", "Progress", "Selection", "select"]

#: the seasonal naive every backtest scores beside the candidates
BASELINE = "baseline"
Progress = Callable[[str, int, int], None]
Widths = dict[float, NDArray[np.float64]]


@dataclass
class Selection:
    """What :func:`select` found.

    ``backtest``: the windows scored out of sample (all of them when ``in_sample``):
    ``unique_id, ds, cutoff, window, lead, y``, each candidate's forecast, the baseline's,
    ``yhat`` (the selected candidate's) and its intervals, and ``model``.
    ``candidates``: the models' aliases, then the ensembles'. ``calibration``: per level,
    how its widths were made (``conformal`` or ``laplace``: see
    :func:`~modelphase.forecast.select.calibrate_widths`).
    """

    candidates: list[str]
    backtest: pd.DataFrame
    rolling: dict[tuple[str, int], str]
    model: TrainedForecaster
    forecast: pd.DataFrame
    fallbacks: list[Fallback]
    folds: list[Fold]
    in_sample: bool
    calibration: dict[float, str]

    @property
    def chosen(self) -> dict[str, str]:
        return self.model.chosen


def select(
    panel: Panel,
    models: Sequence[Any],
    *,
    h: int,
    folds: Sequence[Fold] | None = None,
    n_windows: int = 3,
    levels: Sequence[float] = (),
    gap: int = 0,
    refit: bool = True,
    margin: float = 0.0,
    ensembles: bool = True,
    fallback: Any | None = None,
    name: str = "forecast",
    dataset_id: str | None = None,
    info: Mapping[str, Any] | None = None,
    n_jobs: int | None = None,
    progress: Progress | None = None,
) -> Selection:
    """Backtest ``models`` on ``folds`` of ``panel``, choose per series, calibrate and
    refit (the module's docstring has the steps). Without ``folds``, each series gets
    ``n_windows`` windows of ``h`` counted back from its own last value (``h`` apart),
    so that series ending at different times (M4's, NAB's files) all get theirs; with a
    panel whose series all end together that is the same as time-aligned folds.
    ``panel`` is on its grid; every model has a distinct alias, none of them
    ``baseline``; ``ensembles`` false leaves out the median and the weighted mean."""
    assert panel.step is not None
    note = progress or (lambda stage, done, total: None)
    step = panel.step
    season = default_season(step)
    fallback = fallback if fallback is not None else SeasonalNaive(season_length=season)
    baseline = SeasonalNaive(season_length=season, alias=BASELINE)
    aliases = [alias_of(m) for m in models]
    levels = sorted(float(lv) for lv in levels)

    note("backtest and refit", 0, 1)
    windows: Sequence[Fold] | int = folds if folds is not None else n_windows
    cv, raw, fallbacks = _backtest_and_refit(
        [*models, baseline], fallback, season, h, windows, gap, refit, panel, n_jobs, note
    )
    cutoff_ns = pd.DatetimeIndex(cv["cutoff"]).asi8
    if folds is not None:
        cutoffs = np.array([f.cutoff for f in folds], dtype=np.int64)  # oldest first
        cv["window"] = np.searchsorted(cutoffs, cutoff_ns).astype(np.int64)
    else:  # each series' windows, numbered so that its newest is n_windows - 1
        rank = pd.Series(cutoff_ns).groupby(cv["unique_id"].to_numpy()).rank(method="dense")
        count = rank.groupby(cv["unique_id"].to_numpy()).transform("max")
        cv["window"] = (rank - count + n_windows - 1).to_numpy().astype(np.int64)
    cv = cv.sort_values(["unique_id", "window", "ds"], kind="stable", ignore_index=True)
    cv["lead"] = (cv["ds"] - cv["cutoff"]).to_numpy().astype(np.int64) // step - 1

    note("selection and calibration", 0, 1)
    names = add_ensembles(cv, aliases) if ensembles else list(aliases)
    errs = window_mae(cv, names)
    rolling, final = choose(errs, names, margin=margin)
    most = _most_chosen(final, names[0])
    for uid in panel.ids:  # series too short for any backtest window: the panel's choice
        final.setdefault(uid, most)
    in_sample = (len(folds) if folds is not None else n_windows) < 2
    period = scale_period(step, season)
    # each backtest row's scale: its series' at its window's cutoff
    row_scale = _row_scales(panel, cv, season, period, h, gap)
    floors = nonnegative_ids(panel)
    scored, widths, calibration = _score_selected(
        cv, names, rolling, final, in_sample, row_scale, levels, h + gap, h, floors
    )
    note("selection and calibration", 1, 1)

    # the final weights use every window; the final scale is each series' now
    scales = {
        uid: period_scale(panel.series(uid)[1], season=season, period=period, h=h)
        for uid in panel.ids
    }
    table = inverse_error_weights(errs[aliases].groupby(level="unique_id").mean())
    weights = {str(u): row.to_numpy() for u, row in table.iterrows()}
    forecast = combine(raw, aliases, final, weights, widths, scales, levels, names[0], floors)
    model = TrainedForecaster(
        name=name,
        step=step,
        horizon=h,
        levels=levels,
        models=list(models),
        fallback=fallback,
        season=season,
        chosen=final,
        weights=weights,
        widths=widths,
        scales=scales,
        forecast_=forecast,
        dataset_id=dataset_id,
        info={**(info or {}), "calibration": {f"{lv:g}": calibration[lv] for lv in levels}},
    )
    return Selection(
        candidates=names,
        backtest=scored,
        rolling=rolling,
        model=model,
        forecast=forecast,
        fallbacks=fallbacks,
        folds=list(folds or []),
        in_sample=in_sample,
        calibration=calibration,
    )


def _most_chosen(chosen: Mapping[str, str], default: str) -> str:
    if not chosen:
        return default
    return str(pd.Series(list(chosen.values())).value_counts().index[0])


# ------------------------------------------------------------------- backtest


def _backtest_and_refit(
    models: Sequence[Any],
    fallback: Any,
    season: int,
    h: int,
    windows: Sequence[Fold] | int,
    gap: int,
    refit: bool,
    panel: Panel,
    n_jobs: int | None,
    note: Progress,
) -> tuple[pd.DataFrame, pd.DataFrame, list[Fallback]]:
    """Every window's backtest and the refit on all the data, as tasks shared among
    processes: the per-series models on parts of the panel, each global model on the
    whole panel (so that no result depends on ``n_jobs``). With ``refit`` false, the
    backtest fits each model once, at the first cutoff, and forecasts the later windows
    forward (:mod:`modelphase.forecast.forward`); the refit on all the data is the same."""
    local = [m for m in models if not is_global(m)]
    shared = [m for m in models if is_global(m)]
    jobs = default_jobs(panel.n_series, n_jobs)
    tasks: list[tuple[list[Any], Panel]] = [([m], panel) for m in shared]  # longest first
    tasks += [(local, part) for part in split_panel(panel, jobs)] if local else []
    job = partial(_task, fallback, season, h, windows, gap, refit)
    done = run_tasks(
        job,
        tasks,
        n_jobs=jobs if len(tasks) > 1 else 1,
        on_done=lambda d, t: note("backtest and refit", d, t),
    )
    fallbacks = [fb for _, fbs, _ in done for fb in fbs]
    parts = done[len(shared) :]
    cv = pd.concat([p[0] for p in parts], ignore_index=True) if parts else None
    raw = pd.concat([p[2] for p in parts], ignore_index=True) if parts else None
    for other_cv, _, other_raw in done[: len(shared)]:
        if cv is None or raw is None:
            cv, raw = other_cv, other_raw
            continue
        cv = cv.merge(other_cv.drop(columns="y"), on=["unique_id", "ds", "cutoff"], how="inner")
        raw = raw.merge(other_raw, on=["unique_id", "ds"], how="inner")
    assert cv is not None
    assert raw is not None
    return cv, raw, fallbacks


def _task(
    fallback: Any,
    season: int,
    h: int,
    windows: Sequence[Fold] | int,
    gap: int,
    refit: bool,
    task: tuple[list[Any], Panel],
) -> tuple[pd.DataFrame, list[Fallback], pd.DataFrame]:
    """One task: every window's backtest of some models on a panel (refitted at each
    window's cutoff, or with ``refit`` false fitted once and forecast forward), then their
    refit on all its data (the baseline is only backtested). ``windows``: time-aligned
    folds, or a number of windows counted back from each series' end."""
    models, panel = task
    runner = PanelForecaster(models, fallback=fallback, season_length=season)
    if isinstance(windows, int):
        cv = runner.cross_validation(panel, h=h, n_windows=windows, align="series")
    else:
        cv = runner.cross_validation(panel, h=h, gap=gap, folds=windows, refit=refit)
    kept = [m for m in models if alias_of(m) != BASELINE]
    final = PanelForecaster(kept, fallback=fallback, season_length=season)
    raw = final.fit(panel).predict(h)
    return cv, runner.cv_fallbacks_ + final.fallbacks_, raw


def _row_scales(
    panel: Panel, cv: pd.DataFrame, season: int, period: int, h: int, gap: int
) -> NDArray[np.float64]:
    """Each backtest row's :func:`period_scale`: its series' from the data up to its
    window's cutoff (no look-ahead)."""
    cutoff = pd.DatetimeIndex(cv["cutoff"]).asi8
    keys = pd.DataFrame({"unique_id": cv["unique_id"].to_numpy(), "cutoff": cutoff})
    pairs = keys.drop_duplicates(ignore_index=True).copy()
    scales = np.ones(len(pairs))
    for i, (uid, at) in enumerate(zip(pairs["unique_id"], pairs["cutoff"], strict=True)):
        ds, y = panel.series(str(uid))
        upto = y[: np.searchsorted(ds, int(at), side="right")]
        if np.isfinite(upto).any():
            scales[i] = period_scale(upto, season=season, period=period, h=h, gap=gap)
    pairs["scale"] = scales
    merged = keys.merge(pairs, on=["unique_id", "cutoff"], how="left")
    return merged["scale"].to_numpy(dtype=np.float64)


def _score_selected(
    cv: pd.DataFrame,
    names: Sequence[str],
    rolling: Mapping[tuple[str, int], str],
    final: Mapping[str, str],
    in_sample: bool,
    scale: NDArray[np.float64],
    levels: Sequence[float],
    horizon: int,
    final_horizon: int,
    floors: set[str],
) -> tuple[pd.DataFrame, dict[float, NDArray[np.float64]], dict[float, str]]:
    """The scored windows, with the ``yhat`` column of the selected candidate and its
    intervals calibrated on earlier windows only; the calibration of the final forecast
    (``final_horizon`` leads) and how it was made. ``scale`` is each row's series scale
    at its window's cutoff; ``floors``: the series whose forecasts stay at or above 0.

    A window's intervals are calibrated on the errors the selection made before it:
    in each earlier window ``j >= 1``, the candidate chosen for ``j`` (out of sample);
    in the first window, which has no earlier choice, the candidate used now. The
    errors of the candidate chosen *because* it did well on those windows would be
    too small (the winner's curse) and the intervals too narrow.
    """
    if not len(cv):
        raise ValidationError(
            "expected backtest windows with values to score, got none: every series is "
            "missing in every window",
            hint="check that the data's newest values have arrived, or move the windows "
            "with backtest.gap",
        )
    codes, uniques = pd.factorize(cv["unique_id"])
    window = cv["window"].to_numpy()
    column = {n: i for i, n in enumerate(names)}
    # choice[series, k]: the column each series uses in window k; k = n_windows is the
    # final forecast's
    n_windows = int(window.max()) + 1
    final_col = np.array([column[final[u]] for u in uniques], dtype=np.int64)
    choice = np.zeros((len(uniques), n_windows + 1), dtype=np.int64)
    position = {u: i for i, u in enumerate(uniques)}
    if in_sample:
        choice[:] = final_col[:, None]
    else:
        choice[:] = final_col[:, None]  # a series first seen late keeps the final choice
        for (uid, k), name in rolling.items():
            choice[position[uid], k] = column[name]
    keep = np.ones(len(cv), dtype=bool) if in_sample else window > 0
    values = cv[list(names)].to_numpy(dtype=np.float64)
    y = cv["y"].to_numpy(dtype=np.float64)
    pick = choice[codes, window]
    lead = cv["lead"].to_numpy()
    yhat = values[np.arange(len(cv)), pick]
    floored = cv["unique_id"].isin(floors).to_numpy()
    yhat = np.where(floored, np.maximum(yhat, 0.0), yhat)

    def calibration(
        k: int, leads: int
    ) -> tuple[dict[float, NDArray[np.float64]], dict[float, str]]:
        calib = np.ones(len(cv), dtype=bool) if in_sample else window < k
        earlier = window[calib]
        used = np.where(earlier >= 1, choice[codes[calib], earlier], choice[codes[calib], k])
        errors = np.abs(values[calib, used] - y[calib])
        return calibrate_widths(errors, lead[calib], scale[calib], levels, leads)

    half = {lv: np.zeros(len(cv)) for lv in levels}
    for k in np.unique(window[keep]):
        widths, _ = calibration(int(k), horizon)
        rows = window == k
        for lv in levels:
            half[lv][rows] = widths[float(lv)][lead[rows]] * scale[rows]
    kept = ["unique_id", "ds", "cutoff", "window", "lead", "y", *names, BASELINE]
    data: dict[str, Any] = {c: cv[c].array[keep] for c in kept}
    data["yhat"] = yhat[keep]
    data["model"] = np.asarray(names, dtype=object)[pick[keep]]
    for lv in levels:
        lo = yhat - half[lv]
        data[f"yhat-lo-{lv:g}"] = np.where(floored, np.maximum(lo, 0.0), lo)[keep]
        data[f"yhat-hi-{lv:g}"] = (yhat + half[lv])[keep]
    widths, methods = calibration(n_windows, final_horizon)
    return pd.DataFrame(data), widths, methods
