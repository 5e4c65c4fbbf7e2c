"""Autoscaling replay benchmark: modelphase's capacity policy, the Kubernetes HPA, the
PHPA and a static count on the capacity traces of ``../shared/data/capacity``.

Protocol (README.md there; rules in ``_traces.py``): per trace, a per-minute demand;
the first 70% of the minutes fit, the rest is replayed minute by minute; one replica
holds ``C = p99(fit demand) / 10``; a replica asked for at minute ``t`` serves from
``t + 2`` (start-up delay 2 minutes) and every policy is scored by that rule
(``_elasticity.supply``). A decision at ``t`` sees the minutes before ``t`` only.
Scored minutes: those served by requests made after the fit part (the replay's first
2 minutes are not scored, for every policy alike). Side by side, on the same demand:

- ``hpa``: the Kubernetes HPA (``_hpa.py``), target 80% of ``C`` per ready pod, 10%
  tolerance, 5-minute scale-down stabilisation, default scale-up rate, evaluated once
  a minute; run from the trace's first minute (the fit part warms it up);
- ``hpa (target 100%)``: the same at a target of the full capacity;
- ``phpa``: the PHPA's linear regression (history 6 evaluations, look-ahead 2 minutes)
  over the same HPA at 80%;
- ``static p99``: ``ceil(p99(fit demand) / C)`` replicas throughout (10 by the rule);
- ``modelphase (risk r)``: ``modelphase capacity replay --input LONG.csv --freq 1m
  --train-until T --capacity C --startup 2m --risk r --output OUT.csv`` as a
  subprocess (skipped, said so, when the command is missing); r = 0.01 and 0.05.

    python benchmarks/capacity.py [--data ../shared/data/capacity] [--per-type]
        [--json OUT] [--work /tmp/capbench]

Printed per trace and pooled over traces: under-provisioned minutes, replica-minutes,
both as ratios to ``hpa``, idle replica-minutes, SPEC RG accuracy_U / accuracy_O
(replicas), timeshare_U / timeshare_O, and whether the issue's target holds against
``hpa``: at least 50% fewer under-provisioned minutes at no more than 10% more
replica-minutes, or no more under-provisioned minutes at 20% fewer replica-minutes.
These are development-set numbers.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import track
from rich.table import Table

import _elasticity as elasticity
import _hpa as hpa
import _traces as traces

STARTUP = 2
RISKS = (0.01, 0.05)
BASE = "hpa"
WORK = Path("/tmp/capbench")


class SkippedError(Exception):
    """A policy that could not run; the message says why."""


def rfc3339(ts: pd.Timestamp) -> str:
    return pd.Timestamp(ts).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def run_static(trace: traces.Trace) -> np.ndarray:
    fit = trace.demand.to_numpy()[: trace.n_fit]
    r = max(1, math.ceil(float(np.percentile(fit, 99)) / trace.capacity - 1e-9))
    return np.full(len(trace.demand), r, dtype=np.int64)


def modelphase_command() -> list[str]:
    exe = shutil.which("modelphase")
    if exe is None:
        raise SkippedError("the `modelphase` command is not on PATH")
    probe = subprocess.run(
        [exe, "capacity", "replay", "--help"], capture_output=True, text=True, check=False
    )
    if probe.returncode != 0:
        raise SkippedError("`modelphase capacity replay` is missing (its --help failed)")
    return [exe, "capacity", "replay"]


def run_modelphase(trace: traces.Trace, risk: float, work: Path) -> np.ndarray:
    command = modelphase_command()
    folder = work / trace.name.replace("/", "_")
    folder.mkdir(parents=True, exist_ok=True)
    long = pd.DataFrame(
        {
            "unique_id": trace.name,
            "ds": [rfc3339(ts) for ts in trace.demand.index],
            "y": trace.demand.to_numpy(),
        }
    )
    source, out = folder / "input.csv", folder / f"replicas_risk{risk}.csv"
    long.to_csv(source, index=False)
    args = [
        *("--input", str(source), "--freq", "1m", "--train-until", rfc3339(trace.fit_end)),
        *("--capacity", repr(trace.capacity), "--startup", f"{STARTUP}m"),
        *("--risk", str(risk), "--output", str(out)),
    ]
    done = subprocess.run(
        [*command, *args], capture_output=True, text=True, check=False, timeout=900
    )
    if done.returncode != 0:
        raise SkippedError(f"exit {done.returncode}: {done.stderr.strip()[-300:]}")
    got = pd.read_csv(out)
    ds = pd.to_datetime(got["ds"], utc=True, format="ISO8601")
    by_ds = pd.Series(got["replicas"].to_numpy(float), index=ds)
    wanted = trace.demand.index[trace.n_fit :]
    missing = wanted.difference(by_ds.index)
    if len(missing):
        raise SkippedError(f"{len(missing)} replay minutes have no replicas, e.g. {missing[0]}")
    asked = np.full(len(trace.demand), np.nan)
    asked[trace.n_fit :] = by_ds.reindex(wanted).to_numpy()
    return asked


def policies(work: Path) -> dict[str, Callable[[traces.Trace], np.ndarray]]:
    def run_hpa(utilisation: float, predictor: bool = False) -> Callable[..., np.ndarray]:
        def run(trace: traces.Trace) -> np.ndarray:
            p = hpa.linear_predictor(6, 60.0 * STARTUP) if predictor else None
            return hpa.simulate(
                trace.demand.to_numpy(),
                trace.capacity,
                utilisation=utilisation,
                startup=STARTUP,
                predictor=p,
            ).astype(float)

        return run

    table: dict[str, Callable[[traces.Trace], np.ndarray]] = {
        BASE: run_hpa(0.8),
        "hpa (target 100%)": run_hpa(1.0),
        "phpa": run_hpa(0.8, predictor=True),
        "static p99": lambda tr: run_static(tr).astype(float),
    }

    def ours(risk: float) -> Callable[[traces.Trace], np.ndarray]:
        return lambda trace: run_modelphase(trace, risk, work)

    for risk in RISKS:
        table[f"modelphase (risk {risk})"] = ours(risk)
    return table


def scored(trace: traces.Trace, asked: np.ndarray) -> dict[str, Any]:
    first = trace.n_fit + STARTUP
    serving = elasticity.supply(asked, STARTUP)
    return elasticity.score(trace.demand.to_numpy()[first:], serving[first:], trace.capacity)


def meets_target(m: dict[str, Any], base: dict[str, Any]) -> bool:
    fewer = m["under_minutes"] <= 0.5 * base["under_minutes"]
    cheaper = m["replica_minutes"] <= 0.8 * base["replica_minutes"]
    return bool(
        (fewer and m["replica_minutes"] <= 1.1 * base["replica_minutes"])
        or (m["under_minutes"] <= base["under_minutes"] and cheaper)
    )


def pooled(per_trace: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Sums over the traces a policy ran on (all of them, else it is left out)."""
    names = set.intersection(*(set(v) for v in per_trace.values()))
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        rows = [v[name] for v in per_trace.values()]
        n = sum(r["minutes"] for r in rows)
        out[name] = {
            k: sum(r[k] for r in rows)
            for k in ("minutes", "under_minutes", "idle_replica_minutes", "replica_minutes")
        }
        for k in ("accuracy_U", "accuracy_O", "timeshare_U", "timeshare_O"):
            out[name][k] = sum(r[k] * r["minutes"] for r in rows) / n
        out[name]["seconds"] = sum(r.get("seconds", 0.0) for r in rows)
    return out


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else ("1.00" if a == b else "inf")


