"""Netflix Kayenta's canary judge, NetflixACAJudge, re-implemented for the canary benchmark.

Kayenta is Apache-2.0 (github.com/spinnaker/kayenta, since merged into spinnaker/spinnaker).
Written anew in Python, this follows the sources of ``kayenta-judge`` as of spinnaker/spinnaker
commit a445dab (judge, classifier, scorer) and ``kayenta-mannwhitney`` as of acff987:

- ``NetflixACAJudge.scala``: per metric, NaNs removed (``nanStrategy: remove``, the
  default) or replaced by 0 (``replace``), then outliers removed by an ``IQRDetector(factor
  = 3.0, reduceSensitivity = true)``; descriptive statistics of what is left; the
  ``MannWhitneyClassifier(tolerance = 0.25, confLevel = 0.98, ...)``; a classifier error
  becomes ``Error``.
- ``detectors/IQRDetector.scala``: outliers are outside ``[Q1 - 3 IQR, Q3 + 3 IQR]`` widened
  to the 1st and 99th percentiles ("reduce sensitivity"). Percentiles are Apache Commons
  Math's default (``Percentile`` LEGACY, position ``p (n + 1)``), so with 99 points or
  fewer the fences are at least the sample's min and max and nothing is removed.
- ``classifiers/metric/MannWhitneyClassifier.scala`` and ``BaseMetricClassifier.scala``:
  ``Nodata`` when a side is empty after NaN removal (``NodataFailMetric`` if the metric
  must have data and is not critical; ``Pass`` when NaNs are replaced), ``Pass`` for
  identical samples or a single value overall, Gaussian noise (sd = 1e-5 x the value)
  when each side is one repeated value, then ``High`` when the interval's lower end is
  above ``tolerance x |estimate|`` and the mean ratio canary/baseline is at least the
  allowed increase, ``Low`` symmetrically, ``Pass`` otherwise; a critical metric's
  ``High``/``Low`` (past the critical effect sizes) or ``Nodata`` is marked critical.
- ``kayenta-mannwhitney/.../MannWhitney.scala`` and ``BrentSolver.java``: R's
  ``wilcox.test(x, y, conf.int = TRUE)`` asymptotic branch for the shift canary minus
  baseline: the rank-sum statistic with tie correction and the two-sided continuity
  correction ``sign(dz) / 2``, inverted at ``qnorm(alpha / 2)`` by R's ``zeroin``
  (``uniroot``, tol 1e-4) between ``min(x) - max(y)`` and ``max(x) - min(y)``, endpoints
  returned when the root is outside. The estimate is the root at ``zq = 0`` (R's
  asymptotic Hodges-Lehmann estimate: within a pairwise difference of their median).
- ``stats/EffectSizes.scala`` (``meanRatio``) and ``stats/DescriptiveStatistics.scala``.
- ``scorers/WeightedSumScorer.scala`` and ``classifiers/score/ThresholdScoreClassifier
  .scala``: a group's score is 100 x Pass / (Pass + High + Low + NodataFailMetric);
  groups without a weight share what the given weights leave of 100; a group with none
  of those labels counts 100; the sum is rounded half-up to 2 decimals. A critical
  metric that is not ``Pass``, or 50% or more metrics ``Nodata``, makes the score 0.
  Summary: ``Pass`` at ``score >= pass``, ``Marginal`` at ``>= marginal``, else ``Fail``.

Defaults: ``tolerance = 0.25`` and ``confidence = 0.98`` are what NetflixACAJudge passes
to its classifier; effect sizes (1.0, 1.0) are its ``effectSize`` defaults; ``pass = 95``
and ``marginal = 75`` are the ``scoreThresholds`` of the example canary config in Kayenta's
``docs/canary-config.md`` (Kayenta itself has no default: each request carries them).

Departures: Kayenta's noise is unseeded, here it comes from ``seed``; the source of
``Transforms.addGaussianNoise`` was not at hand, so the noise is ``sd x N(0, 1)``, which
takes the 0 sd of a side of zeros (Kayenta's "Tied Ranks With Zeros" case needs that).
``outliers="keep"`` (not a Kayenta setting) runs the classifier on the raw samples, as
Kayenta's ``ClassifierSuite`` does. The normal quantile is scipy's (1e-15 from Commons
Math's). A metric has one group, not a list. Unknown directions or NaN strategies are an
error, where Kayenta falls back to ``either`` and ``remove``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from functools import partial
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy.stats import norm, rankdata

Direction = Literal["increase", "decrease", "either"]
NanStrategy = Literal["remove", "replace"]

PASS, HIGH, LOW = "Pass", "High", "Low"
NODATA, NODATA_FAIL, ERROR = "Nodata", "NodataFailMetric", "Error"
#: WeightedSumScorer.NODATA_THRESHOLD: this share (%) of Nodata metrics fails the canary
NODATA_THRESHOLD = 50.0
IQR_FACTOR = 3.0
NOISE_SCALE = 1e-5
#: BrentSolver.java (R's zeroin as uniroot calls it)
_ZEROIN_TOL = 1e-4
_ZEROIN_MAXIT = 1000
_EPS = 2.220446049250313e-16


class TiedError(ValueError):
    """Kayenta's MannWhitneyException: every observation tied, no interval exists."""


