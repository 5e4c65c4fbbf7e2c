"""The panels of the Grafana dashboards (:mod:`modelphase.report.grafana`), as data: a
title, a kind, PromQL with its legend and a unit each, in rows.

Only metrics that modelphase defines appear (tests/report/test_grafana.py checks the
names against the server's and the monitor's registries, and the syntax with promtool):
counters through ``rate``/``increase`` over ``$__rate_interval``, histograms through
``histogram_quantile`` of the summed ``_bucket`` rates, gauges through ``max``/``min by``
the labels a panel shows. Selectors: ``job`` everywhere, ``model`` on serve and monitor
series, ``service`` on capacity plans, ``slo_service`` on the SLOs' ``sloth_service``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PANELS", "Panel"]

# selectors: every series by job; serve/monitor series by model; plans; SLOs
_J = 'job=~"$job"'
_M = f'{_J}, model=~"$model"'
_C = f'{_J}, service=~"$service"'
_S = f'{_J}, sloth_service=~"$slo_service"'
_R = "[$__rate_interval]"
_ANSWERED = f'modelphase_serve_requests_total{{{_M}, outcome=~"model|fallback"}}'


@dataclass(frozen=True)
class Panel:
    """One panel: ``kind`` timeseries, stat or heatmap; ``exprs`` (PromQL, legend)."""

    title: str
    kind: str
    exprs: tuple[tuple[str, str], ...]
    unit: str = "short"
    description: str = ""
    width: int = 8
    mappings: tuple[tuple[str, str, str], ...] = ()  # (value, text, colour)


def _ts(title: str, *exprs: tuple[str, str], unit: str = "short", text: str = "") -> Panel:
    return Panel(title, "timeseries", exprs, unit, text)


def _stat(title: str, *exprs: tuple[str, str], unit: str = "short", text: str = "") -> Panel:
    return Panel(title, "stat", exprs, unit, text)


def _q(level: float, metric: str, sel: str, by: str) -> str:
    return f"histogram_quantile({level}, sum by ({by}, le) (rate({metric}_bucket{{{sel}}}{_R})))"


def _per(num: str, den: str, by: str) -> str:
    return f"sum by ({by}) (rate({num}{_R})) / sum by ({by}) (rate({den}{_R}))"


_HEALTH = (("0", "not this verdict", "text"), ("1", "this verdict", "green"))
_PHASE = _ts(
    "Rollout phase",
    (f"max by (model, phase) (modelphase_model_rollout_phase{{{_M}}}) == 1", "{{model}} {{phase}}"),
    text="The phase each model's rollout is in (idle, retraining, shadow, canary); a step "
    "back to idle without a promotion is a rollback.",
)
_CIRCUIT = (("0", "closed", "green"), ("1", "half-open", "orange"), ("2", "open", "red"))

#: dashboard -> rows of panels
PANELS: dict[str, tuple[tuple[str, tuple[Panel, ...]], ...]] = {
    "executive": (
        (
            "Accuracy trend",
            (
                Panel(
                    "Model health",
                    "timeseries",
                    (
                        (
                            f'max by (model) (modelphase_model_health{{{_M}, verdict="healthy"}})',
                            "{{model}} healthy",
                        ),
                        (
                            f'max by (model) (modelphase_model_health{{{_M}, verdict="degraded"}})',
                            "{{model}} degraded",
                        ),
                    ),
                    description="The monitor's last verdict on each production version (1 "
                    "while it holds).",
                    mappings=_HEALTH,
                ),
                _ts(
                    "Interval coverage",
                    (
                        f"max by (model, level) (modelphase_model_interval_coverage_ratio{{{_M}}})",
                        "{{model}} {{level}}%",
                    ),
                    unit="percentunit",
                    text="Share of recent actuals inside each forecast band: an 80% band "
                    "should hold about 80%.",
                ),
                _ts(
                    "Residual bias",
                    (f"max by (model) (modelphase_model_residual_bias{{{_M}}})", "{{model}}"),
                    text="Mean residual (actual minus forecast, in series scales) over the "
                    "retrain trigger's window; 0 is unbiased.",
                ),
                _ts(
                    "MASE over backtest MASE",
                    (f"max by (model) (modelphase_model_accuracy_mase_ratio{{{_M}}})", "{{model}}"),
                    text="Recent accuracy against the accuracy the version was promoted on "
                    "(above 1: worse than promised).",
                ),
            ),
        ),
        (
            "SLO compliance",
            (
                _stat(
                    "Error budget remaining",
                    (
                        "min by (sloth_service, sloth_slo) "
                        f"(modelphase_slo_error_budget_remaining_ratio{{{_S}}})",
                        "{{sloth_service}} {{sloth_slo}}",
                    ),
                    unit="percentunit",
                    text="Share of each SLO's error budget left over its period.",
                ),
                _ts(
                    "Burn rate by window",
                    (
                        f"max by (sloth_slo, window) (modelphase_slo_burn_rate{{{_S}}})",
                        "{{sloth_slo}} {{window}}",
                    ),
                    text="Error ratio over the budget, per alert window (1 spends the budget "
                    "exactly over the period).",
                ),
                _stat(
                    "Alert tiers firing",
                    (f"sum(modelphase_slo_alert_condition{{{_S}}})", "firing"),
                    text="Alert tiers whose two windows both burn above their factor.",
                ),
                _stat(
                    "Budget exhausted in (expected)",
                    (
                        "min by (sloth_slo) "
                        f'(modelphase_slo_budget_exhaustion_seconds{{{_S}, bound="expected"}})',
                        "{{sloth_slo}}",
                    ),
                    unit="s",
                    text="The forecast of when each budget runs out (+Inf: not within the "
                    "horizon).",
                ),
                _stat(
                    "SLO status computed",
                    (f"min(modelphase_slo_status_up{{{_S}}})", "up"),
                    text="0 when the server could not compute an SLO's status (see its log).",
                ),
            ),
        ),
        (
            "Cost",
            (
                _ts(
                    "CPU seconds per prediction",
                    (
                        _per(
                            f"modelphase_serve_prediction_cpu_seconds_total{{{_M}}}",
                            f"modelphase_serve_predictions_total{{{_M}}}",
                            "model",
                        ),
                        "{{model}}",
                    ),
                    unit="s",
                    text="Thread CPU time of model calls over the calls, per model.",
                ),
                _ts(
                    "Prediction volume",
                    (
                        f"sum by (model) (rate(modelphase_serve_predictions_total{{{_M}}}{_R}))",
                        "{{model}}",
                    ),
                    unit="ops",
                    text="Model calls that answered, per second.",
                ),
                _stat(
                    "Predictions in range",
                    (
                        f"sum(increase(modelphase_serve_predictions_total{{{_M}}}[$__range]))",
                        "predictions",
                    ),
                    text="Model calls over the dashboard's time range.",
                ),
            ),
        ),
        (
            "Incidents attributable to models",
            (
                _ts(
                    "Fallbacks by reason",
                    (
                        "sum by (model, reason) "
                        f"(rate(modelphase_serve_fallbacks_total{{{_M}}}{_R}))",
                        "{{model}} {{reason}}",
                    ),
                    unit="reqps",
                    text="Requests the fallback model answered (error, timeout, circuit_open).",
                ),
                _ts(
                    "Inference errors by reason",
                    (
                        "sum by (model, reason) "
                        f"(rate(modelphase_serve_inference_errors_total{{{_M}}}{_R}))",
                        "{{model}} {{reason}}",
                    ),
                    unit="ops",
                    text="Model calls that raised or overran their latency budget.",
                ),
                _PHASE,
                _ts(
                    "Monitor actions",
                    (
                        f"sum by (model) (increase(modelphase_monitor_actions_total{{{_M}}}{_R}))",
                        "{{model}}",
                    ),
                    text="Alias moves and retrains the monitor made (promotions, rollbacks).",
                ),
            ),
        ),
    ),
    "on-call": (
        (
            "Model version impact",
            (
                _ts(
                    "Version traffic share",
                    (
                        f"max by (model, version) (modelphase_serve_version_traffic_share{{{_M}}})",
                        "{{model}} v{{version}}",
                    ),
                    unit="percentunit",
                    text="Share of each model's last 1,000 answers given by each version.",
                ),
                _ts(
                    "p95 latency by version",
                    (
                        _q(0.95, "modelphase_serve_inference_seconds", _M, "model, version"),
                        "{{model}} v{{version}}",
                    ),
                    unit="s",
                ),
                _ts(
                    "Error rate by version",
                    (
                        _per(
                            f"modelphase_serve_inference_errors_total{{{_M}}}",
                            _ANSWERED,
                            "model, version",
                        ),
                        "{{model}} v{{version}}",
                    ),
                    unit="percentunit",
                    text="Failed model calls over the answered requests, per version.",
                ),
            ),
        ),
        (
            "Latency and errors",
            (
                _ts(
                    "Inference latency p95 / p99",
                    (_q(0.95, "modelphase_serve_inference_seconds", _M, "model"), "{{model}} p95"),
                    (_q(0.99, "modelphase_serve_inference_seconds", _M, "model"), "{{model}} p99"),
                    unit="s",
                    text="From the request histogram, fallback included.",
                ),
                _ts(
                    "Error rate",
                    (
                        _per(
                            f"modelphase_serve_inference_errors_total{{{_M}}}", _ANSWERED, "model"
                        ),
                        "{{model}} errors",
                    ),
                    (
                        _per(f"modelphase_serve_fallbacks_total{{{_M}}}", _ANSWERED, "model"),
                        "{{model}} fallbacks",
                    ),
                    unit="percentunit",
                ),
                _ts(
                    "Rejected requests by status",
                    (
                        "sum by (status) "
                        f"(rate(modelphase_serve_rejected_requests_total{{{_J}}}{_R}))",
                        "{{status}}",
                    ),
                    unit="reqps",
                    text="Requests refused before any model ran (bad input, auth, limits).",
                ),
            ),
        ),
        (
            "Feature freshness",
            (
                _ts(
                    "Input age p95",
                    (_q(0.95, "modelphase_serve_input_age_seconds", _M, "model"), "{{model}}"),
                    unit="s",
                    text="Age of each request's newest value when it arrived.",
                ),
                _ts(
                    "Actuals age",
                    (f"max by (model) (modelphase_model_actuals_age_seconds{{{_M}}})", "{{model}}"),
                    unit="s",
                    text="Age of the newest actual the monitor saw: accuracy is this stale.",
                ),
                _stat(
                    "Since the last monitor pass",
                    (
                        f"time() - max(modelphase_monitor_last_pass_timestamp_seconds{{{_J}}})",
                        "seconds",
                    ),
                    unit="s",
                ),
            ),
        ),
        (
            "Recent deploys",
            (
                _ts(
                    "Reloads by outcome",
                    (
                        f"sum by (outcome) (increase(modelphase_serve_reloads_total{{{_J}}}{_R}))",
                        "{{outcome}}",
                    ),
                    text="Refreshes of the served models from the registry (changed: an alias "
                    "moved or a version was loaded).",
                ),
                _ts(
                    "Versions loaded by alias",
                    (f"sum by (alias) (modelphase_serve_models_loaded{{{_J}}})", "{{alias}}"),
                ),
                _PHASE,
            ),
        ),
        (
            "Capacity recommendation",
            (
                _stat(
                    "Recommended replicas",
                    (
                        f"max by (service) (modelphase_capacity_recommended_replicas{{{_C}}})",
                        "{{service}}",
                    ),
                ),
                _ts(
                    "Demand forecast and planned capacity",
                    (
                        f"max by (service, quantile) (modelphase_capacity_demand_forecast{{{_C}}})",
                        "{{service}} q{{quantile}}",
                    ),
                    (
                        f"max by (service) (modelphase_capacity_recommended_replicas{{{_C}}}) * "
                        f"max by (service) (modelphase_capacity_replica_capacity{{{_C}}})",
                        "{{service}} capacity",
                    ),
                    text="The forecast's quantiles at the step the replicas serve, and the "
                    "demand the recommended replicas hold.",
                ),
                _stat(
                    "Plan computed / age",
                    (f"min by (service) (modelphase_capacity_plan_up{{{_C}}})", "{{service}} up"),
                    (
                        f"max by (service) (modelphase_capacity_plan_age_seconds{{{_C}}})",
                        "{{service}} age s",
                    ),
                ),
            ),
        ),
    ),
    "debug": (
        (
            "Drift",
            (
                _ts(
                    "Drifted series share",
                    (
                        f"max by (model, version) (modelphase_model_drift_series_ratio{{{_M}}})",
                        "{{model}} v{{version}}",
                    ),
                    unit="percentunit",
                    text="Share of series whose recent values drifted from the training data.",
                ),
                _ts(
                    "Residual drift effect",
                    (
                        f"max by (model, version) (modelphase_model_residual_drift_effect{{{_M}}})",
                        "{{model}} v{{version}}",
                    ),
                    text="How far the trigger window's residuals moved from the earlier ones, "
                    "in their sds.",
                ),
                _ts(
                    "Actuals joined / late / bad",
                    *(
                        (
                            f"max by (model) (modelphase_model_actuals_{n}{{{_M}}})",
                            f"{{{{model}}}} {n}",
                        )
                        for n in ("joined", "late", "bad")
                    ),
                ),
                _ts(
                    "Data validation failures",
                    (
                        "sum by (model, result) "
                        f'(rate(modelphase_serve_data_validation_total{{{_M}, result!="ok"}}{_R}))',
                        "{{model}} {{result}}",
                    ),
                    unit="reqps",
                ),
            ),
        ),
        (
            "Latency histograms",
            (
                Panel(
                    "Inference latency",
                    "heatmap",
                    (
                        (
                            "sum by (le) "
                            f"(rate(modelphase_serve_inference_seconds_bucket{{{_M}}}{_R}))",
                            "{{le}}",
                        ),
                    ),
                    unit="s",
                    width=12,
                ),
                Panel(
                    "Pool queue wait",
                    "heatmap",
                    (
                        (
                            "sum by (le) "
                            f"(rate(modelphase_serve_queue_wait_seconds_bucket{{{_J}}}{_R}))",
                            "{{le}}",
                        ),
                    ),
                    unit="s",
                    width=12,
                ),
                _ts(
                    "p99 latency by endpoint",
                    (
                        _q(0.99, "modelphase_serve_inference_seconds", _M, "endpoint"),
                        "{{endpoint}}",
                    ),
                    unit="s",
                ),
            ),
        ),
        (
            "Decision log",
            (
                _ts(
                    "Decision log queue",
                    (f"sum(modelphase_serve_decision_log_queue{{{_J}}})", "queued"),
                ),
                _ts(
                    "Decisions written / dropped",
                    (
                        f"sum(rate(modelphase_serve_decision_log_written_total{{{_J}}}{_R}))",
                        "written",
                    ),
                    (
                        f"sum(rate(modelphase_serve_decision_log_dropped_total{{{_J}}}{_R}))",
                        "dropped",
                    ),
                    unit="ops",
                ),
            ),
        ),
        (
            "Shadow",
            (
                _ts(
                    "Shadow agreement",
                    (
                        "max by (model, version) "
                        f"(modelphase_serve_shadow_agreement_ratio{{{_M}}})",
                        "{{model}} v{{version}}",
                    ),
                    unit="percentunit",
                ),
                _ts(
                    "Shadow comparisons by result",
                    (
                        "sum by (model, result) "
                        f"(rate(modelphase_serve_shadow_comparisons_total{{{_M}}}{_R}))",
                        "{{model}} {{result}}",
                    ),
                    unit="ops",
                    text="agree, disagree, error, skipped (the shadow queue was full).",
                ),
            ),
        ),
        (
            "Pools",
            (
                _ts(
                    "Pool threads / running / queued",
                    *(
                        (f"sum by (pool) (modelphase_serve_pool_{n}{{{_J}}})", f"{{{{pool}}}} {n}")
                        for n in ("threads", "running", "queued")
                    ),
                ),
                _ts(
                    "Shed work",
                    (
                        f"sum by (pool, reason) (rate(modelphase_serve_shed_total{{{_J}}}{_R}))",
                        "{{pool}} {{reason}}",
                    ),
                    unit="ops",
                ),
                _ts(
                    "Throttled requests",
                    (
                        f"sum by (reason) (rate(modelphase_serve_throttled_total{{{_J}}}{_R}))",
                        "{{reason}}",
                    ),
                    unit="reqps",
                ),
            ),
        ),
        (
            "Circuits",
            (
                Panel(
                    "Circuit state",
                    "timeseries",
                    (
                        (
                            "max by (model, version, alias) "
                            f"(modelphase_serve_circuit_state{{{_M}}})",
                            "{{model}} v{{version}} {{alias}}",
                        ),
                    ),
                    width=12,
                    mappings=_CIRCUIT,
                ),
                Panel(
                    "Heavy-request circuit state",
                    "timeseries",
                    (
                        (
                            "max by (model, version, alias) "
                            f"(modelphase_serve_heavy_circuit_state{{{_M}}})",
                            "{{model}} v{{version}} {{alias}}",
                        ),
                    ),
                    width=12,
                    mappings=_CIRCUIT,
                ),
            ),
        ),
    ),
}
