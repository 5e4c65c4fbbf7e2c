"""Incident triage: which service most likely caused an anomaly, from wide telemetry.

The input is RCAEval's wide frame: a ``time`` column (Unix seconds) and one column per
metric named ``<service>_<metric>`` (``carts_lat_99`` is service ``carts``, metric
``lat_99``: the service is the part before the *first* underscore). ``at`` is the
anomaly's time; the rows before it are the normal period, the rows from it on the
anomalous period.

The method is BARO's robust scoring (Pham et al., "BARO: Robust Root Cause Analysis for
Microservices via Multivariate Bayesian Online Change Point Detection", FSE 2024), with
the change point given:

1. Per metric, the normal period's median ``m`` and spread ``s``, where ``s`` is the
   largest of the inter-quartile range, 1.4826 x the median absolute deviation, and
   two floors: ``RELATIVE_FLOOR x |m|`` (1%: a quiet metric's noise is not taken to be
   smaller than a 1% change) and ``RANGE_FLOOR x`` the largest deviation from ``m``
   seen anywhere in the column. A metric that is constant throughout scores 0.
2. Its robust z-score ``z = (x - m) / s`` at each anomalous row; the metric's score is
   the largest ``|z|`` there (BARO's choice: a hog or a leak moves its own metrics
   the most). A metric whose normal period shows *no* spread (inter-quartile range
   and median absolute deviation both 0: constant, or a count that is almost always
   0) has a z that is only a ratio to a floor: it is capped at ``THRESHOLD``, evidence
   that the metric changed but never ranked above a measured deviation. (BARO drops
   such columns; uncapped, on PetShop's normal period of two days, the sparse counts
   of rarely called components took every top place.)
3. Evidence: the time ``|z|`` first reached ``THRESHOLD`` (an earlier change is more
   likely the cause than its consequences), the direction and signed size at the peak,
   the normal median and the peak value.
4. A service's score is its best metric's; services are ranked by score, then by the
   earlier first change, then by name (deterministic). Every service with a column is
   ranked, one entry per service with its strongest metric; every service/metric pair
   is kept too, ranked the same way, in :attr:`Triage.metrics`.
5. With a call graph, each metric is first taken net of what its callees' metrics of
   the same name predict of it (:func:`net_of_callees`), and a service whose change
   one of its callees explains moves after every service nothing explains
   (:func:`explain`).

Real telemetry is untidy: rows are sorted by time (stably; repeated times are kept, each
row a sample), infinite values and cells that are not numbers count as missing, missing
values are ignored, and a column with no values before ``at`` (or none at all) scores
0 but its service is still ranked. All metrics are scored at once as one numpy array.

>>> import pandas as pd
>>> frame = pd.DataFrame({
...     "time": range(10),
...     "carts_cpu": [1, 1.1, 0.9, 1, 1.05, 9, 9.5, 9, 9, 9],
...     "orders_lat_99": [5, 5.2, 4.9, 5.1, 5, 5, 5.3, 5.1, 5, 5.2],
... })
>>> result = triage(frame, at=5)
>>> [(s.service, s.metric, s.direction) for s in result.ranking]
[('carts', 'cpu', 'up'), ('orders', 'lat_99', 'up')]
>>> result.ranking[0].changed_at
5.0
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from modelphase.exceptions import ValidationError

__all__ = [
    "EXPLAIN_FLOOR",
    "EXPLAIN_SHARE",
    "MAD_TO_SIGMA",
    "MIN_FIT_ROWS",
    "RANGE_FLOOR",
    "RELATIVE_FLOOR",
    "THRESHOLD",
    "Suspect",
    "Triage",
    "explain",
    "net_of_callees",
    "split_column",
    "triage",
]

#: the robust z-score at which a metric counts as changed (its first crossing is the
#: change's time)
THRESHOLD = 3.0
#: the spread's floor as a fraction of the normal median: a move of 1% of a level that
#: never moved before is one robust deviation
RELATIVE_FLOOR = 0.01
#: the spread's floor as a fraction of the column's largest deviation from the normal
#: median: caps a once-constant metric's score at ``1 / RANGE_FLOOR``
RANGE_FLOOR = 1e-3
#: a callee explains its caller's change when it moved at least this share of the
#: caller's score (:func:`explain`)
EXPLAIN_SHARE = 0.3
#: ... and at least this many robust deviations
EXPLAIN_FLOOR = 10.0
#: complete normal rows a metric needs beyond its regression's terms to be taken net
#: of its callees (:func:`net_of_callees`)
MIN_FIT_ROWS = 3
#: the median absolute deviation of a normal distribution times this is its sigma
MAD_TO_SIGMA = 1.4826
#: the spread's absolute floor (a metric that is 0 throughout scores 0, not NaN)
_TINY = 1e-12
TIME = "time"


@dataclass(frozen=True)
class Suspect:
    """One metric's evidence (and, in :attr:`Triage.ranking`, its service's).

    ``score`` is the largest ``|z|`` after the anomaly's time; ``changed_at`` the first
    time (Unix seconds) ``|z|`` reached :data:`THRESHOLD`, ``None`` if it never did;
    ``direction`` ``up``, ``down`` or ``none``; ``deviation`` the signed z at the peak;
    ``normal_median``, ``normal_spread`` and ``peak_value`` in the metric's own units
    (``None`` where the metric has no value); ``explained_by``, in
    :attr:`Triage.ranking` with a call graph, the callee whose own change explains this
    service's (``None`` when nothing downstream does); ``net_of``, with a call graph, the
    callees whose same-named metrics this metric was regressed on
    (:func:`net_of_callees`: its score, median, spread and peak are then those of the
    residual, the part of the metric its callees do not explain)."""

    service: str
    metric: str
    score: float
    changed_at: float | None
    direction: str
    deviation: float
    normal_median: float | None
    normal_spread: float | None
    peak_value: float | None
    explained_by: str | None = None
    net_of: tuple[str, ...] = ()

    @property
    def column(self) -> str:
        return f"{self.service}_{self.metric}" if self.metric else self.service


@dataclass(frozen=True)
class Triage:
    """The ranking: ``ranking`` one :class:`Suspect` per service (its strongest metric),
    most likely root cause first; ``metrics`` every service/metric pair in the same
    order of evidence."""

    at: float
    n_normal: int
    n_anomalous: int
    ranking: tuple[Suspect, ...]
    metrics: tuple[Suspect, ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON: ``{"at", "n_normal", "n_anomalous", "ranking": [...], "metrics":
        [...]}``, each entry a suspect's fields."""
        return {
            "at": self.at,
            "n_normal": self.n_normal,
            "n_anomalous": self.n_anomalous,
            "threshold": THRESHOLD,
            "ranking": [asdict(s) for s in self.ranking],
            "metrics": [asdict(s) for s in self.metrics],
        }


