"""The capacity plans a server serves (``modelphase serve --capacity-plans FILE``): what
each plan reads and how it is bounded, checked when the file is read.

.. code-block:: yaml

    plans:
      - service: checkout                 # the metrics' service label (an RFC 1123 label)
        model: checkout-demand@production # a registered forecaster, NAME@ALIAS or NAME@VERSION
        demand: 'sum(rate(http_requests_total{job="checkout"}[1m]))'  # PromQL
        history: 1d                       # demand read, at the model's step
        capacity: 50                      # the demand one replica holds (declared)
        risk: 0.01                        # p(a step's demand exceeds the plan), (0, 0.5)
        startup: 2m                       # how long a new replica takes to serve
        stabilise: 5m                     # scale-down stabilisation
        min_replicas: 1
        max_replicas: 40
        clamp: {margin: 0.2, max_factor: 3}   # optional (modelphase.decide.capacity.clamp)

Strict, as model specs are (:mod:`modelphase.spec`): an unknown key is refused (a
misspelt ``max_replica`` would otherwise plan without its limit), numbers must be
numbers (``capacity: "50"`` is refused), and the YAML is read within the limits of
:mod:`modelphase.limits` (size, aliases, nesting), so that an alias bomb fails before
any object is built. Every problem is listed in one line naming its path
(``plans.0.risk: expected a number below 0.5, got 0.7``).

Without ``clamp`` the recommended replicas are held above the reactive floor with no
margin (never below what the last observed demand needs) and there is no peak cap;
with it, the floor has its margin and the cap is ``max_factor`` times the replicas of
the last hour's peak (:func:`modelphase.decide.capacity.clamp.clamp`).

What depends on the model (its step) is checked when a plan is computed: the history
must be at most :data:`MAX_DEMAND_POINTS` points at the model's step, the start-up
delay whole steps of it.

A posted plan (``POST /v1/capacity/plan``, :class:`PlanRequest`) is checked by the same
settings (capacity, risk, start-up, stabilisation, replica bounds: one class for both),
with its demand: at most :data:`MAX_DEMAND_POINTS` samples and as many points on their
grid, gaps included, refused before the grid is built. Pure: text and bytes in, plans
out; the server reads the file and the body.

>>> (spec,) = parse_capacity_plans('''
... plans:
...   - {service: checkout, model: demand@production, demand: 'sum(rate(req[1m]))',
...      history: 1d, capacity: 50, max_replicas: 40}
... ''')
>>> spec.name, spec.alias, spec.history // 3_600_000_000_000, spec.bounds.margin
('demand', 'production', 24, 0.0)
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
import pandas as pd
import pydantic
import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from modelphase.decide.capacity.clamp import MAX_REPLICA_COUNT, Clamp
from modelphase.decide.capacity.keda import check_query
from modelphase.decide.slo._errors import Problem, from_pydantic
from modelphase.exceptions import ValidationError
from modelphase.frame import NS_PER_SECOND, Panel, format_duration, parse_duration, parse_time
from modelphase.ingest import prepare
from modelphase.limits import (
    MAX_SPEC_BYTES,
    YamlLimitError,
    check_at_most,
    load_limited_yaml,
)

__all__ = [
    "MAX_DEMAND",
    "MAX_DEMAND_POINTS",
    "MAX_PLANS",
    "MAX_PLAN_H",
    "MIN_CAPACITY",
    "CapacityPlanSpec",
    "DemandPoint",
    "PlanRequest",
    "parse_capacity_plans",
    "parse_model_ref",
    "parse_plan_request",
    "problems_error",
    "span_ns",
]

#: plans one file may hold
MAX_PLANS = 100
#: demand points one plan reads (``history`` at the model's step) or one request carries:
#: a month at one minute, far beyond what a forecaster refits on in a second
MAX_DEMAND_POINTS = 50_000
#: steps one plan may look ahead (a week at one minute)
MAX_PLAN_H = 10_080
#: the history a plan may read at the most (whatever the step)
MAX_HISTORY = 366 * 86_400 * NS_PER_SECOND
#: the smallest capacity per replica (KEDA reads targets in thousandths), and the
#: largest; with demand at most MAX_DEMAND the replica counts stay far inside int64
MIN_CAPACITY, MAX_CAPACITY = 0.001, 1e12
MAX_DEMAND = 1e12
#: times a posted sample may have: before 2200 (the models' clock is int64 ns)
LATEST_NS = 7_258_118_400 * NS_PER_SECOND

_SERVICE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z")
_MODEL = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]{0,199})@(?:v?(\d{1,9})|([a-z][a-z0-9_-]{0,99}))\Z")

#: a finite number (an integer is fine; text, booleans, NaN and infinities are not)
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]


def parse_model_ref(text: str) -> tuple[str, int | None, str | None]:
    """``(name, version, alias)`` of ``NAME@ALIAS`` or ``NAME@VERSION`` (``v3`` or ``3``)."""
    found = _MODEL.match(text) if isinstance(text, str) else None
    if found is None:
        raise ValidationError(
            f"expected a registered forecaster NAME@ALIAS or NAME@VERSION, got {str(text)[:80]!r}",
            hint="e.g. checkout-demand@production or checkout-demand@3",
        )
    name, version, alias = found.groups()
    return name, None if version is None else int(version), alias


def span_ns(value: Any, *, zero: bool) -> int:
    """A duration (``2m``, ``1d``) in ns; ``zero``: 0 (or ``0s``) is allowed. Raises
    ``ValueError`` (for pydantic's validators) on anything else."""
    if zero and ((value == 0 and not isinstance(value, bool)) or value in ("0", "0s")):
        return 0
    if not isinstance(value, str):
        raise ValueError(
            f"expected a duration such as 2m or 1d, got {value!r}. Fix: write it with its unit"
        )
    try:
        return parse_duration(value)
    except ValidationError:
        raise ValueError(
            f"expected a duration such as 2m or 1d, got {value[:40]!r}. Fix: use the units "
            "s, m, h, d, w"
        ) from None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _model_ref(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        parse_model_ref(value)
    except ValidationError as exc:
        raise ValueError(str(exc)) from None
    return value


class _Settings(_Strict):
    """What a plan is made with (:func:`~modelphase.decide.capacity.plan_capacity`),
    in the file and in a posted request alike."""

    capacity: Number = Field(ge=MIN_CAPACITY, le=MAX_CAPACITY)
    risk: Number = Field(0.01, gt=0, lt=0.5)
    startup: str | int = "2m"
    stabilise: str | int = "5m"
    min_replicas: int = Field(1, ge=0, le=MAX_REPLICA_COUNT)
    max_replicas: int | None = Field(None, ge=1, le=MAX_REPLICA_COUNT)

    @field_validator("startup", "stabilise")
    @classmethod
    def _delay(cls, value: str | int) -> str | int:
        if span_ns(value, zero=True) > 86_400 * NS_PER_SECOND:
            raise ValueError(f"expected at most 1d, got {value!r}. Fix: e.g. 2m")
        return value

    @model_validator(mode="after")
    def _bounds(self) -> _Settings:
        if self.max_replicas is not None and self.min_replicas > self.max_replicas:
            raise ValueError(
                f"expected min_replicas <= max_replicas, got {self.min_replicas} > "
                f"{self.max_replicas}. Fix: raise max_replicas or lower min_replicas"
            )
        return self

    def options(self) -> dict[str, Any]:
        """The keyword arguments of ``plan_capacity`` (durations in ns)."""
        return {
            "capacity": float(self.capacity),
            "risk": float(self.risk),
            "startup": span_ns(self.startup, zero=True),
            "stabilise": span_ns(self.stabilise, zero=True),
            "min_replicas": self.min_replicas,
            "max_replicas": self.max_replicas,
        }


class _ClampEntry(_Strict):
    margin: Number = Field(0.2, ge=0, lt=1)
    max_factor: Number = Field(3.0, ge=1, le=1000)


class _PlanEntry(_Settings):
    service: str
    model: str
    demand: str
    history: str
    clamp: _ClampEntry | None = None

    _model = field_validator("model")(_model_ref)

    @field_validator("service")
    @classmethod
    def _service(cls, value: str) -> str:
        if not _SERVICE.match(value):
            raise ValueError(
                f"expected a service name (a-z, 0-9 and '-', at most 63, alphanumeric ends), "
                f"got {value[:80]!r}. Fix: e.g. checkout-api"
            )
        return value

    @field_validator("demand")
    @classmethod
    def _demand(cls, value: str) -> str:
        try:
            return check_query(value, "demand")
        except ValidationError as exc:
            raise ValueError(str(exc).removeprefix("demand: ")) from None

    @field_validator("history")
    @classmethod
    def _history(cls, value: str) -> str:
        if span_ns(value, zero=False) > MAX_HISTORY:
            raise ValueError(f"expected at most 366d, got {value!r}. Fix: read less history")
        return value


class _PlansFile(_Strict):
    plans: list[_PlanEntry] = Field(min_length=1, max_length=MAX_PLANS)


@dataclass(frozen=True)
class CapacityPlanSpec:
    """One plan of the file, checked: the forecaster (``model`` as written; ``name``
    with its ``version`` or ``alias``, resolved again at every computation so that an
    alias move is followed), the ``demand`` query and its ``history`` (ns), the
    settings of :func:`~modelphase.decide.capacity.plan_capacity` (``startup`` and
    ``stabilise`` in ns) and the file's ``clamp`` (None when it has none)."""

    service: str
    model: str
    name: str
    version: int | None
    alias: str | None
    demand: str
    history: int
    capacity: float
    risk: float
    startup: int
    stabilise: int
    min_replicas: int
    max_replicas: int | None
    clamp: Clamp | None

    @property
    def bounds(self) -> Clamp:
        """The clamp the recommendation is held by: the file's, or the reactive floor
        without margin (the peak cap then is not applied: no peak is passed)."""
        top = MAX_REPLICA_COUNT if self.max_replicas is None else self.max_replicas
        if self.clamp is None:
            return Clamp(margin=0.0, min_replicas=self.min_replicas, max_replicas=top)
        return self.clamp

    def to_dict(self) -> dict[str, Any]:
        """What ``GET /v1/capacity`` lists of it."""
        return {
            "service": self.service,
            "model": self.model,
            "demand": self.demand,
            "history": format_duration(self.history),
            "capacity": self.capacity,
            "risk": self.risk,
            "startup": format_duration(self.startup) if self.startup else "0s",
            "stabilise": format_duration(self.stabilise) if self.stabilise else "0s",
            "min_replicas": self.min_replicas,
            "max_replicas": self.max_replicas,
            "clamp": None
            if self.clamp is None
            else {"margin": self.clamp.margin, "max_factor": self.clamp.max_factor},
        }


def _spec(entry: _PlanEntry) -> CapacityPlanSpec:
    name, version, alias = parse_model_ref(entry.model)
    top = MAX_REPLICA_COUNT if entry.max_replicas is None else entry.max_replicas
    clamp = None
    if entry.clamp is not None:
        clamp = Clamp(entry.clamp.margin, entry.clamp.max_factor, entry.min_replicas, top)
    return CapacityPlanSpec(
        service=entry.service, model=entry.model, name=name, version=version, alias=alias,
        demand=entry.demand, history=span_ns(entry.history, zero=False), clamp=clamp,
        **entry.options(),
    )  # fmt: skip


def problems_error(source: str, problems: list[Problem]) -> ValidationError:
    """One :class:`ValidationError` listing ``problems`` (five at most) on one line."""
    fixes = list(dict.fromkeys(p.fix for p in problems if p.fix))
    listed = "; ".join(str(p) for p in problems[:5])
    more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
    head = f"{source}: " if len(problems) == 1 else f"{source}: {len(problems)} problems: "
    return ValidationError(head + listed + more, hint="; ".join(fixes[:5]))


def _load(text: str, source: str) -> Any:
    size = len(text.encode("utf-8"))
    if size > MAX_SPEC_BYTES:
        raise problems_error(
            source,
            [Problem("(file)", f"at most {MAX_SPEC_BYTES:,} bytes", f"{size:,}", "split it")],
        )
    try:
        return load_limited_yaml(text)
    except YamlLimitError as exc:
        fix = "write the values out instead of chaining aliases or nesting deeply"
        raise problems_error(
            source, [Problem("(file)", "YAML within the limits", str(exc), fix)]
        ) from None
    except yaml.YAMLError as exc:
        what = str(getattr(exc, "problem", None) or exc).replace("\n", " ")
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(file)"
        raise problems_error(
            source, [Problem(where, "valid YAML", what, "correct the YAML there")]
        ) from None


def parse_capacity_plans(text: str, source: str = "the capacity plans") -> list[CapacityPlanSpec]:
    """The plans of a capacity plans file (YAML text), each service once; raise
    :class:`~modelphase.exceptions.ValidationError` listing every problem in one line."""
    data = _load(text, source)
    if not isinstance(data, Mapping):
        got = "nothing" if data is None else type(data).__name__
        fix = "start the file with 'plans:' and a list of plans"
        raise problems_error(source, [Problem("(file)", "a mapping with plans:", got, fix)])
    try:
        entries = _PlansFile.model_validate(data).plans
    except pydantic.ValidationError as exc:
        raise problems_error(source, from_pydantic(exc)) from None
    seen: dict[str, int] = {}
    for i, entry in enumerate(entries):
        if entry.service in seen:
            fix = "give each plan its own service (it is the metrics' service label)"
            problem = Problem(
                f"plans.{i}.service", "each service once", f"{entry.service!r} again", fix
            )
            raise problems_error(source, [problem])
        seen[entry.service] = i
    return [_spec(e) for e in entries]


# ----------------------------------------------------------------- a posted plan


def _ns(value: Any) -> int:
    """A sample's time in ns: RFC 3339 (a zone required) or Unix seconds, before 2200."""
    try:
        if isinstance(value, str):
            ns = parse_time(value)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            ns = round(float(value) * NS_PER_SECOND) if math.isfinite(value) else -1
        else:
            ns = -1
    except (ValueError, OverflowError):  # TimestampParseError, or a year pandas refuses
        ns = -1
    if not 0 <= ns < LATEST_NS:
        raise ValueError(
            f"expected an RFC 3339 time with a zone or Unix seconds, from 1970 to before 2200, "
            f"got {str(value)[:40]!r}. Fix: e.g. 2026-01-01T00:00:00Z or 1767225600"
        )
    return ns


#: a sample's time (ns once read), as the OpenAPI document shows it
Stamp = Annotated[
    int,
    BeforeValidator(_ns),
    WithJsonSchema(
        {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "number", "minimum": 0}]}
    ),
]


