"""Why an episode is an anomaly: the expected value and range, the size of the
deviation, and which pattern broke.

The expected value comes from the stream's own history before the episode, by one of
two baselines, whichever fits that history better (the smaller spread of its residuals
over the last day before the episode):

- ``day``: the median of the last day; spread ``1.4826 * MAD`` (robust: a past
  incident inside that day moves neither much);
- ``time_of_day``: the median of the values at the same time of day on the earlier days
  of the history; spread from the residuals of the last day against the same rule (it
  needs two days of history).

The spread is a robust standard deviation ("sd" in messages). The range is
``expected ± band * spread``; the deviation is ``observed - expected`` at the peak (the
episode's highest-scored point), in spreads and as a share of the expected value. The
pattern is read from the deviations ``d = (x - expected) / spread`` of the points from
``lookback`` before the episode to its close, by the first rule that holds:

1. ``none``: the peak is inside the range (the detector's longer memory disagrees with
   the recent history: often a false alert);
2. ``variance``: the spread grew without a level change: points left the range on both
   sides (at least two on each, the smaller side at least a quarter of them) while the
   median ``d`` over the episode stayed within one spread;
3. ``spike`` (above) / ``dip`` (below): short: the run of the peak (the stretch around
   it where the deviation in the peak's direction exceeds half the band; after a gap
   of up to three points it goes on where the deviation is back beyond the band; each
   point counts for one sampling step, so three hourly points last three hours) is one
   point or lasts less than ``short``;
4. ``seasonality``: on the ``time_of_day`` baseline, the peak value lies inside the last
   day's 1%..99% range: normal for the day overall, wrong for its time of day;
5. ``trend``: a lasting deviation that grew: a straight line fitted to the deviation
   over the run rises by at least half the band from the run's start to its end, and
   by more than the deviation jumped on entering the run (the line's start against the
   median of the five points before the run);
6. ``level``: any other lasting deviation (a shift that persists).

>>> import numpy as np
>>> minute = 60 * 10**9
>>> rng = np.random.default_rng(0)
>>> before_t = np.arange(1440) * minute  # a day of calm history
>>> before_x = 10.0 + rng.normal(0.0, 1.0, 1440)
>>> window_t = np.arange(1440, 1560) * minute  # then a lasting shift of +8
>>> window_x = 18.0 + rng.normal(0.0, 1.0, 120)
>>> e = explain(before_t, before_x, window_t, window_x, peak=int(window_t[0]))
>>> e.pattern, e.baseline, round(e.expected), round(e.deviation_spreads) > 5
('level', 'day', 10, True)
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from modelphase.exceptions import ValidationError
from modelphase.frame import NS_PER_SECOND, format_duration, format_time

__all__ = ["PATTERNS", "Expectation", "Explanation", "expectation", "explain"]

#: Every pattern an explanation can name.
PATTERNS: tuple[str, ...] = ("level", "spike", "dip", "variance", "trend", "seasonality", "none")

DAY = 86_400 * NS_PER_SECOND
_MAD = 1.4826  # MAD to standard deviation under normal noise
_MIN_POINTS = 10  # least points of history for a baseline
_GAP = 3  # in-range points a run may skip

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


@dataclass(frozen=True)
class Explanation:
    """An episode's peak against its expected value, and the pattern that broke.

    ``at`` is the peak's time (ns); ``lower``/``upper`` the range ``expected ± band *
    spread``; ``deviation_ratio`` is ``deviation / |expected|`` (None when expected is
    0); ``baseline`` is ``day`` or ``time_of_day``; ``reason`` says in words why
    ``pattern`` was chosen.
    """

    at: int
    observed: float
    expected: float
    lower: float
    upper: float
    spread: float
    baseline: str
    deviation: float
    deviation_spreads: float
    deviation_ratio: float | None
    pattern: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict; the time as RFC 3339 UTC, non-finite numbers as None."""
        data = asdict(self)
        data["at"] = format_time(self.at)
        return {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in data.items()
        }

    def summary(self) -> str:
        """One line: ``observed vs expected (range): deviation, pattern``."""
        ratio = "" if self.deviation_ratio is None else f", {self.deviation_ratio:+.0%}"
        return (
            f"{self.observed:.4g} vs expected {self.expected:.4g} "
            f"({self.lower:.4g}..{self.upper:.4g}): {self.deviation_spreads:+.1f} sd"
            f"{ratio}, {self.pattern}"
        )


@dataclass(frozen=True)
class _Baseline:
    name: str
    spread: float
    level: float  # the day's median (the expected value of the day baseline)
    low: float  # the day's 1% and 99% quantiles
    high: float


