"""Pure helpers for the Prometheus HTTP API: range splitting and ``matrix`` parsing.

>>> minute = 60 * 1_000_000_000
>>> [(lo // minute, hi // minute) for lo, hi in split_range(0, 25_000 * minute, minute)]
[(0, 10999), (11000, 21999), (22000, 25000)]
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray

from modelphase.exceptions import (
    PrometheusQueryError,
    PrometheusResponseError,
    UnexpectedResultTypeError,
)
from modelphase.frame import series_id

__all__ = ["MAX_POINTS_PER_SERIES", "RangeData", "parse_range_response", "split_range"]

#: Prometheus refuses a range query whose (end - start) / step exceeds this.
MAX_POINTS_PER_SERIES = 11_000


@dataclass
class RangeData:
    """What one or more ``query_range`` answers held: samples per series and messages."""

    series: dict[str, list[tuple[NDArray[np.int64], NDArray[np.float64]]]] = field(
        default_factory=dict
    )
    warnings: list[str] = field(default_factory=list)
    infos: list[str] = field(default_factory=list)

    def extend(self, other: RangeData) -> None:
        """Append another chunk's samples (chunks must come in time order)."""
        for uid, parts in other.series.items():
            self.series.setdefault(uid, []).extend(parts)
        self.warnings.extend(w for w in other.warnings if w not in self.warnings)
        self.infos.extend(i for i in other.infos if i not in self.infos)


def split_range(
    start: int, end: int, step: int, max_points: int = MAX_POINTS_PER_SERIES
) -> list[tuple[int, int]]:
    """Cut ``[start, end]`` into ranges of at most ``max_points`` steps on the same grid.

    Each piece starts on ``start + k * step`` and pieces do not overlap, so their points
    are exactly the points of the whole range.
    """
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    span = (max_points - 1) * step
    pieces = []
    lo = start
    while lo <= end:
        hi = min(lo + span, end)
        pieces.append((lo, hi))
        lo = lo + span + step
    return pieces


def parse_range_response(body: bytes, *, url: str = "", status_code: int = 200) -> RangeData:
    """Parse a ``query_range`` answer; raise on anything but a successful ``matrix``."""
    with _gc_paused():
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            doc = None
        if not isinstance(doc, dict) or "status" not in doc:
            raise PrometheusResponseError(
                f"expected the Prometheus API's JSON from {url}, got {_preview(body)} "
                f"(HTTP {status_code})",
                url=url,
                status_code=status_code,
                hint="check that the URL is Prometheus's base URL (e.g. "
                "http://host:9090), not a login page or a proxy",
            )
        if doc["status"] != "success":
            raise PrometheusQueryError(
                f"Prometheus answered {doc.get('errorType', 'error')}: "
                f"{doc.get('error', '(no message)')} (HTTP {status_code})",
                url=url,
                error_type=str(doc.get("errorType", "")),
                status_code=status_code,
            )
        data = doc.get("data") or {}
        result_type = data.get("resultType")
        if result_type != "matrix":
            raise UnexpectedResultTypeError(
                f"expected a range query result of type matrix, got {result_type!r}",
                url=url,
                result_type=str(result_type),
                hint="query an instant vector (a metric selector or a function of one); "
                "string and scalar expressions have no series to keep",
            )
        out = RangeData(
            warnings=[str(w) for w in doc.get("warnings") or []],
            infos=[str(i) for i in doc.get("infos") or []],
        )
        for item in data.get("result") or []:
            uid, ts, y = _parse_series(item, url)
            out.series.setdefault(uid, []).append((ts, y))
        return out


def _parse_series(
    item: dict[str, Any], url: str
) -> tuple[str, NDArray[np.int64], NDArray[np.float64]]:
    labels = item.get("metric") or {}
    uid = series_id(labels)
    values = item.get("values")
    if values is None:
        if item.get("histograms"):
            raise UnexpectedResultTypeError(
                f"series {uid} holds native histograms, which are not telemetry values; "
                "query a float such as histogram_quantile(0.99, ...) or "
                "histogram_count(...) instead",
                url=url,
                result_type="histograms",
            )
        values = []
    try:
        seconds = np.array([v[0] for v in values], dtype=np.float64)
        y = np.array([v[1] for v in values], dtype=np.float64)
    except (TypeError, ValueError, IndexError) as exc:
        raise PrometheusResponseError(
            f'series {uid}: expected [timestamp, "value"] pairs, got {str(values[:2])[:80]}',
            url=url,
        ) from exc
    ts = np.round(seconds * 1000.0).astype(np.int64) * 1_000_000
    return uid, ts, y


@contextmanager
def _gc_paused() -> Iterator[None]:
    # A range answer is millions of small lists; the cyclic collector would walk them
    # again and again while they are built. None of them can form a cycle.
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _preview(body: bytes) -> str:
    text = body[:80].decode("utf-8", "replace").strip().replace("\n", " ")
    return repr(text) if text else "an empty body"
