"""OpenSLO ``openslo/v1`` SLOs, mapped to the model Sloth files map to.

Read: ``kind: SLO`` documents (one, a YAML stream of them, or a YAML list) with an
inline ``indicator`` or an ``indicatorRef`` to a ``kind: SLI`` document in the same
file; the indicator a ``ratioMetric`` whose ``good`` or ``bad`` and ``total`` (or ``raw``
with ``rawType``) are Prometheus queries (``metricSource.type: Prometheus``, the query
in ``metricSource.spec.query``); ``timeWindow`` (one, its ``duration`` the SLO period;
a calendar window is read as a rolling one of the same length); ``budgetingMethod:
Occurrences``; every objective's ``target`` (a ratio, 0.999) or ``targetPercent``.
Other kinds (Service, DataSource, AlertPolicy, ...) are skipped with a note.

Queries may use Sloth's ``{{.window}}``; OpenSLO's own style has no window, so a
counter (``counter: true``) written as a selector or ``sum [by (...)] (selector)`` is
made a rate over the window, and any other query that is not a counter is averaged
over it (a subquery); a counter in any other shape is an error asking for
``[{{.window}}]``.

Each objective is one SLO named ``metadata.name`` (``<name>-<i>`` when there are
several), in service ``spec.service``; its alerts are named ``<Name>ErrorBudgetBurn``
(``web-availability`` -> ``WebAvailabilityErrorBudgetBurn``) with ``severity:
critical`` (page) and ``severity: warning`` (ticket), since OpenSLO's alert policies
do not describe burn-rate windows.
"""

from __future__ import annotations

import re
from typing import Any

import pydantic
from pydantic import Field

from modelphase.decide.slo._errors import Problem, from_pydantic, raise_problems, strip_unknown
from modelphase.decide.slo._fields import MAX_SLOS, Name, Strict, check_query
from modelphase.decide.slo._promql import windowed
from modelphase.decide.slo.model import SLI, SLO, AlertMeta, SloFile

__all__ = ["OPENSLO_VERSION", "parse_openslo"]

OPENSLO_VERSION = "openslo/v1"
_SHORTHAND = re.compile(r"(\d+)([mhdwMQY])\Z")
_UNIT_SECONDS = {
    "m": 60,
    "h": 3600,
    "d": 86_400,
    "w": 7 * 86_400,
    "M": 30 * 86_400,
    "Q": 90 * 86_400,
    "Y": 365 * 86_400,
}
_OTHER_KINDS = {"Service", "DataSource", "AlertPolicy", "AlertCondition", "AlertNotificationTarget"}


class _Source(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True, strict=True)
    metricSourceRef: str | None = None  # noqa: N815 (OpenSLO's field names)
    type: str | None = None
    spec: dict[str, Any] = Field(default_factory=dict)


class _Metric(Strict):
    metricSource: _Source  # noqa: N815


class _Ratio(Strict):
    counter: bool | None = None
    good: _Metric | None = None
    bad: _Metric | None = None
    total: _Metric | None = None
    rawType: str | None = None  # noqa: N815
    raw: _Metric | None = None


class _SliSpec(Strict):
    description: str = ""
    thresholdMetric: Any = None  # noqa: N815
    ratioMetric: _Ratio | None = None  # noqa: N815


class _Meta(Strict):
    name: Name
    displayName: str | None = None  # noqa: N815
    labels: dict[str, str | list[str]] | None = None
    annotations: dict[str, str] | None = None


class _Indicator(Strict):
    metadata: _Meta | None = None
    spec: _SliSpec


class _TimeWindow(Strict):
    duration: str
    isRolling: bool | None = None  # noqa: N815
    calendar: dict[str, Any] | None = None


class _Objective(Strict):
    displayName: str | None = None  # noqa: N815
    op: str | None = None
    value: float | None = None
    target: float | None = Field(default=None, allow_inf_nan=False)
    targetPercent: float | None = Field(default=None, allow_inf_nan=False)  # noqa: N815
    timeSliceTarget: float | None = None  # noqa: N815
    timeSliceWindow: str | int | None = None  # noqa: N815


class _SloSpec(Strict):
    description: str = ""
    service: Name
    indicator: _Indicator | None = None
    indicatorRef: str | None = None  # noqa: N815
    timeWindow: list[_TimeWindow] | None = None  # noqa: N815
    budgetingMethod: str | None = None  # noqa: N815
    objectives: list[_Objective] = Field(min_length=1, max_length=MAX_SLOS)
    alertPolicies: Any = None  # noqa: N815


class _Doc(Strict):
    apiVersion: str  # noqa: N815
    kind: str
    metadata: _Meta
    spec: _SloSpec


class _SliDoc(Strict):
    apiVersion: str  # noqa: N815
    kind: str
    metadata: _Meta
    spec: _SliSpec


