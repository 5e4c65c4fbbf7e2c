"""Loop benchmark: the monitor's detect, retrain and roll-out loop on the simulator,
through a real server, with and without a regime change.

Per seed (``--seeds``, default 0 1 2): ``simulate(services=1, days=9 + --days, step=5
min, seed, events=True)`` with a :class:`~modelphase.simulate.RegimeChange` at day 9
(request rate +30%, daily peak 3 h later, p99 latency x1.5), or none. A spec with the
default candidates (frequency 5m, horizon 12, backtest 3 windows of 12) is trained on
the first 9 days, registered, promoted to production and served by a real uvicorn
server in-process on loopback. Forecast requests (the last 2 days, 576 values, h=12,
one per series) are replayed every simulated hour from one day before the change to
``--days`` days after it, and ``Monitor.run_once()`` runs every 2 simulated hours (the
decision log flushed and the shadow calls done first, ``POST /v1/reload`` with a
deployer token after each pass so the server follows the moves). The day before the
change is replayed so that the monitor's 1-day window is full of healthy forecasts when
the change comes, as it would be in production; its passes count like any other.

Three stages:

1. observe: every run with ``monitoring: {retrain: false}``. Until the first action the
   passes' verdicts do not depend on the trigger's parameters, so each pass's accuracy
   evidence (``mase`` with its interval, the trigger's median series MASE over
   ``accuracy.window``) and the version's backtest MASE are recorded and, offline, the
   first retrain is found for every ``max_mase_ratio`` in 2, 3, 4, 5 and ``persist`` in
   1, 2, 3, with ``Monitor._trigger``'s rule: a pass is degraded when the median
   series' MASE exceeds ratio x backtest MASE, and a retrain fires on ``persist``
   degraded passes in a row. ``--dump DIR`` also writes each observed run's production
   forecasts joined with the actuals, which ``benchmarks/loop_trigger.py`` reads to
   compare other trigger statistics and windows the same way.
2. choose, leaving one seed out: for each held-out seed, the pair with no false action
   on the other seeds (no retrain without a change, none before the change), then the
   earliest detection on their change runs (ties to the more cautious: higher ratio,
   then higher persist); the held-out seed's outcome is reported. The pair chosen most
   often is used for the acting runs (``--pair R P`` overrides it).
3. act: every run again with that pair (the rest of ``monitoring``/``canary`` are
   :class:`~modelphase.monitor.Policy`'s defaults): hours from the change to the first
   degraded verdict, the retrained version in shadow, in canary, promoted (and the
   monitor's own data-time retrain lag), rollbacks, actions without a change, and the
   production forecasts' MASE over the day before the change, the first day after and
   the last day (logged production answers joined with the actuals).

The first version of a seed is trained once and reused by its runs: the simulator
leaves every value before the change as without it, so the training data (checked by
content digest) and the model are the same. Runs go ``--jobs`` at a time (default 2),
each in a fresh process with its own home (the server's heavy work on threads: no
request here carries 10,000 values). Hours are simulated hours after the change. The
MASE of the report divides by each series' naive error on the training data, one scale
for every window and run of a seed (the monitor's own scale, over all the actuals so
far, moves with the change). ``--days`` other than 3 is a different simulation, not a
shorter one: the simulator spreads its random events over the whole span. ``--window``
sets ``monitoring.window`` in both stages (an experiment; the benchmark's is the
policy's default, 1d). About 15 minutes on 2 shared cores.

    python benchmarks/loop.py [--seeds 0 1 2] [--days 3] [--jobs 2] [--pair 2 1]
        [--window 6h] [--no-act] [--dump DIR] [--json results.json]
"""

from __future__ import annotations

import os

# one thread per run: two runs share the 2 cores
os.environ.update(
    dict.fromkeys(
        ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"),
        "1",
    )
)

import argparse
import contextlib
import json
import math
import multiprocessing
import pickle
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from modelphase.frame import NS_PER_SECOND, Panel
from modelphase.monitor.replay import upto
from modelphase.simulate._simulate import DEFAULT_START

