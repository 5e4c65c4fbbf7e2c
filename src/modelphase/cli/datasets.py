"""``modelphase datasets ...``: list, inspect and export dataset snapshots."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import numpy as np
import pandas as pd
import typer
from rich.markup import escape
from rich.table import Table

from modelphase.cli._checks import check_output_file
from modelphase.cli._render import (
    FitTable,
    atomic_output,
    describe_source,
    err,
    manifest_table,
    out,
    print_json,
    rfc3339,
)
from modelphase.frame import Panel
from modelphase.ingest import DatasetStore

app = typer.Typer(help="List, inspect and export dataset snapshots.", no_args_is_help=True)

JSON = typer.Option(False, "--json", help="Print JSON instead of a table.")


class ExportFormat(StrEnum):
    csv = "csv"
    parquet = "parquet"
    openmetrics = "openmetrics"


@app.command("list")
def list_command(as_json: bool = JSON) -> None:
    """List the datasets in the home folder, newest first."""
    manifests, broken = DatasetStore().scan()
    for error in broken:
        err.print(f"[yellow]warning:[/] {escape(str(error))}")
    if as_json:
        print_json([m.to_dict() for m in manifests])
        return
    if not manifests:
        err.print(f"no datasets in {DatasetStore().root}; create one with `modelphase ingest`")
        return
    out.print(manifest_table(manifests))


@app.command("show")
def show_command(
    dataset_id: str = typer.Argument(..., metavar="ID", help="A dataset id or unique prefix."),
    as_json: bool = JSON,
    limit: int = typer.Option(20, "--limit", min=1, help="Series shown in the table."),
) -> None:
    """Show a dataset's manifest and a summary of each series (verifies its sha256)."""
    store = DatasetStore()
    manifest = store.manifest(dataset_id)
    summary = store.load(manifest.id).describe()
    if as_json:
        records = summary.assign(
            start=summary["start"].map(_rfc3339), end=summary["end"].map(_rfc3339)
        ).replace({np.nan: None})
        print_json({"manifest": manifest.to_dict(), "series": records.to_dict("records")})
        return
    head = Table.grid(padding=(0, 2))
    for key, value in (
        ("id", manifest.id),
        ("sha256", manifest.sha256),
        ("created", manifest.created_at),
        ("source", describe_source(manifest.source)),
        ("range", f"{manifest.start} .. {manifest.end}"),
        ("step", manifest.step),
        ("series", f"{manifest.n_series:,}"),
        ("points", f"{manifest.n_points:,} ({manifest.missing_ratio:.2%} missing)"),
    ):
        head.add_row(f"[bold]{key}[/]", escape(value))
    out.print(head)
    for warning in manifest.warnings:
        out.print(f"[yellow]warning:[/] {escape(warning)}")
    out.print(series_table(summary, limit))


def series_table(summary: pd.DataFrame, limit: int) -> Table:
    """A rich table of :meth:`Panel.describe` rows."""
    shown = summary.head(limit)
    table = FitTable(
        title=f"series ({len(shown)} of {len(summary)})", title_justify="left", show_lines=False
    )
    for name in ("unique_id", "points", "missing", "min", "mean", "max"):
        if name == "unique_id":
            table.add_column(name)
        else:
            table.add_column(name, justify="right", no_wrap=True)
    for row in shown.to_dict("records"):
        points = int(row["points"])
        table.add_row(
            escape(str(row["unique_id"])),
            f"{points:,}",
            f"{int(row['missing']) / max(points, 1):.1%}",
            _num(float(row["min"])),
            _num(float(row["mean"])),
            _num(float(row["max"])),
        )
    return table


@app.command("export")
def export_command(
    dataset_id: str = typer.Argument(..., metavar="ID", help="A dataset id or unique prefix."),
    fmt: ExportFormat = typer.Option(ExportFormat.csv, "--format", help="Output format."),
    output: Path = typer.Option(..., "--output", "-o", help="File to write."),
) -> None:
    """Export a dataset in long format (ds in RFC 3339 UTC; missing points left empty).

    'openmetrics' writes text that `promtool tsdb create-blocks-from openmetrics`
    backfills into Prometheus.
    """
    check_output_file(output)
    panel = DatasetStore().load(dataset_id)
    with atomic_output(output) as tmp:
        _export(panel, fmt, tmp)
    err.print(f"wrote {panel.n_points:,} points of {panel.n_series:,} series to {output}")


def _export(panel: Panel, fmt: ExportFormat, path: Path) -> None:
    if fmt is ExportFormat.openmetrics:
        from modelphase.ingest import to_openmetrics

        with path.open("w", encoding="utf-8") as fh:
            fh.writelines(to_openmetrics(panel))
        return
    frame = panel.to_long()
    if fmt is ExportFormat.parquet:
        frame.to_parquet(path, index=False)
        return
    frame["ds"] = rfc3339(frame["ds"])
    frame.to_csv(path, index=False, na_rep="")


def _rfc3339(stamp: pd.Timestamp) -> str:
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def _num(value: float) -> str:
    if np.isnan(value):
        return "-"
    return f"{value:,.4g}"