# -- preprocessing: Transforms.scala, IQRDetector.scala -------------------------------


def percentile(values: npt.ArrayLike, p: float) -> float:
    """Apache Commons Math's ``StatUtils.percentile`` (LEGACY): position ``p (n + 1) / 100``,
    clamped to the sample, linear in between; NaN for no values.

    >>> percentile([21, 23, 24, 25, 50, 29, 23, 21], 25)
    21.5
    """
    v = np.sort(np.asarray(values, dtype=float))
    n = v.size
    if n == 0:
        return math.nan
    pos = p * (n + 1) / 100
    if pos < 1 or n == 1:
        return float(v[0])
    if pos >= n:
        return float(v[-1])
    k = math.floor(pos)
    return float(v[k - 1] + (pos - k) * (v[k] - v[k - 1]))


def iqr_outliers(
    values: npt.ArrayLike, factor: float = IQR_FACTOR, reduce_sensitivity: bool = True
) -> npt.NDArray[np.bool_]:
    """IQRDetector: outside ``[Q1 - factor IQR, Q3 + factor IQR]``, the fences widened to
    the 1st and 99th percentiles when ``reduce_sensitivity``."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return np.zeros(0, dtype=bool)
    q1, q3 = percentile(v, 25), percentile(v, 75)
    low, high = q1 - factor * (q3 - q1), q3 + factor * (q3 - q1)
    if reduce_sensitivity:
        low, high = min(percentile(v, 1), low), max(percentile(v, 99), high)
    return (v > high) | (v < low)


def transform(
    values: npt.ArrayLike, nan_strategy: NanStrategy = "remove", outliers: str = "remove"
) -> npt.NDArray[np.float64]:
    """NetflixACAJudge.transformMetric: NaNs removed or set to 0, then IQR outliers removed."""
    v = np.asarray(values, dtype=float).ravel()
    v = v[~np.isnan(v)] if nan_strategy == "remove" else np.nan_to_num(v, nan=0.0)
    return v[~iqr_outliers(v)] if outliers == "remove" else v


# -- Mann-Whitney: MannWhitney.scala, BrentSolver.java --------------------------------


def wilcoxon_diff(
    mu: float, zq: float, x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]
) -> float:
    """R's ``wdiff``: the standardised, tie- and continuity-corrected rank sum of ``x - mu``
    against ``y``, minus ``zq``."""
    m, n = float(x.size), float(y.size)
    ranks = rankdata(np.concatenate([x - mu, y]))
    _, ties = np.unique(ranks, return_counts=True)
    dz = float(ranks[: x.size].sum()) - m * (m + 1) / 2 - m * n / 2
    correction = math.copysign(0.5, dz) if dz != 0 else 0.0
    tie_sum = float(np.sum(ties.astype(float) ** 3 - ties))
    sigma = math.sqrt((m * n / 12) * ((m + n + 1) - tie_sum / ((m + n) * (m + n - 1))))
    if sigma == 0:
        raise TiedError("cannot compute confidence interval when all observations are tied")
    return (dz - correction) / sigma - zq


def zeroin(f: Callable[[float], float], ax: float, bx: float, fa: float, fb: float) -> float:
    """R's ``zeroin`` (Brent 1973) with uniroot's tolerance, as Kayenta's BrentSolver."""
    a, b, c, fc = ax, bx, ax, fa
    if fa == 0:
        return a
    if fb == 0:
        return b
    for _ in range(_ZEROIN_MAXIT + 1):
        prev_step = b - a
        if abs(fc) < abs(fb):
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol_act = 2 * _EPS * abs(b) + _ZEROIN_TOL / 2
        new_step = (c - b) / 2
        if abs(new_step) <= tol_act or fb == 0:
            return b
        if abs(prev_step) >= tol_act and abs(fa) > abs(fb):
            cb = c - b
            if a == c:  # linear interpolation
                t1 = fb / fa
                p, q = cb * t1, 1.0 - t1
            else:  # inverse quadratic interpolation
                q, t1, t2 = fa / fc, fb / fc, fb / fa
                p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0))
                q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0)
            if p > 0:
                q = -q
            else:
                p = -p
            if p < 0.75 * cb * q - abs(tol_act * q) / 2 and p < abs(prev_step * q / 2):
                new_step = p / q
        if abs(new_step) < tol_act:
            new_step = tol_act if new_step > 0 else -tol_act
        a, fa = b, fb
        b += new_step
        fb = f(b)
        if (fb > 0 and fc > 0) or (fb < 0 and fc < 0):
            c, fc = a, fa
    return b


