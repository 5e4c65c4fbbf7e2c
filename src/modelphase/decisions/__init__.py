"""The decision log: what serving decided, for monitoring and dashboards to read.

The server builds a :class:`DecisionRecord` per sampled request and offers it to a
:class:`DecisionLog`, which writes batches of them as Parquet segments off the request
path; :func:`read_decisions` and :func:`query` read the segments back with DuckDB.
Writer and readers share only the files and :data:`SCHEMA`, so serving and monitoring
never import each other.

The log is bounded: a request's inputs are kept whole up to 64 KiB of JSON
(:data:`MAX_LOGGED_INPUT_BYTES`, then only their size and sha256), and :func:`prune`
removes segments older than 30 days (:data:`MAX_AGE`) and the oldest beyond 10 GiB
(:data:`MAX_BYTES`); the :class:`DecisionLog` runs it every minute. Readers skip a
damaged segment and say so, and run each query in a sandbox with the limits of a
:class:`QueryLimits` (60 s, 1 GiB of memory, 2 threads, no file outside the log).
"""

from modelphase.decisions.query import VIEW, QueryLimits, check_sql, query, read_decisions
from modelphase.decisions.records import (
    COLUMNS,
    MAX_LOGGED_INPUT_BYTES,
    SCHEMA,
    DecisionRecord,
    cap_inputs,
)
from modelphase.decisions.retention import MAX_AGE, MAX_BYTES, PruneResult, prune
from modelphase.decisions.sink import DecisionLog

__all__ = [
    "COLUMNS",
    "MAX_AGE",
    "MAX_BYTES",
    "MAX_LOGGED_INPUT_BYTES",
    "SCHEMA",
    "VIEW",
    "DecisionLog",
    "DecisionRecord",
    "PruneResult",
    "QueryLimits",
    "cap_inputs",
    "check_sql",
    "prune",
    "query",
    "read_decisions",
]