DAY = 86_400 * NS_PER_SECOND
HOUR = 3_600 * NS_PER_SECOND
STEP = 300 * NS_PER_SECOND
TRAIN_DAYS = 9
CHANGE = DEFAULT_START + TRAIN_DAYS * DAY
HISTORY, H = 576, 12
NAME = "fleet"
RATIOS = (2.0, 3.0, 4.0, 5.0)
PERSISTS = (1, 2, 3)
Pair = tuple[float, int]


# ------------------------------------------------------------------ the offline rule


def degraded(p: Mapping[str, Any], ratio: float) -> bool:
    """Whether ``Monitor._trigger`` would call pass ``p`` degraded at ``max_mase_ratio``
    ``ratio``: the ratio was judged (backtest and trigger MASE finite) and the median
    series' MASE over the trigger's window is above ratio x the backtest MASE."""
    median, trained = p.get("trigger_mase"), p.get("trained_mase")
    if not p.get("judged_ratio") or median is None or trained is None:
        return False
    return bool(median > ratio * float(trained))


def first_retrain(passes: Sequence[Mapping[str, Any]], ratio: float, persist: int) -> float | None:
    """The hours of the pass where the first retrain would fire (``persist`` degraded
    passes in a row), None if none would: the loop's strike count, before any action."""
    strikes = 0
    for p in passes:
        strikes = strikes + 1 if degraded(p, ratio) else 0
        if strikes >= persist:
            return float(p["hours"])
    return None


def critical_ratio(passes: Sequence[Mapping[str, Any]], persist: int) -> float:
    """The ratio below which a retrain fires on these passes with ``persist``: the
    largest, over runs of ``persist`` passes in a row, of their smallest
    ``trigger MASE / backtest MASE`` (0 when never judged)."""
    values = [p["trigger_mase"] / p["trained_mase"] if _judged(p) else 0.0 for p in passes]
    best = 0.0
    for i in range(persist - 1, len(values)):
        best = max(best, min(values[i - persist + 1 : i + 1]))
    return best


def _judged(p: Mapping[str, Any]) -> bool:
    judged = bool(p.get("judged_ratio")) and p.get("trigger_mase") is not None
    return judged and bool(p["trained_mase"])


@dataclass(frozen=True)
class Outcome:
    """A pair on one seed: when the change run's first retrain fires (None: never)
    and the no-change run's (None: never, as it should)."""

    change: float | None
    none: float | None

    @property
    def false(self) -> bool:
        """A retrain without a change, or before it."""
        return self.none is not None or (self.change is not None and self.change < 0)

    @property
    def detected(self) -> float | None:
        return self.change if self.change is not None and self.change >= 0 else None


def outcomes(
    traces: Mapping[tuple[int, bool], Sequence[Mapping[str, Any]]],
) -> dict[Pair, dict[int, Outcome]]:
    """Every pair's outcome on every seed that has both runs."""
    seeds = sorted({s for s, _ in traces if (s, True) in traces and (s, False) in traces})
    return {
        (r, p): {
            s: Outcome(first_retrain(traces[s, True], r, p), first_retrain(traces[s, False], r, p))
            for s in seeds
        }
        for r in RATIOS
        for p in PERSISTS
    }


def choose(table: Mapping[Pair, Mapping[int, Outcome]], seeds: Sequence[int]) -> Pair:
    """The pair with the fewest false actions on ``seeds`` (none, if any pair manages),
    then the most change runs detected, then the earliest detection in total; ties go
    to the more cautious pair (higher ratio, then higher persist)."""

    def key(pair: Pair) -> tuple[int, int, float, float, int]:
        got = [table[pair][s] for s in seeds]
        found = [o.detected for o in got if o.detected is not None]
        return (sum(o.false for o in got), -len(found), sum(found), -pair[0], -pair[1])

    return min(table, key=key)


def leave_one_out(
    table: Mapping[Pair, Mapping[int, Outcome]], seeds: Sequence[int]
) -> list[tuple[int, Pair, Outcome]]:
    """Per held-out seed: the pair chosen on the others and its outcome on the held-out
    one (with one seed only, the pair chosen on it)."""
    out = []
    for held in seeds:
        others = [s for s in seeds if s != held] or [held]
        pair = choose(table, others)
        out.append((held, pair, table[pair][held]))
    return out


