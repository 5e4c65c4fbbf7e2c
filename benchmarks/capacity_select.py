"""How the predictive replay policy's settings are chosen: leave one capacity trace out.

The independent traces of ``benchmarks/capacity.py`` (``_traces.load_all(per_type=True)``)
are ``alibaba/generative``, ``alibaba/api``, ``azure_code`` and ``azure_conv``;
``alibaba`` is the sum of the first two and takes no part in the selection. Every rule
of ``capacity.py`` holds (70% fit, ``C = p99 / 10``, start-up 2 minutes, the same
scored minutes, the simulated HPA at 80% as the reference).

The grid, fixed before any left-out trace was scored (``grid``), today's defaults first:

- ``refit``: 5, 15 or 30 steps between refits of the forecasting stack;
- ``stabilise``: 0, 120 or 300 s of scale-down stabilisation;
- ``floor``: at least what the demand just seen needs, or not;
- ``quantile``: the stack's interval (``forecast``), online conformal on the policy's
  own recent errors in units of the demand's local step-to-step change (``recent``),
  or the same on the last value seen instead of the stack's point (``naive``; the
  control that says whether the forecast adds anything). ``DEFAULT_RECENT``,
  ``SCALE_STEPS`` and ``SCALE_FLOOR`` of the replay are fixed, not searched.

The criterion, also fixed in advance (``choose``). Risk is the user's choice and a
promise: "a step's demand exceeds the replicas' capacity with probability ``risk``". So
a setting qualifies on a set of traces when, pooled over them, its under-provisioned
share of the scored minutes is at most the risk, at 0.01 and at 0.05 alike (one setting
serves every risk); among those that qualify, the fewest replica-minutes relative to the
HPA's, averaged over the two risks; ties go to fewer under-provisioned minutes, then to
the earlier setting in the grid. If none qualifies: the smallest worst ratio of
under-provisioned share to risk. The issue's own target, relative to the HPA, is read
off the left-out scores, not optimised (``secondary`` reports what the HPA-relative rule
"fewest replica-minutes among settings at or below half the HPA's under-provisioned
minutes" would have chosen, for comparison only).

Per fold: choose on the other three traces pooled, score the trace left out with the
choice and with today's defaults. The pooled left-out scores are the honest numbers;
the choice on all four traces is what becomes the default, if its left-out scores beat
today's. Forecasts are computed once per (trace, refit) for every risk and cached
(``--cache``); the decisions are then cheap. One process, sequential.

    python benchmarks/capacity_select.py [--data DIR] [--json OUT] [--cache DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

import _traces as traces
import capacity
from modelphase.decide.capacity.replay import DEFAULT_RECENT, Ahead, decide, forecast_ahead
from modelphase.files import atomic_path

RISKS = (0.01, 0.05)
CURVE = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2)
FOLDS = ("alibaba/generative", "alibaba/api", "azure_code", "azure_conv")
STEP = 60 * 10**9
CACHE = Path("/tmp/capselect")
Scores = dict[str, float]


@dataclass(frozen=True)
class Setting:
    refit: int
    stabilise: int
    floor: bool
    quantile: str

    @property
    def label(self) -> str:
        return (
            f"refit {self.refit}, stabilise {self.stabilise}s, "
            f"floor {'on' if self.floor else 'off'}, {self.quantile}"
        )


TODAY = Setting(15, 300, True, "forecast")


def grid() -> list[Setting]:
    """Every setting compared, today's defaults first."""
    rest = [
        Setting(r, s, f, q)
        for r, s, f, q in itertools.product(
            (5, 15, 30), (0, 120, 300), (True, False), ("forecast", "recent", "naive")
        )
    ]
    return [TODAY, *(s for s in rest if s != TODAY)]


def forecasts(trace: traces.Trace, refit: int, cache: Path) -> Ahead:
    """What every decision of ``trace`` reads at this refit interval, for every risk of
    ``CURVE``, with ``DEFAULT_RECENT`` warm-up steps; cached by the demand's digest
    (clear the cache when :func:`forecast_ahead` changes)."""
    y = trace.demand.to_numpy(dtype=np.float64)
    digest = hashlib.sha256(y.tobytes()).hexdigest()[:12]
    name = f"{trace.name.replace('/', '_')}_refit{refit}_warm{DEFAULT_RECENT}_{digest}.npz"
    path = cache / name
    if path.exists():
        with np.load(path) as f:
            upper = {r: f[f"upper_{r}"] for r in CURVE}
            return Ahead(f["index"], int(f["n_warmup"]), int(f["ahead"]), f["point"], upper)
    ds = pd.DatetimeIndex(trace.demand.index).asi8.astype(np.int64)
    found = forecast_ahead(
        ds, y, train_until=int(ds[trace.n_fit - 1]), startup=capacity.STARTUP * STEP,
        step=STEP, risks=CURVE, refit=refit, warmup=DEFAULT_RECENT,
    )  # fmt: skip
    cache.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, Any] = {"index": found.index, "n_warmup": found.n_warmup}
    arrays |= {"ahead": found.ahead, "point": found.point}
    arrays |= {f"upper_{r}": found.upper[r] for r in CURVE}
    with atomic_path(path) as tmp, open(tmp, "wb") as out:
        np.savez(out, **arrays)
    return found


