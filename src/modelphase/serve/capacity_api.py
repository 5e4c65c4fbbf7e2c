"""``modelphase capacity plan`` over HTTP: the plans of the server's capacity plans file
(``modelphase serve --capacity-plans FILE``, :mod:`modelphase.decide.capacity.plans_file`),
each read from the server's registry (the forecaster) and its Prometheus (the demand),
and exported as the gauges KEDA or the HPA scale on (:mod:`modelphase.decide.capacity.keda`).

- ``GET /v1/capacity``: the plans (service, model, demand query, capacity, risk, ...);
- ``GET /v1/capacity/{service}/plan``: one plan, the JSON of ``modelphase capacity plan
  --json`` plus ``recommended_replicas`` (the replicas to ask for now) and
  ``demand_forecast`` (the forecast's quantiles at the step they will serve); ``Age``
  says how many seconds ago it was computed;
- ``GET /v1/capacity/metrics``: every plan in Prometheus' text format:
  ``modelphase_capacity_recommended_replicas``, ``modelphase_capacity_demand_forecast``
  (by ``quantile``), ``modelphase_capacity_replica_capacity``,
  ``modelphase_capacity_plan_up`` (0 for a plan that could not be computed: the scrape
  still succeeds) and ``modelphase_capacity_plan_age_seconds``, all by ``service``;
- ``POST /v1/capacity/plan``: a plan of the caller's own demand (stateless): the JSON of
  ``modelphase capacity plan --json``.

**How a plan is computed.** The forecaster ``NAME@ALIAS`` is resolved in the registry at
every computation (an alias move is followed at the next one; a version's artifact is
loaded once). The demand query is read with ``query_range`` over ``history`` ending at
the last whole step before now, at the model's step, summed over the series it returns.
The forecaster refits on it and forecasts its horizon at the plan's levels
(:func:`~modelphase.decide.capacity.forecast_demand`), and
:func:`~modelphase.decide.capacity.plan_capacity` plans it. Replicas asked for now serve
from ``now + startup``: the recommendation is the plan's replicas at the first step at
or after that, clamped (:func:`~modelphase.decide.capacity.clamp.clamp`) above the
reactive floor ``ceil(last demand / capacity)`` (less the file's ``clamp.margin``), below
``clamp.max_factor`` times the replicas of the last hour's peak (with a ``clamp`` only),
and within ``[min_replicas, max_replicas]``.

**Cost.** A plan is computed on a thread, cached for ``ttl`` seconds per service and
shared by the requests that ask for it meanwhile; at most ``concurrency`` plans (and
posted plans) are computed at once: a plan request past that is refused with 503, a
scrape waits for its turn. The demand query does not start past ``timeout`` seconds
after the request asked (504). Every endpoint needs a viewer token, checked before any
work. Prometheus failing is 502 (``prometheus_unavailable``; ``prometheus_no_series``
for a query that matches nothing); a plan the server's model or data cannot give (a
model that is not there or lacks the interval the risk needs, a start-up delay that is
not whole steps of the model's step) is 502 ``plan_unavailable``: the server's file is at
fault, not the request.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client import Counter as PromCounter
from prometheus_client.core import GaugeMetricFamily

from modelphase.decide import RangeQuerier
from modelphase.decide.capacity import CapacityPlan, forecast_demand, plan_capacity
from modelphase.decide.capacity.clamp import Clamped, clamp, peak_replicas
from modelphase.decide.capacity.keda import CAPACITY_METRIC, FORECAST_METRIC, RECOMMENDED_METRIC
from modelphase.decide.capacity.plan import _quantile_columns
from modelphase.decide.capacity.plans_file import (
    MAX_DEMAND,
    MAX_DEMAND_POINTS,
    CapacityPlanSpec,
    PlanRequest,
    parse_capacity_plans,
    parse_model_ref,
    parse_plan_request,
)
from modelphase.exceptions import (
    ConfigError,
    LimitExceededError,
    ModelNotFoundError,
    ModelphaseError,
    NoSeriesError,
    OverloadedError,
    PayloadTooLargeError,
    PrometheusTimeoutError,
    ValidationError,
)
from modelphase.forecast.trained import FLAVOR as FORECAST_FLAVOR
from modelphase.forecast.trained import TrainedForecaster
from modelphase.frame import (
    NS_PER_SECOND,
    Panel,
    format_duration,
    format_time,
)
from modelphase.limits import MAX_SPEC_BYTES, check_at_most
from modelphase.registry import ModelRegistry, Principal
from modelphase.serve.admission import Admission
from modelphase.serve.http import GUARDED, documented, install_statuses, json_response
from modelphase.serve.slo_api import CONTENT_TYPE, Authorize, _Flights, _Slots

__all__ = [
    "PREFIX",
    "STATUSES",
    "CapacityConfig",
    "PlanUnavailableError",
    "Recommendation",
    "demand_panel",
    "mount_capacity",
    "read_plans_file",
    "recommend",
    "router",
]

log = logging.getLogger("modelphase.serve.capacity")

PREFIX = "/v1/capacity"
#: bytes of one posted plan's body (50,000 points fit; the server's --max-body holds too)
MAX_PLAN_BODY_BYTES = 4_000_000
#: series x steps one posted plan may ask for (its answer has a row for each)
MAX_PLAN_ROWS = 100_000
#: the window of the peak the clamp's cap is of
PEAK_WINDOW = 3600 * NS_PER_SECOND
#: forecasters kept loaded, by name and version (a version's artifact never changes)
KEPT_FORECASTERS = 32


class PlanUnavailableError(ModelphaseError):
    """A plan of the server's file that its model or its data cannot give (502)."""


