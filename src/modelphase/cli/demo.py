"""``modelphase demo``: the main job on embedded defaults.

Today: simulate a week of telemetry for a few services, ingest it as a dataset, print
the dataset's summary and write a plot, then fit a seasonal-naive model per series,
register it with its lineage (the dataset), promote it to production and print the
alias history. Each later stage of the lifecycle (training with backtests, detection,
serving) joins this same command.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import typer

from modelphase import __version__
from modelphase.cli._render import err, manifest_table, out
from modelphase.cli.datasets import series_table
from modelphase.cli.models import events_table, git_commit
from modelphase.cli.simulate import events_table as sim_events_table
from modelphase.cli.simulate import write_simulation
from modelphase.config import get_settings
from modelphase.forecast import SeasonalNaive
from modelphase.frame import NS_PER_SECOND, Panel
from modelphase.ingest import DatasetStore, ingest_file
from modelphase.registry import Registry
from modelphase.report import Span, plot_panel
from modelphase.simulate import simulate

MODEL_NAME = "demo-forecast"
DAY = 86_400 * NS_PER_SECOND


def demo_command(
    services: int = typer.Option(3, "--services", "-n", min=1, help="Number of services."),
    days: float = typer.Option(7.0, "--days", help="Days of telemetry."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Folder for files (default: <home>/demo)."
    ),
) -> None:
    """Run the lifecycle on simulated telemetry: simulate, ingest, summarise, plot,
    register a seasonal-naive model and promote it.

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
    artifact, metrics = seasonal_naive_artifact(panel)
    with Registry() as reg:
        version = reg.register(
            MODEL_NAME,
            artifact,
            flavor="modelphase",
            model_class="SeasonalNaive",
            params={"season_length": DAY // (panel.step or DAY)},
            dataset_id=manifest.id,
            metrics=metrics,
            owners=["sre-oncall"],
            tags={"origin": "demo"},
            code_version=f"modelphase {__version__}",
            git_commit=git_commit(),
        )
        current = reg.live(MODEL_NAME).get("production")
        reg.promote(
            MODEL_NAME,
            version.version,
            "production",
            expect=current,
            reason="demo: seasonal naive on the latest dataset",
        )
        history = reg.history(MODEL_NAME)
    err.print(
        f"[bold]4. registered[/] {MODEL_NAME} version {version.version} (trained on "
        f"{manifest.id}, last-day MAE/mean {metrics['mae_ratio_last_day']:.3f}) and promoted "
        "it to production"
    )
    out.print(events_table(MODEL_NAME, history))
    err.print(
        f"next: `modelphase datasets show {manifest.id}`, `modelphase models show "
        f"{MODEL_NAME} --alias production`, `modelphase models live {MODEL_NAME} --at now-1h`"
    )
    typer.echo(manifest.id)


def seasonal_naive_artifact(panel: Panel) -> tuple[bytes, dict[str, float]]:
    """Fit a daily seasonal-naive model per series; score it on the last day first.

    The metric is the mean over series of the last day's MAE divided by the series'
    mean level, with the model fitted on the days before (a one-fold holdout; the
    rolling-origin backtests come with training).
    """
    assert panel.step is not None
    season = DAY // panel.step
    ratios, fitted = [], {}
    for uid in panel.ids:
        _, y = panel.series(uid)
        model = SeasonalNaive(season_length=season)
        guess = model.fit(y[:-season]).predict(season)["mean"]
        actual = y[-season:]
        ok = np.isfinite(actual) & np.isfinite(guess)
        ratios.append(float(np.mean(np.abs(actual[ok] - guess[ok])) / np.nanmean(np.abs(y))))
        model.fit(y)
        fitted[uid] = {
            "last_season": [None if np.isnan(v) else float(v) for v in model.last_season_],
            "sigma": model.sigma_,
        }
    artifact = {"model_class": "SeasonalNaive", "params": {"season_length": season}}
    artifact["series"] = fitted
    data = json.dumps(artifact, sort_keys=True, separators=(",", ":")).encode()
    return data, {"mae_ratio_last_day": round(float(np.mean(ratios)), 6)}
