"""Read telemetry from CSV files: long (``unique_id,ds,y``) or NAB-style.

A NAB-style file has the columns ``timestamp,value`` and holds one series whose id is
the file's stem. Extra columns in a long file are ignored.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from modelphase.exceptions import EmptyInputError, MissingColumnsError, SourceError
from modelphase.frame import Panel
from modelphase.ingest._columns import panel_from_columns

__all__ = ["detect_layout", "read_csv"]

LONG = ("unique_id", "ds", "y")
NAB = ("timestamp", "value")


def detect_layout(columns: list[str]) -> str:
    """``"long"`` or ``"nab"`` from a header; raises :class:`MissingColumnsError`."""
    names = [c.strip() for c in columns]
    if all(c in names for c in LONG):
        return "long"
    if all(c in names for c in NAB):
        return "nab"
    missing = [c for c in LONG if c not in names]
    raise MissingColumnsError(
        f"expected the columns unique_id,ds,y (long) or timestamp,value (NAB-style), "
        f"got {','.join(names) or 'no header'}; missing {','.join(missing)}",
        missing=missing,
        found=names,
    )


def read_csv(
    path: Path,
    *,
    unit: str = "auto",
    mixed_offsets: bool = False,
    unique_id: str | None = None,
) -> Panel:
    """The raw panel of a CSV file (not yet validated nor on a grid).

    ``unique_id`` names the series of a NAB-style file (default: the file's stem).
    """
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except pd.errors.EmptyDataError as exc:
        raise EmptyInputError(
            f"expected a CSV file with a header and rows, got an empty file: {path}",
            hint="check the export that wrote it",
        ) from exc
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise SourceError(f"cannot read {path} as CSV: {exc}") from exc
    table.columns = [str(c).strip() for c in table.columns]
    layout = detect_layout(list(table.columns))
    if layout == "nab":
        uid = pd.Series([unique_id or Path(path).stem] * len(table), dtype=object)
        ds, y = table["timestamp"], table["value"]
    else:
        uid, ds, y = table["unique_id"], table["ds"], table["y"]
    return panel_from_columns(uid, ds, y, unit=unit, mixed_offsets=mixed_offsets)
