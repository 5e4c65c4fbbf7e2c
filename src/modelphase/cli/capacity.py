"""``modelphase capacity``: replicas for the demand to come, at a stated risk.

``replay --input LONG.csv --freq 1m --train-until T --capacity C --startup 2m [--risk
0.01] --output OUT.csv`` replays the predictive policy online
(:func:`modelphase.decide.capacity.replay`): for every step after T, the replicas it
asks for at that time from the demand before it, taking effect after the start-up
delay; OUT is ``unique_id,ds,replicas``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer

from modelphase.cli._checks import check_output_file
from modelphase.cli._render import atomic_output, err, print_json, progress, rfc3339
from modelphase.cli.forecast import load_input
from modelphase.decide.capacity.replay import (
    DEFAULT_QUANTILE,
    DEFAULT_REFIT,
    DEFAULT_STABILISE,
    QUANTILES,
    replay,
)
from modelphase.exceptions import ValidationError
from modelphase.frame import NS_PER_SECOND, format_duration, format_time, parse_duration, parse_time
from modelphase.limits import MAX_FORECAST_POINTS, check_at_most

app = typer.Typer(
    help="Capacity: replicas for the demand to come, at a stated risk.", no_args_is_help=True
)


@app.command("replay")
def replay_command(
    input_path: Path = typer.Option(
        ..., "--input", help="Demand as long CSV or Parquet: unique_id,ds,y (e.g. requests/s)."
    ),
    freq: str = typer.Option(..., "--freq", help="The data's step: 1m, 5m..."),
    train_until: str = typer.Option(
        ..., "--train-until", help="Replay every step after this time (RFC 3339 or Unix s)."
    ),
    capacity: float = typer.Option(..., "--capacity", help="The demand one replica holds."),
    startup: str = typer.Option(
        "2m", "--startup", help="How long a new replica takes to serve (whole steps)."
    ),
    risk: float = typer.Option(
        0.01, "--risk", help="The chance a step's demand exceeds what was asked for."
    ),
    refit: int = typer.Option(
        DEFAULT_REFIT, "--refit", min=1, max=1440, help="Steps between refits of the forecast."
    ),
    quantile: str = typer.Option(
        DEFAULT_QUANTILE,
        "--quantile",
        help="Where the upper quantile comes from: naive (the last demand plus the "
        "conformal quantile of that rule's recent errors), forecast (the forecasting "
        "stack's interval) or recent (its point forecast plus its recent errors' quantile).",
    ),
    stabilise: str = typer.Option(
        f"{DEFAULT_STABILISE}s",
        "--stabilise",
        help="Scale-down stabilisation: the largest decision over this window (0s: none).",
    ),
    output: Path = typer.Option(..., "--output", "-o", help="unique_id,ds,replicas (CSV)."),
    as_json: bool = typer.Option(False, "--json", help="Print a summary as JSON on stdout."),
) -> None:
    """Replay the predictive policy step by step after --train-until: at each step it
    asks for the replicas whose capacity covers an upper quantile (1 - --risk) of the
    demand one start-up delay ahead (by default the last demand seen plus the
    conformal quantile of that rule's own recent errors; the forecasting stack's
    interval while too few errors are known), never fewer than the last observed
    demand needs. Each decision sees only the data before it. Exits 1 on bad input."""
    if quantile not in QUANTILES:
        raise ValidationError(
            f"--quantile: expected one of {', '.join(QUANTILES)}, got {quantile!r}"
        )
    stabilise_s = parse_duration(stabilise, zero=True) // NS_PER_SECOND
    check_output_file(output, "--output")
    step = parse_duration(freq)
    startup_ns = parse_duration(startup, zero=True)
    now = int(datetime.now(UTC).timestamp()) * NS_PER_SECOND
    until = parse_time(train_until, now=now)
    panel = load_input(input_path, None, step)
    if not panel.n_points:
        raise ValidationError(f"--input {input_path}: expected demand, got no rows")
    last = int(panel.ds.max())
    if until >= last or until < int(panel.ds.min()):
        raise ValidationError(
            f"--train-until: expected a time inside the data ({format_time(int(panel.ds.min()))} "
            f"to {format_time(last)}), got {format_time(until)}",
            hint="pass the time the fit part ends, e.g. 70% into the data",
        )
    check_at_most(
        "the replay", panel.n_series * ((last - until) // step), MAX_FORECAST_POINTS,
        "replay fewer series or a shorter span", " steps",
    )  # fmt: skip
    with progress("replaying", panel.n_series):
        found = replay(
            panel, train_until=until, capacity=capacity, startup=startup_ns, risk=risk,
            refit=refit, stabilise=stabilise_s, quantile=quantile,
        )  # fmt: skip
    table = found.copy()
    table["ds"] = rfc3339(table["ds"])
    with atomic_output(output) as tmp:
        table.to_csv(tmp, index=False)
    summary = {
        "output": str(output),
        "series": panel.n_series,
        "steps": len(found),
        "freq": format_duration(step),
        "startup": format_duration(startup_ns) if startup_ns else "0s",
        "risk": risk,
        "capacity": capacity,
        "replica_steps": int(found["replicas"].sum()) if len(found) else 0,
    }
    if as_json:
        print_json(summary)
    err.print(
        f"wrote {output}: {len(found)} decisions for {panel.n_series} series, "
        f"{summary['replica_steps']:,} replica-steps"
    )


def _register() -> None:
    from modelphase.cli import capacity_keda, capacity_plan, capacity_tradeoff, capacity_warm

    capacity_plan.register(app)
    capacity_warm.register(app)
    capacity_keda.register(app)
    capacity_tradeoff.register(app)


_register()