@dataclass(frozen=True)
class Shift:
    """The location shift experiment minus control: ``estimate`` and its interval."""

    estimate: float
    lower: float
    upper: float


def shift_interval(
    experiment: npt.ArrayLike, control: npt.ArrayLike, confidence: float = 0.98
) -> Shift:
    """MannWhitney.eval: R's ``wilcox.test(experiment, control, conf.int = TRUE,
    exact = FALSE, conf.level = confidence)`` estimate and interval.

    >>> s = shift_interval([10.0, 20.0, 30.0, 40.0], [1.0, 2.0, 3.0, 4.0], 0.95)
    >>> round(s.estimate, 6), round(s.lower, 6), round(s.upper, 6)
    (22.5, 6.0, 39.0)
    """
    x = np.asarray(experiment, dtype=float)
    y = np.asarray(control, dtype=float)
    mu_min, mu_max = float(x.min() - y.max()), float(x.max() - y.min())

    def root(zq: float) -> float:
        f_lower = wilcoxon_diff(mu_min, zq, x, y)
        f_upper = wilcoxon_diff(mu_max, zq, x, y)
        if f_lower <= 0:
            return mu_min
        if f_upper >= 0:
            return mu_max
        return zeroin(lambda mu: wilcoxon_diff(mu, zq, x, y), mu_min, mu_max, f_lower, f_upper)

    z = float(norm.ppf((1 - confidence) / 2))
    lower, upper = root(-z), root(z)
    f0 = lambda mu: wilcoxon_diff(mu, 0.0, x, y)  # noqa: E731
    estimate = zeroin(f0, mu_min, mu_max, f0(mu_min), f0(mu_max))
    return Shift(estimate, lower, upper)


# -- the metric classifier: MannWhitneyClassifier.scala -------------------------------


@dataclass(frozen=True)
class Stats:
    """DescriptiveStatistics.summary (0s for no values; ``std`` with n - 1)."""

    min: float
    max: float
    mean: float
    std: float
    count: int

    @classmethod
    def of(cls, v: npt.NDArray[np.float64]) -> Stats:
        if v.size == 0:
            return cls(0.0, 0.0, 0.0, 0.0, 0)
        std = float(np.std(v, ddof=1)) if v.size > 1 else 0.0
        return cls(float(v.min()), float(v.max()), float(v.mean()), std, int(v.size))


@dataclass(frozen=True)
class MetricResult:
    """One metric's verdict; ``ratio`` is Kayenta's deviation (canary mean / baseline mean,
    1.0 without a test or with a zero baseline mean, NaN with a zero canary mean)."""

    classification: str
    reason: str | None
    critical: bool
    ratio: float
    name: str
    group: str
    control: Stats
    experiment: Stats
    estimate: float | None = None
    lower: float | None = None
    upper: float | None = None


