"""``modelphase spec check FILE``: validate a model spec before a run."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from modelphase.anomaly import DETECTORS
from modelphase.cli._render import err, fail, out, print_json
from modelphase.exceptions import SpecError
from modelphase.forecast import MODEL_NAMES
from modelphase.monitor import Policy
from modelphase.spec import load_spec

app = typer.Typer(help="Model specs: the YAML that describes a model.", no_args_is_help=True)


@app.command("check")
def check_command(
    path: Path = typer.Argument(..., help="A model spec (YAML)."),
    as_json: bool = typer.Option(False, "--json", help="Print the normalised spec as JSON."),
) -> None:
    """Check a spec: every field, the durations, the candidate models (or detector),
    the gates, and the monitoring and canary policy the monitor will read.

    Exits 1 listing each problem with its field path.
    """
    try:
        spec = load_spec(path)
        spec.check_models(list(MODEL_NAMES) if spec.kind == "forecast" else sorted(DETECTORS))
        Policy.of(spec.monitoring, spec.canary)  # what the monitor will read
    except SpecError as exc:
        for problem in exc.errors:
            err.print(f"{escape(str(path))}: {escape(problem)}")
        fail(f"{path}: {len(exc.errors)} problem(s), listed above")
    if as_json:
        print_json(spec.to_dict())
        return
    table = Table.grid(padding=(0, 2))
    target = spec.target.dataset or (spec.target.prometheus.query if spec.target.prometheus else "")
    for key, value in (
        ("name", spec.name),
        ("kind", spec.kind),
        ("target", target),
        ("frequency", spec.frequency),
        ("horizon", f"{spec.horizon} steps"),
        ("levels", ", ".join(f"{lv:g}" for lv in spec.levels)),
        ("candidates", ", ".join(spec.candidate_names)),
        ("backtest", f"{spec.backtest.windows} windows, gap {spec.backtest.gap}"),
        ("gates", ", ".join(g.name or g.metric for g in spec.gates) or "-"),
        ("owners", ", ".join(spec.owners) or "-"),
    ):
        table.add_row(f"[bold]{key}[/]", escape(value))
    out.print(table)
    err.print(f"{path}: ok")
