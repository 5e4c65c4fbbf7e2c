"""The canary judge: is a release safe to roll further, on the evidence so far?

Each metric compares the canary's samples (pods x minutes) with the baseline's over the
same window, by ranks, so outliers and skewed latencies need no cleaning: the
Hodges-Lehmann shift of the canary over the baseline, relative to the baseline's median,
with its confidence interval (:mod:`modelphase.decide.ranks`). A metric

- **fails** when the interval lies wholly beyond its tolerance in the bad direction
  (the canary is shown worse by more than the tolerance, not merely different);
- **passes** when the interval lies wholly inside the tolerance (shown not worse by
  that much: a pass needs evidence too);
- is **inconclusive** otherwise, and always below ``min_points`` samples on a side, so
  too little traffic never passes. A metric with no canary data, or no baseline data,
  is inconclusive with that reason.

The release's verdict weighs its metrics (as Kayenta's judge does): the score is the
passing weight over the weight of metrics with data; ``fail`` when a critical metric
fails or the failing weight leaves the score no way to reach ``marginal``; ``pass`` at
a score of ``pass_threshold`` or more; ``marginal`` at ``marginal_threshold`` or more
with every critical metric passed; ``inconclusive`` otherwise. A canary that reported
nothing at all while the baseline reported for ``silent_after`` or longer fails
("silent canary": a crash-looping or unready pod serves no metrics, as Flagger's "no
values found" also halts a rollout).

**Anytime-valid.** A canary is judged again every minute; testing each time at a fixed
level would raise false alarms with every look. In ``look=k`` (the k-th look of a
sequential analysis) the interval's level is ``1 - alpha / (k (k + 1))``: the levels
spent over all looks sum to ``alpha``, so the intervals form a confidence sequence (a
union bound over looks) and a verdict may come at any look with a false-fail rate of at
most ``alpha`` per metric, whenever the analysis stops.

The samples are taken as independent; minutes of one pod are not quite, which makes the
intervals narrower than they should be. The tolerance, which a fail must exceed, is
what keeps that from failing good releases (measured in ``benchmarks/canary.py``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from modelphase.decide.ranks import hodges_lehmann, mann_whitney_p

__all__ = [
    "DIRECTIONS",
    "CanaryVerdict",
    "MetricSpec",
    "MetricVerdict",
    "SequentialJudge",
    "judge_canary",
    "judge_metric",
]

#: the bad direction of a metric: up is bad, down is bad, or a change either way
DIRECTIONS = ("increase", "decrease", "either")
#: two-sided error rate of a fixed-sample interval (98%, Kayenta's level)
ALPHA = 0.02
PASS_THRESHOLD = 95.0
MARGINAL_THRESHOLD = 75.0
#: a canary that reported nothing for this long while the baseline did fails
SILENT_AFTER_SECONDS = 300.0


@dataclass(frozen=True)
class MetricSpec:
    """How one metric is judged.

    ``direction`` is the bad direction; ``tolerance`` the relative shift (of the
    baseline's median) that still counts as no worse; ``critical`` metrics fail the
    release on their own; ``weight`` is its share of the score; below ``min_points``
    samples on either side the metric is inconclusive.
    """

    name: str
    direction: str = "either"
    tolerance: float = 0.25
    critical: bool = False
    weight: float = 1.0
    min_points: int = 3

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ValueError(
                f"expected a direction in {', '.join(DIRECTIONS)} for metric "
                f"{self.name!r}, found {self.direction!r}"
            )
        if not (self.tolerance >= 0 and math.isfinite(self.tolerance)):
            raise ValueError(f"expected a tolerance >= 0 for {self.name!r}, found {self.tolerance}")
        if not (self.weight > 0 and math.isfinite(self.weight)):
            raise ValueError(f"expected a weight > 0 for {self.name!r}, found {self.weight}")
        if self.min_points < 1:
            raise ValueError(f"expected min_points >= 1 for {self.name!r}, found {self.min_points}")


@dataclass(frozen=True)
class MetricVerdict:
    """One metric's verdict (``pass``, ``fail``, ``inconclusive``), its one-line reason
    and the evidence: sample sizes, medians, the shift and its interval in the
    metric's units and relative to the baseline's median, the rank test's p-value."""

    metric: str
    verdict: str
    reason: str
    direction: str
    tolerance: float
    critical: bool
    weight: float
    canary_n: int
    baseline_n: int
    canary_median: float | None = None
    baseline_median: float | None = None
    shift: float | None = None
    shift_interval: tuple[float, float] | None = None
    relative_shift: float | None = None
    relative_interval: tuple[float, float] | None = None
    p_value: float | None = None
    confidence: float | None = None
    dropped_nan: int = 0

    @property
    def has_data(self) -> bool:
        return self.shift is not None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("shift_interval", "relative_interval"):
            if out[key] is not None:
                out[key] = [_json_float(v) for v in out[key]]
        for key in ("shift", "relative_shift"):
            out[key] = _json_float(out[key])
        return out


@dataclass(frozen=True)
class CanaryVerdict:
    """The release's verdict (``pass``, ``marginal``, ``fail``, ``inconclusive``), its
    score (0-100), a one-line reason and each metric's verdict."""

    verdict: str
    score: float
    reason: str
    metrics: tuple[MetricVerdict, ...] = field(default_factory=tuple)
    look: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "score": self.score,
            "reason": self.reason,
            "look": self.look,
            "metrics": [m.to_dict() for m in self.metrics],
        }


