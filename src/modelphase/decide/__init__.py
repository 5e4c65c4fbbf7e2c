"""Decisions on telemetry and model outputs: is a release safe to roll further (the
canary judge), when does a service's error budget run out (SLO burn rules and budget
forecasts).

Pure: these functions take arrays and plain data; the only IO is in the modules named
for it (:mod:`~modelphase.decide.canary_source` reads analysis files and fetches a
canary's samples through a Prometheus client it is given; ``slo.reader`` reads SLO
files). HTTP is the server's business.

The names below are imported when first used (PEP 562), so that importing one
decision's module (``modelphase.decide.triage``) does not import every other one (the
canary judge's scipy.stats). ``triage``, ``Triage`` and ``Suspect`` are the exception:
``triage`` is also the name of their submodule, and importing a submodule binds its
name on the package, so a lazy ``triage`` would be the function or the module depending
on what was imported first. They are imported here, which costs only numpy and pandas.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    from modelphase.decide.triage_alerts import Hypotheses, hypotheses_for
    from modelphase.decide.triage_feedback import Confirmation, apply_feedback
    from modelphase.decide.triage_input import triage_panel, wide_from_panel
    from modelphase.decide.triage_store import IncidentStore

#: where each lazily imported name lives
_SOURCES: dict[str, str] = {
    **dict.fromkeys(
        (
            "ALPHA",
            "DIRECTIONS",
            "MARGINAL_THRESHOLD",
            "PASS_THRESHOLD",
            "SILENT_AFTER_SECONDS",
            "CanaryVerdict",
            "MetricSpec",
            "MetricVerdict",
            "SequentialJudge",
            "judge_canary",
            "judge_metric",
        ),
        "modelphase.decide.canary",
    ),
    **dict.fromkeys(
        (
            "SAFE_VALUE",
            "AnalysisMetric",
            "CanaryAnalysis",
            "parse_analysis",
            "render_query",
            "template_problems",
            "template_variables",
        ),
        "modelphase.decide.canary_analysis",
    ),
    **dict.fromkeys(
        ("CanarySamples", "RangeQuerier", "fetch_samples", "read_analysis_file"),
        "modelphase.decide.canary_source",
    ),
    **dict.fromkeys(("hodges_lehmann", "mann_whitney_p"), "modelphase.decide.ranks"),
    **dict.fromkeys(("Hypotheses", "hypotheses_for"), "modelphase.decide.triage_alerts"),
    **dict.fromkeys(("Confirmation", "apply_feedback"), "modelphase.decide.triage_feedback"),
    **dict.fromkeys(("triage_panel", "wide_from_panel"), "modelphase.decide.triage_input"),
    "IncidentStore": "modelphase.decide.triage_store",
}

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
    "Confirmation",
    "Hypotheses",
    "IncidentStore",
    "MetricSpec",
    "MetricVerdict",
    "RangeQuerier",
    "SequentialJudge",
    "Suspect",
    "Triage",
    "apply_feedback",
    "fetch_samples",
    "hodges_lehmann",
    "hypotheses_for",
    "judge_canary",
    "judge_metric",
    "mann_whitney_p",
    "parse_analysis",
    "read_analysis_file",
    "render_query",
    "template_problems",
    "template_variables",
    "triage",
    "triage_panel",
    "wide_from_panel",
]


def __getattr__(name: str) -> Any:
    source = _SOURCES.get(name)
    if source is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(source), name)
    globals()[name] = value  # the next look-up is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


# last, so that a module it imports may itself use the lazy names above
from modelphase.decide.triage import Suspect, Triage, triage  # noqa: E402
