"""Scale benchmark: a training run on 10,000 series of two weeks at five minutes.

10,000 simulated SRE series (``modelphase.simulate``: request rates, latencies, error
ratios, CPU and memory of 1,667 services, with daily and weekly seasonality, trends,
noise, levels from error ratios of 1e-3 to gigabytes, incidents, surges and missing
scrapes), 14 days at 5 minutes from Monday 2026-01-05 (4,032 points each, 40.3 M
points). :func:`modelphase.train.train` fits the candidates, backtests them on 3
windows of one day (h = 288, 288 steps apart), chooses per series, calibrates conformal
intervals at 80% and 95%, refits and forecasts a day. Candidates: SeasonalNaive (1d),
WeeklyNaive (SeasonalNaive with a 7d season: with two weeks of history, telemetry's
weekly cycle is there to use), SeasonalWindowAverage (1d, 3 seasons) and LightGBM (the
global model, included when it imports and :func:`train` fits it across series rather
than once per series, which a small probe checks first).

Reported: seconds (data generation apart, not counted), per stage, points per second,
peak memory (the parent's high-water RSS, the largest worker's from
``RUSAGE_CHILDREN``, and the whole process tree's RSS sampled every 0.2 s), interval
coverage and its distance from nominal, MASE and MASE relative to the seasonal naive
baseline, series per chosen model, fallbacks. Peer in the same run, on the same data
(inner gaps filled linearly, as modelphase does before fitting): statsforecast
``StatsForecast([SeasonalNaive(288), SeasonalWindowAverage(288, 3)], freq="5min")``,
``cross_validation(h=288, n_windows=3, step_size=288, level=[80, 95])`` then
``forecast(h=288, level=[80, 95])``; SeasonalWindowAverage has no intervals of its own,
so it gets statsforecast's ``ConformalIntervals(h=288, n_windows=2)``.

    python benchmarks/scale.py [--series 10000] [--days 14] [--start 2026-01-05]
        [--n-jobs 2] [--candidates SeasonalNaive,WeeklyNaive,SeasonalWindowAverage,LightGBM]
        [--skip-peer]

``--start`` moves the calendar: from the default Monday the backtest windows are the
last Friday, Saturday and Sunday; ``--start 2026-01-09`` puts them on Tuesday to
Thursday.

Target (issue): under 10 minutes on the project's 2-core machine, coverage within 3
points of nominal. Timings here are measurements, never test assertions.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from modelphase.frame import Panel, parse_duration
from modelphase.simulate import simulate
from modelphase.spec import ModelSpec, parse_spec
from modelphase.train import TrainingRun, train

STEP = parse_duration("5m")
H = 288  # one day at five minutes
WINDOWS = 3
LEVELS = (80, 95)
TARGET_SECONDS = 600.0
SERIES_PER_SERVICE = 6
VERSIONS = ("modelphase", "statsforecast", "lightgbm", "numpy", "pandas")
#: name -> the candidate's entry in the spec
CANDIDATES = {
    "SeasonalNaive": "model: SeasonalNaive, params: {season_length: 1d}",
    "WeeklyNaive": "model: SeasonalNaive, alias: WeeklyNaive, params: {season_length: 7d}",
    "SeasonalWindowAverage": (
        "model: SeasonalWindowAverage, params: {season_length: 1d, window_size: 3}"
    ),
    "LightGBM": "model: LightGBM, params: {season_length: 1d}",
}
# just enough LightGBM for the probe to see how train() fits it
PROBE_LIGHTGBM = (
    "model: LightGBM, params: "
    "{season_length: 1d, n_estimators: 5, lags: [1, 288], rolling: {}, calendar: []}"
)
SPEC = """\
name: scale-benchmark
kind: forecast
target: {{dataset: '5ca1e'}}
frequency: 5m
horizon: {h}
levels: [80, 95]
backtest: {{windows: {windows}, step: {h}}}
candidates:
{candidates}
"""


def make_spec(candidates: dict[str, str]) -> ModelSpec:
    lines = "\n".join(f"  - {{{entry}}}" for entry in candidates.values())
    return parse_spec(SPEC.format(h=H, windows=WINDOWS, candidates=lines))


def make_panel(n_series: int, days: float, seed: int, start: int) -> Panel:
    """``n_series`` simulated series: six per service, the extra ones of the last
    service dropped."""
    services = math.ceil(n_series / SERIES_PER_SERVICE)
    panel = simulate(services=services, days=days, step=STEP, start=start, seed=seed).panel
    return panel.subset(panel.ids[:n_series])


# --- memory -------------------------------------------------------------------------------


def reset_peak_rss() -> None:
    """Reset this process's RSS high-water mark (Linux >= 4.0; ignored elsewhere)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_rss_self() -> int:
    """Bytes: this process's RSS high-water mark since the last reset."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def peak_rss_children() -> int:
    """Bytes: the largest high-water RSS among the finished child processes."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024


