"""The harness of the server tests: a registry with served models, and a real uvicorn
server over it on a loopback socket, in a thread, with the options `modelphase serve`
gives uvicorn; a clock the tests move by hand; and models held by an event."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from modelphase.anomaly import Alerter
from modelphase.registry import Registry
from modelphase.serve import ServeConfig, create_app
from modelphase.serve.predictors import ForecastPredictor, ScorePredictor
from modelphase.serve.server import uvicorn_options
from modelphase.train import TrainingRun, register_run
from test_train import SPEC

FORECASTER = "web-load"
DETECTOR = "anomalies"
#: the spec of v1; v2's differs by its canary plan (30% of traffic). The budget is far
#: beyond any call on a busy machine: a test that wants a timeout holds the model
V1_SPEC = SPEC.replace("horizon: 24", "horizon: 24\nlatency_budget: 120s")
V2_SPEC = V1_SPEC.replace("canary: {steps: [10, 50, 100]}", "canary: {traffic: 30}")
V2_SHARE = 0.30


@dataclass
class Runs:
    v1: TrainingRun
    v2: TrainingRun


@dataclass
class Setup:
    """A prepared home: what is registered and the tokens to call the server with."""

    home: Path
    viewer: str
    deployer: str
    revoked: str

    def registry(self) -> Registry:
        return Registry(f"sqlite:///{self.home / 'registry.db'}", artifacts=self.home / "artifacts")


def prepare(home: Path, runs: Runs) -> Setup:
    """Register v1 (production) and v2 (no alias) of the forecaster, the detector
    (production), and viewer, deployer and revoked viewer tokens."""
    home.mkdir(parents=True, exist_ok=True)
    reg = Registry(f"sqlite:///{home / 'registry.db'}", artifacts=home / "artifacts")
    with reg:
        v1 = register_run(runs.v1, reg)
        v2 = register_run(runs.v2, reg)
        assert (v1.version, v2.version) == (1, 2)
        reg.promote(FORECASTER, 1, "production")
        params = Alerter().get_params()
        reg.register(
            DETECTOR,
            json.dumps(params, sort_keys=True).encode(),
            flavor="modelphase.anomaly",
            model_class="Alerter",
            params=params,
            spec={"latency_budget": "120s"},  # as the forecaster's: never raced
        )
        reg.promote(DETECTOR, 1, "production")
        _, viewer = reg.create_token("dashboard", "viewer")
        _, deployer = reg.create_token("ci", "deployer")
        info, revoked = reg.create_token("old", "viewer")
        reg.revoke_token(info.id)
    return Setup(home, viewer, deployer, revoked)


class Live:
    """A uvicorn server running ``app`` in a thread, on a socket bound to loopback."""

    def __init__(self, app: FastAPI, setup: Setup | None) -> None:
        self.app = app
        self.setup = setup
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        config = uvicorn.Config(
            app, log_level="warning", access_log=False, lifespan="on", **uvicorn_options(app)
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    @property
    def state(self) -> Any:
        """The server's state: ``.table`` (what is served), ``.log``, ``.metrics``."""
        return self.app.state.serve

    def headers(self, token: str | None = None) -> dict[str, str]:
        assert self.setup is not None
        return {"authorization": f"Bearer {token or self.setup.viewer}"}

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.Client:
        """A client of the server that sends the viewer's token (or ``token``)."""
        headers = self.headers(token) if self.setup is not None else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30.0, **kwargs)

    def scrape(self) -> dict[str, list[tuple[dict[str, str], float]]]:
        """``/metrics`` parsed: sample name -> [(labels, value)]."""
        text = httpx.get(f"{self.url}/metrics", timeout=10.0).text
        out: dict[str, list[tuple[dict[str, str], float]]] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                out.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
        return out

    def metric(self, name: str, **labels: str) -> float:
        """The sum of the samples of ``name`` whose labels include ``labels``."""
        return sum(
            value
            for have, value in self.scrape().get(name, [])
            if all(have.get(k) == v for k, v in labels.items())
        )

    def start(self) -> None:
        self.thread.start()
        wait_for(lambda: _ready(self.url), what="the server to be ready", timeout=30.0)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30.0)
        assert not self.thread.is_alive(), "the server did not stop"
        self.sock.close()


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2.0).status_code == 200
    except httpx.TransportError:
        return False


