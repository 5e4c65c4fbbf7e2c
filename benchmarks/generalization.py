"""Generalization (issue 13): modelphase's default forecaster beside statsforecast peers
on sets it was not tuned on, and the anomaly protocol of ``_gen_anomaly.py``.

Forecasting sets (``_gen_forecast.py`` builds them and holds the scores):

- ``m4``: M4 Hourly, 414 series, h = 48, season 24, on an hourly clock from 2000-01-01.
- ``nab``: NAB's 35 development files as forecasting series: each file's last day at its
  own step (its modal gap; timestamps snapped to it, repeats dropped, gaps NaN via
  ``modelphase.ingest.prepare``) from everything before it, one panel per step. Files
  whose step does not divide a day, or with under 3 days, are skipped and named.
- ``fleet``: the simulator (``modelphase.simulate``), 3 seeds; per seed a panel of 18
  series at 5m (3 services) and one of 6 at 1m (1 service: at 1m a peer takes up to
  minutes a series), histories of 5 to 30 days mixed in each panel, the last day held
  out (its values from the same simulation without events).

Systems, side by side in one run, on the same training values: modelphase as
``modelphase forecast`` serves it (``AutoForecast(n_jobs=...).fit_predict(panel, h,
level=[80, 95])``, default parameters for every set), and statsforecast's
SeasonalNaive(daily), MSTL(daily, plus weekly for series with two weeks and h of
history), AutoTheta(daily) and AutoETS(min(daily, 24)) (statsforecast fits seasonal ETS
only up to a season of 24), each with its own intervals at 80 and 95 (``level=``). A
peer that fails on a series, or gives non-finite values, is replaced on it by
SeasonalNaive; the fallbacks are counted.

Scores: MASE (scale: in-sample seasonal naive at the daily season on the training part,
M4's official MASE on M4), mean over series; coverage at 80 and 95 pooled over all
held-out points; wall seconds. Targets: modelphase's MASE at most 0.90 of the best
peer's, coverage within 3 points of nominal.

    python benchmarks/generalization.py [--sets m4,nab,fleet,anomaly] [--n-jobs 2]
        [--quick] [--json PATH] [--fleet-seeds 3] [--fleet-services 3] [--fleet-services-1m 1]

``--fleet-services 0`` (or ``--fleet-services-1m 0``) leaves that step out, to run the
two steps of the fleet separately. ``--quick`` runs a small subset of every set (a
smoke run; its numbers mean little).
Timings are measurements, never test assertions; the load average is printed with them.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from _gen_forecast import (
    LEVELS,
    PEERS,
    ForecastSet,
    Output,
    Score,
    fleet_set,
    m4_set,
    nab_set,
    run_modelphase,
    run_peer,
    score,
)
from modelphase.frame import NS_PER_SECOND

SHARED = Path(__file__).resolve().parents[2] / "shared"
SETS = ("m4", "nab", "fleet", "anomaly")
MODELPHASE = "modelphase (auto)"
TARGET_RATIO = 0.90
TARGET_COVER_POINTS = 3.0


def build_set(name: str, args: argparse.Namespace) -> ForecastSet:
    if name == "m4":
        return m4_set(args.m4_dir, n=24 if args.quick else None)
    if name == "nab":
        files = sorted((args.nab_dir / "data").glob("*/*.csv"))
        return nab_set(args.nab_dir, files[::6] if args.quick else files)
    seeds = [0] if args.quick else list(range(args.fleet_seeds))
    max_days = 8 if args.quick else 30
    parts = []
    for minutes, services in ((5, args.fleet_services), (1, args.fleet_services_1m)):
        if services < 1:  # that step is left out (0 services)
            continue
        n = 1 if args.quick else services
        parts.append(fleet_set(seeds, n, [minutes * 60 * NS_PER_SECOND], max_days=max_days))
    if not parts:
        raise SystemExit("fleet: expected --fleet-services or --fleet-services-1m above 0")
    return ForecastSet(
        parts[0].name, [t for p in parts for t in p.tasks], [n for p in parts for n in p.notes]
    )


def run_set(fs: ForecastSet, n_jobs: int, console: Console) -> list[Score]:
    """Every system on every task of the set."""
    scores = []
    for system in (MODELPHASE, *PEERS):
        outputs: list[Output] = []
        for task in fs.tasks:
            with console.status(f"{fs.name}: {system} on {task.label} ({task.panel.n_series})"):
                if system == MODELPHASE:
                    outputs.append(run_modelphase(task, n_jobs))
                else:
                    outputs.append(run_peer(system, task, n_jobs))
            if len(fs.tasks) > 1:
                line = f"    {system} on {task.label}: {outputs[-1].seconds:.1f} s"
                console.print(line, highlight=False)
        name = system if system == MODELPHASE else PEERS[system]
        scores.append(score(name, fs.tasks, outputs))
        console.print(f"  {name}: {scores[-1].seconds:.1f} s", highlight=False)
    return scores


def best_peer(scores: Sequence[Score]) -> Score:
    peers = [s for s in scores if s.system != MODELPHASE and math.isfinite(s.mase)]
    return min(peers, key=lambda s: s.mase)


def pct(x: float) -> str:
    return f"{100 * x:.1f}%" if math.isfinite(x) else "-"


def set_table(fs: ForecastSet, scores: Sequence[Score]) -> Table:
    best = best_peer(scores)
    table = Table(title=f"{fs.name}: {fs.n_series} series", title_justify="left")
    cols = ["system", "MASE", "vs best peer", *(f"cover {lv}" for lv in LEVELS), "seconds"]
    for col in [*cols, "fallbacks", "chosen models"]:
        table.add_column(col, justify="left" if col in ("system", "chosen models") else "right")
    for s in sorted(scores, key=lambda s: s.mase):
        chosen = ", ".join(f"{k} {v}" for k, v in s.chosen.items())
        table.add_row(
            f"[bold]{s.system}[/bold]" if s.system == MODELPHASE else s.system,
            f"{s.mase:.3f}",
            f"{s.mase / best.mase:.2f}x",
            *(pct(s.cover[lv]) for lv in LEVELS),
            f"{s.seconds:.1f}",
            str(s.fallbacks),
            chosen or "-",
        )
    return table


def parts_table(fs: ForecastSet, scores: Sequence[Score]) -> Table:
    """MASE of each system on each task (step group, seed and step)."""
    table = Table(title=f"{fs.name}: MASE by panel", title_justify="left")
    table.add_column("panel")
    table.add_column("series", justify="right")
    for s in scores:
        table.add_column(s.system, justify="right")
    for task in fs.tasks:
        row = [f"{s.by_task[task.label]:.3f}" for s in scores]
        table.add_row(task.label, str(task.panel.n_series), *row)
    return table


def summary_table(results: dict[str, list[Score]]) -> Table:
    title = (
        f"summary: modelphase vs the best peer (target MASE ratio <= {TARGET_RATIO:.2f}, "
        f"coverage within {TARGET_COVER_POINTS:g} points)"
    )
    table = Table(title=title, title_justify="left")
    cols = ["set", "modelphase MASE", "best peer", "peer MASE", "ratio", "ratio ok"]
    cols += [f"cover {lv} (diff)" for lv in LEVELS] + ["cover ok"]
    for col in cols:
        table.add_column(col, justify="left" if col in ("set", "best peer") else "right")
    for name, scores in results.items():
        ours = next(s for s in scores if s.system == MODELPHASE)
        best = best_peer(scores)
        ratio = ours.mase / best.mase
        diffs = {lv: 100 * ours.cover[lv] - lv for lv in LEVELS}
        table.add_row(
            name,
            f"{ours.mase:.3f}",
            best.system,
            f"{best.mase:.3f}",
            f"{ratio:.2f}",
            yes(ratio <= TARGET_RATIO),
            *(f"{pct(ours.cover[lv])} ({diffs[lv]:+.1f})" for lv in LEVELS),
            yes(all(abs(d) <= TARGET_COVER_POINTS for d in diffs.values())),
        )
    return table


def yes(ok: bool) -> str:
    return "[green]yes[/green]" if ok else "[red]no[/red]"


def run_anomaly_part(args: argparse.Namespace, console: Console) -> dict[str, Any] | None:
    """The anomaly protocol of ``_gen_anomaly.py``, if that module is there."""
    try:
        from _gen_anomaly import print_anomaly, run_anomaly
    except ImportError as exc:
        console.print(f"[yellow]anomaly: benchmarks/_gen_anomaly.py is missing ({exc})[/]")
        return None
    result: dict[str, Any] = run_anomaly(args)
    print_anomaly(result, console)
    return result


def write_json(path: Path, report: dict[str, Any]) -> None:
    """The numbers as JSON; NaN (no score) as null."""

    def clean(x: Any) -> Any:
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if isinstance(x, dict):
            return {str(k): clean(v) for k, v in x.items()}
        if isinstance(x, list | tuple):
            return [clean(v) for v in x]
        return x

    path.write_text(json.dumps(clean(report), indent=2, default=str))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default=",".join(SETS), help=f"of {', '.join(SETS)}")
    parser.add_argument("--n-jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--quick", action="store_true", help="a small subset of each set")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write all numbers here")
    parser.add_argument("--m4-dir", type=Path, default=SHARED / "data" / "m4")
    parser.add_argument("--nab-dir", type=Path, default=SHARED / "data" / "nab")
    parser.add_argument("--fleet-seeds", type=int, default=3)
    parser.add_argument(
        "--fleet-services", type=int, default=3, help="at 5m, per seed (6 series); 0: no 5m"
    )
    parser.add_argument(
        "--fleet-services-1m", type=int, default=1, help="at 1m, per seed (6 series); 0: no 1m"
    )
    args = parser.parse_args(argv)
    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    unknown = [s for s in sets if s not in SETS]
    if unknown:
        parser.error(f"--sets: unknown {unknown}; expected some of {', '.join(SETS)}")

    console = Console(width=max(Console().width, 150))  # not cut when piped to a file
    console.print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, n_jobs "
        f"{args.n_jobs}, load average " + " ".join(f"{x:.2f}" for x in os.getloadavg()) + "; "
        + ", ".join(f"{p} {version(p)}" for p in ("modelphase", "statsforecast", "numpy"))
        + (" [yellow](--quick: subsets)[/]" if args.quick else "")
    )  # fmt: skip
    results: dict[str, list[Score]] = {}
    report: dict[str, Any] = {"quick": args.quick, "n_jobs": args.n_jobs, "sets": {}}
    for name in (s for s in sets if s != "anomaly"):
        t0 = time.perf_counter()
        fs = build_set(name, args)
        console.print(f"[bold]{fs.name}[/] (built in {time.perf_counter() - t0:.1f} s)")
        for note in fs.notes:
            console.print(f"  {note}", highlight=False)
        scores = run_set(fs, args.n_jobs, console)
        results[fs.name] = scores
        console.print(set_table(fs, scores))
        if len(fs.tasks) > 1:
            console.print(parts_table(fs, scores))
        report["sets"][name] = {
            "name": fs.name,
            "n_series": fs.n_series,
            "notes": fs.notes,
            "systems": [s.__dict__ for s in scores],
        }
        if args.json:  # after every set, so that a long run leaves its numbers behind
            write_json(args.json, report)
    if results:
        console.print(summary_table(results))
        console.print("load average after the run " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    if "anomaly" in sets:
        report["anomaly"] = run_anomaly_part(args, console)
    if args.json:
        write_json(args.json, report)
        console.print(f"numbers written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
