"""Prometheus alerting rules for the models' SLIs, and an Alertmanager route for them.

:func:`alerting_rules` turns :class:`AlertOptions` into a rule file's data (``groups``),
:func:`alertmanager_config` into an Alertmanager configuration; both are plain data,
written by ``modelphase rules`` (docs/runbooks.md says what each alert means).

The rules read only the metrics the server (:mod:`modelphase.serve.metrics`) and the
monitor (:mod:`modelphase.monitor.metrics`) export, with their real types:

- counters through ``rate()`` (``modelphase_serve_fallbacks_total``,
  ``..._predictions_total``, ``..._inference_errors_total``,
  ``..._decision_log_dropped_total``), summed ``by (job, model)`` so that replicas add
  up and every alert keeps the labels a route groups on;
- the latency histogram through ``histogram_quantile`` over its ``_bucket`` rates;
- the monitor's gauges as they are (``modelphase_model_drift_series_ratio``, ...).

Severities follow who must act and how soon: ``page`` for what users see now (the server
down or not scraped, no model call answering, latency over its budget, too many
fallback answers), ``ticket`` for slow decay that a person fixes in working hours
(drift, a degraded verdict, intervals that undercover, biased residuals, a slow
retrain, a monitor that stopped, decisions not logged). Each ``for:`` is long enough to
ride out one bad scrape or one monitor pass and short enough for the severity: minutes
for pages, an hour for the monitor's verdicts (which change once a pass).

A latency budget must lie below the histogram's largest finite bucket (2.5 s):
``histogram_quantile`` answers that bucket's bound for anything slower, so a higher
budget could never fire.

>>> groups = alerting_rules(AlertOptions())["groups"]
>>> [g["name"] for g in groups]
['modelphase-serving', 'modelphase-models']
>>> groups[0]["rules"][0]["alert"], groups[0]["rules"][0]["labels"]["severity"]
('ModelphaseServeDown', 'page')
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from modelphase.exceptions import ValidationError

__all__ = [
    "ALERTS",
    "INFERENCE_BUCKETS",
    "AlertOptions",
    "alerting_rules",
    "alertmanager_config",
    "check_options",
    "runbook_anchor",
]

#: the finite buckets of ``modelphase_serve_inference_seconds`` (serve/metrics.py; a
#: test keeps the two equal)
INFERENCE_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
)  # fmt: skip
#: the longest duration an option takes (a year), and the shortest (a minute)
MAX_DURATION_S = 365 * 86_400
MIN_DURATION_S = 60
#: the most coverage levels, and the longest runbook base URL
MAX_LEVELS = 10
MAX_URL = 2048
_JOB = re.compile(r"[A-Za-z0-9_.:/-]{1,200}")
_LEVEL = re.compile(r"\d{1,2}(\.\d{1,4})?")


@dataclass(frozen=True)
class AlertOptions:
    """The thresholds and names the rules are written with (``modelphase rules``'s
    options; durations in seconds)."""

    job: str = "modelphase"
    runbook_base: str = "docs/runbooks.md"
    latency_budget: float = 0.5
    latency_quantile: float = 0.99
    fallback_share: float = 0.05
    drift_ratio: float = 0.2
    coverage_levels: tuple[str, ...] = ("80", "95")
    coverage_tolerance: float = 0.1
    residual_bias: float = 0.5
    retrain_lag_s: int = 7 * 86_400
    monitor_stale_s: int = 2 * 3600


#: every alert: name -> (group, severity, for in seconds)
ALERTS: dict[str, tuple[str, str, int]] = {
    "ModelphaseServeDown": ("serving", "page", 120),
    "ModelphaseServeNotScraped": ("serving", "page", 300),
    "ModelphaseServeAllPredictionsFailing": ("serving", "page", 300),
    "ModelphaseServeLatencyOverBudget": ("serving", "page", 600),
    "ModelphaseServeFallbackShareHigh": ("serving", "page", 600),
    "ModelphaseServeDecisionLogDropping": ("serving", "ticket", 600),
    "ModelphaseModelDrift": ("models", "ticket", 3600),
    "ModelphaseModelDegraded": ("models", "ticket", 3600),
    "ModelphaseModelIntervalUndercoverage": ("models", "ticket", 3600),
    "ModelphaseModelResidualBias": ("models", "ticket", 3600),
    "ModelphaseModelRetrainLag": ("models", "ticket", 900),
    "ModelphaseMonitorStale": ("models", "ticket", 900),
}


def runbook_anchor(alert: str) -> str:
    """The anchor of an alert's section in docs/runbooks.md (its heading, lowercased)."""
    return alert.lower()


