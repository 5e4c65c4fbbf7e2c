"""The harness of the server tests: a registry with served models, and a real uvicorn
server over it on a loopback socket, in a thread."""

from __future__ import annotations

import contextlib
import json
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
from modelphase.train import TrainingRun, register_run
from test_train import SPEC

FORECASTER = "web-load"
DETECTOR = "anomalies"
#: the spec of v1; v2's differs by its canary plan (30% of traffic)
V1_SPEC = SPEC.replace("horizon: 24", "horizon: 24\nlatency_budget: 2s")
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
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
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


def wait_for(check: Callable[[], Any], *, what: str, timeout: float = 10.0) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.02)


@contextlib.contextmanager
def running(setup: Setup | None, home: Path, **options: Any) -> Iterator[Live]:
    """Serve the registry of ``home`` for the duration of the block."""
    reg = Registry(f"sqlite:///{home / 'registry.db'}", artifacts=home / "artifacts")
    config = ServeConfig(home=home, reload_interval=options.pop("reload_interval", 0.2), **options)
    live = Live(create_app(reg, config), setup)
    try:
        live.start()
        yield live
    finally:
        if live.thread.is_alive():
            live.stop()
        reg.close()
