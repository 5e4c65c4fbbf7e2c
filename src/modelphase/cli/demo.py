"""``modelphase demo``: the main job on embedded defaults.

Today: simulate a week of telemetry for a few services, ingest it as a dataset, print
the dataset's summary and write a plot, then train the forecaster of
``examples/forecast.yaml`` on it (rolling-origin backtests, per-series selection,
conformal intervals, gates), write its HTML report, register it with its lineage,
promote it to production when its gates pass and print the alias history. Each later
stage of the lifecycle (detection, serving) joins this same command.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer

from modelphase.cli._render import err, manifest_table, out, progress
from modelphase.cli.datasets import series_table
from modelphase.cli.models import events_table, git_commit
from modelphase.cli.simulate import events_table as sim_events_table
from modelphase.cli.simulate import write_simulation
from modelphase.cli.train import write_report
from modelphase.config import get_settings
from modelphase.exceptions import ValidationError
from modelphase.ingest import DatasetStore, ingest_file
from modelphase.registry import Registry
from modelphase.report import Span, plot_panel
from modelphase.simulate import simulate
from modelphase.spec import load_spec
from modelphase.train import register_run, train


def demo_command(
    services: int = typer.Option(3, "--services", "-n", min=1, help="Number of services."),
    days: float = typer.Option(7.0, "--days", help="Days of telemetry."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Folder for files (default: <home>/demo)."
    ),
    spec_path: Path | None = typer.Option(
        None, "--spec", help="The forecasting spec to train (default: examples/forecast.yaml)."
    ),
) -> None:
    """Run the lifecycle on simulated telemetry: simulate, ingest, summarise, plot,
    train a forecaster from a spec (backtests, gates, report), register it and promote
    it when its gates pass.

    Prints the dataset id as its last line.
    """
    settings = get_settings()
    folder = output or settings.home / "demo"
    with err.status("simulating telemetry"):
        sim = simulate(services=services, days=days, seed=seed)
        written = write_simulation(sim, folder, openmetrics=True)
    err.print(f"[bold]1. simulated[/] {sim.panel.n_series} series -> {written.data}")
    err.print(sim_events_table(sim))
    with err.status("ingesting"):
        manifest = ingest_file(written.data, DatasetStore(), now=datetime.now(UTC))
    err.print(f"[bold]2. ingested[/] dataset {manifest.id} (sha256 {manifest.sha256[:12]}...)")
    out.print(manifest_table([manifest], title="dataset"))
    panel = DatasetStore().load(manifest.id)
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
    spec = load_spec(spec_path or example_spec())
    err.print(
        f"[bold]4. training[/] {spec.name} from {spec_path or 'examples/forecast.yaml'}: "
        f"{', '.join(c.alias or c.model for c in spec.candidates)}, "
        f"{spec.backtest.windows} backtest windows, horizon {spec.horizon}"
    )
    with progress("backtesting and refitting") as update:
        run = train(
            spec,
            panel,
            dataset_id=manifest.id,
            progress=lambda stage, done, total: update(done, total),
        )
    report = settings.home / "reports" / f"{spec.name}-{manifest.id}.html"
    with Registry() as reg:
        version = register_run(run, reg, git_commit=git_commit(), tags={"origin": "demo"})
        write_report(run, version.version, report)
        verdict = "passed" if run.passed else "FAILED"
        err.print(
            f"[bold]5. validated[/] gates {verdict}: "
            + ", ".join(
                f"{g['name']} {g['value']:.3f} {g['threshold']}"
                if g["value"] is not None
                else f"{g['name']} -"
                for g in run.gates
            )
            + f"; MASE {run.metrics['mase']:.3f} vs seasonal naive "
            f"{run.metrics['baseline_mase']:.3f}; 80% interval coverage "
            f"{run.metrics['coverage_80']:.1%}"
        )
        if run.passed:
            current = reg.live(spec.name).get("production")
            reg.promote(
                spec.name,
                version.version,
                "production",
                expect=current,
                reason="demo: gates passed on the latest dataset",
            )
            history = reg.history(spec.name)
    err.print(
        f"[bold]6. registered[/] {spec.name} version {version.version} (trained on "
        f"{manifest.id})" + (" and promoted it to production" if run.passed else ", not promotable")
    )
    if run.passed:
        out.print(events_table(spec.name, history))
    out.print(f"report: {report}")
    err.print(
        f"next: open the report, `modelphase forecast --model {spec.name}@production "
        f"--output next-hour.csv`, `modelphase models show {spec.name} --alias production`, "
        f"`modelphase datasets show {manifest.id}`"
    )
    typer.echo(manifest.id)


def example_spec() -> Path:
    """The forecasting spec shipped in ``examples/`` (in the package when installed
    from a wheel, at the repository's root in a checkout)."""
    for folder in (Path(__file__).parents[1] / "examples", Path(__file__).parents[3] / "examples"):
        if (folder / "forecast.yaml").is_file():
            return folder / "forecast.yaml"
    raise ValidationError(
        "examples/forecast.yaml is missing from this installation",
        hint="pass a spec with --spec FILE",
    )
