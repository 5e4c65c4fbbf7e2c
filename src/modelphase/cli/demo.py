"""``modelphase demo``: the main job on embedded defaults.

Today: simulate a week of telemetry for a few services, ingest it as a dataset, print
the dataset's summary and write a plot. Each later stage of the lifecycle (train,
register, detect, serve) joins this same command.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer

from modelphase.cli._render import err, manifest_table, out
from modelphase.cli.datasets import series_table
from modelphase.cli.simulate import events_table, write_simulation
from modelphase.config import get_settings
from modelphase.ingest import DatasetStore, ingest_file
from modelphase.report import Span, plot_panel
from modelphase.simulate import simulate


def demo_command(
    services: int = typer.Option(3, "--services", "-n", min=1, help="Number of services."),
    days: float = typer.Option(7.0, "--days", help="Days of telemetry."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Folder for files (default: <home>/demo)."
    ),
) -> None:
    """Run the lifecycle on simulated telemetry: simulate, ingest, summarise, plot.

    Prints the dataset id as its last line.
    """
    settings = get_settings()
    folder = output or settings.home / "demo"
    with err.status("simulating telemetry"):
        sim = simulate(services=services, days=days, seed=seed)
        written = write_simulation(sim, folder, openmetrics=True)
    err.print(f"[bold]1. simulated[/] {sim.panel.n_series} series -> {written.data}")
    err.print(events_table(sim))
    with err.status("ingesting"):
        manifest = ingest_file(
            written.data, DatasetStore(settings.datasets_dir), now=datetime.now(UTC)
        )
    err.print(f"[bold]2. ingested[/] dataset {manifest.id} (sha256 {manifest.sha256[:12]}...)")
    out.print(manifest_table([manifest], title="dataset"))
    panel = DatasetStore(settings.datasets_dir).load(manifest.id)
    out.print(series_table(panel.describe(), limit=panel.n_series))
    spans = [
        Span(e.start, e.end, f"{e.event_id} {e.kind}", e.unique_ids, e.is_incident)
        for e in sim.events
        if e.unique_ids
    ]
    with err.status("plotting"):
        plot = plot_panel(
            panel,
            folder / "telemetry.png",
            spans=spans,
            title=f"simulated telemetry, dataset {manifest.id} (red: incidents)",
        )
    err.print(f"[bold]3. plotted[/] {plot}")
    err.print(
        "next: `modelphase datasets show "
        f"{manifest.id}`, `modelphase datasets export {manifest.id} --format csv -o out.csv`"
    )
    typer.echo(manifest.id)
