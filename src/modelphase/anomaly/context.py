"""Contextual novelty: has the stream ever gone to this state from this context?

An idea in the spirit of contextual anomaly detection (CAD) and of sequence memories
(HTM): an anomaly is a step the stream's own history did not predict. Each value is
turned into a small discrete *state*: its level, one of ``levels`` equal bins of the
stream's running range (plus an underflow and an overflow bin for values outside it),
and its jump, whether the change from the previous value is a drop, nothing special or
a rise (beyond ``jump`` times the exponentially weighted mean absolute change). The
running range is a pair of envelopes: a new extreme sets them, and they relax towards
the exponentially weighted mean with a half-life of ``halflife`` points, so no file
minimum or maximum is needed and an old spike is forgotten.

The context of a point is the sequence of the last 1, 2, ..., ``order`` states. For each
of these sub-contexts the detector counts how often it occurred and how often each next
state followed it. The score is the share of sub-contexts after which the new state has
never been seen (a context never seen itself counts as unseen): 0 means the step is a
familiar one at every depth, 1 means it is new at every depth. It is sparse: on a
stream that repeats itself (a recurring spike included) it is 0 almost everywhere. It
is 0 for the first ``min_periods`` points and for missing values (which are not learned).

State is bounded: when the transition table holds more than ``capacity`` entries, all
counts are halved and those that fall to 0 are dropped.

Meant as an *additive* member next to a magnitude score (``raw = max(z, seasonal, knn)
+ weight * novelty``, see :class:`SumOf`): among points that are equally far from the
normal, a novel step then ranks above a familiar one.

>>> d = ContextualNovelty()
>>> saw = [0.0, 1.0, 2.0, 3.0, 4.0] * 100           # a ramp that always resets
>>> s = d.score_many(saw + [0.0, 4.0, 0.0, 1.0])   # then: a reset out of turn
>>> float(s[300:500].max()), float(s[-3])
(0.0, 1.0)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from modelphase.anomaly.base import Detector

__all__ = ["ContextualNovelty"]


class ContextualNovelty(Detector):
    """Share of the last 1..``order`` states after which the new state is unseen."""

    name = "context"

    def __init__(
        self,
        levels: int = 4,
        order: int = 3,
        halflife: float = 2000.0,
        jump: float = 2.0,
        capacity: int = 50_000,
        min_periods: int = 50,
    ) -> None:
        self.levels = levels
        self.order = order
        self.halflife = halflife
        self.jump = jump
        self.capacity = capacity
        self.min_periods = min_periods
        super().__init__()

    def reset(self) -> ContextualNovelty:
        self.n_ = 0  # values learned
        self.mean_ = 0.0
        self.lo_ = 0.0  # running range: envelopes relaxing towards the mean
        self.hi_ = 0.0
        self.last_ = 0.0  # the last value learned
        self.step_ = 0.0  # EW mean absolute change
        self.history_ = 0  # the last `depth_` states, as a base-`states` number
        self.depth_ = 0  # states in history_ (at most order)
        self.contexts_: dict[int, int] = {}  # sub-context -> count
        self.transitions_: dict[int, int] = {}  # (sub-context, next state) -> count
        self.alpha_ = 1.0 - 0.5 ** (1.0 / self.halflife)
        self.states_ = (self.levels + 2) * 3
        self.pending_ = None
        return self

    # -- one point ----------------------------------------------------------------

    def _state(self, x: float) -> int:
        levels = self.levels
        if self.n_ == 0:
            return (levels // 2 + 1) * 3 + 1
        lo, hi = self.lo_, self.hi_
        if x > hi:
            q = levels + 1
        elif x < lo:
            q = 0
        elif hi <= lo:
            q = levels // 2 + 1
        else:
            q = 1 + min(levels - 1, int((x - lo) / (hi - lo) * levels))
        j = 1
        if self.step_ > 0.0:
            change = x - self.last_
            limit = self.jump * self.step_
            j = 0 if change < -limit else (2 if change > limit else 1)
        return q * 3 + j

    def _keys(self) -> list[int]:
        """The sub-contexts of the current history, shortest first."""
        out, width, depth = [], 1, self.order + 1
        for k in range(1, self.depth_ + 1):
            width *= self.states_
            out.append((self.history_ % width) * depth + k)
        return out

    def _novelty(self, q: int, keys: list[int]) -> float:
        if not keys or self.n_ < self.min_periods:
            return 0.0
        trans, states = self.transitions_, self.states_
        unseen = sum(1 for c in keys if (c * states + q) not in trans)
        return unseen / len(keys)

    def score_one(self, x: float, t: int | None = None) -> float:
        if x != x:
            return 0.0
        q = self._state(x)
        score = self._novelty(q, self._keys())
        self._remember(x, float(q))
        return score

    def learn_one(self, x: float, t: int | None = None) -> None:
        if x != x:
            return
        recalled = self._recall(x)
        q = self._state(x) if recalled is None else int(recalled)
        ctx, trans, states = self.contexts_, self.transitions_, self.states_
        for c in self._keys():
            ctx[c] = ctx.get(c, 0) + 1
            key = c * states + q
            trans[key] = trans.get(key, 0) + 1
        if len(trans) > self.capacity:
            self._prune()
        self.history_ = (self.history_ * states + q) % states**self.order
        self.depth_ = min(self.depth_ + 1, self.order)
        self._learn_value(x)

    def _prune(self) -> None:
        self.transitions_ = {k: v // 2 for k, v in self.transitions_.items() if v > 1}
        self.contexts_ = {k: v // 2 for k, v in self.contexts_.items() if v > 1}

    def _learn_value(self, x: float) -> None:
        if self.n_:
            self.step_ += max(self.alpha_, 1.0 / self.n_) * (abs(x - self.last_) - self.step_)
        self.last_ = x
        self.n_ += 1
        a = max(self.alpha_, 1.0 / self.n_)
        self.mean_ += a * (x - self.mean_)
        if self.n_ == 1:
            self.lo_ = self.hi_ = x
        else:
            b = self.alpha_
            self.hi_ = x if x > self.hi_ else self.hi_ - b * (self.hi_ - self.mean_)
            self.lo_ = x if x < self.lo_ else self.lo_ + b * (self.mean_ - self.lo_)

    # -- many points --------------------------------------------------------------

    def score_many(
        self,
        values: Sequence[float] | NDArray[np.float64],
        times: Sequence[int] | NDArray[np.int64] | None = None,
    ) -> NDArray[np.float64]:
        """What :meth:`score_one` then :meth:`learn_one` give point by point, in one
        loop over local variables (the same arithmetic, in the same order)."""
        x_all = np.asarray(values, dtype=np.float64).tolist()
        out = np.zeros(len(x_all))
        levels, order, jump = self.levels, self.order, self.jump
        states, depth_w, mod = self.states_, order + 1, self.states_**order
        widths = [states**k for k in range(1, order + 1)]
        mid = levels // 2 + 1
        first_state = mid * 3 + 1
        alpha, cap, min_n = self.alpha_, self.capacity, self.min_periods
        n, mean, lo, hi = self.n_, self.mean_, self.lo_, self.hi_
        last, step, hist, depth = self.last_, self.step_, self.history_, self.depth_
        ctx, trans = self.contexts_, self.transitions_
        for i, x in enumerate(x_all):
            if x != x:
                continue
            # the state
            if n == 0:
                q = first_state
            else:
                if x > hi:
                    lv = levels + 1
                elif x < lo:
                    lv = 0
                elif hi <= lo:
                    lv = mid
                else:
                    lv = 1 + min(levels - 1, int((x - lo) / (hi - lo) * levels))
                j = 1
                if step > 0.0:
                    change = x - last
                    limit = jump * step
                    j = 0 if change < -limit else (2 if change > limit else 1)
                q = lv * 3 + j
            keys = [(hist % widths[k]) * depth_w + k + 1 for k in range(depth)]
            # the score
            if keys and n >= min_n:
                unseen = 0
                for c in keys:
                    if (c * states + q) not in trans:
                        unseen += 1
                out[i] = unseen / len(keys)
            # learning
            for c in keys:
                ctx[c] = ctx.get(c, 0) + 1
                key = c * states + q
                trans[key] = trans.get(key, 0) + 1
            if len(trans) > cap:
                self.transitions_, self.contexts_ = trans, ctx
                self._prune()
                trans, ctx = self.transitions_, self.contexts_
            hist = (hist * states + q) % mod
            if depth < order:
                depth += 1
            if n:
                step += max(alpha, 1.0 / n) * (abs(x - last) - step)
            last = x
            n += 1
            a = max(alpha, 1.0 / n)
            mean += a * (x - mean)
            if n == 1:
                lo = hi = x
            else:
                hi = x if x > hi else hi - alpha * (hi - mean)
                lo = x if x < lo else lo + alpha * (mean - lo)
        self.n_, self.mean_, self.lo_, self.hi_ = n, mean, lo, hi
        self.last_, self.step_, self.history_, self.depth_ = last, step, hist, depth
        self.contexts_, self.transitions_ = ctx, trans
        self.pending_ = None
        return out
