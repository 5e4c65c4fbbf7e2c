"""Drift benchmark: speed and power of the two-sample checks, peers side by side.

Wide table: 100,000 rows x 20 columns of standard normal data (reference and current
drawn independently, fixed seeds); in the current sample columns ``c0`` to ``c9`` are
shifted by 0.1 sd and ``c10`` to ``c19`` are not. Measured per seed, over ``--seeds``
seeds (so one lucky seed is not the evidence):

- modelphase ``compare_columns`` (defaults: alpha 0.05 Benjamini-Hochberg, min_effect
  0.05 sd): columns found of the 10, false positives of the other 10, effect sizes;
- scipy ``stats.ks_2samp`` on each column alone, flagged at p < 0.05 uncorrected and
  after Benjamini-Hochberg (``stats.false_discovery_control``);
- Evidently ``Report([DataDriftPreset()]).run(current, reference)`` (its defaults: above
  1,000 rows a column drifts when its Wasserstein distance over the reference's sd is at
  least 0.1).

Fleet: 1,000 series, one day each side at a 1-minute cadence (1,440 points per series
per side: yesterday is the reference, today the current); 20 series shifted by 0.5 sd
today, the other 980 unchanged. modelphase ``compare_series`` on the two long frames
(``unique_id, ds, y``; its time includes reading the frames), scipy ``ks_2samp`` per
series on arrays already split by series (its best case) with and without
Benjamini-Hochberg, and Evidently on the day pivoted wide (one column per series, a row
per minute: its preset has no notion of series), on the first seed only (``--evidently-
fleet-seeds``) because one run takes tens of seconds.

Seconds are the median over seeds of ``time.perf_counter`` around the call alone (data
generation apart), each tool warmed up once first. Target (issue): all 10 found, none of
the others, in at most 1 s on the project's 2-core machine. Timings here are
measurements, never test assertions.

    python benchmarks/drift.py [--seeds 5] [--rows 100000] [--series 1000]
        [--points 1440] [--skip-evidently] [--evidently-fleet-seeds 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table
from scipy import stats

from modelphase.drift import compare_columns, compare_series

COLUMNS, SHIFTED, SHIFT = 20, 10, 0.1
FLEET_SHIFTED, FLEET_SHIFT = 20, 0.5
ALPHA = 0.05


@dataclass
class Tally:
    """One tool over the seeds: per seed, how many drifted ones it found and how many
    healthy ones it flagged, and its seconds."""

    name: str
    found: list[int] = field(default_factory=list)
    false: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    note: str = ""

    def add(self, flags: Sequence[bool], drifted: int, seconds: float) -> None:
        self.found.append(int(sum(flags[:drifted])))
        self.false.append(int(sum(flags[drifted:])))
        self.seconds.append(seconds)


def _timed(run: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = run()
    return out, time.perf_counter() - t0


def _wide(seed: int, rows: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    names = [f"c{i}" for i in range(COLUMNS)]
    ref = pd.DataFrame({c: rng.normal(0.0, 1.0, rows) for c in names})
    cur = pd.DataFrame(
        {c: rng.normal(SHIFT if i < SHIFTED else 0.0, 1.0, rows) for i, c in enumerate(names)}
    )
    return ref, cur


def _fleet(seed: int, series: int, points: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Long frames, series sorted, ``s0000`` to ``s0019`` shifted in the current day."""
    rng = np.random.default_rng(seed)
    ids = np.repeat([f"s{i:04d}" for i in range(series)], points)
    day = pd.Timestamp("2026-01-05", tz="UTC")
    minutes = pd.date_range(day, periods=points, freq="1min")
    shift = np.repeat(
        np.r_[np.full(FLEET_SHIFTED, FLEET_SHIFT), np.zeros(series - FLEET_SHIFTED)], points
    )
    ref = pd.DataFrame(
        {"unique_id": ids, "ds": np.tile(minutes, series), "y": rng.normal(0, 1, len(ids))}
    )
    cur = pd.DataFrame(
        {
            "unique_id": ids,
            "ds": np.tile(minutes + pd.Timedelta(days=1), series),
            "y": rng.normal(0, 1, len(ids)) + shift,
        }
    )
    return ref, cur