def tree_rss(root: int) -> tuple[int, int]:
    """Bytes: the summed RSS of ``root`` and its descendants, and the largest one's
    (shared pages are counted in every process that maps them)."""
    parent: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    parent[int(name)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, frontier = [root], [root]
    while frontier:
        frontier = [p for p, pp in parent.items() if pp in frontier]
        tree += frontier
    page = os.sysconf("SC_PAGE_SIZE")
    sizes = {}
    for pid in tree:
        try:
            with open(f"/proc/{pid}/statm") as f:
                sizes[pid] = int(f.read().split()[1]) * page
        except (OSError, IndexError, ValueError):
            continue
    children = [v for p, v in sizes.items() if p != root]
    return sum(sizes.values()), max(children, default=0)


class RssSampler(threading.Thread):
    """Samples :func:`tree_rss` every ``interval`` seconds; peaks per ``stage``."""

    def __init__(self, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.stage: str | None = None
        self.total: Counter[str] = Counter()
        self.worker: Counter[str] = Counter()
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(self.interval):
            stage = self.stage
            if stage is not None:
                total, worker = tree_rss(os.getpid())
                self.total[stage] = max(self.total[stage], total)
                self.worker[stage] = max(self.worker[stage], worker)

    def stop(self) -> None:
        self._done.set()
        self.join()


# --- modelphase -----------------------------------------------------------------------------


def probe_lightgbm(panel: Panel) -> tuple[bool, str]:
    """Whether LightGBM imports and :func:`train` fits it across series: a 2-series run
    with a tiny model, counting the per-series ``fit(y)`` calls."""
    try:
        from modelphase.forecast.gbm import GlobalLightGBM
    except Exception as exc:  # an import error of any kind means: not available
        return False, f"does not import ({type(exc).__name__}: {exc})"
    calls: Counter[str] = Counter()
    per_series = GlobalLightGBM.fit

    def counting_fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls["fit"] += 1
        return per_series(self, *args, **kwargs)

    GlobalLightGBM.fit = counting_fit  # type: ignore[method-assign]
    spec = make_spec({"SeasonalNaive": CANDIDATES["SeasonalNaive"], "LightGBM": PROBE_LIGHTGBM})
    try:
        train(spec, panel.subset(panel.ids[:2]), n_jobs=1)
    except Exception as exc:
        return False, f"fails in train() ({type(exc).__name__}: {exc})"
    finally:
        GlobalLightGBM.fit = per_series  # type: ignore[method-assign]
    if calls["fit"]:
        return False, (
            f"train() fits it once per series and window ({calls['fit']} fits for 2 series; "
            "at 4,032 points a fit takes seconds: days of CPU for 10,000 series)"
        )
    return True, "train() fits it across series"


@dataclass
class Stages:
    """Wall-clock marks from train()'s progress callback."""

    start: float = field(default_factory=time.perf_counter)
    marks: list[tuple[float, str, int, int]] = field(default_factory=list)

    def __call__(self, stage: str, done: int, total: int) -> None:
        self.marks.append((time.perf_counter(), stage, done, total))

    def spans(self, end: float) -> list[tuple[str, float]]:
        """Seconds per stage, and the gaps between stages, in order."""
        labels = list(dict.fromkeys(m[1] for m in self.marks))
        first = {s: min(t for t, m, *_ in self.marks if m == s) for s in labels}
        last = {s: max(t for t, m, *_ in self.marks if m == s) for s in labels}
        out = [("checks and windows (before the first stage)", first[labels[0]] - self.start)]
        for k, stage in enumerate(labels):
            out.append((stage, last[stage] - first[stage]))
            nxt = first[labels[k + 1]] if k + 1 < len(labels) else end
            what = "gather results" if k + 1 < len(labels) else "final calibration and forecast"
            out.append((f"{what} (after {stage})", nxt - last[stage]))
        return out


@dataclass
class Result:
    seconds: float
    stages: list[tuple[str, float]]
    parent_peak: int
    worker_peak: int


def run_modelphase(
    spec: ModelSpec, panel: Panel, n_jobs: int, sampler: RssSampler
) -> tuple[TrainingRun, Result]:
    reset_peak_rss()
    sampler.stage = "modelphase"
    stages = Stages()
    run = train(spec, panel, n_jobs=n_jobs, progress=stages)
    end = time.perf_counter()
    sampler.stage = None
    result = Result(end - stages.start, stages.spans(end), peak_rss_self(), peak_rss_children())
    return run, result


# --- the peer: statsforecast ------------------------------------------------------------


def peer_frame(panel: Panel) -> pd.DataFrame:
    """statsforecast's long frame; inner gaps filled linearly, as modelphase does."""
    y = panel.y.copy()
    for i in range(panel.n_series):
        part = y[panel.indptr[i] : panel.indptr[i + 1]]
        gaps = ~np.isfinite(part)
        if gaps.any():
            idx = np.arange(len(part))
            part[gaps] = np.interp(idx[gaps], idx[~gaps], part[~gaps])
    ids = pd.Index(panel.ids, dtype=object)
    uid = pd.Categorical.from_codes(panel.series_index(), categories=ids)
    return pd.DataFrame({"unique_id": uid, "ds": panel.ds.view("datetime64[ns]"), "y": y})


def run_peer(df: pd.DataFrame, n_jobs: int, sampler: RssSampler) -> tuple[pd.DataFrame, Result]:
    from statsforecast import StatsForecast
    from statsforecast.models import SeasonalNaive, SeasonalWindowAverage
    from statsforecast.utils import ConformalIntervals

    conformal = ConformalIntervals(h=H, n_windows=2)
    models = [
        SeasonalNaive(H, alias="SeasonalNaive"),
        SeasonalWindowAverage(H, 3, alias="SeasonalWindowAverage", prediction_intervals=conformal),
    ]
    sf = StatsForecast(models=models, freq="5min", n_jobs=n_jobs)
    reset_peak_rss()
    sampler.stage = "statsforecast"
    t0 = time.perf_counter()
    cv = sf.cross_validation(df=df, h=H, n_windows=WINDOWS, step_size=H, level=list(LEVELS))
    t1 = time.perf_counter()
    sf.forecast(df=df, h=H, level=list(LEVELS))
    t2 = time.perf_counter()
    sampler.stage = None
    stages = [("cross_validation (3 windows)", t1 - t0), ("forecast (1 day)", t2 - t1)]
    return cv, Result(t2 - t0, stages, peak_rss_self(), peak_rss_children())


def mase_scales(panel: Panel, cutoff: int, season: int) -> np.ndarray:
    """As modelphase's training report: the seasonal-naive MAE before the first cutoff."""
    out = np.full(panel.n_series, np.nan)
    for i in range(panel.n_series):
        sl = slice(panel.indptr[i], panel.indptr[i + 1])
        y = panel.y[sl][panel.ds[sl] <= cutoff]
        m = season if len(y) > 2 * season else 1
        d = np.abs(y[m:] - y[:-m]) if len(y) > m else np.empty(0)
        d = d[np.isfinite(d)]
        out[i] = d.mean() if len(d) else np.nan
    return out


def score_peer(
    cv: pd.DataFrame, panel: Panel, aliases: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Coverage (pooled) and MASE (mean over series) of each peer model, on the windows
    modelphase scores (all but the first) and against the actual values (gaps skipped)."""
    cutoffs = np.sort(cv["cutoff"].unique())
    kept = cv[cv["cutoff"] > cutoffs[0]] if len(cutoffs) > 1 else cv
    position = {uid: i for i, uid in enumerate(panel.ids)}
    series = kept["unique_id"].astype(str).map(position).to_numpy(dtype=np.int64)
    ds = kept["ds"].to_numpy(dtype="datetime64[ns]").view(np.int64)
    first = panel.ds[panel.indptr[:-1]]
    y = panel.y[panel.indptr[series] + (ds - first[series]) // STEP]
    ok = np.isfinite(y)
    first_cutoff = int(pd.Timestamp(cutoffs[0]).value)
    scale = mase_scales(panel, first_cutoff, H)
    out = {}
    for alias in aliases:
        f = kept[alias].to_numpy(dtype=np.float64)
        ae = pd.Series(np.abs(y - f)[ok]).groupby(series[ok]).mean()
        row = {"mase": float(np.nanmean(ae.to_numpy() / scale[ae.index.to_numpy()]))}
        for lv in LEVELS:
            lo = kept[f"{alias}-lo-{lv}"].to_numpy()[ok]
            hi = kept[f"{alias}-hi-{lv}"].to_numpy()[ok]
            row[f"coverage_{lv}"] = float(np.mean((y[ok] >= lo) & (y[ok] <= hi)))
        out[alias] = row
    return out


# --- report ---------------------------------------------------------------------------------


def gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB"


def cover(value: float, level: int) -> str:
    return f"{value * 100:.1f}% ({(value * 100 - level):+.1f})"


def report(
    console: Console,
    args: argparse.Namespace,
    n_points: int,
    run: TrainingRun,
    ours: Result,
    peer: tuple[Result, dict[str, dict[str, float]]] | None,
    sampler: RssSampler,
) -> None:
    m = run.metrics
    title = (
        f"scale: {run.panel.n_series:,} series x {n_points // run.panel.n_series:,} points "
        f"({n_points / 1e6:.1f} M), h={H}, {WINDOWS} windows, n_jobs={args.n_jobs}; "
        "accuracy on the backtest windows after the first"
    )
    table = Table(title=title, title_justify="left")
    cols = ["system", "fit+backtest+forecast s", "vs modelphase", "points/s"]
    cols += ["cover 80 (pts)", "cover 95 (pts)", "MASE", "MASE vs SeasonalNaive"]
    for col in cols:
        table.add_column(col, justify="left" if col == "system" else "right")
    table.add_row(
        "modelphase train() (selected)",
        f"{ours.seconds:.1f}",
        "1.00x",
        f"{n_points / ours.seconds:,.0f}",
        cover(m["coverage_80"], 80),
        cover(m["coverage_95"], 95),
        f"{m['mase']:.3f}",
        f"{m['mase_vs_baseline']:.3f}",
    )
    if peer is not None:
        result, scores = peer
        base = scores["SeasonalNaive"]["mase"]
        for k, (alias, row) in enumerate(scores.items()):
            table.add_row(
                f"statsforecast {alias}" + (" (same run)" if k else ""),
                "" if k else f"{result.seconds:.1f}",
                "" if k else f"{result.seconds / ours.seconds:.2f}x",
                "" if k else f"{n_points / result.seconds:,.0f}",
                cover(row["coverage_80"], 80),
                cover(row["coverage_95"], 95),
                f"{row['mase']:.3f}",
                f"{row['mase'] / base:.3f}",
            )
    console.print(table)

    stages = Table(title="seconds per stage and peak memory", title_justify="left")
    for col in ("stage", "seconds", "share"):
        stages.add_column(col, justify="left" if col == "stage" else "right")
    for name, sec in ours.stages:
        stages.add_row(f"modelphase: {name}", f"{sec:.1f}", f"{sec / ours.seconds:.0%}")
    if peer is not None:
        for name, sec in peer[0].stages:
            stages.add_row(f"statsforecast: {name}", f"{sec:.1f}", "")
    memory = [
        ("modelphase: parent peak RSS (VmHWM)", gib(ours.parent_peak)),
        ("modelphase: largest worker peak RSS (RUSAGE_CHILDREN)", gib(ours.worker_peak)),
        ("modelphase: process tree RSS, sampled peak", gib(sampler.total["modelphase"])),
    ]
    if peer is not None:
        memory += [
            (
                "statsforecast: parent peak RSS (VmHWM, with its input frame)",
                gib(peer[0].parent_peak),
            ),
            (
                "statsforecast: largest worker RSS, sampled peak",
                gib(sampler.worker["statsforecast"]),
            ),
            ("statsforecast: process tree RSS, sampled peak", gib(sampler.total["statsforecast"])),
        ]
    for name, size in memory:
        stages.add_row(name, size, "")
    console.print(stages)

    cand = Table(title="modelphase candidates (scored windows)", title_justify="left")
    cm = run.candidate_metrics
    for col in ("candidate", "MASE", "series chosen"):
        cand.add_column(col, justify="left" if col == "candidate" else "right")
    for candidate, values in cm.iterrows():
        cand.add_row(str(candidate), f"{values['mase']:.3f}", f"{int(values['series_chosen']):,}")
    console.print(cand)

    console.print(coverage_breakdown(run))
    days = [pd.Timestamp(f.test_start, tz="UTC").strftime("%a %d %b") for f in run.folds]
    console.print(
        f"backtest windows (a day each): {', '.join(days)}; windows after the first are "
        "scored, each with the choice and intervals made from the windows before it"
    )
    fb = Counter(f.model for f in run.fallbacks)
    console.print(
        f"fallbacks: {len(run.fallbacks):,} ({', '.join(f'{k}: {v}' for k, v in fb.items()) or '-'}"
        f"), on {m['fallback_share']:.1%} of the series; train() timings: "
        + ", ".join(f"{k} {v:.1f} s" for k, v in run.timings.items())
    )
    verdict = "MET" if ours.seconds < TARGET_SECONDS else "MISSED"
    off = max(abs(m["coverage_80"] * 100 - 80), abs(m["coverage_95"] * 100 - 95))
    console.print(
        f"verdict: {verdict}: train() took {ours.seconds:.0f} s for "
        f"{run.panel.n_series:,} series (target < {TARGET_SECONDS:.0f} s, "
        f"{ours.seconds / TARGET_SECONDS:.0%} of it); coverage {off:.1f} points from "
        f"nominal at worst ({'within' if off <= 3 else 'beyond'} the 3-point target)"
    )


def coverage_breakdown(run: TrainingRun) -> Table:
    """modelphase's coverage per scored window and per metric name (series families
    with very different noise share one pooled calibration)."""
    b = run.backtest[np.isfinite(run.backtest["y"])]
    y = b["y"].to_numpy()
    inside = pd.DataFrame(
        {lv: (y >= b[f"yhat-lo-{lv}"]) & (y <= b[f"yhat-hi-{lv}"]) for lv in LEVELS}
    )
    day = pd.to_datetime(b["ds"]).dt.strftime("window %Y-%m-%d %a")
    uid = b["unique_id"].astype(str)
    quantile = uid.str.extract(r'quantile="([^"]*)"')[0]
    metric = uid.str.split("{").str[0] + ("{quantile=" + quantile + "}").fillna("")
    table = Table(title="modelphase coverage by scored window and by metric", title_justify="left")
    for col in ("group", "series", *(f"cover {lv}" for lv in LEVELS)):
        table.add_column(col, justify="left" if col == "group" else "right")
    for key in (day, metric):
        groups = inside.groupby(key.to_numpy())
        n = b["unique_id"].groupby(key.to_numpy()).nunique()
        for name, row in groups.mean().iterrows():
            table.add_row(str(name), f"{n[name]:,}", *(f"{row[lv]:.1%}" for lv in LEVELS))
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--days", type=float, default=14.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--start", default="2026-01-05", help="first day (UTC; a Monday)")
    parser.add_argument("--n-jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--candidates", default=None, metavar="A,B,...",
        help=f"of {', '.join(CANDIDATES)}; default: all, LightGBM only if the probe passes",
    )  # fmt: skip
    parser.add_argument("--skip-peer", action="store_true")
    args = parser.parse_args()
    console = Console(width=max(Console().width, 130))  # not cut when piped to a file
    console.print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, load average "
        + " ".join(f"{x:.2f}" for x in os.getloadavg())
        + "; "
        + ", ".join(f"{p} {version(p)}" for p in VERSIONS)
    )

    t0 = time.perf_counter()
    start = pd.Timestamp(args.start, tz="UTC").value
    panel = make_panel(args.series, args.days, args.seed, start)
    n_points = panel.n_points
    console.print(
        f"generated {panel.n_series:,} series x {n_points // panel.n_series:,} points, "
        f"{panel.n_missing:,} missing, in {time.perf_counter() - t0:.1f} s (not counted)"
    )

    wanted = args.candidates.split(",") if args.candidates else list(CANDIDATES)
    unknown = [c for c in wanted if c not in CANDIDATES]
    if unknown:
        raise SystemExit(f"--candidates: unknown {unknown}; expected some of {list(CANDIDATES)}")
    if "LightGBM" in wanted:
        t0 = time.perf_counter()
        ok, why = probe_lightgbm(panel)
        console.print(f"LightGBM probe ({time.perf_counter() - t0:.1f} s, not counted): {why}")
        if not ok and args.candidates is None:
            wanted.remove("LightGBM")
            console.print("LightGBM left out (name it in --candidates to run it anyway)")
    spec = make_spec({c: CANDIDATES[c] for c in wanted})
    console.print(f"candidates: {', '.join(wanted)} (and the median and weighted ensembles)")

    sampler = RssSampler()
    sampler.start()
    console.print(f"running modelphase train() on {args.n_jobs} processes ...")
    run, ours = run_modelphase(spec, panel, args.n_jobs, sampler)
    peer = None
    if not args.skip_peer:
        df = peer_frame(panel)
        console.print("running statsforecast cross_validation + forecast ...")
        cv, result = run_peer(df, args.n_jobs, sampler)
        del df
        peer = result, score_peer(cv, panel, ["SeasonalNaive", "SeasonalWindowAverage"])
    sampler.stop()
    report(console, args, n_points, run, ours, peer, sampler)
    console.print(
        "load average after: " + " ".join(f"{x:.2f}" for x in os.getloadavg()) + "; "
        "RSS sums count a shared page in every process that maps it"
    )


if __name__ == "__main__":
    main()
