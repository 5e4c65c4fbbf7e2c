"""The decision log: what serving decided, for monitoring and dashboards to read.

The server builds a :class:`DecisionRecord` per sampled request and offers it to a
:class:`DecisionLog`, which writes batches of them as Parquet segments off the request
path; :func:`read_decisions` and :func:`query` read the segments back with DuckDB.
Writer and readers share only the files and :data:`SCHEMA`, so serving and monitoring
never import each other.
"""

from modelphase.decisions.query import VIEW, check_sql, query, read_decisions
from modelphase.decisions.records import COLUMNS, SCHEMA, DecisionRecord
from modelphase.decisions.sink import DecisionLog

__all__ = [
    "COLUMNS",
    "SCHEMA",
    "VIEW",
    "DecisionLog",
    "DecisionRecord",
    "check_sql",
    "query",
    "read_decisions",
]
