"""Admission control: per-token limits (429), bounded pools (503), the latency budget
counted from when the work starts, and heavy requests that starve nobody.

Nothing here depends on how fast the machine is: models are held by an event until the
test has seen what it wants (the pools' own counters say when work runs or waits), and
the server's clock, which drives the token buckets, the budgets and the breakers, only
moves when a test moves it. Timings are in ``benchmarks/admission.py``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelphase.serve.predictors import ForecastPredictor, ScorePredictor
from modelphase.serve.resilience import CircuitBreaker
from modelphase.serve.table import Served
from serve.harness import (
    DETECTOR,
    FORECASTER,
    FakeClock,
    FileHeldScorer,
    HeldForecaster,
    HeldScorer,
    Live,
    Setup,
    WhereScorer,
)

SCORE = f"/v1/models/{DETECTOR}/score"
FORECAST = f"/v1/models/{FORECASTER}/forecast"
SERIES = ['load{host="h0"}']
LIGHT_SCORE = {"values": [10.0 + (i % 7) * 0.1 for i in range(300)]}
#: a refit that the held forecaster holds, and one it lets through
HELD_REFIT = {"values": [float(10 + i % 24) for i in range(72)], "h": 3, "unique_id": "held"}
FREE_REFIT = {**HELD_REFIT, "unique_id": "free"}
HEAVY = {"values": [float(i % 100) for i in range(100_000)]}  # 1.8 MB of JSON


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    """Threads that send requests which the server holds."""
    with ThreadPoolExecutor(8) as threads:
        yield threads


def _post(live: Live, token: str, path: str, body: dict[str, Any]) -> httpx.Response:
    with live.client(token) as client:
        return client.post(path, json=body)


def _detector(live: Live, points: int) -> HeldScorer:
    served: Served = live.state.table.routes[DETECTOR].production
    assert isinstance(served.predictor, ScorePredictor)
    held = HeldScorer(served.predictor, points=points)
    served.predictor = held
    return held


def _forecaster(live: Live) -> tuple[Served, HeldForecaster]:
    served: Served = live.state.table.routes[FORECASTER].production
    assert isinstance(served.predictor, ForecastPredictor)
    held = HeldForecaster(served.predictor)
    served.predictor = held
    return served, held


def _by_model(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert (body["answered_by"], body["fallback_reason"]) == ("model", None), body
    return body


def _refused(response: httpx.Response, status: int, error: str, retry_after: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["retry-after"] == retry_after
    body = response.json()
    assert set(body) == {"error", "detail"}
    assert body["error"] == error, body
    detail: str = body["detail"]
    assert detail.startswith("expected "), detail
    assert "Fix: retry after" in detail, detail
    return detail


def _nothing_failed(live: Live) -> None:
    """No model failed, fell back or opened its circuit."""
    assert live.metric("modelphase_serve_inference_errors_total") == 0
    assert live.metric("modelphase_serve_fallbacks_total") == 0
    for route in live.state.table.routes.values():
        assert route.production.breaker.state == "closed"


# ------------------------------------------------------------ per-token limits


def test_a_token_over_its_rate_gets_429_and_other_tokens_do_not(
    setup: Setup, start: Callable[..., Live]
) -> None:
    clock = FakeClock()
    live = start(setup.home, setup, token_rate=1.0, token_burst=2, clock=clock)
    with live.client() as viewer, live.client(setup.deployer) as other:
        assert [viewer.get("/v1/models").status_code for _ in range(2)] == [200, 200]
        detail = _refused(viewer.get("/v1/models"), 429, "throttled", "1")
        assert "expected at most 1 requests a second from one token" in detail
        assert setup.viewer not in detail
        assert "dashboard" not in detail
        assert other.get("/v1/models").status_code == 200  # its own bucket
        refused = viewer.post(SCORE, json=LIGHT_SCORE)
        assert refused.status_code == 429  # predictions count too, before any work
        clock.advance(0.999)
        assert viewer.get("/v1/models").status_code == 429
        clock.advance(0.001)  # one second since the bucket ran dry: one more request
        assert viewer.get("/v1/models").status_code == 200
    assert live.metric("modelphase_serve_throttled_total", reason="rate") == 3.0
    assert live.metric("modelphase_serve_rejected_requests_total", status="429") == 3.0
    assert live.metric("modelphase_serve_requests_total") == 0  # nothing reached a model


def test_a_token_over_its_requests_in_flight_gets_429(
    setup: Setup, start: Callable[..., Live], pool: ThreadPoolExecutor
) -> None:
    live = start(setup.home, setup, token_concurrency=1)
    held = _detector(live, points=len(LIGHT_SCORE["values"]))
    busy = pool.submit(_post, live, setup.viewer, SCORE, LIGHT_SCORE)
    try:
        live_wait(lambda: held.holding == 1, "the first request to be held")
        with live.client() as viewer:
            detail = _refused(viewer.post(SCORE, json=LIGHT_SCORE), 429, "throttled", "1")
            assert "expected at most 1 requests in flight from one token" in detail
            assert viewer.get("/v1/models").status_code == 200  # not a prediction
        _by_model(_post(live, setup.deployer, SCORE, {"values": [1.0, 2.0]}))
    finally:
        held.release.set()
    _by_model(busy.result())
    _by_model(_post(live, setup.viewer, SCORE, {"values": [1.0, 2.0]}))  # its slot is back
    assert live.metric("modelphase_serve_throttled_total", reason="concurrency") == 1.0
    _nothing_failed(live)


def test_a_token_over_its_heavy_requests_gets_429_and_may_still_send_light_ones(
    setup: Setup, start: Callable[..., Live], pool: ThreadPoolExecutor
) -> None:
    live = start(setup.home, setup, token_heavy=1, heavy_points=1_000)
    held = _detector(live, points=1_000)
    heavy = {"values": [float(i % 10) for i in range(1_000)]}
    busy = pool.submit(_post, live, setup.viewer, SCORE, heavy)
    try:
        live_wait(lambda: held.holding == 1, "the heavy request to be held")
        assert live.state.pools.heavy.running == 1
        with live.client() as viewer:
            detail = _refused(viewer.post(SCORE, json=heavy), 429, "throttled", "1")
            assert "expected at most 1 heavy requests" in detail
            _by_model(viewer.post(SCORE, json=LIGHT_SCORE))  # light work: the light pool
        # a body announced as large is refused on its headers: none of it is sent
        host, port = live.url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=60.0) as sock:
            sock.sendall(
                f"POST {SCORE} HTTP/1.1\r\nHost: x\r\nauthorization: Bearer {setup.viewer}"
                "\r\ncontent-type: application/json\r\ncontent-length: 1000000\r\n\r\n".encode()
            )
            head = b""
            while b"\r\n\r\n" not in head and (chunk := sock.recv(65536)):
                head += chunk
        assert head.startswith(b"HTTP/1.1 429 "), head
    finally:
        held.release.set()
    _by_model(busy.result())
    assert live.metric("modelphase_serve_throttled_total", reason="heavy") == 2.0
    _nothing_failed(live)


# ---------------------------------------------------------------- the pools


def test_work_that_finds_its_pool_full_is_shed_not_failed(
    setup: Setup, start: Callable[..., Live], pool: ThreadPoolExecutor
) -> None:
    live = start(setup.home, setup, workers=1, queue=1)
    served, held = _forecaster(live)
    running = pool.submit(_post, live, setup.viewer, FORECAST, HELD_REFIT)
    try:
        live_wait(lambda: held.holding == 1, "the refit to hold the only thread")
        waiting = pool.submit(_post, live, setup.viewer, FORECAST, FREE_REFIT)
        live_wait(lambda: live.state.pools.light.queued == 1, "the next refit to wait")
        detail = _refused(_post(live, setup.deployer, FORECAST, FREE_REFIT), 503, "overloaded", "1")
        assert "expected room in the server's light pool" in detail
        assert live.metric("modelphase_serve_pool_queued", pool="light") == 1.0
        # a forecast by id needs no thread: answered by the model meanwhile
        _by_model(_post(live, setup.deployer, FORECAST, {"series": SERIES, "h": 2}))
    finally:
        held.release.set()
    _by_model(running.result())
    _by_model(waiting.result())
    assert live.metric("modelphase_serve_shed_total", pool="light", reason="queue_full") == 1
    assert live.metric("modelphase_serve_rejected_requests_total", status="503") == 1
    _nothing_failed(live)
    assert served.breaker.state == "closed"


def test_work_that_waits_too_long_for_a_thread_is_shed_not_failed(
    setup: Setup, start: Callable[..., Live], pool: ThreadPoolExecutor
) -> None:
    # the only thread is held until the waiting request has been answered, so it
    # always waits longer than the (short) bound, however fast the machine
    live = start(setup.home, setup, workers=1, queue_wait=0.05)
    _, held = _forecaster(live)
    running = pool.submit(_post, live, setup.viewer, FORECAST, HELD_REFIT)
    try:
        live_wait(lambda: held.holding == 1, "the refit to hold the only thread")
        detail = _refused(_post(live, setup.deployer, FORECAST, FREE_REFIT), 503, "overloaded", "1")
        assert "to start this request's work within 0.05 s" in detail
        assert live.state.pools.light.queued == 0  # the shed work never runs
    finally:
        held.release.set()
    _by_model(running.result())
    assert live.metric("modelphase_serve_shed_total", pool="light", reason="queue_wait") == 1
    _nothing_failed(live)


def test_the_budget_counts_from_when_the_work_starts(
    setup: Setup, start: Callable[..., Live], pool: ThreadPoolExecutor
) -> None:
    """A refit that waited for a thread far longer than its model's budget (on the
    server's clock) is still answered by the model: the wait was the server's."""
    clock = FakeClock()
    live = start(setup.home, setup, workers=1, clock=clock)
    served, held = _forecaster(live)
    running = pool.submit(_post, live, setup.viewer, FORECAST, HELD_REFIT)
    try:
        live_wait(lambda: held.holding == 1, "the refit to hold the only thread")
        waiting = pool.submit(_post, live, setup.deployer, FORECAST, FREE_REFIT)
        live_wait(lambda: live.state.pools.light.queued == 1, "the next refit to wait")
        clock.advance(10 * served.budget_s)  # it has waited ten budgets
    finally:
        held.release.set()
    _by_model(running.result())
    _by_model(waiting.result())
    waited = live.metric("modelphase_serve_queue_wait_seconds_sum", pool="light")
    assert waited == pytest.approx(10 * served.budget_s)  # counted, but not against it
    _nothing_failed(live)


def test_a_probe_that_is_shed_hands_its_turn_back(
    setup: Setup, start: Callable[..., Live], pool: ThreadPoolExecutor
) -> None:
    live = start(setup.home, setup, workers=1, queue=0)
    clock = FakeClock()
    served: Served = live.state.table.routes[FORECASTER].production
    served.breaker = CircuitBreaker(failures=1, reset=30.0, clock=clock)
    served.breaker.record_failure()
    clock.advance(30.0)
    assert served.breaker.state == "half_open"
    held = _detector(live, points=len(LIGHT_SCORE["values"]))
    busy = pool.submit(_post, live, setup.viewer, SCORE, LIGHT_SCORE)
    try:
        live_wait(lambda: held.holding == 1, "a score to hold the only thread")
        # the probe's refit finds no thread: shed, and the breaker is as it was
        _refused(_post(live, setup.deployer, FORECAST, FREE_REFIT), 503, "overloaded", "1")
        assert served.breaker.state == "half_open"
    finally:
        held.release.set()
    _by_model(busy.result())
    # the next request is the probe: it succeeds and closes the circuit
    _by_model(_post(live, setup.deployer, FORECAST, FREE_REFIT))
    assert served.breaker.state == "closed"


# ------------------------------------------------------------- starvation


def test_six_heavy_requests_starve_neither_light_requests_nor_healthz(
    setup: Setup, start: Callable[..., Live], pool: ThreadPoolExecutor
) -> None:
    """Six 100,000-point scores from one viewer, held on the heavy pool (two running,
    four waiting), while another token's light requests are answered by the model and
    /healthz answers; waiting an hour (on the server's clock) opens no breaker."""
    clock = FakeClock()
    live = start(setup.home, setup, token_heavy=6, clock=clock)
    held = _detector(live, points=10_000)
    heavy: list[Future[httpx.Response]] = [
        pool.submit(_post, live, setup.viewer, SCORE, HEAVY) for _ in range(6)
    ]
    heavy_pool = live.state.pools.heavy
    try:
        live_wait(
            lambda: held.holding == 2 and heavy_pool.queued == 4,
            "two heavy requests on the heavy pool's threads and four waiting",
            timeout=60.0,
        )
        clock.advance(3_600.0)
        with live.client(setup.deployer) as other:
            for _ in range(3):
                scored = _by_model(other.post(SCORE, json=LIGHT_SCORE))
                assert len(scored["scores"]) == len(LIGHT_SCORE["values"])
                _by_model(other.post(FORECAST, json={"series": SERIES, "h": 6}))
                _by_model(other.post(FORECAST, json=FREE_REFIT))
            assert httpx.get(f"{live.url}/healthz").json() == {"status": "ok"}
            assert other.get("/metrics").status_code == 200
        assert (held.holding, heavy_pool.queued) == (2, 4)  # still all there
        _nothing_failed(live)
    finally:
        held.release.set()
    for future in heavy:
        answer = _by_model(future.result())
        assert len(answer["scores"]) == len(HEAVY["values"])
    _nothing_failed(live)
    assert live.metric("modelphase_serve_shed_total") == 0
    assert live.metric("modelphase_serve_throttled_total") == 0
    # the four that waited did so for an hour of the server's clock, not held against
    # the model: they are in the queue-wait histogram, and answered by the model
    assert live.metric("modelphase_serve_queue_wait_seconds_sum", pool="heavy") >= 4 * 3_600.0
    assert live.metric("modelphase_serve_queue_wait_seconds_count", pool="heavy") >= 6


# ------------------------------------------------------ worker processes


def test_heavy_work_runs_in_worker_processes_at_a_lower_priority(
    setup: Setup, start: Callable[..., Live]
) -> None:
    live = start(setup.home, setup, heavy_processes=True, heavy_points=1_000)
    served: Served = live.state.table.routes[DETECTOR].production
    assert isinstance(served.predictor, ScorePredictor)
    real = served.predictor
    values = [10.0 + (i % 7) * 0.1 for i in range(1_000)] + [90.0]
    with live.client() as client:
        heavy = _by_model(client.post(SCORE, json={"values": values}))
        assert heavy["scores"] == real.score(values, None)[0]  # the same model, elsewhere
        served.predictor = WhereScorer(real)
        where = _by_model(client.post(SCORE, json={"values": values}))["scores"]
        light = _by_model(client.post(SCORE, json={"values": values[:10]}))["scores"]
    assert where[0] != os.getpid()  # not the server's process (this one)
    assert where[1] > os.nice(0)  # and behind it for the CPU
    assert light[0] == os.getpid()  # light work stays on the server's threads
    _nothing_failed(live)


def test_six_heavy_requests_in_worker_processes_starve_nobody(
    setup: Setup, start: Callable[..., Live], pool: ThreadPoolExecutor, tmp_path: Path
) -> None:
    """As above, with the heavy work in the worker processes (the server's default)."""
    clock = FakeClock()
    live = start(setup.home, setup, token_heavy=6, heavy_processes=True, clock=clock)
    served: Served = live.state.table.routes[DETECTOR].production
    assert isinstance(served.predictor, ScorePredictor)
    release = tmp_path / "release"
    served.predictor = FileHeldScorer(served.predictor, release, points=10_000)
    heavy = [pool.submit(_post, live, setup.viewer, SCORE, HEAVY) for _ in range(6)]
    heavy_pool = live.state.pools.heavy
    try:
        live_wait(
            lambda: heavy_pool.running == 2 and heavy_pool.queued == 4,
            "two heavy requests on the worker processes and four waiting",
            timeout=60.0,
        )
        clock.advance(3_600.0)
        with live.client(setup.deployer) as other:
            _by_model(other.post(SCORE, json=LIGHT_SCORE))
            _by_model(other.post(FORECAST, json=FREE_REFIT))
            assert httpx.get(f"{live.url}/healthz").json() == {"status": "ok"}
        assert (heavy_pool.running, heavy_pool.queued) == (2, 4)
        _nothing_failed(live)
    finally:
        release.touch()
    for future in heavy:
        assert len(_by_model(future.result())["scores"]) == len(HEAVY["values"])
    _nothing_failed(live)
    assert live.metric("modelphase_serve_shed_total") == 0


def live_wait(check: Callable[[], Any], what: str, timeout: float = 30.0) -> None:
    from serve.harness import wait_for

    wait_for(check, what=what, timeout=timeout)
