"""Streaming change detectors: one value at a time, a flag right after a change.

Every detector has river's drift-detector shape: ``update(x)`` with one float, and the
read-only ``drift_detected``, True right after the update that detected a change (the
next update starts afresh). NaN and infinities are counted in ``n_missing_`` and
otherwise ignored. ``__init__`` stores its keyword hyper-parameters unchanged; they are
checked, and the learned state (ending in ``_``) made, at the first update, so
``get_params()`` is plain JSON and ``type(d)(**d.get_params())`` is a fresh copy.

- :class:`PageHinkley`: the Page-Hinkley test (Page 1954), river's algorithm and
  defaults, on the raw values (``threshold`` and ``delta`` are in the data's units).
- :class:`ADWIN`: adaptive windowing (Bifet and Gavaldà 2007), river's.
- :class:`CUSUM`: two-sided CUSUM (Page 1954) on values standardised by the mean and
  standard deviation of a warm-up.
- :class:`BOCPD`: Bayesian online change points (Adams and MacKay 2007), with a
  bounded run-length distribution.

river or ours: river (PyPI) installs here (a 2.7 MB wheel, 11 MB installed). Its ADWIN
runs in Rust, 0.2 µs per update, where an exponential histogram in Python would be
tens of times slower and fiddly to get right: we wrap it. ``import river.drift`` takes
1.3 s (it imports river's data sets, and scikit-learn when present), so it is imported
at an ADWIN's first update, never at ``import modelphase``. Its Page-Hinkley is twenty
lines of Python (0.6 µs per update) that would cost that import for nothing, and it
lets NaN into its running mean (which then stays NaN): :class:`PageHinkley` is the same
algorithm here, checked against river's in the tests. river has no CUSUM or BOCPD.

>>> import numpy as np
>>> x = np.r_[np.zeros(300), np.full(100, 4.0)] + np.random.default_rng(1).normal(0, 1, 400)
>>> detector = CUSUM()
>>> flags = []
>>> for i, value in enumerate(x):
...     detector.update(value)
...     if detector.drift_detected:
...         flags.append(i)
>>> flags
[302]
"""

from __future__ import annotations

import inspect
import math
from abc import ABC, abstractmethod
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.special import gammaln, logsumexp

from modelphase.exceptions import ValidationError

__all__ = ["ADWIN", "BOCPD", "CUSUM", "PageHinkley", "StreamingDetector"]


class StreamingDetector(ABC):
    """The shared shape: parameters from ``__init__``'s signature, NaN counted and
    skipped, the flag cleared by the update after it was raised."""

    _drift = False

    def get_params(self) -> dict[str, Any]:
        names = inspect.signature(type(self).__init__).parameters
        return {name: getattr(self, name) for name in names if name != "self"}

    @property
    def drift_detected(self) -> bool:
        """True right after the update that detected a change."""
        return self._drift

    def update(self, x: float) -> None:
        """Learn one value; NaN and infinities are counted and skipped."""
        if not hasattr(self, "n_"):
            self._check()
            self.n_ = 0
            self.n_missing_ = 0
            self.n_detections_ = 0
            self._reset()
        x = float(x)
        if not math.isfinite(x):
            self.n_missing_ += 1
            self._drift = False
            return
        if self._drift:
            self._reset()
        self.n_ += 1
        self._drift = self._step(x)
        self.n_detections_ += self._drift

    @abstractmethod
    def _check(self) -> None:
        """Refuse bad hyper-parameters (at the first update)."""

    @abstractmethod
    def _reset(self) -> None:
        """Forget the current regime (at the start, and after a detection)."""

    @abstractmethod
    def _step(self, x: float) -> bool:
        """Learn ``x`` (finite); True when it shows a change."""


def _at_least(name: str, value: float, low: float, strict: bool = False) -> None:
    if not (value > low if strict else value >= low):
        sign = ">" if strict else ">="
        raise ValidationError(f"{name}: expected a number {sign} {low}, got {value!r}")


