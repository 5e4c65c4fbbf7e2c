"""``modelphase capacity tradeoff``: the cheapest configuration (replicas, cores, memory,
instance type) that meets a latency SLO at a planned load, at a stated risk, learned from
telemetry (:func:`modelphase.decide.capacity.tradeoff.tradeoff`); the Pareto front of
cost against latency as a table, ``--json``, ``--output FRONT.csv`` and ``--plot F.png``.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import pandas as pd
import typer
from matplotlib.figure import Figure
from rich.markup import escape
from rich.table import Table

from modelphase.cli._checks import check_input_file, check_output_file
from modelphase.cli._render import atomic_output, err, out, print_json, progress, read_text_csv
from modelphase.decide.capacity.tradeoff import (
    MAX_REPLICAS,
    MAX_VALUES,
    Prices,
    Tradeoff,
    describe,
    tradeoff,
)
from modelphase.exceptions import ValidationError

#: the resource options, their default column names (used when the file has them)
_DEFAULTS = {"replicas": "replicas", "cpu": "cpu", "memory": "memory", "instance": "instance_type"}
#: front rows shown in the table (the CSV has them all)
MAX_SHOWN = 30


def register(app: typer.Typer) -> None:
    """Add ``capacity tradeoff`` to ``app``."""
    app.command("tradeoff")(tradeoff_command)


def tradeoff_command(
    input_path: Path = typer.Option(
        ..., "--input", help="Telemetry CSV or Parquet, one row per window, in time order."
    ),
    latency_column: str = typer.Option(
        ..., "--latency-column", help="The window's latency percentile, seconds (e.g. p99)."
    ),
    load_column: str = typer.Option(..., "--load-column", help="The window's load (e.g. rps)."),
    replicas_column: str | None = typer.Option(
        None,
        "--replicas-column",
        help="Replicas; default: the column replicas, if present ('' for none).",
    ),
    cpu_column: str | None = typer.Option(
        None, "--cpu-column", help="Cores per replica; default: the column cpu, if present."
    ),
    memory_column: str | None = typer.Option(
        None, "--memory-column", help="GiB per replica; default: the column memory, if present."
    ),
    instance_column: str | None = typer.Option(
        None,
        "--instance-column",
        help="Instance type; default: the column instance_type, if present.",
    ),
    slo_latency: float = typer.Option(
        ..., "--slo-latency", help="The SLO's latency threshold, seconds."
    ),
    load: float = typer.Option(..., "--load", help="The load to plan for (e.g. a plan's peak)."),
    risk: float = typer.Option(
        0.01, "--risk", help="The accepted chance that a window's latency is over the SLO."
    ),
    max_replicas: int = typer.Option(100, "--max-replicas", help="Replicas tried: 1..this."),
    price: list[str] = typer.Option(
        [], "--price", help="TYPE=USD: an instance type's price per replica-hour; repeat."
    ),
    price_replica_hour: float = typer.Option(
        0.0, "--price-replica-hour", help="USD per replica-hour, whatever its type."
    ),
    price_core_hour: float = typer.Option(0.0, "--price-core-hour", help="USD per core-hour."),
    price_gib_hour: float = typer.Option(0.0, "--price-gib-hour", help="USD per GiB-hour."),
    cpu_values: str | None = typer.Option(
        None, "--cpu-values", help="Cores per replica to try, e.g. 1,2,4; default: those seen."
    ),
    memory_values: str | None = typer.Option(
        None, "--memory-values", help="GiB per replica to try, e.g. 4,8; default: those seen."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the answer as JSON on stdout."),
    plot: Path | None = typer.Option(
        None, "--plot", help="PNG: cost vs latency, the front, the SLO."
    ),
    output: Path | None = typer.Option(None, "--output", "-o", help="The front as CSV."),
) -> None:
    """Learn the latency percentile's (1 - --risk) quantile as a function of the load
    per replica, cores, memory and instance type (monotone gradient-boosted trees: more
    load never faster, more resources never slower), checked on the last 20% of rows;
    then price every configuration (replicas 1..--max-replicas x the cores, memory and
    types seen) at --load and answer the cheapest whose predicted quantile is within
    --slo-latency, with the Pareto front. Configurations beyond the telemetry (a
    combination never run, or more load per replica than seen) are never chosen.
    Exits 1 on bad input or when no configuration meets the SLO."""
    for path, option in ((output, "--output"), (plot, "--plot")):
        if path is not None:
            check_output_file(path, option)
    if not 1 <= max_replicas <= MAX_REPLICAS:
        raise ValidationError(f"--max-replicas: expected 1..{MAX_REPLICAS:,}, got {max_replicas}")
    frame = _read(input_path)
    prices = Prices(_instance_prices(price), price_replica_hour, price_core_hour, price_gib_hour)
    with progress("learning latency from telemetry"):
        found = tradeoff(
            frame, latency=latency_column, load=load_column,
            replicas=_column(frame, "replicas", replicas_column),
            cpu=_column(frame, "cpu", cpu_column), memory=_column(frame, "memory", memory_column),
            instance=_column(frame, "instance", instance_column),
            slo_latency=slo_latency, planned_load=load, risk=risk, prices=prices,
            max_replicas=max_replicas, cpu_values=_floats(cpu_values, "--cpu-values"),
            memory_values=_floats(memory_values, "--memory-values"),
        )  # fmt: skip
    if output is not None:
        with atomic_output(output) as tmp:
            found.front.to_csv(tmp, index=False)
    if plot is not None:
        with atomic_output(plot, "--plot") as tmp:
            tmp.write_bytes(_png(found))
    if as_json:
        print_json(found.to_dict())
    else:
        out.print(_table(found))
    _summary(found, output, plot)


def _read(path: Path) -> pd.DataFrame:
    if path.suffix.lower() in (".parquet", ".pq"):
        check_input_file(path, "--input")
        if not path.is_file():
            raise ValidationError(f"--input {path}: expected a Parquet file, got no such file")
        return pd.read_parquet(path)
    return read_text_csv(path, "--input", "telemetry rows with a header")


def _column(frame: pd.DataFrame, key: str, given: str | None) -> str | None:
    """The column for a resource: the one named, none for '', else the default name
    when the file has it."""
    if given is None:
        return _DEFAULTS[key] if _DEFAULTS[key] in frame.columns else None
    return given.strip() or None


def _instance_prices(items: list[str]) -> dict[str, float]:
    prices: dict[str, float] = {}
    for item in items:
        name, sep, value = item.rpartition("=")
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not sep or not name.strip() or not math.isfinite(number) or number < 0:
            raise ValidationError(
                f"--price: expected TYPE=USD per replica-hour (a number >= 0), got {item!r}",
                hint="e.g. --price m5.large=0.096",
            )
        prices[name.strip()] = number
    return prices


def _floats(text: str | None, option: str) -> list[float] | None:
    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or len(values) > MAX_VALUES:
        raise ValidationError(
            f"{option}: expected 1 to {MAX_VALUES} comma-separated numbers, got {text!r}",
            hint=f"e.g. {option} 1,2,4",
        )
    return values


def _table(found: Tradeoff) -> Table:
    s = found.settings
    table = Table(
        title=f"Pareto front at load {s['load']:g}: cost vs predicted "
        f"{100 * s['quantile']:g}% quantile of the latency (SLO {s['slo_latency']:g} s)",
        title_justify="left",
    )
    keys = [k for k in ("replicas", "cpu", "memory", "instance_type") if k in found.front]
    for name in ("", *keys, "load/replica", "latency (s)", "USD/hour", "meets SLO"):
        table.add_column(name, justify="left" if name in ("", "instance_type") else "right")
    front = found.front
    at = int(front.index[front["chosen"]][0]) if front["chosen"].any() else 0
    start = max(0, min(at - MAX_SHOWN // 2, len(front) - MAX_SHOWN))
    for i, row in front.iloc[start : start + MAX_SHOWN].iterrows():
        cells = [escape(str(row[k])) if k == "instance_type" else f"{row[k]:g}" for k in keys]
        table.add_row(
            "chosen" if row["chosen"] else "",
            *cells,
            f"{row['load_per_replica']:.4g}",
            f"{row['predicted_latency']:.4g}",
            f"{row['cost_per_hour']:.4f}",
            "yes" if row["meets_slo"] else "no",
            style="bold green" if row["chosen"] else None,
        )
        del i
    if len(front) > MAX_SHOWN:
        table.caption = f"{MAX_SHOWN} of {len(front)} front points; --output has them all"
    return table


def _summary(found: Tradeoff, output: Path | None, plot: Path | None) -> None:
    s, c, f = found.settings, found.chosen, found.fit
    err.print(
        f"cheapest meeting p(latency > {s['slo_latency']:g} s) <= {s['risk']:g} at load "
        f"{s['load']:g}: [bold]{escape(describe(c))}[/], {c['cost_per_hour']:.4f} USD/hour "
        f"(predicted {100 * s['quantile']:g}% quantile {c['predicted_latency']:.4g} s)"
    )
    if f.get("exceedance") is not None:
        err.print(
            f"hold-out (last {f['holdout_rows']} rows, {f['holdout_in_range']} in range): "
            f"{f['exceedance']:.2%} of windows above the predicted quantile (risk "
            f"{s['risk']:.2%}); pinball loss of the log {f['pinball_log']:.4g} vs "
            f"{f['pinball_log_constant']:.4g} for a constant"
        )
    for note in found.notes:
        err.print(f"[yellow]note:[/] {escape(note)}")
    for path, what in ((output, "front"), (plot, "plot")):
        if path is not None:
            err.print(f"wrote {escape(str(path))}: the {what}")


def _png(found: Tradeoff) -> bytes:
    """Cost vs predicted latency: trusted candidates, the front, the chosen one, the SLO."""
    s, c = found.settings, found.chosen
    cand = found.candidates[found.candidates["trusted"]]
    fig = Figure(figsize=(8, 5), layout="constrained")
    ax = fig.subplots()
    ax.scatter(
        cand["cost_per_hour"], cand["predicted_latency"], s=8, color="0.7",
        label=f"configurations ({len(cand)} trusted)",
    )  # fmt: skip
    front = found.front
    ax.step(
        front["cost_per_hour"], front["predicted_latency"], where="post", color="tab:blue",
        marker="o", ms=3, lw=1.2, label=f"Pareto front ({len(front)})",
    )  # fmt: skip
    ax.axhline(
        s["slo_latency"], color="tab:red", ls="--", lw=1, label=f"SLO {s['slo_latency']:g} s"
    )
    ax.scatter(
        [c["cost_per_hour"]], [c["predicted_latency"]], marker="*", s=220, color="tab:green",
        zorder=5, label=f"chosen: {describe(c)}",
    )  # fmt: skip
    ax.set_yscale("log")
    ax.set_xlabel("cost (USD per hour)")
    ax.set_ylabel(f"predicted {100 * s['quantile']:g}% quantile of the latency (s)")
    ax.set_title(f"cost vs latency at load {s['load']:g}, risk {s['risk']:g}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    return buf.getvalue()