def render(title: str, results: dict[str, dict[str, Any]], order: list[str]) -> Table:
    table = Table(title=title)
    columns = (
        "policy", "under min", "/ hpa", "replica-min", "/ hpa", "idle r-min",
        "acc_U", "acc_O", "ts_U", "ts_O", "target", "s",
    )  # fmt: skip
    for col in columns:
        table.add_column(col, justify="left" if col == "policy" else "right")
    base = results.get(BASE)
    for name in order:
        if name not in results:
            continue
        m = results[name]
        table.add_row(
            name,
            str(m["under_minutes"]),
            ratio(m["under_minutes"], base["under_minutes"]) if base else "-",
            str(m["replica_minutes"]),
            ratio(m["replica_minutes"], base["replica_minutes"]) if base else "-",
            f"{m['idle_replica_minutes']:.0f}",
            f"{m['accuracy_U']:.3f}",
            f"{m['accuracy_O']:.3f}",
            f"{m['timeshare_U']:.3f}",
            f"{m['timeshare_O']:.3f}",
            ("yes" if meets_target(m, base) else "no") if base and name != BASE else "-",
            f"{m.get('seconds', 0.0):.1f}",
        )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=traces.DATA)
    parser.add_argument("--per-type", action="store_true", help="Alibaba per request type too")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--work", type=Path, default=WORK, help="scratch for the CLI's files")
    args = parser.parse_args()
    console = Console()
    if not console.is_terminal:
        console = Console(width=max(console.width, 150))
    loaded = traces.load_all(args.data, per_type=args.per_type)
    table = policies(args.work)
    order = list(table)
    per_trace: dict[str, dict[str, dict[str, Any]]] = {}
    skipped: dict[str, dict[str, str]] = {}
    rules: dict[str, dict[str, Any]] = {}
    jobs = [(tr, name) for tr in loaded for name in table]
    for trace, name in track(jobs, description="replaying", console=console):
        rules[trace.name] = {
            "minutes": len(trace.demand),
            "fit_minutes": trace.n_fit,
            "train_until": rfc3339(trace.fit_end),
            "capacity": trace.capacity,
            "unit": trace.unit,
        }
        start = time.perf_counter()
        try:
            asked = table[name](trace)
        except SkippedError as why:
            skipped.setdefault(trace.name, {})[name] = str(why)
            continue
        m = scored(trace, asked) | {"seconds": time.perf_counter() - start}
        per_trace.setdefault(trace.name, {})[name] = m
    for trace in loaded:
        r = rules[trace.name]
        title = (
            f"{trace.name}: {r['minutes']} min, fit {r['fit_minutes']}, "
            f"C = {r['capacity']:.4g} {trace.unit}, start-up {STARTUP} min"
        )
        console.print(render(title, per_trace.get(trace.name, {}), order))
        for name, reason in skipped.get(trace.name, {}).items():
            console.print(f"  [yellow]skipped {name}[/]: {reason}")
    total = pooled(per_trace) if per_trace else {}
    console.print(render(f"pooled over {len(loaded)} traces", total, order))
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "startup_minutes": STARTUP,
                    "traces": rules,
                    "scores": per_trace,
                    "pooled": total,
                    "skipped": skipped,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