class PageHinkley(StreamingDetector):
    """The Page-Hinkley test, as river's ``drift.PageHinkley``: the cumulative
    deviation from the running mean, faded by ``alpha`` and less ``delta`` a step,
    flags a change when it rises more than ``threshold`` above its lowest (or falls
    below its highest); ``mode`` is ``"up"``, ``"down"`` or ``"both"``."""

    def __init__(
        self,
        *,
        min_instances: int = 30,
        delta: float = 0.005,
        threshold: float = 50.0,
        alpha: float = 1 - 0.0001,
        mode: str = "both",
    ) -> None:
        self.min_instances = min_instances
        self.delta = delta
        self.threshold = threshold
        self.alpha = alpha
        self.mode = mode

    def _check(self) -> None:
        _at_least("min_instances", self.min_instances, 1)
        _at_least("delta", self.delta, 0)
        _at_least("threshold", self.threshold, 0, strict=True)
        if not 0 < self.alpha <= 1:
            raise ValidationError(f"alpha: expected a number in (0, 1], got {self.alpha!r}")
        if self.mode not in ("up", "down", "both"):
            raise ValidationError(f"mode: expected 'up', 'down' or 'both', got {self.mode!r}")

    def _reset(self) -> None:
        self.count_ = 0
        self.mean_ = 0.0
        self.sum_up_ = self.sum_down_ = 0.0
        self.min_up_, self.max_down_ = math.inf, -1.0

    def _step(self, x: float) -> bool:
        self.count_ += 1
        self.mean_ += (x - self.mean_) / self.count_
        dev = x - self.mean_
        self.sum_up_ = self.alpha * self.sum_up_ + dev - self.delta
        self.sum_down_ = self.alpha * self.sum_down_ + dev + self.delta
        self.min_up_ = min(self.min_up_, self.sum_up_)
        self.max_down_ = max(self.max_down_, self.sum_down_)
        if self.count_ < self.min_instances:
            return False
        up = self.sum_up_ - self.min_up_ > self.threshold
        down = self.max_down_ - self.sum_down_ > self.threshold
        return {"up": up, "down": down, "both": up or down}[self.mode]


class ADWIN(StreamingDetector):
    """Adaptive windowing: a change when two sub-windows of the recent values have
    means further apart than a Hoeffding-style bound at confidence ``delta``; river's
    ``drift.ADWIN`` with its parameters (checked every ``clock`` values)."""

    def __init__(
        self,
        *,
        delta: float = 0.002,
        clock: int = 32,
        max_buckets: int = 5,
        min_window_length: int = 5,
        grace_period: int = 10,
    ) -> None:
        self.delta = delta
        self.clock = clock
        self.max_buckets = max_buckets
        self.min_window_length = min_window_length
        self.grace_period = grace_period

    def _check(self) -> None:
        if not 0 < self.delta < 1:
            raise ValidationError(f"delta: expected a number in (0, 1), got {self.delta!r}")
        for name in ("clock", "max_buckets", "min_window_length", "grace_period"):
            _at_least(name, getattr(self, name), 1)

    def _reset(self) -> None:
        from river import drift  # 1.3 s: only when an ADWIN is used

        self.detector_ = drift.ADWIN(**self.get_params())  # type: ignore[no-untyped-call]

    def _step(self, x: float) -> bool:
        self.detector_.update(x)  # type: ignore[no-untyped-call]
        return bool(self.detector_.drift_detected)

    @property
    def width_(self) -> int:
        """The values in the current window."""
        return int(self.detector_.width) if hasattr(self, "detector_") else 0


class CUSUM(StreamingDetector):
    """Two-sided CUSUM on standardised values: the first ``warmup`` values give the
    mean and standard deviation, which keep learning from every later value (a
    self-starting CUSUM: a short warm-up's error does not become false alarms); each
    value is standardised by the estimates before it, then ``s+ = max(0, s+ + z - k)`` and
    ``s- = max(0, s- - z - k)`` flag a change when either passes ``h`` (both in
    standard deviations). The defaults detect a shift of 1 sd in about 20 values, of
    2 sd in about 8, and give a false alarm about once in 50,000 stationary values; a
    detection starts a new warm-up, on the new regime."""

    def __init__(self, *, warmup: int = 100, k: float = 0.5, h: float = 10.0) -> None:
        self.warmup = warmup
        self.k = k
        self.h = h

    def _check(self) -> None:
        _at_least("warmup", self.warmup, 2)
        _at_least("k", self.k, 0)
        _at_least("h", self.h, 0, strict=True)

    def _reset(self) -> None:
        self.count_ = 0
        self.mean_ = 0.0
        self.m2_ = 0.0  # Welford's sum of squared deviations
        self.sd_ = 0.0
        self.high_ = self.low_ = 0.0

    def _learn(self, x: float) -> None:
        self.count_ += 1
        step = x - self.mean_
        self.mean_ += step / self.count_
        self.m2_ += step * (x - self.mean_)
        if self.count_ >= self.warmup:
            sd = math.sqrt(self.m2_ / (self.count_ - 1))
            self.sd_ = sd if sd > 0 else max(abs(self.mean_), 1.0) * 1e-6

    def _step(self, x: float) -> bool:
        if self.count_ < self.warmup:
            self._learn(x)
            return False
        z = (x - self.mean_) / self.sd_
        self._learn(x)
        self.high_ = max(0.0, self.high_ + z - self.k)
        self.low_ = max(0.0, self.low_ - z - self.k)
        return self.high_ > self.h or self.low_ > self.h