def _check(direction: str, nan_strategy: str, outliers: str, confidence: float) -> None:
    if direction not in ("increase", "decrease", "either"):
        raise ValueError(f"direction must be increase, decrease or either, got {direction!r}")
    if nan_strategy not in ("remove", "replace"):
        raise ValueError(f"nan_strategy must be remove or replace, got {nan_strategy!r}")
    if outliers not in ("remove", "keep"):
        raise ValueError(f"outliers must be remove or keep, got {outliers!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")


def classify_metric(
    control: npt.ArrayLike,
    experiment: npt.ArrayLike,
    *,
    direction: Direction = "either",
    critical: bool = False,
    must_have_data: bool = False,
    nan_strategy: NanStrategy = "remove",
    outliers: str = "remove",
    tolerance: float = 0.25,
    confidence: float = 0.98,
    effect_size: tuple[float, float] = (1.0, 1.0),
    critical_effect_size: tuple[float, float] = (1.0, 1.0),
    name: str = "metric",
    group: str = "",
    seed: int = 0,
) -> MetricResult:
    """NetflixACAJudge.classifyMetric for one metric: baseline ``control`` against canary
    ``experiment``. ``effect_size`` and ``critical_effect_size`` are (allowed decrease,
    allowed increase) of the mean ratio, Kayenta's ``effectSize`` settings.

    >>> classify_metric([1.0, 2.2, 1.1, 2.5, 3.0], [20.0, 22.0, 21.0, 25.0, 30.0]).classification
    'High'
    """
    _check(direction, nan_strategy, outliers, confidence)
    ctl = transform(control, nan_strategy, outliers)
    exp = transform(experiment, nan_strategy, outliers)
    result = partial(
        MetricResult, name=name, group=group, control=Stats.of(ctl), experiment=Stats.of(exp)
    )
    if exp.size == 0 or ctl.size == 0:
        if nan_strategy == "replace":
            return result(PASS, None, False, 1.0)
        reason = f"Missing data for {name}"
        if must_have_data and not critical:
            return result(NODATA_FAIL, reason, False, 1.0)
        return result(NODATA, reason, critical, 1.0)
    if exp.size == ctl.size and np.array_equal(np.sort(exp), np.sort(ctl)):
        return result(PASS, "The Canary and Baseline data are identical", False, 1.0)
    if np.unique(np.concatenate([exp, ctl])).size == 1:
        return result(PASS, None, False, 1.0)
    if np.unique(exp).size == 1 and np.unique(ctl).size == 1:  # tied ranks: add noise
        rng = np.random.default_rng(seed)
        exp = exp + exp[0] * NOISE_SCALE * rng.standard_normal(exp.size)
        ctl = ctl + ctl[0] * NOISE_SCALE * rng.standard_normal(ctl.size)
    try:
        shift = shift_interval(exp, ctl, confidence)
    except TiedError:
        return result(ERROR, "Metric Classification Failed", False, math.nan)
    ratio = _mean_ratio(ctl, exp)
    bound = tolerance * abs(shift.estimate)
    label, reason = PASS, None
    if direction in ("increase", "either") and shift.lower > bound and ratio >= effect_size[1]:
        label, reason = HIGH, f"{name} was classified as {HIGH}"
    elif direction in ("decrease", "either") and shift.upper < -bound and ratio <= effect_size[0]:
        label, reason = LOW, f"{name} was classified as {LOW}"
    is_critical = critical and (
        (label == HIGH and ratio >= critical_effect_size[1])
        or (label == LOW and ratio <= critical_effect_size[0])
    )
    if is_critical:
        reason = f"The metric {name} was classified as {label} (Critical)"
    return result(
        label,
        reason,
        is_critical,
        ratio,
        estimate=shift.estimate,
        lower=shift.lower,
        upper=shift.upper,
    )


def _mean_ratio(control: npt.NDArray[np.float64], experiment: npt.NDArray[np.float64]) -> float:
    """MannWhitneyClassifier.calculateDeviation with EffectSizes.meanRatio."""
    c, e = float(control.mean()), float(experiment.mean())
    if c == 0.0:
        return 1.0
    return math.nan if e == 0.0 else e / c


# -- the score: WeightedSumScorer.scala, ThresholdScoreClassifier.scala ---------------


