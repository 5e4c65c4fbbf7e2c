"""The monitoring and rollout policy of a model, read from its spec's ``monitoring:`` and
``canary:`` sections, with the defaults an SRE would pick.

``monitoring:`` (all optional)::

    window: 1d            # the recent past that is judged
    min_points: 100       # fewer joined actuals: accuracy is not judged yet
    cooldown: 6h          # after a retrain or a rollback, no new retrain before this
    retrain: true         # false: report degraded, never act
    persist: 1            # degraded on this many passes in a row before a retrain
    retrain_delay: auto   # data to wait for after the trigger (auto: the backtest's span)
    max_age: null         # e.g. 30d: retrain a version older than this
    drift: {alpha: 0.01, min_effect: 0.5, share: 0.2, act: false}
    accuracy: {window: 3h, max_mase_ratio: 4.0, max_mase: null, min_coverage: null}

Accuracy is reported over ``window`` (MASE with its 90% bootstrap interval over
requests, sMAPE, coverage, pinball). The retrain trigger is the **median series**' MASE
over the last ``accuracy.window``: a retrain when it is more than ``max_mase_ratio``
times the backtest MASE the version was registered with (or above ``max_mase``), or
when the widest band's coverage over ``window`` is below ``min_coverage``; so does a
version older than ``max_age``. The median, because a model is degraded when most of
its series are, not when one of them has an incident (the anomaly detector's business,
and over before a retrained version could help; a model of one or two series is judged
on them alone, so raise ``persist`` there). A short window, because a forecaster that
refits on each request's recent values absorbs much of a lasting change within hours:
what stays is a modest excess that incidents of the same day hide. The retrain then
waits for ``retrain_delay`` of data (``auto``: the span the version's backtest scores,
``(windows - 1) x step + horizon + gap`` steps), so that the new version's backtest (its
gates, and the MASE its own trigger compares with) scores the data since the trigger
rather than a mix of two regimes.

The defaults (3 h, 4.0x, one pass) are what leaving one simulator seed out chose in
every fold among windows of 3 h to 1 d, the pooled, median and second-worst series'
MASE, ratios 1.5-5 and 1-6 passes (``benchmarks/loop.py``, ``benchmarks/
loop_trigger.py``, BENCHMARKS.md): each held-out regime change caught 2 hours after it
began, no action without one. The pooled MASE over a day (the previous trigger, 2.0x)
caught one change of three.

Data drift is measured and reported on every pass (more than ``share`` of the series,
after Benjamini-Hochberg at ``alpha``, moved by at least ``min_effect`` reference sds
from the same hours of the training data's last week) and triggers a retrain only with
``act: true``. The default does not act on it alone: on the simulator without any
change, a day's drift check flagged 4 of 6 series within two hours (autocorrelated
telemetry makes two-sample tests eager), while a forecaster that refits on each
request's recent values absorbs a shift in level, and when it does not, its accuracy
says so.

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
    serving: {tolerance: 0.25, objective: 99.0, period: 30d}   # or serving: false

``serving`` is the policy hook shared with ``modelphase canary judge``: at every canary
step the canary's serving metrics (each request's latency, each minute's fallback
share) are judged against production's over the same stage by the same judge
(:func:`modelphase.decide.judge_canary`, anytime-valid across the stage's passes), and a
failing verdict rolls the canary back whatever its accuracy. So does a fast burn: the
canary's fallback share, as an SLI with ``objective`` (percent of requests the model
answers itself) over ``period``, burning above a page tier's factor over both of the
tier's windows (the Workbook's 14.4x 1h/5m or 6x 6h/30m) among at least
``min_samples`` requests.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelphase.exceptions import SpecError
from modelphase.frame import parse_duration

if TYPE_CHECKING:
    from modelphase.spec import ModelSpec

__all__ = ["Policy", "backtest_span_ns"]

_MONITORING = {
    "window", "min_points", "cooldown", "retrain", "max_age", "drift", "accuracy", "persist",
    "retrain_delay",
}  # fmt: skip
_DRIFT = {"alpha", "min_effect", "share", "act"}
_ACCURACY = {"window", "max_mase_ratio", "max_mase", "min_coverage"}
_CANARY = {
    "steps", "min_samples", "max_samples", "tolerance", "alpha", "max_failure_increase",
    "shadow", "share", "traffic", "min_duration", "max_duration", "serving",
}  # fmt: skip
_SERVING = {"tolerance", "objective", "period"}


@dataclass(frozen=True)
class Policy:
    window_ns: int = 86_400 * 10**9
    min_points: int = 100
    cooldown_ns: int = 6 * 3600 * 10**9
    retrain: bool = True
    persist: int = 1
    retrain_delay_ns: int | None = None  # None: the span the version's backtest scores
    max_age_ns: int | None = None
    drift_alpha: float = 0.01
    drift_min_effect: float = 0.5
    drift_share: float = 0.2
    drift_act: bool = False
    trigger_window_ns: int = 3 * 3600 * 10**9
    max_mase_ratio: float | None = 4.0
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
    serving: bool = True
    serving_tolerance: float = 0.25
    serving_objective: float | None = 99.0
    serving_period_ns: int = 30 * 86_400 * 10**9

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
        serving = plan.get("serving", True)
        serving_plan = _section(
            "canary.serving", serving if isinstance(serving, dict) else {}, _SERVING
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
                retrain_delay_ns=_delay(mon.get("retrain_delay", "auto")),
                max_age_ns=_ns(mon.get("max_age"), None),
                drift_alpha=_fraction(drift.get("alpha", cls.drift_alpha)),
                drift_min_effect=float(drift.get("min_effect", cls.drift_min_effect)),
                drift_share=_fraction(drift.get("share", cls.drift_share)),
                drift_act=bool(drift.get("act", cls.drift_act)),
                trigger_window_ns=_ns(acc.get("window"), cls.trigger_window_ns)
                or cls.trigger_window_ns,
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
                serving=serving is not False,
                serving_tolerance=_tolerance(serving_plan.get("tolerance", cls.serving_tolerance)),
                serving_objective=_objective(serving_plan.get("objective", cls.serving_objective)),
                serving_period_ns=_ns(serving_plan.get("period"), cls.serving_period_ns)
                or cls.serving_period_ns,
            )
        except (TypeError, ValueError) as exc:
            raise SpecError(
                f"monitoring/canary: {exc}", errors=[f"monitoring/canary: {exc}"]
            ) from None
        return out

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    def judging(self, min_samples: int) -> dict[str, Any]:
        """The judge's options of a stage that needs ``min_samples`` comparable points."""
        return {"min_samples": min_samples, "max_samples": self.max_samples,
                "tolerance": self.tolerance, "alpha": self.alpha}  # fmt: skip

    def retrain_delay(self, spec: ModelSpec) -> int:
        """The data (ns) a retrain waits for after its trigger."""
        return backtest_span_ns(spec) if self.retrain_delay_ns is None else self.retrain_delay_ns

    def mase_triggers(
        self, median: float, trained: Any, hours: float
    ) -> tuple[float | None, list[str]]:
        """The accuracy trigger on the median series' MASE over the last ``hours``: its
        ratio to the ``trained`` (backtest) MASE, None without one, and the reasons it
        is degraded (beyond ``max_mase_ratio`` x the backtest's, or above ``max_mase``)."""
        if not math.isfinite(median):
            return None, []
        said = f"the median series' MASE over the last {hours:g} h is {median:.3g}"
        out, ratio = [], None
        if isinstance(trained, int | float) and math.isfinite(trained):
            ratio = median / max(float(trained), 1e-12)
            if self.max_mase_ratio is not None and ratio > self.max_mase_ratio:
                out.append(
                    f"accuracy: {said}, {ratio:.2f}x the backtest's {float(trained):.3g} "
                    f"(limit {self.max_mase_ratio:g}x)"
                )
        if self.max_mase is not None and median > self.max_mase:
            out.append(f"accuracy: {said}, above {self.max_mase:g}")
        return ratio, out


def backtest_span_ns(spec: ModelSpec) -> int:
    """The span of data a version trained on ``spec`` is scored on by its backtest: its
    windows' cutoffs ``step`` apart, each ``horizon`` long after a ``gap``. A retrain
    waits for this much data after its trigger (``retrain_delay: auto``), so that the
    new version's backtest (its gates, and the MASE its own trigger compares with)
    scores the data since the change rather than a mix of the two regimes."""
    bt = spec.backtest
    step = bt.step if bt.step is not None else spec.horizon
    return ((bt.windows - 1) * step + spec.horizon + bt.gap) * spec.frequency_ns


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


def _delay(value: Any) -> int | None:
    if value == "auto":
        return None
    if str(value).strip() in ("0", "0s"):
        return 0
    return _ns(value, 0) or 0


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


def _tolerance(value: Any) -> float:
    number = float(value)
    if not (math.isfinite(number) and number >= 0):
        raise ValueError(f"canary.serving.tolerance: expected a relative shift >= 0, got {value!r}")
    return number


def _objective(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    if not 0 < number < 100:
        raise ValueError(
            f"canary.serving.objective: expected a percentage between 0 and 100 (99 = 1% may "
            f"fall back), got {value!r}"
        )
    return number
