"""Serverless pre-warming: from a function's invocation history, the probability of at
least one invocation in each minute ahead, and a warm plan (a pre-warm and a keep-alive
time) that trades cold starts against idle warm minutes at a stated cost ratio
(``modelphase capacity warm``).

**The model.** The step is a minute, and a function is *invoked* in a minute when it
has at least one request in it. Its idle times are the gaps ``G >= 1`` in minutes
between consecutive invocation minutes, as in "Serverless in the Wild" (Shahrad et al.,
USENIX ATC 2020), treated as a renewal process: what happens after an invocation
depends only on the minutes since it. The estimate is the discrete hazard
``h(k) = P(G = k | G >= k)`` for ``k = 1 .. max_idle`` (240 minutes, the paper's
histogram range), with the minutes since the last invocation as a right-censored idle
time, shrunk towards a constant hazard (a Poisson process at the function's own rate):

    h(k) = (d_k + m q) / (n_k + m),   q = (idle times) / (idle minutes observed)

``d_k`` idle times end at ``k``, ``n_k`` are at risk at ``k`` (censored one included),
``m = prior_strength`` (2 pseudo-observations). Where the history is thick the
empirical hazard rules; where it is thin (long idle times, few of them) the function's
rate does.

**The decision.** Being warm in the ``k``-th minute after an invocation matters only if
no invocation came before it; then an invocation in that minute (probability ``h(k)``)
saves a cold start worth ``cost_ratio`` idle warm minutes, and no invocation wastes one
warm minute. So it pays to be warm when ``h(k) cost_ratio >= 1 - h(k)``, i.e.
``h(k) >= 1 / (1 + cost_ratio)``: the expected cost ``cost_ratio P(cold) + E[idle warm
minutes]`` of a renewal is ``cost_ratio - sum_{k warm} S(k) ((1 + cost_ratio) h(k) -
1)`` (``S`` the survival). A plan is one window of warm minutes ``[a, b]`` after an
invocation (unloaded for ``pre-warm = a - 1`` minutes, then warm for ``keep-alive = b -
a + 1``), so the plan is the contiguous window of largest gain (a maximum subarray),
or no window at all (unload at once) when no minute pays. The window is chosen over
the idle times the history has seen (up to the longest one); where it is still warm
there, it goes on for the break-even time below, since past the longest idle time seen
the hazard is the prior's guess alone (a broken pattern, a function gone quiet) and
the plan does not bet more warm minutes on it than a cold start costs. Its expected
cold-start share (per invocation minute) and idle warm minutes per hour follow from
the same hazard.

**Too little history.** With fewer than ``min_idle_times`` (2) idle times there is no
distribution to read; the plan is then the break-even keep-alive: pre-warm 0, keep
warm for ``ceil(cost_ratio)`` minutes (the ski-rental rule: never pay more than twice
the cost of the best plan in hindsight), and the probabilities are unknown (NaN).

**Not modelled.** Time of day and trends in the rate (a day-long history would be
needed; the hazard is per function, not per hour), concurrency (one instance per
function: a warm instance serves the whole minute), execution times (a minute is the
resolution).

>>> minutes = np.arange(0, 120, 3)  # invoked every third minute
>>> p = plan_function(minutes, now=120, cost_ratio=10.0, horizon=6)
>>> p.prewarm, p.keep_alive, p.basis
(2, 11, 'idle-time model')
>>> [round(float(x), 2) for x in p.p_invocation]
[0.97, 0.03, 0.02, 0.91, 0.05, 0.05]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from modelphase.exceptions import ValidationError

__all__ = [
    "DEFAULT_COST_RATIO",
    "MAX_IDLE",
    "MIN_IDLE_TIMES",
    "PRIOR_STRENGTH",
    "WarmPlan",
    "break_even",
    "hazard",
    "idle_times",
    "invocation_probability",
    "outcome",
    "plan_function",
    "warm_plans",
    "window",
]

#: a cold start costs as much as this many idle warm minutes, unless told otherwise
DEFAULT_COST_RATIO = 10.0
#: the longest idle time the hazard covers, in minutes (the paper's 4-hour range)
MAX_IDLE = 240
#: pseudo-observations of the constant-hazard prior at each idle minute
PRIOR_STRENGTH = 2.0
#: idle times needed before the model is used (fewer: the break-even keep-alive)
MIN_IDLE_TIMES = 2
#: the largest cost ratio accepted (beyond it, every plan keeps warm for good)
MAX_COST_RATIO = 1e6
_MODEL = "idle-time model"
_FALLBACK = "break-even keep-alive"


def _check_ratio(cost_ratio: float) -> None:
    if not (math.isfinite(cost_ratio) and 0 < cost_ratio <= MAX_COST_RATIO):
        raise ValidationError(
            f"expected a cost ratio > 0 and <= {MAX_COST_RATIO:g} (what one cold start costs, "
            f"in idle warm minutes), got {cost_ratio:g}",
            hint="pass e.g. --cost-ratio 10: a cold start is worth 10 idle warm minutes",
        )


def idle_times(minutes: ArrayLike, now: int) -> tuple[NDArray[np.int64], int]:
    """The completed idle times (gaps between consecutive invocation minutes) and the
    censored one: minutes observed without an invocation since the last invocation, up
    to ``now`` (the first minute not observed).

    >>> gaps, open_ = idle_times([2, 3, 7], now=10)
    >>> gaps.tolist(), open_
    ([1, 4], 2)
    """
    m = np.unique(np.asarray(minutes, dtype=np.int64))
    if m.size and int(m[-1]) >= now:
        raise ValidationError(
            f"expected invocation minutes before now ({now}), got {int(m[-1])}",
            hint="pass only the history before the first minute to plan",
        )
    gaps = np.diff(m)
    return gaps, (now - int(m[-1]) - 1) if m.size else 0


def hazard(
    gaps: ArrayLike,
    open_minutes: int = 0,
    *,
    length: int = MAX_IDLE,
    prior_strength: float = PRIOR_STRENGTH,
) -> NDArray[np.float64]:
    """``h[k - 1] = P(G = k | G >= k)`` for ``k = 1 .. length``: the discrete hazard of
    the idle times ``gaps`` (>= 1), one right-censored at ``open_minutes`` idle minutes,
    shrunk towards the constant hazard of the function's rate (module docstring)."""
    g = np.asarray(gaps, dtype=np.int64)
    if g.size == 0:
        raise ValidationError("expected at least one idle time to estimate a hazard, got none")
    if (g < 1).any() or open_minutes < 0:
        raise ValidationError("expected idle times of 1 minute or more")
    if not prior_strength > 0:
        raise ValidationError(f"expected a prior strength > 0, got {prior_strength:g}")
    q = g.size / float(g.sum() + open_minutes)
    ends = np.bincount(np.minimum(g, length + 1), minlength=length + 2)[1 : length + 1]
    # at risk at k: idle times >= k, and the censored one while k <= its idle minutes
    longer = np.bincount(np.minimum(g, length + 1), minlength=length + 2)[::-1].cumsum()[::-1]
    at_risk = longer[1 : length + 1] + (np.arange(1, length + 1) <= open_minutes)
    h = (ends + prior_strength * q) / (at_risk + prior_strength)
    return np.asarray(h, dtype=np.float64)


