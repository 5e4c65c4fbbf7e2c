"""Read one NAB-style stream (``timestamp,value``) as it comes, row by row.

A dataset (:func:`~modelphase.ingest.read_csv`, then :func:`~modelphase.ingest.prepare`)
must sit on a clean grid; a stream need not. Every row is kept, in file order: a
timestamp that repeats (a DST change in a local-time export) or steps back is read as
it is, the way a detector fed live would see it. The text of each timestamp and value
cell is kept as found, so that an output can align with the input row by row.

- Columns are found by name (``timestamp`` and ``value``, in any order, spaces around
  a name ignored); other columns are ignored. Every row has the header's number of
  cells (so that an unquoted ``1,234`` is an error, not the value 1).
- Timestamps are ISO 8601: naive ones are UTC (NAB's ``2014-02-14 14:30:00``), zoned
  ones (``2014-02-14T14:30:00Z``, ``...+02:00``) are read with their own offset, which
  may change along the stream (DST); mixing naive and zoned is an error.
- Values are read by Python's ``float()`` (every ``repr`` round-trips exactly). An
  empty cell or ``nan`` is a missing point (NaN), left for the detector to score;
  ``inf`` and text are errors.

Errors name the lines of the file (line 1 is the header) with the text found there;
their ``rows`` attribute holds the data rows (1 for the first row below the header),
as :class:`~modelphase.exceptions.ValidationError` documents.

>>> s = parse_stream(["timestamp,value", "2014-02-14 14:30:00,1.50", "2014-02-14 14:30:00,"])
>>> s.timestamp_text, s.value_text, s.values.tolist(), s.lines.tolist()
(['2014-02-14 14:30:00', '2014-02-14 14:30:00'], ['1.50', ''], [1.5, nan], [2, 3])
>>> s.times.tolist() == [1392388200 * 10**9] * 2
True
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from modelphase.exceptions import (
    MAX_LISTED,
    EmptyInputError,
    MissingColumnsError,
    MixedTimezoneError,
    NonFiniteValueError,
    SourceError,
    TimestampParseError,
    ValidationError,
    ValueParseError,
)
from modelphase.ingest._columns import _ZONE

__all__ = ["Stream", "parse_stream", "read_stream"]

COLUMNS = ("timestamp", "value")
_TIMESTAMP_HINT = (
    "write ISO 8601 times, naive for UTC (2014-02-14 14:30:00) or with a zone "
    "(2014-02-14T14:30:00Z, 2014-02-14T16:30:00+02:00), years 1678 to 2261"
)


@dataclass(frozen=True, eq=False)
class Stream:
    """One stream in file order: each row's cell text as found, and its reading."""

    #: the timestamp cells, as found in the file
    timestamp_text: list[str]
    #: the value cells, as found in the file
    value_text: list[str]
    #: nanoseconds since the epoch, UTC, in file order (repeats and steps back kept)
    times: NDArray[np.int64]
    #: the values, NaN where missing
    values: NDArray[np.float64]
    #: each row's line in the file (line 1 is the header)
    lines: NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.times)