#: the refusals of this module's errors; Prometheus' (502, 504) and 413 are the canary
#: module's (:data:`modelphase.serve.decide_api.STATUSES`), which the server installs
STATUSES: dict[type[ModelphaseError], tuple[int, str]] = {
    PlanUnavailableError: (502, "plan_unavailable"),
}


@dataclass(frozen=True)
class CapacityConfig:
    """The server's capacity plans (by service) and the Prometheus their demand is read
    from; ``timeout``: seconds after a request within which its demand query must start;
    ``concurrency``: plans computed at once; ``ttl``: seconds a plan is served from the
    cache; ``now`` (ns since the epoch) is when a plan is of, ``clock`` (monotonic s)
    times the cache and the deadline."""

    plans: Mapping[str, CapacityPlanSpec] = field(default_factory=dict)
    prometheus: RangeQuerier | None = None
    timeout: float = 20.0
    concurrency: int = 2
    ttl: float = 60.0
    now: Callable[[], int] = time.time_ns
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        if self.plans and self.prometheus is None:
            raise ConfigError(
                "expected a Prometheus for the capacity plans, got none. Fix: pass "
                "--prometheus URL (or set MODELPHASE_PROMETHEUS_URL)"
            )
        if self.concurrency < 1 or not self.ttl >= 0 or not self.timeout > 0:
            raise ConfigError(
                f"expected a concurrency of at least 1, a ttl of 0 s or more and a timeout "
                f"above 0 s, got {self.concurrency}, {self.ttl:g} s and {self.timeout:g} s. "
                "Fix: pass values in range"
            )

    @classmethod
    def of(cls, files: Mapping[str, Sequence[CapacityPlanSpec]], **options: Any) -> CapacityConfig:
        """A config of the plans of each file (by its name), refusing a service twice."""
        by_service: dict[str, CapacityPlanSpec] = {}
        where: dict[str, str] = {}
        for source, specs in files.items():
            for spec in specs:
                if spec.service in by_service:
                    raise ConfigError(
                        f"expected each capacity plan's service once, got {spec.service!r} in "
                        f"{where[spec.service]} and {source}. Fix: plan it in one file"
                    )
                by_service[spec.service], where[spec.service] = spec, source
        return cls(plans=by_service, **options)


def read_plans_file(path: Path) -> list[CapacityPlanSpec]:
    """The plans of a capacity plans file (at most ``MAX_SPEC_BYTES`` of it read)."""
    try:
        with Path(path).open("rb") as fh:
            raw = fh.read(MAX_SPEC_BYTES + 1)
        # a file over the limit is refused by its size below, whatever its last bytes
        text = raw.decode("utf-8", errors="replace" if len(raw) > MAX_SPEC_BYTES else "strict")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else f"not UTF-8 at byte {exc.start}"
        raise ValidationError(
            f"--capacity-plans: expected a readable YAML file, got {path}: {why}",
            hint="check the path; save the file as UTF-8",
        ) from None
    return parse_capacity_plans(text, str(path))  # refuses one over MAX_SPEC_BYTES


# --------------------------------------------------------------- the recommendation