def explain(
    before_t: I64 | list[int],
    before_x: F64 | list[float],
    window_t: I64 | list[int],
    window_x: F64 | list[float],
    peak: int,
    *,
    band: float = 3.0,
    short: int = 30 * 60 * NS_PER_SECOND,
    lookback: int = 6 * 3600 * NS_PER_SECOND,
) -> Explanation:
    """The explanation of an episode (see the module's docstring for the rules).

    ``before_*`` is the history before the episode's start (times ascending, ns);
    ``window_*`` the points from the start to the close; ``peak`` the time of the
    highest-scored point, one of ``window_t``. ``short`` and ``lookback`` are ns.
    """
    bt, bx = np.asarray(before_t, np.int64), np.asarray(before_x, np.float64)
    wt, wx = np.asarray(window_t, np.int64), np.asarray(window_x, np.float64)
    hits = np.flatnonzero(wt == peak)
    if not hits.size:
        raise ValidationError(
            f"expected the peak ({peak}) to be one of the window's {len(wt)} times",
            hint="pass the time of the episode's highest-scored point",
        )
    observed = float(wx[hits[0]])
    start = int(wt[0])
    keep = np.isfinite(bx)
    bt, bx = bt[keep], bx[keep]
    flat, base = _choose(bt, bx, start)
    if flat is None or base is None:
        reason = "too little history before the episode for an expected value"
        return _explained(peak, observed, math.nan, math.nan, "day", band, "none", reason)
    # the points the pattern is read from: ``lookback`` before the start, then the window
    near = bt >= start - lookback
    t = np.concatenate([bt[near], wt])
    x = np.concatenate([bx[near], wx])
    at = int(near.sum()) + int(hits[0])
    expected_all = _same_time(bt, bx, t) if base.name == "time_of_day" else None
    if expected_all is None or not math.isfinite(expected_all[at]):
        base = flat  # (no earlier day at the peak's time of day)
        expected_all = np.full(len(t), flat.level)
    expected = float(expected_all[at])
    d = (x - expected_all) / base.spread
    pattern, reason = _pattern(t, d, at, start, base, observed, band, short)
    return _explained(peak, observed, expected, base.spread, base.name, band, pattern, reason)


def _explained(
    peak: int,
    observed: float,
    expected: float,
    spread: float,
    baseline: str,
    band: float,
    pattern: str,
    reason: str,
) -> Explanation:
    deviation = observed - expected
    ratio = deviation / abs(expected) if expected and math.isfinite(expected) else None
    return Explanation(
        at=int(peak),
        observed=observed,
        expected=expected,
        lower=expected - band * spread,
        upper=expected + band * spread,
        spread=spread,
        baseline=baseline,
        deviation=deviation,
        deviation_spreads=deviation / spread if spread > 0 else math.nan,
        deviation_ratio=ratio,
        pattern=pattern,
        reason=reason,
    )


def _pattern(
    t: I64,
    d: F64,
    at: int,
    start: int,
    base: _Baseline,
    observed: float,
    band: float,
    short: int,
) -> tuple[str, str]:
    """The pattern and its reason; ``at`` is the peak's index in ``t`` and ``d``."""
    dp = float(d[at])
    if not abs(dp) > band:
        return "none", f"the peak is {dp:+.1f} sd from expected, inside ±{band:g} sd"
    sign = 1.0 if dp > 0 else -1.0
    episode = (t >= start) & np.isfinite(d)
    out = episode & (np.abs(d) > band)
    n_up, n_down = int((out & (d > 0)).sum()), int((out & (d < 0)).sum())
    center = float(np.median(d[episode]))
    if min(n_up, n_down) >= 2 and min(n_up, n_down) * 4 >= n_up + n_down and abs(center) < 1:
        return "variance", (
            f"out of range on both sides ({n_up} above, {n_down} below) while the median "
            f"stayed {center:+.1f} sd from expected"
        )
    z = sign * d
    lo, hi = _run(z, at, band / 2)
    # each point of a run stands for one step; a run of one point is short at any step
    lasted = int(t[hi - 1] - t[lo]) + _step(t) if hi - lo > 1 else 0
    if lasted < short:
        kind = "spike" if sign > 0 else "dip"
        return kind, (
            f"{dp:+.1f} sd at the peak, off by more than {band / 2:g} sd for "
            f"{_span(lasted)} only (less than {format_duration(short)})"
        )
    if base.name == "time_of_day" and base.low <= observed <= base.high:
        return "seasonality", (
            f"{observed:.4g} is inside the last day's range ({base.low:.4g}..{base.high:.4g}) "
            f"but {dp:+.1f} sd from the same time on earlier days"
        )
    run_t, run_z = t[lo:hi], z[lo:hi]
    ok = np.isfinite(run_z)
    hours = (run_t[ok] - run_t[0]) / 3.6e12
    slope, first = (float(c) for c in np.polyfit(hours, run_z[ok], 1))
    growth = slope * float(hours[-1])
    prior = z[max(0, lo - 5) : lo]
    prior = prior[np.isfinite(prior)]
    jump = first - (float(np.median(prior)) if prior.size else 0.0)
    if growth >= band / 2 and growth > jump:
        return "trend", (
            f"the deviation grew by {sign * growth:+.1f} sd over {_span(lasted)} "
            f"(it entered at {sign * first:+.1f})"
        )
    return "level", (
        f"shifted {sign * first:+.1f} sd and stayed off for {_span(lasted)}"
        f"{' or more' if hi == len(t) else ''} (change over it {sign * growth:+.1f})"
    )


