"""One row of the decision log: what a request asked, who answered and what was decided.

The record is the contract between the server, which fills it, and monitoring and
dashboards, which read it back; neither imports the other, both import this. Free-form
parts (inputs, prediction, interval, decision) are JSON text rather than nested columns,
so that a new model kind never changes the Parquet schema and old segments stay
readable next to new ones.

Inputs are what a caller controls the size of, so the log keeps them whole only up to a
cap (:func:`cap_inputs`, 64 KiB of JSON by default): beyond it ``inputs`` holds a small
JSON stub (``{"truncated": true, "bytes": ..., "sha256": ...}``), ``inputs_truncated``
is true and ``inputs_sha256`` is the hex sha256 of the JSON as received, so that a
request can still be matched to its logged decision. ``inputs_bytes`` is always the
size of that JSON in UTF-8 bytes. Segments written before these three columns read
them as NULL.

>>> r = DecisionRecord(
...     request_id="r-1", time_us=1_714_564_800_000_000, endpoint="forecast",
...     model="api-latency", version=3, alias="production", answered_by="model",
...     fallback_reason=None, inputs='{"h": 12}', prediction='{"mean": [0.2]}',
...     interval=None, decision=None, latency_ms=4.2, principal="ci",
... )
>>> r.to_row()["time_us"], SCHEMA.field("time_us").type
(1714564800000000, TimestampType(timestamp[us, tz=UTC]))
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields, replace
from typing import Any

import pyarrow as pa

__all__ = [
    "COLUMNS",
    "MAX_LOGGED_INPUT_BYTES",
    "SCHEMA",
    "DecisionRecord",
    "cap_inputs",
    "to_table",
]

#: inputs larger than this (UTF-8 bytes of their JSON) are logged as their size and sha256
MAX_LOGGED_INPUT_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """One logged decision. Built on the request path, so it does no checking of its
    own: a record the writer cannot convert is dropped there, counted and logged.

    ``time_us`` is when the request arrived, in UTC epoch microseconds (an int, so the
    server can take it from ``time.time_ns() // 1000`` without a datetime).
    """

    request_id: str
    time_us: int
    endpoint: str  # "forecast" or "score"
    model: str
    version: int | None
    alias: str  # "production", "canary" or "shadow"
    answered_by: str  # "model" or "fallback"
    fallback_reason: str | None  # "error", "timeout", "circuit_open", "no_model"
    inputs: str  # JSON text
    prediction: str  # JSON text
    interval: str | None  # JSON text
    decision: str | None  # JSON text
    latency_ms: float
    principal: str | None  # the token's name, never the token
    inputs_bytes: int | None = None  # UTF-8 bytes of the inputs' JSON as received
    inputs_sha256: str | None = None  # hex sha256 of that JSON, when it was truncated
    inputs_truncated: bool = False  # inputs holds only the stub of cap_inputs

    def to_row(self) -> dict[str, Any]:
        """The record as a plain dict, keyed by column name."""
        return {name: getattr(self, name) for name in COLUMNS}


#: the Parquet schema of a segment; ``time_us`` is stored as a UTC timestamp so that
#: DuckDB, pandas and Grafana read it as a time without being told
SCHEMA = pa.schema(
    [
        pa.field("request_id", pa.string(), nullable=False),
        pa.field("time_us", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("endpoint", pa.string(), nullable=False),
        pa.field("model", pa.string(), nullable=False),
        pa.field("version", pa.int64()),
        pa.field("alias", pa.string(), nullable=False),
        pa.field("answered_by", pa.string(), nullable=False),
        pa.field("fallback_reason", pa.string()),
        pa.field("inputs", pa.string(), nullable=False),
        pa.field("prediction", pa.string(), nullable=False),
        pa.field("interval", pa.string()),
        pa.field("decision", pa.string()),
        pa.field("latency_ms", pa.float64(), nullable=False),
        pa.field("principal", pa.string()),
        pa.field("inputs_bytes", pa.int64()),
        pa.field("inputs_sha256", pa.string()),
        pa.field("inputs_truncated", pa.bool_(), nullable=False),
    ]
)

#: column names in schema order
COLUMNS: tuple[str, ...] = tuple(SCHEMA.names)

assert tuple(f.name for f in fields(DecisionRecord)) == COLUMNS, "SCHEMA and record differ"


def to_table(records: list[DecisionRecord]) -> pa.Table:
    """Records as an Arrow table of :data:`SCHEMA`.

    Raises ``ValueError`` or ``TypeError`` (pyarrow's subclasses of them) on a value of
    the wrong type or a missing required value, before anything touches the disk.
    """
    arrays = []
    for field in SCHEMA:
        array = pa.array([getattr(r, field.name) for r in records], type=field.type)
        if not field.nullable and array.null_count:
            raise ValueError(f"column {field.name!r} is required, got None")
        arrays.append(array)
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


def cap_inputs(record: DecisionRecord, max_bytes: int = MAX_LOGGED_INPUT_BYTES) -> DecisionRecord:
    """``record`` with ``inputs_bytes`` filled in, and its inputs replaced by their size
    and sha256 when their JSON is longer than ``max_bytes`` UTF-8 bytes.

    >>> r = cap_inputs(DecisionRecord("r-1", 0, "score", "m", 1, "production", "model",
    ...     None, '{"values": [0.5, 0.25]}', "0.5", None, None, 1.0, None), max_bytes=16)
    >>> r.inputs_truncated, r.inputs_bytes, r.inputs_sha256[:12]
    (True, 23, 'a1dd687b58ce')
    >>> r.inputs[:32]
    '{"truncated": true, "bytes": 23,'
    """
    if record.inputs_truncated:  # capped already: its inputs_bytes is the original's
        return record
    text = record.inputs
    raw = None if text.isascii() else text.encode("utf-8", "surrogatepass")
    size = len(text) if raw is None else len(raw)
    if size <= max_bytes:
        return replace(record, inputs_bytes=size)
    digest = hashlib.sha256(text.encode("ascii") if raw is None else raw).hexdigest()
    stub = f'{{"truncated": true, "bytes": {size}, "sha256": "{digest}"}}'
    return replace(
        record, inputs=stub, inputs_bytes=size, inputs_sha256=digest, inputs_truncated=True
    )
