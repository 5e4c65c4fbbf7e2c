"""A replayed regime change through a real server: the simulator's telemetry, a model
trained before the change, the server answering forecast requests hour by hour and
logging them, and the monitor judging what it logged."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from modelphase.frame import NS_PER_SECOND, Panel
from modelphase.ingest import DatasetStore, ingest_panel
from modelphase.monitor import Monitor, MonitorReport
from modelphase.monitor.replay import forecast_bodies, post_forecasts, upto
from modelphase.registry import Registry
from modelphase.simulate import RegimeChange, simulate
from modelphase.simulate._simulate import DEFAULT_START
from modelphase.spec import parse_spec
from modelphase.train import register_run, train
from serve.harness import running, wait_for

DAY = 86_400 * NS_PER_SECOND
HOUR = 3_600 * NS_PER_SECOND
STEP = 15 * 60 * NS_PER_SECOND
TRAIN_DAYS = 8
CHANGE = DEFAULT_START + TRAIN_DAYS * DAY

SPEC = """
name: fleet
kind: forecast
target: {{dataset: {dataset}}}
frequency: 15m
horizon: 8
candidates:
  - model: SeasonalNaive
  - model: SeasonalWindowAverage
    params: {{season_length: 1d, window_size: 3}}
backtest: {{windows: 3, step: 8}}
monitoring:
  {{window: 6h, min_points: 40, cooldown: 4h, persist: 2, retrain_delay: {delay},
    accuracy: {{window: 6h, max_mase_ratio: 1.5}}}}
canary: {{steps: [50, 100], min_samples: 40, max_duration: 1d, shadow: {{min_samples: 40}}}}
"""


truncated = upto


def served_model(
    reg: Registry, *, change: bool, days: float, seed: int, delay: str = "auto"
) -> Panel:
    """Simulate ``days`` after a regime change (or none), train the spec (its
    ``retrain_delay`` ``delay``) on the data before it, register and promote it; return
    the whole simulated panel."""
    regime = RegimeChange(start=CHANGE) if change else None
    sim = simulate(
        services=1, days=TRAIN_DAYS + days + 1.5, step=STEP, seed=seed, events=False,
        regime_change=regime,
    )  # fmt: skip
    store = DatasetStore()
    first = truncated(sim.panel, CHANGE - STEP)
    manifest = ingest_panel(first, store, {"kind": "test"}, now=datetime.now(UTC))
    spec = parse_spec(SPEC.format(dataset=manifest.id, delay=delay))
    v1 = register_run(train(spec, store.load(manifest.id), dataset_id=manifest.id), reg)
    reg.promote("fleet", v1.version, "production")
    return sim.panel


def write_actuals(panel: Panel, path: Path) -> Path:
    """``panel`` as a long CSV (unique_id, ds, y), as a collector would append it."""
    lengths = np.diff(panel.indptr)
    pd.DataFrame(
        {
            "unique_id": np.repeat(panel.ids, lengths),
            "ds": pd.to_datetime(panel.ds, utc=True).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "y": panel.y,
        }
    ).to_csv(path, index=False)
    return path


@dataclass
class Replay:
    """The replay's pieces and what each monitor pass reported."""

    registry: Registry
    monitor: Monitor
    full: Panel
    home: Path
    now: dict[str, int]
    reports: list[tuple[int, MonitorReport]] = field(default_factory=list)


@pytest.fixture
def replay(home: Path) -> Iterator[Callable[..., Replay]]:
    """``replay(change=True, days=3)``: train before the change, serve, and replay
    ``days`` after it hour by hour, with a monitor pass every two hours (``delay``: the
    spec's ``retrain_delay``, for tests whose data stops moving)."""
    stack: list[Any] = []

    def run(
        *,
        change: bool,
        days: float = 3.0,
        seed: int = 3,
        passes: bool = True,
        delay: str = "auto",
    ) -> Replay:
        reg = Registry()
        stack.append(reg)
        full = served_model(reg, change=change, days=days, seed=seed, delay=delay)
        _, viewer = reg.create_token("replay", "viewer")
        _, deployer = reg.create_token("ops", "deployer")
        now = {"t": CHANGE - STEP}
        monitor = Monitor(
            reg, decisions=home / "decisions", actuals=lambda v, s: truncated(full, now["t"])
        )
        out = Replay(reg, monitor, full, home, now)
        server = running(None, home)
        live = server.__enter__()
        stack.append(server)
        client = httpx.Client(base_url=live.url, headers={"authorization": f"Bearer {viewer}"})
        ops = httpx.Client(base_url=live.url, headers={"authorization": f"Bearer {deployer}"})
        stack.extend([client, ops])
        t, tick = CHANGE - STEP, 0
        while t < CHANGE + days * DAY:
            t += HOUR
            tick += 1
            now["t"] = t
            counts = post_forecasts(client, "fleet", forecast_bodies(full, t, history=288, h=8))
            assert counts.failed == 0
            wait_for(lambda: not live.state.caller.shadows, what="the shadow calls")
            if passes and tick % 2 == 0:
                live.state.log.flush()
                out.reports.append((t, monitor.run_once()))
                assert ops.post("/v1/reload").status_code == 200
        live.state.log.flush()
        return out

    yield run
    for item in reversed(stack):
        if hasattr(item, "__exit__"):
            item.__exit__(None, None, None)
        else:
            item.close()
