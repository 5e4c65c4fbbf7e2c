"""The prediction server: FastAPI over the registry's production, canary and shadow
aliases, with a latency budget and a fallback per request, a decision log, and the
models' SLIs on ``/metrics``.

A request goes to the model's ``production`` version, or to its ``canary`` for the share
of keys the canary plan gives it (sticky: the same key, the same version). The model is
called within its latency budget; if it raises, overruns the budget, or its circuit
breaker is open, the fallback answers instead (a seasonal naive forecast of the
request's values, the last good forecast of a series, or a z-score of the points) and
the answer says so. A ``shadow`` version gets the same request after the answer is
sent, off the request path, and is only compared and logged. Every sampled request is
written to the decision log by a background writer that never blocks a request.

The event loop only routes: model calls, fallbacks and the parsing of large bodies run
on bounded pools (:mod:`modelphase.serve.pools`); long histories ("heavy" requests) in
worker processes of their own at a lower priority (:mod:`modelphase.serve.processes`),
behind a breaker of their own, so that light requests and ``/healthz`` stay fast, and
answered by their model, whatever the heavy ones do. Each token is held to a request
rate and to a number of requests (and of heavy ones) in flight
(:mod:`modelphase.serve.admission`), checked on the request's headers before its body
is read; a request over its token's limits is refused with 429, one whose work finds no
room in its pool with 503, both with Retry-After and neither counted against a model.
Request ids are the server's own; the HTTP server under the app closes connections
that do not send their request in time (:mod:`modelphase.serve.server`).
"""

import asyncio
import contextlib
import hashlib
import itertools
import logging
import random
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from starlette.routing import Route as PlainRoute

from modelphase import __version__
from modelphase.decisions.sink import DecisionLog
from modelphase.exceptions import (
    AccessError,
    ValidationError,
)
from modelphase.registry import ModelRegistry, Principal, Role
from modelphase.serve.admission import Admission, Limits, Ticket
from modelphase.serve.calls import MAX_SHADOWS, Answer, Caller, Pools, decision_record
from modelphase.serve.capacity_api import CapacityConfig, mount_capacity  # capacity plans
from modelphase.serve.decide_api import CanaryConfig, mount_canary
from modelphase.serve.http import (
    GUARDED,
    body_doc,
    documented,
    install_errors,
    json_response,
    openapi_with_bodies,
    parse_body,
)
from modelphase.serve.limits import BodyLimit
from modelphase.serve.metrics import ServeMetrics, circuit_family, pool_families
from modelphase.serve.pools import BoundedPool, Pool
from modelphase.serve.predictors import ForecastPredictor, ScorePredictor
from modelphase.serve.processes import ProcessPool
from modelphase.serve.resilience import bucket
from modelphase.serve.schemas import (
    ForecastRequest,
    ForecastResponse,
    ScoreRequest,
    ScoreResponse,
)
from modelphase.serve.slo_api import SloConfig, mount_slo
from modelphase.serve.table import ModelTable, Reloader, Route, Served
from modelphase.serve.triage_api import mount_triage

__all__ = ["ServeConfig", "create_app"]

log = logging.getLogger("modelphase.serve")

TOKEN_CACHE_S = 5.0
#: bodies up to this size are parsed on the event loop (well under a millisecond);
#: larger ones on the parse pool (one thread, a 2 MB body in ~20 ms), and the request
#: counts as heavy. Parsing has a pool of its own so that a request's parse and its
#: model work never compete for the same places.
INLINE_BODY = 64 * 1024
PARSE_QUEUE = 16


