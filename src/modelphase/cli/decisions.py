"""``modelphase decisions ...``: read the decision log that the server writes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import typer
from rich.markup import escape
from rich.table import Table

from modelphase.cli._render import err, print_json, rfc3339
from modelphase.config import get_settings
from modelphase.decisions import query, read_decisions
from modelphase.exceptions import ValidationError
from modelphase.frame import parse_time

app = typer.Typer(
    help="Read the decision log: what the server answered, with which model version, "
    "and whether the fallback did.\n\nThe server writes a sample of its requests as "
    "Parquet segments under <home>/decisions; these commands read them with DuckDB.",
    no_args_is_help=True,
)

TIME_HELP = "RFC 3339 time, Unix seconds, or now-<duration> (now-1h)."
#: the columns of the table a person reads, in order; --json prints every column
SHOWN = ("time_us", "model", "alias", "answered_by", "latency_ms", "prediction")
#: more columns when the terminal is wide enough for them
WIDE = ("endpoint", "decision", "request_id")
WIDE_WIDTH = 160
#: short headers, so that an 80-column terminal has room for the cells
HEADERS = {"time_us": "time (UTC)", "answered_by": "answered", "latency_ms": "ms"}
#: how much of a JSON text column the table shows
CELL = 60


@app.command("query")
def query_command(
    model: str | None = typer.Option(None, "--model", help="Only this model."),
    version: int | None = typer.Option(None, "--version", help="Only this model version."),
    alias: str | None = typer.Option(
        None, "--alias", help="Only this alias: production, canary or shadow."
    ),
    since: str | None = typer.Option(None, "--since", help=f"From this time on. {TIME_HELP}"),
    until: str | None = typer.Option(None, "--until", help=f"Before this time. {TIME_HELP}"),
    fallback_only: bool = typer.Option(
        False, "--fallback-only", help="Only the requests the fallback model answered."
    ),
    sql: str | None = typer.Option(
        None,
        "--sql",
        help="One SELECT over the view 'decisions' (the record's columns and 'date'), "
        "instead of the filters.",
    ),
    limit: int = typer.Option(100, "--limit", min=1, help="Rows at most (newest first)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON records instead of a table."),
    home: Path | None = typer.Option(
        None, "--home", help="Home folder (default: $MODELPHASE_HOME or ./.modelphase)."
    ),
) -> None:
    """Show logged decisions, newest first, filtered, or the rows of a SQL query.

    Examples: --model api-latency --since now-1h --fallback-only;
    --sql "SELECT alias, answered_by, count(*) AS n FROM decisions GROUP BY ALL".
    """
    root = (home or get_settings().home) / "decisions"
    filters = model or version is not None or alias or since or until or fallback_only
    if sql is not None:
        if filters:
            raise ValidationError(
                "expected either --sql or the filters, got both",
                hint="put the filters in the WHERE clause of the SQL",
            )
        frame = query(root, sql)
        total = len(frame)
        frame = frame.head(limit)
    else:
        now = pd.Timestamp(datetime.now(UTC)).value
        frame = read_decisions(
            root,
            model=model,
            version=version,
            alias=alias,
            since=_time(since, now),
            until=_time(until, now),
            fallback_only=fallback_only,
            limit=limit,
        )
        total = len(frame)
    if total > len(frame):
        err.print(f"showing {len(frame):,} of {total:,} rows; raise --limit to see more")
    if as_json:
        print_json(_records(frame))
        return
    if frame.empty:
        err.print(f"no decisions match in {escape(str(root))}")
        return
    columns = list(frame.columns)
    if sql is None:
        columns = list(SHOWN) + (list(WIDE) if err.width >= WIDE_WIDTH else [])
        frame = _readable(frame)
    title = f"decisions ({len(frame):,}{'' if sql else ', newest first'})"
    err.print(_table(frame, columns, title))


def _time(text: str | None, now: int) -> pd.Timestamp | None:
    if text is None:
        return None
    return pd.Timestamp(parse_time(text, now=now), tz="UTC")


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts: times in RFC 3339, missing values as null."""
    frame = frame.copy()
    for name in frame.columns:
        column = frame[name]
        if isinstance(column.dtype, pd.DatetimeTZDtype):
            frame[name] = rfc3339(column.dt.tz_convert("UTC"))
        elif pd.api.types.is_datetime64_dtype(column.dtype):  # DATE, such as 'date'
            days = (column.dropna() == column.dropna().dt.normalize()).all()
            frame[name] = column.dt.strftime("%Y-%m-%d" if days else "%Y-%m-%dT%H:%M:%S")
    frame = frame.astype(object).where(frame.notna(), None)
    return frame.to_dict("records")  # type: ignore[return-value]


def _readable(frame: pd.DataFrame) -> pd.DataFrame:
    """Model and version in one cell, the fallback's reason beside it."""
    version = frame["version"].astype(object).where(frame["version"].notna(), None)
    reason = frame["fallback_reason"]
    return frame.assign(
        model=[
            m if v is None else f"{m} v{v}" for m, v in zip(frame["model"], version, strict=True)
        ],
        answered_by=frame["answered_by"].where(
            reason.isna(), frame["answered_by"] + " (" + reason.astype(str) + ")"
        ),
    )


def _table(frame: pd.DataFrame, columns: list[str], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for name in columns:
        numeric = pd.api.types.is_numeric_dtype(frame[name].dtype)
        table.add_column(
            HEADERS.get(name, name),
            justify="right" if numeric else "left",
            overflow="fold",
            no_wrap=name in ("alias", "latency_ms"),
            min_width=10 if name in ("time_us", "model", "prediction") else None,
        )
    for row in frame[columns].itertuples(index=False):
        table.add_row(
            *(escape(_cell(name, value)) for name, value in zip(columns, row, strict=True))
        )
    return table


def _cell(name: str, value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and pd.isna(value)):
        return "-"
    if isinstance(value, pd.Timestamp):
        if value.tz is None and value == value.normalize():
            return value.strftime("%Y-%m-%d")
        stamp = value.tz_convert("UTC") if value.tz else value
        return stamp.strftime("%Y-%m-%d %H:%M:%S")
    if name == "latency_ms" and isinstance(value, float):
        return f"{value:,.1f}"
    text = str(value)
    return text if len(text) <= CELL else text[: CELL - 1] + "…"
