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
was expected and what came (:class:`~modelphase.exceptions.SpecError`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from modelphase.exceptions import SpecError, ValidationError
from modelphase.features import FeatureSet
from modelphase.frame import parse_duration

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


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PrometheusTarget(_Strict):
    """A PromQL range query that produces the training data."""

    query: str = Field(min_length=1)
    start: str = "now-14d"
    end: str = "now"
    step: str = "60s"
    url: str | None = None

    @field_validator("step")
    @classmethod
    def _step(cls, value: str) -> str:
        _duration(value)
        return value


class TargetSpec(_Strict):
    """Where the training data comes from: a dataset id, or a Prometheus query."""

    dataset: str | None = Field(default=None, pattern=r"^[0-9a-f]{1,64}$")
    prometheus: PrometheusTarget | None = None
    series: list[str] | None = None

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

    windows: int = Field(default=3, ge=1, le=100)
    step: int | None = Field(default=None, ge=1)
    gap: int = Field(default=0, ge=0)
    refit: bool = True
    #: a series keeps its own best candidate only when it beats the panel's best by
    #: more than this share of its error (0: always its own best)
    selection_margin: float = Field(default=0.0, ge=0.0, lt=1.0)


class GateSpec(_Strict):
    name: str | None = None
    metric: str = Field(min_length=1)
    max: float | None = None
    min: float | None = None
    between: tuple[float, float] | None = None

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
    horizon: int = Field(ge=1, le=100_000)
    levels: list[float] = Field(default_factory=lambda: [80.0, 95.0])
    features: dict[str, Any] = Field(default_factory=dict)
    candidates: list[CandidateSpec] = Field(min_length=1)
    fallback: CandidateSpec | None = None
    backtest: BacktestSpec = Field(default_factory=BacktestSpec)
    gates: list[GateSpec] = Field(default_factory=list)
    owners: list[str] = Field(default_factory=list)
    canary: dict[str, Any] | None = None
    latency_budget: str = "50ms"
    monitoring: dict[str, Any] = Field(default_factory=dict)
    description: str = ""

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
            FeatureSet.parse(value)
        except ValidationError as exc:
            raise ValueError(str(exc).split(". Fix:")[0]) from None
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
    def frequency_ns(self) -> int:
        return parse_duration(self.frequency)

    @property
    def latency_budget_ns(self) -> int:
        return parse_duration(self.latency_budget)

    def gate_dicts(self) -> list[dict[str, Any]]:
        """The gates as plain mappings for :func:`modelphase.backtest.evaluate`."""
        return [g.model_dump(exclude_none=True) for g in self.gates]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON, as stored with a registered version."""
        return self.model_dump(mode="json", exclude_none=True)

    def check_models(self, known: Sequence[str]) -> None:
        """Refuse candidates (and the fallback) that name no known model."""
        wanted = [c.model for c in self.candidates]
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
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError(
            f"{source} is not valid YAML: {exc}".replace("\n", " "), errors=[str(exc)]
        ) from exc
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
    """Read and check a spec file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read the spec {path}: {exc}", errors=[str(exc)]) from exc
    return parse_spec(text, source=str(path))


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
    return f"{path}: {message} (got {shown})"