def read_stream(path: str | Path) -> Stream:
    """The stream of a NAB-style CSV file (UTF-8, an optional byte-order mark)."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            records = _records(handle, str(path))
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"cannot read {path} as CSV: {exc}") from exc
    return _parse(records, str(path))


def parse_stream(lines: Iterable[str], source: str = "<stream>") -> Stream:
    """The stream of CSV text given line by line; ``source`` names it in errors."""
    return _parse(_records(lines, source), source)


@dataclass(frozen=True)
class _Records:
    header: list[str]
    timestamps: list[str]
    values: list[str]
    lines: list[int]
    misshapen: list[tuple[int, int]]  # (line, cells) of rows that do not fit the header


def _records(lines: Iterable[str], source: str) -> _Records:
    reader = csv.reader(lines)
    try:
        header = next((record for record in reader if record), [])  # blank lines skipped
        names = [cell.strip() for cell in header]
        width = len(names)
        found = [c for c in COLUMNS if c in names]
        at_ts = names.index("timestamp") if "timestamp" in found else 0
        at_value = names.index("value") if "value" in found else 0
        timestamps: list[str] = []
        values: list[str] = []
        numbers: list[int] = []
        misshapen: list[tuple[int, int]] = []
        for record in reader:
            if not record:  # a blank line is no row
                continue
            if len(record) != width:
                misshapen.append((reader.line_num, len(record)))
                continue
            timestamps.append(record[at_ts])
            values.append(record[at_value])
            numbers.append(reader.line_num)
    except csv.Error as exc:
        raise SourceError(f"cannot read {source} as CSV, line {reader.line_num}: {exc}") from exc
    return _Records(names, timestamps, values, numbers, misshapen)


def _parse(records: _Records, source: str) -> Stream:
    names = records.header
    if not any(names):
        raise EmptyInputError(
            f"{source}: expected a header timestamp,value and rows below it, got an empty file",
            hint="check the export that wrote it",
        )
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        fix = "write one stream per file with the columns timestamp,value"
        if {"unique_id", "ds", "y"} <= set(names):
            fix += " (a long file unique_id,ds,y is for `modelphase ingest csv`)"
        raise MissingColumnsError(
            f"{source}: expected the columns timestamp,value (NAB-style), got "
            f"{','.join(names)}; missing {','.join(missing)}. Fix: {fix}",
            missing=missing,
            found=names,
        )
    if records.misshapen:
        shown = ", ".join(f"line {n} has {k}" for n, k in records.misshapen[:MAX_LISTED])
        more = len(records.misshapen) - MAX_LISTED
        raise SourceError(
            f"cannot read {source} as CSV: expected {len(names)} cells a row as in the header, "
            f"found {len(records.misshapen)} row(s) that differ ({shown}"
            + (f" and {more} more" if more > 0 else "")
            + "). Fix: quote cells that hold a comma; write numbers without thousands "
            "separators"
        )
    if not records.lines:
        raise EmptyInputError(
            f"{source}: expected rows below the header, got none",
            hint="check the export that wrote it",
        )
    lines = np.asarray(records.lines, dtype=np.int64)
    values = _values(records.values, lines, source)
    times = _times(records.timestamps, lines, source)
    return Stream(records.timestamps, records.values, times, values, lines)


def _values(texts: list[str], lines: NDArray[np.int64], source: str) -> NDArray[np.float64]:
    try:  # the common case: every cell a number
        values = np.fromiter(map(float, texts), dtype=np.float64, count=len(texts))
    except ValueError:
        values = np.empty(len(texts), dtype=np.float64)
        bad: list[int] = []
        for i, text in enumerate(texts):
            try:
                values[i] = float(text)
            except ValueError:
                values[i] = math.nan
                if text.strip():
                    bad.append(i)
        if bad:
            raise _located(
                ValueParseError,
                f"{source}: expected numbers in the value column",
                "value(s) that are not numbers",
                bad,
                texts,
                lines,
                hint="write plain numbers (12, 0.5, 1e-3) in base units; leave the cell "
                "empty (or write nan) for a missing point",
            ) from None
    infinite = np.flatnonzero(np.isinf(values))
    if len(infinite):
        raise _located(
            NonFiniteValueError,
            f"{source}: expected finite values",
            "infinite value(s)",
            infinite.tolist(),
            texts,
            lines,
            hint="a detector cannot learn from an infinite value; leave the cell empty "
            "(or write nan) for a missing point",
        )
    return values


def _times(texts: list[str], lines: NDArray[np.int64], source: str) -> NDArray[np.int64]:
    stripped = pd.Series(texts, dtype=object).str.strip()
    stamps = pd.to_datetime(stripped, format="ISO8601", utc=True, errors="coerce")
    bad = np.flatnonzero(stamps.isna().to_numpy())
    if len(bad):
        raise _located(
            TimestampParseError,
            f"{source}: expected ISO 8601 timestamps",
            "unreadable timestamp(s)",
            bad.tolist(),
            texts,
            lines,
            hint=_TIMESTAMP_HINT,
        )
    zoned = stripped.str.extract(_ZONE)["zone"].notna().to_numpy(dtype=bool)
    if zoned.any() and not zoned.all():
        naive_is_fewer = (~zoned).sum() <= zoned.sum()
        odd = np.flatnonzero(~zoned if naive_is_fewer else zoned)
        raise _located(
            MixedTimezoneError,
            f"{source}: expected all timestamps with a zone or all without",
            "without a zone" if naive_is_fewer else "with a zone",
            odd.tolist(),
            texts,
            lines,
            hint="write every timestamp in UTC, with a trailing Z or without a zone",
        )
    return stamps.to_numpy(dtype="datetime64[ns]").view(np.int64)


def _located(
    kind: type[ValidationError],
    expected: str,
    found: str,
    rows: Sequence[int],
    texts: list[str],
    lines: NDArray[np.int64],
    *,
    hint: str,
) -> ValidationError:
    """An error naming file lines and their text; ``rows`` (0-based) become data rows."""
    shown = ", ".join(f"line {lines[i]} {texts[i]!r}" for i in rows[:MAX_LISTED])
    more = len(rows) - MAX_LISTED
    if more > 0:
        shown += f" and {more} more"
    error = kind(f"{expected}, found {len(rows)} {found}: {shown}", hint=hint)
    # set after construction, so that the message names lines only (not also data rows)
    error.rows = [i + 1 for i in rows]
    return error