def check_options(options: AlertOptions) -> None:
    """Refuse options the rules cannot honour, naming the option and the fix."""
    if not _JOB.fullmatch(options.job):
        raise ValidationError(
            f"--job: expected a scrape job name (letters, digits, _ . : / -), got "
            f"{options.job!r}. Fix: pass the job_name of the scrape config, e.g. modelphase"
        )
    base = options.runbook_base
    if not base or len(base) > MAX_URL or re.search(r"\s|[{}#\"]", base):
        raise ValidationError(
            f"--runbook-base: expected a URL or path of at most {MAX_URL} characters "
            f"without spaces, quotes, braces or '#', got {base[:80]!r}. Fix: pass e.g. "
            "https://git.example/ops/modelphase/blob/main/docs/runbooks.md"
        )
    top = INFERENCE_BUCKETS[-1]
    if not (math.isfinite(options.latency_budget) and 0 < options.latency_budget < top):
        raise ValidationError(
            f"--latency-budget: expected seconds above 0 and below {top:g} (the largest "
            f"finite bucket of modelphase_serve_inference_seconds; a slower quantile reads "
            f"as {top:g}), got {options.latency_budget:g}. Fix: pass e.g. 0.5"
        )
    _fraction("--latency-quantile", options.latency_quantile, "0.99")
    _fraction("--fallback-share", options.fallback_share, "0.05")
    _fraction("--drift-ratio", options.drift_ratio, "0.2")
    _fraction("--coverage-tolerance", options.coverage_tolerance, "0.1", zero=True)
    levels = options.coverage_levels
    if not levels or len(levels) > MAX_LEVELS or len(set(levels)) != len(levels):
        raise ValidationError(
            f"--coverage-levels: expected 1 to {MAX_LEVELS} different levels, got "
            f"{','.join(levels) or 'none'}. Fix: pass e.g. 80,95"
        )
    for level in levels:
        if not _LEVEL.fullmatch(level) or not 0 < float(level) < 100:
            raise ValidationError(
                f"--coverage-levels: expected interval levels in percent between 0 and 100 "
                f"as the forecasts name them (80, 95), got {level!r}. Fix: pass e.g. 80,95"
            )
        if float(level) / 100 - options.coverage_tolerance <= 0:
            raise ValidationError(
                f"--coverage-tolerance: expected less than level {level}% allows, got "
                f"{options.coverage_tolerance:g}. Fix: pass a smaller tolerance, e.g. 0.1"
            )
    bias = options.residual_bias
    if not (math.isfinite(bias) and 0 < bias <= 100):
        raise ValidationError(
            f"--residual-bias: expected series scales above 0 and at most 100, got {bias:g}. "
            "Fix: pass e.g. 0.5"
        )
    for option, seconds in (
        ("--retrain-lag", options.retrain_lag_s),
        ("--monitor-stale", options.monitor_stale_s),
    ):
        if not MIN_DURATION_S <= seconds <= MAX_DURATION_S:
            raise ValidationError(
                f"{option}: expected a duration from 1m to 365d, got {seconds} s. "
                "Fix: pass e.g. 7d or 2h"
            )


def _fraction(option: str, value: float, example: str, *, zero: bool = False) -> None:
    low_ok = value >= 0 if zero else value > 0
    if not (math.isfinite(value) and low_ok and value < 1):
        low = "from 0" if zero else "above 0"
        raise ValidationError(
            f"{option}: expected a ratio {low} and below 1, got {value:g}. Fix: pass e.g. {example}"
        )


def alerting_rules(options: AlertOptions) -> dict[str, Any]:
    """The rule file's data: ``{"groups": [serving, models]}``, each rule with ``for``,
    ``labels.severity`` and the annotations ``summary``, ``description`` and
    ``runbook_url``."""
    check_options(options)
    exprs = _exprs(options)
    texts = _texts(options)
    groups: dict[str, list[dict[str, Any]]] = {"serving": [], "models": []}
    for alert, (group, severity, for_s) in ALERTS.items():
        summary, description = texts[alert]
        groups[group].append(
            {
                "alert": alert,
                "expr": exprs[alert],
                "for": _duration(for_s),
                "labels": {"severity": severity},
                "annotations": {
                    "summary": summary,
                    "description": description,
                    "runbook_url": f"{options.runbook_base}#{runbook_anchor(alert)}",
                },
            }
        )
    return {"groups": [{"name": f"modelphase-{g}", "rules": r} for g, r in groups.items()]}


