"""``modelphase capacity warm``: serverless warm plans from invocation history.

``warm --input ARRIVALS.csv [--function-column request_type] [--time-column ds]
--train-until T [--cost-ratio 10] [--horizon 60m] [--output PLAN.csv] [--probabilities
P.csv] [--plot FILE.png] [--json]``: per function, the pre-warm and keep-alive minutes
of its warm plan, the probability of at least one invocation in each minute of the
horizon after T, and the cold-start share and idle warm minutes the plan is expected
to cost (:mod:`modelphase.decide.capacity.warm`).

The input is one row per invocation (a function column and a time column), or, when
it has a ``y`` column, per-minute counts ``unique_id,ds,y`` (the function column is
then ``unique_id`` unless named; a minute with ``y > 0`` is an invocation minute).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import typer
from rich.markup import escape
from rich.table import Table

from modelphase.cli._checks import check_input_file, check_output_file
from modelphase.cli._render import atomic_output, err, print_json, progress, read_text_csv
from modelphase.decide.capacity.warm import DEFAULT_COST_RATIO, WarmPlan, break_even, warm_plans
from modelphase.exceptions import ValidationError
from modelphase.frame import format_time, parse_duration, parse_time
from modelphase.limits import (
    MAX_DATASET_POINTS,
    MAX_FORECAST_POINTS,
    check_at_most,
)

MINUTE = 60 * 10**9
#: the longest horizon of the probabilities, in minutes
MAX_HORIZON_MINUTES = 1440
_SHOWN = 40


def _read(path: Path) -> pd.DataFrame:
    if path.suffix.lower() in (".parquet", ".pq"):
        if not path.is_file():
            raise ValidationError(f"--input {path}: expected a Parquet file, got no such file")
        check_input_file(path, "--input")
        frame = pd.read_parquet(path)
        frame.columns = [str(c).strip() for c in frame.columns]
        return frame.astype(str)
    return read_text_csv(path, "--input", "one row per invocation, or unique_id,ds,y")


def _column(frame: pd.DataFrame, name: str, option: str, path: Path) -> pd.Series:
    if name not in frame.columns:
        shown = ", ".join(map(str, frame.columns[:12]))
        raise ValidationError(
            f"{option} {name}: expected a column of {path}, got none by that name "
            f"(columns: {shown})",
            hint=f"name one of them with {option}",
        )
    return frame[name]


def _times(text: pd.Series, option: str) -> np.ndarray:
    """Nanoseconds since the epoch: Unix seconds, or times (naive ones read as UTC)."""
    numbers = pd.to_numeric(text, errors="coerce")
    if numbers.notna().all():
        return np.round(numbers.to_numpy(dtype=np.float64) * 1e9).astype(np.int64)
    stamps = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
    bad = np.flatnonzero(stamps.isna().to_numpy())
    if bad.size:
        raise ValidationError(
            f"{option}: expected times (RFC 3339 or Unix seconds), got {text.iloc[bad[0]]!r}",
            rows=[int(i) + 1 for i in bad[:5]],
            hint="write times as 2024-05-01T12:00:00Z or Unix seconds",
        )
    return stamps.to_numpy(dtype="datetime64[ns]").astype(np.int64)


def _invocation_minutes(
    path: Path, function_column: str | None, time_column: str
) -> tuple[np.ndarray, np.ndarray, str, int]:
    """Per invocation row: the function and the minute (since the epoch) it invoked in;
    the input's format, and its last minute (rows of y = 0 included)."""
    frame = _read(path)
    if frame.empty:
        raise ValidationError(f"--input {path}: expected invocations, got no rows")
    check_at_most(f"--input {path}", len(frame), MAX_DATASET_POINTS, "split the file", " rows")
    counts = "y" in frame.columns
    name = function_column or ("unique_id" if counts else "request_type")
    functions = _column(frame, name, "--function-column", path).astype(str).to_numpy()
    ns = _times(_column(frame, time_column, "--time-column", path), "--time-column")
    end = int(ns.max()) // MINUTE
    if counts:
        y = pd.to_numeric(frame["y"], errors="coerce").to_numpy(dtype=np.float64)
        bad = np.flatnonzero(~(np.isfinite(y) & (y >= 0)))
        if bad.size:
            raise ValidationError(
                f"--input {path}: expected counts y >= 0 per minute, got "
                f"{frame['y'].iloc[bad[0]]!r}",
                rows=[int(i) + 1 for i in bad[:5]],
            )
        off = np.flatnonzero(ns % MINUTE)
        if off.size:
            raise ValidationError(
                f"--input {path}: expected per-minute counts at whole minutes, got "
                f"{format_time(int(ns[off[0]]))}",
                rows=[int(i) + 1 for i in off[:5]],
                hint="count invocations per minute, or pass one row per invocation",
            )
        keep = y > 0
        functions, ns = functions[keep], ns[keep]
    return functions, ns // MINUTE, "counts" if counts else "invocations", end


