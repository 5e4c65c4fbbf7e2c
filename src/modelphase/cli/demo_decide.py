"""The demo's decisions: a canary verdict for every simulated deploy, and each
service's error budget with the forecast of when it runs out.

A deploy is judged as ``modelphase canary judge`` judges a release whose baseline is
"the same metrics before the change": the service's p50 and p99 latency and error ratio
in the hour before the deploy against the half hour after it, and each verdict is
marked against the simulator's truth (the deploy followed by a latency regression, or
not). The SLO is ``examples/slo.yaml`` (99.6% of requests succeed over 30 days), read
for every simulated service from the dataset's error ratio and request rate.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from rich.markup import escape
from rich.table import Table

from modelphase.cli._render import err, out
from modelphase.decide import CanaryVerdict, MetricSpec, judge_canary
from modelphase.decide.capacity import CapacityPlan, WarmPlan
from modelphase.decide.slo import WORKBOOK, read_slo_file
from modelphase.decide.slo.fetch import events_from_panel
from modelphase.decide.slo.status import SloStatus, slo_status
from modelphase.frame import NS_PER_SECOND, Panel
from modelphase.simulate import Simulation

__all__ = ["canary_step", "capacity_step", "example_slo", "slo_step", "warm_step"]

BEFORE_NS = 3600 * NS_PER_SECOND
AFTER_NS = 1800 * NS_PER_SECOND
#: the metrics a deploy is judged on: (name, series name, quantile label), bad direction
_METRICS = (
    ("p99_seconds", "http_request_duration_seconds", "0.99"),
    ("p50_seconds", "http_request_duration_seconds", "0.5"),
    ("error_ratio", "http_errors_ratio", None),
)
_COLOURS = {"pass": "green", "marginal": "yellow", "fail": "red", "inconclusive": "blue"}


def example_slo() -> Path:
    """``examples/slo.yaml``, beside ``examples/forecast.yaml``."""
    from modelphase.cli.demo import example_spec  # demo imports this module

    return example_spec().with_name("slo.yaml")


def _series(service: str, name: str, quantile: str | None) -> str:
    labels = f'quantile="{quantile}",service="{service}"' if quantile else f'service="{service}"'
    return f"{name}{{{labels}}}"


def _window(panel: Panel, uid: str, start: int, end: int) -> np.ndarray:
    ds, y = panel.series(uid)
    return y[(ds >= start) & (ds < end)]


def judge_deploy(panel: Panel, service: str, at: int) -> tuple[CanaryVerdict, pd.DataFrame]:
    """The verdict on one deploy, and the samples it rests on as a long frame."""
    canary, baseline, rows = {}, {}, []
    for metric, name, quantile in _METRICS:
        uid = _series(service, name, quantile)
        baseline[metric] = _window(panel, uid, at - BEFORE_NS, at)
        canary[metric] = _window(panel, uid, at, at + AFTER_NS)
        for side, values in (("baseline", baseline[metric]), ("canary", canary[metric])):
            rows += [(side, metric, float(v)) for v in values]
    specs = [MetricSpec(m, "increase") for m, _, _ in _METRICS]
    return judge_canary(canary, baseline, specs), pd.DataFrame(
        rows, columns=["side", "metric", "value"]
    )


def canary_step(sim: Simulation, panel: Panel, folder: Path) -> list[CanaryVerdict]:
    """Judge every simulated deploy and print the verdicts against the truth."""
    deploys = [e for e in sim.events if e.kind == "deploy"]
    table = Table(title="canary verdicts for the simulated deploys (1h before vs 30m after)")
    for column in ("deploy", "service", "verdict", "score", "why", "truth"):
        table.add_column(column)
    verdicts, right = [], 0
    for event in deploys:
        verdict, samples = judge_deploy(panel, event.service, event.start)
        verdicts.append(verdict)
        regressed = "regression" in event.description and "no regression" not in event.description
        caught = verdict.verdict == "fail"
        right += caught == regressed
        truth = "regression" if regressed else "no regression"
        mark = "[green]right[/]" if caught == regressed else "[red]wrong[/]"
        colour = _COLOURS[verdict.verdict]
        table.add_row(
            event.event_id, event.service, f"[{colour}]{verdict.verdict}[/]",
            f"{verdict.score:g}", escape(verdict.reason), f"{truth} ({mark})",
        )  # fmt: skip
        if event is deploys[0]:
            _write_first(samples, folder)
    err.print(
        f"[bold]9. canary[/] judged {len(deploys)} deploy(s) with the canary judge: "
        f"{right} of {len(deploys)} verdicts match the truth"
    )
    if deploys:
        out.print(table)
        err.print(
            f"  the first as a command: modelphase canary judge --baseline "
            f"{folder / 'canary-baseline.csv'} --canary {folder / 'canary-canary.csv'} "
            "--metric p99_seconds:increase --metric p50_seconds:increase "
            "--metric error_ratio:increase"
        )
    return verdicts


def _write_first(samples: pd.DataFrame, folder: Path) -> None:
    """The first deploy's samples as the long CSVs ``canary judge`` reads."""
    folder.mkdir(parents=True, exist_ok=True)
    for side in ("baseline", "canary"):
        part = samples[samples["side"] == side]
        frame = pd.DataFrame(
            {"timestamp": np.arange(len(part)) // len(_METRICS) * 60, "metric": part["metric"],
             "value": part["value"]}
        )  # fmt: skip
        frame.sort_values(["metric"], kind="stable").to_csv(
            folder / f"canary-{side}.csv", index=False
        )


