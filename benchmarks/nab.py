"""NAB benchmark: modelphase's streaming detectors on the NAB development subset.

35 files of the Numenta Anomaly Benchmark (``../shared/data/nab``: realAWSCloudwatch,
realKnownCause, artificialNoAnomaly, artificialWithAnomaly; 181,653 rows, 55 windows).
Each detector (a name of ``modelphase.anomaly.DETECTORS``, its default parameters) scores
every file from scratch, row after row, with ``modelphase.anomaly.score_stream`` (values
as float, times as int64 ns, file order, repeated timestamps kept); the scores are then
scored by ``modelphase.backtest.nab_score`` under NAB's three profiles, one threshold per
profile chosen over the whole corpus, as NAB does.

    python benchmarks/nab.py [--detector NAME ...] [--nab-dir ../shared/data/nab]
        [--results-dir DIR] [--check] [--worst N]
        [--sim-seeds 3] [--sim-services 10] [--sim-days 7]

Printed: the three normalised scores beside the detectors published on this subset
(scored by the reference scorer, ``../shared/data/nab/README.md``) and the difference to
ARTime (the best) and Numenta HTM; scoring speed in rows per second against the target of
50,000 rows/s (the scoring alone, one process, one thread: OMP/BLAS threads are set to 1
below); per category the standard score, and the files that lose the most raw points
(``lost = perfect - raw``, perfect being A_TP for each window), to show where points go.

``--results-dir DIR`` writes NAB's results layout, ``DIR/<detector>/<category>/<file>.csv``
with ``timestamp,value,anomaly_score`` (timestamp and value as in the input text);
``--check`` then runs the reference scorer (``../shared/tools/nabscore.py``) on it and
prints its scores and thresholds beside ours. Timings are measurements, never test
assertions.

Then the simulator's ground truth: ``--sim-seeds`` simulations (``modelphase.simulate``,
``--sim-services`` services of six series for ``--sim-days`` days at 1 minute, with
injected incidents, surges and deploys) are run through each detector's grouped alerts
(``modelphase.anomaly.alerts.detect_alerts``: its default threshold, 1-hour episodes, one
alert per service), and ``modelphase.backtest.score_alerts`` gives precision (alerts that
overlap an incident of their service), recall (incidents alerted), detection delay and
false alerts per service-day.
"""

from __future__ import annotations

import os

# one thread: the rows/s figure is for one core, whatever the machine
os.environ.update(
    dict.fromkeys(
        ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"),
        "1",
    )
)

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from modelphase.anomaly import DEFAULT_DETECTOR, DETECTORS, build_detector, score_stream
from modelphase.anomaly.alerts import detect_alerts
from modelphase.backtest import (
    NabCorpus,
    NabResult,
    load_nab_corpus,
    nab_score,
    score_alerts,
    service_days,
)
from modelphase.simulate import simulate

SHARED = Path(__file__).resolve().parents[2] / "shared"
NAB_DIR = SHARED / "data" / "nab"
REFERENCE = SHARED / "tools" / "nabscore.py"
PROFILES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")
SHORT = {"standard": "standard", "reward_low_FP_rate": "low FP", "reward_low_FN_rate": "low FN"}
TARGET_ROWS_PER_SECOND = 50_000.0
FLOAT_MAX = float(np.finfo(np.float64).max)
VERSIONS = ("modelphase", "numpy", "pandas")
#: scored by the reference scorer on exactly this subset (README of the data)
PUBLISHED = {
    "ARTime": (67.85, 57.84, 73.72),
    "Numenta HTM": (66.59, 60.81, 71.06),
    "CAD OSE": (62.19, 57.14, 66.31),
    "KNN CAD": (52.97, 40.14, 59.56),
    "Twitter ADVec": (36.18, 22.78, 42.91),
    "Windowed Gaussian": (21.97, 4.87, 29.80),
}
PEERS = ("ARTime", "Numenta HTM")


