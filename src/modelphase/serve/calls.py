"""Calling a served model safely: within its latency budget, behind its circuit breaker,
with a fallback answer when the model cannot give one, and the shadow off the path.

Forecasts by series id are a lookup in the forecast indexed at load time, cheap enough
to run on the event loop; refits on recent values and anomaly scoring run on a bounded
pool (:mod:`modelphase.serve.pools`: ``light`` threads, or the ``heavy`` worker
processes for long histories) and are awaited for at most the version's budget,
counted from when the work starts (time waiting for a worker is the server's, not the
model's). A model that raises, or overruns its budget, counts a failure on its breaker
(its heavy breaker for heavy work, so that a model too slow for long histories keeps
answering short ones) and the fallback answers, computed on a pool of its own
(``fallback``, or ``heavy_fallback``), never on the event loop:

- forecast from values: a seasonal naive forecast of the values (the model's season),
  with intervals from their seasonal changes;
- forecast by series id: the last good forecast the server gave for that series (with
  none, a 503: the model's failure is not the caller's mistake);
- scores: a z-score of each point against the points before it (half-life 288), held
  to the z-score's default threshold.

A model's own refusal of the request (a horizon or level it was not trained for, an
unknown series) is the caller's mistake, a 4xx, not a model failure; so is work that
never started because its pool was full (an :class:`~modelphase.exceptions.OverloadedError`,
a 503), which touches no breaker. A shadow runs on a pool of its own, so that it never
queues ahead of an answer, and its failures are counted as such, never compared.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import numpy as np
import orjson

from modelphase.anomaly import FixedThreshold, ZScore
from modelphase.anomaly.alerts import DEFAULT_THRESHOLDS
from modelphase.decisions.records import DecisionRecord
from modelphase.decisions.sink import DecisionLog
from modelphase.exceptions import OverloadedError, SeriesNotFoundError, ValidationError
from modelphase.serve.metrics import ServeMetrics
from modelphase.serve.pools import BoundedPool
from modelphase.serve.predictors import ForecastPredictor, ScorePredictor, iso_times
from modelphase.serve.resilience import PROBE, CircuitBreaker, finite_or_none, seasonal_naive
from modelphase.serve.schemas import ForecastRequest, ScoreRequest
from modelphase.serve.table import Served

if TYPE_CHECKING:
    from modelphase.registry import Principal

__all__ = ["Answer", "Caller", "NoFallbackError", "Pools"]

log = logging.getLogger("modelphase.serve")

_T = TypeVar("_T")

#: shadow calls waiting or running at once; more are skipped (and counted)
MAX_SHADOWS = 64
#: series whose last good forecast is kept for the fallback
MAX_LAST_GOOD = 10_000


@dataclass
class Answer:
    """What answered a request and with what."""

    answered_by: str  # "model" or "fallback"
    reason: str | None  # why the fallback answered
    body: dict[str, Any]  # the response's payload
    seconds: float
    started_us: int
    prediction: Any = None  # for the decision log
    interval: Any = None
    decision: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


class NoFallbackError(Exception):
    """The model failed and nothing can answer for it (no earlier forecast of a series
    asked for by id): the server's fault, not the caller's, so a 503."""

    def __init__(self, message: str, *, unique_ids: list[str]) -> None:
        self.unique_ids = unique_ids
        super().__init__(message)


class _ModelFailedError(Exception):
    def __init__(self, reason: str, shadow: bool = False) -> None:
        self.reason = reason
        self.shadow = shadow


@dataclass
class Pools:
    """Where the work runs (see :mod:`modelphase.serve.pools`)."""

    light: BoundedPool
    heavy: BoundedPool  # worker processes, unless the server was told threads
    fallback: BoundedPool
    heavy_fallback: BoundedPool  # the fallbacks of heavy requests, as the heavy pool
    shadow: BoundedPool
    parse: BoundedPool  # large request bodies, before their model work (elsewhere)

    def all(self) -> list[BoundedPool]:
        return [
            self.light,
            self.heavy,
            self.fallback,
            self.heavy_fallback,
            self.shadow,
            self.parse,
        ]


class Caller:
    """Calls served versions on the pools and records what happened. A call waits at
    most ``queue_wait`` seconds for a thread; its budget runs from when it starts, on
    ``clock`` (monotonic seconds). Shadows run on a pool of their own, so that a slow
    shadow never holds up the answers."""

    def __init__(
        self,
        pools: Pools,
        metrics: ServeMetrics,
        log: DecisionLog,
        *,
        queue_wait: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pools = pools
        self.metrics = metrics
        self.log = log
        self.queue_wait = queue_wait
        self.clock = clock
        self.shadows: set[asyncio.Task[None]] = set()  # shadow calls not yet done
        self.last_good: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()

    # ---------------------------------------------------------------- forecasts

    async def forecast(
        self,
        served: Served,
        body: ForecastRequest,
        levels: list[float],
        *,
        heavy: bool = False,
        shadow: bool = False,
    ) -> Answer:
        """The forecast of ``served`` (``heavy``: on the heavy pool, behind the
        version's heavy breaker; ``shadow``: on the shadow pool, and not kept as the
        last good forecast, which is the answers')."""
        start, started_us = time.perf_counter(), _now_us()
        predictor = served.predictor
        assert isinstance(predictor, ForecastPredictor)
        try:
            if body.series is not None:
                series = list(body.series)
                out = self._inline(served, lambda: predictor.by_ids(series, body.h, levels))
            else:
                call = functools.partial(_refit, predictor, body, levels)
                out = [await self._pooled(served, call, heavy, shadow)]
            if not shadow:
                for item in out:
                    self._remember(served.name, item)
            answered_by, reason = "model", None
        except _ModelFailedError as failed:
            answered_by, reason = "fallback", failed.reason
            out = await self._forecast_fallback(served, predictor, body, levels, failed, heavy)
        seconds = time.perf_counter() - start
        return Answer(
            answered_by,
            reason,
            {"forecasts": out},
            seconds,
            started_us,
            prediction=[
                {"unique_id": f["unique_id"], "ds": f.get("ds"), "mean": f["mean"]} for f in out
            ],
            interval=[{"unique_id": f["unique_id"], "intervals": f["intervals"]} for f in out],
            extra={"heavy": heavy},
        )

    def _remember(self, model: str, item: dict[str, Any]) -> None:
        key = (model, str(item["unique_id"]))
        self.last_good[key] = item
        self.last_good.move_to_end(key)
        while len(self.last_good) > MAX_LAST_GOOD:
            self.last_good.popitem(last=False)

    async def _forecast_fallback(
        self,
        served: Served,
        predictor: ForecastPredictor,
        body: ForecastRequest,
        levels: list[float],
        failed: _ModelFailedError,
        heavy: bool,
    ) -> list[dict[str, Any]]:
        reason = failed.reason
        if body.values is not None:
            call = functools.partial(
                _naive_fallback, predictor.step, predictor.season, body, levels
            )
            out = [await self._aside(call, failed.shadow, heavy)]
        else:
            ids = body.series or []
            out = [self._last_good(served, uid, body.h, levels, reason) for uid in ids]
        self.metrics.fallbacks.labels(served.name, str(served.version), reason).inc()
        return out

    def _last_good(
        self, served: Served, uid: str, h: int, levels: list[float], reason: str
    ) -> dict[str, Any]:
        good = self.last_good.get((served.name, uid))
        if good is None or len(good["mean"]) < h:
            raise NoFallbackError(
                f"{served.name} v{served.version} failed ({reason}) and there is no "
                f"earlier forecast of {uid!r} to fall back on. Fix: retry later, or send "
                "the series' recent values, which a fallback can always forecast",
                unique_ids=[uid],
            )
        return _head(good, h, levels)

    # ------------------------------------------------------------------ scores

    async def score(
        self, served: Served, body: ScoreRequest, *, heavy: bool = False, shadow: bool = False
    ) -> Answer:
        """The scores of ``served`` (``heavy`` and ``shadow`` as for :meth:`forecast`)."""
        start, started_us = time.perf_counter(), _now_us()
        predictor = served.predictor
        assert isinstance(predictor, ScorePredictor)
        call = functools.partial(_score, predictor, body.values, body.timestamps)
        try:
            scores, flags, threshold, explained = await self._pooled(served, call, heavy, shadow)
            answered_by, reason = "model", None
        except _ModelFailedError as failed:
            answered_by, reason = "fallback", failed.reason
            self.metrics.fallbacks.labels(served.name, str(served.version), reason).inc()
            fallback = functools.partial(_zscore_fallback, body.values)
            scores, flags, threshold = await self._aside(fallback, shadow, heavy)
            explained = []  # the z-score fallback explains nothing
        seconds = time.perf_counter() - start
        if not shadow:
            self.metrics.explained(served.name, str(served.version), flags, explained)
        body_out = {
            "scores": scores, "anomalies": flags, "threshold": threshold,
            "explanations": explained,
        }  # fmt: skip
        return Answer(
            answered_by,
            reason,
            body_out,
            seconds,
            started_us,
            prediction=scores,
            decision={"anomalies": flags, "threshold": threshold},
            extra={"heavy": heavy},
        )

    # ---------------------------------------------------------------- guarding

    def _inline(self, served: Served, call: Callable[[], Any]) -> Any:
        breaker = served.breaker
        if not breaker.allow():
            self._failed(served, breaker, "circuit_open", counted=False)
        start = time.thread_time()
        try:
            out = call()
        except (ValidationError, SeriesNotFoundError):
            breaker.record_success()
            raise
        except Exception as exc:
            log.warning("%s v%s raised: %s", served.name, served.version, exc)
            self._failed(served, breaker, "error")
        self._succeeded(served, breaker, time.thread_time() - start)
        return out

    async def _pooled(
        self, served: Served, call: Callable[[], Any], heavy: bool, shadow: bool
    ) -> Any:
        """``call`` on its pool within the version's budget, counted from its start,
        behind the version's breaker (its heavy breaker for heavy work: a model too slow
        for long histories keeps answering short ones). Work that cannot start raises
        :class:`OverloadedError` and touches no breaker."""
        breaker = served.heavy_breaker if heavy else served.breaker
        pool = self.pools.shadow if shadow else self.pools.heavy if heavy else self.pools.light
        permit = breaker.acquire()
        if permit is None:
            self._failed(served, breaker, "circuit_open", counted=False, shadow=shadow)
        try:
            job = await pool.start(call, wait=self.queue_wait)
        except BaseException:  # shed, or cancelled, before it started: it proved nothing
            if permit == PROBE:
                breaker.abandon()
            raise
        remaining = served.budget_s - (self.clock() - job.started_at)
        try:
            out, cpu = await job.result(max(0.0, remaining))
        except TimeoutError:
            self._failed(served, breaker, "timeout", shadow=shadow)
        except (ValidationError, SeriesNotFoundError):
            breaker.record_success()
            raise
        except asyncio.CancelledError:
            if permit == PROBE:
                breaker.abandon()
            raise
        except Exception as exc:
            log.warning("%s v%s raised: %s", served.name, served.version, exc)
            self._failed(served, breaker, "error", shadow=shadow)
        self._succeeded(served, breaker, cpu)
        return out

    async def _aside(self, call: Callable[[], _T], shadow: bool, heavy: bool) -> _T:
        """``call`` (a fallback's computation) on the fallback pool of its size, or the
        shadow's."""
        if shadow:
            pool = self.pools.shadow
        else:
            pool = self.pools.heavy_fallback if heavy else self.pools.fallback
        job = await pool.start(call, wait=self.queue_wait)
        value, _ = await job.result()
        return value

    def _failed(
        self,
        served: Served,
        breaker: CircuitBreaker,
        reason: str,
        *,
        counted: bool = True,
        shadow: bool = False,
    ) -> NoReturn:
        if counted:
            breaker.record_failure()
            self.metrics.errors.labels(served.name, str(served.version), reason).inc()
        raise _ModelFailedError(reason, shadow)

    def _succeeded(self, served: Served, breaker: CircuitBreaker, cpu: float) -> None:
        breaker.record_success()
        version = str(served.version)
        self.metrics.predictions.labels(served.name, version).inc()
        self.metrics.cpu.labels(served.name, version).inc(cpu)

    # ----------------------------------------------------------------- shadow

    def shadow(
        self,
        served: Served,
        endpoint: str,
        body: ForecastRequest | ScoreRequest,
        answer: Answer,
        request_id: str,
        who: Principal | None,
    ) -> None:
        """Score ``body`` with the shadow version after the answer, off the path
        (skipped for heavy requests: shadows compare on ordinary traffic, and never
        double the heavy work)."""
        version = str(served.version)
        if len(self.shadows) >= MAX_SHADOWS or answer.extra.get("heavy"):
            self.metrics.shadow.labels(served.name, version, "skipped").inc()
            return
        task = asyncio.get_running_loop().create_task(
            self._shadow(served, endpoint, body, answer, request_id, who)
        )
        self.shadows.add(task)
        task.add_done_callback(self.shadows.discard)

    async def _shadow(
        self,
        served: Served,
        endpoint: str,
        body: ForecastRequest | ScoreRequest,
        answer: Answer,
        request_id: str,
        who: Principal | None,
    ) -> None:
        version = str(served.version)
        try:
            if endpoint == "forecast" and isinstance(body, ForecastRequest):
                predictor = served.predictor
                assert isinstance(predictor, ForecastPredictor)
                levels = predictor.check(body.h, body.level)
                mine = await self.forecast(served, body, levels, shadow=True)
                value = _forecast_agreement(answer.body["forecasts"], mine.body["forecasts"])
            elif isinstance(body, ScoreRequest):
                mine = await self.score(served, body, shadow=True)
                a, b = answer.body["anomalies"], mine.body["anomalies"]
                value = sum(x == y for x, y in zip(a, b, strict=True)) / max(len(a), 1)
            else:
                return
        except OverloadedError:  # the shadow pool is full: skipped, like a full queue
            self.metrics.shadow.labels(served.name, version, "skipped").inc()
            return
        except Exception as exc:  # a shadow never affects anything but its own metrics
            self.metrics.shadow.labels(served.name, version, "error").inc()
            log.info("shadow %s v%s failed: %s", served.name, version, exc)
            return
        if mine.answered_by != "model":  # the shadow failed: its fallback is no comparison
            self.metrics.shadow.labels(served.name, version, "error").inc()
        else:
            self.metrics.shadow.labels(
                served.name, version, "agree" if value >= 0.5 else "disagree"
            ).inc()
            self.metrics.agreement(served.name, version, value)
        if self.log.sampled(answer):  # the primary's draw: logged exactly when it was
            self.log.offer(
                decision_record(
                    request_id, endpoint, served.name, served.version, "shadow", body, mine, who
                )
            )


# ----------------------------------------------------------------------- helpers


def _forecast_agreement(answer: list[dict[str, Any]], shadow: list[dict[str, Any]]) -> float:
    """Share of steps where the shadow's mean lies in the answer's widest interval."""
    inside = total = 0
    for a, b in zip(answer, shadow, strict=False):
        if not a["intervals"]:
            continue
        band = a["intervals"][max(a["intervals"], key=float)]
        for lo, hi, m in zip(band["lo"], band["hi"], b["mean"], strict=False):
            if lo is None or hi is None or m is None:
                continue
            total += 1
            inside += lo <= m <= hi
    return inside / total if total else 1.0


def _head(item: dict[str, Any], h: int, levels: list[float]) -> dict[str, Any]:
    return {
        "unique_id": item["unique_id"],
        "ds": item["ds"][:h],
        "mean": item["mean"][:h],
        "intervals": {
            k: {"lo": v["lo"][:h], "hi": v["hi"][:h]}
            for k, v in item["intervals"].items()
            if float(k) in levels
        },
    }


# The calls handed to the pools: module-level, with picklable arguments, so that a pool
# of processes can run them as a pool of threads does.


def _refit(
    predictor: ForecastPredictor, body: ForecastRequest, levels: list[float]
) -> dict[str, Any]:
    assert body.values is not None
    return predictor.from_values(
        body.values,
        _end_ns(body.end, predictor.step),
        body.h,
        levels,
        body.unique_id or "request",
    )


def _score(
    predictor: ScorePredictor, values: list[float | None], timestamps: list[datetime] | None
) -> tuple[list[float | None], list[bool], float, list[dict[str, Any]]]:
    times = None if timestamps is None else [_ns(t) for t in timestamps]
    scores, flags, threshold = predictor.score(values, times)
    return scores, flags, threshold, predictor.explain(values, times, scores, flags)


def _naive_fallback(
    step: int, season: int, body: ForecastRequest, levels: list[float]
) -> dict[str, Any]:
    """The seasonal naive forecast of the request's values (the model's season)."""
    assert body.values is not None
    end = _end_ns(body.end, step)
    mean, bands = seasonal_naive(body.values, body.h, season, levels)
    ds = end + step * np.arange(1, body.h + 1, dtype=np.int64)
    return {
        "unique_id": body.unique_id or "request",
        "ds": iso_times(ds),
        "mean": finite_or_none(mean),
        "intervals": {
            f"{lv:g}": {"lo": finite_or_none(lo), "hi": finite_or_none(hi)}
            for lv, (lo, hi) in bands.items()
        },
    }


def _zscore_fallback(values: list[float | None]) -> tuple[list[float | None], list[bool], float]:
    y = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    threshold = DEFAULT_THRESHOLDS.get("zscore", 5.0)
    scores = ZScore().score_many(y)
    decider = FixedThreshold(threshold)
    flags = [
        bool(decider.decide(s).is_anomaly) and bool(np.isfinite(x))
        for s, x in zip(scores, y, strict=True)
    ]
    return finite_or_none(np.where(np.isnan(y), np.nan, scores)), flags, threshold


def _now_us() -> int:
    return time.time_ns() // 1000


def _ns(when: datetime) -> int:
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1_000_000) * 1000


def _end_ns(end: datetime | None, step: int) -> int:
    if end is not None:
        return _ns(end)
    now = time.time_ns()
    return now - now % step


def decision_record(
    request_id: str,
    endpoint: str,
    model: str,
    version: int,
    alias: str,
    body: ForecastRequest | ScoreRequest,
    answer: Answer,
    who: Principal | None,
) -> DecisionRecord:
    """The decision log's row of one answer."""
    return DecisionRecord(
        request_id=request_id,
        time_us=answer.started_us,
        endpoint=endpoint,
        model=model,
        version=version,
        alias=alias,
        answered_by=answer.answered_by,
        fallback_reason=answer.reason,
        inputs=body.model_dump_json(exclude_none=True),
        prediction=orjson.dumps(answer.prediction).decode(),
        interval=orjson.dumps(answer.interval).decode() if answer.interval else None,
        decision=orjson.dumps(answer.decision).decode() if answer.decision is not None else None,
        latency_ms=answer.seconds * 1000.0,
        principal=who.name if who is not None else None,
    )
