"""Rolling-origin splits: train on everything up to a cutoff, test on the next ``h``
points after an optional ``gap``, for ``n_windows`` cutoffs ``step`` points apart.

Cutoffs are times on the panel's grid, counted back from its last point, so every series
of a dataset is cut at the same moments (the way the model will be used: trained at one
time, forecasting what comes next). A fold never gives a model anything after its
cutoff; the test window starts ``gap + 1`` steps after it.

>>> from modelphase.frame import Panel
>>> import numpy as np
>>> p = Panel.from_series([("a", np.arange(10) * 60, np.arange(10.0))], step=60)
>>> [(f.cutoff // 60, f.test_start // 60, f.test_end // 60) for f in folds(p, h=2, n_windows=3)]
[(3, 4, 5), (5, 6, 7), (7, 8, 9)]
>>> train, test = split(p, folds(p, h=2, n_windows=1)[0])
>>> train.y.tolist()[-1], test.y.tolist()
(7.0, [8.0, 9.0])
"""

from __future__ import annotations

from dataclasses import dataclass

from modelphase.exceptions import ValidationError
from modelphase.frame import Panel, format_time

__all__ = ["Fold", "folds", "split"]


@dataclass(frozen=True)
class Fold:
    """One backtest window: train on ``ds <= cutoff``, test on
    ``test_start <= ds <= test_end`` (all ns since the epoch)."""

    cutoff: int
    test_start: int
    test_end: int

    def to_dict(self) -> dict[str, str]:
        return {
            "cutoff": format_time(self.cutoff),
            "test_start": format_time(self.test_start),
            "test_end": format_time(self.test_end),
        }


def folds(
    panel: Panel, *, h: int, n_windows: int = 3, step: int | None = None, gap: int = 0
) -> list[Fold]:
    """The ``n_windows`` folds of a gridded panel, oldest first.

    ``step`` (points between cutoffs) defaults to ``h``, so test windows tile the end of
    the data without overlapping.
    """
    if panel.step is None:
        raise ValidationError("expected a panel on its grid (with a step) to backtest")
    if h < 1 or n_windows < 1 or gap < 0:
        raise ValidationError(
            f"expected h >= 1, n_windows >= 1 and gap >= 0, got h={h}, "
            f"n_windows={n_windows}, gap={gap}"
        )
    step = h if step is None else step
    if step < 1:
        raise ValidationError(f"expected a step of at least 1 point, got {step}")
    if panel.n_points == 0:
        raise ValidationError("expected data to backtest, got an empty panel")
    first, last = int(panel.ds.min()), int(panel.ds.max())
    needed = (gap + h + (n_windows - 1) * step) * panel.step
    if last - needed < first:
        span = (last - first) // panel.step + 1
        raise ValidationError(
            f"the data has {span} points per series at most, too few for {n_windows} "
            f"windows of h={h} (step {step}, gap {gap}): that needs more than "
            f"{needed // panel.step}. Fix: lower the horizon or the windows, or use more "
            "history"
        )
    out = []
    for k in range(n_windows):
        back = (n_windows - 1 - k) * step
        test_end = last - back * panel.step
        test_start = test_end - (h - 1) * panel.step
        cutoff = test_start - (gap + 1) * panel.step
        out.append(Fold(cutoff, test_start, test_end))
    return out


def split(panel: Panel, fold: Fold) -> tuple[Panel, Panel]:
    """``(train, test)`` of one fold; series with no training data are left out of both."""
    train = panel.take(panel.ds <= fold.cutoff, drop_empty=True)
    test = panel.take((panel.ds >= fold.test_start) & (panel.ds <= fold.test_end), drop_empty=True)
    both = set(train.ids) & set(test.ids)
    return train.subset(sorted(both)), test.subset(sorted(both))