def split_column(name: str) -> tuple[str, str]:
    """RCAEval's convention: the service before the first underscore, the metric after
    (a name without one is a service with an unnamed metric).

    >>> split_column("carts_lat_99"), split_column("front-end")
    (('carts', 'lat_99'), ('front-end', ''))
    """
    service, _, metric = name.partition("_")
    return service, metric


def triage(
    frame: pd.DataFrame,
    at: float,
    *,
    calls: Sequence[tuple[str, str]] | None = None,
    names: Sequence[tuple[str, str]] | None = None,
) -> Triage:
    """Rank the services of a wide frame (``time`` plus ``<service>_<metric>`` columns)
    by how far their metrics moved from the normal period (rows before ``at``) in the
    anomalous one (rows from ``at`` on). ``calls``, the call graph as ``(caller,
    callee)`` service pairs, puts a service whose change a callee explains after those
    nothing explains (:func:`explain`). ``names``, the ``(service, metric)`` of each
    metric column in column order, replaces splitting each column's name at its first
    underscore (:func:`~modelphase.decide.triage_input.wide_from_panel` gives them). See
    the module's docstring for the method.

    Raises :class:`~modelphase.exceptions.ValidationError` when there is no ``time``
    column or it holds something other than finite numbers, when there are no metric
    columns, when ``at`` leaves no row before it or none from it on, or when ``calls``
    names none of the frame's services."""
    times, values, columns = _parse(frame)
    if names is None:
        pairs = [split_column(c) for c in columns]
    elif len(names) == len(columns):
        pairs = [(str(service), str(metric)) for service, metric in names]
    else:
        raise ValidationError(
            f"triage's names: expected one (service, metric) per metric column "
            f"({len(columns)}), got {len(names)}",
            hint="pass names in the frame's column order, without 'time'",
        )
    at = float(at)
    if not np.isfinite(at):
        raise ValidationError(
            f"the anomaly's time: expected finite Unix seconds, got {at}",
            hint="pass the anomaly's time as Unix seconds",
        )
    normal = times < at
    n_normal, n_anomalous = int(normal.sum()), int((~normal).sum())
    if n_normal == 0 or n_anomalous == 0:
        side = "no row before it" if n_normal == 0 else "no row at or after it"
        raise ValidationError(
            f"the anomaly's time: expected a time inside the data "
            f"({_s(times[0])} to {_s(times[-1])}) with rows before it (the normal period), "
            f"got {_s(at)}, which leaves {side}",
            hint="pass the anomaly's time in Unix seconds, after the first row",
        )
    net: list[tuple[str, ...]] = [()] * len(pairs)
    if calls is not None:
        values, net = net_of_callees(values, normal, pairs, calls)
    scored = _score(times, values, normal)
    suspects = [
        dataclasses.replace(Suspect(*pair, *fields), net_of=parents)
        for pair, fields, parents in zip(pairs, scored, net, strict=True)
    ]
    metrics = tuple(sorted(suspects, key=_order))
    best: dict[str, Suspect] = {}
    for suspect in metrics:  # already in order: the first of a service is its best
        best.setdefault(suspect.service, suspect)
    ranking = tuple(best.values())
    if calls is not None:
        ranking = explain(ranking, calls)
    return Triage(at, n_normal, n_anomalous, ranking, metrics)


