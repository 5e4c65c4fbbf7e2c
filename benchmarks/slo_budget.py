"""Error-budget forecasts at rolling origins: how far off is the predicted time to
exhaustion, and how often does its interval hold the truth?

On the burn benchmark's simulated SLIs (``_sli.simulated``: 3 seeds x 4 services, 5
weeks after 3 days of warm-up, with fast burns, slow burns and a clean week per seed;
a rolling 30-day period), at an origin every 6 hours from day 14 to the last day that
leaves a week of future: the forecast made with the data up to the
origin, against the truth (the first minute the actual future spends the budget,
within the 7-day horizon). Origins where the budget is spent already are counted, not
scored. The burn corpus' 99.9% objective spends most budgets by day 14, so each SLI
here gets an objective drawn once from 99.5%, 99.8% and 99.9% (its seed and service
fix the draw; chosen before any forecast was scored): some budgets are spent at most
origins, some never, some in between. Judges, side by side:

- ``modelphase``: :func:`modelphase.decide.slo.exhaustion.forecast_exhaustion` (the
  forecasting stack on the hourly SLI, 80% interval);
- ``dashboard 1h/1d/3d``: the formula SLO dashboards show, budget left over the burn
  rate of a recent window (``time = remaining x period / burn``), which ignores that
  old errors leave a rolling period;
- ``persist 1d``: the last day's error ratio from now on, under last week's traffic,
  rolled through the period exactly as the truth is (the naive forecast done right).

Scores: for origins whose truth is within the horizon, the median and mean absolute
error of the predicted time (hours; a prediction of "not within the horizon" counts as
the horizon); the share of origins where the prediction is on the right side of the
horizon; "exhausted within 3 days" as an alert would route it (precision, recall);
for modelphase, the share of origins whose truth lies in the 80% interval and the
interval's median width.

    python benchmarks/slo_budget.py [--seeds 0 1 2] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from _sli import DAY, PERIOD, SliSeries, simulated
from modelphase.decide.slo.budget import SliEvents, first_exhaustion, window_ratio
from modelphase.decide.slo.exhaustion import forecast_exhaustion

MIN_NS = 60 * 10**9
HORIZON = 7 * DAY  # minutes
FIRST_ORIGIN = 14 * DAY
EVERY = DAY // 4
ALERT_WITHIN = 3 * DAY
LEVEL = 80.0
OBJECTIVES = (99.5, 99.8, 99.9)
JUDGES = ("modelphase", "dashboard 1h", "dashboard 1d", "dashboard 3d", "persist 1d")


@dataclass(frozen=True)
class Case:
    """One origin of one SLI: the truth and every judge's prediction, in minutes from
    the origin (None: not within the horizon)."""

    key: tuple[str, ...]
    origin: int
    truth: float | None
    spent: bool
    predicted: dict[str, float | None]
    earliest: float | None
    latest: float | None


def _budget(key: tuple[str, ...]) -> float:
    """The SLI's error budget: an objective drawn by its seed and service."""
    seed = int(key[0])
    draw = np.random.default_rng([seed, *map(ord, key[1]), 16]).integers(len(OBJECTIVES))
    return round(1.0 - OBJECTIVES[int(draw)] / 100.0, 6)


def _events(series: SliSeries, first_s: int, end: int) -> SliEvents:
    ds = (first_s * 10**9) + np.arange(end, dtype=np.int64) * MIN_NS
    return SliEvents.on_grid(ds, series.errors[:end], series.requests[:end], MIN_NS)


def _minutes(seconds: float | None) -> float | None:
    return None if seconds is None else seconds / 60.0


def _dashboard(events: SliEvents, budget: float, window: int) -> float | None:
    ratio, _, _ = window_ratio(events, PERIOD * 60)
    recent, _, _ = window_ratio(events, window * 60)
    if ratio is None or recent is None or recent <= 0:
        return None
    left = 1.0 - ratio / budget
    minutes = left * PERIOD / (recent / budget)
    return minutes if minutes <= HORIZON else None


def _persist(series: SliSeries, events: SliEvents, budget: float, origin: int) -> float | None:
    recent, _, _ = window_ratio(events, DAY * 60)
    if recent is None:
        return None
    week = series.requests[origin - 7 * DAY : origin]
    traffic = np.resize(week, HORIZON)
    at = first_exhaustion(events, budget, PERIOD * 60, errors=traffic * recent, total=traffic)
    return None if at is None else float(at)


def run_series(args: tuple[SliSeries, int, int, float]) -> list[Case]:
    """Every origin of one SLI."""
    series, first_s, n_minutes, budget = args
    cases = []
    for origin in range(FIRST_ORIGIN, n_minutes - HORIZON + 1, EVERY):
        events = _events(series, first_s, origin)
        future = slice(origin, origin + HORIZON)
        at = first_exhaustion(
            events,
            budget,
            PERIOD * 60,
            errors=series.errors[future],
            total=series.requests[future],
        )
        spent = at == 0
        truth = None if at is None else float(at)
        found = forecast_exhaustion(events, budget, PERIOD * 60, horizon=HORIZON * 60, level=LEVEL)
        predicted: dict[str, float | None] = {"modelphase": _minutes(found.expected)}
        for name, window in (
            ("dashboard 1h", 60),
            ("dashboard 1d", DAY),
            ("dashboard 3d", 3 * DAY),
        ):
            predicted[name] = _dashboard(events, budget, window)
        predicted["persist 1d"] = _persist(series, events, budget, origin)
        earliest, latest = _minutes(found.earliest), _minutes(found.latest)
        cases.append(Case(series.key, origin, truth, spent, predicted, earliest, latest))
    return cases


