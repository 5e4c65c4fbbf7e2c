"""Durations and times: Prometheus durations, RFC 3339, Unix seconds; all in ns."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from modelphase.exceptions import TimestampParseError, ValidationError

__all__ = [
    "NS_PER_SECOND",
    "format_duration",
    "format_seconds",
    "format_time",
    "parse_duration",
    "parse_time",
]

NS_PER_SECOND = 1_000_000_000
_UNITS_NS = {
    "y": 365 * 86400 * NS_PER_SECOND,
    "w": 7 * 86400 * NS_PER_SECOND,
    "d": 86400 * NS_PER_SECOND,
    "h": 3600 * NS_PER_SECOND,
    "m": 60 * NS_PER_SECOND,
    "s": NS_PER_SECOND,
    "ms": 1_000_000,
}
_DURATION_RE = re.compile(r"(\d+)(ms|y|w|d|h|m|s)")


def parse_duration(text: str, *, zero: bool = False) -> int:
    """Nanoseconds in a Prometheus duration (``90s``, ``1h30m``, ``500ms``) or seconds;
    with ``zero``, a zero duration (``0``, ``0s``) is 0 instead of an error.

    >>> parse_duration("5m") // NS_PER_SECOND, parse_duration("0.5") // 1_000_000
    (300, 500)
    >>> parse_duration("0s", zero=True)
    0
    """
    raw = text.strip()
    try:
        seconds = float(raw)
    except ValueError:
        pass
    else:
        if (seconds > 0 or (zero and seconds == 0)) and np.isfinite(seconds):
            return round(seconds * NS_PER_SECOND)
    pos, total = 0, 0
    for match in _DURATION_RE.finditer(raw):
        if match.start() != pos:
            break
        total += int(match.group(1)) * _UNITS_NS[match.group(2)]
        pos = match.end()
    if pos != len(raw) or not raw or total < 0 or (total == 0 and not zero):
        raise ValidationError(
            f"expected a positive duration such as 60s, 5m, 1h30m or 0.5 (seconds), got {text!r}",
            hint="use the units ms, s, m, h, d, w, y",
        )
    return total


def format_duration(ns: int) -> str:
    """The shortest Prometheus duration for ``ns`` nanoseconds.

    >>> format_duration(parse_duration("90m")), format_duration(1_500_000)
    ('1h30m', '1.5ms')
    """
    if ns <= 0:
        return f"{ns}ns"
    parts, rest = [], ns
    for unit in ("w", "d", "h", "m", "s", "ms"):
        size = _UNITS_NS[unit]
        if rest >= size:
            parts.append(f"{rest // size}{unit}")
            rest %= size
    if rest:
        return f"{ns / 1_000_000:g}ms" if ns < NS_PER_SECOND else f"{ns / NS_PER_SECOND:g}s"
    return "".join(parts)


def parse_time(text: str, *, now: int | None = None) -> int:
    """Nanoseconds since the epoch from RFC 3339 (zone required) or Unix seconds, or,
    when ``now`` (ns) is given, ``now`` and ``now-<duration>`` (``now-7d``).

    >>> parse_time("2024-01-01T00:00:00Z") == parse_time("1704067200")
    True
    >>> parse_time("now-1h", now=parse_time("2024-01-01T01:00:00Z")) == parse_time("1704067200")
    True
    """
    raw = text.strip()
    if now is not None and raw.startswith("now"):
        rest = raw[3:].strip()
        if not rest:
            return now
        if rest.startswith("-"):
            return now - parse_duration(rest[1:])
    try:
        seconds = float(raw)
    except ValueError:
        pass
    else:
        if np.isfinite(seconds):
            return round(seconds * 1000) * 1_000_000
    try:
        stamp = datetime.fromisoformat(raw.replace("z", "Z"))
    except ValueError:
        stamp = None
    if stamp is None or stamp.tzinfo is None:
        raise TimestampParseError(
            f"expected an RFC 3339 time with a zone (2024-05-01T12:00:00Z), Unix seconds"
            f"{' or now-<duration>' if now is not None else ''}, got {text!r}",
            hint="add Z or an offset such as +02:00",
        )
    return int(pd.Timestamp(stamp).value)


def format_seconds(ns: int) -> str:
    """Unix seconds as the shortest exact decimal, as Prometheus reads them.

    >>> format_seconds(1_700_000_000_250_000_000), format_seconds(60 * NS_PER_SECOND)
    ('1700000000.25', '60')
    """
    whole, frac = divmod(int(ns), NS_PER_SECOND)
    return f"{whole}.{frac:09d}".rstrip("0") if frac else str(whole)


def format_time(ns: int | np.integer) -> str:
    """RFC 3339 in UTC, with fractions only when present.

    >>> format_time(parse_time("2024-01-01T00:00:00.250+01:00"))
    '2023-12-31T23:00:00.25Z'
    """
    stamp = datetime.fromtimestamp(int(ns) // NS_PER_SECOND, UTC)
    frac = int(ns) % NS_PER_SECOND
    text = stamp.strftime("%Y-%m-%dT%H:%M:%S")
    if frac:
        text += f".{frac:09d}".rstrip("0")
    return text + "Z"
