"""The sandbox a decision-log query runs in: what it may read, for how long, with what.

Every query, the filters of ``read_decisions`` as well as the SQL of ``query``, runs on
a fresh in-memory DuckDB connection that

- reads the segments it is given through the view ``decisions``, and no file outside
  the log's folder: ``allowed_directories`` is that folder, ``enable_external_access``
  is off (``read_text``, ``read_csv``, ``glob``, ``COPY``, ``ATTACH``, HTTP and extension
  loading are refused for any other path) and ``lock_configuration`` keeps a query from
  turning any of it back on;
- spills to a temporary folder of its own, made fresh and private (mode 0700) outside
  the log and the working directory (DuckDB's default, ``./.tmp``, would be readable),
  capped at ``temp_bytes`` and removed afterwards. DuckDB lets a query read its own
  temporary folder, which holds nothing but what that query spilled; ``temp_bytes=0``
  turns spilling off;
- uses at most ``memory_bytes`` of memory and ``threads`` threads;
- is stopped after ``timeout_seconds`` (:class:`~modelphase.exceptions.QueryTimeoutError`)
  and by Ctrl-C. DuckDB has no portable statement timeout and does not look at signals,
  so the query runs on a worker thread while the calling thread waits: at the deadline,
  or when SIGINT raises ``KeyboardInterrupt`` in the waiting thread, it calls
  ``connection.interrupt()`` until the worker returns, then raises.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from modelphase.decisions.records import SCHEMA
from modelphase.exceptions import ConfigError, QueryTimeoutError, SourceError, ValidationError

__all__ = ["VIEW", "QueryLimits", "SegmentError", "first_line", "run"]

#: the name the SQL reads the log by
VIEW = "decisions"
#: how often the waiting thread repeats its interrupt until the worker returns
_NUDGE_SECONDS = 0.05
_QUOTED = re.compile(r"""['"]([^'"]+\.parquet)['"]""")


@dataclass(frozen=True, slots=True)
class QueryLimits:
    """How long and with how much one decision-log query may run.

    Defaults: 60 seconds, 1 GiB of memory, 2 threads and 1 GiB of temporary files, so
    that an ad-hoc query on a serving host leaves the server its cores and its memory.
    """

    timeout_seconds: float = 60.0
    memory_bytes: int = 2**30
    threads: int = 2
    temp_bytes: int = 2**30

    def __post_init__(self) -> None:
        if not 0 < self.timeout_seconds < float("inf"):
            raise ConfigError(
                f"query timeout: expected a positive number of seconds, got {self.timeout_seconds}"
            )
        for name, value, least in (
            ("memory_bytes", self.memory_bytes, 2**20),
            ("threads", self.threads, 1),
            ("temp_bytes", self.temp_bytes, 0),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ConfigError(f"query {name}: expected an integer >= {least}, got {value!r}")


class SegmentError(Exception):
    """DuckDB could not read one segment (``path``): it vanished or is damaged."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


def run(
    folder: Path,
    files: Sequence[str],
    sql: str,
    params: Sequence[Any],
    limits: QueryLimits,
    deadline: float,
) -> pd.DataFrame:
    """Rows of ``sql`` over the view of ``files`` (segments under ``folder``), by the
    ``time.monotonic()`` ``deadline``. Raises :class:`SegmentError` when DuckDB names one
    of ``files`` in its error, so that the caller can retry without it."""
    spill = tempfile.mkdtemp(prefix="modelphase-query-") if limits.temp_bytes else ""
    try:
        con = duckdb.connect(
            ":memory:",
            config={
                "threads": limits.threads,
                "memory_limit": f"{max(limits.memory_bytes // 1024, 1)}KiB",
                "temp_directory": spill,
                "max_temp_directory_size": f"{max(limits.temp_bytes // 1024, 1)}KiB",
            },
        )
        job = _Job(con, folder, files, sql, params)
        try:
            _wait(job, limits, deadline)
        finally:
            if not job.thread.is_alive():  # a second Ctrl-C leaves it: the process ends
                con.close()
    finally:
        if spill:
            shutil.rmtree(spill, ignore_errors=True)
    if job.error is not None:
        error = _translate(job.error, folder, files)
        if error is job.error:
            raise error
        raise error from job.error  # the reader looks at DuckDB's error to retry
    assert job.frame is not None
    return job.frame


