"""Decisions on telemetry and model outputs: is a release safe to roll further (the
canary judge), when does a service's error budget run out (SLO burn rules and budget
forecasts).

Pure: these functions take arrays and plain data; the only IO is in the modules named
for it (:mod:`~modelphase.decide.canary_source` reads analysis files and fetches a
canary's samples through a Prometheus client it is given; ``slo.reader`` reads SLO
files). HTTP is the server's business.
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
from modelphase.decide.canary_analysis import (
    SAFE_VALUE,
    AnalysisMetric,
    CanaryAnalysis,
    parse_analysis,
    render_query,
    template_problems,
    template_variables,
)
from modelphase.decide.canary_source import (
    CanarySamples,
    RangeQuerier,
    fetch_samples,
    read_analysis_file,
)
from modelphase.decide.ranks import hodges_lehmann, mann_whitney_p

__all__ = [
    "ALPHA",
    "DIRECTIONS",
    "MARGINAL_THRESHOLD",
    "PASS_THRESHOLD",
    "SAFE_VALUE",
    "SILENT_AFTER_SECONDS",
    "AnalysisMetric",
    "CanaryAnalysis",
    "CanarySamples",
    "CanaryVerdict",
    "MetricSpec",
    "MetricVerdict",
    "RangeQuerier",
    "SequentialJudge",
    "fetch_samples",
    "hodges_lehmann",
    "judge_canary",
    "judge_metric",
    "mann_whitney_p",
    "parse_analysis",
    "read_analysis_file",
    "render_query",
    "template_problems",
    "template_variables",
]
