"""The training run of a forecasting spec: candidates, backtests, gates, selection,
refit, report, registration.

:func:`train` takes a :class:`~modelphase.spec.ModelSpec` and a panel:

1. builds the candidates (and a seasonal-naive baseline) and checks that every series
   is long enough for the horizon, the backtest windows and each model's season;
2. backtests them with rolling-origin windows cut at the same times for every series
   (:func:`modelphase.backtest.folds`), each window refitted on data up to its cutoff
   (with ``backtest.refit: false``, fitted once at the first cutoff and run forward);
3. adds the median and the backtest-weighted ensembles and chooses a candidate per
   series. Window ``k`` is scored with the choice and the interval calibration made from
   the windows before it, so the reported metrics and coverage are out of sample
   (with one window they cannot be, and ``selection_in_sample`` says so);
4. computes per-series and aggregate MAE, RMSE, sMAPE, MASE, interval coverage and
   pinball loss, the MASE relative to the baseline, and evaluates the spec's gates;
5. refits on all the data and forecasts the horizon with conformal intervals.

:func:`register_run` stores the result in the registry with its lineage; a run whose
gates fail is registered as not promotable. The CLI's ``modelphase train`` writes the
HTML report (:func:`modelphase.report.write_training_report`) and exits non-zero when a
gate fails.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import yaml
from numpy.typing import NDArray

from modelphase import __version__
from modelphase.backtest import (
    Fold,
    evaluate,
    folds,
    interval_pinball_terms,
    mase_scale,
    smape_terms,
)
from modelphase.engine import default_jobs, run_tasks, split_panel
from modelphase.exceptions import SpecError, ValidationError
from modelphase.forecast.catalog import build_model, default_season, min_history
from modelphase.forecast.naive import SeasonalNaive
from modelphase.forecast.panel import Fallback, PanelForecaster, alias_of, is_global
from modelphase.forecast.select import (
    add_ensembles,
    choose,
    conformal_widths,
    inverse_error_weights,
    period_scale,
    scale_period,
    window_mae,
)
from modelphase.forecast.trained import TrainedForecaster, combine
from modelphase.frame import Panel, format_duration
from modelphase.registry import ModelRegistry, ModelVersion
from modelphase.spec import ModelSpec

__all__ = ["BASELINE", "TrainingRun", "gate_metrics", "register_run", "train"]

BASELINE = "baseline"
Progress = Callable[[str, int, int], None]


@dataclass
class TrainingRun:
    """Everything a training run found; :attr:`model` is what gets registered."""

    spec: ModelSpec
    dataset_id: str | None
    panel: Panel
    candidates: list[str]
    backtest: pd.DataFrame
    candidate_metrics: pd.DataFrame
    per_series: pd.DataFrame
    metrics: dict[str, float]
    gates: list[dict[str, Any]]
    forecast: pd.DataFrame
    fallbacks: list[Fallback]
    model: TrainedForecaster
    folds: list[Fold]
    selection_in_sample: bool
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(g["passed"] for g in self.gates)

    @property
    def chosen(self) -> dict[str, str]:
        return self.model.chosen


def gate_metrics(levels: Sequence[float]) -> list[str]:
    """The metric names a gate may use."""
    names = ["mae", "rmse", "smape", "mase", "mase_vs_baseline", "worst_series_vs_baseline"]
    names += ["baseline_mase", "fallback_share", "series"]
    for lv in levels:
        names += [f"coverage_{lv:g}", f"pinball_{lv:g}"]
    return names


def candidate_models(spec: ModelSpec, step: int) -> list[Any]:
    """The spec's candidates built for data every ``step`` ns, with distinct aliases."""
    models = []
    for n, cand in enumerate(spec.candidates):
        params = dict(cand.params)
        if cand.alias is not None:
            params["alias"] = cand.alias
        try:
            model = build_model(cand.model, params, step=step)
        except SpecError as exc:
            raise SpecError(f"candidates.{n}: {exc}", errors=exc.errors) from None
        models.append(model)
    aliases = [alias_of(m) for m in models]
    twice = sorted({a for a in aliases if aliases.count(a) > 1})
    if twice:
        raise SpecError(
            f"candidates: the name(s) {', '.join(twice)} are used more than once; give "
            "each candidate of the same model its own alias:",
            errors=[f"candidates: duplicate alias {a}" for a in twice],
        )
    if BASELINE in aliases:
        raise SpecError(f"candidates: the alias {BASELINE!r} is reserved for the baseline")
    return models