def most_chosen(
    picks: Sequence[Pair], table: Mapping[Pair, Mapping[int, Outcome]], seeds: Sequence[int]
) -> Pair:
    """The pair chosen most often; a tie goes to the one :func:`choose` prefers on all
    the seeds."""
    counts = Counter(picks)
    top = max(counts.values())
    tied = {p: table[p] for p in counts if counts[p] == top}
    return choose(tied, seeds)


def timeline(passes: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The acting run's milestones, in hours after the change (None: not reached)."""

    def first(test: Any) -> float | None:
        return next((float(p["hours"]) for p in passes if test(p)), None)

    acts = [(p, a) for p in passes for a in p["actions"]]
    promoted = [p for p, a in acts if a.startswith("promoted")]
    lag = promoted[0].get("retrain_lag_data_s") if promoted else None
    return {
        "degraded": first(lambda p: p["verdict"] == "degraded" and p["hours"] >= 0),
        "degraded_before": sum(p["verdict"] == "degraded" and p["hours"] < 0 for p in passes),
        "degraded_passes": sum(p["verdict"] == "degraded" for p in passes),
        "retrain": first(lambda p: any(a.startswith("retrained") for a in p["actions"])),
        "shadow": first(lambda p: any(a.endswith("-> shadow") for a in p["actions"])),
        "canary": first(lambda p: any("-> canary" in a for a in p["actions"])),
        "promoted": float(promoted[0]["hours"]) if promoted else None,
        "lag": lag / 3600 if lag is not None else None,
        "retrains": sum(a.startswith("retrained") for _, a in acts),
        "rollbacks": sum(a.startswith("rolled back") for _, a in acts),
        "actions": len(acts),
        "first_action": first(lambda p: bool(p["actions"])),
    }


# ------------------------------------------------------------------------ the runs


@dataclass(frozen=True)
class Scenario:
    seed: int
    change: bool
    days: float
    monitoring: dict[str, Any]
    work: str
    stage: str
    dump: str | None = None

    @property
    def label(self) -> str:
        return f"{self.stage}-seed{self.seed}-{'change' if self.change else 'none'}"


truncated = upto  # the telemetry that had arrived by a time


def spec_text(dataset_id: str, monitoring: Mapping[str, Any]) -> str:
    spec = {
        "name": NAME,
        "kind": "forecast",
        "target": {"dataset": dataset_id},
        "frequency": "5m",
        "horizon": H,
        "backtest": {"windows": 3, "step": 12},
        "monitoring": dict(monitoring),
    }
    return yaml.safe_dump(spec, sort_keys=False)


def _home(path: Path) -> None:
    from modelphase.config import get_settings

    path.mkdir(parents=True, exist_ok=True)
    os.environ["MODELPHASE_HOME"] = str(path)
    get_settings.cache_clear()


def _simulated(seed: int, change: bool, days: float) -> Panel:
    from modelphase.simulate import RegimeChange, simulate

    regime = RegimeChange(start=CHANGE) if change else None
    sim = simulate(
        services=1, days=TRAIN_DAYS + days, step=STEP, seed=seed, events=True, regime_change=regime
    )
    return sim.panel


def _train(seed: int, panel: Panel, monitoring: Mapping[str, Any]) -> Any:
    from modelphase.ingest import DatasetStore, ingest_panel
    from modelphase.spec import parse_spec
    from modelphase.train import train

    store = DatasetStore()
    first = truncated(panel, CHANGE - STEP)
    manifest = ingest_panel(first, store, {"kind": "simulate", "seed": seed}, now=datetime.now(UTC))
    spec = parse_spec(spec_text(manifest.id, monitoring))
    return train(spec, store.load(manifest.id), dataset_id=manifest.id, n_jobs=1)


def train_seed(seed: int, days: float, work: str) -> dict[str, Any]:
    """Train the first version of ``seed`` and pickle the run for its scenarios."""
    _home(Path(work) / f"train-seed{seed}")
    started = time.perf_counter()
    run = _train(seed, _simulated(seed, False, days), {})
    (Path(work) / f"run-seed{seed}.pkl").write_bytes(pickle.dumps(run))
    return {
        "seed": seed,
        "seconds": time.perf_counter() - started,
        "mase": float(run.metrics["mase"]),
        "chosen": dict(Counter(run.chosen.values())),
    }


@contextlib.contextmanager
def serving(app: Any) -> Iterator[str]:
    """``app`` on a real uvicorn server in a thread, on a loopback socket."""
    import httpx
    import uvicorn

    from modelphase.serve.server import uvicorn_options

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="on", **uvicorn_options(app)
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    _until(lambda: _ready(url, httpx), "the server to be ready")
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=60.0)
        sock.close()


