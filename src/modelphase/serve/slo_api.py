"""``modelphase slo status`` over HTTP: each of the server's SLOs (``modelphase serve
--slo FILE``) with its error budget, burn over every alert window and the forecast of
when the budget runs out (:func:`modelphase.decide.slo.slo_status`), read from the
server's Prometheus (``--prometheus``).

- ``GET /v1/slo``: the SLOs (id, service, name, objective, period);
- ``GET /v1/slo/{slo_id}/status?forecast=true&horizon=7d&level=80``: one SLO's status,
  the JSON of ``modelphase slo status --json``;
- ``POST /v1/slo/rules?windows=workbook&period=30d``: the Prometheus rules of the SLO
  file in the body, as ``modelphase slo rules`` writes them;
- ``GET /v1/slo/metrics``: every SLO's status (the defaults: a forecast over the
  period at 80%) in Prometheus' text format, for Prometheus to scrape, plus
  ``modelphase_slo_status_up`` (0 for an SLO whose status could not be computed: the
  scrape still succeeds, as an exporter's does when its target is down).

All need a token of at least the viewer role, checked before any work. A status is
computed on a thread (the forecast takes seconds of CPU), cached for ``ttl`` seconds
per SLO and query, and shared by the requests that ask for it meanwhile; at most
``concurrency`` are computed at once: a status request past that is refused with 503,
while a scrape waits for its turn (it asks for at most one status an SLO). No query
starts past ``timeout`` seconds (504). Prometheus failing is 502; a query of an SLO
that matches no series is 502 too, naming the query (the server's SLO file or its
Prometheus is at fault, not the request).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, TypeVar

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CollectorRegistry
from prometheus_client import Counter as PromCounter

from modelphase import __version__
from modelphase.decide import RangeQuerier
from modelphase.decide.slo import (
    BUILTIN_WINDOWS,
    SloPlan,
    SloStatus,
    dump_yaml,
    exposition,
    parse_slos,
    plan_rules,
    prom_duration,
    rule_groups,
    slo_status,
)
from modelphase.decide.slo.fetch import events_from_prometheus
from modelphase.exceptions import (
    ConfigError,
    ModelphaseError,
    NoSeriesError,
    OverloadedError,
    PayloadTooLargeError,
    PrometheusTimeoutError,
    ValidationError,
)
from modelphase.frame import NS_PER_SECOND, parse_duration
from modelphase.limits import MAX_SPEC_BYTES
from modelphase.registry import Principal
from modelphase.serve.admission import Admission
from modelphase.serve.http import GUARDED, documented, install_statuses, json_response

__all__ = ["PREFIX", "STATUSES", "SloConfig", "mount_slo", "router"]

log = logging.getLogger("modelphase.serve.slo")

PREFIX = "/v1/slo"
#: Prometheus' text format, as its scrapers ask for it
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: the refusals of this module's errors; Prometheus' own (502, 504) are the canary
#: module's (:data:`modelphase.serve.decide_api.STATUSES`), which the server installs
STATUSES: dict[type[ModelphaseError], tuple[int, str]] = {
    NoSeriesError: (502, "prometheus_no_series"),
}
#: the step of the queries: whole seconds from 10 s to 1 d, at most MAX_STEPS a period
#: (as ``modelphase slo status --step``)
MIN_STEP, MAX_STEP, MAX_STEPS = 10, 86_400, 400_000
MIN_HORIZON, MAX_HORIZON = 3_600, 366 * 86_400
#: statuses kept (per SLO and query), the least recently used dropped first
CACHE_SIZE = 256
_QUERY = frozenset({"forecast", "horizon", "level"})
_BOOLS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}

Authorize = Callable[[Request], Awaitable[Principal]]
#: a status's query: forecast, horizon (seconds), level (percent)
_Query = tuple[bool, int, float]
K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True)
class SloConfig:
    """The server's SLOs (by id, each with the windows of its period) and the
    Prometheus their SLIs are read from; ``step``: seconds of the queries' resolution;
    ``timeout``: seconds within which a status's queries must start; ``concurrency``:
    statuses computed at once; ``ttl``: seconds a status is served from the cache;
    ``now`` (ns since the epoch) is when a status is of, ``clock`` (monotonic s) times
    the cache and the queries."""

    plans: Mapping[str, SloPlan] = field(default_factory=dict)
    prometheus: RangeQuerier | None = None
    step: int = 300
    timeout: float = 20.0
    concurrency: int = 2
    ttl: float = 60.0
    now: Callable[[], int] = time.time_ns
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        if self.plans and self.prometheus is None:
            raise ConfigError(
                "expected a Prometheus for the SLOs, got none. Fix: pass --prometheus URL "
                "(or set MODELPHASE_PROMETHEUS_URL)"
            )
        if not MIN_STEP <= self.step <= MAX_STEP:
            raise ConfigError(
                f"--slo-step: expected whole seconds from 10s to 1d, got {self.step} s. "
                "Fix: e.g. 5m"
            )
        for plan in self.plans.values():
            if plan.period // self.step > MAX_STEPS:
                raise ConfigError(
                    f"--slo-step: expected at most {MAX_STEPS:,} steps per period, got "
                    f"{plan.period // self.step:,} for SLO {plan.slo.id} "
                    f"({prom_duration(plan.period)} at {prom_duration(self.step)}). Fix: "
                    "pass a longer --slo-step"
                )
        if self.concurrency < 1 or not self.ttl >= 0:
            raise ConfigError(
                f"expected a concurrency of at least 1 and a ttl of 0 s or more, got "
                f"{self.concurrency} and {self.ttl:g} s. Fix: pass values in range"
            )

    @classmethod
    def of(cls, files: Mapping[str, Sequence[SloPlan]], **options: Any) -> SloConfig:
        """A config of the plans of each file (by its name), refusing an SLO id twice."""
        by_id: dict[str, SloPlan] = {}
        where: dict[str, str] = {}
        for source, plans in files.items():
            for plan in plans:
                if plan.slo.id in by_id:
                    raise ConfigError(
                        f"expected each SLO id once, got {plan.slo.id!r} in {where[plan.slo.id]} "
                        f"and {source}. Fix: rename one (the id is <service>-<name>)"
                    )
                by_id[plan.slo.id] = plan
                where[plan.slo.id] = source
        return cls(plans=by_id, **options)


class _Slots:
    """``n`` computations at once, on the event loop: :meth:`take` now or never,
    :meth:`wait` for a turn."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.busy = 0
        self._waiting: deque[asyncio.Future[None]] = deque()

    def take(self) -> bool:
        if self.busy >= self.n or self._waiting:
            return False
        self.busy += 1
        return True

    async def wait(self) -> None:
        if self.take():
            return
        turn = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        try:
            await turn  # give() handed its slot over
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.give()  # handed over just as the waiter went away
            else:
                self._waiting.remove(turn)
            raise

    def give(self) -> None:
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self.busy -= 1