class ServeConfig:
    """How the server runs (the command's options; the defaults are the command's).

    Per token: ``token_rate`` requests a second (bursts of ``token_burst``),
    ``token_concurrency`` prediction requests in flight, ``token_heavy`` of them heavy.
    A request is heavy when it carries at least ``heavy_points`` values (or a body
    over 64 KiB, parsed on a thread of its own); heavy work runs on ``heavy_workers``
    worker processes (threads if not ``heavy_processes``) with ``heavy_queue`` waiting,
    its fallbacks on one more, the rest on ``workers`` threads with ``queue`` waiting
    and their fallbacks on ``fallback_threads``. Work that waits ``queue_wait``
    seconds for a thread is shed (503). The HTTP server closes a connection whose
    headers take over ``header_timeout`` s or whose body takes over ``body_timeout`` s
    (408), closes idle keep-alive connections after ``keep_alive_timeout`` s and
    answers 503 past ``limit_concurrency`` connections or requests (``/healthz`` and
    ``/metrics`` excepted). ``clock`` (monotonic seconds) drives the token buckets, the latency
    budgets, the breakers and the token cache; tests replace it. ``canary`` holds the
    analyses and the Prometheus of ``/v1/canary/*`` (:mod:`modelphase.serve.decide_api`),
    ``slo`` the SLOs of ``/v1/slo/*`` (:mod:`modelphase.serve.slo_api`), ``capacity``
    the capacity plans of ``/v1/capacity/*`` (:mod:`modelphase.serve.capacity_api`).
    """

    def __init__(
        self,
        *,
        home: Path,
        reload_interval: float = 2.0,
        decision_sample: float = 1.0,
        max_body: int = 2_000_000,
        workers: int = 4,
        queue: int | None = None,
        heavy_workers: int = 2,
        heavy_queue: int | None = None,
        heavy_processes: bool = True,
        fallback_threads: int = 2,
        heavy_points: int = 10_000,
        queue_wait: float = 5.0,
        token_rate: float = Limits.rate,
        token_burst: int = Limits.burst,
        token_concurrency: int = Limits.concurrency,
        token_heavy: int = Limits.heavy,
        header_timeout: float = 10.0,
        body_timeout: float = 30.0,
        keep_alive_timeout: int = 5,
        limit_concurrency: int = 1000,
        clock: Callable[[], float] = time.monotonic,
        canary: CanaryConfig | None = None,
        slo: SloConfig | None = None,
        capacity: CapacityConfig | None = None,
    ) -> None:
        self.home = home
        self.reload_interval = reload_interval
        self.decision_sample = decision_sample
        self.max_body = max_body
        self.workers = workers
        self.queue = 16 * workers if queue is None else queue
        self.heavy_workers = heavy_workers
        self.heavy_queue = 2 * heavy_workers if heavy_queue is None else heavy_queue
        self.heavy_processes = heavy_processes
        self.fallback_threads = fallback_threads
        self.heavy_points = heavy_points
        self.queue_wait = queue_wait
        self.limits = Limits(token_rate, token_burst, token_concurrency, token_heavy)
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self.keep_alive_timeout = keep_alive_timeout
        self.limit_concurrency = limit_concurrency
        self.clock = clock
        self.canary = canary if canary is not None else CanaryConfig()
        self.slo = slo if slo is not None else SloConfig()
        self.capacity = capacity if capacity is not None else CapacityConfig()


