"""`read_stream`: a NAB-style stream read as it comes, and every kind of bad file."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelphase.exceptions import (
    EmptyInputError,
    MissingColumnsError,
    MixedTimezoneError,
    NonFiniteValueError,
    SourceError,
    TimestampParseError,
    ValueParseError,
)
from modelphase.ingest import parse_stream, read_stream

E = TypeVar("E", bound=Exception)

T0 = pd.Timestamp("2014-02-14 14:30:00", tz="UTC").value
MINUTE = 60 * 10**9


def _file(tmp_path: Path, text: str, name: str = "s.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def test_nab_file_keeps_text_order_and_lines(tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        "timestamp,value\n"
        "2014-02-14 14:30:00,1.50\n"
        "2014-02-14 14:31:00, 7\n"
        "\n"  # a blank line is no row, and does not shift the line numbers
        "2014-02-14 14:32:00,1e3\n",
    )
    stream = read_stream(path)
    assert len(stream) == 3
    assert stream.timestamp_text == [
        "2014-02-14 14:30:00",
        "2014-02-14 14:31:00",
        "2014-02-14 14:32:00",
    ]
    assert stream.value_text == ["1.50", " 7", "1e3"]
    assert stream.values.tolist() == [1.5, 7.0, 1000.0]
    assert stream.times.tolist() == [T0, T0 + MINUTE, T0 + 2 * MINUTE]
    assert stream.lines.tolist() == [2, 3, 5]
    assert stream.times.dtype == np.int64
    assert stream.values.dtype == np.float64


def test_repeated_and_backward_timestamps_are_kept_in_file_order() -> None:
    stream = parse_stream(
        [
            "timestamp,value",
            "2014-11-02 01:00:00,1",
            "2014-11-02 01:30:00,2",
            "2014-11-02 01:00:00,3",  # DST fall-back: the hour again
            "2014-11-02 01:00:00,4",  # and a repeat of it
        ]
    )
    start = pd.Timestamp("2014-11-02 01:00:00", tz="UTC").value
    assert stream.times.tolist() == [start, start + 30 * MINUTE, start, start]
    assert stream.values.tolist() == [1.0, 2.0, 3.0, 4.0]


def test_zoned_timestamps_may_change_offset_along_the_stream() -> None:
    stream = parse_stream(
        [
            "value,timestamp,note",  # any column order; other columns are ignored
            "1,2024-03-31T00:30:00+01:00,winter",
            "2,2024-03-31T03:30:00+02:00,summer",
            "3,2024-03-31T02:00:00Z,",
        ]
    )
    hour = 60 * MINUTE
    start = pd.Timestamp("2024-03-30T23:30:00Z").value
    assert stream.times.tolist() == [start, start + 2 * hour, start + int(2.5 * hour)]
    assert stream.timestamp_text[1] == "2024-03-31T03:30:00+02:00"


def test_missing_values_are_nan_and_keep_their_text() -> None:
    stream = parse_stream(
        [
            "timestamp,value",
            "2024-01-01 00:00:00,",
            "2024-01-01 00:01:00,nan",
            "2024-01-01 00:02:00,NaN",
        ]
    )
    assert np.isnan(stream.values).all()
    assert stream.value_text == ["", "nan", "NaN"]


def test_crlf_bom_and_quoted_cells(tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        '\ufefftimestamp,value\r\n"2014-02-14 14:30:00","2.5"\r\n2014-02-14 14:31:00,3\r\n',
    )
    stream = read_stream(path)
    assert stream.timestamp_text == ["2014-02-14 14:30:00", "2014-02-14 14:31:00"]
    assert stream.values.tolist() == [2.5, 3.0]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=30))
def test_values_round_trip_exactly(values: list[float]) -> None:
    lines = ["timestamp,value"]
    lines += [f"2024-01-01T00:{i:02d}:00Z,{v!r}" for i, v in enumerate(values)]
    stream = parse_stream(lines)
    assert stream.values.tolist() == values
    assert [float(t) for t in stream.value_text] == values


def _error(kind: type[E], lines: list[str]) -> E:
    with pytest.raises(kind) as info:
        parse_stream(lines, source="in.csv")
    assert type(info.value) is kind
    return info.value


def test_a_value_that_is_not_a_number_names_its_line_and_text() -> None:
    error = _error(
        ValueParseError,
        [
            "timestamp,value",
            "2024-01-01 00:00:00,1",
            "2024-01-01 00:01:00,",
            "2024-01-01 00:02:00,12 ms",
        ],
    )
    message = str(error)
    assert "in.csv" in message
    assert "line 4 '12 ms'" in message
    assert "Fix:" in message
    assert error.rows == [3]  # data rows, as ValidationError documents


def test_many_bad_values_are_all_counted() -> None:
    lines = ["timestamp,value"] + [f"2024-01-01 00:{i:02d}:00,x{i}" for i in range(8)]
    error = _error(ValueParseError, lines)
    assert "found 8 value(s)" in str(error)
    assert "and 3 more" in str(error)
    assert error.rows == list(range(1, 9))


def test_infinite_values_are_refused() -> None:
    lines = ["timestamp,value", "2024-01-01 00:00:00,1", "2024-01-01 00:01:00,-inf"]
    assert "line 3 '-inf'" in str(_error(NonFiniteValueError, lines))


@pytest.mark.parametrize(
    "text", ["14/02/2014 14:30", "", "NaT", "3000-01-01 00:00:00", "1392388200"]
)
def test_an_unreadable_timestamp_names_its_line_and_text(text: str) -> None:
    lines = ["timestamp,value", "2014-02-14 14:30:00,1", f"{text},2"]
    message = str(_error(TimestampParseError, lines))
    assert f"line 3 {text!r}" in message
    assert "2014-02-14 14:30:00" in message.split("Fix:")[1]  # the hint shows the format


def test_naive_and_zoned_timestamps_do_not_mix() -> None:
    lines = [
        "timestamp,value",
        "2024-01-01T00:00:00Z,1",
        "2024-01-01 00:01:00,2",
        "2024-01-01T00:02:00Z,3",
    ]
    assert "line 3 '2024-01-01 00:01:00'" in str(_error(MixedTimezoneError, lines))


@pytest.mark.parametrize("text", ["", "\n\n", "timestamp,value\n", "timestamp,value\n\n"])
def test_empty_file_or_header_only(tmp_path: Path, text: str) -> None:
    with pytest.raises(EmptyInputError, match="expected"):
        read_stream(_file(tmp_path, text))


def test_missing_column() -> None:
    error = _error(MissingColumnsError, ["ds,y", "2024-01-01 00:00:00,1"])
    assert error.missing == ["timestamp", "value"]
    assert error.found == ["ds", "y"]
    long = _error(MissingColumnsError, ["unique_id,ds,y", "a,2024-01-01 00:00:00,1"])
    assert "ingest csv" in str(long)
    only_time = _error(MissingColumnsError, ["timestamp", "2024-01-01 00:00:00"])
    assert only_time.missing == ["value"]


def test_a_row_that_does_not_fit_the_header_is_refused() -> None:
    lines = ["timestamp,value", "2024-01-01 00:00:00,1", "2024-01-01 00:01:00,1,234"]
    assert "line 3 has 3" in str(_error(SourceError, lines))


def test_a_file_that_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="cannot read"):
        read_stream(tmp_path / "absent.csv")
    latin = tmp_path / "latin.csv"
    latin.write_bytes("timestamp,value\n2024-01-01 00:00:00,1\xe9\n".encode("latin-1"))
    with pytest.raises(SourceError, match="cannot read"):
        read_stream(latin)
