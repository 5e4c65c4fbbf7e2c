"""Which accuracy statistic should trigger a retrain: an offline comparison on the
forecasts the loop benchmark logged, leaving one simulator seed out.

``python benchmarks/loop.py --no-act --dump DIR --json OUT.json`` serves each seed's
first version through a real server, with and without a regime change, and never
retrains (``monitoring: {retrain: false}``), so the production forecasts it logs do not
depend on any trigger. This script reads them (``DIR/observe-seed{S}-{change,none}.
parquet``, already joined with the actuals) and the versions' backtest MASE
(``OUT.json``), and replays the monitor's passes (every 2 simulated hours, from a day
before the change to 3 days after it; at each, the actuals that had arrived and the
monitor's MASE scale over them) for every statistic:

- ``pooled``: the MASE over all the window's points (the loop's 1-day report);
- ``median``: the median over series of each series' MASE (what ``Monitor._trigger``
  uses, :func:`modelphase.monitor.accuracy.median_series_mase`);
- ``second``: the second-worst series' MASE;

over windows of 3 h, 6 h, 12 h and 1 day, each divided by the version's backtest MASE,
against ratios 1.5 to 5 and 1 to 6 degraded passes in a row. Per statistic and window,
and over all of them at once, the parameters are chosen on two seeds (no false action:
no retrain without a change, none before it; then the most changes found, the
earliest; ties to the more cautious) and scored on the third. A few seconds.

    python benchmarks/loop_trigger.py --dump DIR --json OUT.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from modelphase.forecast.catalog import default_season
from modelphase.monitor.accuracy import (
    scaled_errors,
    series_mase,
    series_scales,
)
from modelphase.monitor.replay import upto

_spec = importlib.util.spec_from_file_location("loop_bench", Path(__file__).with_name("loop.py"))
assert _spec is not None
assert _spec.loader is not None
loop = importlib.util.module_from_spec(_spec)
sys.modules["loop_bench"] = loop
_spec.loader.exec_module(loop)

WINDOWS = {"3h": 3, "6h": 6, "12h": 12, "1d": 24}
STATISTICS = ("pooled", "median", "second")
RATIOS = (1.5, 2.0, 2.5, 3.0, 4.0, 5.0)
PERSISTS = (1, 2, 3, 4, 6)
Config = tuple[str, str, float, int]  # statistic, window, ratio, persist


def statistics(joined: pd.DataFrame, scales: Mapping[str, float]) -> dict[str, float]:
    """The three statistics of one window's joined forecasts."""
    err = scaled_errors(joined, scales)
    per = series_mase(joined, scales)
    if not len(per):
        return dict.fromkeys(STATISTICS, float("nan"))
    worst = np.sort(per.to_numpy())[::-1]
    return {
        "pooled": float(np.nanmean(err)),
        "median": float(per.median()),  # as median_series_mase
        "second": float(worst[1]) if len(worst) > 1 else float(worst[0]),
    }


def passes(joined: pd.DataFrame, full: Any, trained: float, days: float) -> pd.DataFrame:
    """Every pass's statistics, relative to the backtest MASE, by window."""
    season = default_season(loop.STEP)
    rows = []
    for k in range(-24, round(24 * days), 2):
        t = loop.CHANGE - loop.STEP + k * loop.HOUR
        scales = series_scales(upto(full, t), season)
        row: dict[str, Any] = {"hours": (t - loop.CHANGE) / loop.HOUR}
        for name, hours in WINDOWS.items():
            part = joined[(joined["ds"] > t - hours * loop.HOUR) & (joined["ds"] <= t)]
            got = statistics(part, scales) if len(part) >= 100 else {}
            for stat in STATISTICS:
                row[f"{stat}_{name}"] = got.get(stat, float("nan")) / trained
        rows.append(row)
    return pd.DataFrame(rows)


def first_retrain(trace: pd.DataFrame, column: str, ratio: float, persist: int) -> float | None:
    strikes = 0
    for hours, value in zip(trace["hours"], trace[column], strict=True):
        strikes = strikes + 1 if np.isfinite(value) and value > ratio else 0
        if strikes >= persist:
            return float(hours)
    return None