def judge_metric(
    canary: ArrayLike,
    baseline: ArrayLike,
    spec: MetricSpec,
    *,
    alpha: float = ALPHA,
    look: int | None = None,
) -> MetricVerdict:
    """The verdict on one metric's canary samples against its baseline samples.

    Non-finite samples are dropped (and counted). ``look`` is the 1-based look of a
    sequential analysis (see the module's notes); ``None`` judges a fixed sample.
    """
    c_all = np.asarray(canary, dtype=np.float64).ravel()
    b_all = np.asarray(baseline, dtype=np.float64).ravel()
    c, b = c_all[np.isfinite(c_all)], b_all[np.isfinite(b_all)]
    level = _level(alpha, look)
    base = MetricVerdict(
        metric=spec.name,
        verdict="inconclusive",
        reason="",
        direction=spec.direction,
        tolerance=spec.tolerance,
        critical=spec.critical,
        weight=spec.weight,
        canary_n=len(c),
        baseline_n=len(b),
        confidence=level,
        dropped_nan=int(len(c_all) - len(c) + len(b_all) - len(b)),
    )
    missing = [side for side, v in (("canary", c), ("baseline", b)) if not len(v)]
    if missing:
        return replace(base, reason=f"no {' and no '.join(missing)} data")
    canary_median, baseline_median = float(np.median(c)), float(np.median(b))
    shift, low, high = hodges_lehmann(c, b, confidence=level)
    scale = abs(baseline_median) or float(np.mean(np.abs(b)))
    rel, rel_low, rel_high = (_relative(v, scale) for v in (shift, low, high))
    alternative = {"increase": "greater", "decrease": "less"}.get(spec.direction, "two-sided")
    found = replace(
        base,
        canary_median=canary_median,
        baseline_median=baseline_median,
        shift=shift,
        shift_interval=(low, high),
        relative_shift=rel,
        relative_interval=(rel_low, rel_high),
        p_value=mann_whitney_p(c, b, alternative=alternative),
    )
    short = min(len(c), len(b))
    if short < spec.min_points:
        side = "canary" if len(c) < len(b) else "baseline"
        return replace(
            found, reason=f"too little data: {short} {side} points, {spec.min_points} needed"
        )
    verdict, reason = _decide(spec, rel_low, rel_high)
    return replace(found, verdict=verdict, reason=reason)


def judge_canary(
    canary: Mapping[str, ArrayLike],
    baseline: Mapping[str, ArrayLike],
    specs: Sequence[MetricSpec] | None = None,
    *,
    alpha: float = ALPHA,
    look: int | Mapping[str, int] | None = None,
    pass_threshold: float = PASS_THRESHOLD,
    marginal_threshold: float = MARGINAL_THRESHOLD,
    silent_for: float | None = None,
    silent_after: float = SILENT_AFTER_SECONDS,
) -> CanaryVerdict:
    """The release's verdict from each metric's canary and baseline samples.

    ``specs`` names the metrics judged (default: every metric in either mapping,
    direction ``either``); a metric absent from one mapping has no data there.
    ``look`` is the look of a sequential analysis, one for all metrics or each
    metric's own (:class:`SequentialJudge` counts them). ``silent_for`` is how long
    (seconds) the baseline has reported while the canary reported nothing; at
    ``silent_after`` or more the release fails.
    """
    if not 0 <= marginal_threshold <= pass_threshold <= 100:
        raise ValueError(
            "expected 0 <= marginal threshold <= pass threshold <= 100, found "
            f"{marginal_threshold} and {pass_threshold}"
        )
    if specs is None:
        specs = [MetricSpec(name) for name in sorted(set(canary) | set(baseline))]
    if not specs:
        raise ValueError("expected at least one metric to judge, found none")
    empty: NDArray[np.float64] = np.empty(0)
    looks = look if isinstance(look, Mapping) else dict.fromkeys((s.name for s in specs), look)
    verdicts = tuple(
        judge_metric(
            canary.get(s.name, empty),
            baseline.get(s.name, empty),
            s,
            alpha=alpha,
            look=looks.get(s.name),
        )
        for s in specs
    )
    shown = look if not isinstance(look, Mapping) else max(look.values(), default=None)
    if (
        silent_for is not None
        and silent_for >= silent_after
        and not any(v.canary_n for v in verdicts)
    ):
        reason = (
            f"silent canary: no data from the canary for {silent_for / 60:.0f} min while "
            f"the baseline reported {sum(v.baseline_n for v in verdicts)} points"
        )
        return CanaryVerdict("fail", 0.0, reason, verdicts, shown)
    return _summarise(verdicts, pass_threshold, marginal_threshold, shown)