def _ready(url: str, httpx: Any) -> bool:
    try:
        return bool(httpx.get(f"{url}/readyz", timeout=2.0).status_code == 200)
    except httpx.TransportError:
        return False


def _until(check: Any, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.01)


def run_scenario(sc: Scenario) -> dict[str, Any]:
    """Serve, replay and monitor one scenario; its passes and production accuracy."""
    import httpx
    import pandas as pd

    from modelphase.decisions import read_decisions
    from modelphase.forecast.catalog import default_season
    from modelphase.ingest import DatasetStore, ingest_panel
    from modelphase.monitor import Monitor, accuracy, forecast_rows, join_actuals, series_scales
    from modelphase.monitor.replay import forecast_bodies, post_forecasts
    from modelphase.registry import Registry
    from modelphase.serve import ServeConfig, create_app
    from modelphase.spec import parse_spec
    from modelphase.train import register_run

    started = time.perf_counter()
    home = Path(sc.work) / sc.label
    _home(home)
    full = _simulated(sc.seed, sc.change, sc.days)
    first = truncated(full, CHANGE - STEP)
    manifest = ingest_panel(
        first, DatasetStore(), {"kind": "simulate", "seed": sc.seed}, now=datetime.now(UTC)
    )
    run = pickle.loads((Path(sc.work) / f"run-seed{sc.seed}.pkl").read_bytes())
    reused = run.dataset_id == manifest.id
    if not reused:  # not the same training data: train afresh
        run = _train(sc.seed, full, sc.monitoring)
    run = replace(run, spec=parse_spec(spec_text(manifest.id, sc.monitoring)))
    reg = Registry()
    v1 = register_run(run, reg)
    reg.promote(NAME, v1.version, "production")
    _, viewer = reg.create_token("replay", "viewer")
    _, deployer = reg.create_token("ops", "deployer")
    now = {"t": CHANGE - STEP}
    monitor = Monitor(
        reg, decisions=home / "decisions", actuals=lambda v, s: truncated(full, now["t"]), n_jobs=1
    )
    served = Registry()
    app = create_app(served, ServeConfig(home=home, reload_interval=60.0, heavy_processes=False))
    passes: list[dict[str, Any]] = []
    failed = sent = 0
    with serving(app) as url:
        auth = {"authorization": f"Bearer {viewer}"}
        ops_auth = {"authorization": f"Bearer {deployer}"}
        with (
            httpx.Client(base_url=url, headers=auth, timeout=120.0) as client,
            httpx.Client(base_url=url, headers=ops_auth, timeout=120.0) as ops,
        ):
            for k in range(-24, round(24 * sc.days)):
                t = CHANGE - STEP + k * HOUR
                now["t"] = t
                counts = post_forecasts(
                    client, NAME, forecast_bodies(full, t, history=HISTORY, h=H)
                )
                sent, failed = sent + counts.sent, failed + counts.failed
                _until(lambda: not app.state.serve.caller.shadows, "the shadow calls")
                if k % 2:
                    continue
                app.state.serve.log.flush()
                report = monitor.run_once()
                reload = ops.post("/v1/reload")
                if reload.status_code != 200:
                    raise RuntimeError(f"POST /v1/reload answered {reload.status_code}")
                passes.append(_record(t, report, reg))
        app.state.serve.log.flush()
    decisions = read_decisions(home / "decisions", model=NAME)
    rows = forecast_rows(decisions[decisions["alias"] == "production"])
    joined, _ = join_actuals(rows, full)
    if sc.dump:
        Path(sc.dump).mkdir(parents=True, exist_ok=True)
        joined.to_parquet(Path(sc.dump) / f"{sc.label}.parquet")
    # one scale for every window and run of a seed: the training data's naive error (the
    # monitor's own scale, over all the actuals so far, moves with the change itself)
    scales = series_scales(first, default_season(STEP))
    windows = {
        "before": (CHANGE - DAY, CHANGE),
        "first": (CHANGE, CHANGE + DAY),
        "last": (CHANGE + int((sc.days - 1) * DAY), CHANGE + int(sc.days * DAY)),
    }
    mase: dict[str, float | None] = {}
    for name, (lo, hi) in windows.items():
        part = joined[(joined["ds"] >= lo) & (joined["ds"] < hi)]
        table = accuracy(part, by=["alias"], scales=scales) if len(part) else pd.DataFrame()
        mase[name] = float(table["mase"].iloc[0]) if len(table) else None
    out = {
        "label": sc.label,
        "seed": sc.seed,
        "change": sc.change,
        "stage": sc.stage,
        "monitoring": sc.monitoring,
        "passes": passes,
        "mase": mase,
        "sent": sent,
        "failed": failed,
        "versions": len(reg.versions(NAME)),
        "live": reg.live(NAME),
        "reused_training": reused,
        "seconds": time.perf_counter() - started,
    }
    served.close()
    reg.close()
    return out