class DemandPoint(_Strict):
    """One demand sample: its series, its time, its value (e.g. requests/s)."""

    unique_id: str = Field(min_length=1, max_length=200)
    ds: Stamp
    y: Number = Field(ge=0, le=MAX_DEMAND)


_EXAMPLE: dict[str, Any] = {
    "demand": [{"unique_id": "api", "ds": "2026-01-01T00:00:00Z", "y": 12.5}],
    "freq": "1m", "h": 60, "capacity": 50, "risk": 0.01, "startup": "2m", "max_replicas": 40,
}  # fmt: skip


class PlanRequest(_Settings):
    """A plan of the caller's demand, as ``modelphase capacity plan`` makes it: the
    history of each series (``unique_id``) on a grid of ``freq``, ``h`` steps ahead
    (default with ``model``: its horizon), from a registered forecaster ``model``
    (NAME@ALIAS or NAME@VERSION, refitted on the demand) or the forecasting stack's
    automatic choice per series."""

    model_config = ConfigDict(json_schema_extra={"examples": [dict(_EXAMPLE)]})

    demand: list[DemandPoint] = Field(min_length=1, max_length=MAX_DEMAND_POINTS)
    freq: str = Field(max_length=20, description="The demand's step: whole seconds, 1s to 7d")
    h: int | None = Field(None, ge=1, le=MAX_PLAN_H)
    model: str | None = Field(None, max_length=320)

    _model = field_validator("model")(_model_ref)

    @field_validator("freq")
    @classmethod
    def _freq(cls, value: str) -> str:
        try:
            step = parse_duration(value)
        except ValidationError:
            step = 0
        if not (NS_PER_SECOND <= step <= 7 * 86_400 * NS_PER_SECOND and step % NS_PER_SECOND == 0):
            raise ValueError(
                f"expected whole seconds from 1s to 7d, got {value[:20]!r}. Fix: e.g. 1m"
            )
        return value

    @property
    def step(self) -> int:
        return parse_duration(self.freq)

    def panel(self) -> Panel:
        """The demand on its grid (sorted by series and time first); refuses a grid of
        more than ``MAX_DEMAND_POINTS`` points, gaps included, before building it."""
        frame = pd.DataFrame(
            {
                "unique_id": [p.unique_id for p in self.demand],
                "ds": [p.ds for p in self.demand],
                "y": [p.y for p in self.demand],
            }
        ).sort_values(["unique_id", "ds"], kind="stable")
        spans = frame.groupby("unique_id", sort=False)["ds"].agg(["min", "max"])
        check_at_most(
            "demand", int(((spans["max"] - spans["min"]) // self.step + 1).sum()),
            MAX_DEMAND_POINTS, "send less history, or a coarser freq",
            " points on the grid (gaps included)",
        )  # fmt: skip
        raw = Panel.from_arrays(
            frame["unique_id"].to_numpy(dtype=object),
            frame["ds"].to_numpy(dtype=np.int64),
            frame["y"].to_numpy(dtype=np.float64),
        )
        return prepare(raw, step=self.step)


def parse_plan_request(raw: bytes) -> PlanRequest:
    """A posted plan request (JSON); problems in one line, as the file's."""
    try:
        return PlanRequest.model_validate_json(raw)
    except pydantic.ValidationError as exc:
        top = [
            e for e in exc.errors(include_url=False) if not e["loc"] and e["type"] != "value_error"
        ]
        if top:  # not JSON, or not an object
            what = "invalid JSON" if top[0]["type"] == "json_invalid" else "another JSON value"
            raise ValidationError(
                f"expected the plan request as a JSON object, got {what} ({top[0]['msg']})",
                hint='send e.g. {"demand": [...], "freq": "1m", "capacity": 50}',
            ) from None
        raise problems_error("the plan request", from_pydantic(exc)) from None