def parse_openslo(documents: list[Any], source: str) -> SloFile:
    """The SLOs of OpenSLO v1 documents (already read from YAML); raise
    :class:`~modelphase.exceptions.SloSpecError` naming every problem."""
    notes: list[str] = []
    problems: list[Problem] = []
    docs = [d for doc in documents for d in (doc if isinstance(doc, list) else [doc])]
    slis: dict[str, _SliSpec] = {}
    slo_docs: list[tuple[str, _Doc]] = []
    for i, doc in enumerate(docs):
        path = f"documents.{i}" if len(docs) > 1 else ""
        prefix = f"{path}." if path else ""
        kind = doc.get("kind") if isinstance(doc, dict) else None
        version = doc.get("apiVersion") if isinstance(doc, dict) else None
        if version != OPENSLO_VERSION:
            fix = "write apiVersion: openslo/v1 (v1alpha files: Sloth reads those)"
            problems.append(
                Problem(f"{prefix}apiVersion", f'"{OPENSLO_VERSION}"', repr(version), fix)
            )
            continue
        if kind in _OTHER_KINDS:
            notes.append(f"{prefix}kind: {kind} is not an SLO, skipped")
            continue
        model: type[_Doc] | type[_SliDoc] = _SliDoc if kind == "SLI" else _Doc
        if kind not in ("SLO", "SLI"):
            problems.append(Problem(f"{prefix}kind", "SLO (or SLI)", repr(kind), "write kind: SLO"))
            continue
        try:
            parsed = model.model_validate(strip_unknown(doc, model, prefix, notes))
        except pydantic.ValidationError as exc:
            problems += from_pydantic(exc, path)
            continue
        if isinstance(parsed, _SliDoc):
            slis[parsed.metadata.name] = parsed.spec
        else:
            slo_docs.append((prefix, parsed))
    if not slo_docs and not problems:
        problems.append(Problem("kind", "at least one kind: SLO document", "none", "add one"))
    slos: list[SLO] = []
    for prefix, doc in slo_docs:
        slos += _slos(doc, prefix, slis, problems, notes)
    names = [s.id for s in slos]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        problems.append(
            Problem("metadata.name", "SLO names unique in a service", repr(dup), "rename one")
        )
    raise_problems(source, problems, hints=notes)
    return SloFile(slos=tuple(slos), spec=OPENSLO_VERSION, notes=tuple(notes))


def _slos(
    doc: _Doc, prefix: str, slis: dict[str, _SliSpec], problems: list[Problem], notes: list[str]
) -> list[SLO]:
    spec, where = doc.spec, f"{prefix}spec"
    n_before = len(problems)
    indicator = spec.indicator.spec if spec.indicator is not None else None
    if indicator is None and spec.indicatorRef is not None:
        indicator = slis.get(spec.indicatorRef)
        if indicator is None:
            problems.append(
                Problem(
                    f"{where}.indicatorRef",
                    "the name of a kind: SLI document in this file",
                    repr(spec.indicatorRef),
                    "put the SLI in the file, or inline it as indicator",
                )
            )
            return []
    if indicator is None:
        problems.append(
            Problem(f"{where}.indicator", "an indicator or indicatorRef", "neither", "add one")
        )
        return []
    method = spec.budgetingMethod
    if method not in (None, "Occurrences"):
        problems.append(
            Problem(
                f"{where}.budgetingMethod",
                "Occurrences (burn rates count events)",
                repr(method),
                "use budgetingMethod: Occurrences (time-slice budgets have no burn-rate alerts)",
            )
        )
    period = _period(spec, where, problems, notes)
    sli = _sli(indicator, f"{where}.indicator.spec", problems)
    objectives = []
    for i, objective in enumerate(spec.objectives):
        objectives.append(_objective(objective, f"{where}.objectives.{i}", problems))
    if len(problems) > n_before or sli is None:
        return []
    labels = _labels(doc.metadata.labels or {}, f"{prefix}metadata.labels", notes)
    out = []
    for i, percent in enumerate(objectives):
        name = doc.metadata.name if len(objectives) == 1 else f"{doc.metadata.name}-{i}"
        alert = "".join(w[:1].upper() + w[1:] for w in re.split(r"[^A-Za-z0-9]+", name) if w)
        alert = f"{alert}ErrorBudgetBurn"
        out.append(
            SLO(
                service=spec.service,
                name=name,
                objective=percent,
                sli=sli,
                page=AlertMeta(name=alert, labels={"severity": "critical"}),
                ticket=AlertMeta(name=alert, labels={"severity": "warning"}),
                labels=labels,
                description=spec.description,
                period=period,
                spec=OPENSLO_VERSION,
            )
        )
    return out


def _period(spec: _SloSpec, where: str, problems: list[Problem], notes: list[str]) -> int | None:
    if not spec.timeWindow:
        return None
    if len(spec.timeWindow) != 1:
        problems.append(
            Problem(
                f"{where}.timeWindow",
                "exactly one time window",
                f"{len(spec.timeWindow)}",
                "keep one",
            )
        )
        return None
    window = spec.timeWindow[0]
    found = _SHORTHAND.match(window.duration.strip())
    if not found or int(found[1]) == 0:
        problems.append(
            Problem(
                f"{where}.timeWindow.0.duration",
                "a duration shorthand such as 28d, 4w or 1M",
                repr(window.duration),
                "write a whole number and one of m h d w M Q Y",
            )
        )
        return None
    if window.calendar is not None or window.isRolling is False:
        notes.append(f"{where}.timeWindow: a calendar window is read as a rolling one")
    return int(found[1]) * _UNIT_SECONDS[found[2]]