def train(
    spec: ModelSpec,
    panel: Panel,
    *,
    dataset_id: str | None = None,
    n_jobs: int | None = None,
    progress: Progress | None = None,
    drop_short: bool = False,
) -> TrainingRun:
    """Run the spec on ``panel`` (on its grid, at the spec's frequency)."""
    started = time.perf_counter()
    timings: dict[str, float] = {}
    note = progress or (lambda stage, done, total: None)
    if spec.kind != "forecast":
        raise SpecError(f"kind: expected forecast for a forecasting run, got {spec.kind}")
    _check_gates(spec)
    step = _check_step(spec, panel)
    models = candidate_models(spec, step)
    season = default_season(step)
    fallback = _fallback(spec, step, season)
    baseline = SeasonalNaive(season_length=season, alias=BASELINE)
    h, bt = spec.horizon, spec.backtest
    window_step = bt.step or h
    panel = _check_history(spec, panel, [*models, baseline], window_step, drop_short)
    windows = folds(panel, h=h, n_windows=bt.windows, step=window_step, gap=bt.gap)
    aliases = [alias_of(m) for m in models]

    note("backtest and refit", 0, 1)
    cv, raw, fallbacks = _backtest_and_refit(
        [*models, baseline], fallback, season, h, windows, bt.gap, bt.refit, panel, n_jobs, note
    )
    timings["backtest_and_refit"] = time.perf_counter() - started
    cutoff_ns = pd.DatetimeIndex(cv["cutoff"]).asi8
    cutoffs = np.array([f.cutoff for f in windows], dtype=np.int64)  # oldest first
    cv["window"] = np.searchsorted(cutoffs, cutoff_ns).astype(np.int64)
    cv = cv.sort_values(["unique_id", "window", "ds"], kind="stable", ignore_index=True)
    lead = (cv["ds"] - cv["cutoff"]).to_numpy().astype(np.int64) // step - 1
    cv["lead"] = lead

    note("selection and calibration", 0, 1)
    names = add_ensembles(cv, aliases)
    errs = window_mae(cv, names)
    rolling, final = choose(errs, names, margin=bt.selection_margin)
    in_sample = len(windows) < 2
    period = scale_period(step, season)
    position = {uid: i for i, uid in enumerate(panel.ids)}
    row_series = cv["unique_id"].map(position).to_numpy(dtype=np.int64)
    # each backtest row's scale: its series' at its window's cutoff
    row_scale = _window_scales(panel, windows, season, period, h, bt.gap)[
        row_series, cv["window"].to_numpy()
    ]
    scored, widths = _score_selected(
        cv, names, rolling, final, in_sample, row_scale, spec.levels, h + bt.gap, h
    )
    per_series, candidate_metrics, metrics = _metrics(
        scored, names, panel, windows[0].cutoff, season, spec.levels, final
    )
    metrics["fallback_share"] = len({fb.unique_id for fb in fallbacks}) / max(panel.n_series, 1)
    metrics["series"] = float(panel.n_series)
    gates = evaluate(spec.gate_dicts(), metrics)
    note("selection and calibration", 1, 1)

    # the final weights use every window; the final scale is each series' now
    full_scale = {
        uid: period_scale(panel.series(uid)[1], season=season, period=period, h=h)
        for uid in panel.ids
    }
    final_weights = inverse_error_weights(errs[aliases].groupby(level="unique_id").mean())
    weights = {str(u): row.to_numpy() for u, row in final_weights.iterrows()}
    forecast = combine(raw, aliases, final, weights, widths, full_scale, spec.levels, names[0])
    model = TrainedForecaster(
        name=spec.name,
        step=step,
        horizon=h,
        levels=list(spec.levels),
        models=models,
        fallback=fallback,
        season=season,
        chosen=final,
        weights=weights,
        widths=widths,
        scales=full_scale,
        forecast_=forecast,
        dataset_id=dataset_id,
        info={"trained_with": f"modelphase {__version__}"},
    )
    return TrainingRun(
        spec=spec,
        dataset_id=dataset_id,
        panel=panel,
        candidates=names,
        backtest=scored,
        candidate_metrics=candidate_metrics,
        per_series=per_series,
        metrics=metrics,
        gates=gates,
        forecast=forecast,
        fallbacks=fallbacks,
        model=model,
        folds=windows,
        selection_in_sample=in_sample,
        seconds=time.perf_counter() - started,
        timings=timings,
    )


