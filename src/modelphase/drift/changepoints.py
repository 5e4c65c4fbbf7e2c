"""Offline change points: where a series' regime changes, found after the fact.

The series is cut into segments, each a straight line (a level and a slope) with its
own noise, by PELT (Killick, Fearnhead and Eckley 2012: the exact optimal
segmentation in about linear time). A segment of ``L`` rows costs ``L log(s²)``, with
``s²`` the variance of its residuals around its least-squares line (``-2`` log
likelihood of a Gaussian line), and every change point adds ``PENALTY log(n)`` per
column. So a steady trend is one regime (a growing population is no change), while a
step in level, a turn in slope or a change of variance starts a new one. Each column
is standardised first and the residual variance is floored at ``VARIANCE_FLOOR`` of
its variance: wiggles smaller than a tenth of a standard deviation of the whole series
are noise, not regimes (and short, nearly exact lines cannot buy an infinite gain).

One parameter set serves every input. ``PENALTY`` and ``VARIANCE_FLOOR`` were chosen
by leave-one-series-out on the TCPD development series (``benchmarks/changepoint.py``),
where this beat binary segmentation and PELT with TCPDBench's default settings on both
F1 and Cover.

Inputs are cleaned at the edge: infinities and NaN are filled with the last finite
value before them (the first finite one at the start), columns with no finite value or
no spread are dropped (a constant series has no change point), and a series shorter
than two segments of ``MIN_SIZE`` rows has none. Above ``MAX_POINTS`` rows the series
is averaged over blocks of ``ceil(n / MAX_POINTS)`` rows first, so the time stays
bounded (PELT's worst case is quadratic in the points) and positions are to within a
block.

>>> import numpy as np
>>> x = np.r_[np.zeros(100), np.full(100, 3.0)] + np.random.default_rng(0).normal(0, 0.5, 200)
>>> changepoints(x)
[100]
>>> changepoints(np.arange(500.0))  # a trend is one regime
[]
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from modelphase.exceptions import ValidationError

__all__ = ["MAX_POINTS", "MIN_SIZE", "PENALTY", "VARIANCE_FLOOR", "changepoints"]

#: the cost of one change point, in units of ``log(n)``, per column
PENALTY = 6.0
#: the smallest residual variance of a segment, as a share of its column's variance
VARIANCE_FLOOR = 0.01
#: the fewest rows in a segment
MIN_SIZE = 5
#: longer series are averaged over blocks to at most this many points first
MAX_POINTS = 2_000

_Cost = Callable[[NDArray[np.intp], int], NDArray[np.float64]]


def changepoints(
    values: ArrayLike,
    *,
    penalty: float = PENALTY,
    variance_floor: float = VARIANCE_FLOOR,
    min_size: int = MIN_SIZE,
) -> list[int]:
    """The 0-based rows where a new regime starts (never 0), in order, for an
    ``(n,)`` series or an ``(n, d)`` table of ``d`` series that change together."""
    if not penalty >= 0:
        raise ValidationError(f"penalty: expected a number >= 0, got {penalty}")
    if not variance_floor > 0:
        raise ValidationError(f"variance_floor: expected a number > 0, got {variance_floor}")
    if min_size < 2:
        raise ValidationError(f"min_size: expected 2 or more rows, got {min_size}")
    x = np.asarray(values, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValidationError(
            f"values: expected an (n,) or (n, d) array, got {x.ndim} dimensions "
            f"(shape {x.shape}); pass one series or a table of series as columns"
        )
    n = len(x)
    block = -(-n // MAX_POINTS) if n else 1
    z = _standardised(_blocks(_filled(x), block))
    m = max(2, -(-min_size // block))
    if z.shape[1] == 0 or len(z) < 2 * m:
        return []
    cost = _line_cost(z, variance_floor)
    found = _pelt(cost, len(z), penalty * np.log(len(z)) * z.shape[1], m)
    return [int(i) * block for i in found if 0 < i * block < n]


def _filled(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Each column's non-finite cells as the last finite value before (or the first
    after, at the start); columns with no finite value are dropped."""
    ok = np.isfinite(x)
    keep = ok.any(axis=0)
    x, ok = x[:, keep], ok[:, keep]
    if x.size == 0:
        return x
    rows = np.arange(len(x))[:, None]
    before = np.maximum.accumulate(np.where(ok, rows, -1), axis=0)
    first = ok.argmax(axis=0)
    at = np.where(before < 0, first[None, :], before)
    return np.take_along_axis(x, at, axis=0)


def _blocks(x: NDArray[np.float64], block: int) -> NDArray[np.float64]:
    """Means over consecutive blocks of ``block`` rows (the last may be shorter)."""
    if block <= 1:
        return x
    starts = np.arange(0, len(x), block)
    sums = np.add.reduceat(x, starts, axis=0)
    sizes = np.diff(np.append(starts, len(x)))[:, None]
    return np.asarray(sums / sizes, dtype=np.float64)


def _standardised(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Columns to mean 0, sd 1; columns with no spread are dropped."""
    if len(x) == 0:
        return x
    sd = x.std(axis=0)
    keep = sd > 1e-12 * np.maximum(1.0, np.abs(x).max(axis=0))
    return np.asarray((x[:, keep] - x[:, keep].mean(axis=0)) / sd[keep], dtype=np.float64)


def _line_cost(z: NDArray[np.float64], floor: float) -> _Cost:
    """``cost(starts, end)``: ``L log(max(rss / L, floor))`` of rows ``start..end-1``
    around their least-squares line, summed over columns, from cumulative sums."""
    n = len(z)
    t = np.arange(n, dtype=np.float64) / n

    def cum(a: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.concatenate([np.zeros((1, *a.shape[1:])), np.cumsum(a, axis=0)])

    t1, t2 = cum(t), cum(t * t)
    sx, stx, sxx = cum(z), cum(t[:, None] * z), cum(z * z)

    def cost(starts: NDArray[np.intp], end: int) -> NDArray[np.float64]:
        size = (end - starts).astype(np.float64)
        a1, a2 = t1[end] - t1[starts], t2[end] - t2[starts]
        s1, s2 = sx[end] - sx[starts], sxx[end] - sxx[starts]
        cross = stx[end] - stx[starts] - (a1 / size)[:, None] * s1
        spread = np.maximum(a2 - a1 * a1 / size, 1e-300)[:, None]
        rss = np.maximum(s2 - s1 * s1 / size[:, None] - cross * cross / spread, 0.0)
        var = np.maximum(rss / size[:, None], floor)
        return np.asarray((size[:, None] * np.log(var)).sum(axis=1), dtype=np.float64)

    return cost


def _pelt(cost: _Cost, n: int, penalty: float, min_size: int) -> list[int]:
    """The starts of the optimal segmentation's segments after the first (PELT)."""
    best = np.full(n + 1, np.inf)
    best[0] = -penalty
    last = np.zeros(n + 1, dtype=np.intp)
    live = np.array([0], dtype=np.intp)
    for end in range(min_size, n + 1):
        if end - min_size >= min_size:
            live = np.append(live, end - min_size)
        total = best[live] + cost(live, end)
        i = int(np.argmin(total))
        best[end] = total[i] + penalty
        last[end] = live[i]
        live = live[total <= best[end]]  # can never start the last segment again
    found, end = [], n
    while end > 0:
        end = int(last[end])
        found.append(end)
    return sorted(found[:-1])