class _Flights(Generic[K, V]):
    """Results by key, each computed on a thread behind ``slots``: served from the
    cache for ``ttl`` seconds (the :data:`CACHE_SIZE` most recent kept), a computation
    in flight shared by every caller that asks meanwhile (a caller that goes away leaves
    it running), each outcome counted in ``computed`` by ``label(key)``. Without
    ``wait``, ``busy()`` (an :class:`OverloadedError`) is raised when no slot is free;
    with it, the computation waits for one. Changed on the event loop only."""

    def __init__(
        self,
        slots: _Slots,
        ttl: float,
        clock: Callable[[], float],
        computed: PromCounter,
        label: Callable[[K], str],
        busy: Callable[[], OverloadedError],
    ) -> None:
        self.slots, self.ttl, self.clock = slots, ttl, clock
        self.computed, self.label, self.busy = computed, label, busy
        self.cache: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self.flights: dict[K, asyncio.Task[V]] = {}

    async def get(self, key: K, work: Callable[[], V], *, wait: bool) -> tuple[V, float]:
        """The result for ``key`` and its age in seconds: from the cache, from the
        computation in flight, or ``work()`` run now on a thread."""
        now = self.clock()
        hit = self.cache.get(key)
        if hit is not None and now - hit[0] < self.ttl:
            self.cache.move_to_end(key)
            return hit[1], now - hit[0]
        task = self.flights.get(key)
        if task is None:
            task = self.run(work, wait=wait)
            self.flights[key] = task
            task.add_done_callback(lambda t: self._landed(key, t))
        found: V = await asyncio.shield(task)
        return found, max(0.0, self.clock() - self.cache.get(key, (now, found))[0])

    def run(self, work: Callable[[], V], *, wait: bool) -> asyncio.Task[V]:
        """``work`` on a thread, in a task that holds one of the slots until the thread
        is done; without ``wait``, ``busy()`` when no slot is free."""
        if not wait and not self.slots.take():
            raise self.busy()

        async def slotted() -> V:
            if wait:
                await self.slots.wait()
            try:
                return await asyncio.to_thread(work)
            finally:
                self.slots.give()

        return asyncio.create_task(slotted())

    def _landed(self, key: K, task: asyncio.Task[V]) -> None:
        del self.flights[key]
        if task.cancelled():
            return
        error = task.exception()  # retrieved here, so an unawaited one is never "lost"
        self.computed.labels(self.label(key), "ok" if error is None else type(error).__name__).inc()
        if error is None:
            self.cache[key] = (self.clock(), task.result())
            self.cache.move_to_end(key)
            while len(self.cache) > CACHE_SIZE:
                self.cache.popitem(last=False)


