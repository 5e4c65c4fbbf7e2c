"""The rollout judge: is a candidate version at least as accurate as production, on the
evidence so far, or is there not enough of it yet?

Errors are absolute errors scaled by each series' naive error (so series of different
units compare), and what is judged is the ratio of the candidate's mean error to
production's: the MASE ratio, the quantity the retrain trigger watches. A candidate
passes when it is shown *non-inferior*, the ratio below ``1 + tolerance`` (a one-sided
test at ``alpha``); it fails when it is shown *worse* than that, or when it answers with
the fallback or fails clearly more often than production (an exact binomial test).
Between the two the verdict is ``wait``: "not enough data yet", never a guess; and a
candidate still undecided after ``max_samples`` fails as inconclusive, because a rollout
should not promote without evidence.

The ratio's distribution comes from the bootstrap over requests: a request's errors
(its series' steps ahead) are resampled together, since they move together. In shadow
both versions answered the same requests, so a request is resampled with both of its
answers (paired), and so in canary while the candidate still answers in shadow; a
canary without shadow answers answered other requests than production in the same
window, and each side is resampled on its own. A rank test (Mann-Whitney, Wilcoxon) was tried first
and dropped: it judges the median, and on the simulator it passed a shadow whose mean
error was 1.24 times production's, because most of its errors were smaller and a few
far larger.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from modelphase.decide import judge_canary
from modelphase.decide.serving import fast_burn, serving_samples, serving_specs

if TYPE_CHECKING:
    from modelphase.monitor.policy import Policy

__all__ = ["Verdict", "judge", "serving_verdict"]


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
    requests: ArrayLike | None = None,
    baseline_requests: ArrayLike | None = None,
    min_samples: int = 50,
    max_samples: int = 5000,
    tolerance: float = 0.1,
    alpha: float = 0.05,
    failures: tuple[int, int] = (0, 0),
    baseline_failures: tuple[int, int] = (0, 0),
    max_failure_increase: float = 0.01,
    draws: int = 2000,
    seed: int = 0,
) -> Verdict:
    """The verdict on ``candidate``'s scaled errors against ``baseline``'s.

    ``requests`` and ``baseline_requests`` say which request each error belongs to
    (default: each error its own); when ``paired`` the two sides are the same requests
    and steps in the same order, and ``requests`` serves both. ``failures`` and
    ``baseline_failures`` are ``(failed, requests)``: answers by the fallback or errors.
    """
    cand = np.asarray(candidate, dtype=np.float64)
    base = np.asarray(baseline, dtype=np.float64)
    c_req = _requests(requests, len(cand))
    if paired:
        if cand.shape != base.shape:
            raise ValueError("paired errors must have the same length")
        keep = np.isfinite(cand) & np.isfinite(base)
        cand, base, c_req = cand[keep], base[keep], c_req[keep]
        b_req = c_req
    else:
        b_req = _requests(baseline_requests, len(base))
        kc, kb = np.isfinite(cand), np.isfinite(base)
        cand, c_req, base, b_req = cand[kc], c_req[kc], base[kb], b_req[kb]
    n = int(min(len(cand), len(base)))
    evidence: dict[str, Any] = {
        "test": "bootstrap of the mean error ratio, " + ("paired" if paired else "unpaired"),
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
    if not base.any():
        return Verdict("wait", "not enough data yet: production made no error to compare", evidence)
    ratios = _ratios(cand, c_req, base, b_req, paired, draws, seed)
    ratio = float(np.mean(cand) / np.mean(base))
    margin = 1.0 + tolerance
    better = float((np.sum(ratios >= margin) + 1) / (len(ratios) + 1))
    worse = float((np.sum(ratios <= margin) + 1) / (len(ratios) + 1))
    low, high = np.percentile(ratios, [100 * alpha, 100 * (1 - alpha)])
    evidence.update(
        error_ratio=ratio,
        ratio_interval=[float(low), float(high)],
        p_noninferior=better,
        p_worse=worse,
    )
    where = f"error ratio {ratio:.2f}, {1 - 2 * alpha:.0%} interval {low:.2f}-{high:.2f}"
    if worse < alpha:
        return Verdict(
            "fail", f"worse than production by more than {tolerance:.0%} ({where})", evidence
        )
    if better < alpha:
        return Verdict("pass", f"not worse than production by {tolerance:.0%} ({where})", evidence)
    if n >= max_samples:
        return Verdict("fail", f"inconclusive after {n} points ({where}); not promoting", evidence)
    return Verdict(
        "wait", f"not enough data yet: no clear difference in {n} points ({where})", evidence
    )


def _requests(given: ArrayLike | None, n: int) -> NDArray[np.intp]:
    if given is None:
        return np.arange(n)
    codes, _ = pd.factorize(np.asarray(given))
    if len(codes) != n:
        raise ValueError("requests must give one request per error")
    return np.asarray(codes, dtype=np.intp)


def _sums(
    err: NDArray[np.float64], req: NDArray[np.intp]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    codes, _ = pd.factorize(req)
    sums = np.asarray(np.bincount(codes, weights=err), dtype=np.float64)
    return sums, np.bincount(codes).astype(np.float64)


def _ratios(
    cand: NDArray[np.float64],
    c_req: NDArray[np.intp],
    base: NDArray[np.float64],
    b_req: NDArray[np.intp],
    paired: bool,
    draws: int,
    seed: int,
) -> NDArray[np.float64]:
    rng = np.random.default_rng(seed)
    if paired:
        codes, _ = pd.factorize(c_req)
        sc, sb = np.bincount(codes, weights=cand), np.bincount(codes, weights=base)
        pick = rng.integers(0, len(sc), size=(draws, len(sc)))
        with np.errstate(divide="ignore", invalid="ignore"):
            out = sc[pick].sum(axis=1) / sb[pick].sum(axis=1)
    else:
        sums_c, nc = _sums(cand, c_req)
        sums_b, nb = _sums(base, b_req)
        pc = rng.integers(0, len(sums_c), size=(draws, len(sums_c)))
        pb = rng.integers(0, len(sums_b), size=(draws, len(sums_b)))
        with np.errstate(divide="ignore", invalid="ignore"):
            out = (sums_c[pc].sum(axis=1) / nc[pc].sum(axis=1)) / (
                sums_b[pb].sum(axis=1) / nb[pb].sum(axis=1)
            )
    return np.asarray(out[np.isfinite(out)], dtype=np.float64)


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


def _mean(values: np.ndarray) -> float | None:
    return float(np.mean(values)) if len(values) else None


def serving_verdict(
    canary: pd.DataFrame, baseline: pd.DataFrame, policy: Policy, look: int
) -> Verdict:
    """The canary's serving metrics (its decision log rows) against production's, by
    the judge of ``modelphase canary judge`` at the stage's ``look``, and the burn of
    its fallback share: ``fail`` when either fails, else ``pass`` with the evidence
    (the accuracy verdict decides then)."""
    found = judge_canary(
        serving_samples(canary),
        serving_samples(baseline),
        serving_specs(policy.serving_tolerance),
        look=max(look, 1),
    )
    burning = None
    if policy.serving_objective is not None:
        burning = fast_burn(
            canary,
            policy.serving_objective,
            period=policy.serving_period_ns // 10**9,
            min_events=policy.min_samples,
        )
    evidence = {
        "serving": {
            "verdict": found.verdict,
            "score": found.score,
            "reason": found.reason,
            "look": look,
            "metrics": [m.to_dict() for m in found.metrics],
            "fast_burn": None if burning is None else burning.reason,
        }
    }
    if burning is not None:
        return Verdict("fail", burning.reason, evidence)
    if found.verdict == "fail":
        return Verdict("fail", f"serving metrics: {found.reason}", evidence)
    return Verdict("pass", f"serving metrics: {found.verdict}", evidence)
