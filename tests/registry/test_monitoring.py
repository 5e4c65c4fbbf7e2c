"""The monitor's tables in the registry: its state written by compare-and-set, the lease
that one monitor holds at a time, health verdicts, and the canary share and evidence on
alias moves; on SQLite and on a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modelphase.exceptions import PermissionDeniedError, StateConflictError, ValidationError
from modelphase.registry import Registry
from modelphase.registry.monitoring import MonitorState, MonitorStore
from registry.test_registry import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def reg(registry_url: str, tmp_path: Path, clock: Clock) -> Iterator[Registry]:
    with Registry(registry_url, artifacts=tmp_path / "artifacts", clock=clock) as r:
        for _ in range(3):
            r.register("m", b"artifact", flavor="external")
        r.promote("m", 1, "production")
        yield r


def test_state_is_written_by_compare_and_set(reg: Registry) -> None:
    store = MonitorStore(reg)
    fresh = store.state("m")
    assert (fresh.phase, fresh.revision) == ("idle", 0)
    first = store.save(MonitorState("m", phase="shadow", version=2, data={"run_id": "r1"}))
    assert first.revision == 1
    assert store.state("m") == first
    second = store.save(MonitorState(**{**first.__dict__, "phase": "canary", "step": 1}))
    assert (second.phase, second.step, second.revision) == ("canary", 1, 2)
    with pytest.raises(StateConflictError, match="another monitor"):
        store.save(first)  # written from a stale read
    with pytest.raises(StateConflictError):
        store.save(MonitorState("m"))  # a second first write
    assert store.state("m") == second
    assert [s.name for s in store.states()] == ["m"]


def test_one_monitor_holds_the_lease_until_it_expires(reg: Registry, clock: Clock) -> None:
    store = MonitorStore(reg)
    assert store.lease() is None
    assert store.acquire("a", ttl_s=60)
    assert not store.acquire("b", ttl_s=60)
    clock.tick(0.5)
    assert store.acquire("a", ttl_s=60)  # renewed: now until T0 + 90 s
    clock.tick(59 / 60)
    assert not store.acquire("b", ttl_s=60)
    clock.tick(2 / 60)
    assert store.acquire("b", ttl_s=60)  # a's expired: b takes over
    assert not store.acquire("a", ttl_s=60)
    held = store.lease()
    assert held is not None
    assert held["holder"] == "b"
    assert held["expired"] is False
    store.release("a")  # not a's to release
    assert store.lease() is not None
    store.release("b")
    assert store.acquire("a", ttl_s=60)


def test_health_verdicts_newest_first(reg: Registry, clock: Clock) -> None:
    store = MonitorStore(reg)
    store.record_health("m", 1, "healthy", {"reasons": []})
    clock.tick(1)
    store.record_health("m", 1, "degraded", {"reasons": ["drift: 5 of 6 series"], "x": 1.5})
    verdicts = store.health("m")
    assert [v.verdict for v in verdicts] == ["degraded", "healthy"]
    assert verdicts[0].evidence["reasons"] == ["drift: 5 of 6 series"]
    assert [v.verdict for v in store.health("m", limit=1)] == ["degraded"]


def test_alias_moves_carry_the_share_and_the_evidence(reg: Registry) -> None:
    reg.promote("m", 2, "canary", share=0.1, evidence={"stage": "shadow", "p": 0.01})
    assert reg.models()[0].shares == {"canary": 0.1}
    same = reg.promote("m", 2, "canary", share=0.1)
    assert same.action == "promote"  # nothing changed: the event that put it there
    step = reg.promote("m", 2, "canary", share=0.5, reason="next step")
    assert (step.action, step.share, step.from_version, step.to_version) == ("share", 0.5, 2, 2)
    assert reg.models()[0].shares == {"canary": 0.5}
    gone = reg.unset("m", "canary", reason="promoted", evidence={"stage": "canary 50%"})
    assert gone is not None
    assert (gone.action, gone.to_version) == ("unset", None)
    assert reg.unset("m", "canary") is None
    assert reg.live("m") == {"production": 1}
    history = reg.history("m", "canary")
    assert [e.action for e in history] == ["promote", "share", "unset"]
    assert history[0].evidence == {"stage": "shadow", "p": 0.01}
    assert history[-1].evidence == {"stage": "canary 50%"}
    with pytest.raises(ValidationError, match="fraction"):
        reg.promote("m", 2, "canary", share=1.5)


def test_a_viewer_reads_but_cannot_write_the_monitor_state(reg: Registry) -> None:
    _, secret = reg.create_token("dash", "viewer")
    viewer = reg.acting(reg.authenticate(secret))
    store = MonitorStore(viewer)
    assert store.state("m").phase == "idle"
    with pytest.raises(PermissionDeniedError):
        store.save(MonitorState("m", phase="shadow"))
    with pytest.raises(PermissionDeniedError):
        store.acquire("viewer", ttl_s=60)