def _table(plans: list[WarmPlan], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for col in ("function", "pre-warm", "keep", "basis", "idle", "p(next)", "cold", "waste/h"):
        table.add_column(col, justify="left" if col in ("function", "basis") else "right")

    def num(x: float, form: str) -> str:
        return format(x, form) if np.isfinite(x) else "-"

    table.caption = (
        "minutes after each invocation: pre-warm (unloaded), keep (warm); idle: idle times "
        "seen; p(next): p(>= 1 invocation) in the first minute; cold, waste/h: expected "
        "cold-start share and idle warm minutes per hour"
    )
    busiest = sorted(plans, key=lambda p: (-p.n_invocation_minutes, p.function))[:_SHOWN]
    for p in busiest:
        table.add_row(
            escape(p.function),
            str(p.prewarm),
            str(p.keep_alive),
            "model" if p.basis == "idle-time model" else "break-even",
            str(p.n_idle_times),
            num(float(p.p_invocation[0]), ".3f"),
            num(p.cold_start_share, ".3f"),
            num(p.wasted_minutes_per_hour, ".1f"),
        )
    return table


def _plot(plans: list[WarmPlan], path: Path, now: int, cost_ratio: float) -> None:
    from modelphase.report.capacity import write_warm_plot

    check_output_file(path, "--plot")
    write_warm_plot(path, plans, format_time(now), cost_ratio)


def warm_command(
    input_path: Path = typer.Option(
        ...,
        "--input",
        help="One row per invocation, or per-minute counts unique_id,ds,y "
        "(told apart by a y column). CSV or Parquet.",
    ),
    function_column: str | None = typer.Option(
        None,
        "--function-column",
        help="The function of each row (default: request_type; unique_id for counts).",
    ),
    time_column: str = typer.Option(
        "ds", "--time-column", help="Invocation times: RFC 3339 (naive is UTC) or Unix s."
    ),
    train_until: str = typer.Option(
        ...,
        "--train-until",
        help="Plan from the history up to this minute (RFC 3339 or Unix s, inside the data).",
    ),
    cost_ratio: float = typer.Option(
        DEFAULT_COST_RATIO,
        "--cost-ratio",
        help="What one cold start costs, in idle warm minutes.",
    ),
    horizon: str = typer.Option(
        "60m", "--horizon", help="Minutes of probabilities after --train-until (1m to 1d)."
    ),
    output: Path | None = typer.Option(None, "--output", "-o", help="The plans (CSV)."),
    probabilities: Path | None = typer.Option(
        None, "--probabilities", help="function,ds,p_invocation per minute ahead (CSV)."
    ),
    plot: Path | None = typer.Option(None, "--plot", help="p(invocation) ahead (PNG)."),
    as_json: bool = typer.Option(False, "--json", help="Print the plans as JSON on stdout."),
) -> None:
    """Warm plans per function: after each invocation, unload for the pre-warm minutes,
    then keep an instance warm for the keep-alive minutes. A minute is kept warm when
    the chance of an invocation in it, given the idle minutes so far (the hazard of the
    function's idle times), is at least 1 / (1 + cost ratio). With fewer than 2 idle
    times a function gets the break-even keep-alive (ceil(cost ratio) minutes), said in
    the basis column. Exits 1 on bad input."""
    break_even(cost_ratio)  # validates the ratio before reading anything
    outputs = ((output, "--output"), (probabilities, "--probabilities"), (plot, "--plot"))
    for path, option in outputs:
        if path is not None:
            check_output_file(path, option)
    h_ns = parse_duration(horizon)
    if h_ns % MINUTE or not 1 <= h_ns // MINUTE <= MAX_HORIZON_MINUTES:
        raise ValidationError(
            f"--horizon: expected whole minutes from 1m to {MAX_HORIZON_MINUTES // 60}h, "
            f"got {horizon}",
            hint="pass e.g. --horizon 60m",
        )
    h = h_ns // MINUTE
    until = parse_time(train_until)
    found = _invocation_minutes(input_path, function_column, time_column)
    functions, minutes, kind, last = found
    if not minutes.size:
        raise ValidationError(f"--input {input_path}: expected invocations, got none (all y = 0)")
    first = int(minutes.min())
    last_minute = until // MINUTE
    if not first <= last_minute <= last:
        raise ValidationError(
            f"--train-until: expected a time inside the data, from its first invocation "
            f"({format_time(first * MINUTE)}) to its last row ({format_time(last * MINUTE)}), "
            f"got {format_time(until)}",
            hint="pass the end of the history to plan from",
        )
    past = minutes <= last_minute
    ids, inverse = np.unique(functions[past], return_inverse=True)
    check_at_most(
        "the probabilities",
        len(ids) * h,
        MAX_FORECAST_POINTS,
        "plan fewer functions or a shorter --horizon",
        " function-minutes",
    )
    order = np.lexsort((minutes[past], inverse))
    split = np.flatnonzero(np.diff(inverse[order])) + 1
    per_function = np.split(minutes[past][order], split)
    now = last_minute + 1
    with progress("planning", len(ids)) as update:
        plans = warm_plans(
            [str(i) for i in ids],
            per_function,
            now,
            cost_ratio=cost_ratio,
            horizon=h,
            on_progress=update,
        )
    later = len(set(functions[~past].tolist()) - set(ids.tolist()))
    rows = [p.to_dict() for p in plans]
    if output is not None:
        table = pd.DataFrame(rows).drop(columns=["p_invocation"])
        table.insert(7, "p_next_minute", [r["p_invocation"][0] for r in rows])
        with atomic_output(output) as tmp:
            table.to_csv(tmp, index=False)
    if probabilities is not None:
        stamps = [format_time((now + j) * MINUTE) for j in range(h)]
        long = pd.DataFrame(
            {
                "function": np.repeat([p.function for p in plans], h),
                "ds": stamps * len(plans),
                "p_invocation": np.concatenate([p.p_invocation for p in plans]),
            }
        )
        with atomic_output(probabilities, "--probabilities") as tmp:
            long.to_csv(tmp, index=False)
    if plot is not None:
        _plot(plans, plot, now * MINUTE, cost_ratio)
    fallback = sum(p.basis != "idle-time model" for p in plans)
    if as_json:
        print_json(
            {
                "input": str(input_path),
                "format": kind,
                "train_until": format_time(until),
                "first_minute": format_time(now * MINUTE),
                "cost_ratio": cost_ratio,
                "threshold": 1 / (1 + cost_ratio),
                "horizon_minutes": h,
                "functions": len(plans),
                "fallback_functions": fallback,
                "functions_without_history": later,
                "plans": rows,
            }
        )
    title = (
        f"warm plans at cost ratio {cost_ratio:g} (warm when p >= {1 / (1 + cost_ratio):.3f}), "
        f"from {format_time(now * MINUTE)}"
    )
    err.print(_table(plans, title))
    notes = [f"{len(plans)} functions, {fallback} on the break-even keep-alive"]
    if len(plans) > _SHOWN:
        notes.append(f"the {_SHOWN} busiest shown")
    if later:
        notes.append(f"{later} invoked only after --train-until, not planned")
    err.print("; ".join(notes))


def register(app: typer.Typer) -> None:
    """Add ``capacity warm`` to ``app``."""
    app.command("warm")(warm_command)
