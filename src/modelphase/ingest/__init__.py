"""Telemetry sources and dataset snapshots.

Sources return a raw :class:`~modelphase.frame.Panel`; :func:`prepare` checks it and
puts it on its grid; :class:`DatasetStore` keeps immutable, content-addressed snapshots.
:func:`read_stream` reads one NAB-style stream as it comes, for the detectors.
"""

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

__all__ = [
    "FILE_KINDS",
    "MAX_POINTS_PER_SERIES",
    "DatasetStore",
    "Manifest",
    "PrometheusClient",
    "RangeResult",
    "RetryPolicy",
    "Stream",
    "content_digest",
    "ingest_file",
    "ingest_panel",
    "ingest_prometheus",
    "parse_exposition",
    "parse_range_response",
    "parse_stream",
    "prepare",
    "read_csv",
    "read_exposition",
    "read_parquet",
    "read_stream",
    "split_range",
    "to_openmetrics",
]
