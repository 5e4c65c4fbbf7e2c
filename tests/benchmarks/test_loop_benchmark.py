"""The loop benchmark's pure parts: the offline retrain rule (which must be the
monitor's), the leave-one-seed-out choice and the timeline of an acting run.

``benchmarks/`` is not a package, so the script is imported by path.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from support.scripts import BENCHMARKS, load_script


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    return load_script("loop_benchmark", BENCHMARKS / "loop.py", monkeypatch)


def p(
    hours: float, low: float | None, *, trained: float = 0.2, judged: bool = True
) -> dict[str, Any]:
    """A pass whose trigger MASE (the median series') is ``low`` x the backtest MASE."""
    return {
        "hours": hours,
        "trigger_mase": None if low is None else low * trained,
        "trained_mase": trained,
        "judged_ratio": judged,
        "verdict": "healthy",
        "actions": [],
    }


def test_a_pass_is_degraded_when_the_trigger_mase_is_above_the_limit(bench: ModuleType) -> None:
    assert bench.degraded(p(0, 1.6), 1.5)
    assert not bench.degraded(p(0, 1.5), 1.5)  # strictly above, as the monitor
    assert not bench.degraded(p(0, 1.4), 1.5)
    assert not bench.degraded(p(0, None), 1.5)  # a NaN statistic never triggers
    assert not bench.degraded(p(0, 9.0, judged=False), 1.5)  # accuracy not judged


def test_the_first_retrain_waits_for_persist_degraded_passes_in_a_row(
    bench: ModuleType,
) -> None:
    passes = [p(0, 1.6), p(2, 1.0), p(4, 1.6), p(6, 2.1), p(8, 1.7)]
    assert bench.first_retrain(passes, 1.5, 1) == 0
    assert bench.first_retrain(passes, 1.5, 2) == 6  # the healthy pass at 2 h resets
    assert bench.first_retrain(passes, 1.5, 3) == 8
    assert bench.first_retrain(passes, 2.0, 1) == 6
    assert bench.first_retrain(passes, 2.0, 2) is None
    # "unknown" (accuracy not judged) resets the strikes as "healthy" does
    assert bench.first_retrain([p(0, 1.6), p(2, None), p(4, 1.6)], 1.5, 2) is None


def test_the_critical_ratio_is_where_the_retrain_starts_to_fire(bench: ModuleType) -> None:
    passes = [p(0, 1.6), p(2, 1.0), p(4, 1.6), p(6, 2.1), p(8, 1.7)]
    for persist in (1, 2, 3):
        crit = bench.critical_ratio(passes, persist)
        assert bench.first_retrain(passes, crit - 1e-9, persist) is not None
        assert bench.first_retrain(passes, crit, persist) is None
    assert bench.critical_ratio(passes, 1) == pytest.approx(2.1)
    assert bench.critical_ratio(passes, 3) == pytest.approx(1.6)


def test_leave_one_seed_out_chooses_on_the_other_seeds(bench: ModuleType) -> None:
    out = bench.Outcome
    # seed 2's no-change run would fire at 2.0x: the pair chosen without it is the
    # fastest, and with it the next one
    table = {pair: {s: out(None, None) for s in (0, 1, 2)} for pair in
             [(r, k) for r in bench.RATIOS for k in bench.PERSISTS]}  # fmt: skip
    for s in (0, 1, 2):
        table[2.0, 1][s] = out(4.0, 30.0 if s == 2 else None)
        table[3.0, 1][s] = out(6.0, None)
        table[4.0, 1][s] = out(6.0, None)
    assert bench.choose(table, [0, 1]) == (2.0, 1)
    assert bench.choose(table, [0, 2]) == (4.0, 1)  # a tie goes to the more cautious
    picks = bench.leave_one_out(table, [0, 1, 2])
    assert [(held, pair) for held, pair, _ in picks] == [
        (0, (4.0, 1)),
        (1, (4.0, 1)),
        (2, (2.0, 1)),
    ]
    assert picks[2][2].false  # held-out seed 2: the pair of the others acts without a change
    assert bench.most_chosen([pair for _, pair, _ in picks], table, [0, 1, 2]) == (4.0, 1)
    # a retrain before the change is a false action of the change run
    assert out(-3.0, None).false
    assert out(-3.0, None).detected is None


def test_the_timeline_of_an_acting_run(bench: ModuleType) -> None:
    passes = [
        {**p(-2, 1.0), "verdict": "degraded"},
        {**p(2, 1.0), "verdict": "degraded"},
        {**p(4, 1.0), "verdict": "degraded",
         "actions": ["retrained fleet v2 (ab)", "fleet v2 -> shadow"]},
        {**p(6, 1.0), "actions": ["fleet v2 -> canary at 10%"]},
        {**p(8, 1.0), "actions": ["rolled back fleet v2 from canary: worse"]},
        {**p(10, 1.0), "actions": ["promoted fleet v3 to production (was v1)"],
         "retrain_lag_data_s": 7200.0},
    ]  # fmt: skip
    got = bench.timeline(passes)
    assert (got["degraded"], got["degraded_before"], got["degraded_passes"]) == (2, 1, 3)
    assert (got["shadow"], got["canary"], got["promoted"], got["lag"]) == (4, 6, 10, 2.0)
    assert (got["retrains"], got["rollbacks"], got["actions"]) == (1, 1, 5)