def score_corpus(name: str, corpus: NabCorpus) -> tuple[dict[str, np.ndarray], float]:
    """Each file scored from scratch by detector ``name``; the wall seconds of the
    scoring alone (no reading, no NAB scoring)."""
    detector = build_detector(name)
    scores, seconds = {}, 0.0
    for f in corpus.files:
        assert f.values is not None  # load_nab_corpus reads them
        t0 = time.perf_counter()
        scores[f.relpath] = score_stream(detector, f.values, f.times)
        seconds += time.perf_counter() - t0
    return scores, seconds


def write_results(
    out: Path, nab_dir: Path, corpus: NabCorpus, scores: dict[str, np.ndarray]
) -> None:
    """NAB's results layout for one detector: ``out/<category>/<file>.csv``."""
    for f in corpus.files:
        text = pd.read_csv(nab_dir / "data" / f.relpath, dtype=str, keep_default_na=False)
        text["anomaly_score"] = scores[f.relpath]
        path = out / f.relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        text[["timestamp", "value", "anomaly_score"]].to_csv(path, index=False)


def run_reference(nab_dir: Path, results: Sequence[Path]) -> dict[str, dict[str, dict]]:
    """The reference scorer's JSON: results-dir name -> profile -> score, threshold, ..."""
    if not REFERENCE.is_file():
        raise SystemExit(f"--check: the reference scorer is not at {REFERENCE}")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "reference.json"
        cmd = [sys.executable, str(REFERENCE), "--data", str(nab_dir), "--json", str(out)]
        done = subprocess.run(
            [*cmd, "--results", *map(str, results)], capture_output=True, text=True
        )
        if done.returncode != 0:
            raise SystemExit(f"--check: the reference scorer failed:\n{done.stderr}")
        result: dict[str, dict[str, dict]] = json.loads(out.read_text())
        return result


def fmt_threshold(t: float | None) -> str:
    """inf (None in the reference's JSON) is "no detection"; ours fires on +inf scores
    only at the largest float, which the reference also calls inf."""
    if t is None or math.isinf(t):
        return "inf"
    return "+inf only" if t == FLOAT_MAX else f"{t:.6g}"


def scores_table(results: dict[str, dict[str, NabResult]]) -> Table:
    rows = {f"modelphase:{n}": tuple(r[p].score for p in PROFILES) for n, r in results.items()}
    rows |= PUBLISHED
    table = Table(title="NAB development subset: normalised scores", title_justify="left")
    cols = ["detector", *(SHORT[p] for p in PROFILES), *(f"vs {p} (std/FP/FN)" for p in PEERS)]
    for col in cols:
        table.add_column(col, justify="left" if col == "detector" else "right")
    for name, vals in sorted(rows.items(), key=lambda kv: -kv[1][0]):
        diffs = [
            " / ".join(f"{v - ref:+.2f}" for v, ref in zip(vals, PUBLISHED[p], strict=True))
            for p in PEERS
        ]
        label = f"[bold]{name}[/bold]" if name not in PUBLISHED else name
        table.add_row(label, *(f"{v:.2f}" for v in vals), *diffs)
    return table


def detail_table(results: dict[str, dict[str, NabResult]], n_windows: int) -> Table:
    table = Table(title="thresholds chosen over the corpus", title_justify="left")
    for col in ("detector", "profile", "threshold", "raw", "windows hit", "FP", "FN"):
        table.add_column(col, justify="left" if col in ("detector", "profile") else "right")
    for name, res in results.items():
        for p in PROFILES:
            r = res[p]
            table.add_row(
                name,
                p,
                fmt_threshold(r.threshold),
                f"{r.raw:.3f}",
                f"{r.tp}/{n_windows}",
                str(r.fp),
                str(r.fn),
            )
    return table


def speed_table(speed: dict[str, tuple[int, float]]) -> Table:
    title = f"scoring speed, one thread (target {TARGET_ROWS_PER_SECOND:,.0f} rows/s)"
    table = Table(title=title, title_justify="left")
    for col in ("detector", "rows", "seconds", "rows/s", "vs target"):
        table.add_column(col, justify="left" if col == "detector" else "right")
    for name, (rows, sec) in speed.items():
        rate = rows / sec if sec > 0 else math.inf
        table.add_row(
            name, f"{rows:,}", f"{sec:.2f}", f"{rate:,.0f}", f"{rate / TARGET_ROWS_PER_SECOND:.2f}x"
        )
    return table