@dataclass(frozen=True)
class Recommendation:
    """A plan of the file and what it recommends now: ``replicas`` (``clamped``) for
    the step at ``ds`` (ns), asked for at ``ask_at``; the plan's own count there; the
    reactive and peak replicas the clamp held it by; the forecast's ``quantiles``."""

    spec: CapacityPlanSpec
    version: int
    as_of: int
    plan: CapacityPlan
    ds: int
    ask_at: int
    planned: int
    clamped: Clamped
    last_demand: float
    reactive: int
    peak: int | None
    quantiles: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "service": self.spec.service,
            "model": self.spec.model,
            "version": self.version,
            "as_of": self.as_of / NS_PER_SECOND,
            "recommended_replicas": self.clamped.replicas,
            "recommended": {
                "ds": format_time(self.ds),
                "ask_at": format_time(self.ask_at),
                "plan_replicas": self.planned,
                "bound": self.clamped.bound,
                "floor": self.clamped.floor,
                "cap": self.clamped.cap,
                "last_demand": self.last_demand,
                "reactive_replicas": self.reactive,
                "peak_replicas": self.peak,
            },
            "demand_forecast": self.quantiles,
            **self.plan.to_dict(),
        }


def demand_panel(found: Panel, service: str, start: int, end: int, step: int) -> Panel:
    """A query's answer summed over its series at each time of the grid ``start`` to
    ``end`` every ``step`` ns (NaN where no series has a value), as the series
    ``service``. Refuses no finite value at all, or values out of range."""
    grid = np.arange(start, end + 1, step, dtype=np.int64)
    k = (found.ds - start) // step
    keep = np.isfinite(found.y) & (k >= 0) & (k < len(grid)) & ((found.ds - start) % step == 0)
    total = np.zeros(len(grid))
    count = np.zeros(len(grid))
    np.add.at(total, k[keep], found.y[keep])
    np.add.at(count, k[keep], 1.0)
    if not count.any():
        raise NoSeriesError(f"the demand of {service} has no finite value in its history")
    y = np.where(count > 0, total, np.nan)
    if np.nanmax(np.abs(y)) > MAX_DEMAND:
        raise ValidationError(
            f"expected a demand of magnitude at most {MAX_DEMAND:g}, got {np.nanmax(y):g}",
            hint="check the demand query's units",
        )
    return Panel.from_series([(service, grid, y)], step=step)


def recommend(
    spec: CapacityPlanSpec, forecaster: TrainedForecaster, history: Panel, now: int, version: int
) -> Recommendation:
    """Plan ``spec`` from the ``forecaster`` refitted on its demand ``history`` (one
    series, ending at or before ``now``, ns) and recommend the replicas to ask for now."""
    step = forecaster.step
    fc = forecast_demand(history, None, spec.risk, forecaster=forecaster)
    plan = plan_capacity(
        fc, capacity=spec.capacity, risk=spec.risk, step=step, startup=spec.startup,
        stabilise=spec.stabilise, max_replicas=spec.max_replicas,
        min_replicas=spec.min_replicas,
    )  # fmt: skip
    ds = plan.table["ds"].to_numpy(dtype="datetime64[ns]").view(np.int64)
    later = np.flatnonzero(ds >= now + spec.startup)
    if not later.size:
        raise ValidationError(
            f"expected a forecast past the start-up delay ({format_duration(spec.startup)}), "
            f"got {len(ds)} steps ending {format_time(int(ds[-1]))}",
            hint="use a forecaster with a longer horizon",
        )
    at = int(ds[later[0]])
    times, y = history.series(spec.service)
    seen = np.isfinite(y)
    last = max(0.0, float(y[seen][-1]))
    reactive = peak_replicas(last, spec.capacity)
    peak = None
    if spec.clamp is not None:
        recent = y[seen & (times > times[-1] - PEAK_WINDOW)]
        peak = peak_replicas(max(0.0, float(recent.max())) if recent.size else last, spec.capacity)
    planned = int(plan.table["replicas"].iloc[int(later[0])])
    held = clamp(planned, reactive=reactive, peak=peak, settings=spec.bounds)
    row = fc[pd.to_datetime(fc["ds"], utc=True) == pd.Timestamp(at, tz="UTC")].iloc[0]
    quantiles = {f"{round(q, 6):g}": round(float(row[c]), 6) for q, c in _quantile_columns(fc)}
    return Recommendation(
        spec, version, now, plan, at, at - spec.startup, planned, held, last, reactive, peak,
        quantiles,
    )  # fmt: skip


# --------------------------------------------------------------- a posted plan