class BOCPD(StreamingDetector):
    """Bayesian online change points (Adams and MacKay 2007): the posterior of the
    run length (values since the last change) under a constant hazard
    ``1 / expected_run_length``, each run with a Normal-Gamma prior on the mean and
    precision (``mu``, ``kappa``, ``alpha``, ``beta``: TCPDBench's defaults) and its
    Student-t predictive. Values are standardised by a ``warmup``'s mean and sd. A
    change is flagged when the probability that the current run is shorter than the
    regime (the values since the warm-up), less ``window`` values of doubt at its
    start, passes ``threshold``. Only the
    ``max_run_lengths`` most probable run lengths are kept, so each update costs
    O(``max_run_lengths``) time and memory.
    """

    def __init__(
        self,
        *,
        expected_run_length: float = 1000.0,
        mu: float = 0.0,
        kappa: float = 1.0,
        alpha: float = 1.0,
        beta: float = 1.0,
        warmup: int = 30,
        window: int = 10,
        threshold: float = 0.95,
        max_run_lengths: int = 200,
    ) -> None:
        self.expected_run_length = expected_run_length
        self.mu = mu
        self.kappa = kappa
        self.alpha = alpha
        self.beta = beta
        self.warmup = warmup
        self.window = window
        self.threshold = threshold
        self.max_run_lengths = max_run_lengths

    def _check(self) -> None:
        _at_least("expected_run_length", self.expected_run_length, 1, strict=True)
        for name in ("kappa", "alpha", "beta"):
            _at_least(name, getattr(self, name), 0, strict=True)
        _at_least("warmup", self.warmup, 2)
        _at_least("window", self.window, 1)
        if not 0 < self.threshold < 1:
            raise ValidationError(f"threshold: expected a number in (0, 1), got {self.threshold!r}")
        _at_least("max_run_lengths", self.max_run_lengths, self.window + 1)

    def _reset(self) -> None:
        self.count_ = 0
        self.center_ = 0.0
        self.m2_ = 0.0
        self.scale_ = 1.0
        self.runs_: NDArray[np.int64] = np.zeros(1, dtype=np.int64)
        self.log_probs_: NDArray[np.float64] = np.zeros(1)
        self._stats = (np.array([self.mu]), np.array([self.kappa]))
        self._shape = (np.array([self.alpha]), np.array([self.beta]))
        self.p_change_ = 0.0
        self.seen_ = 0  # values after the warm-up

    def _step(self, x: float) -> bool:
        if self.count_ < self.warmup:
            self.count_ += 1
            step = x - self.center_
            self.center_ += step / self.count_
            self.m2_ += step * (x - self.center_)
            if self.count_ == self.warmup:
                sd = math.sqrt(self.m2_ / (self.count_ - 1))
                self.scale_ = sd if sd > 0 else max(abs(self.center_), 1.0) * 1e-6
            return False
        z = (x - self.center_) / self.scale_
        self.seen_ += 1
        (mu, kappa), (alpha, beta) = self._stats, self._shape
        # the Student-t predictive of each run length
        scale2 = beta * (kappa + 1) / (alpha * kappa)
        pred = (
            gammaln(alpha + 0.5)
            - gammaln(alpha)
            - 0.5 * np.log(2 * np.pi * alpha * scale2)
            - (alpha + 0.5) * np.log1p((z - mu) ** 2 / (2 * alpha * scale2))
        )
        hazard = 1.0 / self.expected_run_length
        joint = self.log_probs_ + pred
        log_probs = np.concatenate(
            [[logsumexp(joint) + math.log(hazard)], joint + math.log1p(-hazard)]
        )
        runs = np.concatenate([[0], self.runs_ + 1])
        beta = np.concatenate([[self.beta], beta + kappa * (z - mu) ** 2 / (2 * (kappa + 1))])
        mu = np.concatenate([[self.mu], (kappa * mu + z) / (kappa + 1)])
        kappa = np.concatenate([[self.kappa], kappa + 1])
        alpha = np.concatenate([[self.alpha], alpha + 0.5])
        if len(runs) > self.max_run_lengths:  # keep the most probable, in order
            keep = np.sort(
                np.argpartition(log_probs, -self.max_run_lengths)[-self.max_run_lengths :]
            )
            log_probs, runs, mu, kappa, alpha, beta = (
                a[keep] for a in (log_probs, runs, mu, kappa, alpha, beta)
            )
        self.log_probs_ = log_probs - logsumexp(log_probs)
        self.runs_ = runs
        self._stats, self._shape = (mu, kappa), (alpha, beta)
        before = self.p_change_
        self.p_change_ = float(np.exp(self.log_probs_[runs < self.seen_ - self.window]).sum())
        new_run = self.run_length_ < self.seen_ - self.window
        return new_run and before < self.threshold <= self.p_change_

    @property
    def run_length_(self) -> int:
        """The most probable run length (values since the last change)."""
        return int(self.runs_[np.argmax(self.log_probs_)]) if hasattr(self, "runs_") else 0
