"""``modelphase triage --input WIDE.csv --at T [--json]``: which service most likely
caused an incident.

WIDE is RCAEval's wide CSV: a ``time`` column (Unix seconds) and one column per metric
named ``<service>_<metric>``; T is the anomaly's time. The ranking is
:func:`modelphase.decide.triage.triage`'s: a table on stderr, or with ``--json`` the
result on stdout (``{"ranking": [{"service", "metric", "score", ...}], ...}``). It
writes nothing.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from modelphase.cli._render import err, print_json, read_text_csv
from modelphase.decide.triage import THRESHOLD, Suspect, Triage, triage
from modelphase.frame import NS_PER_SECOND, format_time
from modelphase.limits import MAX_DATASET_POINTS, check_at_most


def triage_command(
    input_path: Path = typer.Option(
        ...,
        "--input",
        "-i",
        help="Wide CSV: a time column (Unix seconds) and one <service>_<metric> column "
        "per metric (RCAEval's format).",
    ),
    at: float = typer.Option(
        ..., "--at", help="The anomaly's time (Unix seconds): the rows before it are normal."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the ranking as JSON on stdout."),
) -> None:
    """Rank every service by how far its metrics moved after --at,
    most likely root cause first.

    Each metric is scored by its robust z-score against the rows before
    --at (the normal period's median and spread, the spread never below
    1% of the median), taking the largest |z| from --at on (BARO's
    scoring). A service's score is its strongest metric's; ties go to
    the service that changed first (|z| reached 3 earliest). The table
    shows, per service, that metric, its score, when it changed and in
    which direction.

    --json prints {"ranking": [{"service", "metric", "score",
    "changed_at", "direction", ...}], "metrics": [every service/metric
    pair]} on stdout: one ranking entry per service.

    Missing, infinite and non-numeric cells are ignored; rows are sorted
    by time; a column with no value before --at scores 0. Exits 1 on bad
    input (no time column, a time that is not a number, no metric
    columns, --at outside the data or with no row before it), 2 on a
    usage error.
    """
    frame = read_text_csv(input_path, "--input", "a header: time,<service>_<metric>,... and rows")
    check_at_most(
        f"--input {input_path} (rows x columns)",
        frame.shape[0] * frame.shape[1],
        MAX_DATASET_POINTS,
        "cut the file to a window around the incident, or to fewer metrics",
    )
    result = triage(frame, at)
    if as_json:
        print_json(result.to_dict())
        return
    err.print(_table(result))
    err.print(
        f"{len(result.ranking)} services, {len(result.metrics)} metrics; normal period "
        f"{result.n_normal} rows before {_when(result.at)}, anomalous {result.n_anomalous} "
        f"rows from it on",
        markup=False,
    )


def _table(result: Triage) -> Table:
    table = Table(
        title="likely root causes (most likely first)",
        caption=f"changed: when |z| first reached {THRESHOLD:g}, after {_when(result.at)}",
    )
    for name, justify in (
        ("rank", "right"),
        ("service", "left"),
        ("metric", "left"),
        ("score", "right"),
        ("changed", "left"),
        ("direction", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for rank, s in enumerate(result.ranking, start=1):
        table.add_row(
            str(rank),
            escape(s.service),
            escape(s.metric or "-"),
            f"{s.score:.3g}",
            _changed(s, result.at),
            _direction(s),
        )
    return table


def _changed(s: Suspect, at: float) -> str:
    """Seconds after the anomaly's time; ``-`` when |z| never reached the threshold."""
    return "-" if s.changed_at is None else f"+{s.changed_at - at:g} s"


def _direction(s: Suspect) -> str:
    if s.direction == "none" or s.normal_median is None or s.peak_value is None:
        return s.direction
    return f"{s.direction} ({s.normal_median:.4g} -> {s.peak_value:.4g})"


def _when(t: float) -> str:
    try:
        return format_time(round(t * NS_PER_SECOND))
    except (OverflowError, ValueError, OSError):
        return f"{t:g}"
