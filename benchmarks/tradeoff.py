"""Cost/performance trade-offs on synthetic services with a known latency model.

There is no public telemetry of one service under many resource configurations, so the
truth is :mod:`modelphase.simulate.resources` (an M/M/c queue per replica, two instance
types of different speed and price, memory pressure, bursty windows, noisy percentiles):
each scenario draws its own true parameters and the configurations its telemetry ran,
``modelphase.decide.capacity.tradeoff`` learns from two weeks of 5-minute windows, and
the chosen configuration is scored against the truth at the planned load:

- ``meets``: its true ``p(window p99 > SLO)`` is at most the stated risk;
- ``cost / optimum``: its cost over the true cheapest one meeting the SLO among the
  configurations the telemetry ran (any replicas: what could be known);
- ``steps``: replicas above the optimum's, for the same cores, memory and type.

Development used seeds 0-4 (``--seeds 0:5``); the held-out run is ``--seeds 100:130``.

    python3 benchmarks/tradeoff.py --seeds 100:130 [--risk 0.01]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from modelphase.decide.capacity.tradeoff import Prices, tradeoff
from modelphase.exceptions import ValidationError
from modelphase.simulate.resources import ResourceModel, resource_telemetry

CPUS, MEMORY, TYPES = (1.0, 2.0, 4.0), (2.0, 4.0, 8.0), ("a", "b")


def scenario(seed: int) -> tuple[ResourceModel, list[tuple[float, float, str]], Prices, float]:
    """True parameters, the configurations the telemetry ran, the prices, the SLO."""
    rng = np.random.default_rng([seed, 7])
    rate_a = float(rng.uniform(20, 60))
    model = ResourceModel(
        core_rate={"a": rate_a, "b": rate_a * float(rng.uniform(1.2, 1.8))},
        base_seconds=float(rng.uniform(0.005, 0.04)),
        memory_need=float(rng.choice([2.0, 4.0, 6.0])),
        memory_penalty=float(rng.uniform(0.2, 1.0)),
        burst=float(rng.uniform(0.05, 0.15)),
        noise=float(rng.uniform(0.04, 0.12)),
    )
    combos = [(c, m, t) for c in CPUS for m in MEMORY for t in TYPES]
    picked = rng.choice(len(combos), size=int(rng.integers(3, 7)), replace=False)
    configurations = [combos[i] for i in sorted(picked)]
    core = float(rng.uniform(0.02, 0.05))
    prices = Prices(
        instance={"a": 0.0, "b": float(rng.uniform(0.02, 0.1))},
        core_hour=core,
        gib_hour=core / float(rng.uniform(6, 10)),
    )
    # an SLO a few service times above the fastest idle latency
    slo = float(model.latency(1.0, 1, 1, 8, "a")[()]) * float(rng.uniform(1.5, 3.0))
    return model, configurations, prices, slo


def cost(prices: Prices, grid: pd.DataFrame) -> np.ndarray:
    per = np.array([prices.instance[k] for k in grid["instance_type"]])
    per = per + grid["cpu"].to_numpy() * prices.core_hour + grid["memory"] * prices.gib_hour
    return np.asarray(grid["replicas"].to_numpy() * per)


def run(seed: int, risk: float, days: float) -> dict[str, object]:
    model, configurations, prices, slo = scenario(seed)
    rows = resource_telemetry(model, configurations, days=days, seed=seed)
    load = float(rows.groupby("deployment")["rps"].max().median()) * 1.5
    t0 = time.perf_counter()
    try:
        found = tradeoff(
            rows, latency="p99", load="rps", replicas="replicas", cpu="cpu", memory="memory",
            instance="instance_type", slo_latency=slo, planned_load=load, risk=risk,
            prices=prices, max_replicas=200, seed=0,
        )  # fmt: skip
    except ValidationError as exc:
        return {"seed": seed, "error": str(exc)[:120]}
    seconds = time.perf_counter() - t0
    # the truth over the configurations the telemetry ran, replicas 1..200
    grid = pd.DataFrame(
        [(r, c, m, t) for c, m, t in configurations for r in range(1, 201)],
        columns=["replicas", "cpu", "memory", "instance_type"],
    )
    args = [grid[k].to_numpy() for k in ("replicas", "cpu", "memory")]
    kinds = grid["instance_type"].to_numpy(dtype=object)
    grid["exceedance"] = model.exceedance(slo, load, *args, kinds)
    grid["cost"] = cost(prices, grid)
    ok = grid[grid["exceedance"] <= risk].sort_values(["cost", "replicas"], kind="stable")
    best = ok.iloc[0]
    c = found.chosen
    kind = np.array(c["instance_type"], dtype=object)
    truth = float(model.exceedance(slo, load, c["replicas"], c["cpu"], c["memory"], kind))
    key = (c["cpu"], c["memory"], c["instance_type"])
    same = grid[(grid.cpu == key[0]) & (grid.memory == key[1]) & (grid.instance_type == key[2])]
    need = same[same["exceedance"] <= risk]["replicas"].min()
    return {
        "seed": seed, "configs": len(configurations), "meets": truth <= risk,
        "true_exceedance": truth, "cost_ratio": float(c["cost_per_hour"] / best["cost"]),
        "steps": int(c["replicas"] - need) if np.isfinite(need) else None,
        "same_config_as_optimum": key == (best.cpu, best.memory, best.instance_type),
        "holdout_exceedance": found.fit["exceedance"], "seconds": seconds,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="100:130", help="START:STOP of scenario seeds")
    parser.add_argument("--risk", type=float, default=0.01)
    parser.add_argument("--days", type=float, default=14.0)
    args = parser.parse_args()
    start, stop = (int(v) for v in args.seeds.split(":"))
    results = pd.DataFrame([run(s, args.risk, args.days) for s in range(start, stop)])
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(results.to_string(index=False))
    done = results[results.get("meets").notna()] if "meets" in results else results.iloc[:0]
    print(
        f"\nseeds {args.seeds}, risk {args.risk}: {len(done)}/{len(results)} answered; "
        f"truly meet the SLO {int(done['meets'].sum())}/{len(done)}; mean true exceedance "
        f"{done['true_exceedance'].mean():.4f} (max {done['true_exceedance'].max():.4f}); "
        f"same resources as the optimum {int(done['same_config_as_optimum'].sum())}/{len(done)}; "
        "cost / optimum median "
        f"{done['cost_ratio'].median():.3f}, max {done['cost_ratio'].max():.3f}; replicas above "
        f"the need of the chosen resources: median {done['steps'].median():g}, "
        f"min {done['steps'].min():g}, max {done['steps'].max():g}; "
        f"hold-out exceedance mean {done['holdout_exceedance'].mean():.4f}; "
        f"{done['seconds'].mean():.1f} s per run"
    )


if __name__ == "__main__":
    main()
