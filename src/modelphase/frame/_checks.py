"""Validation and the regular grid: finite values, order, the step, ``to_grid``."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from modelphase.exceptions import (
    DuplicateTimestampError,
    EmptyInputError,
    MixedStepError,
    NonFiniteValueError,
    NonMonotonicTimestampError,
    ValidationError,
)
from modelphase.frame._panel import Panel
from modelphase.frame._time import format_duration, format_time

__all__ = ["check_finite", "check_order", "infer_step", "to_grid"]


def check_finite(panel: Panel, *, nonfinite: str = "error") -> Panel:
    """Reject NaN and +-Inf samples (``nonfinite="error"``) or drop them (``"drop"``).

    Dropped samples become missing points once the panel is put on its grid.
    """
    bad = ~np.isfinite(panel.y)
    if not bad.any():
        return panel
    if nonfinite == "drop":
        keep = ~bad
        return panel.take(keep)
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
    # k and the offset from grid point k, with as few full-size temporaries as possible
    off = panel.ds - origin
    if tolerance:
        off += step // 2
    k = np.empty_like(off)
    np.divmod(off, step, out=(k, off))
    if tolerance:
        off -= step // 2
        bad = np.abs(off) > tolerance
    else:
        bad = off != 0
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
    last_k = (end - origin) // step if end is not None else None
    if panel.n_points and (k.min() < 0 or (last_k is not None and k.max() > last_k)):
        outside = (k < 0) | (k > last_k if last_k is not None else False)
        where = np.flatnonzero(outside)
        uids, rows = _offenders(panel, where)
        raise ValidationError(
            f"expected samples within {format_time(origin)} .. "
            f"{format_time(end) if end is not None else '(open)'}, found {len(where)} outside",
            unique_ids=uids,
            rows=rows,
            hint="the source answered outside the requested range; check the query",
        )
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
    return Panel(panel.ids, indptr, ds.astype(np.int64, copy=False), y, step=step)


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