def _scipy(ref: Sequence[np.ndarray], cur: Sequence[np.ndarray]) -> np.ndarray:
    return np.array([stats.ks_2samp(a, b).pvalue for a, b in zip(ref, cur, strict=True)])


def _evidently(ref: pd.DataFrame, cur: pd.DataFrame) -> list[bool]:
    from evidently import Report
    from evidently.presets import DataDriftPreset

    result = Report([DataDriftPreset()]).run(cur, ref).dict()
    flags = {}
    for metric in result["metrics"]:
        config = metric["config"]
        if config.get("type", "").endswith("ValueDrift"):
            # a p-value drifts below its threshold, a distance at or above it
            p_value = "p_value" in config["method"] or "K-S" in config["method"]
            value, threshold = metric["value"], config["threshold"]
            flags[config["column"]] = value < threshold if p_value else value >= threshold
    return [bool(flags[c]) for c in ref.columns]


def _has_evidently() -> bool:
    try:
        version("evidently")
    except PackageNotFoundError:
        return False
    return True


def run_wide(seeds: int, rows: int, evidently: bool) -> tuple[list[Tally], dict[str, float]]:
    ours = Tally("modelphase compare_columns")
    raw, bh = Tally("scipy ks_2samp per column, p < 0.05"), Tally("scipy ks_2samp + BH")
    evid = Tally("Evidently DataDriftPreset")
    effects_on, effects_off = [], []
    for seed in range(seeds):
        ref, cur = _wide(seed, rows)
        r = {c: ref[c].to_numpy() for c in ref.columns}
        c = {c: cur[c].to_numpy() for c in cur.columns}
        if seed == 0:  # warm up once each
            compare_columns(r, c)
            _scipy(list(r.values())[:2], list(c.values())[:2])
            if evidently:
                _evidently(ref.iloc[:2000], cur.iloc[:2000])
        out, sec = _timed(lambda r=r, c=c: compare_columns(r, c))
        ours.add([d.drifted for d in out], SHIFTED, sec)
        effects_on += [d.effect_size for d in out[:SHIFTED]]
        effects_off += [d.effect_size for d in out[SHIFTED:]]
        p, sec = _timed(lambda r=r, c=c: _scipy(list(r.values()), list(c.values())))
        raw.add(list(p < ALPHA), SHIFTED, sec)
        adjusted, sec_bh = _timed(lambda p=p: stats.false_discovery_control(p, method="bh"))
        bh.add(list(adjusted < ALPHA), SHIFTED, sec + sec_bh)
        if evidently:
            flags, sec = _timed(lambda ref=ref, cur=cur: _evidently(ref, cur))
            evid.add(flags, SHIFTED, sec)
    effects = {
        "on_mean": float(np.mean(effects_on)),
        "on_min": float(np.min(effects_on)),
        "off_max": float(np.max(effects_off)),
    }
    return [ours, raw, bh, *([evid] if evidently else [])], effects


