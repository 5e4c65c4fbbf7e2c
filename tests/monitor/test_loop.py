"""The loop end to end through a real server: a persisting regime change is detected,
a retrained version is shadowed, canaried and promoted by the monitor itself, every
move audited with its evidence; without a change nothing is done."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from modelphase.monitor import ACTED
from modelphase.registry.monitoring import MonitorStore
from monitor.conftest import CHANGE, HOUR, Replay

pytestmark = pytest.mark.slow


def test_a_regime_change_is_retrained_shadowed_canaried_and_promoted(
    replay: Callable[..., Replay],
) -> None:
    run = replay(change=True)
    acted = [(t, r) for t, r in run.reports if r.exit_code == ACTED]
    assert acted, [m.reasons for _, r in run.reports for m in r.models]
    # the trigger: degraded on accuracy; the retrain then waits for the span its
    # backtest scores (3 windows of 8 steps at 15 minutes: 6 hours of data)
    triggered, report = next(
        (t, r) for t, r in run.reports if r.models and r.models[0].phase == "retraining"
    )
    assert report.models[0].verdict == "degraded"
    assert any("median series' MASE" in reason for reason in report.models[0].reasons)
    assert any("retrain waits for" in reason for reason in report.models[0].reasons)
    retrained_at, first = acted[0][0], acted[0][1].models[0]
    assert any(a.startswith("retrained fleet v2") for a in first.actions)
    assert retrained_at - triggered >= 6 * HOUR - 15 * 60 * 10**9
    history = run.registry.history("fleet")
    moves = [(e.alias, e.action, e.to_version) for e in history]
    promoted = [e for e in history if e.alias == "production" and e.action == "promote"]
    # the first version, then the retrained one (and another if the change persists
    # beyond what the retrained version had seen)
    assert len(promoted) >= 2, moves
    new = promoted[-1].to_version
    assert new is not None
    assert new > 1
    assert ("shadow", "promote", new) in moves
    assert ("shadow", "unset", None) in moves
    assert ("canary", "promote", new) in moves
    assert ("canary", "unset", None) in moves
    assert promoted[-1].evidence is not None
    assert promoted[-1].evidence["outcome"] == "pass"
    # the candidate answered in shadow through its canary: judged on the same requests
    assert promoted[-1].evidence["evidence"]["test"].endswith(", paired")
    # the serving hook judged the canary's latency and fallback share as `canary judge`
    serving = promoted[-1].evidence["evidence"]["serving"]
    assert serving["verdict"] != "fail"
    assert [m["metric"] for m in serving["metrics"]] == ["latency_ms", "fallback_ratio"]
    assert serving["look"] >= 1
    assert serving["fast_burn"] is None
    assert promoted[-1].actor  # the monitor's principal, recorded
    assert run.registry.get("fleet", new).tags["origin"] == "monitor"
    assert run.registry.live("fleet") == {"production": new}
    store = MonitorStore(run.registry)
    state = store.state("fleet")
    assert state.phase == "idle"
    assert state.data["last"] == f"promoted v{new}"
    assert state.data["retrain_lag_data_s"] > 0
    verdicts = [h.verdict for h in store.health("fleet", limit=1000)]
    assert "degraded" in verdicts
    when = next(t for t, r in run.reports if r.models[0].actions)
    assert CHANGE < when <= CHANGE + 12 * HOUR  # found within half a day


def test_without_a_change_the_monitor_does_nothing(replay: Callable[..., Replay]) -> None:
    run = replay(change=False)
    assert run.reports
    assert all(not r.acted for _, r in run.reports), [
        ((t - CHANGE) / HOUR, m.reasons, m.actions, m.evidence.get("accuracy"))
        for t, r in run.reports
        for m in r.models
        if m.actions
    ]
    assert [e.alias for e in run.registry.history("fleet")] == ["production"]
    assert {m.verdict for _, r in run.reports for m in r.models} <= {"healthy", "unknown"}