def _record(t: int, report: Any, reg: Any) -> dict[str, Any]:
    hours = (t - CHANGE) / HOUR
    if not report.models:
        return {"hours": hours, "verdict": "none", "actions": [], "reasons": [report.note]}
    m = report.models[0]
    acc = m.evidence.get("accuracy") or {}
    trained = (reg.get(NAME, m.version).metrics or {}).get("mase")
    return {
        "hours": hours,
        "version": m.version,
        "verdict": m.verdict,
        "phase": m.phase,
        "actions": list(m.actions),
        "reasons": [r[:200] for r in m.reasons],
        "mase": acc.get("mase"),
        "mase_low": acc.get("mase_low"),
        "mase_high": acc.get("mase_high"),
        "trigger_mase": (acc.get("trigger") or {}).get("median_mase"),
        "n": acc.get("n"),
        "judged_ratio": "mase_ratio" in acc,
        "trained_mase": trained,
        "drift_share": (m.evidence.get("drift") or {}).get("share"),
        "live": reg.live(NAME),
        "retrain_lag_data_s": m.evidence.get("retrain_lag_data_s"),
        "seconds": report.seconds,
    }


def run_all(
    seeds: Sequence[int],
    days: float,
    jobs: int,
    work: str,
    act: Pair | None,
    console: Console,
    window: str | None = None,
    dump: str | None = None,
) -> dict[str, Any]:
    """Train each seed's first version, then run its scenarios, ``jobs`` at a time."""
    monitoring: dict[str, Any] = {"retrain": False} if act is None else _acting(act)
    if window is not None:
        monitoring["window"] = window
    stage = "observe" if act is None else "act"
    results: dict[str, Any] = {"trained": {}, "runs": {}}
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, max_tasks_per_child=1) as pool:
        pending: dict[Future[dict[str, Any]], Any] = {}
        for seed in seeds:
            if (Path(work) / f"run-seed{seed}.pkl").exists():
                for change in (True, False):
                    sc = Scenario(seed, change, days, monitoring, work, stage, dump)
                    pending[pool.submit(run_scenario, sc)] = sc
            else:
                pending[pool.submit(train_seed, seed, days, work)] = seed
        while pending:
            done, _ = wait(list(pending), return_when="FIRST_COMPLETED")
            for future in done:
                what = pending.pop(future)
                got = future.result()
                if isinstance(what, int):
                    results["trained"][what] = got
                    console.print(
                        f"  trained seed {what}: {got['seconds']:.0f} s, backtest "
                        f"MASE {got['mase']:.3f}, chosen {got['chosen']}"
                    )
                    for change in (True, False):
                        sc = Scenario(what, change, days, monitoring, work, stage, dump)
                        pending[pool.submit(run_scenario, sc)] = sc
                else:
                    results["runs"][what.seed, what.change] = got
                    console.print(
                        f"  {what.label}: {got['seconds']:.0f} s, {got['sent']} "
                        f"requests ({got['failed']} failed)"
                    )
    return results


