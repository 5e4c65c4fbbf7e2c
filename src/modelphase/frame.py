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

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from modelphase.exceptions import (
    DuplicateTimestampError,
    EmptyInputError,
    MissingColumnsError,
    MixedStepError,
    NonFiniteValueError,
    NonMonotonicTimestampError,
    TimestampParseError,
    ValidationError,
)

__all__ = [
    "NS_PER_SECOND",
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
_NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_LABEL_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n"}
_UNESCAPES = {"\\": "\\", '"': '"', "n": "\n"}

Labels = dict[str, str]


# --------------------------------------------------------------------------- identities


def series_id(labels: Mapping[str, str]) -> str:
    """The canonical ``unique_id`` of a series from its labels (``__name__`` included).

    Labels with an empty value are absent in Prometheus and are left out. Names that are
    not legacy Prometheus names are quoted the way Prometheus 3 writes UTF-8 names.

    >>> series_id({"job": "api"})
    '{job="api"}'
    >>> series_id({"__name__": "up"})
    'up'
    >>> series_id({"__name__": "node.cpu", "path": 'C:\\\\ "x"'})
    '{"node.cpu",path="C:\\\\\\\\ \\\\"x\\\\""}'
    """
    name = labels.get("__name__", "")
    parts = [
        f"{_label_name(k)}={_quote(v)}"
        for k, v in sorted(labels.items())
        if k != "__name__" and v != ""
    ]
    if name and not _NAME_RE.match(name):
        return "{" + ",".join([_quote(name), *parts]) + "}"
    if name and not parts:
        return name
    return name + "{" + ",".join(parts) + "}"


def parse_series_id(uid: str) -> Labels:
    """The labels (``__name__`` included when present) of a canonical ``unique_id``.

    Raises :class:`ValidationError` when ``uid`` is not in the canonical form.
    """
    if _NAME_RE.match(uid):
        return {"__name__": uid}
    brace = uid.find("{")
    if brace < 0 or not uid.endswith("}"):
        raise _bad_id(uid, 'a metric name, optionally followed by {label="value",...}')
    labels: Labels = {}
    name = uid[:brace]
    if name:
        if not _NAME_RE.match(name):
            raise _bad_id(uid, "a metric name of [a-zA-Z_:][a-zA-Z0-9_:]*")
        labels["__name__"] = name
    body, i, first = uid[brace + 1 : -1], 0, True
    while i < len(body):
        if body[i] == '"':  # a quoted metric name or a quoted label name
            text, i = _read_quoted(body, i, uid)
            if i < len(body) and body[i] == "=":
                key = text
            elif first and not name:
                labels["__name__"] = text
                i, first = _skip_comma(body, i, uid), False
                continue
            else:
                raise _bad_id(uid, "a quoted name followed by =")
        else:
            eq = body.find("=", i)
            if eq < 0 or not _LABEL_RE.match(body[i:eq]):
                raise _bad_id(uid, 'label="value" pairs')
            key, i = body[i:eq], eq
        value, i = _read_quoted(body, i + 1, uid)
        labels[key] = value
        i, first = _skip_comma(body, i, uid), False
    if series_id(labels) != uid:
        raise _bad_id(uid, "labels sorted by name, without empty values or duplicates")
    return labels


def label_table(ids: Sequence[str]) -> pd.DataFrame:
    """The label side table: one row per (``unique_id``, label), ``__name__`` included.

    Ids that are not Prometheus identities (free-form names from a CSV file) are taken as
    a metric name when they are valid as one, and otherwise have no labels.
    """
    rows: list[tuple[str, str, str]] = []
    for uid in ids:
        try:
            labels = parse_series_id(uid)
        except ValidationError:
            labels = {}
        rows.extend((uid, k, v) for k, v in labels.items())
    return pd.DataFrame(rows, columns=["unique_id", "label", "value"]).astype(str)


def _label_name(key: str) -> str:
    return key if _LABEL_RE.match(key) else _quote(key)


def _quote(value: str) -> str:
    return '"' + "".join(_ESCAPES.get(c, c) for c in value) + '"'


def _read_quoted(body: str, i: int, uid: str) -> tuple[str, int]:
    if i >= len(body) or body[i] != '"':
        raise _bad_id(uid, 'a double-quoted label value after "="')
    out: list[str] = []
    i += 1
    while i < len(body):
        c = body[i]
        if c == "\\":
            nxt = body[i + 1] if i + 1 < len(body) else ""
            if nxt not in _UNESCAPES:
                raise _bad_id(uid, 'escapes \\\\, \\" or \\n only')
            out.append(_UNESCAPES[nxt])
            i += 2
        elif c == '"':
            return "".join(out), i + 1
        else:
            out.append(c)
            i += 1
    raise _bad_id(uid, "a closing double quote")


def _skip_comma(body: str, i: int, uid: str) -> int:
    if i == len(body):
        return i
    if body[i] != "," or i + 1 == len(body):
        raise _bad_id(uid, "label pairs separated by single commas")
    return i + 1


def _bad_id(uid: str, expected: str) -> ValidationError:
    return ValidationError(
        f"not a canonical series id: expected {expected}, got {uid!r}",
        unique_ids=[uid],
        hint="build ids with modelphase.frame.series_id(labels)",
    )


# ------------------------------------------------------------------ durations and times


def parse_duration(text: str) -> int:
    """Nanoseconds in a Prometheus duration (``90s``, ``1h30m``, ``500ms``) or seconds.

    >>> parse_duration("5m") // NS_PER_SECOND, parse_duration("0.5") // 1_000_000
    (300, 500)
    """
    raw = text.strip()
    try:
        seconds = float(raw)
    except ValueError:
        pass
    else:
        if seconds > 0 and np.isfinite(seconds):
            return round(seconds * NS_PER_SECOND)
    pos, total = 0, 0
    for match in _DURATION_RE.finditer(raw):
        if match.start() != pos:
            break
        total += int(match.group(1)) * _UNITS_NS[match.group(2)]
        pos = match.end()
    if pos != len(raw) or total <= 0:
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


# ------------------------------------------------------------------------------ panel


@dataclass(frozen=True, eq=False)
class Panel:
    """Many series in one buffer: series ``i`` is ``ds[indptr[i]:indptr[i+1]]``.

    ``ids`` are sorted; ``ds`` holds nanoseconds since the epoch (UTC); ``y`` float64.
    ``step`` (nanoseconds) is set once the panel is on a regular grid, where NaN marks a
    missing sample. ``rows`` keeps each sample's row in its source, for error messages.
    """

    ids: list[str]
    indptr: NDArray[np.int64]
    ds: NDArray[np.int64]
    y: NDArray[np.float64]
    step: int | None = None
    rows: NDArray[np.int64] | None = None

    @property
    def n_series(self) -> int:
        return len(self.ids)

    @property
    def n_points(self) -> int:
        return len(self.y)

    @property
    def n_missing(self) -> int:
        return int(np.isnan(self.y).sum())

    def sizes(self) -> NDArray[np.int64]:
        """Samples per series."""
        return np.diff(self.indptr)

    def series_index(self) -> NDArray[np.int64]:
        """The series number of every sample."""
        return np.repeat(np.arange(self.n_series, dtype=np.int64), self.sizes())

    def series(self, uid: str) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """``(ds, y)`` of one series."""
        i = self.ids.index(uid)
        sl = slice(int(self.indptr[i]), int(self.indptr[i + 1]))
        return self.ds[sl], self.y[sl]

    @classmethod
    def from_arrays(
        cls,
        uid: Sequence[str] | NDArray[np.object_] | pd.Series,
        ds: NDArray[np.int64],
        y: NDArray[np.float64],
        *,
        rows: NDArray[np.int64] | None = None,
        step: int | None = None,
    ) -> Panel:
        """A panel from one entry per sample; order within a series is kept."""
        codes, uniques = pd.factorize(np.asarray(uid, dtype=object), sort=True)
        order = np.argsort(codes, kind="stable")
        counts = np.bincount(codes, minlength=len(uniques))
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        row_arr = (np.arange(len(codes), dtype=np.int64) + 1) if rows is None else rows
        return cls(
            ids=[str(u) for u in uniques],
            indptr=indptr,
            ds=np.asarray(ds, dtype=np.int64)[order],
            y=np.asarray(y, dtype=np.float64)[order],
            step=step,
            rows=np.asarray(row_arr, dtype=np.int64)[order],
        )

    @classmethod
    def from_series(
        cls,
        items: Sequence[tuple[str, NDArray[np.int64], NDArray[np.float64]]],
        *,
        step: int | None = None,
    ) -> Panel:
        """A panel from ``(unique_id, ds, y)`` per series (ids must be distinct)."""
        items = sorted(items, key=lambda item: item[0])
        ids = [item[0] for item in items]
        if len(set(ids)) != len(ids):
            dup = sorted({u for u in ids if ids.count(u) > 1})
            raise ValidationError("a series id appears twice", unique_ids=dup)
        sizes = [len(item[1]) for item in items]
        indptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        empty_i = np.empty(0, np.int64)
        empty_f = np.empty(0, np.float64)
        ds = np.concatenate([item[1] for item in items]) if items else empty_i
        y = np.concatenate([item[2] for item in items]) if items else empty_f
        return cls(ids, indptr, ds.astype(np.int64), y.astype(np.float64), step=step)

    @classmethod
    def from_long(cls, df: pd.DataFrame, *, step: int | None = None) -> Panel:
        """A panel from a long frame with ``unique_id``, ``ds`` (UTC) and ``y``."""
        missing = [c for c in ("unique_id", "ds", "y") if c not in df.columns]
        if missing:
            raise MissingColumnsError(
                f"a long frame needs the columns unique_id, ds, y; missing {missing}",
                missing=missing,
                found=[str(c) for c in df.columns],
            )
        ds = pd.to_datetime(df["ds"], utc=True).to_numpy(dtype="datetime64[ns]")
        return cls.from_arrays(
            df["unique_id"].astype(str).to_numpy(dtype=object),
            ds.view(np.int64),
            df["y"].to_numpy(dtype=np.float64),
            step=step,
        )

    def to_long(self) -> pd.DataFrame:
        """The long frame: ``unique_id`` (categorical), ``ds`` (UTC), ``y``."""
        codes = self.series_index()
        uid = pd.Categorical.from_codes(codes, categories=pd.Index(self.ids, dtype=object))
        ds = pd.DatetimeIndex(self.ds.view("datetime64[ns]"), tz="UTC")
        return pd.DataFrame({"unique_id": uid, "ds": ds, "y": self.y})

    def describe(self) -> pd.DataFrame:
        """Per-series summary: points, missing, first and last time, min, mean, max."""
        starts, ends = self.indptr[:-1], self.indptr[1:]
        nonempty = ends > starts
        idx = self.series_index()
        finite = ~np.isnan(self.y)
        n_obs = np.bincount(idx[finite], minlength=self.n_series)
        sums = np.bincount(idx[finite], weights=self.y[finite], minlength=self.n_series)
        lo = np.full(self.n_series, np.nan)
        hi = np.full(self.n_series, np.nan)
        if finite.any():
            np.fmin.at(lo, idx[finite], self.y[finite])
            np.fmax.at(hi, idx[finite], self.y[finite])
        first = np.where(nonempty, self.ds[np.minimum(starts, max(self.n_points - 1, 0))], 0)
        last = np.where(nonempty, self.ds[np.maximum(ends - 1, 0)], 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = sums / n_obs
        return pd.DataFrame(
            {
                "unique_id": self.ids,
                "points": self.sizes(),
                "missing": self.sizes() - n_obs,
                "start": pd.DatetimeIndex(first.view("datetime64[ns]"), tz="UTC"),
                "end": pd.DatetimeIndex(last.view("datetime64[ns]"), tz="UTC"),
                "min": lo,
                "mean": mean,
                "max": hi,
            }
        )


# -------------------------------------------------------------------------- validation


def check_finite(panel: Panel, *, nonfinite: str = "error") -> Panel:
    """Reject NaN and +-Inf samples (``nonfinite="error"``) or drop them (``"drop"``).

    Dropped samples become missing points once the panel is put on its grid.
    """
    bad = ~np.isfinite(panel.y)
    if not bad.any():
        return panel
    if nonfinite == "drop":
        keep = ~bad
        return _subset(panel, keep)
    if nonfinite != "error":
        raise ValidationError(f"nonfinite: expected 'error' or 'drop', got {nonfinite!r}")
    where = np.flatnonzero(bad)
    kinds = sorted({_nonfinite_name(v) for v in panel.y[where[:1000]]})
    uids, rows = _offenders(panel, where)
    raise NonFiniteValueError(
        f"expected finite numbers, found {len(where)} {'/'.join(kinds)} value(s)",
        unique_ids=uids,
        rows=rows,
        hint="remove those samples, or pass --nonfinite drop to treat them as missing",
    )


def check_order(panel: Panel) -> None:
    """Each series must have strictly increasing timestamps in source order."""
    if panel.n_points < 2:
        return
    diffs = np.diff(panel.ds)
    inner = panel.indptr[1:-1] - 1
    inner = inner[(inner >= 0) & (inner < len(diffs))]
    diffs[inner] = 1  # series boundaries are not steps
    backwards = diffs < 0
    if backwards.any():
        dup_at = _duplicates_anywhere(panel)
        if len(dup_at):
            _raise_duplicates(panel, dup_at)
        where = np.flatnonzero(backwards) + 1
        uids, rows = _offenders(panel, where)
        raise NonMonotonicTimestampError(
            f"expected timestamps increasing within each series, found {len(where)} "
            f"going backwards (first at {format_time(panel.ds[where[0]])})",
            unique_ids=uids,
            rows=rows,
            hint="sort the input by unique_id and ds",
        )
    dup = np.flatnonzero(diffs == 0) + 1
    if len(dup):
        _raise_duplicates(panel, dup)


def infer_step(panel: Panel) -> int:
    """The step of a panel: the commonest positive gap between neighbouring samples.

    Raises :class:`MixedStepError` when series sample at different steps.
    """
    diffs = np.diff(panel.ds)
    same_series = np.ones(len(diffs), dtype=bool)
    inner = panel.indptr[1:-1] - 1
    same_series[inner[(inner >= 0) & (inner < len(diffs))]] = False
    series_of_diff = np.repeat(np.arange(panel.n_series), np.maximum(panel.sizes() - 1, 0))
    usable = same_series & (diffs > 0)
    if not usable.any():
        raise MixedStepError(
            "cannot infer the step: no series has two samples",
            hint="pass the step explicitly (--step 60s)",
        )
    # each series' own step is its commonest gap; the panel's is the one most samples share
    gaps = pd.DataFrame({"s": series_of_diff[usable[same_series]], "d": diffs[usable]})
    counts = gaps.value_counts(sort=False).reset_index(name="n")
    modes = counts.sort_values(["s", "n", "d"], ascending=[True, False, True])
    modes = modes.drop_duplicates("s")
    own = np.zeros(panel.n_series, dtype=np.int64)
    own[modes["s"].to_numpy()] = modes["d"].to_numpy()
    n_gaps = np.bincount(gaps["s"].to_numpy(), minlength=panel.n_series)
    known = own > 0
    steps, inverse = np.unique(own[known], return_inverse=True)
    weight = np.bincount(inverse, weights=panel.sizes()[known])
    step = int(steps[np.argmax(weight)])
    odd = np.flatnonzero(known & (own != step) & (n_gaps >= 3))
    if len(odd):
        others = sorted({format_duration(int(own[i])) for i in odd})
        raise MixedStepError(
            f"expected one step for all series, found {format_duration(step)} and "
            f"{', '.join(others)}",
            unique_ids=[panel.ids[i] for i in odd],
            hint="ingest series of different steps separately, or pass --step to keep "
            "coarser series with missing points in between",
        )
    return step


def to_grid(
    panel: Panel,
    step: int,
    *,
    start: int | None = None,
    end: int | None = None,
    tolerance: int = 0,
) -> Panel:
    """Put every series on the regular grid ``origin + k * step``; gaps become NaN.

    ``origin`` is ``start`` when given, else the earliest sample. With ``start`` and
    ``end`` every series spans the whole range; otherwise each spans its own first to
    last sample. A sample may sit up to ``tolerance`` nanoseconds off its grid point
    (scrape jitter); further off raises :class:`MixedStepError`, and two samples on one
    grid point raise :class:`DuplicateTimestampError`. The panel must be in order
    (:func:`check_order`).
    """
    if step <= 0:
        raise ValidationError(f"expected a positive step, got {step} ns")
    if panel.n_points == 0 and (start is None or end is None):
        raise EmptyInputError("expected at least one sample, got none")
    origin = int(panel.ds.min()) if start is None else int(start)
    rel = panel.ds - origin
    k = np.floor_divide(rel + step // 2, step) if tolerance else np.floor_divide(rel, step)
    off = rel - k * step
    bad = np.abs(off) > tolerance
    if bad.any():
        where = np.flatnonzero(bad)
        uids, rows = _offenders(panel, where)
        raise MixedStepError(
            f"expected samples every {format_duration(step)} from "
            f"{format_time(origin)}, found {len(where)} off that grid (first at "
            f"{format_time(panel.ds[where[0]])})",
            unique_ids=uids,
            rows=rows,
            hint="pass the right --step, or --tolerance for scrape jitter",
        )
    if end is not None and panel.n_points and int(panel.ds.max()) > end + tolerance:
        raise ValidationError(f"samples after the end of the range {format_time(end)}")
    if tolerance and panel.n_points > 1:
        same = np.diff(k) == 0
        inner = panel.indptr[1:-1] - 1
        same[inner[(inner >= 0) & (inner < len(same))]] = False
        if same.any():
            _raise_duplicates(panel, np.flatnonzero(same) + 1, on_grid=True)
    starts, ends = panel.indptr[:-1], panel.indptr[1:]
    if start is not None and end is not None:
        k_first = np.zeros(panel.n_series, dtype=np.int64)
        lengths = np.full(panel.n_series, (end - origin) // step + 1, dtype=np.int64)
    else:
        safe_last = np.maximum(ends - 1, 0)
        k_first = np.where(ends > starts, k[np.minimum(starts, len(k) - 1)], 0)
        lengths = np.where(ends > starts, k[safe_last] - k_first + 1, 0)
    if np.array_equal(lengths, panel.sizes()):
        # in order, on the grid and as many samples as grid points: already complete
        ds = panel.ds if not tolerance else (origin + k * step).astype(np.int64)
        return replace(panel, ds=ds, step=step, rows=None)
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    total = int(indptr[-1])
    y = np.full(total, np.nan)
    series = panel.series_index()
    y[indptr[series] + (k - k_first[series])] = panel.y
    local = np.arange(total, dtype=np.int64) - np.repeat(indptr[:-1], lengths)
    ds = origin + (np.repeat(k_first, lengths) + local) * step
    return Panel(panel.ids, indptr, ds.astype(np.int64), y, step=step)


def _subset(panel: Panel, keep: NDArray[np.bool_]) -> Panel:
    series = panel.series_index()[keep]
    counts = np.bincount(series, minlength=panel.n_series)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    rows = None if panel.rows is None else panel.rows[keep]
    return Panel(panel.ids, indptr, panel.ds[keep], panel.y[keep], panel.step, rows)


def _duplicates_anywhere(panel: Panel) -> NDArray[np.intp]:
    series = panel.series_index()
    order = np.lexsort((panel.ds, series))
    s, d = series[order], panel.ds[order]
    same = (np.diff(s) == 0) & (np.diff(d) == 0)
    return np.sort(order[np.flatnonzero(same) + 1])


def _raise_duplicates(panel: Panel, where: NDArray[np.intp], *, on_grid: bool = False) -> None:
    uids, rows = _offenders(panel, where)
    first = format_time(panel.ds[where[0]])
    what = "on one grid point" if on_grid else "at one timestamp"
    raise DuplicateTimestampError(
        f"expected one sample per timestamp in each series, found {len(where)} "
        f"repeated {what} (first at {first})",
        unique_ids=uids,
        rows=rows,
        hint="remove or aggregate the repeated samples",
    )


def _offenders(panel: Panel, where: NDArray[np.intp]) -> tuple[list[str], list[int]]:
    series = np.searchsorted(panel.indptr, where, side="right") - 1
    uids = [panel.ids[i] for i in dict.fromkeys(series.tolist())]
    if panel.rows is not None:
        rows = panel.rows[where].tolist()
    else:
        rows = (where - panel.indptr[series] + 1).tolist()
    return uids, [int(r) for r in rows]


def _nonfinite_name(value: float) -> str:
    if np.isnan(value):
        return "NaN"
    return "+Inf" if value > 0 else "-Inf"
