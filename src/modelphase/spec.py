"""``ModelSpec``: the YAML a user writes to describe a model and how it is validated.

>>> spec = parse_spec('''
... name: checkout-latency
... kind: forecast
... target: {dataset: 5b708b085f0d6edb}
... frequency: 1m
... horizon: 60
... candidates:
...   - model: SeasonalNaive
...     params: {season_length: 1440}
... gates:
...   - {name: beats_naive, metric: mase_vs_baseline, max: 0.9}
... ''')
>>> spec.name, spec.horizon, spec.frequency_ns // 60_000_000_000, spec.levels
('checkout-latency', 60, 1, [80.0, 95.0])

Every field is checked when the file is read; an error names the field's path, what
was expected and what came (:class:`~modelphase.exceptions.SpecError`). Numbers must be
numbers (``horizon: "5"`` and ``horizon: true`` are refused), and the YAML itself is
read within limits (:mod:`modelphase.limits`): at most ``MAX_SPEC_BYTES``, ``MAX_YAML_DEPTH``
levels of nesting, ``MAX_YAML_ALIASES`` aliases and ``MAX_YAML_NODES`` nodes once every
alias is expanded, so that an alias bomb ("billion laughs") is refused before it is built.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from modelphase.exceptions import SpecError, ValidationError
from modelphase.features import FeatureSet
from modelphase.frame import parse_duration
from modelphase.limits import (
    MAX_CANDIDATES,
    MAX_H,
    MAX_LEVELS,
    MAX_QUERY_CHARS,
    MAX_SPEC_BYTES,
    MAX_WINDOWS,
    MAX_YAML_ALIASES,
    MAX_YAML_DEPTH,
    MAX_YAML_NODES,
    YamlLimitError,
    load_limited_yaml,
)

__all__ = [
    "BacktestSpec",
    "CandidateSpec",
    "ModelSpec",
    "PrometheusTarget",
    "TargetSpec",
    "load_spec",
    "parse_spec",
]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}\Z")
#: the keys of an anomaly spec's ``alerts:`` (the arguments of ``anomaly.Alerter``)
ALERT_RULES = frozenset(
    {"threshold", "group_by", "cooldown", "min_deviation", "band", "short", "lookback", "history"}
)
#: the most features (lags, rolling statistics, calendar columns) one spec may ask for
MAX_FEATURES = 100

#: a finite number (an integer is fine; text, booleans, NaN and infinities are not)
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]


class _Strict(BaseModel):
    # strict: a number is a number (not "5", not true), text is text, a flag is a flag
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class PrometheusTarget(_Strict):
    """A PromQL range query that produces the training data."""

    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    start: str = "now-14d"
    end: str = "now"
    step: str = "60s"
    url: str | None = None

    @field_validator("step")
    @classmethod
    def _step(cls, value: str) -> str:
        _duration(value)
        return value


class ExpectSpec(_Strict):
    """What the target's values must look like: checked when the data is loaded for
    training (a violation is an error naming the series) and on every request served
    (a violation is counted and the answer warns; it is not refused, since an incident
    is when a forecast is wanted most)."""

    min: Number | None = None
    max: Number | None = None
    #: the largest share of missing points a series (or a request's values) may have
    max_missing: float | None = Field(default=None, ge=0.0, le=1.0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _order(self) -> ExpectSpec:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min is above max")
        return self


class TargetSpec(_Strict):
    """Where the training data comes from: a dataset id, or a Prometheus query."""

    dataset: str | None = Field(default=None, pattern=r"^[0-9a-f]{1,64}$")
    prometheus: PrometheusTarget | None = None
    series: list[str] | None = None
    expect: ExpectSpec | None = None

    @model_validator(mode="after")
    def _one_source(self) -> TargetSpec:
        if (self.dataset is None) == (self.prometheus is None):
            raise ValueError("give exactly one of dataset or prometheus")
        return self


class CandidateSpec(_Strict):
    """One candidate model and its hyper-parameters."""

    model: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    alias: str | None = None


class BacktestSpec(_Strict):
    """Rolling-origin cross-validation: ``windows`` cutoffs ``step`` points apart."""

    windows: int = Field(default=3, ge=1, le=MAX_WINDOWS)
    step: int | None = Field(default=None, ge=1, le=MAX_H)
    gap: int = Field(default=0, ge=0, le=MAX_H)
    refit: bool = True
    #: a series keeps its own best candidate only when it beats the panel's best by
    #: more than this share of its error (0: always its own best); the same default as
    #: ``modelphase forecast`` (``modelphase.forecast.auto.DEFAULT_MARGIN``)
    selection_margin: float = Field(default=0.2, ge=0.0, lt=1.0, allow_inf_nan=False)


class GateSpec(_Strict):
    name: str | None = None
    metric: str = Field(min_length=1)
    max: Number | None = None
    min: Number | None = None
    # a YAML list is fine here (strict mode wants a tuple); its items are still numbers
    between: tuple[Number, Number] | None = Field(default=None, strict=False)

    @model_validator(mode="after")
    def _one_bound(self) -> GateSpec:
        given = [b for b in ("max", "min", "between") if getattr(self, b) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of max, min or between, got {given or 'none'}")
        if self.between is not None and self.between[0] > self.between[1]:
            raise ValueError("between: the low bound is above the high one")
        return self


class ModelSpec(_Strict):
    """A model, its data, its candidates, how it is validated and rolled out."""

    name: str
    kind: Literal["forecast", "anomaly"]
    target: TargetSpec
    frequency: str
    horizon: int = Field(ge=1, le=MAX_H)
    levels: list[Number] = Field(default_factory=lambda: [80.0, 95.0], max_length=MAX_LEVELS)
    features: dict[str, Any] = Field(default_factory=dict)
    #: left out: the default candidates, the same as ``modelphase forecast`` uses
    candidates: list[CandidateSpec] | None = Field(
        default=None, min_length=1, max_length=MAX_CANDIDATES
    )
    fallback: CandidateSpec | None = None
    backtest: BacktestSpec = Field(default_factory=BacktestSpec)
    gates: list[GateSpec] = Field(default_factory=list)
    owners: list[str] = Field(default_factory=list)
    canary: dict[str, Any] | None = None
    #: how long serving waits for the model before the fallback answers; unset, it fits
    #: the model: four times its refit time measured in training, at least 50 ms
    latency_budget: str | None = None
    monitoring: dict[str, Any] = Field(default_factory=dict)
    #: kind anomaly: the alert rules around the detector (``threshold``, ``group_by``,
    #: ``cooldown``, ``min_deviation``, ``band``, ``short``, ``lookback``, ``history``)
    alerts: dict[str, Any] = Field(default_factory=dict)
    description: str = ""

    @field_validator("alerts")
    @classmethod
    def _alerts(cls, value: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(value) - ALERT_RULES)
        if unknown:
            raise ValueError(
                f"unknown alert rule(s) {', '.join(unknown)}; expected among "
                f"{', '.join(sorted(ALERT_RULES))}"
            )
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                "use letters, digits, '.', '_' or '-' (at most 200), starting with a "
                "letter or digit"
            )
        return value

    @field_validator("features")
    @classmethod
    def _features(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            names = FeatureSet.parse(value).names
        except ValidationError as exc:
            raise ValueError(str(exc).split(". Fix:")[0]) from None
        if len(names) > MAX_FEATURES:
            raise ValueError(f"expected at most {MAX_FEATURES} features, got {len(names)}")
        return value

    @property
    def feature_set(self) -> FeatureSet:
        return FeatureSet.parse(self.features)

    @field_validator("frequency", "latency_budget")
    @classmethod
    def _durations(cls, value: str) -> str:
        _duration(value)
        return value

    @field_validator("levels")
    @classmethod
    def _levels(cls, value: list[float]) -> list[float]:
        if any(not 0 < lv < 100 for lv in value) or len(set(value)) != len(value):
            raise ValueError("levels are distinct percentages strictly between 0 and 100")
        return sorted(value)

    @property
    def candidate_names(self) -> list[str]:
        """The candidates' aliases (or model names); ``["default"]`` without any."""
        if not self.candidates:
            return ["default"]
        return [c.alias or c.model for c in self.candidates]

    @property
    def frequency_ns(self) -> int:
        return parse_duration(self.frequency)

    @property
    def latency_budget_ns(self) -> int | None:
        return None if self.latency_budget is None else parse_duration(self.latency_budget)

    def gate_dicts(self) -> list[dict[str, Any]]:
        """The gates as plain mappings for :func:`modelphase.backtest.evaluate`."""
        return [g.model_dump(exclude_none=True) for g in self.gates]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON, as stored with a registered version."""
        return self.model_dump(mode="json", exclude_none=True)

    def check_models(self, known: Sequence[str]) -> None:
        """Refuse candidates (and the fallback) that name no known model."""
        wanted = [c.model for c in self.candidates or []]
        if self.fallback is not None:
            wanted.append(self.fallback.model)
        unknown = sorted({m for m in wanted if m not in known})
        if unknown:
            raise SpecError(
                f"unknown model(s) {', '.join(unknown)}; expected one of "
                f"{', '.join(sorted(known))}",
                errors=[f"candidates: unknown model {m!r}" for m in unknown],
            )


def parse_spec(text: str, *, source: str = "the spec") -> ModelSpec:
    """A :class:`ModelSpec` from YAML text; raise :class:`SpecError` listing every
    problem with its path."""
    size = len(text.encode("utf-8"))
    if size > MAX_SPEC_BYTES:
        raise _too_big(source, size)
    data = _load_yaml(text, source)
    if not isinstance(data, Mapping):
        raise SpecError(
            f"{source}: expected a YAML mapping (name:, kind:, target: ...), got "
            f"{type(data).__name__}",
            errors=["top level is not a mapping"],
        )
    try:
        return ModelSpec.model_validate(data)
    except pydantic.ValidationError as exc:
        problems = [_describe(err) for err in exc.errors()]
        raise SpecError(
            f"{source} has {len(problems)} problem(s): {'; '.join(problems)}", errors=problems
        ) from None


def load_spec(path: Path) -> ModelSpec:
    """Read and check a spec file (at most ``MAX_SPEC_BYTES`` of it is read)."""
    try:
        with Path(path).open("rb") as fh:
            raw = fh.read(MAX_SPEC_BYTES + 1)
        if len(raw) > MAX_SPEC_BYTES:
            size = Path(path).stat().st_size
            raise _too_big(str(path), size if size > MAX_SPEC_BYTES else len(raw))
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read the spec {path}: {exc}", errors=[str(exc)]) from exc
    return parse_spec(text, source=str(path))


def _load_yaml(text: str, source: str) -> Any:
    try:
        return load_limited_yaml(text)
    except YamlLimitError as exc:
        raise SpecError(
            f"{source}: refused: {exc}. Fix: write the values out instead of chaining "
            f"aliases or nesting deeply; a spec has at most {MAX_YAML_ALIASES} aliases, "
            f"{MAX_YAML_NODES:,} values with aliases expanded and {MAX_YAML_DEPTH} levels",
            errors=[f"(top level): refused: {exc}"],
        ) from None
    except yaml.YAMLError as exc:
        raise SpecError(
            f"{source} is not valid YAML: {exc}".replace("\n", " "), errors=[str(exc)]
        ) from exc


def _too_big(source: str, size: int) -> SpecError:
    return SpecError(
        f"{source}: expected a spec of at most {MAX_SPEC_BYTES:,} bytes, got {size:,}. "
        "Fix: a spec describes a model; keep data and long lists out of it",
        errors=[f"(top level): {size:,} bytes, over the {MAX_SPEC_BYTES:,}-byte limit"],
    )


def _duration(value: str) -> int:
    try:
        return parse_duration(str(value))
    except ValidationError:
        raise ValueError("expected a duration such as 60s, 5m or 1h30m") from None


def _describe(err: Mapping[str, Any]) -> str:
    path = ".".join(str(p) for p in err.get("loc", ())) or "(top level)"
    kind = err.get("type", "")
    if kind == "missing":
        return f"{path}: required, missing"
    if kind == "extra_forbidden":
        return f"{path}: unknown field (check its spelling)"
    message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    got = err.get("input")
    shown = repr(got) if not isinstance(got, Mapping | list) else type(got).__name__
    expected = _TYPES.get(str(kind))
    if expected is not None and isinstance(got, bool | str | int | float):
        if isinstance(got, str):
            return f"{path}: expected {expected}, got the text {got!r}; write it without quotes"
        if isinstance(got, bool):
            return f"{path}: expected {expected}, got the boolean {str(got).lower()}"
        if kind == "string_type":
            return f"{path}: expected {expected}, got the number {got!r}; quote it"
        return f"{path}: expected {expected}, got {got!r}"
    return f"{path}: {message} (got {shown})"


#: what strict validation wanted, by pydantic's error type
_TYPES = {
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
    "string_type": "text",
}