def _covered(case: Case) -> bool:
    """The truth in [earliest, latest]; None is beyond the horizon (an open end)."""
    low = np.inf if case.earliest is None else case.earliest
    high = np.inf if case.latest is None else case.latest
    truth = np.inf if case.truth is None else case.truth
    return bool(low <= truth <= high) or (case.earliest is None and case.truth is None)


def score(cases: list[Case]) -> dict[str, dict[str, float]]:
    """Each judge's scores over the origins not spent already."""
    live = [c for c in cases if not c.spent]
    within = [c for c in live if c.truth is not None]
    out: dict[str, dict[str, float]] = {}
    for judge in JUDGES:
        errors = [
            abs((HORIZON if c.predicted[judge] is None else c.predicted[judge]) - c.truth) / 60
            for c in within
            if c.truth is not None
        ]
        side = [(c.predicted[judge] is None) == (c.truth is None) for c in live]
        alert = [p is not None and p <= ALERT_WITHIN for p in (c.predicted[judge] for c in live)]
        real = [c.truth is not None and c.truth <= ALERT_WITHIN for c in live]
        hits = sum(a and r for a, r in zip(alert, real, strict=True))
        out[judge] = {
            "origins": len(live),
            "within": len(within),
            "median_abs_error_h": float(np.median(errors)) if errors else float("nan"),
            "mean_abs_error_h": float(np.mean(errors)) if errors else float("nan"),
            "right_side": float(np.mean(side)) if side else float("nan"),
            "alert_precision": hits / sum(alert) if sum(alert) else float("nan"),
            "alert_recall": hits / sum(real) if sum(real) else float("nan"),
        }
    coverage = [_covered(c) for c in live]
    widths = [
        (c.latest - c.earliest) / 60
        for c in live
        if c.earliest is not None and c.latest is not None
    ]
    out["modelphase"]["coverage"] = float(np.mean(coverage)) if coverage else float("nan")
    out["modelphase"]["median_width_h"] = float(np.median(widths)) if widths else float("nan")
    out["modelphase"]["open_intervals"] = float(
        np.mean([c.earliest is not None and c.latest is None for c in live])
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--services", type=int, default=4)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--json", type=Path, help="Write every case and the scores here.")
    opts = parser.parse_args()
    console = Console()
    started = time.perf_counter()
    jobs = []
    for seed in opts.seeds:
        corpus = simulated(seed, services=opts.services)
        jobs += [(s, corpus.first_s, corpus.n_minutes, _budget(s.key)) for s in corpus.series]
    cases: list[Case] = []
    with Progress(console=console) as bar, ProcessPoolExecutor(opts.jobs) as pool:
        task = bar.add_task("forecasting budgets", total=len(jobs))
        for found in pool.map(run_series, jobs):
            cases += found
            bar.advance(task)
    seconds = time.perf_counter() - started
    pooled = score(cases)
    per_seed = {s: score([c for c in cases if c.key[0] == str(s)]) for s in opts.seeds}
    table = Table(title=f"error budget forecasts, {len(cases)} origins ({seconds:.0f} s)")
    for column in ("judge", "MedAE h", "MAE h", "right side", "alert P", "alert R", "coverage"):
        table.add_column(column, justify="right" if column != "judge" else "left")
    for judge in JUDGES:
        s = pooled[judge]
        cover = f"{s['coverage']:.2f}" if "coverage" in s else ""
        table.add_row(
            judge, f"{s['median_abs_error_h']:.1f}", f"{s['mean_abs_error_h']:.1f}",
            f"{s['right_side']:.2f}", f"{s['alert_precision']:.2f}",
            f"{s['alert_recall']:.2f}", cover,
        )  # fmt: skip
    console.print(table)
    ours = pooled["modelphase"]
    spent = sum(c.spent for c in cases)
    console.print(
        f"origins scored {ours['origins']} (spent already: {spent}), truth within 7 days: "
        f"{ours['within']}; 80% interval coverage {ours['coverage']:.2f}, median width "
        f"{ours['median_width_h']:.1f} h, open-ended {ours['open_intervals']:.2f}"
    )
    for judge in JUDGES[1:]:
        ratio = pooled[judge]["mean_abs_error_h"] / ours["mean_abs_error_h"]
        console.print(f"MAE of {judge} / modelphase: {ratio:.2f}x")
    for seed, s in per_seed.items():
        m = s["modelphase"]
        console.print(
            f"seed {seed}: modelphase MAE {m['mean_abs_error_h']:.1f} h, coverage "
            f"{m['coverage']:.2f}; persist 1d MAE {s['persist 1d']['mean_abs_error_h']:.1f} h"
        )
    if opts.json:
        opts.json.write_text(
            json.dumps(
                {
                    "seconds": seconds,
                    "pooled": pooled,
                    "per_seed": {str(k): v for k, v in per_seed.items()},
                    "cases": [c.__dict__ | {"key": list(c.key)} for c in cases],
                },
                indent=1,
                default=float,
            )
        )


if __name__ == "__main__":
    main()
