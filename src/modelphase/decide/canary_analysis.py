"""A canary analysis: the metrics of a release's judgement as PromQL templates, read from
a YAML file, and the pure rendering of those templates for each side.

::

    name: checkout
    defaults: {step: 60s, window: 10m, tolerance: 0.25}
    vars: {app: checkout}
    metrics:
      - name: latency_p99_seconds
        query: >-
          histogram_quantile(0.99, sum by (le, pod) (rate(
          http_request_duration_seconds_bucket{app="{{app}}",version="{{version}}"}[1m])))
        direction: increase
        critical: true

A query's ``{{name}}`` placeholders are bound once for the baseline and once for the
canary (``version=v1`` and ``version=v2``, say), over the file's ``vars``. Whoever
binds them (a caller of the HTTP API) must not be able to change the query itself, so:
every placeholder sits inside a quoted PromQL string (a label matcher's value), and every
value bound to one is 1 to 128 characters of letters, digits and ``. _ : / -``. Such a
value cannot end the string it is in, so it needs no escaping; anything else is refused
(:class:`~modelphase.exceptions.CanaryAnalysisError`) rather than escaped. In a regex
matcher (``=~``) a ``.`` still matches any character: write ``=`` for exact versions.

>>> render_query('up{job="api",version="{{version}}"}', {"version": "v2.1"})
'up{job="api",version="v2.1"}'
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

import pydantic
import yaml
from pydantic import BeforeValidator, ConfigDict, Field

from modelphase.decide.canary import (
    ALPHA,
    DIRECTIONS,
    MARGINAL_THRESHOLD,
    PASS_THRESHOLD,
    SILENT_AFTER_SECONDS,
    MetricSpec,
)
from modelphase.decide.slo._errors import Problem, from_pydantic, shown
from modelphase.exceptions import CanaryAnalysisError, ValidationError
from modelphase.frame import NS_PER_SECOND, format_duration, parse_duration
from modelphase.limits import (
    MAX_CANARY_METRICS,
    MAX_CANARY_WINDOW_SECONDS,
    MAX_QUERY_CHARS,
    MAX_SPEC_BYTES,
    LimitedYamlLoader,
    YamlLimitError,
    check_yaml_expanded,
)

__all__ = [
    "SAFE_VALUE",
    "AnalysisMetric",
    "CanaryAnalysis",
    "parse_analysis",
    "raise_problems",
    "render_query",
    "template_problems",
    "template_variables",
]

#: a value bound to a placeholder: it cannot end a PromQL string, whatever its quotes
SAFE_VALUE = re.compile(r"[A-Za-z0-9._:/-]{1,128}")
SAFE_TEXT = "1 to 128 letters, digits and . _ : / -"
_VAR = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]{0,63})\s*\}\}")
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MIN_STEP_NS = NS_PER_SECOND


# ----------------------------------------------------------------------- templates


def template_variables(template: str) -> list[str]:
    """The names of ``template``'s placeholders, in order of first use."""
    return list(dict.fromkeys(m.group(1) for m in _PLACEHOLDER.finditer(template)))


def template_problems(template: str) -> list[str]:
    """What makes ``template`` unsafe to bind: a ``{{`` that is no ``{{name}}``
    placeholder, or a placeholder outside a quoted string (where a value would be
    PromQL rather than a label value)."""
    problems: list[str] = []
    quote: str | None = None
    i, n = 0, len(template)
    while i < n:
        if template.startswith("{{", i):
            match = _PLACEHOLDER.match(template, i)
            if match is None:
                problems.append(f"{shown(template[i : i + 20])} (not a {{{{name}}}} placeholder)")
                i += 2
                continue
            if quote is None:
                problems.append(f"{match.group(0)} outside a quoted string")
            i = match.end()
            continue
        char = template[i]
        if quote is None:
            if char in "\"'`":
                quote = char
        elif char == "\\" and quote != "`":
            i += 1  # the escaped character cannot end the string
        elif char == quote:
            quote = None
        i += 1
    return problems