def _inline(schema: Any, defs: Mapping[str, Any] | None = None) -> Any:
    """A JSON schema with its ``$defs`` written in where they are referred to (the
    OpenAPI document has no place for a route's own definitions)."""
    if defs is None and isinstance(schema, dict):
        defs = schema.get("$defs", {})
        schema = {k: v for k, v in schema.items() if k != "$defs"}
    assert defs is not None
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str):
            return _inline(defs[ref.rsplit("/", 1)[-1]], defs)
        return {k: _inline(v, defs) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_inline(v, defs) for v in schema]
    return schema


#: the body of POST /v1/capacity/plan in the OpenAPI document (the handler reads it)
_PLAN_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": _inline(PlanRequest.model_json_schema())}},
    }
}


# ----------------------------------------------------------------------- the service


class CapacityService:
    """What the capacity endpoints share: the config, the server's auth, admission and
    model registry, the plans cached and in flight, and the slots they take."""

    def __init__(
        self,
        config: CapacityConfig,
        authorize: Authorize,
        admission: Admission,
        registry: CollectorRegistry,
        models: ModelRegistry,
    ) -> None:
        self.config = config
        self.authorize = authorize
        self.admission = admission
        self.models = models
        self.slots = _Slots(config.concurrency)
        self._loaded: dict[tuple[str, int], TrainedForecaster] = {}
        self._lock = threading.Lock()
        self.computed = PromCounter(
            "modelphase_capacity_plan_computations",
            "Capacity plans computed (not served from the cache), by service and outcome",
            ["service", "outcome"],
            registry=registry,
        )
        self.plans: _Flights[str, Recommendation] = _Flights(
            self.slots, config.ttl, config.clock, self.computed, str, self._busy
        )

    @property
    def cache(self) -> OrderedDict[str, tuple[float, Recommendation]]:
        """The recommendations computed, by service, with when."""
        return self.plans.cache

    def _busy(self) -> OverloadedError:
        return OverloadedError(
            f"expected at most {self.config.concurrency} capacity plans computed at once, "
            "got another. Fix: retry after a few seconds",
            pool="capacity",
            reason="full",
            retry_after=5,
        )

    def spec(self, service: str) -> CapacityPlanSpec:
        found = self.config.plans.get(service)
        if found is None:
            known = ", ".join(sorted(self.config.plans)) or "none"
            raise HTTPException(
                404,
                f"expected one of this server's capacity plans ({known}), got "
                f"{service[:127]!r}. Fix: name one of them (GET /v1/capacity lists them), or "
                "start the server with --capacity-plans FILE",
            )
        return found

    def run(self, work: Callable[[], Any], *, wait: bool) -> asyncio.Task[Any]:
        """``work`` on a thread, in a task that holds one of the slots until the thread
        is done (a caller that goes away leaves it running); without ``wait``, 503 when
        no slot is free."""
        return self.plans.run(work, wait=wait)

    async def recommendation(
        self, spec: CapacityPlanSpec, *, wait: bool
    ) -> tuple[Recommendation, float]:
        """The plan's recommendation and its age in seconds: from the cache, from the
        computation in flight, or computed now."""
        deadline = self.config.clock() + self.config.timeout
        work = lambda: self._compute(spec, deadline)  # noqa: E731
        return await self.plans.get(spec.service, work, wait=wait)

    def forecaster(
        self, name: str, version: int | None, alias: str | None
    ) -> tuple[int, TrainedForecaster]:
        """The registered forecaster (the alias resolved now), loaded once per version
        (blocking: a thread)."""
        found = self.models.get(name, version, alias=alias)
        if found.flavor != FORECAST_FLAVOR:
            raise ValidationError(
                f"{name} version {found.version} is a {found.flavor!r} model, not a forecaster",
                hint="name a model registered by `modelphase train`",
            )
        key = (name, found.version)
        with self._lock:
            hit = self._loaded.get(key)
        if hit is None:
            hit = TrainedForecaster.from_bytes(self.models.load_artifact(name, found.version))
            with self._lock:
                while len(self._loaded) >= KEPT_FORECASTERS:
                    self._loaded.pop(next(iter(self._loaded)))
                self._loaded[key] = hit
        return found.version, hit

    def _compute(self, spec: CapacityPlanSpec, deadline: float) -> Recommendation:
        """Read the demand over the history ending now and plan (blocking: a thread)."""
        assert self.config.prometheus is not None, "a config with plans has a Prometheus"
        started = time.monotonic()
        try:
            version, forecaster = self.forecaster(spec.name, spec.version, spec.alias)
            step = forecaster.step
            n = spec.history // step
            check_at_most(
                f"the history of {spec.service} at its model's step ({format_duration(step)})",
                n, MAX_DEMAND_POINTS, "shorten its history in the capacity plans file",
                " points",
            )  # fmt: skip
            now = self.config.now()
            end = now - now % step
            if self.config.clock() > deadline:
                raise PrometheusTimeoutError(
                    f"the capacity plan of {spec.service} ran out of time before its query",
                    hint=f"retry; at most {self.config.concurrency} plans are computed at once",
                )
            start = end - (max(n, 1) - 1) * step
            found = self.config.prometheus.query_range(spec.demand, start, end, step).panel
            history = demand_panel(found, spec.service, start, end, step)
            out = recommend(spec, forecaster, history, now, version)
        except (ValidationError, LimitExceededError, ModelNotFoundError) as exc:
            raise PlanUnavailableError(f"the capacity plan of {spec.service}: {exc}") from None
        log.info(
            "capacity %s: %d replicas (plan %d, %s) from %s v%d, in %.1f s",
            spec.service, out.clamped.replicas, out.planned, out.clamped.bound, spec.name,
            version, time.monotonic() - started,
        )  # fmt: skip
        return out

    def posted(self, raw: bytes) -> dict[str, Any]:
        """A plan of a posted body (blocking: a thread)."""
        body = parse_plan_request(raw)
        forecaster = None
        if body.model is not None:
            _, forecaster = self.forecaster(*parse_model_ref(body.model))
            if forecaster.step != body.step:
                raise ValidationError(
                    f"freq: expected the model's step {format_duration(forecaster.step)}, got "
                    f"{body.freq!r}",
                    hint="send the demand on the model's step",
                )
        h = body.h if body.h is not None else (None if forecaster is None else forecaster.horizon)
        if h is None:
            raise ValidationError("h: expected the steps to plan (1 to 10,080) without a model")
        panel = body.panel()
        check_at_most("series x h", panel.n_series * h, MAX_PLAN_ROWS, "plan fewer series or steps")
        fc = forecast_demand(panel, h, body.risk, forecaster=forecaster)
        return plan_capacity(fc, step=body.step, **body.options()).to_dict()


