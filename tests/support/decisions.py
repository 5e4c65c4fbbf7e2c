"""Decision records for the tests of the decision log."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from modelphase.decisions import DecisionRecord

#: 2024-05-01T12:00:00Z in epoch microseconds
NOON_US = 1_714_564_800_000_000

MakeRecord = Callable[..., DecisionRecord]


def make_record(i: int = 0, **fields: Any) -> DecisionRecord:
    """A plausible record for request ``i``, one second after the previous one."""
    values: dict[str, Any] = {
        "request_id": f"req-{i:06d}",
        "time_us": NOON_US + i * 1_000_000,
        "endpoint": "forecast",
        "model": "api-latency",
        "version": 3,
        "alias": "production",
        "answered_by": "model",
        "fallback_reason": None,
        "inputs": json.dumps({"unique_id": 'http_requests_total{job="api"}', "h": 12}),
        "prediction": json.dumps({"mean": [0.25, 0.5]}),
        "interval": json.dumps({"lo-80": [0.2, 0.4], "hi-80": [0.3, 0.6]}),
        "decision": None,
        "latency_ms": 3.5 + i,
        "principal": "ci-bot",
    }
    values.update(fields)
    return DecisionRecord(**values)