class _State:
    def __init__(self, registry: ModelRegistry, config: ServeConfig) -> None:
        self.registry = registry
        self.config = config
        self.table = ModelTable(registry, config.clock)
        self.metrics = ServeMetrics()
        self.log = DecisionLog(config.home / "decisions", sample=config.decision_sample)
        heavy = ProcessPool if config.heavy_processes else Pool
        self.pools = Pools(
            light=self._pool(Pool, "light", config.workers, config.queue),
            heavy=self._pool(heavy, "heavy", config.heavy_workers, config.heavy_queue, 5),
            fallback=self._pool(Pool, "fallback", config.fallback_threads, 16),
            heavy_fallback=self._pool(heavy, "heavy_fallback", 1, config.heavy_queue, 5),
            shadow=self._pool(Pool, "shadow", max(1, config.workers // 2), MAX_SHADOWS),
            parse=self._pool(Pool, "parse", 1, PARSE_QUEUE),
        )
        self.caller = Caller(
            self.pools, self.metrics, self.log, queue_wait=config.queue_wait, clock=config.clock
        )
        self.admission = Admission(config.limits, config.clock, self.metrics.throttled)
        self.reloader = Reloader(self.table, config.reload_interval, self._changed)
        self.tokens: dict[str, tuple[Principal, float]] = {}
        self.metrics.add_gauges(self._gauges)

    def _pool(
        self,
        kind: type[BoundedPool],
        name: str,
        threads: int,
        queue: int,
        retry_after: int = 1,
    ) -> BoundedPool:
        return kind(
            name,
            threads,
            queue,
            retry_after=retry_after,
            clock=self.config.clock,
            shed=self.metrics.shed,
            waited=self.metrics.queue_wait,
        )

    def _changed(self, changes: list[str]) -> None:
        self.metrics.reloads.labels("changed").inc()

    def _gauges(self) -> Iterator[Any]:
        states = [
            (s.name, str(s.version), alias, s.breaker.state)
            for route in self.table.routes.values()
            for alias, s in route.by_alias().items()
        ]
        yield circuit_family(states)
        yield circuit_family(
            (
                (s.name, str(s.version), alias, s.heavy_breaker.state)
                for route in self.table.routes.values()
                for alias, s in route.by_alias().items()
            ),
            heavy=True,
        )
        yield from pool_families((p.name, p.threads, p.running, p.queued) for p in self.pools.all())
        loaded = GaugeMetricFamily(
            "modelphase_serve_models_loaded", "Versions loaded, by alias", labels=["alias"]
        )
        for alias in ("production", "canary", "shadow"):
            loaded.add_metric([alias], sum(1 for s in states if s[2] == alias))
        yield loaded
        dropped = CounterMetricFamily(
            "modelphase_serve_decision_log_dropped",
            "Decisions dropped (queue full or not writable)",
        )
        dropped.add_metric([], self.log.dropped)
        yield dropped
        written = CounterMetricFamily(
            "modelphase_serve_decision_log_written", "Decisions written to Parquet segments"
        )
        written.add_metric([], self.log.written)
        yield written
        queued = GaugeMetricFamily(
            "modelphase_serve_decision_log_queue", "Decisions waiting to be written"
        )
        queued.add_metric([], self.log.queue_depth())
        yield queued

    def cached(self, token: str) -> Principal | None:
        """The principal of a token checked less than :data:`TOKEN_CACHE_S` ago."""
        hit = self.tokens.get(hashlib.sha256(token.encode()).hexdigest())
        if hit is not None and hit[1] > self.config.clock():
            return hit[0]
        return None

    def principal(self, token: str) -> Principal:
        """Check a token against the registry (blocking: run it off the event loop)."""
        key = hashlib.sha256(token.encode()).hexdigest()
        now = self.config.clock()
        found = self.registry.authenticate(token)
        if len(self.tokens) > 10_000:
            self.tokens.clear()
        self.tokens[key] = (found, now + TOKEN_CACHE_S)
        return found


def create_app(registry: ModelRegistry, config: ServeConfig) -> FastAPI:
    """The server's ASGI app over ``registry`` (which it does not close)."""
    state = _State(registry, config)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.get_running_loop().run_in_executor(None, state.table.refresh)
        await asyncio.gather(*(pool.warm() for pool in state.pools.all()))
        state.log.start()
        state.reloader.start()
        try:
            yield
        finally:
            state.reloader.stop()
            if state.caller.shadows:
                await asyncio.wait(list(state.caller.shadows), timeout=5.0)
            state.log.close()
            for pool in state.pools.all():
                pool.shutdown()

    app = FastAPI(
        title="modelphase",
        version=__version__,
        summary="Forecasts and anomaly scores of the registry's production models",
        lifespan=lifespan,
    )
    app.state.serve = state
    install_errors(app, state.metrics.rejected)

    def too_large(size: str) -> Response:
        state.metrics.rejected.labels("413").inc()
        return json_response(
            {
                "error": "body_too_large",
                "detail": f"expected a body of at most {config.max_body} bytes, got {size}. "
                "Fix: send fewer values per request",
            },
            status_code=413,
        )

    def too_slow() -> Response:
        state.metrics.connection_timeouts.labels("body").inc()
        state.metrics.rejected.labels("408").inc()
        return json_response(
            {
                "error": "request_timeout",
                "detail": f"expected the request's body within {config.body_timeout:g} s, "
                "got it unfinished. Fix: send the whole body at once",
            },
            status_code=408,
            headers={"connection": "close"},
        )

    app.add_middleware(
        BodyLimit,
        max_body=config.max_body,
        refuse=too_large,
        timeout=config.body_timeout,
        too_slow=too_slow,
        lazy=True,  # the handlers refuse on headers first, then read
    )

    async def viewer(request: Request) -> Principal:
        return await _authorize(request, state, Role.VIEWER)

    async def deployer(request: Request) -> Principal:
        return await _authorize(request, state, Role.DEPLOYER)

    @app.get("/healthz", tags=["operations"], summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["operations"],
        summary="The models are loaded",
        responses={503: {"description": "Still loading"}},
    )
    async def readyz() -> Response:
        if not state.table.ready:
            return json_response({"status": "loading"}, status_code=503)
        return json_response({"status": "ready", "models": len(state.table.routes)})

    @app.get(
        "/metrics",
        tags=["operations"],
        summary="Prometheus metrics",
        response_class=PlainTextResponse,
    )
    async def metrics() -> Response:
        return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get(
        "/v1/models",
        tags=["models"],
        summary="What is served: versions, aliases, shares",
        responses=documented(*GUARDED),
    )
    async def models(who: Annotated[Principal, Depends(viewer)]) -> dict[str, Any]:
        return {
            "models": [_describe(r) for r in state.table.routes.values()],
            "load_errors": state.table.errors,
        }

    @app.post(
        "/v1/reload",
        tags=["models"],
        summary="Refresh from the registry now",
        responses=documented(*GUARDED),
    )
    async def reload(who: Annotated[Principal, Depends(deployer)]) -> dict[str, Any]:
        changes = await asyncio.get_running_loop().run_in_executor(None, state.table.refresh)
        state.metrics.reloads.labels("forced").inc()
        return {"changes": changes}

    # The prediction routes are served by plain Starlette routes placed first in the
    # router: they read and validate their body themselves (pydantic's JSON validator
    # straight from the bytes, auth from a cache on the event loop), since FastAPI's
    # parameter machinery cost more than the prediction. The FastAPI routes below run
    # the same functions and exist for /openapi.json and /docs (see _openapi for the
    # bodies); errors have the same shape either way.
    async def forecast_for(name: str, request: Request) -> Response:
        who = await _authorize(request, state, Role.VIEWER)
        with state.admission.slot(who) as ticket:
            body = await _parse(state, ticket, ForecastRequest, request)
            route = _route(state, name)
            served = _pick(route, body.key or (body.series[0] if body.series else None))
            if not isinstance(served.predictor, ForecastPredictor):
                raise ValidationError(
                    f"{name} is an anomaly detector: POST to /v1/models/{name}/score"
                )
            levels = served.predictor.check(body.h, body.level)
            heavy = _heavy(state, ticket, len(body.values or ()))
            warnings = _checked(state, served, body.values, body.unique_id, body.end)
            answer = await state.caller.forecast(served, body, levels, heavy=heavy)
            answer.body["warnings"] = warnings
            return await _respond(state, request, who, route, served, "forecast", body, answer)

    async def score_for(name: str, request: Request) -> Response:
        who = await _authorize(request, state, Role.VIEWER)
        with state.admission.slot(who) as ticket:
            body = await _parse(state, ticket, ScoreRequest, request)
            route = _route(state, name)
            served = _pick(route, body.key)
            if not isinstance(served.predictor, ScorePredictor):
                raise ValidationError(f"{name} is a forecaster: POST to /v1/models/{name}/forecast")
            heavy = _heavy(state, ticket, len(body.values))
            last = body.timestamps[-1] if body.timestamps else None
            warnings = _checked(state, served, body.values, None, last)
            answer = await state.caller.score(served, body, heavy=heavy)
            answer.body["warnings"] = warnings
            return await _respond(state, request, who, route, served, "score", body, answer)

    @app.post(
        "/v1/models/{name}/forecast",
        tags=["predictions"],
        response_model=ForecastResponse,
        responses=documented(*GUARDED, 404, notes={404: "Unknown model or series"}),
        openapi_extra=body_doc(ForecastRequest),
    )
    async def forecast(name: str, request: Request) -> Response:
        return await forecast_for(name, request)

    @app.post(
        "/v1/models/{name}/score",
        tags=["predictions"],
        response_model=ScoreResponse,
        responses=documented(*GUARDED, 404, notes={404: "Unknown model"}),
        openapi_extra=body_doc(ScoreRequest),
    )
    async def score(name: str, request: Request) -> Response:
        return await score_for(name, request)

    mount_canary(
        app,
        config.canary,
        authorize=viewer,
        admission=state.admission,
        registry=state.metrics.registry,
        rejected=state.metrics.rejected,
    )
    mount_slo(
        app,
        config.slo,
        authorize=viewer,
        admission=state.admission,
        registry=state.metrics.registry,
        rejected=state.metrics.rejected,
    )
    mount_capacity(  # the capacity plans (GET /v1/capacity/*, POST /v1/capacity/plan)
        app,
        config.capacity,
        authorize=viewer,
        admission=state.admission,
        registry=state.metrics.registry,
        rejected=state.metrics.rejected,
        models=registry,
    )
    mount_triage(app, authorize=viewer, home=config.home)  # POST /v1/triage
    from modelphase.serve.ui import mount_ui  # the dashboard: GET /ui, /ui/oncall, /ui/model/*

    mount_ui(app, authorize=viewer, registry=registry, home=config.home,
             served=lambda: [_describe(r) for r in state.table.routes.values()])  # fmt: skip
    for path, handler in (("forecast", forecast_for), ("score", score_for)):
        app.router.routes.insert(
            0, PlainRoute(f"/v1/models/{{name}}/{path}", _plain(handler), methods=["POST"])
        )
    app.openapi = lambda: openapi_with_bodies(app)  # type: ignore[method-assign]
    return app


# ----------------------------------------------------------------------- helpers


def _plain(
    handler: Callable[[str, Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        return await handler(request.path_params["name"], request)

    return endpoint


async def _authorize(request: Request, state: _State, needed: Role) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(
            401,
            "expected 'Authorization: Bearer <token>'. Fix: create one with "
            "`modelphase tokens create --name NAME --role viewer`",
            {"WWW-Authenticate": "Bearer"},
        )
    token = token.strip()
    try:
        who = state.cached(token)
        if who is None:  # a check against the registry: off the event loop
            who = await asyncio.get_running_loop().run_in_executor(None, state.principal, token)
    except AccessError:  # the registry's reason stays in the server: it names the token
        raise HTTPException(401, INVALID_TOKEN, {"WWW-Authenticate": "Bearer"}) from None
    if who.role < needed:
        raise HTTPException(
            403, f"this needs the {needed.label} role; {who.name} is {who.role.label}"
        )
    state.admission.check_rate(who)
    return who


#: the 401 of a token the registry does not accept, whatever its reason (unknown,
#: malformed, revoked): nothing about the token goes back to whoever sent it
INVALID_TOKEN = (
    "the token is not valid (unknown or revoked). Fix: check the token you send, or ask "
    "an admin for a new one (`modelphase tokens create --name NAME --role viewer`)"
)

_Body = TypeVar("_Body", ForecastRequest, ScoreRequest)


async def _parse(state: _State, ticket: Ticket, model: type[_Body], request: Request) -> _Body:
    """The request body, parsed on the event loop when small, else on the parse pool
    (and then the request is heavy). A body announced as large makes the request heavy
    before it is read: over the token's heavy limit, or with the heavy pool full, it
    is refused on its headers."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > INLINE_BODY:
        _claim_heavy(state, ticket)
    raw = await request.body()
    if len(raw) <= INLINE_BODY:
        return parse_body(model, raw)
    _claim_heavy(state, ticket)
    job = await state.pools.parse.start(
        lambda: parse_body(model, raw), wait=state.config.queue_wait
    )
    body, _ = await job.result()
    return body


def _heavy(state: _State, ticket: Ticket, points: int) -> bool:
    """Whether the request's model work goes to the heavy pool (claiming one of the
    token's heavy requests)."""
    if points >= state.config.heavy_points:
        _claim_heavy(state, ticket)
    return ticket.heavy


def _claim_heavy(state: _State, ticket: Ticket) -> None:
    if not ticket.heavy:
        ticket.claim_heavy()
        state.pools.heavy.check_room()


#: request ids: a random prefix per process, then a counter (unique without a syscall)
_ID_PREFIX = secrets.token_hex(6)
_IDS = itertools.count(1)
#: a caller's own x-request-id, echoed back as x-client-request-id when it is sane
_CLIENT_ID = re.compile(r"[\x21-\x7e]{1,128}")


def _next_id() -> str:
    return f"{_ID_PREFIX}{next(_IDS):010x}"


def _id_headers(request: Request, request_id: str) -> dict[str, str]:
    """The server's id, and the caller's own (decides nothing; only echoed)."""
    headers = {"x-request-id": request_id}
    theirs = request.headers.get("x-request-id")
    if theirs is not None and _CLIENT_ID.fullmatch(theirs):
        headers["x-client-request-id"] = theirs
    return headers


def _route(state: _State, name: str) -> Route:
    route = state.table.routes.get(name)
    if route is None:
        known = ", ".join(sorted(state.table.routes)) or "none yet"
        raise HTTPException(
            404,
            f"no served model {name!r} (served: {known}). Fix: give a version of it "
            "the production alias with `modelphase models promote`",
        )
    return route


def _checked(
    state: _State,
    served: Served,
    values: list[float | None] | None,
    unique_id: str | None,
    end: datetime | None,
) -> list[str]:
    """Check a request's values before serving: count the result, time its freshness,
    and return the warnings the answer carries (it is answered either way)."""
    if end is not None:
        age = time.time() - end.timestamp()
        state.metrics.input_age.labels(served.name).observe(max(age, 0.0))
    if values is None or not served.inputs.active:
        return []
    problems = served.inputs.problems(values, unique_id)
    version = str(served.version)
    for reason, _ in problems or [("ok", "")]:
        state.metrics.validation.labels(served.name, version, reason).inc()
    return [message for _, message in problems]


def _pick(route: Route, key: str | None) -> Served:
    if route.canary is None or route.canary_share <= 0.0:
        return route.production
    where = bucket(key) if key is not None else random.random()
    return route.canary if where < route.canary_share else route.production


def _alias(route: Route, served: Served) -> str:
    return "canary" if route.canary is served and served is not route.production else "production"


def _describe(route: Route) -> dict[str, Any]:
    out: dict[str, Any] = {"name": route.name, "canary_share": route.canary_share, "aliases": {}}
    for alias, s in route.by_alias().items():
        out["aliases"][alias] = {
            "version": s.version,
            "flavor": s.flavor,
            "latency_budget_ms": round(s.budget_s * 1000, 3),
            "circuit": s.breaker.state,
            "heavy_circuit": s.heavy_breaker.state,
            "loaded_at": datetime.fromtimestamp(s.loaded_at, UTC).isoformat(),
        }
    return out


async def _respond(
    state: _State,
    request: Request,
    who: Principal,
    route: Route,
    served: Served,
    endpoint: str,
    body: ForecastRequest | ScoreRequest,
    answer: Answer,
) -> Response:
    alias = _alias(route, served)
    request_id = _next_id()  # the server's, unique: a caller's header decides nothing
    version = str(served.version)
    outcome = answer.answered_by
    state.metrics.requests.labels(route.name, version, alias, endpoint, outcome).inc()
    state.metrics.latency.labels(route.name, version, alias, endpoint).observe(answer.seconds)
    state.metrics.answered(route.name, version)
    payload = {
        "request_id": request_id,
        "model": route.name,
        "version": served.version,
        "alias": alias,
        "answered_by": answer.answered_by,
        "fallback_reason": answer.reason,
        **answer.body,
    }
    if state.log.sampled(answer):  # the log's own draw, made once per answer
        state.log.offer(
            decision_record(
                request_id, endpoint, route.name, served.version, alias, body, answer, who
            )
        )
    if route.shadow is not None and route.shadow is not served:
        state.caller.shadow(route.shadow, endpoint, body, answer, request_id, who)
    return json_response(payload, headers=_id_headers(request, request_id))
