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

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import yaml

from modelphase import __version__
from modelphase.anomaly import DETECTORS, Alert, Alerter, FixedThreshold
from modelphase.anomaly import FLAVOR as DETECTOR_FLAVOR
from modelphase.backtest import Fold, evaluate, folds
from modelphase.backtest.scoring import score_backtest
from modelphase.exceptions import SpecError, ValidationError
from modelphase.forecast.catalog import build_model, default_season, min_history
from modelphase.forecast.engine import BASELINE, Progress, select
from modelphase.forecast.naive import SeasonalNaive
from modelphase.forecast.panel import Fallback, alias_of
from modelphase.forecast.seasons import default_models
from modelphase.forecast.trained import FLAVOR as FORECAST_FLAVOR
from modelphase.forecast.trained import TrainedForecaster
from modelphase.frame import NS_PER_SECOND, Panel, format_duration, label_table
from modelphase.registry import ModelRegistry, ModelVersion
from modelphase.spec import ModelSpec

__all__ = [
    "BASELINE",
    "DetectorRun",
    "TrainingRun",
    "detector_of",
    "gate_metrics",
    "refit_p95_ms",
    "register_detector",
    "register_run",
    "train",
    "train_detector",
    "value_ranges",
]

#: the series whose refit serving's latency budget is fitted to
REFIT_SAMPLE = 20
Clock = Callable[[], float]


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
    #: per interval level, how its widths were calibrated (conformal or laplace)
    calibration: dict[float, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(g["passed"] for g in self.gates)

    @property
    def chosen(self) -> dict[str, str]:
        return self.model.chosen


def gate_metrics(levels: Sequence[float]) -> list[str]:
    """The metric names a gate may use."""
    names = ["mae", "rmse", "smape", "mase", "mase_vs_baseline", "worst_series_vs_baseline"]
    names += ["baseline_mase", "fallback_share", "series", "refit_p95_ms"]
    for lv in levels:
        names += [f"coverage_{lv:g}", f"pinball_{lv:g}"]
    return names


def candidate_models(spec: ModelSpec, step: int) -> list[Any]:
    """The spec's candidates built for data every ``step`` ns, with distinct aliases;
    without candidates, the defaults (:func:`modelphase.forecast.default_models`)."""
    if not spec.candidates:
        return default_models(step)
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
    panel = _arrived(panel)
    panel = _check_history(spec, panel, [*models, baseline], window_step, drop_short)
    windows = folds(panel, h=h, n_windows=bt.windows, step=window_step, gap=bt.gap)
    found = select(
        panel,
        models,
        h=h,
        folds=windows,
        levels=spec.levels,
        gap=bt.gap,
        refit=bt.refit,
        margin=bt.selection_margin,
        fallback=fallback,
        name=spec.name,
        dataset_id=dataset_id,
        info={"trained_with": f"modelphase {__version__}"},
        n_jobs=n_jobs,
        progress=progress,
    )
    timings = {"backtest_and_refit": time.perf_counter() - started}
    per_series, candidate_metrics, metrics = score_backtest(
        found.backtest,
        found.candidates,
        panel,
        windows[0].cutoff,
        season,
        spec.levels,
        found.chosen,
        BASELINE,
    )
    metrics["fallback_share"] = len({fb.unique_id for fb in found.fallbacks}) / max(
        panel.n_series, 1
    )
    metrics["series"] = float(panel.n_series)
    metrics["refit_p95_ms"] = refit_p95_ms(found.model, panel)
    found.model.info["ranges"] = value_ranges(panel)
    gates = evaluate(spec.gate_dicts(), metrics)
    return TrainingRun(
        spec=spec,
        dataset_id=dataset_id,
        panel=panel,
        candidates=found.candidates,
        backtest=found.backtest,
        candidate_metrics=candidate_metrics,
        per_series=per_series,
        metrics=metrics,
        gates=gates,
        forecast=found.forecast,
        fallbacks=found.fallbacks,
        model=found.model,
        folds=found.folds,
        selection_in_sample=found.in_sample,
        seconds=time.perf_counter() - started,
        timings=timings,
        calibration=found.calibration,
    )


def refit_p95_ms(
    model: TrainedForecaster,
    panel: Panel,
    *,
    sample: int = REFIT_SAMPLE,
    clock: Clock | None = None,
) -> float:
    """The 95th percentile of the time serving takes to refit a series' chosen model on
    its history and forecast the horizon (:meth:`TrainedForecaster.forecast` on one
    series), in ms, over an evenly spread sample of the series. Serving's default
    latency budget is fitted to it (:func:`modelphase.serve.table.latency_budget`)."""
    clock = clock or time.perf_counter
    ids = panel.ids[:: max(1, -(-panel.n_series // sample))]
    took = []
    for uid in ids:
        one = panel.subset([uid])
        started = clock()
        model.forecast(one)
        took.append((clock() - started) * 1000.0)
    return float(np.percentile(took, 95)) if took else 0.0


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
        "candidates": [c.model_dump(mode="json", exclude_none=True) for c in spec.candidates or []],
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
        flavor=FORECAST_FLAVOR,
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


@dataclass
class DetectorRun:
    """A detector run over its training data: the alerts it raised there and their
    rates, the gates on those rates; :attr:`alerter` is what gets registered."""

    name: str
    alerter: Alerter
    alerts: list[Alert]
    metrics: dict[str, Any]
    gates: list[dict[str, Any]]
    dataset_id: str | None
    seconds: float
    spec: ModelSpec | None = None

    @property
    def passed(self) -> bool:
        return all(g["passed"] for g in self.gates)


def detector_of(spec: ModelSpec) -> Alerter:
    """The alerter an anomaly spec declares: its first candidate is the detector (the
    default detector without one), its ``alerts:`` the alert rules (``threshold``,
    ``group_by``, ``cooldown``, ``min_deviation``)."""
    if spec.kind != "anomaly":
        raise SpecError(f"kind: expected anomaly for a detector, got {spec.kind}")
    spec.check_models(sorted(DETECTORS))
    if spec.candidates and len(spec.candidates) > 1:
        raise SpecError(
            f"candidates: an anomaly spec names one detector, got {len(spec.candidates)}",
            errors=["candidates: keep one detector"],
        )
    rules = dict(spec.alerts)
    threshold = rules.pop("threshold", None)
    detector = (
        {"name": spec.candidates[0].model, "params": dict(spec.candidates[0].params)}
        if spec.candidates
        else None
    )
    decider = FixedThreshold(float(threshold)) if threshold is not None else None
    try:
        alerter = Alerter(detector, decider, **rules)
        alerter.get_params()  # builds the detector: bad parameters fail here
    except (TypeError, ValueError) as exc:
        raise SpecError(
            f"candidates/alerts: the detector cannot be built: {exc}",
            errors=[f"detector: {exc}"],
        ) from None
    return alerter


def train_detector(
    name: str,
    panel: Panel,
    alerter: Alerter | None = None,
    *,
    spec: ModelSpec | None = None,
    dataset_id: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> DetectorRun:
    """Run a detector over ``panel`` as it will run in production, and measure what it
    would have raised: ``alerts``, ``alerts_per_service_day`` (with the alerter's first
    ``group_by`` label as the service), ``alerts_per_series_day`` and the share of
    series too short to calibrate. ``spec`` (kind anomaly) gives the alerter and the
    gates on those metrics; without it ``alerter`` (default: the default detector)."""
    started = time.perf_counter()
    if spec is not None:
        alerter = detector_of(spec)
        name = spec.name
    alerter = alerter if alerter is not None else Alerter()
    alerts = alerter.run(panel, progress=progress)
    days = _days(panel)
    services = _services(panel, alerter)
    short = alerter.short_series(panel)
    metrics: dict[str, Any] = {
        "alerts": float(len(alerts)),
        "episodes": float(sum(len(a.episodes) for a in alerts)),
        "series": float(panel.n_series),
        "days": days,
        "alerts_per_service_day": len(alerts) / max(services * days, 1e-9),
        "alerts_per_series_day": len(alerts) / max(panel.n_series * days, 1e-9),
        "short_history_share": len(short) / max(panel.n_series, 1),
    }
    gates = evaluate(spec.gate_dicts(), metrics) if spec is not None else []
    return DetectorRun(
        name, alerter, alerts, metrics, gates, dataset_id, time.perf_counter() - started, spec
    )


def register_detector(
    run: DetectorRun,
    registry: ModelRegistry,
    *,
    metrics: Mapping[str, Any] | None = None,
    code_version: str | None = None,
    git_commit: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> ModelVersion:
    """Register a detector run: its artifact is the alerter's parameters as JSON (data,
    never code: serving rebuilds it with ``Alerter(**params)`` from closed tables).
    ``metrics`` are added to the run's (e.g. precision and recall against labelled
    incidents). A run whose gates failed is registered as not promotable."""
    params = run.alerter.get_params()
    spec = run.spec
    return registry.register(
        run.name,
        json.dumps(params, sort_keys=True).encode(),
        flavor=DETECTOR_FLAVOR,
        model_class="Alerter",
        params=params,
        spec=spec.to_dict() if spec is not None else None,
        dataset_id=run.dataset_id,
        metrics={**{k: _plain(v) for k, v in run.metrics.items()}, **(metrics or {})},
        gates=run.gates,
        owners=spec.owners if spec is not None else [],
        canary_plan=spec.canary if spec is not None else None,
        tags={"kind": "anomaly", **(tags or {})},
        code_version=code_version or f"modelphase {__version__}",
        git_commit=git_commit,
    )


def _days(panel: Panel) -> float:
    if panel.n_points == 0:
        return 0.0
    ds = panel.ds
    return max(float(ds.max() - ds.min() + (panel.step or 0)) / (86_400 * NS_PER_SECOND), 0.0)


def _services(panel: Panel, alerter: Alerter) -> int:
    label = next(iter(alerter.group_by), None)
    if label is None:
        return panel.n_series
    table = label_table(panel.ids)
    values = table.loc[table["label"] == label, "value"]
    return max(int(values.nunique()), 1) if len(values) else panel.n_series


def _arrived(panel: Panel) -> Panel:
    """``panel`` without its trailing times at which no series has a value: a range
    query up to ``now`` ends with the scrapes that have not arrived yet, and a backtest
    window cut there would have nothing to score."""
    seen = panel.ds[np.isfinite(panel.y)]
    if not len(seen) or int(seen.max()) == int(panel.ds.max()):
        return panel
    return panel.take(panel.ds <= int(seen.max()))


def value_ranges(panel: Panel) -> dict[str, list[float]]:
    """Each series' lowest and highest finite training value, kept with the model so
    that serving can tell a request whose values are far outside what it learned from."""
    out = {}
    for i, uid in enumerate(panel.ids):
        y = panel.y[panel.indptr[i] : panel.indptr[i + 1]]
        y = y[np.isfinite(y)]
        if len(y):
            out[uid] = [float(y.min()), float(y.max())]
    return out


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


def _plain(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value
