"""Pure helpers for the Prometheus HTTP API: range splitting and ``matrix`` parsing.

>>> minute = 60 * 1_000_000_000
>>> [(lo // minute, hi // minute) for lo, hi in split_range(0, 25_000 * minute, minute)]
[(0, 10999), (11000, 21999), (22000, 25000)]
"""

from __future__ import annotations

import gc
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.csv as pa_csv
from numpy.typing import NDArray

from modelphase.exceptions import (
    PrometheusQueryError,
    PrometheusResponseError,
    UnexpectedResultTypeError,
)
from modelphase.frame import series_id

__all__ = [
    "MAX_POINTS_PER_SERIES",
    "RangeData",
    "parse_range_response",
    "parse_range_response_json",
    "split_range",
]

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
    if step <= 0 or max_points < 1:
        raise ValueError(f"expected step > 0 and max_points >= 1, got {step} and {max_points}")
    span = (max_points - 1) * step
    pieces = []
    lo = start
    while lo <= end:
        hi = min(lo + span, end)
        pieces.append((lo, hi))
        lo = lo + span + step
    return pieces


def parse_range_response(body: bytes, *, url: str = "", status_code: int = 200) -> RangeData:
    """Parse a ``query_range`` answer; raise on anything but a successful ``matrix``.

    The sample arrays are read by Arrow's CSV reader straight from the bytes when the
    answer has Prometheus's own compact layout; otherwise (or if anything there is
    unexpected) every sample goes through the JSON parser. Both give the same result.
    """
    with _gc_paused():
        fast = _split_samples(body)
        doc = _load(fast[0] if fast else body, url, status_code)
        data = _check_envelope(doc, url, status_code)
        out = RangeData(
            warnings=[str(w) for w in doc.get("warnings") or []],
            infos=[str(i) for i in doc.get("infos") or []],
        )
        items = data.get("result") or []
        samples = _read_samples(fast, items) if fast else None
        if fast and samples is None:  # not the layout we expected: take the slow road
            return parse_range_response_json(body, url=url, status_code=status_code)
        for n, item in enumerate(items):
            if samples is not None:
                uid = series_id(item.get("metric") or {})
                ts, y = samples[n]
            else:
                uid, ts, y = _parse_series(item, url)
            out.series.setdefault(uid, []).append((ts, y))
        return out


def parse_range_response_json(body: bytes, *, url: str = "", status_code: int = 200) -> RangeData:
    """:func:`parse_range_response` through the JSON parser only (the reference path)."""
    with _gc_paused():
        doc = _load(body, url, status_code)
        data = _check_envelope(doc, url, status_code)
        out = RangeData(
            warnings=[str(w) for w in doc.get("warnings") or []],
            infos=[str(i) for i in doc.get("infos") or []],
        )
        for item in data.get("result") or []:
            uid, ts, y = _parse_series(item, url)
            out.series.setdefault(uid, []).append((ts, y))
        return out


def _load(body: bytes, url: str, status_code: int) -> dict[str, Any]:
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
    return doc


def _check_envelope(doc: dict[str, Any], url: str, status_code: int) -> dict[str, Any]:
    if doc["status"] != "success":
        raise PrometheusQueryError(
            f"Prometheus answered {doc.get('errorType', 'error')}: "
            f"{doc.get('error', '(no message)')} (HTTP {status_code})",
            url=url,
            error_type=str(doc.get("errorType", "")),
            status_code=status_code,
        )
    data = doc.get("data")
    result_type = data.get("resultType") if isinstance(data, dict) else None
    if not isinstance(data, dict) or result_type != "matrix":
        raise UnexpectedResultTypeError(
            f"expected a range query result of type matrix, got {result_type!r}",
            url=url,
            result_type=str(result_type),
            hint="query an instant vector (a metric selector or a function of one); "
            "string and scalar expressions have no series to keep",
        )
    return data


_VALUES = re.compile(rb'"values":\[')


def _split_samples(body: bytes) -> tuple[bytes, bytes, list[int]] | None:
    """Cut the sample arrays out of a compact answer: (the rest, samples as CSV, counts).

    ``"values":[`` cannot occur inside a JSON string (its quotes would be escaped), so
    each match opens a sample array, which holds no ``]`` until its end. Its pairs
    ``[t,"v"],[t,"v"]`` become CSV lines ``t,"v"``.
    """
    view = memoryview(body)
    rest: list[memoryview] = []
    inner: list[memoryview] = []
    counts: list[int] = []
    pos = 0
    for match in _VALUES.finditer(body):
        begin = match.end()
        rest.append(view[pos:begin])
        if body[begin : begin + 1] == b"]":
            counts.append(0)
            pos = begin
            continue
        close = body.find(b"]]", begin)
        if close < 0:
            return None
        counts.append(body.count(b"],[", begin, close) + 1)
        inner.append(view[begin + 1 : close])
        pos = close + 1
    if not counts:
        return None
    rest.append(view[pos:])
    csv = b"],[".join(inner).replace(b"],[", b"\n") + b"\n" if inner else b""
    return b"".join(rest), csv, counts


def _read_samples(
    fast: tuple[bytes, bytes, list[int]], items: list[Any]
) -> list[tuple[NDArray[np.int64], NDArray[np.float64]]] | None:
    _, csv, counts = fast
    if len(items) != len(counts) or any(
        not isinstance(item, dict) or item.get("values") != [] or "histograms" in item
        for item in items
    ):
        return None
    if not csv:
        empty = (np.empty(0, np.int64), np.empty(0, np.float64))
        return [empty for _ in counts]
    try:
        table = pa_csv.read_csv(
            io.BytesIO(csv),
            read_options=pa_csv.ReadOptions(column_names=["t", "y"], block_size=1 << 24),
            parse_options=pa_csv.ParseOptions(newlines_in_values=False),
            convert_options=pa_csv.ConvertOptions(
                column_types={"t": pa.float64(), "y": pa.float64()},
                null_values=[],
                strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, ValueError):
        return None
    if table.num_rows != sum(counts):
        return None
    seconds = table.column("t").to_numpy()
    y_all = table.column("y").to_numpy()
    millis = np.multiply(seconds, 1000.0)
    np.rint(millis, out=millis)
    ts_all = millis.astype(np.int64)
    ts_all *= 1_000_000
    bounds = np.concatenate([[0], np.cumsum(counts)])
    return [
        (ts_all[bounds[i] : bounds[i + 1]], y_all[bounds[i] : bounds[i + 1]])
        for i in range(len(counts))
    ]


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
