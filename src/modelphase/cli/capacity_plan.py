"""``modelphase capacity plan``: the replicas each step of the horizon needs at a stated
risk, their cost and the risk they take (:func:`modelphase.decide.capacity.plan_capacity`),
as a rich table, ``--json``, ``--output`` CSV, ``--plot`` PNG and the weekly ``--report``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import typer
from rich.markup import escape
from rich.table import Table

from modelphase.cli._checks import check_input_file, check_output_file
from modelphase.cli._registry import REGISTRY, TOKEN, TOKEN_FILE, registry_options
from modelphase.cli._render import atomic_output, err, print_json, rfc3339
from modelphase.cli.forecast import load_input, registered_forecaster
from modelphase.decide.capacity import CapacityModel, declared, learn_capacity
from modelphase.decide.capacity.plan import CapacityPlan, forecast_demand, plan_capacity
from modelphase.exceptions import ValidationError
from modelphase.frame import Panel, format_duration, parse_duration
from modelphase.limits import MAX_FORECAST_POINTS, MAX_H, check_at_most

#: rows of the per-step table printed (the CSV has them all)
SHOWN_STEPS = 24


def _capacity(
    capacity: float | None,
    telemetry: Path | None,
    load_column: str,
    latency_column: str,
    threshold: float | None,
) -> CapacityModel:
    if (capacity is None) == (telemetry is None):
        raise ValidationError(
            "expected --capacity C (the demand one replica holds) or --capacity-from "
            "TELEMETRY.csv with --latency-threshold (one of them)"
        )
    if capacity is not None:
        return declared(capacity)
    assert telemetry is not None
    if threshold is None:
        raise ValidationError(
            "--capacity-from: expected --latency-threshold too (the SLO's latency, in the "
            "latency column's units)",
            hint="pass e.g. --latency-threshold 0.3 for 300 ms",
        )
    check_input_file(telemetry, "--capacity-from")
    import pandas as pd

    frame = pd.read_csv(telemetry)
    missing = [c for c in (load_column, latency_column) if c not in frame.columns]
    if missing:
        raise ValidationError(
            f"--capacity-from {telemetry}: expected columns {load_column!r} (load per "
            f"replica) and {latency_column!r} (a latency percentile), got "
            f"{', '.join(map(str, frame.columns[:10]))}",
            hint="name them with --load-column and --latency-column",
        )
    load = pd.to_numeric(frame[load_column], errors="coerce").to_numpy(dtype=np.float64)
    latency = pd.to_numeric(frame[latency_column], errors="coerce").to_numpy(dtype=np.float64)
    return learn_capacity(load, latency, threshold=threshold)


def plan_command(
    input_path: Path | None = typer.Option(
        None, "--input", "-i", help="Demand history as long CSV or Parquet: unique_id,ds,y."
    ),
    dataset: str | None = typer.Option(None, "--dataset", help="Or a dataset id (prefix)."),
    model: str | None = typer.Option(
        None,
        "--model",
        help="A registered forecaster NAME@ALIAS or NAME@VERSION (refitted on the history; "
        "without history, the forecast it made when trained). Default: the forecasting "
        "stack's automatic choice per series.",
    ),
    freq: str | None = typer.Option(
        None, "--freq", help="The data's step (default with --model: the model's)."
    ),
    h: int | None = typer.Option(
        None, "--h", min=1, help="Steps to plan (default with --model: its horizon)."
    ),
    capacity: float | None = typer.Option(
        None, "--capacity", help="The demand one replica holds (declared)."
    ),
    capacity_from: Path | None = typer.Option(
        None,
        "--capacity-from",
        help="Or learn it from telemetry (CSV): load per replica against a latency percentile.",
    ),
    load_column: str = typer.Option("load", "--load-column", help="With --capacity-from."),
    latency_column: str = typer.Option("latency", "--latency-column", help="With --capacity-from."),
    latency_threshold: float | None = typer.Option(
        None, "--latency-threshold", help="The SLO's latency (with --capacity-from)."
    ),
    risk: float = typer.Option(
        0.01, "--risk", help="p(a step's demand exceeds the planned capacity), e.g. 0.01."
    ),
    startup: str = typer.Option("2m", "--startup", help="How long a new replica takes to serve."),
    stabilise: str = typer.Option(
        "5m", "--stabilise", help="Scale-down stabilisation (the HPA's default: 5m)."
    ),
    current: int | None = typer.Option(
        None, "--current", min=0, help="Replicas running now (fixes the first start-up steps)."
    ),
    max_replicas: int | None = typer.Option(
        None, "--max-replicas", min=1, help="The limit (quota, node pool): headroom against it."
    ),
    min_replicas: int = typer.Option(1, "--min-replicas", min=0),
    output: Path | None = typer.Option(None, "--output", "-o", help="The plan per step (CSV)."),
    plot: Path | None = typer.Option(None, "--plot", help="A PNG of the plan."),
    report: Path | None = typer.Option(
        None, "--report", help="The weekly capacity report (HTML): peak, headroom, limit date."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the plan as JSON on stdout."),
    registry: str | None = REGISTRY,
    token: str | None = TOKEN,
    token_file: Path | None = TOKEN_FILE,
) -> None:
    """Plan replicas over the horizon: each step asks for ceil(q / capacity) replicas, q
    the demand forecast's upper quantile 1 - --risk, held for --stabilise before scaling
    down and asked for --startup ahead; prints the cost (replica-hours), the risk taken
    (expected steps in breach, read off the forecast's quantiles), the peak, and the
    headroom under --max-replicas with the date it runs out. Exits 1 on bad input."""
    for path, option in ((output, "--output"), (plot, "--plot"), (report, "--report")):
        if path is not None:
            check_output_file(path, option)
    cap = _capacity(capacity, capacity_from, load_column, latency_column, latency_threshold)
    forecaster = None
    if model is not None:
        if "@" not in model:
            raise ValidationError(
                f"--model: expected a registered forecaster NAME@ALIAS or NAME@VERSION, got "
                f"{model!r}",
                hint="e.g. --model checkout@production",
            )
        registry_options(registry, token, token_file)
        _, forecaster = registered_forecaster(model)
    step = parse_duration(freq) if freq else (forecaster.step if forecaster else None)
    if step is None:
        raise ValidationError("expected --freq (the data's step) without a registered --model")
    if forecaster is not None and step != forecaster.step:
        raise ValidationError(
            f"--freq {freq} does not match the model's step {format_duration(forecaster.step)}"
        )
    history: Panel | None = None
    if input_path is not None or dataset is not None:
        history = load_input(input_path, dataset, step)
    elif forecaster is None:
        raise ValidationError("expected --input FILE or --dataset ID (the demand history)")
    steps = h if h is not None else (int(forecaster.horizon) if forecaster else None)
    if steps is None:
        raise ValidationError("expected --h (how many steps to plan) without a registered --model")
    check_at_most("--h", steps, MAX_H, "plan fewer steps ahead, or use a coarser --freq")
    if history is not None:
        check_at_most(
            f"--h {steps} for {history.n_series:,} series", history.n_series * steps,
            MAX_FORECAST_POINTS, "plan fewer steps or fewer series", " forecast points",
        )  # fmt: skip
    with err.status(f"forecasting the demand, {steps} steps"):
        fc = forecast_demand(history, steps, risk, forecaster=forecaster)
    ids = fc["unique_id"].astype(str).unique()
    plan = plan_capacity(
        fc, capacity=cap, risk=risk, step=step, startup=parse_duration(startup, zero=True),
        stabilise=parse_duration(stabilise, zero=True),
        current=None if current is None else dict.fromkeys(ids, current),
        max_replicas=max_replicas, min_replicas=min_replicas,
    )  # fmt: skip
    if output is not None:
        table = plan.table.copy()
        table["ds"], table["ask_at"] = rfc3339(table["ds"]), rfc3339(table["ask_at"])
        with atomic_output(output) as tmp:
            table.to_csv(tmp, index=False)
    if plot is not None or report is not None:
        from modelphase.report.capacity import write_capacity_report, write_plan_plot

        if plot is not None:
            write_plan_plot(plot, plan, history)
        if report is not None:
            write_capacity_report(report, plan, history, title=model or "capacity")
    if as_json:
        print_json(plan.to_dict(steps=output is None))
    else:
        _render(plan)
    written = [str(p) for p in (output, plot, report) if p is not None]
    if written:
        err.print(f"wrote {', '.join(written)}")


def _render(plan: CapacityPlan) -> None:
    t = Table(title=f"capacity plan at risk {plan.risk:g}", title_justify="left")
    for col in ("series", "peak", "when", "replicas", "replica-h", "breach steps", "headroom"):
        t.add_column(col, justify="left" if col in ("series", "when") else "right")
    for s in plan.series:
        head = "-" if s.headroom is None else f"{100 * s.headroom:.0f}%"
        t.add_row(
            escape(s.unique_id), f"{s.peak_demand_hi:,.4g}", s.peak_ds[5:16].replace("T", " "),
            f"{s.first_replicas}->{s.peak_replicas}", f"{s.replica_hours:,.1f}",
            f"{s.expected_breach_steps:.2f}", head,
        )  # fmt: skip
    err.print(t)
    if len(plan.series) == 1:
        steps = Table(title="first steps", title_justify="left")
        for col in ("ask at", "serves", "forecast", "upper", "replicas", "p(breach)"):
            steps.add_column(col, justify="right")
        for row in plan.table.head(SHOWN_STEPS).itertuples():
            steps.add_row(
                f"{row.ask_at:%H:%M}", f"{row.ds:%H:%M}", f"{row.yhat:,.4g}",
                f"{row.demand_hi:,.4g}", str(row.replicas), f"{row.breach_probability:.3f}",
            )  # fmt: skip
        err.print(steps)
    for s in plan.series:
        if s.limit_crossed_at_risk:
            err.print(
                f"[yellow]{escape(s.unique_id)}:[/] needs more than {s.limit_replicas} replicas "
                f"from {s.limit_crossed_at_risk} at risk {plan.risk:g}"
                + (
                    f" (expected from {s.limit_crossed_expected})"
                    if s.limit_crossed_expected
                    else ""
                )
            )
    for note in plan.notes:
        err.print(f"note: {escape(note)}")


def register(app: typer.Typer) -> None:
    """Add ``capacity plan`` to ``app``."""
    app.command("plan")(plan_command)
