"""Pure parsing of timestamp and value columns, with errors that name the rows.

Rows are numbered from 1 for the first data row of the source.

>>> import pandas as pd
>>> parse_timestamps(pd.Series(["2024-01-01T00:00:00Z", "2024-01-01T00:01:00Z"])).tolist()
[1704067200000000000, 1704067260000000000]
>>> parse_values(pd.Series(["1.5", "", "2"])).tolist()
[1.5, nan, 2.0]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from modelphase.exceptions import (
    EmptyInputError,
    MixedTimezoneError,
    TimestampParseError,
    ValueParseError,
)
from modelphase.frame import NS_PER_SECOND, Panel

__all__ = ["panel_from_columns", "parse_timestamps", "parse_values"]

_NUMERIC = r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$"
_ZONE = r"\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?P<zone>[zZ]|[+-]\d{2}(?::?\d{2})?)$"
_NAN_WORDS = {"nan", "+nan", "-nan"}
# Unix times above this many seconds are taken as milliseconds (year 5138 and later).
_MS_THRESHOLD = 1e11


def parse_timestamps(
    raw: pd.Series, *, unit: str = "auto", mixed_offsets: bool = False
) -> NDArray[np.int64]:
    """Nanoseconds since the epoch from RFC 3339 / ISO 8601 text or Unix times.

    Naive times are UTC. A column must not mix naive and zoned times, nor several UTC
    offsets unless ``mixed_offsets`` is set. Numbers are Unix seconds, or milliseconds
    when ``unit="ms"`` (``"auto"`` takes values above 1e11 as milliseconds).
    """
    if pd.api.types.is_datetime64_any_dtype(raw.dtype):
        stamps = pd.to_datetime(raw, utc=True)
        return _checked_ns(stamps, raw)
    if pd.api.types.is_numeric_dtype(raw.dtype):
        return _from_numbers(raw.to_numpy(dtype=np.float64), raw, unit)
    text = raw.astype(str).str.strip()
    numeric = text.str.match(_NUMERIC)
    if bool(numeric.all()):
        return _from_numbers(text.astype(np.float64).to_numpy(dtype=np.float64), raw, unit)
    stamps = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    ns = _checked_ns(stamps, raw)
    zones = text.str.extract(_ZONE)["zone"]
    aware = zones.notna().to_numpy()
    if aware.any() and not aware.all():
        naive_rows = np.flatnonzero(~aware)
        aware_rows = np.flatnonzero(aware)
        minority = naive_rows if len(naive_rows) <= len(aware_rows) else aware_rows
        raise MixedTimezoneError(
            "expected all timestamps with a UTC offset or all without, found both "
            f"({len(naive_rows)} without, {len(aware_rows)} with)",
            rows=(minority + 1).tolist(),
            hint="write every timestamp in UTC with a trailing Z",
        )
    if aware.all() and not mixed_offsets:
        offsets = zones.str.upper().str.replace(":", "", regex=False)
        offsets = offsets.replace({"Z": "+0000", "+00": "+0000", "-00": "+0000"})
        offsets = offsets.where(offsets.str.len() > 3, offsets + "00")
        offsets = offsets.replace({"-0000": "+0000"})
        kinds = offsets.value_counts()
        if len(kinds) > 1:
            common = kinds.index[0]
            odd = np.flatnonzero((offsets != common).to_numpy())
            raise MixedTimezoneError(
                f"expected one UTC offset for all timestamps, found {len(kinds)}: "
                f"{', '.join(kinds.index[:5])}",
                rows=(odd + 1).tolist(),
                hint="convert the timestamps to UTC, or pass --mixed-offsets to accept "
                "each row's own offset",
            )
    return ns


def parse_values(raw: pd.Series) -> NDArray[np.float64]:
    """float64 values; empty cells become NaN (a missing sample); text raises.

    ``NaN``, ``+Inf`` and ``-Inf`` are read as such; whether they are accepted is
    decided later (:func:`modelphase.frame.check_finite`).
    """
    if pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(raw.dtype):
        return raw.to_numpy(dtype=np.float64, na_value=np.nan)
    text = raw.astype(str).str.strip()
    empty = (text == "").to_numpy() | raw.isna().to_numpy()
    values = np.full(len(text), np.nan)
    cells = text.to_numpy(dtype=object)[~empty]
    try:
        # Python's float(): exact round trip of every repr, unlike pandas' fast parser
        values[~empty] = np.array(cells, dtype=np.float64)
    except ValueError:
        coerced = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        nan_word = text.str.lower().isin(_NAN_WORDS).to_numpy()
        bad = np.isnan(coerced) & ~empty & ~nan_word
        rows = np.flatnonzero(bad)
        if not len(rows):  # only forms pandas reads and float() does not
            coerced[nan_word] = np.nan
            return coerced
        examples = ", ".join(repr(v) for v in text.iloc[rows[:3]])
        raise ValueParseError(
            f"expected numbers, found {len(rows)} value(s) that are not ({examples})",
            rows=(rows + 1).tolist(),
            hint="values must be plain numbers in base units (seconds, bytes, ratios)",
        ) from None
    return values


def panel_from_columns(
    uid: pd.Series,
    ds: pd.Series,
    y: pd.Series,
    *,
    unit: str = "auto",
    mixed_offsets: bool = False,
) -> Panel:
    """A raw panel (in source order) from the three columns of a long table.

    Empty values are missing samples and are left out; ``NaN`` and ``Inf`` values stay
    in, for :func:`~modelphase.frame.check_finite` to refuse or drop.
    """
    if len(uid) == 0:
        raise EmptyInputError(
            "expected at least one data row, got none",
            hint="check that the file holds data below its header",
        )
    empty_uid = uid.isna() | (uid.astype(str).str.strip() == "")
    if empty_uid.any():
        rows = np.flatnonzero(empty_uid.to_numpy())
        raise ValueParseError(
            f"expected a unique_id on every row, found {len(rows)} empty",
            rows=(rows + 1).tolist(),
        )
    ts = parse_timestamps(ds, unit=unit, mixed_offsets=mixed_offsets)
    values = parse_values(y)
    text_empty = (y.astype(str).str.strip() == "").to_numpy() | y.isna().to_numpy()
    keep = ~(text_empty & np.isnan(values))
    rows = np.arange(1, len(uid) + 1, dtype=np.int64)
    if not keep.any():
        raise EmptyInputError("expected at least one value, got only empty cells")
    return Panel.from_arrays(
        uid.astype(str).to_numpy(dtype=object)[keep], ts[keep], values[keep], rows=rows[keep]
    )


def _from_numbers(values: NDArray[Any], raw: pd.Series, unit: str) -> NDArray[np.int64]:
    bad = ~np.isfinite(values)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise TimestampParseError(
            f"expected Unix times, found {len(rows)} missing or non-finite",
            rows=(rows + 1).tolist(),
        )
    if unit == "auto":
        unit = "ms" if np.abs(values).max() > _MS_THRESHOLD else "s"
    if unit not in ("s", "ms"):
        raise TimestampParseError(f"expected the unit s, ms or auto, got {unit!r}")
    ms = np.round(values * (1000.0 if unit == "s" else 1.0))
    return ms.astype(np.int64) * (NS_PER_SECOND // 1000)


def _checked_ns(stamps: pd.Series, raw: pd.Series) -> NDArray[np.int64]:
    bad = stamps.isna().to_numpy()
    if bad.any():
        rows = np.flatnonzero(bad)
        examples = ", ".join(repr(str(v)) for v in raw.iloc[rows[:3]])
        raise TimestampParseError(
            f"expected RFC 3339 timestamps (2024-05-01T12:00:00Z) or Unix seconds, found "
            f"{len(rows)} unreadable ({examples})",
            rows=(rows + 1).tolist(),
            hint="fix or remove those rows",
        )
    return stamps.to_numpy(dtype="datetime64[ns]").view(np.int64)
