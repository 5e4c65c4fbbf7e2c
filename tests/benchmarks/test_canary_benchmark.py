"""The canary benchmark's pure parts: its scores, and the selection's replay of the
judge's rules (the silent canary, a critical failure, a pass that needs every critical
metric)."""

from __future__ import annotations

import sys
from types import ModuleType

import pytest

from support.scripts import BENCHMARKS, load_script


@pytest.fixture
def select(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # its sibling modules
    for name in ("_changerca", "_flagger", "_kayenta", "canary"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    return load_script("canary_select", BENCHMARKS / "canary_select.py", monkeypatch)


CFG = {
    "settings": {"success": ("decrease", 0.05, True), "latency": ("increase", 1.0, False)},
    "silent": 300,
}


def test_a_silent_canary_fails_at_the_grace_period(select: ModuleType) -> None:
    looks = [(60 * k, False, {}) for k in range(1, 10)]
    assert select.replay(looks, CFG) == ("fail", 300)


def test_a_critical_failure_fails_and_a_pass_needs_the_critical_metrics(
    select: ModuleType,
) -> None:
    ok = {"a_b:success": (5, 20, -0.01, 0.0), "a_b:latency": (5, 20, -0.1, 0.2)}
    assert select.replay([(60, True, ok)], CFG) == ("pass", None)
    dropped = dict(ok, **{"a_b:success": (5, 20, -0.7, -0.5)})
    assert select.replay([(60, True, ok), (120, True, dropped)], CFG) == ("fail", 120)
    no_success = dict(ok, **{"c_b:success": (0, 20, float("nan"), float("nan"))})
    # a critical metric without canary data: never a pass
    assert select.replay([(60, True, no_success)], CFG) == ("inconclusive", None)
    few = {"a_b:success": (2, 20, -0.01, 0.0), "a_b:latency": (2, 20, -0.1, 0.2)}
    assert select.replay([(60, True, few)], CFG) == ("inconclusive", None)


def test_pooled_scores(select: ModuleType) -> None:
    parts = [
        select.counts([(True, "fail", 120), (True, "pass", None), (False, "pass", None)]),
        select.counts([(True, "fail", 300), (False, "fail", 60), (False, "inconclusive", None)]),
    ]
    got = select.pooled(parts)
    assert (got["tp"], got["fp"]) == (2, 1)
    assert got["recall"] == pytest.approx(2 / 3)
    assert got["fpr"] == pytest.approx(1 / 3)
    assert got["ttd_median"] == 210.0
