"""Read and write Prometheus / OpenMetrics text exposition with timestamps.

This is the format ``promtool tsdb create-blocks-from openmetrics`` backfills: one
sample a line, ``name{labels} value timestamp``. OpenMetrics text (it ends with
``# EOF``) carries timestamps in seconds; the older Prometheus text format carries them
in milliseconds. Parsing uses prometheus-client's own parsers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from modelphase.exceptions import EmptyInputError, SourceError, ValidationError
from modelphase.frame import NS_PER_SECOND, Panel, format_seconds, parse_series_id, series_id

__all__ = ["parse_exposition", "read_exposition", "to_openmetrics"]


def read_exposition(path: Path, *, fmt: str = "auto") -> Panel:
    """The raw panel of an exposition file (see :func:`parse_exposition`)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"cannot read {path}: {exc}") from exc
    return parse_exposition(text, fmt=fmt)


def parse_exposition(text: str, *, fmt: str = "auto") -> Panel:
    """The raw panel of exposition text; ``fmt`` is ``openmetrics``, ``prometheus`` or
    ``auto`` (OpenMetrics when the text ends with ``# EOF``). Every sample needs a
    timestamp.

    >>> p = parse_exposition('# TYPE up gauge\\nup{job="a"} 1 1700000000\\n# EOF\\n')
    >>> p.ids, p.ds.tolist(), p.y.tolist()
    (['up{job="a"}'], [1700000000000000000], [1.0])
    """
    if not text.strip():
        raise EmptyInputError("expected exposition text with samples, got an empty file")
    if fmt == "auto":
        fmt = "openmetrics" if text.rstrip().endswith("# EOF") else "prometheus"
    if fmt == "openmetrics":
        from prometheus_client.openmetrics.parser import text_string_to_metric_families
    elif fmt == "prometheus":
        from prometheus_client.parser import text_string_to_metric_families
    else:
        raise ValidationError(f"expected the format openmetrics, prometheus or auto, got {fmt!r}")
    uids: list[str] = []
    stamps: list[int] = []
    values: list[float] = []
    try:
        for family in text_string_to_metric_families(text):  # type: ignore[no-untyped-call]
            for n, sample in enumerate(family.samples, 1):
                if sample.timestamp is None:
                    raise ValidationError(
                        f"expected a timestamp on every sample, found none on "
                        f"{sample.name} (sample {n} of family {family.name})",
                        hint="exposition without timestamps is a scrape, not history; "
                        "add the sample times",
                    )
                uids.append(series_id({**sample.labels, "__name__": sample.name}))
                stamps.append(_ns(sample.timestamp, fmt))
                values.append(float(sample.value))
    except ValueError as exc:
        if isinstance(exc, ValidationError):
            raise
        raise ValidationError(
            f"expected {fmt} text exposition, got a line that does not parse: {exc}",
            hint="check the file with `promtool check metrics`",
        ) from exc
    if not uids:
        raise EmptyInputError("expected at least one sample, found only comments")
    return Panel.from_arrays(
        np.array(uids, dtype=object),
        np.array(stamps, dtype=np.int64),
        np.array(values, dtype=np.float64),
    )


def to_openmetrics(panel: Panel) -> Iterable[str]:
    """OpenMetrics lines (gauges, timestamps in seconds, ``# EOF`` last) of a panel.

    Missing points (NaN on a grid) are left out. Ids must be Prometheus identities with
    a metric name.
    """
    by_name: dict[str, list[int]] = {}
    for i, uid in enumerate(panel.ids):
        name = parse_series_id(uid).get("__name__")
        if not name:
            raise ValidationError(
                "expected series with a metric name to write OpenMetrics",
                unique_ids=[uid],
            )
        by_name.setdefault(name, []).append(i)
    for name, members in sorted(by_name.items()):
        yield f"# TYPE {name} gauge\n"
        for i in members:
            lo, hi = int(panel.indptr[i]), int(panel.indptr[i + 1])
            uid = panel.ids[i]
            for ts, value in zip(panel.ds[lo:hi].tolist(), panel.y[lo:hi].tolist(), strict=True):
                if math.isnan(value):
                    continue
                yield f"{uid} {_number(value)} {format_seconds(ts)}\n"
    yield "# EOF\n"


def _ns(timestamp: object, fmt: str) -> int:
    sec = getattr(timestamp, "sec", None)
    if sec is not None:  # prometheus_client's Timestamp(sec, nsec)
        return int(sec) * NS_PER_SECOND + int(getattr(timestamp, "nsec", 0))
    value = float(timestamp)  # type: ignore[arg-type]
    # the Prometheus text parser already divides milliseconds into seconds
    return round(value * 1000) * 1_000_000


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)