def _survival(h: NDArray[np.float64]) -> NDArray[np.float64]:
    """``S[k - 1] = P(G >= k)``."""
    return np.concatenate([[1.0], np.cumprod(1.0 - h)[:-1]])


def window(h: NDArray[np.float64], cost_ratio: float) -> tuple[int, int]:
    """``(prewarm, keep_alive)`` in minutes: the contiguous warm window after an
    invocation of least expected cost at ``cost_ratio`` (``(0, 0)``: unload at once).

    >>> window(np.array([0.05, 0.05, 0.8, 0.5, 0.01]), cost_ratio=10.0)
    (2, 2)
    """
    _check_ratio(cost_ratio)
    gain = _survival(h) * ((1.0 + cost_ratio) * h - 1.0)
    total = np.concatenate([[0.0], np.cumsum(gain)])
    low = np.minimum.accumulate(total)[:-1]  # the smallest prefix before each end
    value = total[1:] - low
    end = int(np.argmax(value))  # the earliest end of the best window (0-based)
    if not value[end] > 0:
        return 0, 0
    start = int(np.flatnonzero(total[: end + 1] == low[end])[-1])  # the shortest such
    return start, end + 1 - start


def outcome(h: NDArray[np.float64], prewarm: int, keep_alive: int) -> tuple[float, float]:
    """``(cold-start share, idle warm minutes per idle time)`` expected of a plan: the
    share of invocation minutes that find no warm instance, and the warm minutes without
    an invocation after each one."""
    s = _survival(h)
    k = slice(prewarm, min(prewarm + keep_alive, len(h)))
    warm_hits = float((s[k] * h[k]).sum())
    idle = float((s[k] * (1.0 - h[k])).sum())
    return 1.0 - warm_hits, idle


