"""Read telemetry from a Parquet file in long format (``unique_id``, ``ds``, ``y``).

``ds`` may be a timestamp column (naive means UTC), Unix seconds, or RFC 3339 text.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from modelphase.exceptions import MissingColumnsError, SourceError
from modelphase.frame import Panel
from modelphase.ingest._columns import panel_from_columns

__all__ = ["read_parquet"]


def read_parquet(path: Path, *, unit: str = "auto", mixed_offsets: bool = False) -> Panel:
    """The raw panel of a long-format Parquet file (not yet validated nor on a grid)."""
    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowException) as exc:
        raise SourceError(f"cannot read {path} as Parquet: {exc}") from exc
    names = list(schema.names)
    missing = [c for c in ("unique_id", "ds", "y") if c not in names]
    if missing:
        raise MissingColumnsError(
            f"expected the columns unique_id, ds, y in {path}, got {', '.join(names)}",
            missing=missing,
            found=names,
        )
    try:
        frame = pq.read_table(path, columns=["unique_id", "ds", "y"]).to_pandas()
    except (OSError, pa.ArrowException) as exc:
        raise SourceError(f"cannot read {path} as Parquet: {exc}") from exc
    return panel_from_columns(
        frame["unique_id"],
        frame["ds"],
        frame["y"],
        unit=unit,
        mixed_offsets=mixed_offsets,
    )
