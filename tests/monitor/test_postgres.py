"""The loop with real processes on a shared PostgreSQL registry: ``modelphase serve``
answers the replayed requests and logs them, ``modelphase monitor run --once`` (a new
process every pass, as from cron) judges, retrains and rolls out, with a deployer's
token; ``monitor status`` and ``models health`` read back what it did."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelphase.decisions import read_decisions
from modelphase.monitor.replay import forecast_bodies, post_forecasts
from modelphase.registry import Registry
from monitor.conftest import CHANGE, DAY, HOUR, served_model, truncated, write_actuals
from serve.harness import wait_for
from support.net import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_the_loop_on_postgresql_with_real_processes(
    postgres_server: Any, home: Path, tmp_path: Path
) -> None:
    url = str(postgres_server.create_database())
    _, admin = Registry.bootstrap_admin(url, "bootstrap-admin")
    with Registry(url, token=admin) as reg:
        full = served_model(reg, change=True, days=1.5, seed=3)
        _, server_token = reg.create_token("server", "viewer")
        _, viewer = reg.create_token("replay", "viewer")
        _, deployer = reg.create_token("monitor", "deployer")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELPHASE_")}
    env |= {"MODELPHASE_HOME": str(home), "MODELPHASE_REGISTRY_URL": url}
    port = free_port()
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "modelphase", "serve", "--port", str(port), "--token",
         server_token, "--reload-interval", "0.2", "--token-rate", "100000"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    monitor_env = env | {"MODELPHASE_TOKEN": deployer}

    def ready() -> bool:
        assert server.poll() is None, (tmp_path / "server.log").read_text()
        try:
            return httpx.get(f"{base}/readyz", timeout=1.0).status_code == 200
        except httpx.TransportError:
            return False

    def monitor(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "modelphase", "monitor", *args],
            env=monitor_env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip

    codes, answered = [], 0
    try:
        wait_for(ready, what="modelphase serve to be ready", timeout=60)
        client = httpx.Client(base_url=base, headers={"authorization": f"Bearer {viewer}"})
        t, tick = CHANGE - 900 * 10**9, 0
        while t < CHANGE + 1.5 * DAY:
            t += HOUR
            tick += 1
            counts = post_forecasts(client, "fleet", forecast_bodies(full, t, history=288, h=8))
            assert counts.failed == 0
            answered += counts.answered
            if tick % 4 == 0:
                actuals = write_actuals(truncated(full, t), tmp_path / "actuals.csv")
                wait_for(  # the server's decision log holds every answer (flushed each second)
                    partial(_logged, home, answered), what="the decisions on disk", timeout=30
                )
                done = monitor("run", "--once", "--json", "--actuals", str(actuals))
                assert done.returncode in (0, 3, 5), done.stderr
                codes.append(done.returncode)
                report = json.loads(done.stdout)
                assert report["exit_code"] == done.returncode
                with Registry(url, token=deployer) as reg:  # the server sees the move
                    held = reg.live("fleet")
                    share = reg.models()[0].shares.get("canary")
                wait_for(
                    partial(_served, client, held, share), what="the server to follow", timeout=30
                )
        client.close()
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()
    assert 5 in codes, codes
    with Registry(url, token=deployer) as reg:
        live = reg.live("fleet")
        history = reg.history("fleet")
    assert live["production"] > 1, [(e.alias, e.action, e.to_version, e.reason) for e in history]
    assert {e.actor for e in history if e.reason.startswith("monitor")} == {"monitor"}
    status = monitor("status", "--json")
    assert status.returncode == 0, status.stderr
    models = json.loads(status.stdout)["models"]
    assert models[0]["name"] == "fleet"
    assert models[0]["verdict"] in ("healthy", "degraded")
    health = subprocess.run(
        [sys.executable, "-m", "modelphase", "models", "health", "fleet", "--json"],
        env=monitor_env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert health.returncode == 0, health.stderr
    verdicts = [v["verdict"] for v in json.loads(health.stdout)]
    assert "degraded" in verdicts


def _served(client: httpx.Client, held: dict[str, int], share: float | None) -> bool:
    route = client.get("/v1/models").json()["models"][0]
    versions = {a: v["version"] for a, v in route["aliases"].items()}
    return versions == held and (share is None or route["canary_share"] == share)


def _logged(home: Path, answered: int) -> bool:
    folder = home / "decisions"
    if not folder.exists():
        return False
    frame = read_decisions(folder)
    return int((frame["alias"] != "shadow").sum()) >= answered if len(frame) else False
