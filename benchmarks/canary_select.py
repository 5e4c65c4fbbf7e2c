"""How ``benchmarks/canary.py``'s metric settings were chosen: leave one day out.

ChangeRCA's 51 experiments ran on three days. For each day, the settings are chosen on
the other two from a grid (each metric kind's tolerance and bad direction, which kinds
are critical, whether memory is judged, when a silent canary fails), by the best F1 with
a false-positive rate of at most 5%, the shortest median time to detect among those
within 0.02 of it; then scored on the day left out. The pooled held-out scores are the
honest numbers; the choice on all three days is what ``canary.py`` ships.

Each release's intervals are computed once (they depend on the data and the look, not
on the settings); the grid then replays the judge's rules on them. The replay is
checked against :class:`modelphase.decide.SequentialJudge` itself on every release for
the settings chosen on all days (``--check``).

    python benchmarks/canary_select.py [--data DIR] [--json OUT] [--check]
"""

from __future__ import annotations

import argparse
import itertools
import json
from multiprocessing import Pool
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import track

import _changerca as crca
import canary
from modelphase.decide import MARGINAL_THRESHOLD, PASS_THRESHOLD, MetricSpec, judge_metric

MIN_POINTS = 3
Look = tuple[int, bool, dict[str, tuple[int, int, float, float]]]


def intervals(release: crca.Release) -> list[Look]:
    """Per look: the release's age, whether the canary reported, and per metric the
    sample sizes and the relative shift's interval at that metric's own look."""
    counts: dict[str, int] = {}
    out: list[Look] = []
    for now in canary.looks(release):
        c, b = crca.window(release, now)
        metrics = {}
        for name, base in b.items():
            can = c.get(name, np.empty(0))
            n = min(int(np.isfinite(can).sum()), int(np.isfinite(base).sum()))
            if n >= MIN_POINTS:
                counts[name] = counts.get(name, 0) + 1
            v = judge_metric(can, base, MetricSpec(name, tolerance=0.0), look=counts.get(name, 1))
            low, high = v.relative_interval or (np.nan, np.nan)
            metrics[name] = (v.canary_n, v.baseline_n, low, high)
        out.append((now - release.release_time, bool(c), metrics))
    return out


def _decide(direction: str, tol: float, low: float, high: float) -> str:
    if (direction != "decrease" and low > tol) or (direction != "increase" and high < -tol):
        return "fail"
    within = (direction == "decrease" or high <= tol) and (direction == "increase" or low >= -tol)
    return "pass" if within else "open"


def replay(looks: list[Look], cfg: dict[str, Any]) -> tuple[str, int | None]:
    """The release's verdict under ``cfg``, by the rules of ``judge_canary``."""
    last = "inconclusive"
    for age, reported, metrics in looks:
        if not reported:
            if age >= cfg["silent"]:
                return "fail", age
            continue
        groups: dict[str, list[str]] = {}
        silent_critical = False
        for name, (cn, bn, low, high) in metrics.items():
            kind = crca.kind(name)
            if kind not in cfg["settings"]:
                continue
            direction, tol, critical = cfg["settings"][kind]
            if not cn:  # no canary data: out of the score, and no pass while critical
                silent_critical |= critical
                continue
            v = "open" if min(cn, bn) < MIN_POINTS else _decide(direction, tol, low, high)
            groups.setdefault(kind, []).append(v)
        if not groups:
            continue
        critical = [k for k in groups if cfg["settings"][k][2]]
        if any(v == "fail" for k in critical for v in groups[k]):
            return "fail", age
        share = len(groups)
        score = 100 * sum(np.mean([v == "pass" for v in g]) for g in groups.values()) / share
        best = 100 * sum(np.mean([v != "fail" for v in g]) for g in groups.values()) / share
        if best < MARGINAL_THRESHOLD:
            return "fail", age
        settled = not silent_critical and all(v == "pass" for k in critical for v in groups[k])
        last = (
            "pass"
            if score >= PASS_THRESHOLD and settled
            else "marginal"
            if score >= MARGINAL_THRESHOLD and settled
            else "inconclusive"
        )
    return last, None