class _Deadline:
    """The server's Prometheus, refusing to start a query past ``deadline``."""

    def __init__(
        self, client: RangeQuerier, slo: str, deadline: float, clock: Callable[[], float]
    ) -> None:
        self.client, self.slo, self.deadline, self.clock = client, slo, deadline, clock
        self.done = 0

    def query_range(self, query: str, start: int, end: int, step: int) -> Any:
        if self.clock() > self.deadline:
            raise PrometheusTimeoutError(
                f"the status of SLO {self.slo} ran out of time after {self.done} queries",
                hint="retry; or start the server with a longer --slo-step",
            )
        found = self.client.query_range(query, start, end, step)
        self.done += 1
        return found


class SloService:
    """What the SLO endpoints share: the config, the server's auth and admission, the
    cache, the computations in flight and the slots they take."""

    def __init__(
        self,
        config: SloConfig,
        authorize: Authorize,
        admission: Admission,
        registry: CollectorRegistry,
    ) -> None:
        self.config = config
        self.authorize = authorize
        self.admission = admission
        self.slots = _Slots(config.concurrency)
        self.computed = PromCounter(
            "modelphase_slo_status_computations",
            "SLO statuses computed (not served from the cache), by SLO and outcome",
            ["slo", "outcome"],
            registry=registry,
        )
        self.statuses: _Flights[tuple[str, _Query], SloStatus] = _Flights(
            self.slots, config.ttl, config.clock, self.computed, lambda key: key[0], self._busy
        )

    @property
    def cache(self) -> OrderedDict[tuple[str, _Query], tuple[float, SloStatus]]:
        """The statuses computed, by SLO and query, with when."""
        return self.statuses.cache

    def _busy(self) -> OverloadedError:
        return OverloadedError(
            f"expected at most {self.config.concurrency} SLO statuses computed at once, got "
            "another. Fix: retry after a few seconds",
            pool="slo",
            reason="full",
            retry_after=5,
        )

    def plan(self, slo_id: str) -> SloPlan:
        found = self.config.plans.get(slo_id)
        if found is None:
            known = ", ".join(sorted(self.config.plans)) or "none"
            raise HTTPException(
                404,
                f"expected one of this server's SLOs ({known}), got {slo_id[:127]!r}. Fix: "
                "name one of them (GET /v1/slo lists them), or start the server with --slo FILE",
            )
        return found

    async def status(self, plan: SloPlan, query: _Query, *, wait: bool) -> tuple[SloStatus, float]:
        """The status and its age in seconds: from the cache, from the computation in
        flight, or computed now (503 when no slot is free, unless ``wait``)."""
        work = lambda: self._status(plan, query)  # noqa: E731
        return await self.statuses.get((plan.slo.id, query), work, wait=wait)

    def _status(self, plan: SloPlan, query: _Query) -> SloStatus:
        """Read the SLI over the period ending now and compute (blocking: a thread)."""
        assert self.config.prometheus is not None, "a config with SLOs has a Prometheus"
        forecast, horizon, level = query
        step = self.config.step * NS_PER_SECOND
        now = self.config.now()
        end = now - now % step
        client = _Deadline(
            self.config.prometheus,
            plan.slo.id,
            self.config.clock() + self.config.timeout,
            self.config.clock,
        )
        started = time.monotonic()
        events = events_from_prometheus(
            client,
            plan.slo,
            start=end - plan.period * NS_PER_SECOND + step,
            end=end,
            step=step,
        )
        status = slo_status(
            plan.slo, events, plan.windows, forecast=forecast, horizon=horizon, level=level
        )
        log.info(
            "slo %s: budget left %s, computed in %.1f s",
            plan.slo.id,
            "-" if status.budget_remaining is None else f"{status.budget_remaining:.4g}",
            time.monotonic() - started,
        )
        return status


