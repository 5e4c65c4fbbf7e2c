"""Decisions on telemetry and model outputs: is a release safe to roll further (the
canary judge), when does a service's error budget run out (SLO burn rules and budget
forecasts).

Pure: these functions take arrays and plain data; Prometheus, files and HTTP are the
CLI's and the server's business.
"""

from __future__ import annotations

from modelphase.decide.canary import (
    ALPHA,
    DIRECTIONS,
    MARGINAL_THRESHOLD,
    PASS_THRESHOLD,
    SILENT_AFTER_SECONDS,
    CanaryVerdict,
    MetricSpec,
    MetricVerdict,
    SequentialJudge,
    judge_canary,
    judge_metric,
)
from modelphase.decide.ranks import hodges_lehmann, mann_whitney_p

__all__ = [
    "ALPHA",
    "DIRECTIONS",
    "MARGINAL_THRESHOLD",
    "PASS_THRESHOLD",
    "SILENT_AFTER_SECONDS",
    "CanaryVerdict",
    "MetricSpec",
    "MetricVerdict",
    "SequentialJudge",
    "hodges_lehmann",
    "judge_canary",
    "judge_metric",
    "mann_whitney_p",
]