def invocation_probability(
    h: NDArray[np.float64], open_minutes: int, horizon: int
) -> NDArray[np.float64]:
    """``p[j]``: the probability of at least one invocation in the ``j``-th minute from
    now (``j = 0 .. horizon - 1``), ``open_minutes`` idle minutes after the last one:
    the renewal recursion over the idle-time distribution (``h`` must cover
    ``open_minutes + horizon`` idle minutes; beyond it the function is taken idle)."""
    if len(h) < open_minutes + horizon:
        raise ValidationError(
            f"expected a hazard over {open_minutes + horizon} idle minutes, got {len(h)}"
        )
    pmf = _survival(h) * h  # P(G = k), k = 1..
    e = open_minutes + 1  # the idle time is at least e
    first = pmf[e - 1 : e - 1 + horizon] / _survival(h)[e - 1]
    renew = np.zeros(horizon)  # P(an invocation m minutes after one), m = 0..
    renew[0] = 1.0
    for m in range(1, horizon):
        renew[m] = float(pmf[:m] @ renew[m - 1 :: -1])
    p = np.array([float(first[: j + 1] @ renew[j::-1]) for j in range(horizon)])
    return np.asarray(np.clip(p, 0.0, 1.0), dtype=np.float64)


def break_even(cost_ratio: float, max_idle: int = MAX_IDLE) -> int:
    """The keep-alive of the ski-rental rule: stay warm as long as the idle minutes
    cost less than one cold start (``ceil(cost_ratio)``, at most ``max_idle``)."""
    _check_ratio(cost_ratio)
    return min(max_idle, math.ceil(cost_ratio - 1e-9))


@dataclass(frozen=True)
class WarmPlan:
    """One function's warm plan: after an invocation, unload for ``prewarm`` minutes,
    then keep an instance warm for ``keep_alive`` minutes (both 0: unload at once).
    ``cold_start_share`` and ``wasted_minutes_per_hour`` are what the model expects of
    the plan; ``p_invocation[j]`` is the probability of at least one invocation in the
    ``j``-th minute from now. On the fallback (``basis`` ``"break-even keep-alive"``)
    the model's numbers are NaN and ``note`` says why."""

    function: str
    prewarm: int
    keep_alive: int
    basis: str
    n_idle_times: int
    n_invocation_minutes: int
    idle_minutes: int
    cold_start_share: float
    wasted_minutes_per_hour: float
    p_invocation: NDArray[np.float64] = field(repr=False, compare=False)
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        def num(x: float) -> float | None:
            return round(float(x), 6) if math.isfinite(x) else None

        return {
            "function": self.function,
            "prewarm_minutes": self.prewarm,
            "keep_alive_minutes": self.keep_alive,
            "basis": self.basis,
            "idle_times": self.n_idle_times,
            "invocation_minutes": self.n_invocation_minutes,
            "idle_minutes_now": self.idle_minutes,
            "expected_cold_start_share": num(self.cold_start_share),
            "expected_wasted_minutes_per_hour": num(self.wasted_minutes_per_hour),
            "p_invocation": [num(x) for x in self.p_invocation],
            "note": self.note,
        }