def run_fleet(seeds: int, series: int, points: int, evidently_seeds: int) -> list[Tally]:
    ours = Tally("modelphase compare_series")
    raw, bh = Tally("scipy ks_2samp per series, p < 0.05"), Tally("scipy ks_2samp + BH")
    evid = Tally("Evidently DataDriftPreset, wide", note="")
    for seed in range(seeds):
        ref, cur = _fleet(seed, series, points)
        r = list(ref["y"].to_numpy().reshape(series, points))
        c = list(cur["y"].to_numpy().reshape(series, points))
        if seed == 0:
            compare_series(ref, cur)
            _scipy(r[:10], c[:10])
        out, sec = _timed(lambda ref=ref, cur=cur: compare_series(ref, cur))
        ours.add(list(out["drifted"]), FLEET_SHIFTED, sec)
        p, sec = _timed(lambda r=r, c=c: _scipy(r, c))
        raw.add(list(p < ALPHA), FLEET_SHIFTED, sec)
        adjusted, sec_bh = _timed(lambda p=p: stats.false_discovery_control(p, method="bh"))
        bh.add(list(adjusted < ALPHA), FLEET_SHIFTED, sec + sec_bh)
        if seed < evidently_seeds:
            wide_ref = pd.DataFrame(
                np.stack(r, axis=1), columns=[f"s{i:04d}" for i in range(series)]
            )
            wide_cur = pd.DataFrame(np.stack(c, axis=1), columns=wide_ref.columns)
            if seed == 0:
                _evidently(wide_ref.iloc[:, :20], wide_cur.iloc[:, :20])
            flags, sec = _timed(lambda a=wide_ref, b=wide_cur: _evidently(a, b))
            evid.add(flags, FLEET_SHIFTED, sec)
    if evidently_seeds:
        evid.note = f"{len(evid.seconds)} seed(s)"
        return [ours, raw, bh, evid]
    return [ours, raw, bh]


def _table(title: str, tallies: list[Tally], drifted: int, healthy: int) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("tool")
    table.add_column(f"found of {drifted}, per seed", justify="right")
    table.add_column("found", justify="right")
    table.add_column(f"false of {healthy}, per seed", justify="right")
    table.add_column("false", justify="right")
    table.add_column("seconds", justify="right")
    table.add_column("x ours", justify="right")
    base = statistics.median(tallies[0].seconds)
    for t in tallies:
        sec = statistics.median(t.seconds)
        n = len(t.seconds)
        table.add_row(
            t.name + (f" ({t.note})" if t.note else ""),
            " ".join(map(str, t.found)),
            f"{sum(t.found)}/{drifted * n}",
            " ".join(map(str, t.false)),
            f"{sum(t.false)}/{healthy * n}",
            f"{sec:.3f}",
            f"{sec / base:.1f}",
        )
    return table


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--points", type=int, default=1440, help="per series per side")
    parser.add_argument("--skip-evidently", action="store_true")
    parser.add_argument("--evidently-fleet-seeds", type=int, default=1)
    args = parser.parse_args(argv)
    evidently = not args.skip_evidently and _has_evidently()

    console = Console(width=max(Console().width, 160))  # not cut when piped to a file
    console.print(f"$ python {' '.join(sys.argv)}")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    versions = ", ".join(
        f"{p} {version(p)}"
        for p in ("numpy", "pandas", "scipy", *(["evidently"] if evidently else []))
    )
    console.print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, load average "
        f"{load}; {versions}"
    )
    if not evidently:
        console.print("Evidently: not measured (pip install -e '.[bench]', or --skip-evidently)")

    tallies, effects = run_wide(args.seeds, args.rows, evidently)
    console.print(
        _table(
            f"wide table: {args.rows:,} rows x {COLUMNS} columns, {SHIFTED} shifted by "
            f"{SHIFT} sd, {args.seeds} seeds",
            tallies,
            SHIFTED,
            COLUMNS - SHIFTED,
        )
    )
    console.print(
        f"modelphase effect sizes (reference sds): shifted columns mean "
        f"{effects['on_mean']:.3f}, smallest {effects['on_min']:.3f}; largest of the "
        f"unshifted {effects['off_max']:.3f} (min_effect 0.05)"
    )
    fleet = run_fleet(
        args.seeds, args.series, args.points, args.evidently_fleet_seeds if evidently else 0
    )
    console.print(
        _table(
            f"fleet: {args.series:,} series x {args.points:,} points a side (1-minute, one "
            f"day), {FLEET_SHIFTED} shifted by {FLEET_SHIFT} sd, {args.seeds} seeds",
            fleet,
            FLEET_SHIFTED,
            args.series - FLEET_SHIFTED,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