def score(trace: traces.Trace, ahead: Ahead, setting: Setting, risk: float) -> Scores:
    """``capacity.py``'s scores of the setting's decisions on the trace."""
    y = trace.demand.to_numpy(dtype=np.float64)
    replicas = decide(
        y, ahead, capacity=trace.capacity, step=STEP, risk=risk,
        stabilise=setting.stabilise, floor=setting.floor, quantile=setting.quantile,
    )  # fmt: skip
    asked = np.full(len(y), np.nan)
    asked[trace.n_fit :] = replicas
    m = capacity.scored(trace, asked)
    return {k: m[k] for k in ("minutes", "under_minutes", "replica_minutes")}


def pool(rows: Sequence[Scores]) -> Scores:
    return {
        k: float(sum(r[k] for r in rows)) for k in ("minutes", "under_minutes", "replica_minutes")
    }


def choose(
    pooled: Mapping[Setting, Mapping[float, Scores]],
    base: Scores,
    settings: Sequence[Setting],
    risks: Sequence[float] = RISKS,
) -> Setting:
    """The criterion of the module's docstring on scores pooled over some traces
    (``base``: the HPA's, pooled over the same traces)."""

    def share(s: Setting, r: float) -> float:
        return pooled[s][r]["under_minutes"] / max(pooled[s][r]["minutes"], 1.0)

    def cost(s: Setting) -> float:
        return float(np.mean([pooled[s][r]["replica_minutes"] for r in risks])) / max(
            base["replica_minutes"], 1.0
        )

    def under(s: Setting) -> float:
        return sum(pooled[s][r]["under_minutes"] for r in risks)

    ok = [s for s in settings if all(share(s, r) <= r for r in risks)]
    if ok:
        return min(ok, key=lambda s: (cost(s), under(s), settings.index(s)))
    return min(
        settings,
        key=lambda s: (max(share(s, r) / r for r in risks), cost(s), settings.index(s)),
    )


def secondary(
    pooled: Mapping[Setting, Mapping[float, Scores]],
    base: Scores,
    settings: Sequence[Setting],
    risk: float,
) -> Setting:
    """For comparison only, per risk: the fewest replica-minutes among settings with at
    most half the HPA's under-provisioned minutes; else the smallest sum of the two
    ratios to the HPA."""

    def ratios(s: Setting) -> tuple[float, float]:
        m = pooled[s][risk]
        u = (
            m["under_minutes"] / base["under_minutes"]
            if base["under_minutes"]
            else m["under_minutes"]
        )
        return u, m["replica_minutes"] / max(base["replica_minutes"], 1.0)

    ok = [s for s in settings if ratios(s)[0] <= 0.5]
    if ok:
        return min(ok, key=lambda s: (ratios(s)[1], settings.index(s)))
    return min(settings, key=lambda s: (sum(ratios(s)), settings.index(s)))


def pooled_over(
    table: Mapping[str, Mapping[Setting, Mapping[float, Scores]]],
    names: Sequence[str],
    settings: Sequence[Setting],
    risks: Sequence[float],
) -> dict[Setting, dict[float, Scores]]:
    return {s: {r: pool([table[n][s][r] for n in names]) for r in risks} for s in settings}


def leave_one_out(
    table: Mapping[str, Mapping[Setting, Mapping[float, Scores]]],
    hpa: Mapping[str, Scores],
    settings: Sequence[Setting],
) -> list[dict[str, Any]]:
    """Per trace of ``table``: the setting chosen on the others pooled, and the trace's
    own scores with it, with today's defaults, with the HPA-relative rule's choice and
    with the HPA."""
    folds: list[dict[str, Any]] = []
    for left in table:
        others = [n for n in table if n != left]
        pooled = pooled_over(table, others, settings, RISKS)
        base = pool([hpa[n] for n in others])
        chosen = choose(pooled, base, settings)
        alt = {r: secondary(pooled, base, settings, r) for r in RISKS}
        folds.append(
            {
                "left_out": left,
                "chosen": chosen,
                "scores": {r: table[left][chosen][r] for r in RISKS},
                "today": {r: table[left][TODAY][r] for r in RISKS},
                "secondary": {r: (alt[r], table[left][alt[r]][r]) for r in RISKS},
                "hpa": hpa[left],
            }
        )
    return folds


def ratio(a: float, b: float) -> str:
    return capacity.ratio(a, b)


