"""The models' SLIs the monitor exports: every number of a pass's evidence under its
Prometheus name, and the textfile node_exporter reads written whole."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from modelphase.monitor import MonitorMetrics
from modelphase.monitor.reports import ModelReport, MonitorReport


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[s.name, frozenset(s.labels.items())] = s.value
    return out


def key(name: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
    return name, frozenset(labels.items())


def report() -> MonitorReport:
    model = ModelReport(
        name="fleet",
        version=2,
        phase="canary",
        verdict="degraded",
        actions=["fleet v3 -> canary at 10%"],
        evidence={
            "accuracy": {
                "mase": 0.8,
                "mase_ratio": 4.5,
                "smape": 12.0,
                "mae": 3.0,
                "coverage_80": 0.7,
                "coverage_95": 0.9,
            },
            "residuals": {"bias": 0.4, "effect_size": 1.2},
            "drift": {"share": 0.5},
            "actuals": {"joined": 1200, "late": 12, "bad": 3},
            "actuals_age_s": 300.0,
            "retrain_lag_s": 7200.0,
        },
    )
    return MonitorReport(models=[model], holder="test", lease=True, seconds=1.5)


def test_a_pass_is_exported_under_prometheus_names(tmp_path: Path) -> None:
    metrics = MonitorMetrics()
    metrics.observe(report())
    got = samples(metrics.render().decode())
    v = {"model": "fleet", "version": "2"}
    assert got[key("modelphase_model_accuracy_mase", **v)] == 0.8
    assert got[key("modelphase_model_accuracy_mase_ratio", **v)] == 4.5
    assert got[key("modelphase_model_interval_coverage_ratio", **v, level="80")] == 0.7
    assert got[key("modelphase_model_residual_bias", **v)] == 0.4
    assert got[key("modelphase_model_residual_drift_effect", **v)] == 1.2
    assert got[key("modelphase_model_drift_series_ratio", **v)] == 0.5
    assert got[key("modelphase_model_actuals_late", **v)] == 12
    assert got[key("modelphase_model_health", **v, verdict="degraded")] == 1.0
    assert got[key("modelphase_model_health", **v, verdict="healthy")] == 0.0
    assert got[key("modelphase_model_rollout_phase", model="fleet", phase="canary")] == 1
    assert got[key("modelphase_model_retrain_lag_seconds", model="fleet")] == 7200.0
    assert got[key("modelphase_monitor_passes_total", status="acted")] == 1.0
    assert got[key("modelphase_monitor_actions_total", model="fleet")] == 1.0
    assert got[key("modelphase_monitor_lease_held")] == 1.0
    path = tmp_path / "modelphase.prom"
    metrics.write(path)
    assert samples(path.read_text()) == samples(metrics.render().decode())