# ----------------------------------------------------------------------- endpoints

router = APIRouter(prefix=PREFIX, tags=["capacity"])

_FAILED = {
    502: "Prometheus failed, the demand query matched nothing, or the server's plan cannot "
    "be computed from its model (the detail says which)",
    504: "The demand query could not start in time",
}


def service_of(request: Request) -> CapacityService:
    service: CapacityService = request.app.state.capacity
    return service


async def viewer(request: Request) -> Principal:
    return await service_of(request).authorize(request)


@router.get(
    "",
    summary="The server's capacity plans: service, model, demand query, capacity, risk",
    responses=documented(*GUARDED),
)
async def plans(request: Request, who: Annotated[Principal, Depends(viewer)]) -> Response:
    specs = service_of(request).config.plans.values()
    return json_response({"plans": [s.to_dict() for s in specs]})


@router.get(
    "/metrics",
    summary="Every capacity plan's recommendation as Prometheus metrics (with a bearer token)",
    response_class=PlainTextResponse,
    responses=documented(*GUARDED),
)
async def metrics(request: Request, who: Annotated[Principal, Depends(viewer)]) -> Response:
    """The recommended replicas, the demand forecast's quantiles at the step they serve
    and the capacity per replica of each plan, with ``modelphase_capacity_plan_up`` (0
    for a plan that failed: the reason is in the server's log) and its age."""
    service = service_of(request)
    with service.admission.slot(who):
        specs = list(service.config.plans.values())
        found = await asyncio.gather(
            *(service.recommendation(s, wait=True) for s in specs), return_exceptions=True
        )
    rows: list[tuple[CapacityPlanSpec, Recommendation | None, float]] = []
    for spec, got in zip(specs, found, strict=True):
        if isinstance(got, BaseException):
            if not isinstance(got, ModelphaseError):
                raise got
            log.warning("capacity %s: no plan for the metrics: %s", spec.service, got)
            rows.append((spec, None, 0.0))
        else:
            rows.append((spec, *got))
    exported = CollectorRegistry(auto_describe=False)
    exported.register(_Families(rows))
    return Response(generate_latest(exported), media_type=CONTENT_TYPE)