#: how long a held model waits for its release before giving up: a bound so that a
#: failing test never hangs, never what decides an outcome
HOLD_BOUND_S = 120.0


class _Hold:
    """Calls that match wait on :attr:`release`; :attr:`holding` counts those waiting."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.holding = 0
        self._lock = threading.Lock()

    def hold(self) -> None:
        with self._lock:
            self.holding += 1
        try:
            self.release.wait(HOLD_BOUND_S)
        finally:
            with self._lock:
                self.holding -= 1


class HeldScorer(ScorePredictor):
    """The served detector, except that calls on ``points`` values or more wait for
    ``release`` and then answer zeros (shorter ones score for real)."""

    def __init__(self, inner: ScorePredictor, points: int = 0) -> None:
        self.__dict__.update(inner.__dict__)
        self.points = points
        self.held = _Hold()

    @property
    def release(self) -> threading.Event:
        return self.held.release

    @property
    def holding(self) -> int:
        return self.held.holding

    def score(self, values: Any, times_ns: Any) -> Any:
        if len(values) < self.points:
            return super().score(values, times_ns)
        self.held.hold()
        return [0.0] * len(values), [False] * len(values), 3.0


class HeldForecaster(ForecastPredictor):
    """The served forecaster, except that refits of the series ``uid`` wait for
    ``release`` (the others, and forecasts by id, answer at once)."""

    def __init__(self, inner: ForecastPredictor, uid: str = "held") -> None:
        self.__dict__.update(inner.__dict__)
        self.uid = uid
        self.held = _Hold()

    @property
    def release(self) -> threading.Event:
        return self.held.release

    @property
    def holding(self) -> int:
        return self.held.holding

    def from_values(self, values: Any, end_ns: int, h: int, levels: Any, unique_id: str) -> Any:
        if unique_id == self.uid:
            self.held.hold()
        return super().from_values(values, end_ns, h, levels, unique_id)


class FileHeldScorer(ScorePredictor):
    """As :class:`HeldScorer`, for worker processes (it is pickled there): calls on
    ``points`` values or more wait until the file ``release`` exists."""

    def __init__(self, inner: ScorePredictor, release: Path, points: int = 0) -> None:
        self.__dict__.update(inner.__dict__)
        self.release = release
        self.points = points

    def score(self, values: Any, times_ns: Any) -> Any:
        if len(values) < self.points:
            return super().score(values, times_ns)
        deadline = time.monotonic() + HOLD_BOUND_S
        while not self.release.exists() and time.monotonic() < deadline:
            time.sleep(0.01)  # a wait for the file, not a duration that decides anything
        return [0.0] * len(values), [False] * len(values), 3.0


class WhereScorer(ScorePredictor):
    """Scores every point with the id and the niceness of the process that ran it."""

    def __init__(self, inner: ScorePredictor) -> None:
        self.__dict__.update(inner.__dict__)

    def score(self, values: Any, times_ns: Any) -> Any:
        where = [float(os.getpid()), float(os.nice(0))]
        return (where * len(values))[: len(values)], [False] * len(values), 3.0


class FakeClock:
    """Monotonic seconds that move only when a test says so (:meth:`advance`)."""

    def __init__(self, start: float = 1_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


def wait_for(check: Callable[[], Any], *, what: str, timeout: float = 60.0) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` s (a
    bound for a condition that should come, never a duration that decides anything)."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.02)


#: the per-token limits of the servers of tests that are not about them (they send
#: hundreds of requests as fast as the machine goes); tests of admission set their own
UNTHROTTLED: dict[str, Any] = {
    "token_rate": 1e9,
    "token_burst": 10**9,
    "token_concurrency": 10**6,
    "token_heavy": 10**6,
}


@contextlib.contextmanager
def running(setup: Setup | None, home: Path, **options: Any) -> Iterator[Live]:
    """Serve the registry of ``home`` for the duration of the block."""
    reg = Registry(f"sqlite:///{home / 'registry.db'}", artifacts=home / "artifacts")
    # heavy work on threads, where a test can hold it with an Event (and no worker
    # process to start); tests of the worker processes ask for them
    options = {**UNTHROTTLED, "reload_interval": 0.2, "heavy_processes": False, **options}
    config = ServeConfig(home=home, **options)
    live = Live(create_app(reg, config), setup)
    try:
        live.start()
        yield live
    finally:
        if live.thread.is_alive():
            live.stop()
        reg.close()
