"""The monitoring and rollout policy of a model, read from its spec's ``monitoring:`` and
``canary:`` sections, with the defaults an SRE would pick.

``monitoring:`` (all optional)::

    window: 1d            # the recent past that is judged
    min_points: 100       # fewer joined actuals: accuracy is not judged yet
    cooldown: 6h          # after a retrain or a rollback, no new retrain before this
    retrain: true         # false: report degraded, never act
    persist: 1            # degraded on this many passes in a row before a retrain
    max_age: null         # e.g. 30d: retrain a version older than this
    drift: {alpha: 0.01, min_effect: 0.5, share: 0.2, act: false}
    accuracy: {max_mase_ratio: 2.0, max_mase: null, min_coverage: null}

The defaults (2.0, one pass) are what leaving one simulator seed out chose most often
among ratios 1.5-3 and 1-3 passes (``benchmarks/loop.py``, BENCHMARKS.md): no false
action on any seed, but they caught one regime change of three, because the backtest's
few windows are a weak reference.

Accuracy triggers a retrain when the recent MASE is more than ``max_mase_ratio`` times
the backtest MASE the version was registered with (or above ``max_mase``), judged on the
lower end of its 90% bootstrap interval (over requests) so that a noisy window of a
healthy model does not pass for a degraded one, or when the widest
band's recent coverage is below ``min_coverage``; so does a version older than
``max_age``. Data drift is measured and reported on every pass (more than ``share`` of
the series, after Benjamini-Hochberg at ``alpha``, moved by at least ``min_effect``
reference sds from the same hours of the training data's last week) and triggers a
retrain only with ``act: true``. The default does not act on it alone: on the simulator
without any change, a day's drift check flagged 4 of 6 series within two hours
(autocorrelated telemetry makes two-sample tests eager), while a forecaster that refits
on each request's recent values absorbs a shift in level, and when it does not, its
accuracy says so.

``canary:`` (the plan training stored with the version)::

    steps: [10, 50, 100]  # percent of traffic per step; 100 ends in promotion
    min_samples: 50       # comparable points before a step is judged
    max_samples: 5000     # still undecided after this many: fail as inconclusive
    tolerance: 0.1        # a candidate may be this much worse and still pass
    alpha: 0.05
    max_failure_increase: 0.01
    min_duration: 0s      # a stage (shadow, each step) lasts at least this much data
    max_duration: 3d      # and fails when still undecided after this much
    shadow: {min_samples: 50}   # or shadow: false to go straight to the canary
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelphase.exceptions import SpecError
from modelphase.frame import parse_duration

__all__ = ["Policy"]

_MONITORING = {
    "window", "min_points", "cooldown", "retrain", "max_age", "drift", "accuracy", "persist",
}  # fmt: skip
_DRIFT = {"alpha", "min_effect", "share", "act"}
_ACCURACY = {"max_mase_ratio", "max_mase", "min_coverage"}
_CANARY = {
    "steps", "min_samples", "max_samples", "tolerance", "alpha", "max_failure_increase",
    "shadow", "share", "traffic", "min_duration", "max_duration",
}  # fmt: skip


@dataclass(frozen=True)
class Policy:
    window_ns: int = 86_400 * 10**9
    min_points: int = 100
    cooldown_ns: int = 6 * 3600 * 10**9
    retrain: bool = True
    persist: int = 1
    max_age_ns: int | None = None
    drift_alpha: float = 0.01
    drift_min_effect: float = 0.5
    drift_share: float = 0.2
    drift_act: bool = False
    max_mase_ratio: float | None = 2.0
    max_mase: float | None = None
    min_coverage: float | None = None
    steps: tuple[float, ...] = (10.0, 50.0, 100.0)
    min_samples: int = 50
    max_samples: int = 5000
    tolerance: float = 0.1
    alpha: float = 0.05
    max_failure_increase: float = 0.01
    shadow: bool = True
    shadow_min_samples: int = 50
    min_duration_ns: int = 0
    max_duration_ns: int = 3 * 86_400 * 10**9

    @classmethod
    def of(cls, monitoring: Mapping[str, Any] | None, canary: Mapping[str, Any] | None) -> Policy:
        """The policy of a spec's sections; a :class:`SpecError` names a bad key."""
        mon = dict(monitoring or {})
        plan = dict(canary or {})
        _known("monitoring", mon, _MONITORING)
        _known("canary", plan, _CANARY)
        drift = _section("monitoring.drift", mon.get("drift"), _DRIFT)
        acc = _section("monitoring.accuracy", mon.get("accuracy"), _ACCURACY)
        shadow = plan.get("shadow", True)
        shadow_plan = _section(
            "canary.shadow", shadow if isinstance(shadow, dict) else {}, {"min_samples"}
        )
        try:
            steps = tuple(float(s) for s in plan.get("steps", cls.steps))
            if not steps or any(not 0 < s <= 100 for s in steps) or list(steps) != sorted(steps):
                raise ValueError("canary.steps: expected increasing percentages in (0, 100]")
            out = cls(
                window_ns=_ns(mon.get("window"), cls.window_ns) or cls.window_ns,
                min_points=_int(mon.get("min_points", cls.min_points), 1),
                cooldown_ns=_ns(mon.get("cooldown"), cls.cooldown_ns) or 0,
                retrain=bool(mon.get("retrain", True)),
                persist=_int(mon.get("persist", cls.persist), 1),
                max_age_ns=_ns(mon.get("max_age"), None),
                drift_alpha=_fraction(drift.get("alpha", cls.drift_alpha)),
                drift_min_effect=float(drift.get("min_effect", cls.drift_min_effect)),
                drift_share=_fraction(drift.get("share", cls.drift_share)),
                drift_act=bool(drift.get("act", cls.drift_act)),
                max_mase_ratio=_opt(acc.get("max_mase_ratio", cls.max_mase_ratio)),
                max_mase=_opt(acc.get("max_mase")),
                min_coverage=_opt(acc.get("min_coverage")),
                steps=steps if steps[-1] == 100.0 else (*steps, 100.0),
                min_samples=_int(plan.get("min_samples", cls.min_samples), 1),
                max_samples=_int(plan.get("max_samples", cls.max_samples), 1),
                tolerance=float(plan.get("tolerance", cls.tolerance)),
                alpha=_fraction(plan.get("alpha", cls.alpha)),
                max_failure_increase=_fraction(
                    plan.get("max_failure_increase", cls.max_failure_increase)
                ),
                shadow=shadow is not False,
                min_duration_ns=_ns(plan.get("min_duration"), 0) or 0,
                max_duration_ns=_ns(plan.get("max_duration"), cls.max_duration_ns)
                or cls.max_duration_ns,
                shadow_min_samples=_int(shadow_plan.get("min_samples", cls.shadow_min_samples), 1),
            )
        except (TypeError, ValueError) as exc:
            raise SpecError(
                f"monitoring/canary: {exc}", errors=[f"monitoring/canary: {exc}"]
            ) from None
        return out

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _known(where: str, given: Mapping[str, Any], known: set[str]) -> None:
    unknown = sorted(set(given) - known)
    if unknown:
        raise SpecError(
            f"{where}: unknown key(s) {', '.join(unknown)}; expected among "
            f"{', '.join(sorted(known))}",
            errors=[f"{where}: unknown key {k!r}" for k in unknown],
        )


def _section(where: str, value: Any, known: set[str]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SpecError(f"{where}: expected a mapping, got {value!r}", errors=[where])
    _known(where, value, known)
    return value


def _ns(value: Any, default: int | None) -> int | None:
    if value is None:
        return default
    return parse_duration(str(value))


def _int(value: Any, low: int) -> int:
    if isinstance(value, bool) or int(value) != value or value < low:
        raise ValueError(f"expected an integer >= {low}, got {value!r}")
    return int(value)


def _fraction(value: Any) -> float:
    number = float(value)
    if not 0.0 <= number <= 1.0:
        raise ValueError(f"expected a fraction in [0, 1], got {value!r}")
    return number


def _opt(value: Any) -> float | None:
    return None if value is None else float(value)
