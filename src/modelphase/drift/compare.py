"""Two-sample drift between a reference and a current sample, per column.

Pure functions over arrays. Each column is compared by the two-sample Kolmogorov-Smirnov
test (its p-value), the Wasserstein distance in units of the reference's standard
deviation (the effect size: "the current values moved 0.1 sd"), the population
stability index and the Jensen-Shannon distance over the reference's deciles. A column
has drifted when its p-value, adjusted for the number of columns compared together
(Benjamini-Hochberg: a fleet of 1,000 series at 5% flags about 5% of the drifted ones
wrongly, not 50 of the healthy ones), is below ``alpha`` and its effect size is at
least ``min_effect``: with 100,000 rows a test finds shifts too small to matter, so a
drift must also be large enough to act on.

:func:`compare_series` does the same for a fleet: long frames of many series, every
series and feature measured at once (series of similar length sorted together as the
rows of one padded matrix, not a scipy call per series) and one correction across all
of them. A series too short on either side is reported as not tested, with the reason,
rather than failing the fleet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import stats
from scipy.spatial.distance import jensenshannon

from modelphase.exceptions import MissingColumnsError, ValidationError

__all__ = [
    "ALPHA",
    "BINS",
    "MIN_EFFECT",
    "MIN_ROWS",
    "SERIES_COLUMNS",
    "ColumnDrift",
    "compare",
    "compare_columns",
    "compare_series",
    "effect_size",
    "js_distance",
    "psi",
]

#: the false-discovery rate of :func:`compare_columns`
ALPHA = 0.05
#: the smallest effect (Wasserstein distance over the reference's sd) called drift
MIN_EFFECT = 0.05
#: bins (reference quantiles) of the population stability index and Jensen-Shannon
BINS = 10
#: the fewest finite values a sample needs for a comparison
MIN_ROWS = 20
# PSI and Jensen-Shannon on empty bins: a share this small instead of zero
_EPS = 1e-6
# above this effective sample size the KS p-value comes from the limiting distribution
_EXACT_KS_N = 10_000
# pooled values measured at once (a padded matrix of series): bounds a fleet's memory
_CELLS = 1 << 21
#: the columns of :func:`compare_series`'s frame, DESIGN.md's drift output first
SERIES_COLUMNS = (
    "unique_id",
    "feature",
    "statistic",
    "value",
    "threshold",
    "drifted",
    "p_value",
    "effect_size",
    "p_raw",
    "psi",
    "js_distance",
    "reference_rows",
    "current_rows",
    "tested",
    "reason",
)


@dataclass(frozen=True)
class ColumnDrift:
    """One column's comparison; ``p_value`` is adjusted for the columns compared with
    it (``p_raw`` is the test's own). The first six fields are ``drift check``'s."""

    column: str
    statistic: str
    value: float
    p_value: float
    effect_size: float
    drifted: bool
    p_raw: float
    psi: float
    js_distance: float
    reference_rows: int
    current_rows: int

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _finite(x: ArrayLike, what: str) -> NDArray[np.float64]:
    a = np.asarray(x, dtype=np.float64).ravel()
    a = a[np.isfinite(a)]
    if len(a) < MIN_ROWS:
        raise ValidationError(
            f"{what}: expected at least {MIN_ROWS} finite values, got {len(a)}; "
            "compare over a longer stretch"
        )
    return a


def _shares(
    ref: NDArray[np.float64], cur: NDArray[np.float64], bins: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The share of each sample in the reference's quantile bins (ties merged)."""
    edges = np.unique(np.quantile(ref, np.linspace(0.0, 1.0, bins + 1))[1:-1])
    p = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=len(edges) + 1)
    q = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=len(edges) + 1)
    return p / p.sum(), q / q.sum()


def psi(reference: ArrayLike, current: ArrayLike, bins: int = BINS) -> float:
    """Population stability index over the reference's quantile bins:
    ``sum((q - p) ln(q / p))``; about 0.1 is a moderate shift, 0.25 a large one."""
    return _psi_of(*_shares(_finite(reference, "reference"), _finite(current, "current"), bins))


