"""Read the decision log back with DuckDB: filtered records, or read-only SQL.

Monitoring and dashboards read the log through here, never through the sink, so the
reader only depends on the files: the ``*.parquet`` segments of the ``date=YYYY-MM-DD``
folders under the root, read with ``union_by_name`` (a later schema may add columns)
and ``hive_partitioning`` (the folders become a ``date`` column). Temporary files of a
write in progress are hidden (``.<name>.tmp``) and never read; a filter on time skips
whole days before DuckDB opens anything.

A damaged segment (truncated by a copy or a full disk, or with a footer that does not
parse) does not make the log unreadable: it is skipped, the rest is read, and the
reader says so with a :class:`~modelphase.exceptions.DamagedSegmentWarning` and in the
frame's ``attrs["damaged_segments"]`` (paths relative to the root). A segment that
retention removes while a query lists it is skipped silently.

Queries run in the sandbox of :mod:`modelphase.decisions._sandbox` (no file outside
the log, a private temporary folder, memory, thread and time limits, Ctrl-C), with the
limits of a :class:`QueryLimits`, and :func:`query` accepts exactly one ``SELECT``
(``WITH``, ``FROM``, ``VALUES``... all parse as one) so that nothing can write through it.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow.parquet as pq

from modelphase.decisions import _sandbox
from modelphase.decisions._layout import list_segments
from modelphase.decisions._sandbox import VIEW, QueryLimits, SegmentError, first_line
from modelphase.decisions.records import COLUMNS
from modelphase.exceptions import (
    DamagedSegmentWarning,
    ModelphaseError,
    QueryTimeoutError,
    ValidationError,
)

__all__ = ["VIEW", "QueryLimits", "check_sql", "query", "read_decisions"]

_EXPECTED_SQL = f"one read-only SELECT (or WITH ... SELECT) over the view {VIEW!r}"
#: damaged segments a message names before it says "and N more"
_NAMED = 3


def read_decisions(
    root: str | Path,
    *,
    model: str | None = None,
    version: int | None = None,
    alias: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    fallback_only: bool = False,
    limit: int | None = None,
    limits: QueryLimits | None = None,
) -> pd.DataFrame:
    """The logged decisions that match every filter given, newest first.

    ``since`` is inclusive and ``until`` exclusive, both time-zone aware;
    ``fallback_only`` keeps the requests the fallback answered. The frame has the
    columns of :data:`~modelphase.decisions.SCHEMA` (``time_us`` as UTC datetimes,
    ``version`` as nullable ``Int64``), and none when the log has no segment yet.
    ``limits`` bounds the query (default :class:`QueryLimits`: 60 s, 1 GiB).
    """
    where: list[str] = []
    params: list[Any] = []
    for column, value in (("model", model), ("version", version), ("alias", alias)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    first = last = None
    if since is not None:
        start = _aware(since, "since")
        where += ["time_us >= ?", "date >= ?"]
        params += [start, start.date()]
        first = start.date()
    if until is not None:
        end = _aware(until, "until")
        where += ["time_us < ?", "date <= ?"]
        params += [end, end.date()]
        last = end.date()
    if fallback_only:
        where.append("answered_by = 'fallback'")
    if limit is not None and limit < 1:
        raise ValidationError(f"limit: expected a positive number of rows, got {limit}")
    sql = f"SELECT {', '.join(COLUMNS)} FROM {VIEW}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY time_us DESC, request_id"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    frame, damaged = _run(root, sql, params, limits, first, last)
    frame = frame.astype({"version": "Int64"})
    frame.attrs["damaged_segments"] = damaged
    return frame


def query(root: str | Path, sql: str, *, limits: QueryLimits | None = None) -> pd.DataFrame:
    """Run one read-only ``SELECT`` over the view ``decisions`` and return its rows.

    The view has the record's columns and ``date`` (the day folder). Anything other
    than one SELECT (an INSERT, COPY, ATTACH, SET, several statements...) is refused
    with :class:`~modelphase.exceptions.ValidationError` before it runs; a query that
    runs past ``limits.timeout_seconds`` is stopped with
    :class:`~modelphase.exceptions.QueryTimeoutError`.

    >>> query("/nonexistent", "SELECT count(*) AS n FROM decisions")["n"].tolist()
    [0]
    """
    check_sql(sql)
    frame, damaged = _run(root, sql, [], limits)
    frame.attrs["damaged_segments"] = damaged
    return frame


def check_sql(sql: str) -> None:
    """Raise :class:`~modelphase.exceptions.ValidationError` unless ``sql`` is one
    SELECT statement; nothing is run."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise ValidationError(
            f"expected {_EXPECTED_SQL}, got SQL that does not parse: {first_line(exc)}"
        ) from None
    if len(statements) != 1:
        raise ValidationError(
            f"expected {_EXPECTED_SQL}, got {len(statements)} statements",
            hint="send one statement, without a trailing second one after ';'",
        )
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        raise ValidationError(
            f"expected {_EXPECTED_SQL}, got a {kind.name} statement; the decision log "
            f"is read-only here",
            hint=f"write a query such as: SELECT model, count(*) FROM {VIEW} GROUP BY model",
        )