def slo_step(panel: Panel, dataset_id: str, services: list[str]) -> list[SloStatus]:
    """Each service's budget under ``examples/slo.yaml`` and its exhaustion forecast."""
    path = example_slo()
    (slo,) = read_slo_file(path).slos
    windows = WORKBOOK.for_period(30 * 86_400)
    statuses = []
    table = Table(title=f"error budgets: {slo.objective:g}% over 30 days ({path.name})")
    for column in ("service", "budget left", "burn 1h", "burn 3d", "when it runs out"):
        table.add_column(column)
    for service in services:
        events = events_from_panel(
            panel,
            error_ratio=f'http_errors_ratio{{service="{service}"}}',
            total=f'http_requests_per_second{{service="{service}"}}',
        )
        status = slo_status(replace(slo, service=service), events, windows)
        statuses.append(status)
        burn = {b.window: b.burn_rate for b in status.burn}
        ex = status.exhaustion
        table.add_row(
            service,
            "-" if status.budget_remaining is None else f"{status.budget_remaining:.1%}",
            _x(burn.get(3600)), _x(burn.get(3 * 86_400)),
            escape(ex.reason if ex is not None else "-"),
        )  # fmt: skip
    err.print(
        f"[bold]10. error budgets[/] of {len(services)} service(s), with the forecasting "
        "stack's forecast of when each runs out"
    )
    out.print(table)
    err.print(
        f"  as a command: modelphase slo status {path} --dataset {dataset_id} "
        f"--error-ratio 'http_errors_ratio{{service=\"{services[0]}\"}}' --total "
        f"'http_requests_per_second{{service=\"{services[0]}\"}}'"
    )
    return statuses


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def capacity_step(
    panel: Panel, forecaster: str, version: int, folder: Path, services: list[str]
) -> CapacityPlan:
    """A capacity plan for every service's request rate from the registered forecaster's
    forecast at the 95% interval's upper end (risk 0.025 a step), one replica holding a
    tenth of the quietest service's p99 (declared), at most 40 replicas; its plot and report."""
    from modelphase.decide.capacity import plan_capacity
    from modelphase.forecast.trained import TrainedForecaster
    from modelphase.registry import open_registry
    from modelphase.report.capacity import write_capacity_report, write_plan_plot

    with open_registry() as reg:  # the version just trained, promoted or not
        model = TrainedForecaster.from_bytes(reg.load_artifact(forecaster, version))
    ids = [f'http_requests_per_second{{service="{s}"}}' for s in services]
    risk = 0.025 if 95.0 in model.levels else 0.5 - max(model.levels) / 200
    fc = model.predict(None, level=list(model.levels))
    fc = fc[fc["unique_id"].isin(ids)]
    p99 = {uid: float(np.nanpercentile(panel.series(uid)[1], 99)) for uid in ids}
    capacity = min(p99.values()) / 10  # one replica size for every service
    current = {uid: int(np.ceil(float(panel.series(uid)[1][-1]) / capacity)) for uid in ids}
    plan = plan_capacity(
        fc, capacity=capacity, risk=risk, step=model.step, startup=2 * model.step,
        current=current, max_replicas=40,
    )  # fmt: skip
    history = panel.subset(ids)
    plot = write_plan_plot(folder / "capacity-plan.png", plan, history)
    report = write_capacity_report(
        folder / "capacity-report.html", plan, history, title=f"{forecaster}: request rate"
    )
    table = Table(title=f"capacity plans, next {len(fc) // max(1, len(ids))} min at risk {risk:g}")
    for column in ("service", "replicas now -> peak", "replica-hours", "steps in breach"):
        table.add_column(column)
    for s in plan.series:
        table.add_row(
            s.unique_id.split('"')[1], f"{s.first_replicas} -> {s.peak_replicas}",
            f"{s.replica_hours:.1f}", f"{s.expected_breach_steps:.2f}",
        )  # fmt: skip
    err.print(
        f"[bold]11. capacity[/]: replicas per minute for each service from {forecaster} "
        f"v{version}'s "
        f"forecast (its {100 * (1 - 2 * risk):g}% interval's upper end), one replica "
        f"holding {capacity:.3g} requests/s -> {plot}, {report}"
    )
    out.print(table)
    return plan