def _exprs(o: AlertOptions) -> dict[str, str]:
    up = f'up{{job="{o.job}"}}'
    by = "sum by (job, model)"

    def rate(metric: str, window: str = "5m") -> str:
        return f"{by} (rate({metric}[{window}]))"

    fallbacks = rate("modelphase_serve_fallbacks_total", "10m")
    answered = rate("modelphase_serve_predictions_total", "10m")
    coverage = " or ".join(
        f'modelphase_model_interval_coverage_ratio{{level="{lv}"}} < '
        f"{_num(float(lv) / 100 - o.coverage_tolerance)}"
        for lv in o.coverage_levels
    )
    last_pass = "modelphase_monitor_last_pass_timestamp_seconds"
    return {
        "ModelphaseServeDown": f"{up} == 0",
        "ModelphaseServeNotScraped": f"absent({up})",
        "ModelphaseServeAllPredictionsFailing": (
            f"(\n  {rate('modelphase_serve_inference_errors_total')} > 0\n"
            f"  or\n  {rate('modelphase_serve_fallbacks_total')} > 0\n)\n"
            f"unless on (job, model)\n"
            f"  {rate('modelphase_serve_predictions_total')} > 0"
        ),
        "ModelphaseServeLatencyOverBudget": (
            f"histogram_quantile({_num(o.latency_quantile)}, sum by (job, model, le) "
            f"(rate(modelphase_serve_inference_seconds_bucket[5m])))\n"
            f"  > {_num(o.latency_budget)}"
        ),
        "ModelphaseServeFallbackShareHigh": (
            f"{fallbacks}\n/\n({fallbacks} + {answered})\n  > {_num(o.fallback_share)}"
        ),
        "ModelphaseServeDecisionLogDropping": (
            "rate(modelphase_serve_decision_log_dropped_total[5m]) > 0"
        ),
        "ModelphaseModelDrift": f"modelphase_model_drift_series_ratio > {_num(o.drift_ratio)}",
        "ModelphaseModelDegraded": 'modelphase_model_health{verdict="degraded"} == 1',
        "ModelphaseModelIntervalUndercoverage": coverage,
        "ModelphaseModelResidualBias": (
            f"abs(modelphase_model_residual_bias) > {_num(o.residual_bias)}"
        ),
        "ModelphaseModelRetrainLag": (f"modelphase_model_retrain_lag_seconds > {o.retrain_lag_s}"),
        "ModelphaseMonitorStale": (
            f"time() - {last_pass} > {o.monitor_stale_s}\nor\nabsent({last_pass})"
        ),
    }