# ----------------------------------------------------------------------- endpoints

router = APIRouter(prefix=PREFIX, tags=["slo"])

_REFUSED = documented(
    *GUARDED,
    404,
    502,
    504,
    notes={
        404: "No SLO by that id on this server",
        502: "Prometheus failed to answer one of the SLO's queries, or a query matched no "
        "series (the detail names it)",
        504: "Prometheus did not answer the SLO's queries in time",
    },
)


def _service(request: Request) -> SloService:
    service: SloService = request.app.state.slo
    return service


async def _viewer(request: Request) -> Principal:
    return await _service(request).authorize(request)


@router.get(
    "",
    summary="The server's SLOs: id, service, name, objective and period",
    responses=documented(*GUARDED),
)
async def slos(request: Request, who: Annotated[Principal, Depends(_viewer)]) -> Response:
    plans = _service(request).config.plans.values()
    return json_response(
        {
            "slos": [
                {
                    "slo": p.slo.id,
                    "service": p.slo.service,
                    "name": p.slo.name,
                    "objective": p.slo.objective,
                    "period": p.period,
                }
                for p in plans
            ]
        }
    )


@router.get(
    "/metrics",
    summary="Every SLO's status as Prometheus metrics (scrape it with a bearer token)",
    response_class=PlainTextResponse,
    responses=documented(*GUARDED),
)
async def metrics(request: Request, who: Annotated[Principal, Depends(_viewer)]) -> Response:
    """Each SLO's budget, burn rates, alert conditions and exhaustion forecast (the
    defaults: over the period, at 80%), and ``modelphase_slo_status_up``: 0 for an SLO
    whose status failed (the reason is in the server's log)."""
    service = _service(request)
    if not _QUERY.isdisjoint(request.query_params):
        raise ValidationError(
            "expected no forecast, horizon or level on /v1/slo/metrics (its statuses are "
            "the defaults: a forecast over the period at 80%), got some. Fix: drop them, "
            "or GET /v1/slo/ID/status"
        )
    with service.admission.slot(who):
        plans = list(service.config.plans.values())
        found = await asyncio.gather(
            *(service.status(p, (True, p.period, 80.0), wait=True) for p in plans),
            return_exceptions=True,
        )
    ok: list[SloStatus] = []
    up = []
    for plan, got in zip(plans, found, strict=True):
        if isinstance(got, BaseException):
            if not isinstance(got, ModelphaseError):
                raise got
            log.warning("slo %s: no status for the metrics: %s", plan.slo.id, got)
        else:
            ok.append(got[0])
        up.append((plan, not isinstance(got, BaseException)))
    text = (exposition(ok) if ok else "") + _up_family(up)
    return Response(text, media_type=CONTENT_TYPE)


@router.get(
    "/{slo_id}/status",
    summary="One SLO's error budget, burn per window and exhaustion forecast",
    responses=_REFUSED,
)
async def status(
    slo_id: str, request: Request, who: Annotated[Principal, Depends(_viewer)]
) -> Response:
    """``forecast`` (true), ``horizon`` (1h to 366d, default the period) and ``level``
    (percent, 80) as for ``modelphase slo status``; the answer is its ``--json`` of one
    SLO. ``Age`` says how many seconds ago it was computed."""
    service = _service(request)
    with service.admission.slot(who):
        plan = service.plan(slo_id)
        query = _query(request.query_params, plan.period)
        found, age = await service.status(plan, query, wait=False)
    return json_response(found.to_dict(), headers={"Age": str(int(age))})


@router.post(
    "/rules",
    summary="Prometheus rules from an SLO file in the body, as `modelphase slo rules` writes them",
    response_class=PlainTextResponse,
    responses=documented(*GUARDED),
)
async def rules(
    request: Request,
    who: Annotated[Principal, Depends(_viewer)],
    windows: str = "workbook",
    period: str = "30d",
    min_events: float = 0.0,
) -> Response:
    """The body is a Sloth ``prometheus/v1`` or OpenSLO file (YAML, at most
    ``MAX_SPEC_BYTES``); ``windows`` is ``workbook`` or ``sloth`` (a windows file is the
    CLI's: the server reads no path a caller names), ``period`` the period of SLOs whose
    file gives none, ``min_events`` the low-traffic guard. The answer is the rule file
    (``application/yaml``), with the notes as comments at its top."""
    service = _service(request)
    with service.admission.slot(who):
        body = await request.body()
    return await asyncio.to_thread(_rules, body, windows, period, min_events)