def row(m: Scores, base: Scores) -> list[str]:
    return [
        f"{m['under_minutes']:.0f}",
        ratio(m["under_minutes"], base["under_minutes"]),
        f"{m['replica_minutes']:.0f}",
        ratio(m["replica_minutes"], base["replica_minutes"]),
        f"{m['under_minutes'] / max(m['minutes'], 1):.3f}",
        "yes" if capacity.meets_target(m, base) else "no",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=traces.DATA)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--cache", type=Path, default=CACHE, help="the forecasts, per trace")
    args = parser.parse_args()
    console = Console(width=150)
    began = time.perf_counter()
    loaded = {t.name: t for t in traces.load_all(args.data, per_type=True) if t.name in FOLDS}
    settings = grid()
    hpa_run = capacity.policies(Path(args.cache))[capacity.BASE]
    hpa: dict[str, Scores] = {}
    table: dict[str, dict[Setting, dict[float, Scores]]] = {}
    timing: dict[str, float] = {}
    for name in FOLDS:
        trace = loaded[name]
        m = capacity.scored(trace, hpa_run(trace))
        hpa[name] = {k: m[k] for k in ("minutes", "under_minutes", "replica_minutes")}
        table[name] = {}
        for refit in (5, 15, 30):
            start = time.perf_counter()
            ahead = forecasts(trace, refit, args.cache)
            timing[f"{name} refit {refit} forecasts"] = time.perf_counter() - start
            for s in (s for s in settings if s.refit == refit):
                # the chosen settings' risk curves are read later; the grid needs RISKS
                table[name][s] = {r: score(trace, ahead, s, r) for r in CURVE}
        console.print(f"{name}: scored {len(table[name])} settings")
    folds = leave_one_out(table, hpa, settings)
    everything = pooled_over(table, FOLDS, settings, CURVE)
    base_all = pool([hpa[n] for n in FOLDS])
    final = choose(everything, base_all, settings)
    head = ["under min", "/ hpa", "replica-min", "/ hpa", "under share", "target"]
    held: dict[float, dict[str, Scores]] = {}
    for risk in RISKS:
        t = Table(title=f"left one trace out, risk {risk}: chosen on the other three")
        for col in ("left out", "policy", *head):
            t.add_column(col, justify="left" if col in ("left out", "policy") else "right")
        for f in folds:
            t.add_row(f["left_out"], "hpa", *row(f["hpa"], f["hpa"]))
            t.add_row("", f"chosen: {f['chosen'].label}", *row(f["scores"][risk], f["hpa"]))
            t.add_row("", "today's defaults", *row(f["today"][risk], f["hpa"]))
            alt, m = f["secondary"][risk]
            t.add_row("", f"(hpa-relative rule: {alt.label})", *row(m, f["hpa"]))
        held[risk] = {
            "hpa": pool([f["hpa"] for f in folds]),
            "chosen": pool([f["scores"][risk] for f in folds]),
            "today": pool([f["today"][risk] for f in folds]),
            "hpa-relative rule": pool([f["secondary"][risk][1] for f in folds]),
        }
        for name, m in held[risk].items():
            t.add_row("pooled", name, *row(m, held[risk]["hpa"]))
        console.print(t)
    better = all(
        held[r]["chosen"]["replica_minutes"] < held[r]["today"]["replica_minutes"]
        and held[r]["chosen"]["under_minutes"] <= r * held[r]["chosen"]["minutes"]
        for r in RISKS
    )
    curve = Table(title=f"chosen on all four traces: {final.label}; pooled over the four")
    for col in ("risk", "policy", *head):
        curve.add_column(col, justify="right")
    curve.add_row("-", "hpa", *row(base_all, base_all))
    for r in CURVE:
        curve.add_row(f"{r:g}", "chosen", *row(everything[final][r], base_all))
        curve.add_row(f"{r:g}", "today's defaults", *row(everything[TODAY][r], base_all))
    console.print(curve)
    verdict = "beat" if better else "do not beat"
    console.print(
        f"left-out scores of the chosen settings {verdict} today's defaults at every risk"
    )
    seconds = time.perf_counter() - began
    console.print(f"{seconds:.0f} s in all")
    if args.json:
        out = {
            "folds": [fold_json(f) for f in folds],
            "pooled_left_out": {str(r): v for r, v in held.items()},
            "chosen_on_all": plain(final),
            "beats_today": better,
            "curve": {
                str(r): {"chosen": everything[final][r], "today": everything[TODAY][r]}
                for r in CURVE
            },
            "hpa_pooled": base_all,
            "grid_pooled_all": [
                plain(s) | {str(r): everything[s][r] for r in RISKS} for s in settings
            ],
            "per_trace": {
                n: {"hpa": hpa[n]}
                | {s.label: {str(r): table[n][s][r] for r in CURVE} for s in settings}
                for n in FOLDS
            },
            "seconds": seconds,
            "timing": timing,
        }
        with atomic_path(args.json) as tmp:
            Path(tmp).write_text(json.dumps(out, indent=2))


def plain(s: Setting) -> dict[str, Any]:
    return asdict(s) | {"label": s.label}


def fold_json(f: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "left_out": f["left_out"],
        "chosen": plain(f["chosen"]),
        "hpa": f["hpa"],
        "scores": {str(r): f["scores"][r] for r in RISKS},
        "today": {str(r): f["today"][r] for r in RISKS},
        "secondary": {
            str(r): {"setting": plain(f["secondary"][r][0]), "scores": f["secondary"][r][1]}
            for r in RISKS
        },
    }


if __name__ == "__main__":
    main()