def _acting(pair: Pair) -> dict[str, Any]:
    return {"persist": int(pair[1]), "accuracy": {"max_mase_ratio": float(pair[0])}}


# ------------------------------------------------------------------------ printing


def _h(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1f}"


def _f(value: float | None, digits: int = 3) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _pair(pair: Pair) -> str:
    return f"{pair[0]:g}x / {pair[1]}"


def observe_table(runs: Mapping[tuple[int, bool], Mapping[str, Any]]) -> Table:
    table = Table(
        title="observe (retrain: false): the passes' accuracy evidence", title_justify="left"
    )
    for col in (
        "seed",
        "change",
        "backtest MASE",
        "passes",
        "degraded at the default (before / after)",
        "critical ratio p1 / p2 / p3 (before the change)",
        "critical ratio p1 / p2 / p3 (after)",
        "MASE day before",
        "first day",
        "last day",
    ):
        table.add_column(col, justify="right")
    for (seed, change), run in sorted(runs.items()):
        ps = run["passes"]
        before = [p for p in ps if p["hours"] < 0]
        after = [p for p in ps if p["hours"] >= 0]
        table.add_row(
            str(seed),
            "yes" if change else "no",
            _f(ps[0].get("trained_mase")),
            str(len(ps)),
            f"{sum(p['verdict'] == 'degraded' for p in before)} / "
            f"{sum(p['verdict'] == 'degraded' for p in after)}",
            " / ".join(_f(critical_ratio(before, k), 2) for k in PERSISTS),
            " / ".join(_f(critical_ratio(after, k), 2) for k in PERSISTS),
            _f(run["mase"]["before"]),
            _f(run["mase"]["first"]),
            _f(run["mase"]["last"]),
        )
    return table


def grid_table(table: Mapping[Pair, Mapping[int, Outcome]], seeds: Sequence[int]) -> Table:
    out = Table(
        title="offline: first retrain (hours after the change) per pair; ! = a false action",
        title_justify="left",
    )
    out.add_column("max_mase_ratio / persist")
    for s in seeds:
        out.add_column(f"seed {s} change", justify="right")
        out.add_column(f"seed {s} none", justify="right")
    out.add_column("false actions", justify="right")
    for pair, by_seed in table.items():
        cells = []
        for s in seeds:
            o = by_seed[s]
            cells += [
                _h(o.change) + ("!" if o.change is not None and o.change < 0 else ""),
                _h(o.none) + ("!" if o.none is not None else ""),
            ]
        out.add_row(_pair(pair), *cells, str(sum(o.false for o in by_seed.values())))
    return out


def loso_table(picks: Sequence[tuple[int, Pair, Outcome]]) -> Table:
    out = Table(
        title="leave one seed out: pair chosen on the other seeds, outcome on the held-out one",
        title_justify="left",
    )
    for col in ("held-out seed", "chosen on the others", "detected (h)", "false action"):
        out.add_column(col, justify="right")
    for held, pair, o in picks:
        out.add_row(str(held), _pair(pair), _h(o.detected), "yes" if o.false else "no")
    return out


