"""Pre-warming benchmark: modelphase's warm plans against fixed keep-alives of 10 and 20
minutes and the hybrid histogram policy of "Serverless in the Wild" (Shahrad et al.,
USENIX ATC 2020), on the Azure LLM inference arrivals of ``../shared/data/capacity``.

Functions (``_arrivals.py``, decided before any result): per trace (code, conv), a
request type is a pair of log2 bins of context and generated tokens. The step is a
minute; the first 70% of the minutes fit, the rest is replayed.

The simulation rule, the same for every policy (``simulate``). One instance per
function, warm in a minute or not. At the end of each invocation minute ``t`` (a minute
with >= 1 request) the policy sees the invocation minutes up to ``t`` and answers a
plan ``(pre-warm P, keep-alive K)``: the instance is warm in minutes ``t+P+1 ..
t+P+K`` (``P = 0``: kept alive from ``t``), until the next invocation minute replaces
the plan. An invocation minute with no warm instance is a cold start (one cold request:
the instance it loads serves the rest of the minute); a warm minute without an
invocation is a wasted warm minute. Before its first invocation a function has no
instance. The policies run from the trace's first minute; only the replayed minutes
are scored. Policies:

- ``keep-alive K``: ``(0, K)``, K = 10 (AWS Lambda) and 20 (Azure Functions); other K
  for the plot's curve;
- ``hybrid histogram``: the paper's policy, faithfully, at a minute's resolution
  (``HybridHistogram``);
- ``modelphase (ratio r)``: ``modelphase.decide.capacity.warm.plan_function`` at cost
  ratio r (a cold start worth r idle warm minutes), on the invocation minutes up to
  ``t``; r over a grid fixed beforehand gives the Pareto curve.

    PYTHONPATH=src python3 benchmarks/prewarm.py [--data ../shared/data/capacity]
        [--json OUT] [--plot OUT.png]

Printed per trace and pooled: cold starts and their share of invocation minutes (and
of requests), wasted warm minutes, both as ratios to ``keep-alive 10``, the fixed
keep-alives of the curve (1 to 60 minutes) each point dominates, and whether
the target holds: a point of ours with no more cold starts and no more wasted minutes
than each fixed keep-alive, strictly fewer of one. A point picked on the curve by
looking at it is a development-set number; the left-out check picks the ratio on the
other trace (the largest dominance margin there) and reports it on this one.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

import _arrivals as arrivals
from modelphase.decide.capacity.warm import plan_function

Policy = Callable[[np.ndarray], tuple[int, int]]
RATIOS = (1, 2, 5, 10, 20, 50, 100, 200)
FIXED = (10, 20)
CURVE = (1, 2, 3, 5, 10, 20, 30, 60)
BASE = "keep-alive 10"
HYBRID = "hybrid histogram"


def ours(ratio: float) -> Policy:
    def plan(minutes: np.ndarray) -> tuple[int, int]:
        p = plan_function(minutes, int(minutes[-1]) + 1, cost_ratio=ratio, horizon=1)
        return p.prewarm, p.keep_alive

    return plan


def fixed(keep_alive: int) -> Policy:
    return lambda minutes: (0, keep_alive)


@dataclass
class HybridHistogram:
    """The hybrid histogram policy (Shahrad et al. 2020, section 4.2) per function.

    Idle times (ITs) in whole minutes between invocation minutes (``G - 1`` for
    invocation minutes ``G`` apart: bin ``b`` holds ITs in ``[b, b + 1)`` minutes) go
    to a histogram of 1-minute bins over ``range_`` (4 hours). After each invocation:

    - too many ITs out of the range (share >= ``oob``, 0.5): an ARIMA forecast ``x`` of
      the next IT (statsforecast's AutoARIMA on the IT sequence; the last IT with fewer
      than 5), pre-warm ``0.85 x``, keep-alive ``2 x 0.15 x`` (a 15% margin);
    - a histogram that is not representative (coefficient of variation of the bin
      counts below ``cv``, 2; no ITs yet): the standard keep-alive, pre-warm 0 and
      keep-alive the whole range;
    - else head = the lower edge of the bin of the 5th percentile, tail = the upper edge
      of the bin of the 99th; pre-warm ``0.9 head`` and keep-alive ``1.1 (tail -
      head)`` (10% margins), measured from the end of the pre-warm window.

    At a minute's resolution the load is rounded down and the unload up (never less
    warm than the continuous plan): ``P = floor(pre-warm)``, ``P + K = ceil(pre-warm
    + keep-alive)``.
    """

    range_: int = 240
    cv: float = 2.0
    oob: float = 0.5
    head: float = 0.05
    tail: float = 0.99
    margin: float = 0.1
    arima_margin: float = 0.15
    _cache: dict[int, tuple[int, int]] = field(default_factory=dict, repr=False)

    def __call__(self, minutes: np.ndarray) -> tuple[int, int]:
        its = np.diff(minutes) - 1
        inside = its[its < self.range_]
        if its.size and (its.size - inside.size) / its.size >= self.oob:
            x = self._next_idle_time(its.astype(float))
            return self._rounded(x * (1 - self.arima_margin), 2 * self.arima_margin * x)
        bins = np.bincount(inside, minlength=self.range_)
        mean = bins.mean()
        if not inside.size or bins.std(ddof=1) / mean < self.cv:
            return 0, self.range_
        share = np.cumsum(bins) / inside.size
        head = int(np.argmax(share >= self.head))
        tail = int(np.argmax(share >= self.tail)) + 1
        prewarm = head * (1 - self.margin)
        return self._rounded(prewarm, (tail - head) * (1 + self.margin))

    @staticmethod
    def _rounded(prewarm: float, keep_alive: float) -> tuple[int, int]:
        p = math.floor(prewarm + 1e-9)
        return p, max(0, math.ceil(prewarm + keep_alive - 1e-9) - p)

    @staticmethod
    def _next_idle_time(its: np.ndarray) -> float:
        if its.size < 5:
            return float(its[-1])
        from statsforecast.models import AutoARIMA

        forecast = AutoARIMA().forecast(y=its, h=1)["mean"]
        return max(0.0, float(forecast[0]))


@dataclass
class Score:
    invocation_minutes: int = 0
    cold_starts: int = 0
    requests: int = 0
    wasted_minutes: int = 0

    def add(self, other: Score) -> Score:
        return Score(
            self.invocation_minutes + other.invocation_minutes,
            self.cold_starts + other.cold_starts,
            self.requests + other.requests,
            self.wasted_minutes + other.wasted_minutes,
        )

    def to_dict(self) -> dict[str, Any]:
        n, r = self.invocation_minutes, self.requests
        return {
            "invocation_minutes": n,
            "cold_starts": self.cold_starts,
            "requests": r,
            "wasted_minutes": self.wasted_minutes,
            "cold_start_share": self.cold_starts / n if n else 0.0,
            "cold_request_share": self.cold_starts / r if r else 0.0,
        }


def simulate(fn: arrivals.Function, n_minutes: int, start: int, policy: Policy) -> Score:
    """The rule of the module docstring for one function, scored on minutes ``start ..
    n_minutes - 1``; ``policy`` sees the invocation minutes up to the one it plans at."""
    inv, req = fn.minutes, fn.requests
    score = Score()
    scored = inv >= start
    score.invocation_minutes = int(scored.sum())
    score.requests = int(req[scored].sum())
    if inv.size and inv[0] >= start:
        score.cold_starts += 1  # no instance before the first invocation
    for i, t in enumerate(inv):
        nxt = int(inv[i + 1]) if i + 1 < inv.size else n_minutes
        if nxt < start:
            continue  # neither the gap nor the next invocation is scored
        prewarm, keep = policy(inv[: i + 1])
        first, last = int(t) + prewarm + 1, int(t) + prewarm + keep  # warm minutes
        if nxt < n_minutes and not first <= nxt <= last:
            score.cold_starts += 1
        lo, hi = max(first, start), min(last, nxt - 1, n_minutes - 1)
        score.wasted_minutes += max(0, hi - lo + 1)
    return score


def policies() -> dict[str, Policy]:
    table: dict[str, Policy] = {f"keep-alive {k}": fixed(k) for k in FIXED}
    table[HYBRID] = HybridHistogram()
    for r in RATIOS:
        table[f"modelphase (ratio {r})"] = ours(float(r))
    for k in CURVE:
        table.setdefault(f"keep-alive {k}", fixed(k))
    return table


def run(trace: arrivals.Arrivals, table: dict[str, Policy]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, policy in table.items():
        began = time.perf_counter()
        total = Score()
        for fn in trace.functions:
            total = total.add(simulate(fn, trace.n_minutes, trace.n_fit, policy))
        out[name] = total.to_dict() | {"seconds": time.perf_counter() - began}
    return out


def dominates(m: dict[str, Any], base: dict[str, Any]) -> bool:
    """No more cold starts and no more wasted minutes than ``base``, fewer of one."""
    c, w = m["cold_starts"], m["wasted_minutes"]
    bc, bw = base["cold_starts"], base["wasted_minutes"]
    return c <= bc and w <= bw and (c < bc or w < bw)


def margin(m: dict[str, Any], scores: dict[str, dict[str, Any]]) -> float:
    """The smallest relative saving against both fixed keep-alives over both axes
    (> 0 only if the point is below both on both; 0 on a tie)."""
    worst = math.inf
    for k in FIXED:
        base = scores[f"keep-alive {k}"]
        for key in ("cold_starts", "wasted_minutes"):
            b = base[key]
            worst = min(worst, (b - m[key]) / b if b else (0.0 if m[key] == 0 else -math.inf))
    return worst


def target(scores: dict[str, dict[str, Any]]) -> list[str]:
    """Our points that dominate both fixed keep-alives."""
    return [
        f"modelphase (ratio {r})"
        for r in RATIOS
        if all(
            dominates(scores[f"modelphase (ratio {r})"], scores[f"keep-alive {k}"]) for k in FIXED
        )
    ]


def left_out(per_trace: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per trace, the ratio with the largest dominance margin on the other traces
    (pooled), and how it does on this one."""
    out: dict[str, dict[str, Any]] = {}
    for name in per_trace:
        others = pooled({k: v for k, v in per_trace.items() if k != name})
        if not others:
            continue
        pick = max(RATIOS, key=lambda r: margin(others[f"modelphase (ratio {r})"], others))
        here = per_trace[name][f"modelphase (ratio {pick})"]
        out[name] = {
            "ratio": pick,
            "margin_on_others": margin(others[f"modelphase (ratio {pick})"], others),
            "margin_here": margin(here, per_trace[name]),
            "dominates_both_here": all(
                dominates(here, per_trace[name][f"keep-alive {k}"]) for k in FIXED
            ),
        }
    return out


