"""The loop survives what production does to it: a monitor killed mid-move or
mid-retrain (the next pass finishes the step, never twice), a second monitor on the
same registry (it waits for the lease), bad actuals (counted, never a crash), and a
rollback that stays possible after the monitor promoted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelphase.frame import Panel
from modelphase.monitor import ACTED, Monitor
from modelphase.monitor.loop import Monitor as LoopMonitor
from modelphase.registry import ModelVersion, Registry
from modelphase.registry.monitoring import MonitorStore
from modelphase.spec import ModelSpec
from monitor.conftest import DAY, HOUR, Replay, truncated, write_actuals
from serve.harness import wait_for
from support.cli import RunCli

pytestmark = pytest.mark.slow


def degraded(replay: Callable[..., Replay]) -> Replay:
    """A day after the change, served by the old version, judged degraded once (the
    next degraded pass retrains: the data does not move here, so without a delay)."""
    run = replay(change=True, days=1.0, passes=False, delay="0s")
    first = monitor_of(run).run_once()
    assert first.models[0].verdict == "degraded"
    assert not first.acted
    return run


def monitor_of(run: Replay, **options: Any) -> Monitor:
    return Monitor(
        run.registry,
        decisions=run.home / "decisions",
        actuals=lambda v, s: truncated(run.full, run.now["t"]),
        **options,
    )


def test_a_move_cut_short_is_finished_by_the_next_pass_never_twice(
    replay: Callable[..., Replay], monkeypatch: pytest.MonkeyPatch
) -> None:
    run = degraded(replay)
    real_apply = LoopMonitor._apply

    def killed(self: Monitor, name: str, pending: Any) -> None:
        raise KeyboardInterrupt  # the process dies after writing the move, before making it

    monkeypatch.setattr(LoopMonitor, "_apply", killed)
    with pytest.raises(KeyboardInterrupt):
        monitor_of(run).run_once()
    store = MonitorStore(run.registry)
    state = store.state("fleet")
    assert state.data.get("pending"), state
    assert "shadow" not in run.registry.live("fleet")
    store.release(monitor_of(run).holder)  # as the lease would expire
    monkeypatch.setattr(LoopMonitor, "_apply", real_apply)
    report = monitor_of(run).run_once()
    assert "finished the move an earlier pass was making" in report.models[0].actions
    assert not store.state("fleet").data.get("pending")
    shadow_moves = [e for e in run.registry.history("fleet", "shadow") if e.action == "promote"]
    assert len(shadow_moves) == 1


def test_a_retrain_cut_short_is_found_by_its_run_id_not_trained_again(
    replay: Callable[..., Replay],
) -> None:
    run = degraded(replay)
    first = monitor_of(run)
    trained: list[str] = []

    def dies_after_registering(spec: ModelSpec, panel: Panel, run_id: str) -> ModelVersion:
        trained.append(run_id)
        first._retrain(spec, panel, run_id)
        raise KeyboardInterrupt

    first.trainer = dies_after_registering
    with pytest.raises(KeyboardInterrupt):
        first.run_once()
    store = MonitorStore(run.registry)
    assert store.state("fleet").phase == "retraining"
    store.release(first.holder)

    def must_not_train(spec: ModelSpec, panel: Panel, run_id: str) -> ModelVersion:
        raise AssertionError("trained twice")

    report = monitor_of(run, trainer=must_not_train).run_once()
    assert report.exit_code == ACTED
    tagged = [v for v in run.registry.versions("fleet") if v.tags.get("monitor_run")]
    assert [v.tags["monitor_run"] for v in tagged] == trained
    assert run.registry.live("fleet")["shadow"] == tagged[0].version


def test_a_second_monitor_waits_for_the_lease(replay: Callable[..., Replay]) -> None:
    run = degraded(replay)
    store = MonitorStore(run.registry)
    assert store.acquire("the other monitor", ttl_s=600)
    report = monitor_of(run).run_once()
    assert not report.lease
    assert report.models == []
    assert report.exit_code == 0
    assert "the other monitor" in report.note
    assert run.registry.live("fleet") == {"production": 1}


def test_bad_actuals_are_counted_never_a_crash(replay: Callable[..., Replay]) -> None:
    run = degraded(replay)
    panel = truncated(run.full, run.now["t"])
    y = panel.y.copy()
    rng = np.random.default_rng(0)
    y[rng.random(len(y)) < 0.3] = np.nan  # a third of the scrapes lost
    holey = Panel(panel.ids, panel.indptr, panel.ds, y, step=panel.step)
    report = Monitor(
        run.registry, decisions=run.home / "decisions", actuals=lambda v, s: holey
    ).run_once()
    counts = report.models[0].evidence["actuals"]
    assert counts["bad"] > 0
    assert counts["joined"] > 0
    nothing = Monitor(
        run.registry, decisions=run.home / "decisions", actuals=lambda v, s: None
    ).run_once()
    assert nothing.models[0].verdict == "unknown"
    assert "no actuals yet" in nothing.models[0].reasons


def test_kill_9_mid_retrain_then_the_next_run_finishes(
    replay: Callable[..., Replay], tmp_path: Path
) -> None:
    run = degraded(replay)
    actuals = write_actuals(truncated(run.full, run.now["t"]), tmp_path / "actuals.csv")
    env = {k: v for k, v in os.environ.items() if k != "MODELPHASE_TOKEN"}
    command = [sys.executable, "-m", "modelphase", "monitor", "run", "--once", "--json",
               "--actuals", str(actuals), "--lease", "1s"]  # fmt: skip
    store = MonitorStore(run.registry)
    first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(
            lambda: first.poll() is not None or store.state("fleet").phase != "idle",
            what="the monitor to start retraining",
            timeout=120,
        )
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
    state = store.state("fleet")

    def lease_free() -> bool:
        held = store.lease()
        return held is None or bool(held["expired"])

    wait_for(lease_free, what="the killed monitor's lease to expire", timeout=30)
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode in (0, 5), second.stderr
    tagged = [v for v in run.registry.versions("fleet") if v.tags.get("monitor_run")]
    assert len(tagged) == 1, [v.tags for v in tagged]  # trained once, or once again
    if state.phase == "retraining":
        assert tagged[0].tags["monitor_run"] == state.data["run_id"]
    assert run.registry.live("fleet") == {"production": 1, "shadow": tagged[0].version}


def test_a_rollback_stays_possible_after_the_monitor_promoted(
    replay: Callable[..., Replay], cli: RunCli
) -> None:
    run = replay(change=True)
    live = run.registry.live("fleet")
    assert live["production"] > 1
    last = [e for e in run.registry.history("fleet", "production") if e.action == "promote"][-1]
    assert last.to_version == live["production"]
    done = cli("models", "rollback", "fleet", "--alias", "production")
    assert done.code == 0, done.stderr
    assert Registry().live("fleet")["production"] == last.from_version  # the one before


def test_a_stage_without_comparable_requests_fails_after_its_max_duration(
    replay: Callable[..., Replay],
) -> None:
    run = degraded(replay)
    report = monitor_of(run).run_once()  # degraded again: retrained, in shadow
    assert report.exit_code == ACTED
    assert "shadow" in run.registry.live("fleet")
    run.now["t"] += DAY + HOUR  # a day of actuals, and no request for the shadow to answer
    late = monitor_of(run).run_once()
    assert any(
        "no verdict within the plan's max_duration of 24 h" in a for a in late.models[0].actions
    )
    assert "shadow" not in run.registry.live("fleet")