def register_run(
    run: TrainingRun,
    registry: ModelRegistry,
    *,
    code_version: str = "",
    git_commit: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> ModelVersion:
    """Register the run's model with its lineage. A run whose gates failed is
    registered too (for the record), and the registry refuses to promote it."""
    spec = run.spec
    candidates = {
        row: {k: _plain(v) for k, v in values.items()}
        for row, values in run.candidate_metrics.to_dict(orient="index").items()
    }
    metrics: dict[str, Any] = {k: _plain(v) for k, v in run.metrics.items()}
    metrics["candidates"] = candidates
    metrics["chosen"] = {k: int(v) for k, v in pd.Series(run.chosen).value_counts().items()}
    metrics["selection_in_sample"] = run.selection_in_sample
    params = {
        "candidates": [c.model_dump(mode="json", exclude_none=True) for c in spec.candidates],
        "fallback": spec.fallback.model_dump(mode="json") if spec.fallback else None,
        "horizon": spec.horizon,
        "frequency": spec.frequency,
        "levels": spec.levels,
        "backtest": spec.backtest.model_dump(mode="json"),
        "folds": [f.to_dict() for f in run.folds],
    }
    return registry.register(
        spec.name,
        run.model.to_bytes(),
        flavor="modelphase.forecast",
        model_class="TrainedForecaster",
        params=params,
        spec=spec.to_dict(),
        dataset_id=run.dataset_id,
        metrics=metrics,
        gates=run.gates,
        owners=spec.owners,
        canary_plan=spec.canary,
        tags={"kind": spec.kind, **(tags or {})},
        code_version=code_version or f"modelphase {__version__}",
        git_commit=git_commit,
    )


def spec_text(spec: ModelSpec) -> str:
    """The spec as YAML, as the report shows it."""
    return str(yaml.safe_dump(spec.to_dict(), sort_keys=False))


# --------------------------------------------------------------------- checks


def _check_gates(spec: ModelSpec) -> None:
    known = gate_metrics(spec.levels)
    unknown = sorted({g.metric for g in spec.gates} - set(known))
    if unknown:
        raise SpecError(
            f"gates: unknown metric(s) {', '.join(unknown)}; expected one of {', '.join(known)}",
            errors=[f"gates: unknown metric {m!r}" for m in unknown],
        )


def _check_step(spec: ModelSpec, panel: Panel) -> int:
    if panel.step is None:
        raise ValidationError("expected the data on a regular grid (a dataset) to train on")
    if panel.step != spec.frequency_ns:
        raise ValidationError(
            f"the spec's frequency is {spec.frequency} but the data is sampled every "
            f"{format_duration(panel.step)}",
            hint=f"set frequency: {format_duration(panel.step)} in the spec, or ingest the "
            f"data with --step {spec.frequency}",
        )
    return panel.step


def _fallback(spec: ModelSpec, step: int, season: int) -> Any:
    if spec.fallback is None:
        return SeasonalNaive(season_length=season)
    try:
        return build_model(spec.fallback.model, spec.fallback.params, step=step)
    except SpecError as exc:
        raise SpecError(f"fallback: {exc}", errors=exc.errors) from None


def _check_history(
    spec: ModelSpec, panel: Panel, models: Sequence[Any], window_step: int, drop_short: bool
) -> Panel:
    """Refuse (or drop, with ``drop_short``) series that are empty, or too short for
    the backtest or for a model's season."""
    if not panel.n_series:
        raise ValidationError("the data has no series to train on")
    bt = spec.backtest
    held = spec.horizon + bt.gap + (bt.windows - 1) * window_step
    needs = [(alias_of(m), min_history(m)) for m in models]
    empty: list[str] = []
    short: list[tuple[str, int]] = []
    unseasonal: list[tuple[str, int, str, int]] = []
    for uid in panel.ids:
        finite = np.flatnonzero(np.isfinite(panel.series(uid)[1]))
        if not len(finite):
            empty.append(uid)
            continue
        length = int(finite[-1] - finite[0] + 1)
        first_train = length - held
        if first_train < 2:
            short.append((uid, length))
            continue
        for alias, need in needs:
            if first_train < need:
                unseasonal.append((uid, first_train, alias, need))
                break
    dropped = set(empty) | {u for u, _ in short} | {u for u, *_ in unseasonal}
    if dropped and drop_short and len(dropped) < panel.n_series:
        return panel.subset([u for u in panel.ids if u not in dropped])
    if empty:
        raise ValidationError(
            f"{len(empty)} series have no values at all (all missing): "
            f"{', '.join(empty[:3])}{'...' if len(empty) > 3 else ''}",
            unique_ids=empty,
            hint="drop them from the data (target.series in the spec), or --drop-short",
        )
    if short:
        uid, length = short[0]
        raise ValidationError(
            f"the horizon is longer than the history allows: series {uid} has {length} "
            f"points, and a horizon of {spec.horizon} with {bt.windows} backtest window(s) "
            f"{window_step} steps apart (gap {bt.gap}) holds out {held}, leaving "
            f"{length - held} to train on ({len(short)} series are this short)",
            unique_ids=[u for u, _ in short],
            hint="shorten horizon, or use fewer backtest windows or a smaller backtest "
            "step, or train on a longer dataset (--drop-short drops such series)",
        )
    if unseasonal:
        uid, length, alias, need = unseasonal[0]
        raise ValidationError(
            f"series {uid} is too short for its seasonality: the first backtest window "
            f"trains on {length} points, and {alias} needs {need} (a season, two for "
            f"MSTL, window_size seasons for SeasonalWindowAverage); {len(unseasonal)} "
            "series are this short",
            unique_ids=[u for u, *_ in unseasonal],
            hint="use a shorter season_length, fewer backtest windows, a longer dataset, "
            "or --drop-short",
        )
    return panel


# ------------------------------------------------------------------- backtest


def _backtest_and_refit(
    models: Sequence[Any],
    fallback: Any,
    season: int,
    h: int,
    windows: Sequence[Fold],
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
    windows: Sequence[Fold],
    gap: int,
    refit: bool,
    task: tuple[list[Any], Panel],
) -> tuple[pd.DataFrame, list[Fallback], pd.DataFrame]:
    """One task: every window's backtest of some models on a panel (refitted at each
    window's cutoff, or with ``refit`` false fitted once and forecast forward), then their
    refit on all its data (the baseline is only backtested)."""
    models, panel = task
    runner = PanelForecaster(models, fallback=fallback, season_length=season)
    cv = runner.cross_validation(panel, h=h, gap=gap, folds=windows, refit=refit)
    kept = [m for m in models if alias_of(m) != BASELINE]
    final = PanelForecaster(kept, fallback=fallback, season_length=season)
    raw = final.fit(panel).predict(h)
    return cv, runner.cv_fallbacks_ + final.fallbacks_, raw


def _window_scales(
    panel: Panel, windows: Sequence[Fold], season: int, period: int, h: int, gap: int
) -> NDArray[np.float64]:
    """``[series, window]``: each series' :func:`period_scale` for each backtest window,
    from its data up to that window's cutoff (no look-ahead); series in panel order."""
    out = np.zeros((panel.n_series, len(windows)))
    for i, uid in enumerate(panel.ids):
        ds, y = panel.series(uid)
        for k, fold in enumerate(windows):
            upto = y[: np.searchsorted(ds, fold.cutoff, side="right")]
            out[i, k] = period_scale(upto, season=season, period=period, h=h, gap=gap)
    return out


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
) -> tuple[pd.DataFrame, dict[float, NDArray[np.float64]]]:
    """The scored windows, with the ``yhat`` column of the selected candidate and its
    intervals calibrated on earlier windows only; and the calibration of the final
    forecast (``final_horizon`` leads). ``scale`` is each row's series scale at its
    window's cutoff.

    A window's intervals are calibrated on the errors the selection made before it:
    in each earlier window ``j >= 1``, the candidate chosen for ``j`` (out of sample);
    in the first window, which has no earlier choice, the candidate used now. The
    errors of the candidate chosen *because* it did well on those windows would be
    too small (the winner's curse) and the intervals too narrow.
    """
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
        for (uid, k), name in rolling.items():
            choice[position[uid], k] = column[name]
        choice[:, n_windows] = final_col
    keep = np.ones(len(cv), dtype=bool) if in_sample else window > 0
    values = cv[list(names)].to_numpy(dtype=np.float64)
    y = cv["y"].to_numpy(dtype=np.float64)
    pick = choice[codes, window]
    lead = cv["lead"].to_numpy()
    yhat = values[np.arange(len(cv)), pick]

    def calibration(k: int, leads: int) -> dict[float, NDArray[np.float64]]:
        calib = np.ones(len(cv), dtype=bool) if in_sample else window < k
        earlier = window[calib]
        used = np.where(earlier >= 1, choice[codes[calib], earlier], choice[codes[calib], k])
        errors = np.abs(values[calib, used] - y[calib])
        return conformal_widths(errors, lead[calib], scale[calib], levels, leads)

    half = {lv: np.zeros(len(cv)) for lv in levels}
    for k in np.unique(window[keep]):
        widths = calibration(int(k), horizon)
        rows = window == k
        for lv in levels:
            half[lv][rows] = widths[float(lv)][lead[rows]] * scale[rows]
    kept = ["unique_id", "ds", "cutoff", "window", "lead", "y", *names, BASELINE]
    data: dict[str, Any] = {c: cv[c].array[keep] for c in kept}
    data["yhat"] = yhat[keep]
    data["model"] = np.asarray(names, dtype=object)[pick[keep]]
    for lv in levels:
        data[f"yhat-lo-{lv:g}"] = (yhat - half[lv])[keep]
        data[f"yhat-hi-{lv:g}"] = (yhat + half[lv])[keep]
    return pd.DataFrame(data), calibration(n_windows, final_horizon)


