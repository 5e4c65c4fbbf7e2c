"""The ``modelphase`` command: sub-commands, global options and error handling."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import typer

from modelphase import __version__
from modelphase.cli import datasets, demo, ingest, simulate
from modelphase.cli._render import err, fail
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
app.command("simulate")(simulate.simulate_command)
app.command("demo")(demo.demo_command)


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
        os.environ["MODELPHASE_HOME"] = str(home)
    get_settings.cache_clear()


def main() -> None:
    """Entry point: run the app; modelphase's errors become one line and exit 1."""
    try:
        code = app(standalone_mode=False)
    except ModelphaseError as exc:
        _one_line(str(exc))
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # click's usage errors
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
    sys.exit(code if isinstance(code, int) else 0)


def _one_line(message: str) -> None:
    with contextlib.suppress(typer.Exit):
        fail(message.replace("\n", " "))
