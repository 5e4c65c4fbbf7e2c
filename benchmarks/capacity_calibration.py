"""Is a capacity plan's stated risk the risk it takes? Calibration of
``modelphase capacity plan`` on the simulator, with and without a surge the forecast did
not see coming.

Protocol (fixed before any run; nothing here is tuned):

- ``modelphase.simulate`` seeds 0, 1, 2 (3 services each, 7 days at 1 minute); the
  demand is each service's ``http_requests_per_second``.
- Origins every 3 hours over the last 2 days (16 per series). At each origin the
  forecasting stack (default candidates, per-series choice, conformal intervals) is fit
  on the 2 days before it and a plan made for the next hour (60 steps), with the
  capacity rule of the replay benchmark (``C = p99 of the fit part / 10``), a start-up
  delay of 2 minutes and 5-minute scale-down stabilisation, at risks 0.01, 0.025, 0.05,
  0.1 and 0.25 (the 98, 95, 90, 80 and 50% intervals).
- Realised breach rate: the share of planned steps whose actual demand exceeds
  ``replicas x C``; next to it, the plan's own expected share (mean of its per-step
  breach probabilities, read off the forecast's quantiles after stabilisation).
- ``clean``: the simulator's own data (its random events included: a few traffic
  surges, spikes and shifts land in some windows, as they would). ``surge``: the same
  windows with an unforeseen surge added to the truth after the origin (a multiplier
  of 1.5-2.5 for 20-60 minutes starting 5-30 minutes in, drawn per window from a fixed
  seed), the case the issue names: no forecast could have seen it, so the plan's risk
  is not expected to hold there; the number says by how much it does not.

    python benchmarks/capacity_calibration.py [--seeds 0 1 2] [--fit-days 2] [--every 180]
        [--json OUT]

Development-set numbers (the simulator is the project's own).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import track
from rich.table import Table

from modelphase.decide.capacity import forecast_demand, plan_capacity
from modelphase.frame import Panel
from modelphase.simulate import simulate

RISKS = (0.01, 0.025, 0.05, 0.1, 0.25)
STEP = 60 * 10**9
H = 60
FIT_DAYS = 2
ORIGIN_EVERY = 180
ORIGINS_FROM_END = 2 * 1440
STARTUP = 2 * STEP
STABILISE = 5 * STEP


def surge(rng: np.random.Generator, n: int) -> np.ndarray:
    """The multiplier of an unforeseen surge over a window of ``n`` steps."""
    factor = np.ones(n)
    start = int(rng.integers(5, 31))
    length = int(rng.integers(20, 61))
    factor[start : start + length] = rng.uniform(1.5, 2.5)
    return factor


def cases(seeds: list[int], every: int = ORIGIN_EVERY) -> list[dict[str, Any]]:
    out = []
    for seed in seeds:
        sim = simulate(services=3, days=7, seed=seed)
        for uid in sim.panel.ids:
            if not uid.startswith("http_requests_per_second"):
                continue
            ds, y = sim.panel.series(uid)
            n = len(y)
            for origin in range(n - ORIGINS_FROM_END, n - H + 1, every):
                out.append({"seed": seed, "uid": uid, "ds": ds, "y": y, "origin": origin})
    return out


def run_case(
    case: dict[str, Any], rng: np.random.Generator, fit_days: int = FIT_DAYS
) -> list[dict[str, Any]]:
    ds, y, origin = case["ds"], case["y"], case["origin"]
    first = origin - fit_days * 1440
    past_ds, past_y = ds[first:origin], y[first:origin]
    keep = np.isfinite(past_y)
    panel = Panel.from_series([("demand", past_ds[keep], past_y[keep])], step=STEP)
    capacity = float(np.nanpercentile(past_y, 99)) / 10
    fc = forecast_demand(panel, H, min(RISKS))
    fc = fc[fc["ds"].astype("int64") >= int(ds[origin])].head(H)  # past a trailing gap
    truth = y[origin : origin + len(fc)]
    surged = truth * surge(rng, len(truth))
    rows = []
    for risk in RISKS:
        plan = plan_capacity(  # every level was forecast at once
            fc, capacity=capacity, risk=risk, step=STEP,
            startup=STARTUP, stabilise=STABILISE,
        )  # fmt: skip
        supply = plan.table["replicas"].to_numpy() * capacity
        ok = np.isfinite(truth)
        for kind, actual in (("clean", truth), ("surge", surged)):
            rows.append(
                {
                    "seed": case["seed"], "uid": case["uid"], "origin": case["origin"],
                    "risk": risk, "kind": kind, "steps": int(ok.sum()),
                    "breaches": int((actual[ok] > supply[ok]).sum()),
                    "expected": float(plan.table["breach_probability"].to_numpy()[ok].sum()),
                    "replica_steps": int(plan.table["replicas"].sum()),
                }
            )  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--fit-days", type=int, default=FIT_DAYS, help="history per fit")
    parser.add_argument("--every", type=int, default=ORIGIN_EVERY, help="minutes between origins")
    args = parser.parse_args()
    started = time.monotonic()
    rng = np.random.default_rng(20261208)
    rows: list[dict[str, Any]] = []
    todo = cases(args.seeds, args.every)
    for case in track(todo, description="planning", console=Console(stderr=True)):
        rows.extend(run_case(case, rng, args.fit_days))
    table = Table(title="capacity plan: stated risk against realised breach rate")
    for col in ("risk", "case", "windows", "steps", "realised", "plan's expected",
                "realised / stated", "windows with a breach"):  # fmt: skip
        table.add_column(col, justify="right")
    summary: dict[str, Any] = {}
    for kind in ("clean", "surge"):
        for risk in RISKS:
            got = [r for r in rows if r["kind"] == kind and r["risk"] == risk]
            steps = sum(r["steps"] for r in got)
            breaches = sum(r["breaches"] for r in got)
            expected = sum(r["expected"] for r in got)
            rate = breaches / steps if steps else math.nan
            hit = sum(1 for r in got if r["breaches"]) / len(got) if got else math.nan
            summary[f"{kind}/{risk:g}"] = {
                "windows": len(got), "steps": steps, "breach_rate": rate,
                "expected_rate": expected / steps if steps else math.nan,
                "windows_with_breach": hit,
            }  # fmt: skip
            table.add_row(
                f"{risk:g}", kind, str(len(got)), f"{steps:,}", f"{rate:.4f}",
                f"{expected / steps:.4f}", f"{rate / risk:.2f}", f"{hit:.2f}",
            )  # fmt: skip
    Console().print(table)
    elapsed = time.monotonic() - started
    Console().print(f"{len(todo)} windows in {elapsed:.0f} s")
    if args.json is not None:
        args.json.write_text(json.dumps({"summary": summary, "seconds": elapsed}, indent=1))


if __name__ == "__main__":
    main()
