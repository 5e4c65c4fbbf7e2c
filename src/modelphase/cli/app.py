"""The ``modelphase`` command: sub-commands, global options and error handling."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from modelphase import __version__
from modelphase.cli._lazy import LazyGroup
from modelphase.config import get_settings
from modelphase.exceptions import ModelphaseError

#: every sub-command, in the order ``modelphase --help`` lists them: the module and the
#: attribute that make it (a ``typer.Typer`` group or a command function). Each module
#: is imported only when its command runs (see :mod:`modelphase.cli._lazy`).
COMMANDS: dict[str, str] = {
    "simulate": "modelphase.cli.simulate:simulate_command",
    "demo": "modelphase.cli.demo:demo_command",
    "forecast": "modelphase.cli.forecast:forecast_command",
    "train": "modelphase.cli.train:train_command",
    "detect": "modelphase.cli.detect:detect_command",
    "serve": "modelphase.cli.serve:serve_command",
    "gc": "modelphase.cli.gc:gc_command",
    "triage": "modelphase.cli.triage:app",
    "ingest": "modelphase.cli.ingest:app",
    "datasets": "modelphase.cli.datasets:app",
    "models": "modelphase.cli.models:app",
    "tokens": "modelphase.cli.tokens:app",
    "registry": "modelphase.cli.registry:app",
    "spec": "modelphase.cli.spec:app",
    "decisions": "modelphase.cli.decisions:app",
    "monitor": "modelphase.cli.monitor:app",
    "drift": "modelphase.cli.drift:app",
    "slo": "modelphase.cli.slo:app",
    "canary": "modelphase.cli.canary:app",
    "capacity": "modelphase.cli.capacity:app",
    "grafana": "modelphase.cli.grafana:app",
    "rules": "modelphase.cli.rules:rules_command",
}


class _Root(LazyGroup):
    lazy_commands = COMMANDS


app = typer.Typer(
    name="modelphase",
    help=(
        "Turn production telemetry into validated, versioned, monitored models.\n\n"
        "Telemetry is ingested (files or Prometheus) into immutable datasets named by "
        "their content hash; later stages train, register, serve and monitor models on "
        "them. Everything lives under the home folder: ./.modelphase, MODELPHASE_HOME, "
        "or --home.\n\nStart with: modelphase demo"
    ),
    cls=_Root,
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


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
        from modelphase.cli._checks import check_output_folder

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
        from modelphase.cli._render import fail

        fail(str(exc).replace("\n", " "), code=1)
    except OSError as exc:
        from modelphase.cli._render import fail, os_error_line

        fail(os_error_line(exc), code=1)
