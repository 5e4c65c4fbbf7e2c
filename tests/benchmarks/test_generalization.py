"""The generalization benchmark's scores and set builders, on tiny inputs.

``benchmarks/`` is not a package and its scripts import their siblings by name (they run
as ``python benchmarks/x.py``), so the folder is put on ``sys.path`` for the import.
No forecaster runs here: statsforecast and AutoForecast are measured by the script.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from modelphase.frame import NS_PER_SECOND, Panel
from support.scripts import BENCHMARKS

MINUTE = 60 * NS_PER_SECOND


@pytest.fixture
def gen(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    for name in ("_gen_forecast", "m4"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    return importlib.import_module("_gen_forecast")


def test_seasons_follow_the_step(gen: ModuleType) -> None:
    assert gen.daily_season(5 * MINUTE) == 288
    assert gen.daily_season(60 * MINUTE) == 24
    assert gen.daily_season(7 * MINUTE) == 1  # does not divide a day
    assert gen.weekly_season(60 * MINUTE) == 168
    assert gen.weekly_season(24 * 60 * MINUTE) == 0


def test_mase_scale_matches_m4_and_falls_back_to_one_step(gen: ModuleType) -> None:
    m4 = sys.modules["m4"]
    x = np.random.default_rng(0).normal(size=100).cumsum()
    assert gen.mase_scale(x, 24) == pytest.approx(m4.mase_scale(x, 24), rel=1e-12)
    short = np.arange(30.0)  # under two seasons of 24: one-step naive
    assert gen.mase_scale(short, 24) == pytest.approx(1.0)
    periodic = np.tile([0.0, 2.0], 30)  # seasonal naive exact at season 2: one-step
    assert gen.mase_scale(periodic, 2) == pytest.approx(2.0)
    assert gen.mase_scale(np.ones(50), 2) == 0.0
    gappy = np.array([0.0, 1.0, np.nan, 3.0, 4.0])  # pairs with a gap are skipped
    assert gen.mase_scale(gappy, 1) == pytest.approx(1.0)


def test_mase_and_coverage_skip_unobserved_points(gen: ModuleType) -> None:
    y = np.array([1.0, np.nan, 3.0])
    f = np.array([2.0, 100.0, 3.0])
    assert gen.mase(y, f, 0.5) == pytest.approx(1.0)
    assert np.isnan(gen.mase(y, f, 0.0))
    test = {"a": y, "b": np.array([5.0, 6.0, 7.0])}
    lo = {"a": np.zeros(3), "b": np.array([5.0, 6.5, 0.0])}
    hi = {"a": np.full(3, 2.0), "b": np.full(3, 10.0)}
    # inside: a[0], b[0], b[2] of the five observed points
    assert gen.pooled_coverage(test, lo, hi) == pytest.approx(3 / 5)


def test_score_pools_tasks_and_leaves_constant_series_out(gen: ModuleType) -> None:
    step = 60 * MINUTE
    ds = np.arange(72, dtype=np.int64) * step
    items = [("flat", ds, np.ones(72)), ("ramp", ds, np.arange(72.0))]
    task = gen.Task("1h", Panel.from_series(items, step=step), 2, {
        "flat": np.array([1.0, 1.0]), "ramp": np.array([72.0, 73.0])})  # fmt: skip
    fc = {"mean": {"flat": np.ones(2), "ramp": np.array([73.0, 73.0])}}
    for lv in gen.LEVELS:
        fc[f"lo-{lv}"] = {u: v - 0.5 for u, v in fc["mean"].items()}
        fc[f"hi-{lv}"] = {u: v + 0.5 for u, v in fc["mean"].items()}
    s = gen.score("x", [task], [gen.Output(fc, 1.5, chosen=gen.Counter(a=2))])
    # ramp: scale 24 (daily season), mean error 0.5; flat has scale 0 and is left out
    assert s.mase == pytest.approx(0.5 / 24)
    assert (s.n_series, s.n_unscaled) == (1, 1)
    assert s.cover == {80: 0.75, 95: 0.75}
    assert (s.seconds, s.chosen, s.by_task) == (1.5, {"a": 2}, {"1h": pytest.approx(0.5 / 24)})


def test_split_last_and_fill_gaps(gen: ModuleType) -> None:
    ds = np.arange(6, dtype=np.int64) * MINUTE
    y = np.array([np.nan, 1.0, np.nan, 3.0, 4.0, 5.0])
    task = gen.split_last(Panel.from_series([("a", ds, y)], step=MINUTE), 2, "1m")
    np.testing.assert_array_equal(task.test["a"], [4.0, 5.0])
    np.testing.assert_array_equal(task.panel.series("a")[0], ds[:4])
    np.testing.assert_array_equal(task.train()["a"], [1.0, 1.0, 2.0, 3.0])


def write_nab(path: Path, times: pd.DatetimeIndex, values: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    stamps = times.strftime("%Y-%m-%d %H:%M:%S")
    pd.DataFrame({"timestamp": stamps, "value": values}).to_csv(path, index=False)


def test_nab_set_groups_by_step_snaps_and_skips(gen: ModuleType, tmp_path: Path) -> None:
    five = pd.date_range("2014-04-10 00:04", periods=4 * 288, freq="5min")
    # a repeat, a sample one minute off the grid, a missing one: snapped and gridded
    stamps = [*five[:10], *five[11:21], five[20], *five[21:]]
    stamps[30] += pd.Timedelta("1min")  # five[30], one minute late
    odd = pd.DatetimeIndex(stamps)
    write_nab(tmp_path / "data" / "a" / "five.csv", odd, np.arange(len(odd), dtype=float))
    hourly = pd.date_range("2014-01-01", periods=5 * 24, freq="h")
    write_nab(tmp_path / "data" / "b" / "hourly.csv", hourly, np.ones(len(hourly)))
    write_nab(tmp_path / "data" / "b" / "short.csv", hourly[:48], np.ones(48))
    seven = pd.date_range("2014-01-01", periods=2000, freq="7min")
    write_nab(tmp_path / "data" / "b" / "seven.csv", seven, np.ones(2000))
    fs = gen.nab_set(tmp_path)
    assert [(t.label, t.h, t.panel.ids) for t in fs.tasks] == [
        ("5m", 288, ["a/five"]), ("1h", 24, ["b/hourly"])]  # fmt: skip
    five_task = fs.tasks[0]
    ds, y = five_task.panel.series("a/five")
    assert len(ds) + 288 == 4 * 288  # the grid from the first to the last sample
    assert (np.diff(ds) == 5 * MINUTE).all()
    assert ds[0] % (5 * MINUTE) == 0  # snapped to the nearest 5 minutes since the epoch
    assert np.isnan(y[10])  # the missing sample stays a gap for modelphase
    assert np.isfinite(five_task.train()["a/five"]).all()
    notes = "\n".join(fs.notes)
    assert "skipped b/short: 2.0 days < 3" in notes
    assert "skipped b/seven: step 7m does not divide a day" in notes
    assert "a/five: 1 repeated timestamp(s) dropped" in notes


def test_fleet_set_mixes_histories_and_holds_out_a_clean_day(gen: ModuleType) -> None:
    step = 60 * MINUTE
    fs = gen.fleet_set([0], services=1, steps=[step], min_days=2, max_days=4)
    (task,) = fs.tasks
    assert task.h == 24
    assert task.panel.n_series == 6
    days = set((task.panel.sizes() // 24).tolist())
    assert days <= {2, 3, 4}
    assert len(days) > 1
    ends = {int(task.panel.series(u)[0][-1]) for u in task.panel.ids}
    assert len(ends) == 1  # every history ends where the held-out day starts
    again = gen.fleet_set([0], services=1, steps=[step], min_days=2, max_days=4).tasks[0]
    np.testing.assert_array_equal(again.panel.sizes(), task.panel.sizes())
    assert all(np.isfinite(y).all() and len(y) == 24 for y in task.test.values())
    assert "6 series" in fs.notes[0]


def test_peer_groups_give_mstl_the_weekly_season_where_history_allows(
    gen: ModuleType,
) -> None:
    step = 60 * MINUTE
    long_ds = np.arange(2 * 168 + 24, dtype=np.int64) * step
    items = [("long", long_ds, np.ones(len(long_ds))), ("short", long_ds[:100], np.ones(100))]
    task = gen.Task("1h", Panel.from_series(items, step=step), 24, {})
    groups = gen.peer_groups("MSTL", task)
    seasons = {tuple(ids): make().season_length for make, ids in groups}
    assert seasons == {("short",): [24], ("long",): [24, 168]}
    ((make, ids),) = gen.peer_groups("AutoETS", task)
    assert (make().season_length, ids) == (24, ["long", "short"])
    with pytest.raises(ValueError, match="unknown peer"):
        gen.peer_groups("Prophet", task)