def _run(
    root: str | Path,
    sql: str,
    params: Sequence[Any],
    limits: QueryLimits | None,
    first: date | None = None,
    last: date | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """The rows of ``sql`` and the damaged segments it skipped (relative paths)."""
    limits = limits if limits is not None else QueryLimits()
    deadline = time.monotonic() + limits.timeout_seconds
    folder = Path(root).resolve()
    files: list[str] = []
    damaged: dict[str, str] = {}
    for segment in list_segments(folder, first=first, last=last):
        reason = _damage(segment.path)
        if reason is None:
            files.append(str(segment.path))
        elif reason is not _VANISHED:
            damaged[str(segment.path)] = reason
    footers_checked = False
    while True:
        try:
            frame = _sandbox.run(folder, files, sql, params, limits, deadline)
            break
        except SegmentError as exc:  # DuckDB named it: vanished, or damaged
            files.remove(exc.path)
            if os.path.exists(exc.path):
                damaged[exc.path] = exc.reason
        except ModelphaseError as exc:
            if footers_checked or not _maybe_data(exc.__cause__):
                raise
            footers_checked = True  # an error that names no file: read every footer
            bad = _bad_footers(files, deadline, limits)
            if not bad:
                raise
            damaged.update(bad)
            files = [f for f in files if f not in bad]
    relative = sorted(os.path.relpath(p, folder) for p in damaged)
    if damaged:
        warnings.warn(_warning(folder, damaged), stacklevel=3)
    return frame, relative


#: what :func:`_damage` says of a segment that is no longer there
_VANISHED = "vanished"


def _damage(path: Path) -> str | None:
    """Why the segment at ``path`` cannot be a whole Parquet file, from its first and
    last bytes (cheap: this is how a truncated copy shows), or None."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            head = f.read(4)
            f.seek(max(size - 8, 0))
            tail = f.read(8)
    except FileNotFoundError:
        return _VANISHED
    except OSError as exc:
        return f"cannot be opened ({exc.strerror or exc})"
    if size < 12:
        return f"{size} bytes, shorter than any Parquet file"
    if head != b"PAR1":
        return "not a Parquet file (no PAR1 header)"
    if tail[4:] != b"PAR1":
        return "truncated (no Parquet footer at its end)"
    if int.from_bytes(tail[:4], "little") + 12 > size:
        return "truncated (its footer is longer than the file)"
    return None


def _maybe_data(exc: BaseException | None) -> bool:
    """Whether a DuckDB error may come from a damaged file rather than from the SQL."""
    return (
        isinstance(
            exc, (duckdb.IOException, duckdb.InvalidInputException, duckdb.InternalException)
        )
        or type(exc) is duckdb.Error
    )


def _bad_footers(files: Sequence[str], deadline: float, limits: QueryLimits) -> dict[str, str]:
    """The segments whose Parquet footer does not parse."""
    bad = {}
    for path in files:
        if time.monotonic() > deadline:
            raise QueryTimeoutError(
                f"expected a query that ends within its time limit of "
                f"{limits.timeout_seconds:g} s, got one that ran longer while the log's "
                "segments were checked. Fix: narrow it, or raise the limit (--timeout)",
                seconds=limits.timeout_seconds,
            )
        try:
            pq.read_metadata(path)
        except FileNotFoundError:
            continue
        except Exception as exc:  # pyarrow's errors for a damaged footer vary
            bad[path] = f"its footer does not parse ({first_line(exc)})"
    return bad


def _warning(folder: Path, damaged: dict[str, str]) -> DamagedSegmentWarning:
    names = sorted(damaged)
    shown = "; ".join(f"{os.path.relpath(p, folder)} ({damaged[p]})" for p in names[:_NAMED])
    more = f" and {len(names) - _NAMED} more" if len(names) > _NAMED else ""
    one = len(names) == 1
    return DamagedSegmentWarning(
        f"skipped {len(names)} damaged segment{'' if one else 's'} of the decision log in "
        f"{folder}: {shown}{more}. Fix: move {'it' if one else 'them'} out of the log's "
        "folder (or delete them); the other segments were read",
        segments=[os.path.relpath(p, folder) for p in names],
    )


def _aware(stamp: datetime, name: str) -> datetime:
    if not isinstance(stamp, datetime) or stamp.tzinfo is None or stamp.utcoffset() is None:
        shown = stamp.isoformat() if isinstance(stamp, datetime) else repr(stamp)
        raise ValidationError(
            f"{name}: expected a time-zone aware time, got {shown}",
            hint="pass datetime(..., tzinfo=UTC) or pd.Timestamp(..., tz='UTC')",
        )
    try:
        utc = stamp.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValidationError(
            f"{name}: expected a time from year 1 to 9999 in UTC, got {stamp.isoformat()}"
        ) from None
    if isinstance(utc, pd.Timestamp):
        utc = utc.floor("us").to_pydatetime()
    return utc