def _psi_of(p: NDArray[np.float64], q: NDArray[np.float64]) -> float:
    p, q = np.maximum(p, _EPS), np.maximum(q, _EPS)
    return float(np.sum((q - p) * np.log(q / p)))


def js_distance(reference: ArrayLike, current: ArrayLike, bins: int = BINS) -> float:
    """Jensen-Shannon distance (base 2, 0 to 1) over the reference's quantile bins."""
    p, q = _shares(_finite(reference, "reference"), _finite(current, "current"), bins)
    return float(jensenshannon(p, q, base=2.0))


def effect_size(reference: ArrayLike, current: ArrayLike) -> float:
    """The Wasserstein distance between the samples over the reference's standard
    deviation (over its mean absolute value, or 1, for a constant reference)."""
    ref = np.sort(_finite(reference, "reference"))
    return _scaled(_wasserstein(*_gaps(ref, np.sort(_finite(current, "current")))), ref)


def _gaps(
    ref: NDArray[np.float64], cur: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """For two sorted samples: their pooled values in order, and the difference of their
    empirical CDFs at each (one sort of two sorted runs, which timsort merges)."""
    both = np.sort(np.concatenate([ref, cur]), kind="stable")
    gap = np.searchsorted(ref, both, side="right") / len(ref)
    gap -= np.searchsorted(cur, both, side="right") / len(cur)
    return both, gap


def _ks(gap: NDArray[np.float64], n: int, m: int) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov from the CDF gaps of samples of ``n`` and ``m``:
    the largest gap and its two-sided p-value (scipy's ``method="asymp"``)."""
    d = float(np.max(np.abs(gap)))
    en = n * m / (n + m)
    if en <= _EXACT_KS_N:
        p = stats.kstwo.sf(d, np.round(en))
    else:  # the limiting distribution: kstwo's own series takes 20 ms at 50,000
        p = stats.kstwobign.sf(d * np.sqrt(en))
    return d, float(np.clip(p, 0.0, 1.0))


def _wasserstein(both: NDArray[np.float64], gap: NDArray[np.float64]) -> float:
    """The area between the empirical CDFs (from :func:`_gaps`)."""
    return float(np.sum(np.abs(gap[:-1]) * np.diff(both)))


def _scaled(dist: float, ref: NDArray[np.float64]) -> float:
    sd = float(np.std(ref))
    if sd <= 0:
        sd = float(np.mean(np.abs(ref))) or 1.0
    return dist / sd


def compare(
    reference: ArrayLike,
    current: ArrayLike,
    *,
    column: str = "value",
    alpha: float = ALPHA,
    min_effect: float = MIN_EFFECT,
    bins: int = BINS,
) -> ColumnDrift:
    """One column on its own (no adjustment for other columns)."""
    return compare_columns(
        {column: reference}, {column: current}, alpha=alpha, min_effect=min_effect, bins=bins
    )[0]


def compare_columns(
    reference: Mapping[str, ArrayLike],
    current: Mapping[str, ArrayLike],
    *,
    columns: Sequence[str] | None = None,
    alpha: float = ALPHA,
    min_effect: float = MIN_EFFECT,
    bins: int = BINS,
) -> list[ColumnDrift]:
    """Every column of ``columns`` (default: those of ``reference``, which ``current``
    must also have), its KS p-value adjusted by Benjamini-Hochberg across them."""
    _check_options(alpha, min_effect, bins)
    names = list(columns) if columns is not None else list(reference)
    missing = [c for c in names if c not in reference or c not in current]
    if missing:
        raise ValidationError(
            f"columns: expected both samples to have {', '.join(map(repr, missing))}; "
            f"reference has {sorted(reference)}, current has {sorted(current)}"
        )
    if not names:
        raise ValidationError("columns: expected at least one column to compare, got none")
    refs = [_finite(reference[c], f"reference column {c!r}") for c in names]
    curs = [_finite(current[c], f"current column {c!r}") for c in names]
    m = _measure(_Groups.of(refs), _Groups.of(curs), bins)
    adjusted = stats.false_discovery_control(m.p_raw, method="bh")
    return [
        ColumnDrift(
            column=name,
            statistic="ks",
            value=float(m.d[i]),
            p_value=float(adjusted[i]),
            effect_size=float(m.effect[i]),
            drifted=bool(adjusted[i] < alpha and m.effect[i] >= min_effect),
            p_raw=float(m.p_raw[i]),
            psi=float(m.psi[i]),
            js_distance=float(m.js[i]),
            reference_rows=len(refs[i]),
            current_rows=len(curs[i]),
        )
        for i, name in enumerate(names)
    ]


def compare_series(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    features: Sequence[str] = ("y",),
    alpha: float = ALPHA,
    min_effect: float = MIN_EFFECT,
    bins: int = BINS,
) -> pd.DataFrame:
    """Every series and feature of two long frames (``unique_id`` and the ``features``
    columns; ``ds`` and other columns are not read), with one Benjamini-Hochberg
    correction across all of them: a healthy fleet flags no series (in at least 95% of
    runs at ``alpha`` 0.05), where uncorrected tests would flag 5% of them.

    One row per series (sorted) and feature, the columns of :data:`SERIES_COLUMNS`:
    the statistics of :func:`compare_columns` (``value`` is the KS distance), and
    ``threshold``, the KS distance the series had to reach to pass the correction
    (the raw p-value ``alpha * R / m``, ``R`` of the ``m`` tested passing, at least 1).
    ``drifted`` needs that and an effect of ``min_effect``. A series with fewer than
    :data:`MIN_ROWS` finite values on a side, or absent from one, has ``tested`` false,
    the ``reason``, NaN statistics and ``drifted`` false.

    >>> rng = np.random.default_rng(0)
    >>> ref = pd.DataFrame({"unique_id": np.repeat(["a", "b", "c"], 500),
    ...                     "y": rng.normal(0, 1, 1500)})
    >>> cur = pd.DataFrame({"unique_id": np.repeat(["a", "b"], 500),
    ...                     "y": rng.normal(0, 1, 1000) + np.repeat([0.0, 0.5], 500)})
    >>> out = compare_series(ref, cur)
    >>> print(out[["unique_id", "drifted", "tested", "reason"]].to_string(index=False))
    unique_id  drifted  tested                 reason
            a    False    True                   None
            b     True    True                   None
            c    False   False no rows in the current
    """
    _check_options(alpha, min_effect, bins)
    names = list(features)
    if not names:
        raise ValidationError("features: expected at least one feature column, got none")
    for side, frame in (("reference", reference), ("current", current)):
        absent = [c for c in ("unique_id", *names) if c not in frame.columns]
        if absent:
            raise MissingColumnsError(
                f"{side}: expected the columns unique_id, {', '.join(names)}; missing "
                f"{', '.join(absent)}. Fix: pass features= naming the columns to compare",
                missing=absent,
                found=[str(c) for c in frame.columns],
            )
    r_ids, r_codes = _codes(reference, "reference")
    c_ids, c_codes = _codes(current, "current")
    ids = r_ids.union(c_ids)  # sorted
    r_codes = ids.get_indexer(r_ids)[r_codes]
    c_codes = ids.get_indexer(c_ids)[c_codes]
    ref = _Groups.of_frame(reference, r_codes, names, len(ids))
    cur = _Groups.of_frame(current, c_codes, names, len(ids))
    tested = (ref.n >= MIN_ROWS) & (cur.n >= MIN_ROWS)
    k = int(tested.sum())
    nan = np.full(len(tested), np.nan)
    d, p_raw, p_adj, effect, psi_, js, threshold = (nan.copy() for _ in range(7))
    if k:
        m = _measure(ref.take(tested), cur.take(tested), bins)
        adjusted = stats.false_discovery_control(m.p_raw, method="bh")
        passing = int(np.sum(adjusted < alpha))
        d[tested], p_raw[tested], p_adj[tested] = m.d, m.p_raw, adjusted
        effect[tested], psi_[tested], js[tested] = m.effect, m.psi, m.js
        threshold[tested] = _critical(alpha * max(passing, 1) / k, ref.n[tested], cur.n[tested])
    present_r = np.repeat(np.bincount(r_codes, minlength=len(ids)) > 0, len(names))
    present_c = np.repeat(np.bincount(c_codes, minlength=len(ids)) > 0, len(names))
    reason = np.full(len(tested), None, dtype=object)
    for g in np.flatnonzero(~tested):
        reason[g] = "; ".join(
            _short(side, int(n[g]), bool(present[g]))
            for side, n, present in (("reference", ref.n, present_r), ("current", cur.n, present_c))
            if n[g] < MIN_ROWS
        )
    return pd.DataFrame(
        {
            "unique_id": np.repeat(ids.to_numpy(), len(names)),
            "feature": np.tile(np.asarray(names, dtype=object), len(ids)),
            "statistic": "ks",
            "value": d,
            "threshold": threshold,
            "drifted": tested & (p_adj < alpha) & (effect >= min_effect),
            "p_value": p_adj,
            "effect_size": effect,
            "p_raw": p_raw,
            "psi": psi_,
            "js_distance": js,
            "reference_rows": ref.n,
            "current_rows": cur.n,
            "tested": tested,
            "reason": reason,
        }
    )


def _check_options(alpha: float, min_effect: float, bins: int) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValidationError(f"alpha: expected a number between 0 and 1, got {alpha}")
    if min_effect < 0:
        raise ValidationError(f"min_effect: expected 0 or more, got {min_effect}")
    if bins < 2:
        raise ValidationError(f"bins: expected 2 or more, got {bins}")


def _short(side: str, n: int, present: bool) -> str:
    if not present:
        return f"no rows in the {side}"
    return f"{n} finite values in the {side}, {MIN_ROWS} needed"


def _codes(frame: pd.DataFrame, side: str) -> tuple[pd.Index, NDArray[np.intp]]:
    """The distinct ``unique_id`` of a frame, sorted, and each row's position in them."""
    codes, uniques = pd.factorize(frame["unique_id"], sort=True)
    if len(codes) and codes.min() < 0:
        rows = np.flatnonzero(codes < 0)[:5].tolist()
        raise ValidationError(
            f"{side}: expected a unique_id on every row, got missing ones (rows {rows})",
            rows=rows,
        )
    return pd.Index(np.asarray(uniques)), np.asarray(codes, dtype=np.intp)


@dataclass(frozen=True)
class _Groups:
    """Samples of several groups in one buffer: group ``g`` is
    ``values[start[g] : start[g] + n[g]]`` (finite, in any order)."""

    values: NDArray[np.float64]
    start: NDArray[np.int64]
    n: NDArray[np.int64]

    @classmethod
    def of(cls, samples: Sequence[NDArray[np.float64]]) -> _Groups:
        n = np.array([len(s) for s in samples], dtype=np.int64)
        return cls(np.concatenate(samples), np.cumsum(n) - n, n)

    @classmethod
    def of_frame(
        cls, frame: pd.DataFrame, codes: NDArray[np.intp], names: Sequence[str], n_ids: int
    ) -> _Groups:
        """Group ``code * len(names) + j`` holds the finite values of feature ``j``."""
        values, groups = [], []
        for j, name in enumerate(names):
            try:
                col = frame[name].to_numpy(dtype=np.float64, na_value=np.nan)
            except (TypeError, ValueError) as err:
                raise ValidationError(
                    f"feature {name!r}: expected numbers, got {frame[name].dtype} ({err}). "
                    "Fix: convert the column, or leave it out of features="
                ) from err
            keep = np.isfinite(col)
            values.append(col[keep])
            groups.append(codes[keep] * len(names) + j)
        group = np.concatenate(groups)
        order = np.argsort(group, kind="stable")
        n = np.bincount(group, minlength=n_ids * len(names)).astype(np.int64)
        return cls(np.concatenate(values)[order], np.cumsum(n) - n, n)

    def take(self, mask: NDArray[np.bool_]) -> _Groups:
        return _Groups(self.values, self.start[mask], self.n[mask])

    def matrix(self, rows: NDArray[np.intp]) -> NDArray[np.float64]:
        """The groups ``rows``, one a row, sorted, padded on the right with NaN."""
        n = self.n[rows]
        out = np.full((len(rows), int(n.max())), np.nan)
        for i, (start, size) in enumerate(zip(self.start[rows], n, strict=True)):
            out[i, :size] = self.values[start : start + size]
        out.sort(axis=1)
        return out


@dataclass(frozen=True)
class _Measures:
    d: NDArray[np.float64]
    p_raw: NDArray[np.float64]
    effect: NDArray[np.float64]
    psi: NDArray[np.float64]
    js: NDArray[np.float64]


def _measure(ref: _Groups, cur: _Groups, bins: int) -> _Measures:
    """KS, effect size, PSI and Jensen-Shannon of each pair of groups (every group has at
    least one value), a few thousand series at a time."""
    g = len(ref.n)
    d_int = np.zeros(g, dtype=np.int64)
    area, sd, psi_, js = np.zeros(g), np.zeros(g), np.zeros(g), np.zeros(g)
    for rows in _chunks(ref.n + cur.n):
        d_int[rows], area[rows], sd[rows], psi_[rows], js[rows] = _measure_chunk(
            ref.matrix(rows), cur.matrix(rows), ref.n[rows], cur.n[rows], bins
        )
    nm = ref.n * cur.n
    d = d_int / nm
    return _Measures(d, _ks_p(d, ref.n, cur.n), area / nm / sd, psi_, js)


def _chunks(size: NDArray[np.int64]) -> list[NDArray[np.intp]]:
    """Groups in batches of similar size (padding wastes at most half a batch) of about
    :data:`_CELLS` values together (a larger group alone)."""
    order = np.argsort(size, kind="stable")
    s = size[order]
    out, i = [], 0
    while i < len(s):
        # the batch order[i:j] is len * s[j - 1] wide, s being sorted
        stop = min(
            len(s), i + _CELLS // max(int(s[i]), 1), int(np.searchsorted(s, 2 * s[i], "right"))
        )
        ends = np.arange(i + 1, max(stop, i + 1) + 1)
        fits = (ends - i) * s[ends - 1] <= _CELLS
        j = int(ends[fits][-1]) if fits.any() else i + 1
        out.append(order[i:j])
        i = j
    return out


def _measure_chunk(
    ref: NDArray[np.float64],
    cur: NDArray[np.float64],
    nr: NDArray[np.int64],
    nc: NDArray[np.int64],
    bins: int,
) -> tuple[
    NDArray[np.int64],
    NDArray[np.float64],
    NDArray[np.float64],
    NDArray[np.float64],
    NDArray[np.float64],
]:
    """For sorted, NaN-padded rows: the KS distance times ``nr * nc``, the area between
    the CDFs times ``nr * nc``, the reference's scale, PSI and Jensen-Shannon."""
    both = np.concatenate([ref, cur], axis=1)
    order = np.argsort(both, axis=1, kind="stable")  # two sorted runs: a merge
    pooled = np.take_along_axis(both, order, axis=1)
    below_r = np.cumsum(order < ref.shape[1], axis=1)  # reference values <= each
    below_c = np.arange(1, both.shape[1] + 1) - below_r
    # n * m times the gap between the empirical CDFs after each pooled value: exact
    gap = np.abs(below_r * nc[:, None] - below_c * nr[:, None])[:, :-1]
    step = np.diff(pooled, axis=1)
    inner = np.arange(both.shape[1] - 1) < (nr + nc - 1)[:, None]  # followed by a value
    d_int = np.max(np.where(inner & (step > 0), gap, 0), axis=1)  # ties: after the last
    area = np.sum(np.where(inner, gap * step, 0.0), axis=1)
    filled = np.arange(ref.shape[1]) < nr[:, None]
    mean = np.sum(np.where(filled, ref, 0.0), axis=1) / nr
    dev = np.where(filled, ref - mean[:, None], 0.0)
    sd = np.sqrt(np.sum(dev * dev, axis=1) / nr)
    flat = sd <= 0
    if flat.any():  # a constant reference: its mean absolute value, or 1
        sd[flat] = np.abs(mean[flat])
        sd[sd <= 0] = 1.0
    p, q, kept = _binned(ref, cur, nr, nc, bins)
    pe, qe = np.maximum(p, _EPS), np.maximum(q, _EPS)
    psi_ = np.sum(np.where(kept, (qe - pe) * np.log(qe / pe), 0.0), axis=1)
    js = np.asarray(jensenshannon(p, q, base=2.0, axis=1), dtype=np.float64)
    return d_int, area, sd, psi_, js


def _binned(
    ref: NDArray[np.float64],
    cur: NDArray[np.float64],
    nr: NDArray[np.int64],
    nc: NDArray[np.int64],
    bins: int,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
    """:func:`_shares` of each row; a bin between two equal edges (merged by
    :func:`_shares`) is kept out, as ``kept`` says."""
    qs = np.linspace(0.0, 1.0, bins + 1)[1:-1]
    edges = np.empty((len(nr), len(qs)))
    for n in np.unique(nr):  # np.quantile itself, as _shares does, per row length
        rows = np.flatnonzero(nr == n)
        edges[rows] = np.quantile(ref[rows, :n], qs, axis=1).T
    kept = np.ones((len(nr), bins), dtype=bool)
    kept[:, 1:-1] = edges[:, 1:] != edges[:, :-1]

    def shares(x: NDArray[np.float64], n: NDArray[np.int64]) -> NDArray[np.float64]:
        at_least = np.zeros((len(n), bins + 1))  # values at or above each edge
        at_least[:, 0] = n
        for j in range(len(qs)):
            at_least[:, j + 1] = np.sum(x >= edges[:, j : j + 1], axis=1)
        return (at_least[:, :-1] - at_least[:, 1:]) / n[:, None]

    return shares(ref, nr), shares(cur, nc), kept


def _ks_p(
    d: NDArray[np.float64], n: NDArray[np.int64], m: NDArray[np.int64]
) -> NDArray[np.float64]:
    """The two-sided KS p-values of :func:`_ks`, each distinct (distance, size) once:
    samples of equal sizes share few distances, and scipy's exact one is slow."""
    en = n * m / (n + m)
    exact = en <= _EXACT_KS_N
    p = np.empty(len(d))
    p[~exact] = stats.kstwobign.sf(d[~exact] * np.sqrt(en[~exact]))
    if exact.any():
        pairs, inverse = np.unique(
            np.stack([d[exact], np.round(en[exact])]), axis=1, return_inverse=True
        )
        p[exact] = stats.kstwo.sf(pairs[0], pairs[1])[inverse.ravel()]
    return np.clip(p, 0.0, 1.0)


def _critical(t: float, n: NDArray[np.int64], m: NDArray[np.int64]) -> NDArray[np.float64]:
    """The KS distance whose p-value (:func:`_ks_p`) is ``t``, for each pair of sizes."""
    en = n * m / (n + m)
    exact = en <= _EXACT_KS_N
    out = np.empty(len(n))
    out[~exact] = stats.kstwobign.isf(t) / np.sqrt(en[~exact])
    sizes, inverse = np.unique(np.round(en[exact]), return_inverse=True)
    out[exact] = (
        np.array([stats.kstwo.isf(t, s) for s in sizes])[inverse.ravel()] if len(sizes) else []
    )
    return out