@dataclass(frozen=True, eq=False)
class MetricInput:
    """One metric of a canary run, with its canary settings (Kayenta's
    ``analysisConfigurations.canary``)."""

    name: str
    group: str
    control: npt.ArrayLike
    experiment: npt.ArrayLike
    direction: Direction = "either"
    critical: bool = False
    must_have_data: bool = False
    nan_strategy: NanStrategy = "remove"
    effect_size: tuple[float, float] = (1.0, 1.0)
    critical_effect_size: tuple[float, float] = (1.0, 1.0)


@dataclass(frozen=True)
class GroupScore:
    name: str
    score: float
    no_data: bool
    counts: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class JudgeResult:
    score: float
    summary: str
    reason: str | None
    groups: tuple[GroupScore, ...]
    metrics: tuple[MetricResult, ...]


def group_scores(results: Sequence[MetricResult]) -> tuple[GroupScore, ...]:
    """WeightedSumScorer.calculateGroupScores."""
    labels: dict[str, list[str]] = {}
    for r in results:
        labels.setdefault(r.group, []).append(r.classification)
    out = []
    for name, group in labels.items():
        counts = {label: group.count(label) for label in dict.fromkeys(group)}
        total = sum(counts.get(label, 0) for label in (PASS, HIGH, LOW, NODATA_FAIL))
        score = 100.0 * counts.get(PASS, 0) / total if total else 0.0
        out.append(GroupScore(name, score, total == 0, counts))
    return tuple(out)


def weighted_score(
    results: Sequence[MetricResult], group_weights: Mapping[str, float] | None = None
) -> tuple[float, str | None, tuple[GroupScore, ...]]:
    """WeightedSumScorer.score: (summary score, reason it was forced to 0, group scores)."""
    weights = dict(group_weights or {})
    groups = group_scores(results)
    failures = [r for r in results if r.critical and r.classification != PASS]
    if failures:
        return 0.0, f"Canary Failed: {failures[0].reason}", groups
    n_nodata = sum(r.classification == NODATA for r in results)
    if results and 100.0 * n_nodata / len(results) >= NODATA_THRESHOLD:
        return 0.0, f"Canary Failed: {NODATA_THRESHOLD:g}% or more metrics returned NODATA", groups
    unweighted = [g for g in groups if g.name not in weights]
    share = (100 - sum(weights.values())) / len(unweighted) if unweighted else 0.0
    total = sum(
        (100.0 if g.no_data else g.score) * weights.get(g.name, share) / 100 for g in groups
    )
    return (
        float(Decimal(repr(total)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)),
        None,
        groups,
    )


def judge(
    metrics: Sequence[MetricInput],
    *,
    pass_threshold: float = 95,
    marginal_threshold: float = 75,
    group_weights: Mapping[str, float] | None = None,
    tolerance: float = 0.25,
    confidence: float = 0.98,
    seed: int = 0,
) -> JudgeResult:
    """NetflixACAJudge.judge: classify every metric, score, classify the score. A critical
    failure makes the score 0, which is ``Fail`` for any ``marginal_threshold > 0``.

    >>> baseline, canary = [1.0, 2.2, 1.1, 2.5, 3.0], [20.0, 22.0, 21.0, 25.0, 30.0]
    >>> m = [MetricInput("latency", "http", baseline, canary),
    ...      MetricInput("errors", "http", [0.0, 1.0, 0.0], [1.0, 0.0, 0.0])]
    >>> r = judge(m)
    >>> r.score, r.summary
    (50.0, 'Fail')
    """
    results = tuple(
        classify_metric(
            m.control,
            m.experiment,
            direction=m.direction,
            critical=m.critical,
            must_have_data=m.must_have_data,
            nan_strategy=m.nan_strategy,
            tolerance=tolerance,
            confidence=confidence,
            effect_size=m.effect_size,
            critical_effect_size=m.critical_effect_size,
            name=m.name,
            group=m.group,
            seed=seed,
        )
        for m in metrics
    )
    score, reason, groups = weighted_score(results, group_weights)
    if score >= pass_threshold:
        summary = "Pass"
    elif score >= marginal_threshold:
        summary = "Marginal"
    else:
        summary = "Fail"
    return JudgeResult(score, summary, reason, groups, results)
