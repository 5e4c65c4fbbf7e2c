"""Read the decision log back with DuckDB: filtered records, or read-only SQL.

Monitoring and dashboards read the log through here, never through the sink, so the
reader only depends on the files: every ``*.parquet`` under the root, read with
``union_by_name`` (a later schema may add columns) and ``hive_partitioning`` (the
``date=YYYY-MM-DD`` folders become a ``date`` column, and a filter on time skips whole
days). Temporary files of a write in progress end in ``.tmp`` and are never read.

Queries run on a fresh in-memory DuckDB connection that may touch no file outside the
log's folder, and :func:`query` accepts exactly one ``SELECT`` (``WITH``, ``FROM``,
``VALUES``... all parse as one) so that nothing can write through it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from modelphase.decisions.records import COLUMNS, SCHEMA
from modelphase.exceptions import SourceError, ValidationError

__all__ = ["VIEW", "query", "read_decisions"]

#: the name the SQL of :func:`query` reads the log by
VIEW = "decisions"
_EXPECTED_SQL = f"one read-only SELECT (or WITH ... SELECT) over the view {VIEW!r}"


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
) -> pd.DataFrame:
    """The logged decisions that match every filter given, newest first.

    ``since`` is inclusive and ``until`` exclusive, both time-zone aware;
    ``fallback_only`` keeps the requests the fallback answered. The frame has the
    columns of :data:`~modelphase.decisions.SCHEMA` (``time_us`` as UTC datetimes,
    ``version`` as nullable ``Int64``), and none when the log has no segment yet.
    """
    where: list[str] = []
    params: list[Any] = []
    for column, value in (("model", model), ("version", version), ("alias", alias)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if since is not None:
        start = _aware(since, "since")
        where += ["time_us >= ?", "date >= ?"]
        params += [start, start.date()]
    if until is not None:
        end = _aware(until, "until")
        where += ["time_us < ?", "date <= ?"]
        params += [end, end.date()]
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
    frame = _run(root, sql, params)
    return frame.astype({"version": "Int64"})


def query(root: str | Path, sql: str) -> pd.DataFrame:
    """Run one read-only ``SELECT`` over the view ``decisions`` and return its rows.

    The view has the record's columns and ``date`` (the day folder). Anything other
    than one SELECT (an INSERT, COPY, ATTACH, SET, several statements...) is refused
    with :class:`~modelphase.exceptions.ValidationError` before it runs.

    >>> query("/nonexistent", "SELECT count(*) AS n FROM decisions")["n"].tolist()
    [0]
    """
    check_sql(sql)
    return _run(root, sql, [])


def check_sql(sql: str) -> None:
    """Raise :class:`~modelphase.exceptions.ValidationError` unless ``sql`` is one
    SELECT statement; nothing is run."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise ValidationError(
            f"expected {_EXPECTED_SQL}, got SQL that does not parse: {_first_line(exc)}"
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


def _run(root: str | Path, sql: str, params: Sequence[Any]) -> pd.DataFrame:
    folder = Path(root).resolve()
    with duckdb.connect(":memory:") as con:
        con.execute("SET TimeZone = 'UTC'")
        if any(folder.glob("**/*.parquet")):
            pattern = _literal(str(folder / "**" / "*.parquet"))
            con.execute(
                f"CREATE VIEW {VIEW} AS SELECT * FROM read_parquet({pattern}, "
                "union_by_name = true, hive_partitioning = true, hive_types = {'date': DATE})"
            )
        else:
            con.register("_no_segments", _empty())
            con.execute(f"CREATE VIEW {VIEW} AS SELECT * FROM _no_segments")
        con.execute(f"SET allowed_directories = [{_literal(str(folder))}]")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        try:
            return con.execute(sql, list(params)).df()
        except duckdb.PermissionException as exc:
            raise ValidationError(
                f"expected a query that reads only the view {VIEW!r}, got one that reads "
                f"other files: {_first_line(exc)}"
            ) from None
        except duckdb.IOException as exc:
            raise SourceError(
                f"cannot read the decision log in {folder}: {_first_line(exc)}"
            ) from None
        except duckdb.Error as exc:
            raise ValidationError(f"query failed: {_first_line(exc)}") from None


def _empty() -> pa.Table:
    """An empty table shaped like the view over real segments."""
    table = SCHEMA.empty_table()
    return table.append_column(pa.field("date", pa.date32()), pa.array([], pa.date32()))


def _aware(stamp: datetime, name: str) -> datetime:
    if stamp.tzinfo is None or stamp.utcoffset() is None:
        raise ValidationError(
            f"{name}: expected a time-zone aware time, got {stamp.isoformat()}",
            hint="pass datetime(..., tzinfo=UTC) or pd.Timestamp(..., tz='UTC')",
        )
    return pd.Timestamp(stamp).tz_convert("UTC").to_pydatetime()


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