# -------------------------------------------------------------------- metrics


def _mase_scales(panel: Panel, cutoff: int, season: int) -> dict[str, float]:
    """MASE's scale per series: the in-sample seasonal-naive MAE before the first
    cutoff (the one-step naive where the history is shorter than two seasons)."""
    out = {}
    for uid in panel.ids:
        ds, y = panel.series(uid)
        y = y[ds <= cutoff]
        out[uid] = mase_scale(y, season if len(y) > 2 * season else 1)
    return out


def _error_table(
    frame: pd.DataFrame, col: str, levels: Sequence[float], with_intervals: bool
) -> pd.DataFrame:
    y = frame["y"].to_numpy()
    f = frame[col].to_numpy()
    ok = np.isfinite(y) & np.isfinite(f)
    err = np.where(ok, np.abs(y - f), np.nan)
    table = pd.DataFrame(
        {
            "unique_id": frame["unique_id"].to_numpy(),
            "ae": err,
            "se": err**2,
            "smape": smape_terms(y, f),
        }
    )
    if with_intervals:
        for lv in levels:
            lo, hi = frame[f"yhat-lo-{lv:g}"].to_numpy(), frame[f"yhat-hi-{lv:g}"].to_numpy()
            inside = (y >= lo) & (y <= hi)
            table[f"coverage_{lv:g}"] = np.where(ok, inside.astype(np.float64), np.nan)
            pin = interval_pinball_terms(y, lo=lo, hi=hi, level=lv)
            table[f"pinball_{lv:g}"] = np.where(ok, pin, np.nan)
    return table


