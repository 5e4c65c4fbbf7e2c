"""Degrade, never break: a model that raises or overruns its budget is answered for by
the fallback, its circuit opens after repeated failures and a probe closes it again.

Faults are injected into the running server: the served version's predictor is
replaced by a subclass that raises or is held (never answers until the test ends), and
its breaker by one on a clock the test moves, so that nothing depends on how fast the
machine is: the breaker half-opens when the test says, and a held model overruns any
budget.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import pytest

from modelphase.serve.predictors import ForecastPredictor, ScorePredictor
from modelphase.serve.resilience import CircuitBreaker
from modelphase.serve.table import Served
from serve.harness import DETECTOR, FORECASTER, FakeClock, HeldForecaster, Live

SERIES = ['load{host="h0"}', 'load{host="h1"}']
FORECAST = f"/v1/models/{FORECASTER}/forecast"
#: three days of a daily cycle, hourly: the seasonal naive repeats the last day
DAILY = [float(10 + (i % 24)) for i in range(72)]
VALUES = {"values": DAILY, "h": 6, "end": "2026-03-01T00:00:00Z"}


class Failing(ForecastPredictor):
    """A forecaster whose every call raises."""

    def __init__(self, inner: ForecastPredictor) -> None:
        self.__dict__.update(inner.__dict__)

    def by_ids(self, ids: Sequence[str], h: int, levels: Sequence[float]) -> list[dict[str, Any]]:
        raise RuntimeError("injected failure")

    def from_values(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        raise RuntimeError("injected failure")


class FailingScorer(ScorePredictor):
    def __init__(self, inner: ScorePredictor) -> None:
        self.__dict__.update(inner.__dict__)

    def score(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("injected failure")


@pytest.fixture
def client(live: Live) -> Iterator[httpx.Client]:
    with live.client() as c:
        yield c


RESET_S = 30.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def served(live: Live, clock: FakeClock) -> Served:
    """The forecaster's production version in the running server, with a breaker that
    opens after 3 failures and probes once ``clock`` has moved 30 s on."""
    version: Served = live.state.table.routes[FORECASTER].production
    version.breaker = CircuitBreaker(failures=3, reset=RESET_S, clock=clock)
    return version


def _answer(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_errors_fall_back_open_the_circuit_and_a_probe_closes_it(
    live: Live, client: httpx.Client, served: Served, clock: FakeClock
) -> None:
    good = _answer(client.post(FORECAST, json={"series": SERIES[:1], "h": 6}))
    healthy = served.predictor
    assert isinstance(healthy, ForecastPredictor)
    served.predictor = Failing(healthy)

    # 1. from values: the seasonal naive of the request's own values
    first = _answer(client.post(FORECAST, json=VALUES))
    assert (first["answered_by"], first["fallback_reason"]) == ("fallback", "error")
    assert (first["model"], first["version"]) == (FORECASTER, 1)
    (item,) = first["forecasts"]
    assert item["mean"] == DAILY[-24:][:6]
    assert item["ds"][0] == "2026-03-01T01:00:00+00:00"
    assert set(item["intervals"]) == {"80", "95"}
    # 2. by id: the last good forecast the server gave for the series
    second = _answer(client.post(FORECAST, json={"series": SERIES[:1], "h": 4}))
    assert (second["answered_by"], second["fallback_reason"]) == ("fallback", "error")
    assert second["forecasts"][0]["mean"] == good["forecasts"][0]["mean"][:4]
    # 3. by id with nothing to fall back on: the server's fault, 503, not a 404
    third = client.post(FORECAST, json={"series": SERIES[1:], "h": 4})
    assert third.status_code == 503, third.text
    assert third.json()["error"] == "model_unavailable"
    assert third.headers["retry-after"] == "1"

    # three failures: the circuit is open and the model is not called
    assert served.breaker.state == "open"
    opened = _answer(client.post(FORECAST, json=VALUES))
    assert (opened["answered_by"], opened["fallback_reason"]) == ("fallback", "circuit_open")
    fc = {"model": FORECASTER, "version": "1"}
    assert live.metric("modelphase_serve_circuit_state", **fc, alias="production") == 2.0
    assert live.metric("modelphase_serve_inference_errors_total", **fc, reason="error") == 3.0
    assert live.metric("modelphase_serve_fallbacks_total", **fc, reason="error") == 2.0
    assert live.metric("modelphase_serve_fallbacks_total", **fc, reason="circuit_open") == 1.0
    assert live.metric("modelphase_serve_requests_total", **fc, outcome="fallback") == 3.0
    assert live.metric("modelphase_serve_prediction_coverage_ratio", model=FORECASTER) == 0.25
    with live.client() as c:
        listed = {m["name"]: m for m in c.get("/v1/models").json()["models"]}
    assert listed[FORECASTER]["aliases"]["production"]["circuit"] == "open"

    # just before the reset it is still open; after it, one probe goes through; it
    # fails, and the circuit opens again
    clock.advance(RESET_S - 0.001)
    assert served.breaker.state == "open"
    clock.advance(0.001)
    assert served.breaker.state == "half_open"
    probe = _answer(client.post(FORECAST, json=VALUES))
    assert probe["fallback_reason"] == "error"
    assert served.breaker.state == "open"

    # the model recovers: the next probe succeeds and closes the circuit
    served.predictor = healthy
    clock.advance(RESET_S)
    assert served.breaker.state == "half_open"
    closed = _answer(client.post(FORECAST, json=VALUES))
    assert (closed["answered_by"], closed["fallback_reason"]) == ("model", None)
    assert served.breaker.state == "closed"
    assert live.metric("modelphase_serve_circuit_state", **fc, alias="production") == 0.0


def test_a_model_over_its_budget_is_answered_by_the_fallback(
    live: Live, client: httpx.Client, served: Served
) -> None:
    healthy = served.predictor
    assert isinstance(healthy, ForecastPredictor)
    held = HeldForecaster(healthy, uid="request")  # never answers while the test runs
    served.predictor = held
    served.budget_s = 0.05
    try:
        answer = _answer(client.post(FORECAST, json=VALUES))
        assert (answer["answered_by"], answer["fallback_reason"]) == ("fallback", "timeout")
        assert answer["forecasts"][0]["mean"] == DAILY[-24:][:6]
        fc = {"model": FORECASTER, "version": "1"}
        assert live.metric("modelphase_serve_inference_errors_total", **fc, reason="timeout") == 1
        assert live.metric("modelphase_serve_fallbacks_total", **fc, reason="timeout") == 1.0
        # the overrunning call keeps its thread until it returns, and says so
        assert live.metric("modelphase_serve_pool_running", pool="light") == 1.0
        # by id is a lookup on the event loop: never slow, never a timeout
        by_id = _answer(client.post(FORECAST, json={"series": SERIES, "h": 2}))
        assert by_id["answered_by"] == "model"
    finally:
        held.release.set()


def test_a_failing_detector_is_answered_by_a_zscore(live: Live, client: httpx.Client) -> None:
    version: Served = live.state.table.routes[DETECTOR].production
    assert isinstance(version.predictor, ScorePredictor)
    version.predictor = FailingScorer(version.predictor)
    values = [10.0 + (i % 7) * 0.1 for i in range(100)] + [None, 500.0]
    answer = _answer(client.post(f"/v1/models/{DETECTOR}/score", json={"values": values}))
    assert (answer["answered_by"], answer["fallback_reason"]) == ("fallback", "error")
    assert len(answer["scores"]) == len(answer["anomalies"]) == len(values)
    assert answer["anomalies"][-1] is True
    assert answer["scores"][-2] is None  # the missing point
    assert answer["anomalies"][-2] is False
    labels = {"model": DETECTOR, "version": "1", "reason": "error"}
    assert live.metric("modelphase_serve_fallbacks_total", **labels) == 1.0