def _texts(o: AlertOptions) -> dict[str, tuple[str, str]]:
    model = "{{ $labels.model }}"
    version = "v{{ $labels.version }}"
    pct = "{{ $value | humanizePercentage }}"
    q = f"p{_num(o.latency_quantile * 100)}"
    return {
        "ModelphaseServeDown": (
            "modelphase server {{ $labels.instance }} is down",
            f"Prometheus cannot scrape {{{{ $labels.instance }}}} (job {o.job}): the "
            "server is down or unreachable; its models answer nothing there.",
        ),
        "ModelphaseServeNotScraped": (
            f"no modelphase server is scraped (job {o.job})",
            f"Prometheus has no target for job {o.job}: the servers are gone or the scrape "
            "config lost them, and every serving alert is blind.",
        ),
        "ModelphaseServeAllPredictionsFailing": (
            f"no model call of {model} answers",
            f"Every call of model {model} failed or fell back over 5m "
            '({{ $value | printf "%.3g" }}/s) on job {{ $labels.job }}: callers get '
            "fallback answers or errors only.",
        ),
        "ModelphaseServeLatencyOverBudget": (
            f"{q} inference latency of {model} over {_num(o.latency_budget)}s",
            f"The {q} inference latency of model {model} is "
            '{{ $value | printf "%.3f" }}s over 5m, above its budget of '
            f"{_num(o.latency_budget)}s (job {{{{ $labels.job }}}}).",
        ),
        "ModelphaseServeFallbackShareHigh": (
            f"{pct} of {model} answers are fallbacks",
            f"{pct} of the answers of model {model} came from the fallback over 10m, above "
            f"{_num(o.fallback_share * 100)}% (job {{{{ $labels.job }}}}).",
        ),
        "ModelphaseServeDecisionLogDropping": (
            "decisions dropped by {{ $labels.instance }}",
            '{{ $labels.instance }} drops {{ $value | printf "%.3g" }} decisions/s: '
            "the decision log's queue is full or its folder is not writable, so "
            "accuracy and audits miss these predictions.",
        ),
        "ModelphaseModelDrift": (
            f"{model} {version}: {pct} of series drifted",
            f"{pct} of the series of model {model} {version} drifted from its training "
            f"data, above {_num(o.drift_ratio * 100)}%; a retrain is due.",
        ),
        "ModelphaseModelDegraded": (
            f"{model} {version} is judged degraded",
            f"The monitor's verdict on model {model} {version} has been degraded for 1h: "
            "its recent accuracy is worse than its backtest.",
        ),
        "ModelphaseModelIntervalUndercoverage": (
            f"{model} {version}: the {{{{ $labels.level }}}}% interval covers {pct}",
            f"Only {pct} of recent actuals fell inside the {{{{ $labels.level }}}}% "
            f"interval of model {model} {version} (tolerance "
            f"{_num(o.coverage_tolerance * 100)} points): its intervals are too narrow.",
        ),
        "ModelphaseModelResidualBias": (
            f"{model} {version} forecasts are biased",
            f"The mean residual of model {model} {version} is "
            '{{ $value | printf "%.2f" }} series scales (absolute), above '
            f"{_num(o.residual_bias)}: it forecasts systematically off.",
        ),
        "ModelphaseModelRetrainLag": (
            f"retrain of {model} took {{{{ $value | humanizeDuration }}}}",
            f"The last retrain of model {model} took {{{{ $value | humanizeDuration }}}} "
            f"from its trigger to promotion, above {_duration(o.retrain_lag_s)}.",
        ),
        "ModelphaseMonitorStale": (
            "the modelphase monitor has not finished a pass",
            "No monitor pass ended for "
            f"{_duration(o.monitor_stale_s)} (or the monitor's metrics are missing): "
            "drift, accuracy and retrains are not being watched.",
        ),
    }


def _duration(seconds: int) -> str:
    """Whole seconds as a Prometheus duration: ``7d``, ``1h30m``, ``90s`` -> ``1m30s``."""
    out, left = "", seconds
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)):
        if left >= size:
            out += f"{left // size}{unit}"
            left %= size
    return out or "0s"


def _num(value: float) -> str:
    """A number as PromQL and people read it: ``0.5``, ``7``, no float noise."""
    return f"{round(value, 10):g}"


def alertmanager_config(
    *,
    page_url: str = "http://127.0.0.1:9095/page",
    ticket_url: str = "http://127.0.0.1:9095/ticket",
    group_by: Sequence[str] = ("alertname", "job", "model"),
) -> dict[str, Any]:
    """An Alertmanager configuration for the rules: alerts grouped by name, scrape job
    (the service) and ``model``; ``severity="page"`` to the page receiver, the rest to
    the ticket receiver; webhooks at ``page_url`` and ``ticket_url`` stand for the
    pager and the ticket queue (swap in ``pagerduty_configs``, ``slack_configs``...)."""
    return {
        "route": {
            "receiver": "ticket",
            "group_by": list(group_by),
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "12h",
            "routes": [
                {
                    "receiver": "page",
                    "matchers": ['severity="page"'],
                    "group_wait": "30s",
                    "repeat_interval": "1h",
                },
                {
                    "receiver": "ticket",
                    "matchers": ['severity="ticket"'],
                    "group_wait": "5m",
                    "repeat_interval": "24h",
                },
            ],
        },
        "receivers": [
            {"name": "page", "webhook_configs": [{"url": page_url, "send_resolved": True}]},
            {"name": "ticket", "webhook_configs": [{"url": ticket_url, "send_resolved": True}]},
        ],
    }
