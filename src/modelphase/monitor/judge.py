"""The rollout judge: is a candidate version at least as accurate as production, on the
evidence so far, or is there not enough of it yet?

Errors are absolute errors scaled by each series' naive error (so series of different
units compare). A candidate passes when it is shown *non-inferior*: its errors are
smaller than production's grown by ``tolerance`` (a one-sided test at ``alpha``); it
fails when it is shown *worse* than that, or when it answers with the fallback or fails
clearly more often than production. Between the two the verdict is ``wait``: "not
enough data yet", never a guess; and a candidate still undecided after ``max_samples``
fails as inconclusive, because a rollout should not promote without evidence.

In shadow, both versions answer the same requests, so the test is paired (Wilcoxon's
signed rank on the differences); in canary they answer different requests of the same
window, so it is not (Mann-Whitney U). Both are scipy's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

__all__ = ["Verdict", "judge"]


@dataclass(frozen=True)
class Verdict:
    """``outcome`` is ``pass``, ``fail`` or ``wait``; ``reason`` says why in a line;
    ``evidence`` holds the numbers it rests on (plain JSON)."""

    outcome: str
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def judge(
    candidate: ArrayLike,
    baseline: ArrayLike,
    *,
    paired: bool,
    min_samples: int = 50,
    max_samples: int = 5000,
    tolerance: float = 0.1,
    alpha: float = 0.05,
    failures: tuple[int, int] = (0, 0),
    baseline_failures: tuple[int, int] = (0, 0),
    max_failure_increase: float = 0.01,
) -> Verdict:
    """The verdict on ``candidate``'s scaled errors against ``baseline``'s (the same
    requests in the same order when ``paired``). ``failures`` and ``baseline_failures``
    are ``(failed, requests)``: answers by the fallback or errors."""
    cand = np.asarray(candidate, dtype=np.float64)
    base = np.asarray(baseline, dtype=np.float64)
    if paired:
        if cand.shape != base.shape:
            raise ValueError("paired errors must have the same length")
        keep = np.isfinite(cand) & np.isfinite(base)
        cand, base = cand[keep], base[keep]
    else:
        cand, base = cand[np.isfinite(cand)], base[np.isfinite(base)]
    n = int(min(len(cand), len(base)))
    evidence: dict[str, Any] = {
        "test": "wilcoxon" if paired else "mann-whitney",
        "candidate_n": len(cand),
        "baseline_n": len(base),
        "candidate_error": _mean(cand),
        "baseline_error": _mean(base),
        "tolerance": tolerance,
        "alpha": alpha,
    }
    failed = _failures(failures, baseline_failures, max_failure_increase, alpha, evidence)
    if failed is not None:
        return Verdict("fail", failed, evidence)
    if n < min_samples:
        return Verdict(
            "wait", f"not enough data yet: {n} of {min_samples} comparable points", evidence
        )
    margin = base * (1.0 + tolerance)
    if paired:
        diff = cand - margin
        better = _wilcoxon(diff, "less")
        worse = _wilcoxon(diff, "greater")
    else:
        better = float(stats.mannwhitneyu(cand, margin, alternative="less").pvalue)
        worse = float(stats.mannwhitneyu(cand, margin, alternative="greater").pvalue)
    evidence["p_noninferior"] = better
    evidence["p_worse"] = worse
    ratio = evidence["candidate_error"] / evidence["baseline_error"] if base.any() else None
    evidence["error_ratio"] = ratio
    if worse < alpha:
        return Verdict(
            "fail",
            f"worse than production by more than {tolerance:.0%} (p={worse:.2g}, error ratio "
            f"{_r(ratio)})",
            evidence,
        )
    if better < alpha:
        return Verdict(
            "pass",
            f"not worse than production by {tolerance:.0%} (p={better:.2g}, error ratio "
            f"{_r(ratio)})",
            evidence,
        )
    if n >= max_samples:
        return Verdict("fail", f"inconclusive after {n} points; not promoting", evidence)
    return Verdict(
        "wait",
        f"not enough data yet: no clear difference in {n} points (p={better:.2g})",
        evidence,
    )


def _failures(
    cand: tuple[int, int],
    base: tuple[int, int],
    increase: float,
    alpha: float,
    evidence: dict[str, Any],
) -> str | None:
    failed, requests = cand
    base_rate = base[0] / base[1] if base[1] else 0.0
    evidence["failure_rate"] = failed / requests if requests else None
    evidence["baseline_failure_rate"] = base_rate if base[1] else None
    if not requests or failed == 0:
        return None
    allowed = min(base_rate + increase, 1.0)
    p = float(stats.binomtest(failed, requests, allowed, alternative="greater").pvalue)
    evidence["p_failures"] = p
    if p < alpha:
        return (
            f"fails more often than production: {failed} of {requests} requests "
            f"({failed / requests:.1%} against {base_rate:.1%}, p={p:.2g})"
        )
    return None


def _wilcoxon(diff: np.ndarray, alternative: str) -> float:
    if not np.any(diff != 0):
        return 1.0
    return float(stats.wilcoxon(diff, alternative=alternative, zero_method="zsplit").pvalue)


def _mean(values: np.ndarray) -> float | None:
    return float(np.mean(values)) if len(values) else None


def _r(ratio: float | None) -> str:
    return "-" if ratio is None else f"{ratio:.2f}"