def act_table(
    runs: Mapping[tuple[int, bool], Mapping[str, Any]],
    observed: Mapping[tuple[int, bool], Mapping[str, Any]],
    pair: Pair,
) -> Table:
    out = Table(
        title=f"act ({_pair(pair)}): hours after the change; MASE of production's "
        "forecasts (without acting in brackets)",
        title_justify="left",
    )
    for col in (
        "seed",
        "change",
        "degraded",
        "shadow",
        "canary",
        "promoted",
        "retrain lag",
        "retrains",
        "rollbacks",
        "actions",
        "degraded passes",
        "MASE day before",
        "first day",
        "last day",
        "predicted retrain",
    ):
        out.add_column(col, justify="right")
    for (seed, change), run in sorted(runs.items()):
        tl = timeline(run["passes"])
        base = (observed.get((seed, change)) or {}).get("mase", {})

        def cell(name: str, run: Mapping[str, Any] = run, base: Mapping[str, Any] = base) -> str:
            return f"{_f(run['mase'][name])} ({_f(base.get(name))})"

        predicted = (
            first_retrain(observed[seed, change]["passes"], *pair)
            if (seed, change) in observed
            else None
        )
        out.add_row(
            str(seed),
            "yes" if change else "no",
            _h(tl["degraded"]),
            _h(tl["shadow"]),
            _h(tl["canary"]),
            _h(tl["promoted"]),
            _f(tl["lag"], 1),
            str(tl["retrains"]),
            str(tl["rollbacks"]),
            str(tl["actions"]),
            str(tl["degraded_passes"]),
            cell("before"),
            cell("first"),
            cell("last"),
            _h(predicted),
        )
    return out


def _json(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {
            (
                k
                if isinstance(k, str)
                else "-".join(map(str, k))
                if isinstance(k, tuple)
                else str(k)
            ): _json(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--days", type=float, default=3.0, help="simulated days after the change")
    parser.add_argument("--jobs", type=int, default=2, help="runs at once")
    parser.add_argument(
        "--pair",
        type=float,
        nargs=2,
        metavar=("RATIO", "PERSIST"),
        help="act with this max_mase_ratio and persist (default: chosen)",
    )
    parser.add_argument("--window", help="monitoring.window (default: the policy's, 1d), e.g. 6h")
    parser.add_argument("--no-act", action="store_true", help="stop after the offline choice")
    parser.add_argument("--json", type=Path, help="write every pass and result here")
    parser.add_argument(
        "--dump", help="write each observed run's production forecasts, joined, to DIR"
    )
    args = parser.parse_args(argv)
    seeds = list(args.seeds)
    console = Console(width=max(Console().width, 180))
    console.print(f"$ python {' '.join(sys.argv)}")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    console.print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, load "
        f"average {load}; {len(seeds)} seeds, {args.days:g} days after the change, "
        f"{args.jobs} runs at once"
    )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="modelphase-loop-") as work:
        console.print("observe (monitoring: {retrain: false}):")
        observed = run_all(seeds, args.days, args.jobs, work, None, console, args.window, args.dump)
        runs = observed["runs"]
        traces = {key: run["passes"] for key, run in runs.items()}
        table = outcomes(traces)
        console.print(observe_table(runs))
        console.print(grid_table(table, seeds))
        picks = leave_one_out(table, seeds)
        console.print(loso_table(picks))
        chosen = most_chosen([p for _, p, _ in picks], table, seeds)
        on_all = choose(table, seeds)
        console.print(
            f"pairs chosen: {', '.join(f'seed {h} out: {_pair(p)}' for h, p, _ in picks)}; "
            f"most often: {_pair(chosen)}; chosen on all seeds at once: {_pair(on_all)}"
        )
        pair: Pair = (float(args.pair[0]), int(args.pair[1])) if args.pair else chosen
        acted: dict[str, Any] = {"runs": {}}
        if not args.no_act:
            console.print(f"act ({_pair(pair)}; monitoring: {_acting(pair)}):")
            acted = run_all(seeds, args.days, args.jobs, work, pair, console, args.window)
            console.print(act_table(acted["runs"], runs, pair))
            for (seed, change), run in sorted(acted["runs"].items()):
                for p in run["passes"]:
                    if p["actions"]:
                        console.print(
                            f"  seed {seed} {'change' if change else 'none'} "
                            f"{p['hours']:+.1f} h: {'; '.join(a[:110] for a in p['actions'])}"
                        )
    console.print(f"total {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(
            json.dumps(
                _json(
                    {
                        "seeds": seeds,
                        "days": args.days,
                        "pair": pair,
                        "chosen": chosen,
                        "loso": [(h, p, o.change, o.none) for h, p, o in picks],
                        "trained": observed["trained"],
                        "observe": runs,
                        "act": acted["runs"],
                    }
                ),
                indent=1,
                default=str,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