class _StoppedError(Exception):
    """The waiting thread asked the worker to stop before a statement started."""


class _Job:
    """The statements of one query, run on a worker thread over one connection."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        folder: Path,
        files: Sequence[str],
        sql: str,
        params: Sequence[Any],
    ) -> None:
        self.con = con
        self.folder = folder
        self.files = list(files)
        self.sql = sql
        self.params = list(params)
        self.stopping = threading.Event()
        self.frame: pd.DataFrame | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="modelphase-query", daemon=True)

    def _run(self) -> None:
        try:
            self._step("SET TimeZone = 'UTC'")
            if self.files:
                self._step("SET VARIABLE segments = ?", [self.files])
                self._step(
                    f"CREATE VIEW {VIEW} AS SELECT * FROM read_parquet(getvariable('segments'), "
                    "union_by_name = true, hive_partitioning = true, "
                    "hive_types = {'date': DATE})"
                )
            else:
                self.con.register("_no_segments", _empty())
                self._step(f"CREATE VIEW {VIEW} AS SELECT * FROM _no_segments")
            self._step(f"SET allowed_directories = [{_literal(str(self.folder))}]")
            self._step("SET enable_external_access = false")
            self._step("SET autoinstall_known_extensions = false")
            self._step("SET autoload_known_extensions = false")
            self._step("SET lock_configuration = true")
            if self.stopping.is_set():
                raise _StoppedError
            self.frame = self.con.execute(self.sql, self.params).df()
        except BaseException as exc:  # handed to the waiting thread, which raises
            self.error = exc

    def _step(self, sql: str, params: Sequence[Any] = ()) -> None:
        if self.stopping.is_set():
            raise _StoppedError
        self.con.execute(sql, list(params))


def _wait(job: _Job, limits: QueryLimits, deadline: float) -> None:
    """Run ``job`` until it ends, the deadline passes or Ctrl-C; never leaves it running
    (unless a second Ctrl-C comes while it is being stopped)."""
    job.thread.start()
    try:
        job.thread.join(min(max(deadline - time.monotonic(), 0.0), threading.TIMEOUT_MAX))
    except KeyboardInterrupt:
        _stop(job)
        raise
    if job.thread.is_alive():
        _stop(job)
        raise QueryTimeoutError(
            f"expected a query that ends within its time limit of "
            f"{limits.timeout_seconds:g} s, got one that ran longer and was stopped. "
            "Fix: narrow it (WHERE date >= ..., fewer rows or joins), or raise the limit "
            "(--timeout)",
            seconds=limits.timeout_seconds,
        )


def _stop(job: _Job) -> None:
    job.stopping.set()
    while job.thread.is_alive():
        job.con.interrupt()
        job.thread.join(_NUDGE_SECONDS)


def _translate(exc: BaseException, folder: Path, files: Sequence[str]) -> BaseException:
    """The error to raise for what the worker raised."""
    if not isinstance(exc, duckdb.Error):
        return exc
    text = first_line(exc)
    if isinstance(exc, duckdb.PermissionException):
        return ValidationError(
            f"expected a query that reads only the view {VIEW!r}, got one that reads "
            f"other files: {text}"
        )
    if isinstance(exc, duckdb.OutOfMemoryException):
        return ValidationError(
            f"query failed: it needs more than its memory limit ({text})",
            hint="aggregate or filter more (WHERE date >= ...), or select fewer columns",
        )
    if isinstance(exc, (duckdb.IOException, duckdb.InvalidInputException)):
        named = set(files)
        for path in _QUOTED.findall(str(exc)):
            if path in named:
                return SegmentError(path, text)
    if isinstance(exc, duckdb.IOException):
        return SourceError(f"cannot read the decision log in {folder}: {text}")
    return ValidationError(f"query failed: {text}")


def _empty() -> pa.Table:
    """An empty table shaped like the view over real segments."""
    table = SCHEMA.empty_table()
    return table.append_column(pa.field("date", pa.date32()), pa.array([], pa.date32()))


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