def category_table(name: str, result: NabResult) -> Table:
    """Per category at the corpus threshold: its own normalised score where it has
    windows, and the raw points it loses."""
    table = Table(title=f"{name}, {result.profile}: by category", title_justify="left")
    cols = ("category", "files", "windows", "hit", "FP", "raw", "perfect", "lost", "score")
    for col in cols:
        table.add_column(col, justify="left" if col == "category" else "right")
    cats: dict[str, list] = {}
    for relpath, f in result.files.items():
        cats.setdefault(relpath.rpartition("/")[0], []).append(f)
    for cat, files in sorted(cats.items()):
        raw, perfect, null = (sum(getattr(f, k) for f in files) for k in ("raw", "perfect", "null"))
        score = f"{100 * (raw - null) / (perfect - null):.2f}" if perfect > null else "-"
        table.add_row(
            cat,
            str(len(files)),
            str(sum(f.n_windows for f in files)),
            str(sum(f.tp for f in files)),
            str(sum(f.fp for f in files)),
            f"{raw:.3f}",
            f"{perfect:.1f}",
            f"{perfect - raw:.3f}",
            score,
        )
    return table


def worst_table(name: str, result: NabResult, n: int) -> Table:
    total = sum(f.lost for f in result.files.values())
    table = Table(title=f"{name}, {result.profile}: files losing most points", title_justify="left")
    for col in ("file", "windows", "hit", "FP", "raw", "lost", "share of lost"):
        table.add_column(col, justify="left" if col == "file" else "right")
    for f in sorted(result.files.values(), key=lambda f: -f.lost)[:n]:
        share = f"{f.lost / total:.1%}" if total > 0 else "-"
        table.add_row(
            f.relpath,
            str(f.n_windows),
            str(f.tp),
            str(f.fp),
            f"{f.raw:.3f}",
            f"{f.lost:.3f}",
            share,
        )
    return table


def check_table(results: dict[str, dict[str, NabResult]], ref: dict[str, dict[str, dict]]) -> Table:
    table = Table(title="check: modelphase's scorer vs the reference", title_justify="left")
    cols = ("detector", "profile", "score", "reference", "threshold", "reference thr", "same")
    for col in cols:
        table.add_column(col, justify="left" if col in ("detector", "profile") else "right")
    for name, res in results.items():
        for p in PROFILES:
            ours, theirs = res[p], ref[name][p]
            t_ref = theirs["threshold"]
            if t_ref is None:
                same_thr = ours.threshold in (math.inf, FLOAT_MAX)
            else:
                same_thr = math.isclose(ours.threshold, t_ref, rel_tol=1e-9)
            same = same_thr and abs(ours.score - theirs["score"]) < 1e-6
            table.add_row(
                name,
                p,
                f"{ours.score:.6f}",
                f"{theirs['score']:.6f}",
                fmt_threshold(ours.threshold),
                fmt_threshold(t_ref),
                "yes" if same else "[red]NO[/red]",
            )
    return table


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--detector", action="append", choices=sorted(DETECTORS), metavar="NAME",
        help=f"of {', '.join(sorted(DETECTORS))} (repeatable; default {DEFAULT_DETECTOR})",
    )  # fmt: skip
    parser.add_argument("--nab-dir", type=Path, default=NAB_DIR)
    parser.add_argument("--results-dir", type=Path, help="write NAB's results layout here")
    parser.add_argument("--check", action="store_true", help="score again with the reference")
    parser.add_argument("--worst", type=int, default=10, help="files listed per detector")
    parser.add_argument(
        "--sim-seeds", type=int, default=3, metavar="N",
        help="simulations scored against their injected incidents (0: none)",
    )  # fmt: skip
    parser.add_argument("--sim-services", type=int, default=10)
    parser.add_argument("--sim-days", type=float, default=7.0)
    args = parser.parse_args(argv)
    if args.check and args.results_dir is None:
        parser.error("--check scores the files --results-dir writes: give --results-dir")
    names = args.detector or [DEFAULT_DETECTOR]

    console = Console(width=max(Console().width, 130))  # not cut when piped to a file
    console.print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, load average "
        + " ".join(f"{x:.2f}" for x in os.getloadavg())
        + "; "
        + ", ".join(f"{p} {version(p)}" for p in VERSIONS)
    )
    if not (args.nab_dir / "labels" / "combined_windows.json").is_file():
        raise SystemExit(f"no NAB corpus under {args.nab_dir} (it ships in ../shared/data/nab)")
    t0 = time.perf_counter()
    corpus = load_nab_corpus(args.nab_dir)
    console.print(
        f"corpus {args.nab_dir}: {len(corpus.files)} files, {corpus.n_rows:,} rows, "
        f"{corpus.n_windows} windows (read in {time.perf_counter() - t0:.2f} s)"
    )

    results, speed = {}, {}
    for name in names:
        scores, seconds = score_corpus(name, corpus)
        t0 = time.perf_counter()
        results[name] = nab_score(corpus, scores)
        console.print(
            f"{name} {build_detector(name)!r}: scored in {seconds:.2f} s, "
            f"NAB-scored in {time.perf_counter() - t0:.3f} s"
        )
        speed[name] = (corpus.n_rows, seconds)
        if args.results_dir is not None:
            write_results(args.results_dir / name, args.nab_dir, corpus, scores)

    console.print(scores_table(results))
    console.print(detail_table(results, corpus.n_windows))
    console.print(speed_table(speed))
    for name, res in results.items():
        console.print(category_table(name, res["standard"]))
        console.print(worst_table(name, res["standard"], args.worst))
    if args.results_dir is not None:
        console.print(f"results written to {args.results_dir}/<detector>/<category>/<file>.csv")
    if args.check:
        ref = run_reference(args.nab_dir, [args.results_dir / n for n in names])
        console.print(check_table(results, ref))
    if args.sim_seeds > 0:
        console.print(simulated_table(names, args.sim_seeds, args.sim_services, args.sim_days))
    return 0