def grid() -> list[dict[str, Any]]:
    out = []
    for lat, cpu, suc, mem, cdir, ldir, crit, silent in itertools.product(
        (0.5, 1.0, 2.0),
        (0.1, 0.25, 0.5),
        (0.05, 0.1),
        (None, 1.0),
        ("either", "increase"),
        ("increase", "either"),
        (("success",), ("success", "cpu"), ("success", "latency"), ("success", "cpu", "latency")),
        (300, 600, 900),
    ):
        settings = {
            "success": ("decrease", suc, "success" in crit),
            "latency": (ldir, lat, "latency" in crit),
            "cpu": (cdir, cpu, "cpu" in crit),
        }
        if mem is not None:
            settings["memory"] = ("increase", mem, False)
        out.append({"settings": settings, "silent": silent})
    return out


def counts(verdicts: list[tuple[bool, str, int | None]]) -> dict[str, Any]:
    tp = sum(f and v == "fail" for f, v, _ in verdicts)
    fp = sum(not f and v == "fail" for f, v, _ in verdicts)
    ttd = [t for f, v, t in verdicts if f and v == "fail" and t is not None]
    return {
        "tp": tp,
        "fp": fp,
        "n_faulty": sum(f for f, _, _ in verdicts),
        "n_good": sum(not f for f, _, _ in verdicts),
        "ttd": ttd,
    }


def pooled(parts: list[dict[str, Any]]) -> dict[str, Any]:
    tp, fp = sum(p["tp"] for p in parts), sum(p["fp"] for p in parts)
    nf, ng = sum(p["n_faulty"] for p in parts), sum(p["n_good"] for p in parts)
    recall, fpr = tp / nf, fp / ng
    precision = tp / (tp + fp) if tp + fp else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    ttd = [t for p in parts for t in p["ttd"]]
    median = float(np.median(ttd)) if ttd else float("inf")
    return {"recall": recall, "fpr": fpr, "f1": f1, "tp": tp, "fp": fp, "ttd_median": median}


def choose(table: list[dict[str, dict[str, Any]]], days: list[str]) -> int:
    scores = [pooled([row[d] for d in days]) for row in table]
    allowed = [i for i, s in enumerate(scores) if s["fpr"] <= 0.05]
    best = max(scores[i]["f1"] for i in allowed)
    near = [i for i in allowed if scores[i]["f1"] >= best - 0.02]
    return min(near, key=lambda i: (scores[i]["ttd_median"], -scores[i]["f1"]))


def _per_day(job: tuple[dict[str, Any], list[tuple[str, bool, list[Look]]]]) -> dict[str, Any]:
    cfg, cached = job
    by_day: dict[str, list[tuple[bool, str, int | None]]] = {}
    for day, faulty, looks in cached:
        by_day.setdefault(day, []).append((faulty, *replay(looks, cfg)))
    return {d: counts(v) for d, v in by_day.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=canary.DATA)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--check", action="store_true", help="replay == SequentialJudge")
    args = parser.parse_args()
    console = Console()
    releases = [r for case in crca.find_cases(str(args.data)) for r in crca.load_case(case)]
    with Pool(2) as pool:
        cached_looks = list(track(pool.imap(intervals, releases), "intervals", len(releases)))
    cached = [(r.day, r.faulty, lk) for r, lk in zip(releases, cached_looks, strict=True)]
    configs = grid()
    with Pool(2) as pool:
        table = list(
            track(
                pool.imap(_per_day, [(c, cached) for c in configs], chunksize=16),
                f"{len(configs)} settings",
                len(configs),
            )
        )
    days = sorted({r.day for r in releases})
    folds = []
    for day in days:
        i = choose(table, [d for d in days if d != day])
        held = pooled([table[i][day]])
        folds.append(
            {"held_out": day, "settings": configs[i], "scores": held, "raw": table[i][day]}
        )
        console.print(f"held out {day}: {json.dumps(configs[i])}\n   {held}")
    total = pooled([f["raw"] for f in folds])
    console.print(f"[bold]pooled held-out[/]: {total}")
    final = configs[choose(table, days)]
    console.print(f"chosen on all days: {json.dumps(final)}")
    if args.check:
        shipped = {"settings": canary.SETTINGS, "silent": canary.SILENT_AFTER}
        j = configs.index(shipped) if shipped in configs else None
        assert j is not None, "canary.SETTINGS is not in the grid"
        for r, (_, _, lk) in zip(releases, cached, strict=True):
            assert replay(lk, shipped) == canary.run_modelphase(r), r.key
        console.print("replay agrees with SequentialJudge on every release")
    if args.json:
        args.json.write_text(
            json.dumps({"folds": folds, "pooled": total, "chosen": final}, default=str, indent=2)
        )


if __name__ == "__main__":
    main()