def pooled(per_trace: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for scores in per_trace.values():
        for name, m in scores.items():
            s = Score(m["invocation_minutes"], m["cold_starts"], m["requests"], m["wasted_minutes"])
            prev = out.get(name)
            if prev is not None:
                s = s.add(
                    Score(
                        prev["invocation_minutes"],
                        prev["cold_starts"],
                        prev["requests"],
                        prev["wasted_minutes"],
                    )
                )
            seconds = m.get("seconds", 0.0) + (prev or {}).get("seconds", 0.0)
            out[name] = s.to_dict() | {"seconds": seconds}
    return out


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else ("1.00" if a == b else "inf")


def render(title: str, scores: dict[str, dict[str, Any]]) -> Table:
    table = Table(title=title, title_justify="left")
    columns = (
        "policy",
        "cold",
        "cold share",
        "/ ka10",
        "cold/request",
        "wasted min",
        "/ ka10",
        "beats ka10",
        "beats ka20",
        "beats fixed K",
        "s",
    )
    for col in columns:
        table.add_column(col, justify="left" if col == "policy" else "right")
    base = scores[BASE]
    names = (
        [f"keep-alive {k}" for k in FIXED] + [HYBRID] + [f"modelphase (ratio {r})" for r in RATIOS]
    )
    for name in names:
        m = scores[name]
        beats = [
            "-"
            if name == f"keep-alive {k}"
            else ("yes" if dominates(m, scores[f"keep-alive {k}"]) else "no")
            for k in FIXED
        ]
        table.add_row(
            name,
            str(m["cold_starts"]),
            f"{m['cold_start_share']:.3f}",
            ratio(m["cold_starts"], base["cold_starts"]),
            f"{m['cold_request_share']:.4f}",
            str(m["wasted_minutes"]),
            ratio(m["wasted_minutes"], base["wasted_minutes"]),
            *beats,
            ",".join(str(k) for k in CURVE if dominates(m, scores[f"keep-alive {k}"])) or "-",
            f"{m['seconds']:.1f}",
        )
    return table


def plot(results: dict[str, dict[str, dict[str, Any]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(5.2 * len(results), 4.2), squeeze=False)
    for ax, (name, scores) in zip(axes.flat, results.items(), strict=True):
        curve = [scores[f"keep-alive {k}"] for k in CURVE]
        ax.plot(
            [m["wasted_minutes"] for m in curve],
            [m["cold_start_share"] for m in curve],
            "--",
            color="#7f7f7f",
            marker=".",
            label="fixed keep-alive (1..60 min)",
        )
        mine = [scores[f"modelphase (ratio {r})"] for r in RATIOS]
        ax.plot(
            [m["wasted_minutes"] for m in mine],
            [m["cold_start_share"] for m in mine],
            "-o",
            color="#1f77b4",
            label="modelphase (cost ratio 1..200)",
        )
        for r, m in zip(RATIOS, mine, strict=True):
            ax.annotate(
                str(r),
                (m["wasted_minutes"], m["cold_start_share"]),
                fontsize=7,
                xytext=(3, 3),
                textcoords="offset points",
            )
        for k, colour in zip(FIXED, ("#d62728", "#ff7f0e"), strict=True):
            m = scores[f"keep-alive {k}"]
            ax.plot(
                m["wasted_minutes"],
                m["cold_start_share"],
                "s",
                color=colour,
                label=f"keep-alive {k}",
            )
        m = scores[HYBRID]
        ax.plot(m["wasted_minutes"], m["cold_start_share"], "^", color="#2ca02c", label=HYBRID)
        ax.set_title(name)
        ax.set_xlabel("wasted warm minutes (replay)")
        ax.set_ylabel("cold-start share of invocation minutes")
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=arrivals.DATA)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--plot", type=Path, default=None)
    args = parser.parse_args()
    console = Console()
    if not console.is_terminal:
        console = Console(width=max(console.width, 140))
    began = time.perf_counter()
    table = policies()
    per_trace: dict[str, dict[str, dict[str, Any]]] = {}
    rules: dict[str, dict[str, Any]] = {}
    for kind in arrivals.KINDS:
        trace = arrivals.azure(kind, args.data / "azure_llm")
        sizes = np.array([fn.minutes.size for fn in trace.functions])
        rules[kind] = {
            "minutes": trace.n_minutes,
            "fit_minutes": trace.n_fit,
            "start": str(trace.start),
            "functions": len(trace.functions),
            "functions_in_replay": int(
                sum(bool((fn.minutes >= trace.n_fit).any()) for fn in trace.functions)
            ),
            "invocation_minutes_per_function_p10_p50_p90": np.percentile(
                sizes, [10, 50, 90]
            ).tolist(),
        }
        per_trace[kind] = run(trace, table)
    total = pooled(per_trace)
    results = per_trace | {"pooled": total}
    for name, scores in results.items():
        r = rules.get(name)
        title = (
            f"{name}: {r['minutes']} min, fit {r['fit_minutes']}, {r['functions']} functions "
            f"({r['functions_in_replay']} invoked in the replay)"
            if r
            else f"pooled over {len(per_trace)} traces"
        )
        console.print(render(title, scores))
        hits = target(scores)
        console.print(
            f"  target (a point of ours dominating keep-alive 10 and 20): "
            f"{'holds at ' + ', '.join(hits) if hits else 'does not hold'}"
        )
    picks = left_out(per_trace)
    for name, p in picks.items():
        console.print(
            f"  left out {name}: ratio {p['ratio']} picked on the other trace "
            f"(margin there {p['margin_on_others']:+.3f}); here margin {p['margin_here']:+.3f}, "
            f"dominates both: {'yes' if p['dominates_both_here'] else 'no'}"
        )
    console.print(f"  {time.perf_counter() - began:.1f} s")
    if args.plot:
        plot(results, args.plot)
    if args.json:
        payload = {
            "rules": rules,
            "ratios": RATIOS,
            "scores": results,
            "target": {name: target(s) for name, s in results.items()},
            "left_out": picks,
        }
        args.json.write_text(json.dumps(payload, indent=2))


if __name__ == "__main__":
    main()
