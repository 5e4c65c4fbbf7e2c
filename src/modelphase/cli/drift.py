"""``modelphase drift``: change points of a series, drift between two tables.

``drift changepoints --input FILE.csv`` reads a NAB-style CSV (``timestamp,value``, or
``timestamp,v1,v2,...`` for series that change together) and prints the 0-based rows
where a new regime starts (:func:`modelphase.drift.changepoints`).

``drift check --reference REF.csv --current CUR.csv`` compares every numeric column of
two tables with the same columns (:func:`modelphase.drift.compare_columns`) and exits
0 when nothing drifted, 3 when something did.

In both, a ``timestamp`` column is ignored, empty cells are missing values, and bad
input (a missing file, a cell that is not a number, different columns, too few rows)
is one line naming what was expected, what came and the fix, with exit code 1.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import typer
from numpy.typing import NDArray
from rich.markup import escape
from rich.table import Table

from modelphase.cli._render import err, fail, out, read_text_csv
from modelphase.drift import ALPHA, MIN_EFFECT, changepoints, compare_columns
from modelphase.exceptions import ValidationError

app = typer.Typer(
    help="Drift: change points of a series, and drift between a reference and now.",
    no_args_is_help=True,
)

#: exit code of ``drift check`` when at least one column drifted
EXIT_DRIFTED = 3
#: the column that is ignored (the rows' time, not a value)
TIME_COLUMN = "timestamp"


@app.command("changepoints")
def changepoints_command(
    input_path: Path = typer.Option(
        ..., "--input", "-i", help="A NAB-style CSV: timestamp,value or timestamp,v1,v2,..."
    ),
    as_json: bool = typer.Option(
        False, "--json", help='Print {"changepoints": [row, ...]} (0-based rows) on stdout.'
    ),
) -> None:
    """Print the rows where a new regime starts: a step in level, a turn in slope or
    a change of variance (a steady trend is one regime). Rows count from 0 for the
    first data row; the first regime's start is not listed. Several value columns
    are one multivariate series. Exits 1 on bad input."""
    names, values = read_table(input_path, "--input")
    found = changepoints(values)
    if as_json:
        sys.stdout.write(json.dumps({"changepoints": found}) + "\n")
        return
    table = Table(title=f"change points of {escape(input_path.name)}", title_justify="left")
    table.add_column("row", justify="right")
    for name in names:
        table.add_column(escape(name), justify="right")
    for row in found:
        table.add_row(str(row), *(f"{v:.4g}" for v in values[row]))
    out.print(table)
    err.print(f"{len(found)} change point(s) in {len(values):,} rows of {', '.join(names)}")


@app.command("check")
def check_command(
    reference: Path = typer.Option(..., "--reference", help="The reference table (CSV)."),
    current: Path = typer.Option(..., "--current", help="The current table (CSV)."),
    alpha: float = typer.Option(
        ALPHA, "--alpha", help="The false-discovery rate across the columns."
    ),
    min_effect: float = typer.Option(
        MIN_EFFECT,
        "--min-effect",
        help="The smallest shift called drift, in reference standard deviations.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON."),
) -> None:
    """Compare every numeric column of CURRENT with REFERENCE (Kolmogorov-Smirnov,
    adjusted across columns; an effect of at least --min-effect sd). Exits 0 when
    nothing drifted, 3 when a column did, 1 on bad input."""
    ref_names, ref = read_table(reference, "--reference")
    cur_names, cur = read_table(current, "--current")
    if set(ref_names) != set(cur_names):
        fail(
            f"--current {current}: expected the columns of --reference ({', '.join(ref_names)}), "
            f"got {', '.join(cur_names)}. Fix: compare two exports of the same table"
        )
    try:
        found = compare_columns(
            {n: ref[:, i] for i, n in enumerate(ref_names)},
            {n: cur[:, i] for i, n in enumerate(cur_names)},
            alpha=alpha,
            min_effect=min_effect,
        )
    except ValidationError as exc:
        fail(f"{exc}. Fix: pass longer tables, or check --alpha and --min-effect")
    drifted = [c.column for c in found if c.drifted]
    if as_json:
        sys.stdout.write(json.dumps({"columns": [c.as_dict() for c in found]}, indent=2) + "\n")
    else:
        table = Table(title="drift check", title_justify="left")
        for name in ("column", "statistic", "value", "p_value", "effect (sd)", "psi", "drifted"):
            table.add_column(name, justify="left" if name in ("column", "statistic") else "right")
        for c in found:
            table.add_row(
                escape(c.column), c.statistic, f"{c.value:.3f}", f"{c.p_value:.3g}",
                f"{c.effect_size:.3f}", f"{c.psi:.3f}", "[red]yes[/]" if c.drifted else "no",
            )  # fmt: skip
        out.print(table)
        err.print(f"{len(drifted)} of {len(found)} column(s) drifted")
    if drifted:
        raise typer.Exit(EXIT_DRIFTED)


def read_table(path: Path, option: str) -> tuple[list[str], NDArray[np.float64]]:
    """The numeric columns of a CSV (a ``timestamp`` column dropped), empty cells as
    NaN; a missing file, an empty one or a cell that is not a number exits 1."""
    frame = read_text_csv(path, option, "a header and rows")
    names = [c for c in frame.columns if c.lower() != TIME_COLUMN]
    if not names:
        fail(
            f"{option} {path}: expected a value column beside {TIME_COLUMN}, got "
            f"{', '.join(frame.columns) or 'none'}. Fix: export timestamp,value"
        )
    columns = []
    for name in names:
        text = frame[name].str.strip()
        numbers = pd.to_numeric(text.where(text != "", None), errors="coerce")
        bad = numbers.isna() & (text != "") & (text.str.lower() != "nan")
        if bad.any():
            row = int(np.argmax(bad.to_numpy()))
            fail(
                f"{option} {path}: expected numbers in column {name!r}, got "
                f"{text.iloc[row]!r} on line {row + 2}. Fix: leave a missing value empty"
            )
        columns.append(numbers.to_numpy(dtype=np.float64))
    if not len(frame):
        fail(f"{option} {path}: expected rows below the header, got none")
    return names, np.column_stack(columns)