def _per_series(
    frame: pd.DataFrame,
    col: str,
    levels: Sequence[float],
    scales: Mapping[str, float],
    intervals: bool,
) -> pd.DataFrame:
    table = _error_table(frame, col, levels, intervals)
    grouped = table.groupby("unique_id", sort=True).mean()
    out = pd.DataFrame(index=grouped.index)
    out["mae"] = grouped["ae"]
    out["rmse"] = np.sqrt(grouped["se"])
    out["smape"] = grouped["smape"]
    scale = out.index.map(scales).to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["mase"] = np.where(scale > 0, out["mae"].to_numpy() / scale, np.nan)
    if intervals:
        for lv in levels:
            out[f"coverage_{lv:g}"] = grouped[f"coverage_{lv:g}"]
            out[f"pinball_{lv:g}"] = grouped[f"pinball_{lv:g}"]
    return out


def _metrics(
    scored: pd.DataFrame,
    names: Sequence[str],
    panel: Panel,
    cutoff: int,
    season: int,
    levels: Sequence[float],
    final: Mapping[str, str],
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, float]]:
    scales = _mase_scales(panel, cutoff, season)
    selected = _per_series(scored, "yhat", levels, scales, True)
    baseline = _per_series(scored, BASELINE, levels, scales, False)
    rows: dict[str, dict[str, float]] = {}
    for name in [*names, BASELINE]:
        rows[name] = _aggregate(_per_series(scored, name, levels, scales, False))
    rows["selected"] = _aggregate(selected, _error_table(scored, "yhat", levels, True))
    chosen_counts = pd.Series(final).value_counts()
    candidate_metrics = pd.DataFrame.from_dict(rows, orient="index")
    candidate_metrics["series_chosen"] = [
        int(chosen_counts.get(n, 0)) for n in candidate_metrics.index
    ]
    candidate_metrics.loc["selected", "series_chosen"] = len(final)
    per_series = selected.copy()
    per_series.insert(0, "model", per_series.index.map(final))
    per_series["baseline_mase"] = baseline["mase"]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = per_series["mase"] / per_series["baseline_mase"]
    per_series["vs_baseline"] = ratio.where(np.isfinite(ratio))
    per_series = per_series.reset_index().rename(columns={"index": "unique_id"})
    metrics = dict(rows["selected"])
    base = rows[BASELINE]["mase"]
    metrics["baseline_mase"] = base
    metrics["mase_vs_baseline"] = (
        metrics["mase"] / base if base and np.isfinite(base) else float("nan")
    )
    worst = per_series["vs_baseline"].max()
    metrics["worst_series_vs_baseline"] = float(worst) if pd.notna(worst) else float("nan")
    return per_series, candidate_metrics, {k: float(v) for k, v in metrics.items()}


def _aggregate(per_series: pd.DataFrame, rows: pd.DataFrame | None = None) -> dict[str, float]:
    """Means over series; coverage pooled over every scored point."""
    out = {k: float(per_series[k].mean()) for k in ("mae", "rmse", "smape", "mase")}
    if rows is not None:
        for col in rows.columns:
            if col.startswith(("coverage_", "pinball_")):
                out[col] = float(rows[col].mean())
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value
