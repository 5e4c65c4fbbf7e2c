"""The monitor's own metrics and the SLIs of the models it judges, in Prometheus names.

``modelphase monitor run`` serves them on ``--metrics-port`` (``/metrics``) or writes
them to ``--textfile`` after every pass (node_exporter's textfile collector reads it
when the monitor runs from cron). The serving SLIs (latency, throughput, error rate,
fallback share, shadow agreement, version adoption, CPU per prediction) are the
server's; these are the ones only the monitor can know, because they need the actuals.

- ``modelphase_model_health{model,version,verdict}``: 1 for the last verdict
- ``modelphase_model_accuracy_mase``, ``..._smape``, ``..._mae``: recent accuracy of the
  production version; ``modelphase_model_accuracy_mase_ratio``: against its backtest
- ``modelphase_model_interval_coverage_ratio{level}``: share of actuals in each band
- ``modelphase_model_drift_series_ratio``: share of series drifted since training
- ``modelphase_model_residual_bias``, ``modelphase_model_residual_drift_effect``: the
  mean scaled residual of the trigger's window, and how far (in sds) its residuals moved
  from the report window's earlier ones (label-free of the latest, late, actuals)
- ``modelphase_model_actuals_joined`` / ``_late`` / ``_bad``: what the accuracy rests on
- ``modelphase_model_actuals_age_seconds``: age of the newest actual (freshness)
- ``modelphase_model_retrain_lag_seconds``: from the trigger to the promotion of the
  last retrain
- ``modelphase_model_rollout_phase{phase}``: 1 for the phase the rollout is in
- ``modelphase_monitor_passes_total{status}``, ``modelphase_monitor_actions_total``,
  ``modelphase_monitor_pass_seconds``, ``modelphase_monitor_last_pass_timestamp_seconds``,
  ``modelphase_monitor_lease_held``
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    write_to_textfile,
)

from modelphase.monitor.reports import MonitorReport

__all__ = ["MonitorMetrics"]

_PHASES = ("idle", "retraining", "shadow", "canary")
_VERDICTS = ("healthy", "degraded", "unknown")


class MonitorMetrics:
    """Metrics updated from each :class:`MonitorReport` (:meth:`observe`)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry if registry is not None else CollectorRegistry()
        self.registry = r
        model = ["model", "version"]
        self.passes = Counter(
            "modelphase_monitor_passes", "Monitor passes by status", ["status"], registry=r
        )
        self.actions = Counter(
            "modelphase_monitor_actions",
            "Moves and retrains the monitor made, by model",
            ["model"],
            registry=r,
        )
        self.seconds = Histogram(
            "modelphase_monitor_pass_seconds",
            "Time of one monitor pass",
            buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600),
            registry=r,
        )
        self.last = Gauge(
            "modelphase_monitor_last_pass_timestamp_seconds",
            "When the last pass ended (Unix seconds)",
            registry=r,
        )
        self.lease = Gauge(
            "modelphase_monitor_lease_held", "1 when this monitor held the lease", registry=r
        )
        self.health = Gauge(
            "modelphase_model_health",
            "1 for the last verdict on the production version",
            [*model, "verdict"],
            registry=r,
        )
        self.accuracy = {
            name: Gauge(f"modelphase_model_accuracy_{name}", text, model, registry=r)
            for name, text in (
                ("mase", "Recent MASE of the production version's forecasts"),
                (
                    "mase_ratio",
                    "The retrain trigger's median series MASE over the last "
                    "accuracy.window, over the version's backtest MASE",
                ),
                ("smape", "Recent sMAPE (percent)"),
                ("mae", "Recent mean absolute error"),
            )
        }
        self.residual_bias = Gauge(
            "modelphase_model_residual_bias",
            "Mean residual (actual minus forecast, in series scales) over the trigger's window",
            model,
            registry=r,
        )
        self.residual_drift = Gauge(
            "modelphase_model_residual_drift_effect",
            "How far the trigger window's residuals moved from the report window's earlier "
            "ones, in their sds",
            model,
            registry=r,
        )
        self.coverage = Gauge(
            "modelphase_model_interval_coverage_ratio",
            "Share of recent actuals inside each forecast band",
            [*model, "level"],
            registry=r,
        )
        self.drift = Gauge(
            "modelphase_model_drift_series_ratio",
            "Share of series whose recent values drifted from the training data",
            model,
            registry=r,
        )
        self.actuals = {
            name: Gauge(f"modelphase_model_actuals_{name}", text, model, registry=r)
            for name, text in (
                ("joined", "Forecast points joined with their actuals"),
                ("late", "Forecast points whose actuals have not arrived"),
                ("bad", "Forecast points whose actuals are NaN or infinite"),
            )
        }
        self.age = Gauge(
            "modelphase_model_actuals_age_seconds",
            "Age of the newest actual the monitor saw (feature freshness)",
            ["model"],
            registry=r,
        )
        self.lag = Gauge(
            "modelphase_model_retrain_lag_seconds",
            "From the trigger to the promotion of the last retrained version",
            ["model"],
            registry=r,
        )
        self.phase = Gauge(
            "modelphase_model_rollout_phase",
            "1 for the phase of the model's rollout",
            ["model", "phase"],
            registry=r,
        )

    def observe(self, report: MonitorReport) -> None:
        status = {5: "acted", 3: "degraded", 0: "healthy"}[report.exit_code]
        self.passes.labels(status if report.lease else "no_lease").inc()
        self.seconds.observe(report.seconds)
        self.last.set(time.time())
        self.lease.set(1.0 if report.lease else 0.0)
        for m in report.models:
            labels = [m.name, str(m.version or "")]
            for verdict in _VERDICTS:
                self.health.labels(*labels, verdict).set(1.0 if m.verdict == verdict else 0.0)
            for phase in _PHASES:
                self.phase.labels(m.name, phase).set(1.0 if m.phase == phase else 0.0)
            if m.actions:
                self.actions.labels(m.name).inc(len(m.actions))
            acc: dict[str, Any] = m.evidence.get("accuracy") or {}
            for name, gauge in self.accuracy.items():
                if _number(acc.get(name)):
                    gauge.labels(*labels).set(float(acc[name]))
            for key, value in acc.items():
                if key.startswith("coverage_") and _number(value):
                    self.coverage.labels(*labels, key.removeprefix("coverage_")).set(value)
            residuals = m.evidence.get("residuals") or {}
            if _number(residuals.get("bias")):
                self.residual_bias.labels(*labels).set(float(residuals["bias"]))
            if _number(residuals.get("effect_size")):
                self.residual_drift.labels(*labels).set(float(residuals["effect_size"]))
            drift = m.evidence.get("drift") or {}
            if _number(drift.get("share")):
                self.drift.labels(*labels).set(float(drift["share"]))
            counts: dict[str, Any] = m.evidence.get("actuals") or {}
            for name, gauge in self.actuals.items():
                if _number(counts.get(name)):
                    gauge.labels(*labels).set(float(counts[name]))
            if _number(m.evidence.get("actuals_age_s")):
                self.age.labels(m.name).set(float(m.evidence["actuals_age_s"]))
            if _number(m.evidence.get("retrain_lag_s")):
                self.lag.labels(m.name).set(float(m.evidence["retrain_lag_s"]))

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def write(self, path: Path) -> None:
        """The metrics in the text format at ``path``, atomically (node_exporter)."""
        write_to_textfile(str(path), self.registry)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value