def simulated_table(names: Sequence[str], seeds: int, services: int, days: float) -> Table:
    """Precision, recall and detection delay of each detector's grouped alerts against
    the incidents the simulator injected (``modelphase.simulate``, 1-minute steps), with
    the detector's default threshold, a 1-hour cool-down and one alert per service."""
    table = Table(
        title=f"simulated telemetry: {services} services x {days:g} days at 1 minute, "
        f"{seeds} seeds; alerts grouped by service against the injected incidents",
        title_justify="left",
    )
    for col in ("detector", "alerts", "incidents", "precision", "recall", "delay median",
                "delay p90", "false alerts / service-day", "seconds"):  # fmt: skip
        table.add_column(col, justify="left" if col == "detector" else "right")
    for name in names:
        alerts = incidents = true_alerts = detected = false = 0
        delays: list[float] = []
        days_total = 0.0
        t0 = time.perf_counter()
        for seed in range(seeds):
            sim = simulate(services=services, days=days, seed=seed)
            panel = sim.panel
            found = detect_alerts(panel, detector=build_detector(name), decider=None)
            score = score_alerts(found, sim.events, service_days=service_days(panel))
            alerts += score.n_alerts
            incidents += score.n_incidents
            true_alerts += score.true_alerts
            detected += score.detected
            false += score.false_alerts
            days_total += score.service_days or 0.0
            delays += [d / 60e9 for d in score.incident_delays if d is not None]
        seconds = time.perf_counter() - t0
        median = f"{np.median(delays):.0f} min" if delays else "-"
        p90 = f"{np.percentile(delays, 90):.0f} min" if delays else "-"
        table.add_row(
            name,
            f"{alerts}",
            f"{incidents}",
            f"{true_alerts}/{alerts} ({true_alerts / max(alerts, 1):.0%})",
            f"{detected}/{incidents} ({detected / max(incidents, 1):.0%})",
            median,
            p90,
            f"{false / days_total:.2f}" if days_total else "-",
            f"{seconds:.1f}",
        )
    return table


if __name__ == "__main__":
    sys.exit(main())
