"""``modelphase simulate``: realistic telemetry with ground truth, written to files."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

import typer
from rich.table import Table

from modelphase.cli._checks import check_output_folder
from modelphase.cli._render import atomic_output, err, print_json, rfc3339
from modelphase.exceptions import ValidationError
from modelphase.frame import format_duration, format_time, parse_duration, parse_time
from modelphase.ingest import DatasetStore, ingest_panel, to_openmetrics
from modelphase.limits import (
    MAX_DATASET_POINTS,
    MAX_SERVICES,
    MAX_SIMULATED_DAYS,
    check_at_most,
)
from modelphase.simulate import RegimeChange, Simulation, simulate

#: series per simulated service (request rate, p50, p99, errors, CPU, memory)
SERIES_PER_SERVICE = 6
_DAY_NS = 86_400 * 10**9


class SimFormat(StrEnum):
    csv = "csv"
    parquet = "parquet"


@dataclass(frozen=True)
class Written:
    data: Path
    events: Path
    openmetrics: Path | None


def simulate_command(
    services: int = typer.Option(
        3, "--services", "-n", min=1, help="Number of services (at most 1,000)."
    ),
    days: float = typer.Option(
        7.0, "--days", help="Length of the telemetry in days (at most 3,660)."
    ),
    step: str = typer.Option("60s", "--step", help="Sample interval."),
    start: str = typer.Option(
        "2026-01-05T00:00:00Z", "--start", help="First timestamp (RFC 3339; a Monday)."
    ),
    seed: int = typer.Option(0, "--seed", help="Random seed: same seed, same data."),
    no_events: bool = typer.Option(False, "--no-events", help="Leave out injected events."),
    regime_change: str | None = typer.Option(
        None,
        "--regime-change",
        metavar="AFTER",
        help=(
            "Add a lasting regime change AFTER this long from --start (e.g. 3d12h), for "
            "every service: request rate +30% with its daily peak 3 h later, p99 latency "
            "x1.5 (p50 x1.25), to the end of the data. Recorded as regime_change events."
        ),
    ),
    output: Path = typer.Option(Path("simulated"), "--output", "-o", help="Folder for the files."),
    fmt: SimFormat = typer.Option(SimFormat.csv, "--format", help="Data file format."),
    openmetrics: bool = typer.Option(
        False, "--openmetrics", help="Also write telemetry.om for promtool backfill."
    ),
    ingest: bool = typer.Option(
        False, "--ingest", help="Also snapshot the telemetry as a dataset; prints its id last."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON summary."),
) -> None:
    """Simulate SRE telemetry for N services, with injected events and their ground truth.

    Per service: request rate (daily and weekly seasonality, trend), p50/p99 latency that
    rises with load, error ratio, CPU and memory. Events: spikes, level shifts, slow
    drifts, latency regressions after deploys (incidents); traffic surges, missing
    scrapes and deploys (not incidents). --regime-change adds a change that lasts (a new
    traffic mix and a latency regression), the new normal to retrain on. Writes
    telemetry.csv (long: unique_id,ds,y) and events.json (the ground truth) to --output.

    At most 20 million points in all (services x 6 series x days / step).
    """
    step_ns = parse_duration(step)
    check_size(services, days, step_ns)
    check_output_folder(output)
    start_ns = parse_time(start)
    change = None if regime_change is None else regime_at(regime_change, start_ns, days)
    sim = simulate(
        services=services,
        days=days,
        step=step_ns,
        start=start_ns,
        seed=seed,
        events=not no_events,
        regime_change=change,
    )
    written = write_simulation(sim, output, fmt=fmt.value, openmetrics=openmetrics)
    dataset_id = None
    if ingest:
        source: dict[str, object] = {
            "kind": "simulate",
            "services": services,
            "days": days,
            "seed": seed,
        }
        if regime_change is not None:
            source["regime_change"] = regime_change
        store = DatasetStore()
        dataset_id = ingest_panel(sim.panel, store, source, now=datetime.now(UTC)).id
    if as_json:
        print_json(
            {
                "data": str(written.data),
                "events": str(written.events),
                "openmetrics": str(written.openmetrics) if written.openmetrics else None,
                "n_series": sim.panel.n_series,
                "n_points": sim.panel.n_points,
                "dataset_id": dataset_id,
                "ground_truth": [e.to_dict() for e in sim.events],
            }
        )
        return
    err.print(events_table(sim))
    err.print(
        f"wrote {sim.panel.n_series} series x {sim.panel.n_points // sim.panel.n_series:,} "
        f"points to {written.data}, ground truth to {written.events}"
    )
    if dataset_id:
        typer.echo(dataset_id)


def regime_at(after: str, start: int, days: float) -> RegimeChange:
    """The default :class:`RegimeChange`, ``after`` (a duration) from ``start``."""
    offset = parse_duration(after)
    if days > 0 and not offset < days * _DAY_NS:  # bad days are left to simulate
        raise ValidationError(
            f"--regime-change: expected a duration after --start and within --days "
            f"({days:g} days), got {after!r}",
            hint="pass --regime-change 3d12h (the middle of --days 7)",
        )
    return RegimeChange(start=start + offset)


def check_size(services: int, days: float, step: int) -> None:
    """Refuse a simulation over the limits of :mod:`modelphase.limits` before any of it
    is made (bad values, such as days <= 0, are left to :func:`simulate` to explain)."""
    check_at_most("--services", services, MAX_SERVICES, "simulate fewer services", " services")
    if not math.isfinite(days):
        return
    check_at_most("--days", days, MAX_SIMULATED_DAYS, "simulate fewer days", " days")
    if days <= 0 or step <= 0:
        return
    points = round(days * _DAY_NS) // step * SERIES_PER_SERVICE * services
    check_at_most(
        f"{services} services x {SERIES_PER_SERVICE} series x {days:g} days every "
        f"{format_duration(step)}",
        points,
        MAX_DATASET_POINTS,
        "simulate fewer services or days, or pass a larger --step",
        " points",
    )


def write_simulation(
    sim: Simulation, output: Path, *, fmt: str = "csv", openmetrics: bool = False
) -> Written:
    """Write the telemetry, events.json and optionally telemetry.om, each atomically."""
    output.mkdir(parents=True, exist_ok=True)
    frame = sim.panel.to_long()
    data = output / f"telemetry.{fmt}"
    with atomic_output(data) as tmp:
        if fmt == "parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame["ds"] = rfc3339(frame["ds"])
            frame.to_csv(tmp, index=False, na_rep="")
    events = output / "events.json"
    truth = {
        "generator": "modelphase simulate",
        "start": format_time(int(sim.panel.ds.min())),
        "end": format_time(int(sim.panel.ds.max())),
        "events": [e.to_dict() for e in sim.events],
    }
    with atomic_output(events) as tmp:
        tmp.write_text(json.dumps(truth, indent=2) + "\n")
    om = None
    if openmetrics:
        om = output / "telemetry.om"
        with atomic_output(om) as tmp:
            tmp.write_text("".join(to_openmetrics(sim.panel)))
    return Written(data, events, om)


def events_table(sim: Simulation) -> Table:
    table = Table(title=f"injected events ({len(sim.events)})", title_justify="left")
    for name in ("id", "kind", "service", "start", "end", "incident", "description"):
        table.add_column(name, no_wrap=name != "description")
    for e in sim.events:
        table.add_row(
            e.event_id,
            e.kind,
            e.service,
            format_time(e.start)[5:16].replace("T", " "),
            format_time(e.end)[5:16].replace("T", " "),
            "yes" if e.is_incident else "-",
            e.description,
        )
    return table
