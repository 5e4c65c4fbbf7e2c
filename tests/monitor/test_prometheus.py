"""The monitor reading its actuals from a real Prometheus: the spec's target query run
afresh every pass (`now-12d` to `now`, on a grid aligned to its step), joined with what
the server logged, and the retrain trained on the same query."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pytest

from modelphase.frame import NS_PER_SECOND, parse_series_id
from modelphase.ingest import DatasetStore, ingest_panel
from modelphase.monitor import ACTED, Monitor
from modelphase.monitor.replay import forecast_bodies, post_forecasts, upto
from modelphase.registry import Registry
from modelphase.simulate import RegimeChange, simulate
from modelphase.spec import parse_spec
from modelphase.train import register_run, train
from monitor.conftest import SPEC, STEP, TRAIN_DAYS
from serve.harness import running, wait_for
from support.prometheus import PrometheusServer, write_openmetrics

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]

DAY = 86_400 * NS_PER_SECOND
HOUR = 3_600 * NS_PER_SECOND
AFTER_DAYS = 5 / 24  # the data ends five hours after the change, as the replay does


@pytest.fixture(scope="module")
def telemetry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, object, int]]:
    """Simulated telemetry with a regime change, its last sample a day before now
    (backfilled blocks must not reach Prometheus' head), served by a real Prometheus."""
    now = time.time_ns()
    end = now - now % HOUR - DAY
    days = TRAIN_DAYS + AFTER_DAYS
    start = end - int(days * DAY) + STEP
    change = start + TRAIN_DAYS * DAY
    sim = simulate(
        services=1, days=days, step=STEP, start=start, seed=3, events=False,
        regime_change=RegimeChange(start=change),
    )  # fmt: skip
    panel = sim.panel
    series = {}
    for i, uid in enumerate(panel.ids):
        lo, hi = panel.indptr[i], panel.indptr[i + 1]
        series[uid] = (dict(parse_series_id(uid)), panel.ds[lo:hi], panel.y[lo:hi])
    server = PrometheusServer(
        write_openmetrics(series), tmp_path_factory.mktemp("prometheus"), lookback_delta="59s"
    )
    with server.start():
        yield server.url, sim, change


def test_actuals_from_prometheus_drive_the_loop(
    telemetry: tuple[str, object, int], home: Path
) -> None:
    url, sim, change = telemetry
    full = sim.panel  # type: ignore[attr-defined]
    query = '{service="checkout"}'
    target = (
        f"target: {{prometheus: {{query: '{query}', start: now-12d, end: now, step: 15m, "
        f"url: '{url}'}}}}"
    )
    # the data ends 5 hours after the change, before the backtest's 6-hour span: the
    # retrain does not wait for more
    text = SPEC.format(dataset="0", delay="0s").replace("target: {dataset: 0}", target)
    spec = parse_spec(text)
    store = DatasetStore()
    first = upto(full, change - STEP)
    manifest = ingest_panel(first, store, {"kind": "test"}, now=datetime.now(UTC))
    reg = Registry()
    v1 = register_run(train(spec, store.load(manifest.id), dataset_id=manifest.id), reg)
    reg.promote("fleet", v1.version, "production")
    _, viewer = reg.create_token("replay", "viewer")
    _, deployer = reg.create_token("ops", "deployer")
    monitor = Monitor(reg, decisions=home / "decisions")  # actuals: the spec's target
    with running(None, home) as live:
        client = httpx.Client(base_url=live.url, headers={"authorization": f"Bearer {viewer}"})
        ops = httpx.Client(base_url=live.url, headers={"authorization": f"Bearer {deployer}"})
        t = change - STEP
        end = int(full.ds.max())
        while t + HOUR <= end:
            t += HOUR
            bodies = forecast_bodies(full, t, history=288, h=8)
            assert post_forecasts(client, "fleet", bodies).failed == 0
            wait_for(lambda: not live.state.caller.shadows, what="the shadow calls")
        # Prometheus holds every actual from the start, so the monitor judges once the
        # replay has caught up with them: degraded twice in a row, then it retrains
        live.state.log.flush()
        reports = [monitor.run_once(), monitor.run_once()]
        assert ops.post("/v1/reload").status_code == 200
        client.close()
        ops.close()
    joined = [r.models[0].evidence.get("actuals", {}).get("joined", 0) for r in reports]
    assert max(joined) > 0, [r.models[0].reasons for r in reports]
    assert any(r.exit_code == ACTED for r in reports), [
        (r.models[0].reasons, r.models[0].evidence.get("accuracy")) for r in reports
    ]
    retrained = [v for v in reg.versions("fleet") if v.tags.get("origin") == "monitor"]
    assert retrained
    source = store.manifest(retrained[0].dataset_id or "").source  # type: ignore[attr-defined]
    assert source["kind"] == "prometheus"
    assert np.isfinite(retrained[0].metrics["mase"])
    reg.close()
