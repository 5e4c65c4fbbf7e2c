"""``modelphase decisions ...``: read the decision log that the server writes."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import typer
from rich.markup import escape
from rich.table import Table

from modelphase.cli._render import err, fail, print_json, progress, rfc3339
from modelphase.config import get_settings
from modelphase.decisions import QueryLimits, query, read_decisions
from modelphase.exceptions import DamagedSegmentWarning, ModelphaseError, ValidationError
from modelphase.frame import parse_duration, parse_time

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
#: rows one query prints at most (--limit)
MAX_LIMIT = 1_000_000
#: the times --since and --until accept: the Unix epoch up to where nanoseconds end
EARLIEST, LATEST = "1970-01-01T00:00:00Z", "2262-01-01T00:00:00Z"
#: the longest --timeout
MAX_TIMEOUT = "1d"
#: what a query stopped by Ctrl-C exits with (128 + SIGINT, as shells do)
INTERRUPTED = 130


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
    limit: int = typer.Option(
        100, "--limit", help=f"Rows at most (newest first), 1 to {MAX_LIMIT:,}."
    ),
    timeout: str = typer.Option(
        "60s",
        "--timeout",
        help=f"Stop the query after this long (30s, 5m; at most {MAX_TIMEOUT}). Ctrl-C "
        "stops it too.",
    ),
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
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationError(
            f"--limit: expected a number of rows from 1 to {MAX_LIMIT:,}, got {limit:,}",
            hint="filter or aggregate instead of printing more rows",
        )
    limits = QueryLimits(timeout_seconds=_timeout(timeout))
    if sql is not None:
        if filters:
            raise ValidationError(
                "expected either --sql or the filters, got both",
                hint="put the filters in the WHERE clause of the SQL",
            )
        frame = _reading(root, lambda: query(root, sql, limits=limits))
        total = len(frame)
        frame = frame.head(limit)
    else:
        now = pd.Timestamp(datetime.now(UTC)).value
        start, end = _time(since, "--since", now), _time(until, "--until", now)
        if start is not None and end is not None and start >= end:
            raise ValidationError(
                f"expected --since before --until, got --since {since!r} "
                f"({start.isoformat()}) and --until {until!r} ({end.isoformat()})",
                hint="--since is where the range starts (inclusive), --until where it ends",
            )
        frame = _reading(
            root,
            lambda: read_decisions(
                root,
                model=model,
                version=version,
                alias=alias,
                since=start,
                until=end,
                fallback_only=fallback_only,
                limit=limit,
                limits=limits,
            ),
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


def _reading(root: Path, read: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    """``read()``, with a spinner on a terminal, one line on stderr per damaged segment
    warning, and Ctrl-C as one line and exit code 130."""
    try:
        with (
            warnings.catch_warnings(record=True) as caught,
            progress(f"querying {escape(str(root))} (Ctrl-C stops it)"),
        ):
            warnings.simplefilter("always", DamagedSegmentWarning)
            frame = read()
    except KeyboardInterrupt:
        fail("interrupted: the query was stopped (Ctrl-C); nothing was changed", INTERRUPTED)
    for warning in caught:
        if issubclass(warning.category, DamagedSegmentWarning):
            message = str(warning.message).replace("\n", " ")
            err.print(f"[yellow]warning:[/] {escape(message)}", markup=True, highlight=False)
        else:  # not ours: on to the filters it would have met
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    return frame


def _time(text: str | None, option: str, now: int) -> datetime | None:
    """``text`` (RFC 3339, Unix seconds, now-<duration>) as a UTC time, within
    ``EARLIEST`` and ``LATEST``."""
    if text is None:
        return None
    try:
        ns: int | None = parse_time(text, now=now)
    except ModelphaseError:
        raise
    except (ValueError, OverflowError):  # a year past pandas' nanoseconds, 1e400 seconds
        ns = None
    if ns is None or not parse_time(EARLIEST) <= ns <= parse_time(LATEST):
        raise ValidationError(
            f"{option}: expected a time from {EARLIEST} to {LATEST}, got {text!r}",
            hint="use a time such as now-7d or 2024-05-01T00:00:00Z",
        )
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ns // 1000)


def _timeout(text: str) -> float:
    """``--timeout`` in seconds, from 1 ms to ``MAX_TIMEOUT``."""
    ns = parse_duration(text)
    if ns > parse_duration(MAX_TIMEOUT) or ns < 1_000_000:
        raise ValidationError(
            f"--timeout: expected a duration from 1ms to {MAX_TIMEOUT}, got {text!r}",
            hint="use a duration such as 30s or 5m",
        )
    return ns / 1e9


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