@router.get("/{service}/plan", summary="One capacity plan and the replicas to ask for now",
            responses=documented(*GUARDED, 404, 502, 504, notes={
                404: "No capacity plan for that service on this server", **_FAILED}))  # fmt: skip
async def plan(
    service: str, request: Request, who: Annotated[Principal, Depends(viewer)]
) -> Response:
    """The JSON of ``modelphase capacity plan --json`` for the plan's demand now, with
    ``recommended_replicas`` and ``recommended`` (the step they serve, the plan's count
    there, the clamp's bound) and ``demand_forecast`` (the quantiles at that step).
    ``Age`` says how many seconds ago it was computed."""
    capacity = service_of(request)
    with capacity.admission.slot(who):
        found, age = await capacity.recommendation(capacity.spec(service), wait=False)
    return json_response(found.to_dict(), headers={"Age": str(int(age))})


@router.post("/plan", summary="A capacity plan of the demand in the body (stateless)",
             responses=documented(*GUARDED), openapi_extra=_PLAN_BODY)  # fmt: skip
async def post_plan(request: Request, who: Annotated[Principal, Depends(viewer)]) -> Response:
    """The body is a :class:`PlanRequest` (at most 4 MB, 50,000 demand points, ``h`` at
    most 10,080); the answer the JSON of ``modelphase capacity plan --json``. Bad input
    is a 422 of one line."""
    service = service_of(request)
    with service.admission.slot(who):
        raw = await read_body(request)
        task = service.run(lambda: service.posted(raw), wait=False)
        task.add_done_callback(lambda t: t.cancelled() or t.exception())  # never "lost"
        out = await asyncio.shield(task)
    return json_response(out)


async def read_body(request: Request) -> bytes:
    """The request's body, refused (413) past :data:`MAX_PLAN_BODY_BYTES` without
    reading more than that."""
    length = request.headers.get("content-length", "")
    size = int(length) if length.isdigit() else 0
    raw = b"" if size > MAX_PLAN_BODY_BYTES else await request.body()
    size = max(size, len(raw))
    if size > MAX_PLAN_BODY_BYTES:
        raise PayloadTooLargeError(
            f"expected a request of at most {MAX_PLAN_BODY_BYTES:,} bytes, got {size:,}. "
            "Fix: send less history",
            limit=MAX_PLAN_BODY_BYTES,
            size=size,
        )
    return raw


def mount_capacity(
    app: FastAPI,
    config: CapacityConfig,
    *,
    authorize: Authorize,
    admission: Admission,
    registry: CollectorRegistry,
    rejected: PromCounter,
    models: ModelRegistry,
) -> None:
    """Serve the capacity endpoints on ``app`` (as :func:`~modelphase.serve.slo_api.
    mount_slo` serves the SLOs'), the forecasters read from ``models``."""
    from modelphase.serve.capacity_warm_api import mount_warm  # it imports this module

    app.state.capacity = CapacityService(config, authorize, admission, registry, models)
    app.include_router(router)
    mount_warm(app)
    install_statuses(app, STATUSES, rejected)


# ----------------------------------------------------------------------- helpers


class _Families:
    """The metric families of ``/v1/capacity/metrics`` (label values escaped by
    prometheus_client's exposition)."""

    def __init__(self, rows: Sequence[tuple[CapacityPlanSpec, Recommendation | None, float]]):
        self.rows = rows

    def collect(self) -> Iterator[GaugeMetricFamily]:
        def family(name: str, text: str, *labels: str) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, text, labels=["service", *labels])

        replicas = family(
            RECOMMENDED_METRIC, "Replicas to ask for now: the plan's at now + start-up, clamped"
        )
        forecast = family(
            FORECAST_METRIC, "The demand forecast's quantiles at the step those serve", "quantile"
        )
        capacity = family(CAPACITY_METRIC, "The demand one replica holds (declared)")
        up = family("modelphase_capacity_plan_up", "1 when the plan was computed, 0 when it failed")
        age = family("modelphase_capacity_plan_age_seconds", "Seconds since the plan was computed")
        for spec, found, seconds in self.rows:
            capacity.add_metric([spec.service], spec.capacity)
            up.add_metric([spec.service], 0.0 if found is None else 1.0)
            if found is None:
                continue
            replicas.add_metric([spec.service], found.clamped.replicas)
            for q, value in found.quantiles.items():
                forecast.add_metric([spec.service, q], value)
            age.add_metric([spec.service], round(seconds, 3))
        yield from (replicas, forecast, capacity, up, age)
