"""Telemetry sources and dataset snapshots.

Sources return a raw :class:`~modelphase.frame.Panel`; :func:`prepare` checks it and
puts it on its grid; :class:`DatasetStore` keeps immutable, content-addressed snapshots.
:func:`read_stream` reads one NAB-style stream as it comes, for the detectors;
:func:`load_target` gives a spec's training data from its dataset or Prometheus query.
"""

from modelphase.ingest._columns import parse_timestamps, parse_values
from modelphase.ingest._matrix import MAX_POINTS_PER_SERIES, parse_range_response, split_range
from modelphase.ingest.csv import read_csv
from modelphase.ingest.datasets import DatasetStore, Manifest, content_digest
from modelphase.ingest.openmetrics import parse_exposition, read_exposition, to_openmetrics
from modelphase.ingest.parquet import read_parquet
from modelphase.ingest.pipeline import (
    FILE_KINDS,
    ingest_file,
    ingest_panel,
    ingest_prometheus,
    prepare,
)
from modelphase.ingest.prometheus import PrometheusClient, RangeResult, RetryPolicy
from modelphase.ingest.stream import Stream, parse_stream, read_stream
from modelphase.ingest.target import LoadedTarget, check_range, load_target, query_window

__all__ = [
    "FILE_KINDS",
    "MAX_POINTS_PER_SERIES",
    "DatasetStore",
    "LoadedTarget",
    "Manifest",
    "PrometheusClient",
    "RangeResult",
    "RetryPolicy",
    "Stream",
    "check_range",
    "content_digest",
    "ingest_file",
    "ingest_panel",
    "ingest_prometheus",
    "load_target",
    "parse_exposition",
    "parse_range_response",
    "parse_stream",
    "parse_timestamps",
    "parse_values",
    "prepare",
    "query_window",
    "read_csv",
    "read_exposition",
    "read_parquet",
    "read_stream",
    "split_range",
    "to_openmetrics",
]
