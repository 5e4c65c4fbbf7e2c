"""A fitted upper tail: the probability of a score beyond the largest one seen.

An empirical tail probability among ``n`` past scores can never be smaller than
``1 / (n + 1)``: with 500 points of history no score, however extreme, reaches
``-log10 p = 3``. Peaks over threshold (Pickands 1975; Balkema and de Haan 1974) fit the
excesses of the top ``k`` scores over the ``k``-th largest, ``u``, and extrapolate. A
score above every past one gets ``p = min(1 / (n + 1), k / (n + 1) * S(x - u))``: the
empirical ``1 / (n + 1)`` just past the largest, falling on with the fitted tail beyond
it. Every other score keeps its empirical probability, so the fit only lifts the
ceiling and never reorders the scores below it.

- ``exponential``: ``S(y) = exp(-y / mean excess)``.
- ``pareto``: the generalised Pareto ``S(y) = (1 + xi y / sigma) ** (-1 / xi)``, fitted
  by probability-weighted moments (Hosking and Wallis 1987: closed form, no iterations),
  with the shape ``xi`` held to ``0..0.5`` (no bounded tail that would call the next
  larger score impossible; no tail so heavy that nothing is ever rare).

``k`` is ``share`` of the scores, at least ``MIN_TAIL``.

>>> scores = [float(i) for i in range(1000)]  # the top 20 exceed the 20th by 1..19
>>> tail_probability(scores, 500.0, "exponential", 0.02) == 501 / 1001  # empirical
True
>>> tail_probability(scores, 1000.0, "exponential", 0.02) == 1 / 1001  # just past the top
True
>>> p = tail_probability(scores, 1100.0, "exponential", 0.02)  # mean excess 10
>>> round(-math.log10(p), 1)  # 100 past the largest: far rarer than 1 in 1001
6.9
"""

from __future__ import annotations

import bisect
import math

__all__ = ["MIN_TAIL", "TAILS", "tail_probability"]

#: how the tail beyond the ``k`` largest scores is read
TAILS = ("empirical", "exponential", "pareto")
#: fewest scores a fitted tail is fitted to
MIN_TAIL = 10
_MAX_SHAPE = 0.5


def tail_probability(ranked: list[float], x: float, kind: str, share: float) -> float:
    """``P(score >= x)`` among the ascending scores ``ranked``: empirical,
    ``(1 + #{>= x}) / (1 + n)``, up to the largest; beyond it, fitted (``kind``)."""
    n = len(ranked)
    higher = n - bisect.bisect_left(ranked, x)
    k = max(MIN_TAIL, math.ceil(share * n))
    if kind == "empirical" or higher > 0 or k >= n:
        return (higher + 1) / (n + 1)
    u = ranked[n - k]
    excess = [v - u for v in ranked[n - k + 1 :]]  # k - 1 of them, ascending
    survival = _survival(excess, x - u, kind)
    if survival is None:  # all equal: nothing to fit
        return 1 / (n + 1)
    return max(min(1.0, k * survival), 1e-300) / (n + 1)


def _survival(excess: list[float], y: float, kind: str) -> float | None:
    m = len(excess)
    mean = sum(excess) / m
    if not mean > 0.0 or not math.isfinite(mean):
        return None
    shape, scale = 0.0, mean
    if kind == "pareto" and m >= 3:
        # a1 = E[Y (1 - F(Y))], estimated from the order statistics
        a1 = sum(v * (m - i) for i, v in enumerate(excess, 1)) / (m * (m - 1))
        d = mean - 2.0 * a1
        if d > 0.0:
            shape = min(max((mean - 4.0 * a1) / d, 0.0), _MAX_SHAPE)
            scale = mean * (1.0 - shape)
    if not math.isfinite(y):
        return 0.0
    if shape < 1e-9:
        return math.exp(-y / scale)
    return float((1.0 + shape * y / scale) ** (-1.0 / shape))