def _span(ns: int) -> str:
    return format_duration(ns) if ns > 0 else "one point"


def _step(t: I64) -> int:
    """The sampling interval: the median gap between points (0 for a single point)."""
    return int(np.median(np.diff(t))) if len(t) > 1 else 0


@dataclass(frozen=True)
class Expectation:
    """The expected value and spread after an episode's start, from the history before
    it, by the baseline :func:`explain` would choose (``time_of_day`` falls back to the
    day's median where no earlier day has the time)."""

    baseline: str
    level: float
    spread: float
    before_t: I64
    before_x: F64

    def deviation(self, t: int, x: float) -> float:
        """``(x - expected) / spread`` at time ``t`` (ns)."""
        expected = self.level
        if self.baseline == "time_of_day":
            found = float(_same_time(self.before_t, self.before_x, np.array([t], np.int64))[0])
            if math.isfinite(found):
                expected = found
        return (x - expected) / self.spread


def expectation(
    before_t: I64 | list[int], before_x: F64 | list[float], start: int
) -> Expectation | None:
    """What the points from ``start`` on are held to (None without enough history).

    >>> minute = 60 * 10**9
    >>> calm = 10.0 + np.arange(100) % 2  # 10, 11, 10, 11, ...
    >>> e = expectation(np.arange(100) * minute, calm, 100 * minute)
    >>> e.baseline, round(e.deviation(100 * minute, 20.0))
    ('day', 13)
    """
    bt, bx = np.asarray(before_t, np.int64), np.asarray(before_x, np.float64)
    keep = np.isfinite(bx)
    bt, bx = bt[keep], bx[keep]
    _, base = _choose(bt, bx, int(start))
    if base is None:
        return None
    return Expectation(base.name, base.level, base.spread, bt, bx)


def _run(z: F64, at: int, floor: float) -> tuple[int, int]:
    """``[lo, hi)``: the stretch around ``at`` where ``z > floor``; after a gap of up to
    three points it goes on only where ``z`` is back beyond ``2 * floor`` (noise that
    brushes the floor now and then does not string a spike into a lasting run)."""
    ok = np.isfinite(z)
    inside, strong = ok & (z > floor), ok & (z > 2 * floor)
    lo = hi = at
    gap = 0
    i = at - 1
    while i >= 0 and gap <= _GAP:
        if strong[i] or (inside[i] and gap == 0):
            lo, gap = i, 0
        else:
            gap += 1
        i -= 1
    gap = 0
    i = at + 1
    while i < len(z) and gap <= _GAP:
        if strong[i] or (inside[i] and gap == 0):
            hi, gap = i, 0
        else:
            gap += 1
        i += 1
    return lo, hi + 1


def _robust(values: F64) -> tuple[float, float]:
    """Median and spread (``1.4826 * MAD``; the mean absolute deviation when the MAD is
    0; a tiny positive number for a constant)."""
    center = float(np.median(values))
    dev = np.abs(values - center)
    spread = _MAD * float(np.median(dev))
    if spread <= 0.0:
        spread = 1.2533 * float(dev.mean())
    if spread <= 0.0:
        spread = max(abs(center) * 1e-9, 1e-12)
    return center, spread


def _choose(bt: I64, bx: F64, start: int) -> tuple[_Baseline | None, _Baseline | None]:
    """The day baseline, and the baseline that fits the last day before ``start``
    better; None without enough history."""
    day = bt >= start - DAY
    if int(day.sum()) < _MIN_POINTS:
        return None, None
    values = bx[day]
    level, spread = _robust(values)
    low, high = (float(q) for q in np.quantile(values, [0.01, 0.99]))
    flat = _Baseline("day", spread, level, low, high)
    expected = _same_time(bt, bx, bt[day])
    residuals = (values - expected)[np.isfinite(expected)]
    if residuals.size < max(_MIN_POINTS, values.size // 2):
        return flat, flat
    _, tod_spread = _robust(residuals)
    if tod_spread < spread:
        return flat, _Baseline("time_of_day", tod_spread, level, low, high)
    return flat, flat


def _same_time(bt: I64, bx: F64, times: I64) -> F64:
    """For each time, the median of the history's values at the same time of day on
    earlier days (NaN where there is none); a value counts when within half a step."""
    if bt.size < 2:
        return np.full(len(times), np.nan)
    tolerance = int(np.median(np.diff(bt))) // 2
    days = int((int(times.max()) - int(bt[0])) // DAY)
    found = np.full((max(days, 1), len(times)), np.nan)
    last = len(bt) - 1
    for k in range(1, days + 1):
        target = times - k * DAY
        i = np.clip(np.searchsorted(bt, target), 1, last)
        left = np.abs(bt[i - 1] - target) <= np.abs(bt[i] - target)
        j = np.where(left, i - 1, i)
        ok = np.abs(bt[j] - target) <= tolerance
        found[k - 1, ok] = bx[j[ok]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: no earlier day
        return np.asarray(np.nanmedian(found, axis=0), dtype=np.float64)
