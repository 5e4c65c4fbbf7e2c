"""The replay policy's leave-one-trace-out selection: the grid, the criterion (risk is a
promise kept first, replica-minutes second) and that a fold never sees its own trace."""

from __future__ import annotations

import sys
from types import ModuleType

import pytest

from support.scripts import BENCHMARKS, load_script


@pytest.fixture
def select(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # its sibling modules
    for sibling in ("_traces", "_hpa", "_elasticity", "capacity", "capacity_select"):
        monkeypatch.delitem(sys.modules, sibling, raising=False)
    return load_script("capacity_select", BENCHMARKS / "capacity_select.py", monkeypatch)


def scores(under: float, replicas: float, minutes: float = 400.0) -> dict[str, float]:
    return {"minutes": minutes, "under_minutes": under, "replica_minutes": replicas}


def test_the_grid_starts_with_today_and_has_each_setting_once(select: ModuleType) -> None:
    settings = select.grid()
    assert settings[0] == select.TODAY
    assert len(settings) == len(set(settings)) == 3 * 3 * 2 * 3


def test_a_broken_promise_is_not_chosen_however_cheap(select: ModuleType) -> None:
    s = select.grid()[:3]
    pooled = {
        s[0]: {0.01: scores(3, 900), 0.05: scores(10, 700)},
        s[1]: {0.01: scores(5, 500), 0.05: scores(19, 400)},  # 5 > 0.01 x 400
        s[2]: {0.01: scores(4, 800), 0.05: scores(20, 600)},
    }
    assert select.choose(pooled, scores(10, 600), s) == s[2]  # the cheapest that keeps it
    # a tie in cost goes to fewer under-provisioned minutes, then to the grid's order
    pooled[s[0]] = {0.01: scores(4, 800), 0.05: scores(20, 600)}
    assert select.choose(pooled, scores(10, 600), s) == s[0]
    pooled[s[2]] = {0.01: scores(3, 800), 0.05: scores(20, 600)}
    assert select.choose(pooled, scores(10, 600), s) == s[2]


def test_with_no_promise_kept_the_closest_is_chosen(select: ModuleType) -> None:
    s = select.grid()[:2]
    pooled = {
        s[0]: {0.01: scores(12, 900), 0.05: scores(30, 700)},  # worst ratio 3
        s[1]: {0.01: scores(8, 999), 0.05: scores(40, 900)},  # worst ratio 2
    }
    assert select.choose(pooled, scores(10, 600), s) == s[1]


def test_a_fold_never_reads_the_trace_it_leaves_out(select: ModuleType) -> None:
    s = select.grid()[:2]
    good = {0.01: scores(2, 800), 0.05: scores(8, 600)}
    bad = {0.01: scores(50, 500), 0.05: scores(90, 400)}
    table = {
        "a": {s[0]: good, s[1]: bad},
        "b": {s[0]: good, s[1]: bad},
        "c": {s[0]: bad, s[1]: good},  # only c favours s[1]
    }
    hpa = {n: scores(10, 600) for n in table}
    folds = {f["left_out"]: f for f in select.leave_one_out(table, hpa, s)}
    assert folds["c"]["chosen"] == s[0]
    assert folds["c"]["scores"] == bad  # scored with what the others chose
    assert folds["a"]["chosen"] == s[0]
    table["a"] = {s[0]: bad, s[1]: good}
    table["b"] = {s[0]: bad, s[1]: good}
    folds = {f["left_out"]: f for f in select.leave_one_out(table, hpa, s)}
    assert folds["c"]["chosen"] == s[1]
