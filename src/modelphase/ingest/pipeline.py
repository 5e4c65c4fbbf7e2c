"""From a source to a dataset: read, check, put on the grid, snapshot.

:func:`prepare` is the pure part every source shares; the ``ingest_*`` functions read a
source, prepare it and write the snapshot.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from modelphase import __version__
from modelphase.exceptions import EmptyInputError, ValidationError
from modelphase.frame import (
    Panel,
    check_finite,
    check_order,
    format_duration,
    format_time,
    infer_step,
    to_grid,
)
from modelphase.ingest.csv import read_csv
from modelphase.ingest.datasets import DatasetStore, Manifest
from modelphase.ingest.openmetrics import read_exposition
from modelphase.ingest.parquet import read_parquet
from modelphase.ingest.prometheus import Progress, PrometheusClient

__all__ = ["FILE_KINDS", "ingest_file", "ingest_panel", "ingest_prometheus", "prepare"]

FILE_KINDS = ("csv", "parquet", "openmetrics")


def prepare(
    raw: Panel,
    *,
    step: int | None = None,
    start: int | None = None,
    end: int | None = None,
    tolerance: int = 0,
    nonfinite: str = "error",
) -> Panel:
    """Check a raw panel and put it on its grid (the step is inferred when not given)."""
    if raw.n_points == 0:
        raise EmptyInputError("expected at least one sample, got none")
    panel = check_finite(raw, nonfinite=nonfinite)
    if panel.n_points == 0:
        raise EmptyInputError("expected at least one finite sample, got none")
    check_order(panel)
    return to_grid(panel, step or infer_step(panel), start=start, end=end, tolerance=tolerance)


def ingest_file(
    path: Path,
    store: DatasetStore,
    *,
    now: datetime,
    kind: str = "auto",
    step: int | None = None,
    tolerance: int = 0,
    nonfinite: str = "error",
    unit: str = "auto",
    mixed_offsets: bool = False,
) -> Manifest:
    """Snapshot a CSV (long or NAB-style), Parquet or exposition file."""
    path = Path(path)
    if kind == "auto":
        kind = _kind_of(path)
    if kind == "csv":
        raw = read_csv(path, unit=unit, mixed_offsets=mixed_offsets)
    elif kind == "parquet":
        raw = read_parquet(path, unit=unit, mixed_offsets=mixed_offsets)
    elif kind == "openmetrics":
        raw = read_exposition(path)
    else:
        raise ValidationError(f"expected a file kind in {FILE_KINDS}, got {kind!r}")
    panel = prepare(raw, step=step, tolerance=tolerance, nonfinite=nonfinite)
    source = {"kind": kind, "path": str(path.resolve())}
    return ingest_panel(panel, store, source, now=now)


def ingest_prometheus(
    client: PrometheusClient,
    query: str,
    store: DatasetStore,
    *,
    start: int,
    end: int,
    step: int,
    now: datetime,
    nonfinite: str = "error",
    progress: Progress | None = None,
) -> tuple[Manifest, list[str]]:
    """Snapshot a range query; also return Prometheus's warnings and infos."""
    result = client.query_range(query, start, end, step, progress=progress)
    panel = prepare(
        result.panel, step=step, start=result.start, end=result.end, nonfinite=nonfinite
    )
    messages = [*result.warnings, *(f"info: {i}" for i in result.infos)]
    source = {
        "kind": "prometheus",
        "url": client.base_url,
        "query": query,
        "start": format_time(result.start),
        "end": format_time(result.end),
        "step": format_duration(step),
        "requests": result.n_requests,
    }
    return ingest_panel(panel, store, source, now=now, warnings=messages), messages


def ingest_panel(
    panel: Panel,
    store: DatasetStore,
    source: Mapping[str, Any],
    *,
    now: datetime,
    warnings: list[str] | None = None,
) -> Manifest:
    """Snapshot a panel that is already on its grid."""
    return store.write(panel, source, now=now, warnings=warnings, version=__version__)


def _kind_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix in (".om", ".prom", ".txt", ".openmetrics"):
        return "openmetrics"
    return "csv"