def render_query(template: str, values: Mapping[str, str]) -> str:
    """``template`` with each ``{{name}}`` replaced by ``values[name]``.

    Raises :class:`~modelphase.exceptions.CanaryAnalysisError` for a placeholder with no
    value, a value outside :data:`SAFE_VALUE`, or an unsafe template
    (:func:`template_problems`): nothing a value holds can change the query."""
    problems = [
        Problem("query", "placeholders inside quoted strings", text, "quote the placeholder")
        for text in template_problems(template)
    ]
    for name in template_variables(template):
        value = values.get(name)
        if value is None:
            problems.append(Problem(name, "a value", "none", f"give {name} a value"))
        elif not SAFE_VALUE.fullmatch(value):
            problems.append(_unsafe(name, value))
    raise_problems("", problems)
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def _unsafe(path: str, value: object) -> Problem:
    return Problem(
        path,
        f"a label value of {SAFE_TEXT}",
        shown(value),
        "pass the version, hash or name itself (nothing else can reach the query)",
    )


# ------------------------------------------------------------------------ the model


@dataclass(frozen=True)
class AnalysisMetric:
    """One metric of an analysis: how it is judged and its query template."""

    spec: MetricSpec
    query: str

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass(frozen=True)
class CanaryAnalysis:
    """A parsed analysis file. ``step`` and ``window`` are nanoseconds, ``silent_after``
    seconds (``inf``: the silent-canary rule is off); ``vars`` are bound on both sides
    unless a side binds its own."""

    name: str
    metrics: tuple[AnalysisMetric, ...]
    step: int = 60 * NS_PER_SECOND
    window: int = 600 * NS_PER_SECOND
    alpha: float = ALPHA
    pass_threshold: float = PASS_THRESHOLD
    marginal_threshold: float = MARGINAL_THRESHOLD
    silent_after: float = SILENT_AFTER_SECONDS
    vars: Mapping[str, str] = field(default_factory=dict)
    description: str = ""
    source: str = ""

    @property
    def specs(self) -> list[MetricSpec]:
        return [m.spec for m in self.metrics]

    @property
    def variables(self) -> list[str]:
        """Every placeholder name of every query, sorted."""
        return sorted({v for m in self.metrics for v in template_variables(m.query)})

    def judge_options(self) -> dict[str, Any]:
        """The keyword arguments of :func:`~modelphase.decide.judge_canary` it sets."""
        return {
            "alpha": self.alpha,
            "pass_threshold": self.pass_threshold,
            "marginal_threshold": self.marginal_threshold,
            "silent_after": self.silent_after,
        }

    def bind(
        self,
        baseline: Mapping[str, str],
        canary: Mapping[str, str],
        *,
        prefixes: tuple[str, str] = ("baseline.", "canary."),
    ) -> tuple[dict[str, str], dict[str, str]]:
        """Each side's variables (its own over the file's ``vars``), checked: every
        placeholder bound, no unknown name, every value safe, and the sides differing.
        ``prefixes`` name the sides in messages (``--baseline-var`` for the CLI)."""
        used = self.variables
        problems: list[Problem] = []
        bound: list[dict[str, str]] = []
        for side, given, prefix in zip(
            ("baseline", "canary"), (baseline, canary), prefixes, strict=True
        ):
            for key, value in given.items():
                if key not in used:
                    problems.append(
                        Problem(
                            f"{prefix}{key}",
                            f"one of the analysis's variables ({', '.join(used) or 'none'})",
                            "an unknown one",
                            "check the variable's name against the queries' {{placeholders}}",
                        )
                    )
                elif not SAFE_VALUE.fullmatch(value):
                    problems.append(_unsafe(f"{prefix}{key}", value))
            values = {**self.vars, **given}
            for name in used:
                if name not in values:
                    problems.append(
                        Problem(
                            f"{prefix}{name}",
                            f"a value for {{{{{name}}}}}",
                            "none",
                            f"give the {side} a value for {name}",
                        )
                    )
            bound.append({k: v for k, v in values.items() if k in used})
        if not problems and used and bound[0] == bound[1]:
            problems.append(
                Problem(
                    prefixes[1].rstrip(". ") or "canary",
                    "variables that differ from the baseline's in at least one value",
                    "the same values on both sides",
                    "bind the canary's own version, e.g. version=v2",
                )
            )
        raise_problems(f"analysis {self.name}", problems)
        return bound[0], bound[1]

    def queries(self, values: Mapping[str, str]) -> dict[str, str]:
        """Each metric's query rendered with ``values``."""
        return {m.name: render_query(m.query, values) for m in self.metrics}

    def window_at(self, end: int, window: int | None = None) -> tuple[int, int]:
        """``(start, end)`` (ns) of the ``window`` (default: the analysis's) ending at
        ``end`` moved down to a multiple of the step, so that every look evaluates the
        queries on the same grid. Raises ``CanaryAnalysisError`` past the window limit."""
        window = self.window if window is None else window
        check_window(window, "window")
        end -= end % self.step
        return end - window, end