def net_of_callees(
    values: NDArray[np.float64],
    normal: NDArray[np.bool_],
    pairs: Sequence[tuple[str, str]],
    calls: Sequence[tuple[str, str]],
) -> tuple[NDArray[np.float64], list[tuple[str, ...]]]:
    """Each metric less what its callees' same-named metrics predict of it.

    A caller's latency is partly its callees' latency: when a callee slows down, so
    does the caller, by as much as the caller's own code waits on it. Regressing each
    metric of a service on the metrics *of the same name* of its callees (least
    squares with an intercept, over the normal period's complete rows) and scoring the
    residual leaves the part of the change the callees do not explain: a caller that
    only passed its callee's slowdown on keeps little, the callee that caused it keeps
    all of its own. This is PyRCA's regression hypothesis testing (Li et al., KDD 2022)
    with the call graph as the causal graph, scored robustly as the rest of triage.
    A metric with no such callee metric, or with fewer complete normal rows than its
    regression has terms plus :data:`MIN_FIT_ROWS`, is kept as it is. Returns the new
    values (NaN where a callee's metric is missing) and each column's callees."""
    callees: dict[str, list[str]] = {}
    for caller, callee in calls:
        if caller != callee and callee not in callees.setdefault(caller, []):
            callees[caller].append(callee)
    column = {pair: j for j, pair in enumerate(pairs)}
    out = values.copy()
    net: list[tuple[str, ...]] = []
    for j, (service, metric) in enumerate(pairs):
        parents = [
            (c, column[(c, metric)]) for c in callees.get(service, ()) if (c, metric) in column
        ]
        x = values[:, [k for _, k in parents]]
        complete = normal & ~np.isnan(values[:, j]) & ~np.isnan(x).any(axis=1)
        if not parents or complete.sum() < len(parents) + 1 + MIN_FIT_ROWS:
            net.append(())
            continue
        design = np.column_stack([np.ones(int(complete.sum())), x[complete]])
        coef, *_ = np.linalg.lstsq(design, values[complete, j], rcond=None)
        out[:, j] = values[:, j] - (coef[0] + x @ coef[1:])
        net.append(tuple(c for c, _ in parents))
    return out, net


def explain(ranking: Sequence[Suspect], calls: Sequence[tuple[str, str]]) -> tuple[Suspect, ...]:
    """Prefer the services nothing downstream explains (the call graph's upstream causes).

    A slow or failing callee makes its callers slow or failing: the callers' change is
    the callee's consequence. A service is *explained* when one of its callees changed
    by at least :data:`EXPLAIN_SHARE` of the service's own score and at least
    :data:`EXPLAIN_FLOOR` robust deviations (a callee's small wobble explains nothing).
    The ranking keeps its order of evidence within each part: first every service no
    callee explains, then the explained ones, each with ``explained_by`` set to its
    strongest explaining callee. (PetShop's own baseline walks the same graph from the
    alerting service to the anomalous nodes without an anomalous callee; this keeps
    every service ranked and needs no alerting node.)

    Raises :class:`~modelphase.exceptions.ValidationError` when ``calls`` names none of
    the ranked services (the names do not match the columns')."""
    score = {s.service: s.score for s in ranking}
    callees: dict[str, set[str]] = {}
    for caller, callee in calls:
        if caller != callee:
            callees.setdefault(str(caller), set()).add(str(callee))
    named = set(callees) | {c for cs in callees.values() for c in cs}
    if calls and not named & set(score):
        shown = ", ".join(sorted(named)[:3])
        raise ValidationError(
            f"the call graph: expected services of the input's columns, got only others "
            f"({shown}{', ...' if len(named) > 3 else ''})",
            hint="name each service in the graph as in its <service>_<metric> columns",
        )
    first: list[Suspect] = []
    later: list[Suspect] = []
    for suspect in ranking:
        need = max(EXPLAIN_FLOOR, EXPLAIN_SHARE * suspect.score)
        culprits = [c for c in callees.get(suspect.service, ()) if score.get(c, 0.0) >= need]
        if culprits:
            strongest = min(culprits, key=lambda c: (-score[c], c))
            later.append(dataclasses.replace(suspect, explained_by=strongest))
        else:
            first.append(suspect)
    return (*first, *later)


