"""The pre-warming benchmark's scoring rule on hand-made arrivals, the hybrid histogram
policy's branches, the dominance test, and the request types (the real traces are
read only when ``../shared/data/capacity`` is there)."""

from __future__ import annotations

import sys
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from support.scripts import BENCHMARKS, load_script


def _load(monkeypatch: pytest.MonkeyPatch, name: str) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # its sibling modules
    for sibling in ("_traces", "_arrivals", "prewarm"):
        monkeypatch.delitem(sys.modules, sibling, raising=False)
    return load_script(name, BENCHMARKS / f"{name}.py", monkeypatch)


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    return _load(monkeypatch, "prewarm")


@pytest.fixture
def arrivals(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    return _load(monkeypatch, "_arrivals")


def fn(bench: ModuleType, minutes: list[int], requests: list[int] | None = None) -> object:
    m = np.asarray(minutes, dtype=np.int64)
    r = np.asarray(requests if requests is not None else [1] * len(minutes), dtype=np.int64)
    return bench.arrivals.Function("f", m, r)


def score(
    bench: ModuleType,
    minutes: list[int],
    plan: tuple[int, int],
    n: int = 30,
    start: int = 10,
    requests: list[int] | None = None,
) -> dict[str, int]:
    s = bench.simulate(fn(bench, minutes, requests), n, start, lambda seen: plan)
    return s.to_dict()


def test_a_fixed_keep_alive_by_hand(bench: ModuleType) -> None:
    # keep-alive 3 from minute 12: warm 13..15; 14 is warm; from 14: warm 15..17, 20 is
    # cold; from 20: warm 21..23, then nothing up to the end (minute 29)
    s = score(bench, [12, 14, 20], (0, 3))
    assert s["invocation_minutes"] == 3
    assert s["cold_starts"] == 2  # 12 (the first ever) and 20
    # wasted: 13 (before 14), 15..17 (before 20), 21..23 (after 20)
    assert s["wasted_minutes"] == 1 + 3 + 3


def test_a_prewarm_window_is_cold_while_unloaded(bench: ModuleType) -> None:
    # pre-warm 2, keep-alive 2: after minute t, warm at t+3 and t+4 only
    assert score(bench, [11, 12], (2, 2))["cold_starts"] == 2  # 12 comes while unloaded
    s = score(bench, [11, 14], (2, 2))
    assert s["cold_starts"] == 1  # 14 = 11 + 3 is warm
    assert s["wasted_minutes"] == 0 + 2  # none before 14; 17, 18 after it
    s = score(bench, [11, 15], (2, 2))
    assert s["cold_starts"] == 1  # 15 = 11 + 4, the window's last minute, is warm
    assert s["wasted_minutes"] == 1 + 2  # 14 before it; 18, 19 after
    s = score(bench, [11, 16], (2, 2))
    assert s["cold_starts"] == 2  # 16 is past 11 + 4
    assert s["wasted_minutes"] == 2 + 2  # 14, 15 before it; 19, 20 after


def test_only_the_replayed_minutes_count(bench: ModuleType) -> None:
    # invoked at 5 and 8 (fit), keep-alive 5 from 8: warm 9..13, of which 10..13 are
    # replayed; 9 is the fit's
    s = score(bench, [5, 8], (0, 5))
    assert s == {
        "invocation_minutes": 0,
        "cold_starts": 0,
        "requests": 0,
        "wasted_minutes": 4,
        "cold_start_share": 0.0,
        "cold_request_share": 0.0,
    }
    # the first invocation ever, in the replay, is cold whatever the policy
    assert score(bench, [15], (0, 240))["cold_starts"] == 1
    # a window cut by the end of the trace
    assert score(bench, [27], (0, 10), n=30)["wasted_minutes"] == 2


def test_cold_requests_count_one_per_cold_minute(bench: ModuleType) -> None:
    s = score(bench, [12, 20], (0, 3), requests=[5, 7])
    assert s["requests"] == 12
    assert s["cold_starts"] == 2
    assert s["cold_request_share"] == pytest.approx(2 / 12)
    assert s["cold_start_share"] == pytest.approx(1.0)


def test_a_policy_sees_only_the_invocations_up_to_its_minute(bench: ModuleType) -> None:
    seen: list[list[int]] = []

    def spy(minutes: np.ndarray) -> tuple[int, int]:
        seen.append(minutes.tolist())
        return 0, 1

    bench.simulate(fn(bench, [3, 9, 12, 13]), 20, 10, spy)
    # 3 is skipped (its gap and its successor are in the fit); each call ends at its t
    assert seen == [[3, 9], [3, 9, 12], [3, 9, 12, 13]]


def test_dominance_needs_no_worse_on_both_and_better_on_one(bench: ModuleType) -> None:
    base = {"cold_starts": 10, "wasted_minutes": 100}
    assert bench.dominates({"cold_starts": 10, "wasted_minutes": 99}, base)
    assert bench.dominates({"cold_starts": 9, "wasted_minutes": 100}, base)
    assert not bench.dominates({"cold_starts": 10, "wasted_minutes": 100}, base)
    assert not bench.dominates({"cold_starts": 5, "wasted_minutes": 101}, base)
    scores = {
        "keep-alive 10": {"cold_starts": 20, "wasted_minutes": 100},
        "keep-alive 20": {"cold_starts": 10, "wasted_minutes": 150},
    }
    assert bench.margin({"cold_starts": 9, "wasted_minutes": 90}, scores) == pytest.approx(0.1)
    assert bench.margin({"cold_starts": 12, "wasted_minutes": 90}, scores) < 0


def test_the_hybrid_histogram_falls_back_to_the_range_without_a_pattern(
    bench: ModuleType,
) -> None:
    policy = bench.HybridHistogram()
    assert policy(np.array([7])) == (0, 240)  # no idle time yet
    # idle times spread over 120 bins: coefficient of variation below 2
    spread = np.cumsum(np.r_[0, np.arange(1, 121)])
    assert policy(spread) == (0, 240)


def test_the_hybrid_histogram_windows_from_head_and_tail(bench: ModuleType) -> None:
    policy = bench.HybridHistogram()
    # invoked every 6 minutes: every idle time is 5 (bin [5, 6)); head 5, tail 6:
    # pre-warm 4.5 -> 4 minutes unloaded, unload at 4.5 + 1.1 -> 6 (ceil): warm at +5, +6
    assert policy(np.arange(0, 60, 6)) == (4, 2)
    # consecutive minutes: idle 0, head 0, tail 1: kept alive for ceil(1.1) = 2 minutes
    assert policy(np.arange(20)) == (0, 2)


def test_the_hybrid_histogram_forecasts_when_idle_times_are_out_of_range(
    bench: ModuleType,
) -> None:
    policy = bench.HybridHistogram(range_=5)
    # idle times 9 and 11, both out of a 5-minute range: the last one (fewer than 5)
    # is the forecast x = 11: pre-warm 0.85 x = 9.35 -> 9, unload at 9.35 + 3.3 -> 13
    assert policy(np.array([0, 10, 22])) == (9, 4)


def test_request_types_and_the_grid(arrivals: ModuleType) -> None:
    types = arrivals.request_type(np.array([1024, 1023, 1]), np.array([8, 15, 300]))
    assert types.tolist() == ["c10g3", "c9g3", "c0g8"]
    times = pd.Series(
        [
            "2024-01-01 00:00:30",
            "2024-01-01 00:01:10",
            "2024-01-01 00:01:50",
            "2024-01-01 00:03:05",
            "2024-01-01 00:04:00",
            "2024-01-01 00:05:20",
        ]
    )
    found = arrivals.from_requests("t", times, np.array(["a", "a", "b", "a", "b", "a"]))
    # minutes 00:00 and 00:05 are partial and dropped: the grid is 00:01 .. 00:04
    assert found.n_minutes == 4
    assert found.start == pd.Timestamp("2024-01-01 00:01", tz="UTC")
    by_name = {f.name: (f.minutes.tolist(), f.requests.tolist()) for f in found.functions}
    assert by_name == {"t/a": ([0, 2], [1, 1]), "t/b": ([0, 3], [1, 1])}


def test_the_azure_traces_load(arrivals: ModuleType) -> None:
    root = arrivals.DATA / "azure_llm"
    if not (root / "AzureLLMInferenceTrace_code.csv").exists():
        pytest.skip("../shared/data/capacity is not here")
    trace = arrivals.azure("code", root)
    assert trace.n_minutes > 50
    assert trace.n_fit == int(0.7 * trace.n_minutes)
    assert len(trace.functions) > 20
    assert all(np.all(np.diff(f.minutes) > 0) for f in trace.functions)
