"""The ``modelphase`` command: sub-commands, global options and error handling."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from modelphase import __version__
from modelphase.cli import (
    canary,
    capacity,
    datasets,
    decisions,
    demo,
    detect,
    drift,
    forecast,
    gc,
    ingest,
    models,
    monitor,
    registry,
    serve,
    simulate,
    slo,
    spec,
    tokens,
    train,
    triage,
)
from modelphase.cli._checks import check_output_folder
from modelphase.cli._render import fail, os_error_line
from modelphase.config import get_settings
from modelphase.exceptions import ModelphaseError

app = typer.Typer(
    name="modelphase",
    help=(
        "Turn production telemetry into validated, versioned, monitored models.\n\n"
        "Telemetry is ingested (files or Prometheus) into immutable datasets named by "
        "their content hash; later stages train, register, serve and monitor models on "
        "them. Everything lives under the home folder: ./.modelphase, MODELPHASE_HOME, "
        "or --home.\n\nStart with: modelphase demo"
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(ingest.app, name="ingest")
app.add_typer(datasets.app, name="datasets")
app.add_typer(models.app, name="models")
app.add_typer(tokens.app, name="tokens")
app.add_typer(registry.app, name="registry")
app.add_typer(spec.app, name="spec")
app.add_typer(decisions.app, name="decisions")
app.add_typer(monitor.app, name="monitor")
app.add_typer(drift.app, name="drift")
app.add_typer(slo.app, name="slo")
app.add_typer(canary.app, name="canary")
app.add_typer(capacity.app, name="capacity")
app.command("simulate")(simulate.simulate_command)
app.command("demo")(demo.demo_command)
app.command("forecast")(forecast.forecast_command)
app.command("train")(train.train_command)
app.command("detect")(detect.detect_command)
app.command("serve")(serve.serve_command)
app.command("gc")(gc.gc_command)
app.command("triage")(triage.triage_command)


def _version(value: bool) -> None:
    if value:
        print(f"modelphase {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    home: Path | None = typer.Option(
        None,
        "--home",
        help="Home folder for datasets and models (default: $MODELPHASE_HOME or ./.modelphase).",
        show_default=False,
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    if home is not None:
        check_output_folder(home, "--home")
        os.environ["MODELPHASE_HOME"] = str(home)
    get_settings.cache_clear()


def main() -> None:
    """Entry point. Usage errors exit 2 (Click's convention); modelphase's own errors
    (bad input, unreachable sources, missing datasets, limits) and the operating
    system's (a full or read-only disk, a denied permission) print one line and exit 1."""
    try:
        app()
    except ModelphaseError as exc:
        fail(str(exc).replace("\n", " "), code=1)
    except OSError as exc:
        fail(os_error_line(exc), code=1)