def _rules(body: bytes, windows: str, period: str, min_events: float) -> Response:
    if len(body) > MAX_SPEC_BYTES:
        raise PayloadTooLargeError(
            f"expected an SLO file of at most {MAX_SPEC_BYTES:,} bytes, got {len(body):,}. "
            "Fix: send fewer SLOs at once",
            limit=MAX_SPEC_BYTES,
            size=len(body),
        )
    if windows not in BUILTIN_WINDOWS:
        raise ValidationError(
            f"windows: expected one of {', '.join(BUILTIN_WINDOWS)}, got {windows[:40]!r}. "
            "Fix: pass windows=workbook or windows=sloth (custom windows: the CLI's --windows)"
        )
    if not (math.isfinite(min_events) and 0 <= min_events <= 1e12):
        raise ValidationError(
            f"min_events: expected a number of events from 0 to 1e12, got {min_events:g}. "
            "Fix: e.g. 100, or 0 to turn the guard off"
        )
    try:
        text = body.decode("utf-8")
        seconds = parse_duration(period) // NS_PER_SECOND
    except UnicodeDecodeError:
        raise ValidationError(
            "expected the SLO file as UTF-8 text, got bytes that are not. Fix: send the "
            "YAML file as it is, with Content-Type: application/yaml"
        ) from None
    found = parse_slos(text, "the request body")
    plans, notes = plan_rules(
        found.slos, BUILTIN_WINDOWS[windows], period=seconds, min_events=min_events
    )
    header = [
        f"Code generated by modelphase {__version__} (POST /v1/slo/rules). DO NOT EDIT.",
        f"Windows: {windows}.",
        *(f"note: {n}" for n in (*found.notes, *notes)),
    ]
    out = dump_yaml(rule_groups(plans, generator=f"modelphase/{__version__}"), header)
    return Response(out, media_type="application/yaml")


def mount_slo(
    app: FastAPI,
    config: SloConfig,
    *,
    authorize: Authorize,
    admission: Admission,
    registry: CollectorRegistry,
    rejected: PromCounter,
) -> None:
    """Serve the SLO endpoints on ``app`` (as :func:`~modelphase.serve.decide_api.
    mount_canary` serves the canary's)."""
    app.state.slo = SloService(config, authorize, admission, registry)
    app.include_router(router)

    install_statuses(app, STATUSES, rejected)


# ----------------------------------------------------------------------- helpers


def _query(params: Mapping[str, str], period: int) -> _Query:
    """``forecast``, ``horizon`` and ``level``, checked (a 422 of one line each)."""
    unknown = sorted(set(params) - _QUERY)
    if unknown:
        raise ValidationError(
            f"expected the query parameters forecast, horizon and level, got "
            f"{unknown[0][:40]!r}. Fix: check its spelling"
        )
    text = params.get("forecast", "true").strip().lower()
    if text not in _BOOLS:
        raise ValidationError(
            f"forecast: expected true or false, got {text[:20]!r}. Fix: forecast=false skips "
            "the exhaustion forecast"
        )
    horizon = period
    if "horizon" in params:
        raw = params["horizon"]
        try:
            ns = parse_duration(raw)
        except ValidationError:
            ns = 0
        if not MIN_HORIZON * NS_PER_SECOND <= ns <= MAX_HORIZON * NS_PER_SECOND:
            raise ValidationError(
                f"horizon: expected a duration from 1h to 366d, got {raw[:20]!r}. Fix: e.g. 7d"
            )
        horizon = ns // NS_PER_SECOND
    raw_level = params.get("level", "80")
    try:
        level = float(raw_level)
    except ValueError:
        level = math.nan
    if not (math.isfinite(level) and 0 < level < 100):
        raise ValidationError(
            f"level: expected a percentage between 0 and 100, got {raw_level[:20]!r}. Fix: e.g. 80"
        )
    return _BOOLS[text], horizon, level


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _up_family(up: Sequence[tuple[SloPlan, bool]]) -> str:
    name = "modelphase_slo_status_up"
    lines = [
        f"# HELP {name} 1 when the SLO's status was computed, 0 when it failed (see the log).",
        f"# TYPE {name} gauge",
    ]
    for plan, fine in up:
        labels = ",".join(f'{k}="{_label(v)}"' for k, v in plan.slo.id_labels.items())
        lines.append(f"{name}{{{labels}}} {1 if fine else 0}")
    return "\n".join(lines) + "\n"