def _objective(objective: _Objective, where: str, problems: list[Problem]) -> float:
    if (objective.target is None) == (objective.targetPercent is None):
        problems.append(
            Problem(
                where,
                "one of target (0.999) or targetPercent (99.9)",
                "both" if objective.target is not None else "neither",
                "give one",
            )
        )
        return 0.0
    if objective.target is not None:
        if not 0 < objective.target < 1:
            fix = "write the target as a ratio (0.999), or use targetPercent"
            problems.append(
                Problem(
                    f"{where}.target",
                    "a ratio strictly between 0 and 1",
                    repr(objective.target),
                    fix,
                )
            )
        return objective.target * 100
    assert objective.targetPercent is not None
    if not 0 < objective.targetPercent < 100:
        problems.append(
            Problem(
                f"{where}.targetPercent",
                "a percentage strictly between 0 and 100",
                repr(objective.targetPercent),
                "write it as 99.9 for 99.9%",
            )
        )
    return objective.targetPercent


def _sli(spec: _SliSpec, where: str, problems: list[Problem]) -> SLI | None:
    if spec.thresholdMetric is not None or spec.ratioMetric is None:
        problems.append(
            Problem(
                f"{where}.ratioMetric",
                "a ratioMetric (good or bad, and total)",
                "a thresholdMetric" if spec.thresholdMetric is not None else "nothing",
                "describe the SLI as a ratio of events",
            )
        )
        return None
    ratio, where = spec.ratioMetric, f"{where}.ratioMetric"
    if ratio.raw is not None:
        if ratio.good or ratio.bad or ratio.total:
            problems.append(
                Problem(where, "raw alone, or good or bad with total", "raw and more", "keep one")
            )
            return None
        raw = _query(ratio.raw, f"{where}.raw", counter=False, problems=problems)
        if ratio.rawType not in ("success", "failure"):
            problems.append(
                Problem(f"{where}.rawType", "success or failure", repr(ratio.rawType), "say which")
            )
            return None
        if raw is None:
            return None
        return SLI(error_ratio_query=raw if ratio.rawType == "failure" else f"1 - ({raw})")
    if (ratio.good is None) == (ratio.bad is None) or ratio.total is None:
        problems.append(
            Problem(
                where,
                "good or bad (one), and total",
                ", ".join(k for k in ("good", "bad", "total") if getattr(ratio, k)) or "nothing",
                "give bad and total, or good and total",
            )
        )
        return None
    part = "good" if ratio.good is not None else "bad"
    counter = ratio.counter
    upper = _query(getattr(ratio, part), f"{where}.{part}", counter=counter, problems=problems)
    total = _query(ratio.total, f"{where}.total", counter=counter, problems=problems)
    if upper is None or total is None:
        return None
    if part == "bad":
        return SLI(error_query=upper, total_query=total)
    return SLI(error_ratio_query=f"1 - (\n({upper})\n/\n({total})\n)", total_query=total)


def _query(
    metric: _Metric, where: str, *, counter: bool | None, problems: list[Problem]
) -> str | None:
    source = metric.metricSource
    if source.type is not None and source.type.lower() != "prometheus":
        problems.append(
            Problem(
                f"{where}.metricSource.type",
                "Prometheus",
                repr(source.type),
                "use a Prometheus metric source",
            )
        )
        return None
    query = source.spec.get("query")
    if not isinstance(query, str) or not query.strip():
        problems.append(
            Problem(f"{where}.metricSource.spec.query", "a PromQL query", repr(query), "add it")
        )
        return None
    try:
        check_query(query)
    except ValueError as exc:
        expected, _, got = str(exc).removeprefix("expected ").partition(", got ")
        problems.append(
            Problem(f"{where}.metricSource.spec.query", expected, got.split(". Fix")[0])
        )
        return None
    if counter is None and windowed(query, counter=False) != query:
        problems.append(
            Problem(
                f"{where[: where.rfind('.')]}.counter",
                "true or false (the query has no [{{.window}}])",
                "nothing",
                "say whether the metric is a counter",
            )
        )
        return None
    found = windowed(query, counter=bool(counter))
    if found is None:
        problems.append(
            Problem(
                f"{where}.metricSource.spec.query",
                "a counter as a selector or sum(selector), or a query with [{{.window}}]",
                repr(query),
                "write the range as [{{.window}}], e.g. sum(rate(x[{{.window}}]))",
            )
        )
    return found


def _labels(labels: dict[str, str | list[str]], where: str, notes: list[str]) -> dict[str, str]:
    out = {}
    for key, value in labels.items():
        name = re.sub(r"[^a-zA-Z0-9_]", "_", key)
        if not name or name[0].isdigit():
            name = "_" + name
        if name != key:
            notes.append(f"{where}.{key}: renamed {name} (a Prometheus label name)")
        out[name] = value if isinstance(value, str) else ",".join(value)
    return out