#: the demo's functions are invoked in a minute with this probability at their service's
#: mean load, in proportion to the load (a webhook fired by a share of the traffic)
_INVOKE_AT_MEAN = 0.15
#: and a scheduled job, every 15 minutes give or take one
_CRON_EVERY = 15


def warm_step(panel: Panel, folder: Path, services: list[str], seed: int = 0) -> list[WarmPlan]:
    """Warm plans for simulated serverless functions: one per service, invoked in a
    minute with a probability that follows the service's request rate, and a scheduled
    job every 15 minutes (give or take one); planned from the history before the last
    hour at a cold start worth 10 warm minutes, and scored on that last hour against a
    fixed 10-minute keep-alive."""
    from modelphase.decide.capacity import warm_plans
    from modelphase.report.capacity import write_warm_plot

    rng = np.random.default_rng(seed)
    names, minutes, truths = [], [], []
    for s in services:
        rate = panel.series(f'http_requests_per_second{{service="{s}"}}')[1]
        load = np.nan_to_num(rate)
        p = np.clip(load / max(float(load.mean()), 1e-12) * _INVOKE_AT_MEAN, 0, 1)
        hit = np.flatnonzero(rng.random(len(p)) < p)
        names.append(f"{s}-webhook")
        minutes.append(hit)
        truths.append(hit)
    n = len(panel.series(f'http_requests_per_second{{service="{services[0]}"}}')[1])
    ticks = np.arange(_CRON_EVERY, n, _CRON_EVERY)
    cron = np.unique(np.clip(ticks + rng.integers(-1, 2, len(ticks)), 0, n - 1))
    names.append("report-cron")
    minutes.append(cron)
    truths.append(cron)
    now = n - 60
    plans = warm_plans(names, [m[m < now] for m in minutes], now, cost_ratio=10.0)
    table = Table(
        title="warm plans (a cold start costs 10 warm minutes): cold starts / idle warm "
        "minutes over the last hour"
    )
    for column in ("function", "pre-warm", "keep", "invoked", "cold/idle", "keep-alive 10"):
        table.add_column(column, justify="left" if column == "function" else "right")
    for plan, hits in zip(plans, truths, strict=True):
        ours, fixed = (
            _replay_hour(hits, now, plan.prewarm, plan.keep_alive),
            _replay_hour(hits, now, 0, 10),
        )
        table.add_row(
            plan.function, f"{plan.prewarm}m", f"{plan.keep_alive}m", f"{ours[2]}m",
            f"{ours[0]}/{ours[1]}m", f"{fixed[0]}/{fixed[1]}m",
        )  # fmt: skip
    stamp = pd.Timestamp(int(panel.ds.min()) + now * 60 * NS_PER_SECOND, tz="UTC")
    plot = write_warm_plot(folder / "warm-plan.png", plans, stamp.strftime("%Y-%m-%dT%H:%MZ"), 10.0)
    err.print(
        f"[bold]11b. warm plans[/] for a webhook function per service (invoked with the "
        f"service's traffic) and a 15-minute cron job, from their idle times -> {plot}"
    )
    out.print(table)
    return plans


def _replay_hour(hits: np.ndarray, now: int, prewarm: int, keep: int) -> tuple[int, int, int]:
    """Cold starts, idle warm minutes and invocation minutes of a fixed warm window
    over the hour from ``now`` (the last invocation before it included)."""
    past = hits[hits < now]
    last = int(past[-1]) if past.size else None
    cold = idle = count = 0
    invoked = set(hits.tolist())
    for t in range(now, now + 60):
        warm = last is not None and prewarm < t - last <= prewarm + keep
        if t in invoked:
            count += 1
            cold += not warm
            last = t
        elif warm:
            idle += 1
    return cold, idle, count