def _order(s: Suspect) -> tuple[float, float, str, str]:
    """Higher score first, then the earlier change, then names (for a stable answer)."""
    changed = s.changed_at if s.changed_at is not None else np.inf
    return (-s.score, changed, s.service, s.metric)


def _parse(frame: pd.DataFrame) -> tuple[NDArray[np.float64], NDArray[np.float64], list[str]]:
    """Sorted times, the metrics as a (rows, columns) float array with NaN for missing
    (inf and text included), and the metric columns' names."""
    columns = [str(c).strip() for c in frame.columns]
    if TIME not in columns:
        shown = ", ".join(columns[:5]) + (", ..." if len(columns) > 5 else "")
        raise ValidationError(
            f"expected a 'time' column (Unix seconds), got columns: {shown or 'none'}",
            hint="name the time column 'time' (RCAEval's wide format)",
        )
    if columns.count(TIME) > 1:
        raise ValidationError("expected one 'time' column, got several", hint="keep one")
    frame = frame.set_axis(columns, axis=1)
    names = [c for c in columns if c != TIME]
    if not names:
        raise ValidationError(
            "expected metric columns named <service>_<metric> beside 'time', got none",
            hint="add one column per metric, e.g. carts_cpu",
        )
    raw_time = frame[TIME]
    times = pd.to_numeric(raw_time, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(times)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValidationError(
            f"'time': expected Unix seconds in every row, got {str(raw_time.iloc[row])!r} "
            f"in data row {row + 1}",
            rows=[int(i) + 1 for i in np.flatnonzero(bad)],
            hint="write the time as Unix seconds (e.g. 1652565600)",
        )
    order = np.argsort(times, kind="stable")
    metrics = frame[names]
    numeric = metrics.apply(pd.to_numeric, errors="coerce") if _has_text(metrics) else metrics
    values = numeric.to_numpy(dtype=np.float64, na_value=np.nan)[order]
    values[~np.isfinite(values)] = np.nan
    return times[order], values, names


def _has_text(metrics: pd.DataFrame) -> bool:
    return any(not pd.api.types.is_numeric_dtype(t) for t in metrics.dtypes)


def _score(
    times: NDArray[np.float64], values: NDArray[np.float64], normal: NDArray[np.bool_]
) -> list[tuple[Any, ...]]:
    """Each column's (score, changed_at, direction, deviation, median, spread, peak)."""
    base, after = values[normal], values[~normal]
    with warnings.catch_warnings():  # all-NaN columns: NaN statistics, handled below
        warnings.simplefilter("ignore", RuntimeWarning)
        median = np.nanmedian(base, axis=0)
        q25, q75 = np.nanpercentile(base, [25.0, 75.0], axis=0)
        mad = np.nanmedian(np.abs(base - median), axis=0)
        widest = np.nanmax(np.abs(values - median), axis=0)
    robust = np.fmax(q75 - q25, MAD_TO_SIGMA * mad)
    spread = np.fmax.reduce([robust, RELATIVE_FLOOR * np.abs(median), RANGE_FLOOR * widest])
    spread = np.fmax(spread, _TINY)
    z = (after - median) / spread  # NaN where missing or without a baseline
    size = np.abs(z)
    # a metric whose normal period has no measured spread (constant, or a count that is
    # almost always 0): its z is a ratio to a floor, evidence that it changed but not of
    # how much, so it is capped at the threshold and never outranks a measured deviation
    degenerate = ~(robust > 0)
    size = np.where(degenerate[None, :], np.minimum(size, THRESHOLD), size)
    z = np.sign(z) * size
    seen = ~np.isnan(size)
    has: NDArray[np.bool_] = np.any(seen, axis=0)
    peak = np.argmax(np.where(seen, size, -1.0), axis=0)
    cols = np.arange(values.shape[1])
    score = np.where(has, size[peak, cols], 0.0)
    deviation = np.where(has, z[peak, cols], 0.0)
    crossed = np.where(seen, size, 0.0) >= THRESHOLD
    first = np.argmax(crossed, axis=0)
    ever: NDArray[np.bool_] = np.any(crossed, axis=0)
    after_times = times[~normal]
    rows: list[tuple[Any, ...]] = []
    for j in cols:
        known = bool(np.isfinite(median[j]))
        direction = "none" if deviation[j] == 0 else ("up" if deviation[j] > 0 else "down")
        rows.append(
            (
                float(score[j]),
                float(after_times[first[j]]) if ever[j] else None,
                direction,
                float(deviation[j]),
                float(median[j]) if known else None,
                float(spread[j]) if known else None,
                float(after[peak[j], j]) if has[j] else None,
            )
        )
    return rows


def _s(t: float) -> str:
    """Unix seconds as written, without a needless ``.0``."""
    return f"{int(t)}" if float(t).is_integer() else f"{t}"