def check_window(window: int, what: str) -> None:
    """Refuse a window that is not positive or longer than the limit."""
    limit = MAX_CANARY_WINDOW_SECONDS * NS_PER_SECOND
    if not 0 < window <= limit:
        raise_problems(
            "",
            [
                Problem(
                    what,
                    f"a window longer than 0 and at most {format_duration(limit)}",
                    format_duration(window),
                    "judge a shorter window",
                )
            ],
        )


# ------------------------------------------------------------------------ the file


def _duration(value: Any) -> Any:
    """A duration as nanoseconds: ``60s``, ``10m`` or a number of seconds."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return value  # strict validation says what it wanted
    try:
        return parse_duration(str(value))
    except ValidationError as exc:
        raise ValueError(str(exc)) from None


def _silent(value: Any) -> Any:
    if isinstance(value, str) and value.strip() in ("0", "0s", "off"):
        return 0
    if value == 0 and not isinstance(value, bool):
        return 0
    return _duration(value)


def _direction(value: Any) -> Any:
    if isinstance(value, str) and value not in DIRECTIONS:
        raise ValueError(
            f"expected one of {', '.join(DIRECTIONS)}, got {shown(value)}. Fix: write the "
            "bad direction of the metric (increase for latency, decrease for success)"
        )
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, str) and _CONTROL.search(value):
        raise ValueError(f"expected text without control characters, got {shown(value)}")
    return value


Duration = Annotated[int, BeforeValidator(_duration)]
Number = Annotated[float, Field(allow_inf_nan=False)]


class _Model(pydantic.BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class _Metric(_Model):
    name: Annotated[str, Field(min_length=1, max_length=200), BeforeValidator(_plain)]
    query: Annotated[str, Field(min_length=1, max_length=MAX_QUERY_CHARS)]
    direction: Annotated[str, BeforeValidator(_direction)] = "either"
    tolerance: Annotated[Number, Field(ge=0)] | None = None
    critical: bool = False
    weight: Annotated[Number, Field(gt=0, le=1e6)] = 1.0
    min_points: Annotated[int, Field(ge=1, le=1_000_000)] | None = None


class _Defaults(_Model):
    step: Duration = 60 * NS_PER_SECOND
    window: Duration = 600 * NS_PER_SECOND
    alpha: Annotated[Number, Field(gt=0, lt=1)] = ALPHA
    tolerance: Annotated[Number, Field(ge=0)] = 0.25
    min_points: Annotated[int, Field(ge=1, le=1_000_000)] = 3
    pass_threshold: Annotated[Number, Field(ge=0, le=100)] = PASS_THRESHOLD
    marginal_threshold: Annotated[Number, Field(ge=0, le=100)] = MARGINAL_THRESHOLD
    silent_after: Annotated[int, BeforeValidator(_silent)] = int(
        SILENT_AFTER_SECONDS * NS_PER_SECOND
    )


class _File(_Model):
    name: Annotated[str, Field(min_length=1, max_length=63)]
    description: Annotated[str, Field(max_length=2_000)] = ""
    defaults: _Defaults = Field(default_factory=_Defaults)
    vars: Annotated[dict[str, str], Field(max_length=64)] = Field(default_factory=dict)
    metrics: Annotated[list[_Metric], Field(min_length=1, max_length=MAX_CANARY_METRICS)]


def parse_analysis(text: str, source: str = "") -> CanaryAnalysis:
    """The analysis in the YAML ``text``; ``source`` (a path) starts every message.

    Raises :class:`~modelphase.exceptions.CanaryAnalysisError` listing every problem:
    each names its field, what was expected, what came and how to fix it."""
    data = _load(text, source)
    try:
        parsed = _File.model_validate(data)
    except pydantic.ValidationError as exc:
        raise_problems(source, from_pydantic(exc))
        raise AssertionError("unreachable") from None
    raise_problems(source, list(_problems(parsed)))
    d = parsed.defaults
    metrics = tuple(
        AnalysisMetric(
            MetricSpec(
                m.name,
                m.direction,
                d.tolerance if m.tolerance is None else m.tolerance,
                critical=m.critical,
                weight=m.weight,
                min_points=d.min_points if m.min_points is None else m.min_points,
            ),
            m.query,
        )
        for m in parsed.metrics
    )
    return CanaryAnalysis(
        name=parsed.name,
        metrics=metrics,
        step=d.step,
        window=d.window,
        alpha=d.alpha,
        pass_threshold=d.pass_threshold,
        marginal_threshold=d.marginal_threshold,
        silent_after=d.silent_after / NS_PER_SECOND if d.silent_after else math.inf,
        vars=dict(parsed.vars),
        description=parsed.description,
        source=source,
    )


def _problems(f: _File) -> Iterator[Problem]:
    if not _NAME.fullmatch(f.name):
        yield Problem(
            "name",
            "a name of lower-case letters, digits and . _ - (starting with a letter or digit)",
            shown(f.name),
            "name the analysis like a Kubernetes object (checkout-latency)",
        )
    d = f.defaults
    if d.marginal_threshold > d.pass_threshold:
        yield Problem(
            "defaults.marginal_threshold",
            f"at most the pass threshold ({d.pass_threshold:g})",
            f"{d.marginal_threshold:g}",
            "lower the marginal threshold",
        )
    if d.step < _MIN_STEP_NS or d.step % 1_000_000:
        yield Problem(
            "defaults.step", "whole milliseconds, at least 1s", format_duration(d.step), "use 60s"
        )
    limit = MAX_CANARY_WINDOW_SECONDS * NS_PER_SECOND
    if d.window > limit:
        yield Problem(
            "defaults.window",
            f"at most {format_duration(limit)}",
            format_duration(d.window),
            "judge a shorter window",
        )
    elif d.step > d.window:
        yield Problem(
            "defaults.step",
            f"at most the window ({format_duration(d.window)})",
            format_duration(d.step),
            "use a smaller step or a longer window",
        )
    for key, value in f.vars.items():
        if not _VAR.fullmatch(key):
            yield Problem(
                f"vars.{key}",
                "a variable name of letters, digits and _ (not starting with a digit)",
                shown(key),
                "rename the variable",
            )
        elif not SAFE_VALUE.fullmatch(value):
            yield _unsafe(f"vars.{key}", value)
    seen: set[str] = set()
    for i, m in enumerate(f.metrics):
        if m.name in seen:
            yield Problem(
                f"metrics.{i}.name", "a name no other metric has", shown(m.name), "rename one"
            )
        seen.add(m.name)
        for text in template_problems(m.query):
            yield Problem(
                f"metrics.{i}.query",
                '{{name}} placeholders inside quoted label values (version="{{version}}")',
                text,
                "put each placeholder inside the quotes of a label matcher",
            )


def _load(text: str, source: str) -> Any:
    size = len(text.encode("utf-8"))
    if size > MAX_SPEC_BYTES:
        too_big = Problem("(file)", f"at most {MAX_SPEC_BYTES:,} bytes", f"{size:,}", "")
        raise_problems(source, [too_big])
    loader = LimitedYamlLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise_problems(
                source,
                [Problem("(file)", "a mapping with name and metrics", "an empty file", "")],
            )
            raise AssertionError("unreachable")
        check_yaml_expanded(node)
        return loader.construct_document(node)
    except YamlLimitError as exc:
        raise_problems(source, [Problem("(file)", "YAML within the limits", str(exc), "")])
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(file)"
        what = str(getattr(exc, "problem", None) or exc).replace("\n", " ")
        bad = Problem(where, "valid YAML (one document)", what, "correct it there")
        raise_problems(source, [bad])
    finally:
        loader.dispose()
    raise AssertionError("unreachable")


def raise_problems(source: str, problems: Sequence[Problem]) -> None:
    """Raise one :class:`CanaryAnalysisError` listing ``problems`` (nothing when
    empty), ``source`` first, the fixes last."""
    if not problems:
        return
    fixes = list(dict.fromkeys(p.fix for p in problems if p.fix))
    fix = f". Fix: {'; '.join(fixes)}" if fixes else ""
    head = f"{source}: " if source else ""
    if len(problems) == 1:
        body = str(problems[0])
    else:
        body = f"{len(problems)} problems: " + "; ".join(str(p) for p in problems)
    raise CanaryAnalysisError(
        f"{head}{body}{fix}", errors=[str(p) for p in problems], source=source
    )