class SequentialJudge:
    """A canary judged again as its data grows (every minute, say), stopping at the
    first ``fail``: each metric's interval widens with the number of times it has been
    tested (a look counts once the metric has ``min_points`` on both sides), so the
    chance of ever failing a good canary stays within ``alpha`` per metric.

    >>> seq = SequentialJudge([MetricSpec("latency", "increase")])
    >>> seq.judge({"latency": [10.0] * 5}, {"latency": [10.0] * 20}).verdict
    'pass'
    >>> seq.looks
    {'latency': 1}
    """

    def __init__(self, specs: Sequence[MetricSpec], **options: Any) -> None:
        self.specs = list(specs)
        self.options = options
        self.looks: dict[str, int] = {}

    def judge(
        self,
        canary: Mapping[str, ArrayLike],
        baseline: Mapping[str, ArrayLike],
        *,
        silent_for: float | None = None,
    ) -> CanaryVerdict:
        for spec in self.specs:
            n = min(_n_finite(canary.get(spec.name)), _n_finite(baseline.get(spec.name)))
            if n >= spec.min_points:
                self.looks[spec.name] = self.looks.get(spec.name, 0) + 1
        looks = {s.name: self.looks.get(s.name, 1) for s in self.specs}
        return judge_canary(
            canary, baseline, self.specs, look=looks, silent_for=silent_for, **self.options
        )


def _n_finite(values: ArrayLike | None) -> int:
    if values is None:
        return 0
    return int(np.isfinite(np.asarray(values, dtype=np.float64)).sum())


def _summarise(
    verdicts: tuple[MetricVerdict, ...], pass_at: float, marginal_at: float, look: int | None
) -> CanaryVerdict:
    with_data = [v for v in verdicts if v.has_data]
    total = sum(v.weight for v in with_data)
    if not total:
        return CanaryVerdict(
            "inconclusive", 0.0, "no metric has data on both sides", verdicts, look
        )
    passed = sum(v.weight for v in with_data if v.verdict == "pass")
    failed = [v for v in with_data if v.verdict == "fail"]
    score = round(100.0 * passed / total, 1)
    best = 100.0 * (total - sum(v.weight for v in failed)) / total
    critical = [v for v in failed if v.critical]
    if critical:
        names = ", ".join(v.metric for v in critical)
        return CanaryVerdict("fail", score, f"critical metric failed: {names}", verdicts, look)
    if best < marginal_at:
        names = ", ".join(v.metric for v in failed[:5])
        return CanaryVerdict(
            "fail",
            score,
            f"{len(failed)} metric(s) failed ({names}); score {score:g}",
            verdicts,
            look,
        )
    open_critical = [v for v in verdicts if v.critical and v.verdict != "pass"]
    if score >= pass_at and not open_critical:
        return CanaryVerdict("pass", score, f"score {score:g} >= {pass_at:g}", verdicts, look)
    if score >= marginal_at and not open_critical:
        return CanaryVerdict(
            "marginal",
            score,
            f"score {score:g} between {marginal_at:g} and {pass_at:g}",
            verdicts,
            look,
        )
    undecided = [v for v in verdicts if v.verdict == "inconclusive"]
    names = ", ".join(v.metric for v in undecided[:5])
    return CanaryVerdict(
        "inconclusive",
        score,
        f"{len(undecided)} metric(s) undecided ({names}): more data needed",
        verdicts,
        look,
    )


def _decide(spec: MetricSpec, low: float, high: float) -> tuple[str, str]:
    tol = spec.tolerance
    worse_up = spec.direction in ("increase", "either") and low > tol
    worse_down = spec.direction in ("decrease", "either") and high < -tol
    if worse_up or worse_down:
        return "fail", f"{'higher' if worse_up else 'lower'} by more than {tol:.0%}"
    within_up = spec.direction == "decrease" or high <= tol
    within_down = spec.direction == "increase" or low >= -tol
    if within_up and within_down:
        return "pass", f"within {tol:.0%}"
    return "inconclusive", f"undecided at {tol:.0%}: more data needed"


def _level(alpha: float, look: int | None) -> float:
    if not 0 < alpha < 1:
        raise ValueError(f"expected alpha in (0, 1), found {alpha}")
    if look is None:
        return 1.0 - alpha
    if look < 1:
        raise ValueError(f"expected a look >= 1, found {look}")
    return 1.0 - alpha / (look * (look + 1))


def _relative(value: float, scale: float) -> float:
    if scale > 0:
        return value / scale
    return 0.0 if value == 0 else math.copysign(math.inf, value)


def _pct(value: float) -> str:
    return f"{value:+.0%}" if math.isfinite(value) else ("+inf" if value > 0 else "-inf")


def _json_float(value: float | None) -> float | str | None:
    if value is None or math.isfinite(value):
        return value
    return "inf" if value > 0 else "-inf"
