"""Canary benchmark: modelphase's judge, Kayenta's and Flagger's on ChangeRCA's releases.

217 rolling releases (51 faulty, 166 good) of ``../shared/data/canary`` (see
``_changerca.py``), judged online: every minute after the release, the canary's samples
since the release against the baseline pods' over the same minutes; a release's verdict
is its first ``fail`` (time to detect = that minute after the release), else its last
verdict. Side by side, on the same samples and the same metrics (per call edge: success
rate, bad when it drops, critical; latency, bad when it rises; per pod: CPU):

- ``modelphase``: :class:`modelphase.decide.SequentialJudge` (anytime-valid intervals),
  with the benchmark's metric settings (``SETTINGS``), chosen by leaving one day of
  experiments out over a grid (``canary_select.py``; BENCHMARKS.md has the held-out
  scores); the silent-canary rule at 5 minutes.
- ``kayenta``: a faithful NetflixACAJudge (``_kayenta.py``), default tolerance 0.25 and
  98% intervals, pass 95 / marginal 75, each metric kind a group of equal weight; judged
  every minute like the others, except that a minute in which the canary has reported
  nothing at all is skipped for the first 5 minutes (the same grace as modelphase's);
  on the metrics the canary has reported (``kayenta``) or on all (``kayenta (every
  metric)``: Kayenta's Nodata rule then zeroes the score of most releases); and once,
  over the first 10 minutes, as a single analysis interval (``kayenta (once, 10 min)``).
- ``flagger``: its two built-in checks (success rate >= 99%, p99 latency <= 500 ms) on
  the canary's last minute, every minute, rollback after 5 failed checks (``_flagger.py``).

    python benchmarks/canary.py [--data ../shared/data/canary/changerca/data] [--json OUT]

Printed: recall on faulty releases, false-positive rate on good ones, F1, median and
p90 time to detect, share inconclusive, seconds. These are development-set numbers.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import track
from rich.table import Table

import _changerca as crca
import _flagger as flagger
import _kayenta as kayenta
from modelphase.decide import MetricSpec, SequentialJudge

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "canary" / "changerca" / "data"
#: per metric kind: (bad direction, tolerance, critical); memory is left out (chosen so)
SETTINGS: dict[str, tuple[str, float, bool]] = {
    "success": ("decrease", 0.05, True),
    "latency": ("increase", 2.0, False),
    "cpu": ("either", 0.5, False),
}
SILENT_AFTER = 300
STEP = 60

Verdict = tuple[str, int | None]


def looks(release: crca.Release) -> list[int]:
    return list(range(release.release_time + STEP, release.end_time + STEP, STEP))


def specs_for(names: list[str]) -> list[MetricSpec]:
    """Each metric kind weighs the same in the score, shared by its metrics."""
    kinds = [crca.kind(n) for n in names]
    return [
        MetricSpec(n, SETTINGS[k][0], SETTINGS[k][1], SETTINGS[k][2], 1.0 / kinds.count(k))
        for n, k in zip(names, kinds, strict=True)
    ]


def run_modelphase(release: crca.Release) -> Verdict:
    seq: SequentialJudge | None = None
    last = "inconclusive"
    for now in looks(release):
        canary, baseline = crca.window(release, now, set(SETTINGS))
        if not baseline:
            continue
        if seq is None or {s.name for s in seq.specs} != set(baseline):
            old = seq.looks if seq is not None else {}
            seq = SequentialJudge(specs_for(sorted(baseline)))
            seq.looks = {k: v for k, v in old.items() if k in baseline}
        silent = float(now - release.release_time) if not canary else None
        v = seq.judge(canary, baseline, silent_for=silent)
        if v.verdict == "fail":
            return "fail", now - release.release_time
        last = v.verdict
    return last, None


def run_kayenta(
    release: crca.Release, *, all_metrics: bool = False, once_at: int | None = None
) -> Verdict:
    """Kayenta every minute; by default only on the metrics the canary has reported so
    far (a Kayenta user lists metrics that exist; with ``all_metrics``, a metric the
    canary has no samples of is Kayenta's ``Nodata``, and half of them zero the score).
    ``once_at``: one analysis only, over the first ``once_at`` seconds."""
    last = "inconclusive"
    for now in looks(release):
        if once_at is not None and now != release.release_time + once_at:
            continue
        canary, baseline = crca.window(release, now, set(SETTINGS))
        if not baseline or (not canary and now - release.release_time < SILENT_AFTER):
            continue
        inputs = [
            kayenta.MetricInput(
                name=n,
                group=crca.kind(n),
                control=baseline[n],
                experiment=canary.get(n, np.empty(0)),
                direction=SETTINGS[crca.kind(n)][0],
                critical=SETTINGS[crca.kind(n)][2],
            )
            for n in sorted(baseline)
            if all_metrics or n in canary or not canary
        ]
        summary = kayenta.judge(inputs).summary
        if summary == "Fail":
            return "fail", now - release.release_time
        last = summary.lower()
    return last, None


def run_flagger(release: crca.Release) -> Verdict:
    analysis = flagger.FlaggerAnalysis(threshold=5)
    s = release.samples
    served = s["metric"].str.endswith(f"_{release.service}:success") | s["metric"].str.endswith(
        f"_{release.service}:latency"
    )
    s = s[(s["version"] == "v2") & served]
    for now in looks(release):
        minute = s[(s["ts"] > now - STEP) & (s["ts"] <= now)]
        ok, _ = flagger.check(
            minute.loc[minute["metric"].str.endswith(":success"), "value"].to_numpy(),
            minute.loc[minute["metric"].str.endswith(":latency"), "value"].to_numpy(),
        )
        if analysis.step(ok) == "rollback":
            return "fail", now - release.release_time
    return "pass", None


def score(releases: list[crca.Release], verdicts: list[Verdict]) -> dict[str, Any]:
    faulty = [v for r, v in zip(releases, verdicts, strict=True) if r.faulty]
    good = [v for r, v in zip(releases, verdicts, strict=True) if not r.faulty]
    tp = sum(v == "fail" for v, _ in faulty)
    fp = sum(v == "fail" for v, _ in good)
    recall, fpr = tp / len(faulty), fp / len(good)
    precision = tp / (tp + fp) if tp + fp else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    ttd = [t for v, t in faulty if v == "fail" and t is not None]
    return {
        "recall": recall,
        "false_positive_rate": fpr,
        "f1": f1,
        "detected": tp,
        "false_positives": fp,
        "ttd_median_s": float(np.median(ttd)) if ttd else None,
        "ttd_p90_s": float(np.percentile(ttd, 90)) if ttd else None,
        "inconclusive": sum(v == "inconclusive" for v, _ in verdicts) / len(verdicts),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    console = Console()
    releases = [
        r
        for case in track(crca.find_cases(str(args.data)), description="loading releases")
        for r in crca.load_case(case)
    ]
    judges: dict[str, Callable[[crca.Release], Verdict]] = {
        "modelphase": run_modelphase,
        "kayenta": run_kayenta,
        "kayenta (every metric)": lambda r: run_kayenta(r, all_metrics=True),
        "kayenta (once, 10 min)": lambda r: run_kayenta(r, once_at=600),
        "flagger": run_flagger,
    }
    results: dict[str, Any] = {}
    per_release: dict[str, list[Verdict]] = {}
    for name, run in judges.items():
        start = time.perf_counter()
        verdicts = [run(r) for r in track(releases, description=name)]
        results[name] = score(releases, verdicts) | {"seconds": time.perf_counter() - start}
        per_release[name] = verdicts
    table = Table(title=f"canary judges on {len(releases)} ChangeRCA releases (development set)")
    columns = ("judge", "recall", "FPR", "F1", "F1 / kayenta", "TTD median", "TTD p90")
    for col in (*columns, "inconclusive", "s"):
        table.add_column(col, justify="left" if col == "judge" else "right")
    for name, m in results.items():
        table.add_row(
            name,
            f"{m['recall']:.3f}",
            f"{m['false_positive_rate']:.3f}",
            f"{m['f1']:.3f}",
            f"{m['f1'] / results['kayenta']['f1']:.2f}" if results["kayenta"]["f1"] else "-",
            f"{m['ttd_median_s']:.0f} s" if m["ttd_median_s"] is not None else "-",
            f"{m['ttd_p90_s']:.0f} s" if m["ttd_p90_s"] is not None else "-",
            f"{m['inconclusive']:.3f}",
            f"{m['seconds']:.1f}",
        )
    console.print(table)
    if args.json:
        detail = {
            name: [
                {"release": r.key, "faulty": r.faulty, "fault": r.fault, "verdict": v, "ttd_s": t}
                for r, (v, t) in zip(releases, verdicts, strict=True)
            ]
            for name, verdicts in per_release.items()
        }
        args.json.write_text(json.dumps({"scores": results, "releases": detail}, indent=2))


if __name__ == "__main__":
    main()