def plan_function(
    minutes: ArrayLike,
    now: int,
    *,
    cost_ratio: float = DEFAULT_COST_RATIO,
    horizon: int = 60,
    function: str = "",
    max_idle: int = MAX_IDLE,
    prior_strength: float = PRIOR_STRENGTH,
    min_idle_times: int = MIN_IDLE_TIMES,
) -> WarmPlan:
    """The warm plan of one function from its invocation minutes (minute indices, any
    origin, each before ``now``, the first minute to plan for)."""
    _check_ratio(cost_ratio)
    if not horizon >= 1:
        raise ValidationError(f"expected a horizon of 1 minute or more, got {horizon}")
    gaps, open_minutes = idle_times(minutes, now)
    n_minutes = gaps.size + 1 if np.size(minutes) else 0
    if n_minutes == 0:
        raise ValidationError(
            f"function {function!r}: expected at least one invocation before now, got none",
            hint="plan only functions invoked in the history",
        )
    if gaps.size < min_idle_times:
        keep = break_even(cost_ratio, max_idle)
        return WarmPlan(
            function,
            0,
            keep,
            _FALLBACK,
            int(gaps.size),
            n_minutes,
            open_minutes,
            math.nan,
            math.nan,
            np.full(horizon, np.nan),
            f"{gaps.size} idle time(s), fewer than {min_idle_times}: kept warm "
            f"ceil(cost ratio) = {keep} min after each invocation",
        )
    h = hazard(gaps, open_minutes, length=max_idle + horizon, prior_strength=prior_strength)
    look, note = min(open_minutes, max_idle), ""
    if look < open_minutes:
        note = (
            f"idle for {open_minutes} min, past the {max_idle}-min range: probabilities "
            f"as after {max_idle} idle minutes"
        )
    seen = min(max_idle, max(int(gaps.max()), open_minutes))
    prewarm, keep_alive = window(h[:seen], cost_ratio)
    if keep_alive and prewarm + keep_alive == seen:  # warm up to the longest idle time seen
        keep_alive = min(max_idle - prewarm, keep_alive + break_even(cost_ratio, max_idle))
    cold, idle = outcome(h[:max_idle], prewarm, keep_alive)
    rate_per_hour = 60.0 * gaps.size / float(gaps.sum() + open_minutes)
    return WarmPlan(
        function,
        prewarm,
        keep_alive,
        _MODEL,
        int(gaps.size),
        n_minutes,
        open_minutes,
        cold,
        idle * rate_per_hour,
        invocation_probability(h, look, horizon),
        note,
    )


def warm_plans(
    functions: Sequence[str],
    minutes: Sequence[ArrayLike],
    now: int,
    *,
    cost_ratio: float = DEFAULT_COST_RATIO,
    horizon: int = 60,
    prior_strength: float = PRIOR_STRENGTH,
    min_idle_times: int = MIN_IDLE_TIMES,
    on_progress: Callable[[int, int], None] | None = None,
) -> list[WarmPlan]:
    """:func:`plan_function` for each function (``minutes[i]`` the invocation minutes
    of ``functions[i]``, on one minute index shared by all, ``now`` the first to plan);
    ``on_progress(done, total)`` is called after each."""
    _check_ratio(cost_ratio)
    if not functions:
        raise ValidationError(
            "expected invocations of at least one function before now, got none",
            hint="check --train-until: it must come after some invocations",
        )
    if len(functions) != len(minutes):
        raise ValidationError(
            f"expected one array of minutes per function, got {len(minutes)} for "
            f"{len(functions)} functions"
        )
    plans = []
    for i, (f, m) in enumerate(zip(functions, minutes, strict=True)):
        plans.append(
            plan_function(
                m,
                now,
                cost_ratio=cost_ratio,
                horizon=horizon,
                function=str(f),
                prior_strength=prior_strength,
                min_idle_times=min_idle_times,
            )
        )
        if on_progress is not None:
            on_progress(i + 1, len(functions))
    return plans
