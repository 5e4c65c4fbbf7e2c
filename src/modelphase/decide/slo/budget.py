"""An SLO's error budget from its SLI's events: how much is left over the period, how
fast it burns over each alert window, and when a path of future events exhausts it.

The definitions are Sloth's, so that the numbers agree with the rules
:func:`~modelphase.decide.slo.rule_groups` records: over a window, the error ratio is
bad events over all events, the burn rate is that ratio over the error budget
(``1 - objective``), and the budget remaining over the period is ``1 - ratio /
budget`` (negative once overspent). The period is rolling: at any time it is the
period's length of steps that end then, so old bad minutes leave it as new ones come.

>>> step = 60 * 10**9
>>> events = SliEvents.on_grid(
...     np.arange(4) * step, errors=[0, 1, 0, 3], total=[100, 100, 100, 100], step=step
... )
>>> ratio, n, _ = window_ratio(events, 4 * 60)
>>> round(ratio, 4), n
(0.01, 400.0)
>>> [(b.window, round(b.burn_rate, 1)) for b in burn_rates(events, 0.001, [60, 240])]
[(60, 30.0), (240, 10.0)]
>>> first_exhaustion(events, 0.05, 8 * 60, errors=[10, 20], total=[100, 100])
2
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from modelphase.exceptions import ValidationError

__all__ = [
    "Burn",
    "SliEvents",
    "burn_rates",
    "first_exhaustion",
    "window_ratio",
]

F64 = NDArray[np.float64]


@dataclass(frozen=True)
class SliEvents:
    """An SLI as events per step: ``errors`` (bad events) and ``total`` (all events)
    in the step that starts at ``ds[i]`` (ns since the epoch, ``step`` ns apart, no
    gaps); NaN where the step has no data. Build one with :meth:`on_grid`."""

    ds: NDArray[np.int64]
    errors: F64
    total: F64
    step: int

    @classmethod
    def on_grid(cls, ds: ArrayLike, errors: ArrayLike, total: ArrayLike, step: int) -> SliEvents:
        """Events from samples at times ``ds`` (ns), summed into steps of ``step`` ns
        aligned to the epoch; a step without samples is NaN. Raise
        :class:`~modelphase.exceptions.ValidationError` on mismatched lengths,
        negative counts or an empty input."""
        t = np.asarray(ds, dtype=np.int64)
        e = np.asarray(errors, dtype=np.float64)
        n = np.asarray(total, dtype=np.float64)
        if step <= 0:
            raise ValidationError(f"expected a step > 0 ns, got {step}")
        if not (t.shape == e.shape == n.shape) or t.ndim != 1:
            raise ValidationError(
                f"expected as many error and total counts as times, got {e.size} errors, "
                f"{n.size} totals for {t.size} times"
            )
        keep = np.isfinite(e) & np.isfinite(n)
        if (e[keep] < 0).any() or (n[keep] < 0).any():
            raise ValidationError(
                "expected event counts >= 0, got a negative one",
                hint="pass counts or rates of events, not differences of counters",
            )
        t, e, n = t[keep], e[keep], n[keep]
        if not t.size:
            raise ValidationError(
                "expected SLI samples with both an error and a total value, got none",
                hint="check the SLI's series or queries and the time range",
            )
        bins = np.floor_divide(t, step)
        first = int(bins.min())
        index = (bins - first).astype(np.int64)
        size = int(index.max()) + 1
        err_sum = np.bincount(index, weights=e, minlength=size).astype(np.float64)
        tot_sum = np.bincount(index, weights=n, minlength=size).astype(np.float64)
        seen = np.bincount(index, minlength=size) > 0
        err_sum[~seen] = np.nan
        tot_sum[~seen] = np.nan
        grid = (np.arange(size, dtype=np.int64) + first) * step
        return cls(grid, err_sum, tot_sum, step)

    @property
    def end(self) -> int:
        """The end of the last step (ns): the time the SLI is known up to."""
        return int(self.ds[-1]) + self.step

    def upto(self, end: int) -> SliEvents:
        """The steps that end by ``end`` (ns)."""
        keep = self.ds + self.step <= end
        return SliEvents(self.ds[keep], self.errors[keep], self.total[keep], self.step)

    def pad_to(self, end: int) -> SliEvents:
        """These events with steps without data (NaN) added up to ``end`` (ns)."""
        extra = max(0, -(-(end - self.end) // self.step))
        if not extra:
            return self
        more = self.end + np.arange(extra, dtype=np.int64) * self.step
        nan = np.full(extra, np.nan)
        return SliEvents(
            np.concatenate([self.ds, more]),
            np.concatenate([self.errors, nan]),
            np.concatenate([self.total, nan]),
            self.step,
        )

    def resample(self, step: int) -> SliEvents:
        """The same events in steps of ``step`` ns (a multiple of this step); a step
        is NaN only where none of its parts has data."""
        if step == self.step:
            return self
        if step % self.step:
            raise ValidationError(
                f"expected a step that is a multiple of {self.step} ns, got {step}"
            )
        return SliEvents.on_grid(self.ds, self.errors, self.total, step)


@dataclass(frozen=True)
class Burn:
    """One window's burn: its length (seconds), the error ratio over it, that ratio
    over the budget, the events it counted, and the share of its steps with data."""

    window: int
    error_ratio: float | None
    burn_rate: float | None
    events: float
    coverage: float


def window_ratio(events: SliEvents, window: int) -> tuple[float | None, float, float]:
    """The error ratio over the last ``window`` seconds (None without events), the
    events counted and the share of the window's steps that have data."""
    steps = max(1, -(-window * 10**9 // events.step))
    err = events.errors[-steps:]
    tot = events.total[-steps:]
    seen = np.isfinite(tot)
    n = float(tot[seen].sum())
    ratio = float(err[seen].sum()) / n if n > 0 else None
    return ratio, n, float(seen.sum()) / steps


def burn_rates(events: SliEvents, budget: float, windows: Sequence[int]) -> list[Burn]:
    """The burn over each window (seconds), in the order given."""
    out = []
    for window in windows:
        ratio, n, coverage = window_ratio(events, window)
        rate = None if ratio is None else ratio / budget
        out.append(Burn(int(window), ratio, rate, n, coverage))
    return out


def first_exhaustion(
    events: SliEvents,
    budget: float,
    period: int,
    *,
    errors: ArrayLike,
    total: ArrayLike,
) -> int | None:
    """The number of future steps after which the budget is spent (the period's
    error ratio reaches ``budget``) when ``errors`` and ``total`` are the events of
    the steps that follow ``events``; 0 when it is spent already, None when it
    lasts through them. Past steps without data count no events."""
    fut_e = np.clip(np.asarray(errors, dtype=np.float64), 0.0, None)
    fut_t = np.clip(np.asarray(total, dtype=np.float64), 0.0, None)
    past_e = np.nan_to_num(events.errors, nan=0.0)
    past_t = np.nan_to_num(events.total, nan=0.0)
    e = np.concatenate([[0.0], np.cumsum(np.concatenate([past_e, fut_e]))])
    t = np.concatenate([[0.0], np.cumsum(np.concatenate([past_t, fut_t]))])
    width = max(1, period * 10**9 // events.step)
    ends = np.arange(len(past_e), len(past_e) + len(fut_e) + 1)  # exclusive end indices
    starts = np.maximum(0, ends - width)
    bad = e[ends] - e[starts]
    all_ = t[ends] - t[starts]
    with np.errstate(invalid="ignore", divide="ignore"):
        spent = (all_ > 0) & (bad >= budget * all_)
    hit = np.flatnonzero(spent)
    return int(hit[0]) if hit.size else None
