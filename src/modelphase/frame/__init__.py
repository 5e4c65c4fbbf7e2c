"""The telemetry frame: series identities, durations, the panel, validation, the grid.

At the edges telemetry is a long ``pandas.DataFrame`` with columns ``unique_id``, ``ds``
(tz-aware UTC) and ``y`` (float64). Inside, it is a :class:`Panel`: every series' samples
in one buffer, sorted by ``unique_id``, with index pointers, as statsforecast keeps them.

A ``unique_id`` is the canonical Prometheus identity of a series: the metric name and
its labels sorted by key, values escaped as in the text exposition format.

>>> series_id({"__name__": "http_requests_total", "method": "GET", "job": "api"})
'http_requests_total{job="api",method="GET"}'
>>> parse_series_id('up{instance="a:9090",job="prometheus"}')
{'__name__': 'up', 'instance': 'a:9090', 'job': 'prometheus'}
>>> parse_duration("1h30m") == 90 * 60 * NS_PER_SECOND
True
"""

from modelphase.frame._checks import check_finite, check_order, infer_step, to_grid
from modelphase.frame._ids import Labels, label_table, parse_series_id, series_id
from modelphase.frame._panel import Panel
from modelphase.frame._time import (
    NS_PER_SECOND,
    format_duration,
    format_seconds,
    format_time,
    parse_duration,
    parse_time,
)

__all__ = [
    "NS_PER_SECOND",
    "Labels",
    "Panel",
    "check_finite",
    "check_order",
    "format_duration",
    "format_seconds",
    "format_time",
    "infer_step",
    "label_table",
    "parse_duration",
    "parse_series_id",
    "parse_time",
    "series_id",
    "to_grid",
]
