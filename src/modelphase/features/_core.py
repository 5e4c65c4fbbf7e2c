"""The one computation behind training rows and serving rows.

:func:`feature_rows` takes a buffer of values, the positions of the rows to compute in
it (``targets``; a target may sit one past the end, for the next point at serving), how
many points of the same series come before each target (``age``) and each target's time.
The value ``d`` steps before a target is ``values[target - d]`` when ``d <= age``, NaN
otherwise, so no row ever reads another series or its own present or future. Every
statistic is accumulated in the same fixed order (oldest to newest) whatever the number
of rows, so a row computed alone at serving is bit-for-bit the row computed in a batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from modelphase.features._specs import (
    DayOfWeek,
    Feature,
    HourOfDay,
    Lag,
    MinuteOfHour,
    RollingMax,
    RollingMean,
    RollingMin,
    RollingStd,
)

__all__ = ["calendar_field", "feature_rows"]

_NS_MINUTE = 60 * 1_000_000_000
_NS_HOUR = 60 * _NS_MINUTE
_NS_DAY = 24 * _NS_HOUR
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)


class _Past:
    """Reads "the value d steps before each target" out of one buffer."""

    def __init__(
        self,
        values: NDArray[np.float64],
        targets: NDArray[np.int64],
        age: NDArray[np.int64],
        lookback: int,
    ) -> None:
        self.values = values
        self.targets = targets
        m = len(targets)
        # consecutive positions (one slice reads them all); ends alone do not tell, as
        # an empty series repeats its neighbour's position
        self.contiguous = m > 0 and bool(np.all(np.diff(targets) == 1))
        # rows with fewer than `lookback` points before them, youngest first: the only
        # rows ever masked, and for a given d exactly those younger than d
        young = np.flatnonzero(age < lookback)
        self.young = young[np.argsort(age[young], kind="stable")]
        self.young_age = age[self.young]

    def at(self, d: int) -> NDArray[np.float64]:
        """A fresh array: the value ``d`` (>= 1) steps before every target, or NaN."""
        m = len(self.targets)
        if len(self.values) == 0:
            return np.full(m, np.nan)
        first = int(self.targets[0]) - d
        if self.contiguous and first >= 0:
            out = self.values[first : first + m].copy()
        else:
            out = self.values[np.maximum(self.targets - d, 0)]
        # mask the rows with fewer than d points of their series before them
        n_bad = int(np.searchsorted(self.young_age, d, side="left"))
        out[self.young[:n_bad]] = np.nan
        return out


def _lag(past: _Past, k: int) -> NDArray[np.float64]:
    return past.at(k)


def _window_sum(
    past: _Past, window: int, lag: int
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    m = len(past.targets)
    total = np.zeros(m, np.float64)
    count = np.zeros(m, np.int64)
    for d in range(lag + window - 1, lag - 1, -1):
        v = past.at(d)
        ok = ~np.isnan(v)
        v[~ok] = 0.0
        total += v
        count += ok
    return total, count


def _rolling_mean(past: _Past, f: RollingMean) -> NDArray[np.float64]:
    total, count = _window_sum(past, f.window, f.lag)
    enough = count >= f.periods
    out = np.full(len(total), np.nan)
    out[enough] = total[enough] / count[enough]
    return out


def _rolling_std(past: _Past, f: RollingStd) -> NDArray[np.float64]:
    total, count = _window_sum(past, f.window, f.lag)
    enough = count >= f.periods
    mean = np.full(len(total), np.nan)
    mean[enough] = total[enough] / count[enough]
    squares = np.zeros(len(total), np.float64)
    for d in range(f.lag + f.window - 1, f.lag - 1, -1):
        dev = past.at(d) - mean
        dev[np.isnan(dev)] = 0.0
        squares += dev * dev
    out = np.full(len(total), np.nan)
    out[enough] = np.sqrt(squares[enough] / (count[enough] - 1))
    return out


def _rolling_extreme(past: _Past, f: RollingMin | RollingMax) -> NDArray[np.float64]:
    pick = np.fmin if isinstance(f, RollingMin) else np.fmax
    m = len(past.targets)
    acc = np.full(m, np.nan)
    count = np.zeros(m, np.int64)
    for d in range(f.lag + f.window - 1, f.lag - 1, -1):
        v = past.at(d)
        count += ~np.isnan(v)
        pick(acc, v, out=acc)
    acc[count < f.periods] = np.nan
    return acc


def calendar_field(
    ds: NDArray[np.int64], f: HourOfDay | DayOfWeek | MinuteOfHour
) -> NDArray[np.float64]:
    if isinstance(f, HourOfDay):
        field = np.floor_divide(ds, _NS_HOUR) % 24
    elif isinstance(f, DayOfWeek):
        field = (np.floor_divide(ds, _NS_DAY) + _EPOCH_WEEKDAY) % 7
    else:
        field = np.floor_divide(ds, _NS_MINUTE) % 60
    return field.astype(np.float64)


def feature_rows(
    features: Sequence[Feature],
    values: NDArray[np.float64],
    targets: NDArray[np.int64],
    age: NDArray[np.int64],
    ds: NDArray[np.int64],
) -> NDArray[np.float64]:
    """The ``(len(targets), len(features))`` matrix of feature rows.

    ``values`` is the buffer of past values (NaN = missing); ``targets[j]`` the position
    of row ``j`` in it (up to ``len(values)``); ``age[j]`` how many points of row ``j``'s
    series precede it in the buffer; ``ds[j]`` its time (ns since the epoch, UTC).
    """
    assert len(targets) == len(age) == len(ds)
    past = _Past(values, targets, age, _lookback(features))
    out = np.empty((len(targets), len(features)), np.float64)
    for col, f in enumerate(features):
        if isinstance(f, Lag):
            out[:, col] = _lag(past, f.k)
        elif isinstance(f, RollingMean):
            out[:, col] = _rolling_mean(past, f)
        elif isinstance(f, RollingStd):
            out[:, col] = _rolling_std(past, f)
        elif isinstance(f, RollingMin | RollingMax):
            out[:, col] = _rolling_extreme(past, f)
        else:
            out[:, col] = calendar_field(ds, f)
    return out


def _lookback(features: Sequence[Feature]) -> int:
    return max((f.lookback for f in features), default=0)
