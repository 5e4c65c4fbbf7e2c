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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats
from scipy.spatial.distance import jensenshannon

from modelphase.exceptions import ValidationError

__all__ = [
    "ALPHA",
    "BINS",
    "MIN_EFFECT",
    "MIN_ROWS",
    "ColumnDrift",
    "compare",
    "compare_columns",
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
    if not 0.0 < alpha < 1.0:
        raise ValidationError(f"alpha: expected a number between 0 and 1, got {alpha}")
    if min_effect < 0:
        raise ValidationError(f"min_effect: expected 0 or more, got {min_effect}")
    if bins < 2:
        raise ValidationError(f"bins: expected 2 or more, got {bins}")
    names = list(columns) if columns is not None else list(reference)
    missing = [c for c in names if c not in reference or c not in current]
    if missing:
        raise ValidationError(
            f"columns: expected both samples to have {', '.join(map(repr, missing))}; "
            f"reference has {sorted(reference)}, current has {sorted(current)}"
        )
    if not names:
        raise ValidationError("columns: expected at least one column to compare, got none")
    found = []
    for name in names:
        ref = np.sort(_finite(reference[name], f"reference column {name!r}"))
        cur = np.sort(_finite(current[name], f"current column {name!r}"))
        both, gap = _gaps(ref, cur)
        d, p_raw = _ks(gap, len(ref), len(cur))
        p, q = _shares(ref, cur, bins)
        found.append(
            ColumnDrift(
                column=name,
                statistic="ks",
                value=d,
                p_value=p_raw,
                effect_size=_scaled(_wasserstein(both, gap), ref),
                drifted=False,
                p_raw=p_raw,
                psi=_psi_of(p, q),
                js_distance=float(jensenshannon(p, q, base=2.0)),
                reference_rows=len(ref),
                current_rows=len(cur),
            )
        )
    adjusted = stats.false_discovery_control([c.p_raw for c in found], method="bh")
    return [
        replace(c, p_value=float(adj), drifted=bool(adj < alpha and c.effect_size >= min_effect))
        for c, adj in zip(found, adjusted, strict=True)
    ]