def outcome(
    traces: Mapping[tuple[int, bool], pd.DataFrame], seed: int, cfg: Config
) -> tuple[bool, float | None]:
    """(false action, hours to detection) of ``cfg`` on ``seed``."""
    column = f"{cfg[0]}_{cfg[1]}"
    change = first_retrain(traces[seed, True], column, cfg[2], cfg[3])
    none = first_retrain(traces[seed, False], column, cfg[2], cfg[3])
    false = none is not None or (change is not None and change < 0)
    return false, change if change is not None and change >= 0 else None


def choose(
    traces: Mapping[tuple[int, bool], pd.DataFrame], seeds: Sequence[int], grid: Sequence[Config]
) -> Config:
    def key(cfg: Config) -> tuple[int, int, float, float, int]:
        got = [outcome(traces, s, cfg) for s in seeds]
        found = [d for _, d in got if d is not None]
        return (sum(f for f, _ in got), -len(found), sum(found), -cfg[2], -cfg[3])

    return min(grid, key=key)


def separating(trace_change: pd.DataFrame, trace_none: pd.DataFrame, column: str) -> str:
    """The ratios that catch this seed's change in its first day with one pass and act
    on no pass without it: (largest without a change, largest in the change's day)."""
    healthy = pd.concat([trace_none[column], trace_change.loc[trace_change.hours < 0, column]])
    day = trace_change.loc[(trace_change.hours >= 0) & (trace_change.hours < 24), column]
    low, high = float(np.nanmax(healthy)), float(np.nanmax(day))
    return f"{low:.2f}-{high:.2f}" + ("" if high > low else " (none)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dump", type=Path, required=True, help="loop.py --dump DIR")
    parser.add_argument("--json", type=Path, required=True, help="loop.py --json OUT.json")
    args = parser.parse_args(argv)
    console = Console(width=max(Console().width, 160))
    console.print(f"$ python {' '.join(sys.argv)}")
    result = json.loads(args.json.read_text())
    seeds = [int(s) for s in result["seeds"]]
    days = float(result["days"])
    traces: dict[tuple[int, bool], pd.DataFrame] = {}
    for seed in seeds:
        trained = float(result["trained"][str(seed)]["mase"])
        for change in (True, False):
            label = f"observe-seed{seed}-{'change' if change else 'none'}"
            joined = pd.read_parquet(args.dump / f"{label}.parquet")
            full = loop._simulated(seed, change, days)
            traces[seed, change] = passes(joined, full, trained, days)
    columns = [f"{s}_{w}" for s in STATISTICS for w in WINDOWS]
    table = Table(
        title="ratios to the backtest MASE that separate: largest without a change - largest "
        "in the change's first day (one pass)",
        title_justify="left",
    )
    table.add_column("statistic")
    for seed in seeds:
        table.add_column(f"seed {seed}", justify="right")
    for column in columns:
        cells = [separating(traces[s, True], traces[s, False], column) for s in seeds]
        table.add_row(column, *cells)
    console.print(table)
    loo = Table(
        title="leave one seed out: chosen on the others -> outcome on the held-out seed",
        title_justify="left",
    )
    loo.add_column("statistic")
    for seed in seeds:
        loo.add_column(f"seed {seed} out", justify="right")
    loo.add_column("held-out changes found", justify="right")
    loo.add_column("held-out false actions", justify="right")
    choices: list[str | None] = [None, *columns]
    for choice in choices:
        if choice is None:
            grid = [
                (s, w, r, p) for s in STATISTICS for w in WINDOWS for r in RATIOS for p in PERSISTS
            ]
        else:
            stat, window = choice.split("_")
            grid = [(stat, window, r, p) for r in RATIOS for p in PERSISTS]
        cells, found, false = [], 0, 0
        for held in seeds:
            cfg = choose(traces, [s for s in seeds if s != held], grid)
            f, d = outcome(traces, held, cfg)
            found, false = found + (d is not None), false + f
            name = f"{cfg[0]}_{cfg[1]} " if choice is None else ""
            said = "false!" if f else f"+{d:.1f} h" if d is not None else "missed"
            cells.append(f"{name}{cfg[2]:g}x/{cfg[3]}: {said}")
        loo.add_row(choice or "all at once", *cells, str(found), str(false))
    console.print(loo)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
