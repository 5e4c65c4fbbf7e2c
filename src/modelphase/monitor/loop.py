"""The monitoring loop: for every served model, judge its production version on the
actuals that arrived (accuracy from the decision log, drift from the data), write the
verdict to the registry, and, when the policy says so, retrain it and roll the new
version out: shadow, then the canary's steps, then production; or roll it back.

One pass (:meth:`Monitor.run_once`) is what ``modelphase monitor run --once`` does; the
loop repeats it. A pass first takes the registry's monitor lease, so two monitors on one
registry never both act. Every move is written into the model's state before it is
made (``pending``) and the moves are idempotent, so a monitor killed at any moment
finishes the move on its next pass and never makes it twice; a retrain is found again
by the run id it was registered with rather than trained twice.

What a pass judges, per model (the policy is :class:`~modelphase.monitor.policy.Policy`):

- **accuracy**: the production version's logged forecasts whose times fall in the last
  ``window`` of the actuals, joined with them (MASE with its interval, sMAPE, coverage,
  pinball; fewer than ``min_points`` joined: not judged yet); the retrain trigger is
  the median series' MASE over the last ``accuracy.window`` against the version's
  backtest MASE, and the coverage of the widest band; the residuals of the trigger's
  window against the report window's earlier ones (residual drift, reported);
- **drift**: every series of the actuals' last ``window`` against the version's training
  dataset (:func:`modelphase.drift.compare_series`, one correction across the fleet);
- **staleness**: the version's age against ``max_age``.

Detectors are judged (alert rate, drift) and their verdicts written; the automatic
retrain and rollout are for forecasters.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelphase.decisions import read_decisions
from modelphase.drift import compare_series
from modelphase.exceptions import ModelphaseError, StateConflictError
from modelphase.forecast.catalog import default_season
from modelphase.forecast.trained import FLAVOR as FORECAST_FLAVOR
from modelphase.frame import Panel
from modelphase.ingest import DatasetStore, ingest_panel, load_target
from modelphase.monitor._data import (
    answered_by,
    created_ns,
    failures,
    plain,
    plain_json,
    same_hours,
    stored_spec,
    without_pending,
)
from modelphase.monitor.accuracy import (
    JoinCounts,
    accuracy,
    alert_rates,
    forecast_rows,
    join_actuals,
    long_frame,
    mase_bounds,
    median_series_mase,
    relative_to_typical,
    residual_drift,
    scaled_errors,
    score_rows,
    series_scales,
)
from modelphase.monitor.judge import Verdict, judge, serving_verdict
from modelphase.monitor.policy import Policy
from modelphase.monitor.reports import ACTED, DEGRADED, HEALTHY, ModelReport, MonitorReport
from modelphase.registry import ModelVersion, Registry
from modelphase.registry.monitoring import MonitorState, MonitorStore
from modelphase.spec import ModelSpec
from modelphase.train import register_run, train

__all__ = ["ACTED", "DEGRADED", "HEALTHY", "ModelReport", "Monitor", "MonitorReport"]

log = logging.getLogger("modelphase.monitor")

#: an actuals source: the panel of recent telemetry for a model (None: none yet)
Actuals = Callable[[ModelVersion, ModelSpec], Panel | None]
Trainer = Callable[[ModelSpec, Panel, str], ModelVersion | None]


class Monitor:
    """Judge, retrain and roll out the registry's served models.

    ``decisions`` is the decision log's folder; ``actuals`` gives a model's recent
    telemetry (default: its spec's target loaded afresh, which for a Prometheus target
    is a new window); ``store`` holds the datasets (training data for drift, retrain
    snapshots). ``holder`` names this monitor in the lease (default host:pid);
    ``lease_s`` is how long a pass may hold it. ``trainer`` is the retrain step
    (default: :func:`modelphase.train.train` on the actuals, then register).
    """

    def __init__(
        self,
        registry: Registry,
        *,
        decisions: str | Path | None,
        actuals: Actuals | None = None,
        store: DatasetStore | None = None,
        holder: str | None = None,
        lease_s: float = 600.0,
        trainer: Trainer | None = None,
        n_jobs: int | None = 1,
        names: list[str] | None = None,
    ) -> None:
        self.registry = registry
        self.states = MonitorStore(registry)
        self.decisions = Path(decisions) if decisions is not None else None
        self.store = store if store is not None else DatasetStore()
        self.actuals = actuals if actuals is not None else self._target_actuals
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}"
        self.lease_s = lease_s
        self.trainer = trainer if trainer is not None else self._retrain
        self.n_jobs = n_jobs
        self.names = names
        #: the newest actual of the model being judged (the data's clock: cool-downs and
        #: the retrain lag are measured on it, so a replay runs them as production would)
        self._data_end = 0
        #: the dataset each panel of the actuals was snapshotted as, by object
        self._snapshots: dict[int, str] = {}
        self._scaled: tuple[Panel, dict[str, float]] | None = None

    # ---------------------------------------------------------------- the pass

    def run_once(self, *, release: bool = True) -> MonitorReport:
        """One pass over every model with a production alias (or ``names``)."""
        started = time.perf_counter()
        if not self.states.acquire(self.holder, self.lease_s):
            held = self.states.lease() or {}
            return MonitorReport(
                [], self.holder, False, time.perf_counter() - started,
                f"another monitor ({held.get('holder')}) holds the lease until "
                f"{held.get('expires_at')}; nothing done",
            )  # fmt: skip
        reports = []
        try:
            for summary in self.registry.models():
                if "production" not in summary.aliases:
                    continue
                if self.names is not None and summary.name not in self.names:
                    continue
                try:
                    reports.append(self._model(summary.name, summary.aliases))
                except StateConflictError as exc:
                    reports.append(
                        ModelReport(summary.name, summary.aliases.get("production"), "-",
                                    "unknown", [str(exc)])
                    )  # fmt: skip
                if not self.states.acquire(self.holder, self.lease_s):
                    break  # the lease ran out: stop before acting on stale authority
        finally:
            if release:
                self.states.release(self.holder)
        return MonitorReport(reports, self.holder, True, time.perf_counter() - started)

    def _model(self, name: str, aliases: Mapping[str, int]) -> ModelReport:
        prod = self.registry.get(name, aliases["production"])
        state = self.states.state(name)
        report = ModelReport(name, prod.version, state.phase, "unknown")
        spec = stored_spec(prod)
        if spec is None:
            report.reasons.append("no spec stored with the version: not monitored")
            return report
        try:
            policy = Policy.of(spec.monitoring, prod.canary_plan or spec.canary)
        except ModelphaseError as exc:
            report.reasons.append(str(exc))
            return report
        state = self._finish_pending(state, report)
        self._data_end = 0
        try:
            panel = self.actuals(prod, spec)
        except ModelphaseError as exc:
            report.reasons.append(f"actuals unavailable: {exc}")
            panel = None
        decisions = self._decisions(name)
        self._judge_health(prod, spec, policy, panel, decisions, report)
        try:
            if prod.flavor != FORECAST_FLAVOR:
                return report
            if state.phase in ("idle", "retraining"):
                self._idle(state, prod, spec, policy, panel, report)
            elif state.phase == "shadow":
                self._shadow(state, prod, policy, panel, decisions, report)
            elif state.phase == "canary":
                self._canary(state, prod, policy, panel, decisions, report)
            report.phase = self.states.state(name).phase
            return report
        finally:  # the verdict with what the rollout saw and did, even if a step failed
            evidence = {"reasons": report.reasons, "actions": report.actions, **report.evidence}
            self.states.record_health(name, prod.version, report.verdict, plain_json(evidence))

    # ------------------------------------------------------------------ health

    def _judge_health(
        self,
        prod: ModelVersion,
        spec: ModelSpec,
        policy: Policy,
        panel: Panel | None,
        decisions: pd.DataFrame,
        report: ModelReport,
    ) -> None:
        triggers: list[str] = []
        judged = False
        if policy.max_age_ns is not None:
            age = self.registry._now_us() * 1000 - created_ns(prod)
            report.evidence["age_s"] = age / 1e9
            judged = True
            if age > policy.max_age_ns:
                triggers.append(f"stale: version {prod.version} is older than max_age")
        seen = panel.ds[np.isfinite(panel.y)] if panel is not None else np.empty(0, np.int64)
        if not len(seen):
            report.reasons.append("no actuals yet")
        else:
            assert panel is not None
            end = int(seen.max())  # the newest value that arrived, not the grid's end
            self._data_end = end
            report.evidence["actuals_age_s"] = (self.registry._now_us() * 1000 - end) / 1e9
            recent = end - policy.window_ns
            if prod.flavor == FORECAST_FLAVOR:
                judged |= self._accuracy(prod, policy, panel, decisions, recent, report, triggers)
            else:
                judged |= self._alerts(prod, decisions, report)
            judged |= self._drift(prod, policy, panel, recent, report, triggers)
        report.reasons[:0] = triggers
        report.verdict = "degraded" if triggers else "healthy" if judged else "unknown"

    def _accuracy(
        self,
        prod: ModelVersion,
        policy: Policy,
        panel: Panel,
        decisions: pd.DataFrame,
        recent: int,
        report: ModelReport,
        triggers: list[str],
    ) -> bool:
        counts = JoinCounts()
        end = recent + policy.window_ns
        since = end - max(policy.window_ns, policy.trigger_window_ns)
        rows = forecast_rows(answered_by(decisions, prod.version, "production"), counts)
        rows = rows[rows["ds"] > since]
        both, counts = join_actuals(rows, panel, counts)
        joined = both[both["ds"] > recent]
        report.evidence["actuals"] = counts.to_dict()
        if len(joined) < policy.min_points:
            report.reasons.append(
                f"accuracy not judged yet: {len(joined)} of {policy.min_points} forecast "
                "points have actuals"
            )
            return False
        scales = self._scales(panel)
        table = accuracy(joined, by=["version"], scales=scales)
        row: dict[str, Any] = {str(k): v for k, v in table.iloc[0].to_dict().items()}
        evidence = report.evidence["accuracy"] = {k: plain(v) for k, v in row.items()}
        low, high = mase_bounds(joined, scales)
        evidence["mase_low"], evidence["mase_high"] = plain(low), plain(high)
        short = both[both["ds"] > end - policy.trigger_window_ns]
        moved = residual_drift(short, joined[joined["ds"] <= end - policy.trigger_window_ns],
                               scales)  # fmt: skip
        if moved is not None:
            report.evidence["residuals"] = moved
            if moved["drifted"]:
                report.reasons.append(
                    f"residual drift: the last {policy.trigger_window_ns / 3.6e12:g} h's "
                    f"residuals moved by {moved['effect_size']:.2f} sd from the window's "
                    f"earlier ones (bias {moved['bias']:+.2f} scales)"
                )
        if len(short) >= policy.min_points:
            self._trigger(prod, policy, short, scales, evidence, triggers)
        else:
            report.reasons.append(
                f"retrain trigger not judged yet: {len(short)} of {policy.min_points} "
                "forecast points in its window have actuals"
            )
        covers = sorted((c for c in row if c.startswith("coverage_")), key=lambda c: float(c[9:]))
        if policy.min_coverage is not None and covers:
            widest = float(row[covers[-1]])
            if np.isfinite(widest) and widest < policy.min_coverage:
                triggers.append(
                    f"coverage: {widest:.0%} of actuals inside the {covers[-1][9:]}% band "
                    f"(limit {policy.min_coverage:.0%})"
                )
        return True

    def _trigger(
        self,
        prod: ModelVersion,
        policy: Policy,
        short: pd.DataFrame,
        scales: Mapping[str, float],
        evidence: dict[str, Any],
        triggers: list[str],
    ) -> None:
        """The accuracy trigger: the median series' MASE over the trigger's window
        against ``max_mase_ratio`` times the backtest MASE, and against ``max_mase``."""
        median, series = median_series_mase(short, scales)
        hours = policy.trigger_window_ns / 3.6e12
        evidence["trigger"] = {
            "window_s": policy.trigger_window_ns / 1e9,
            "points": len(short),
            "series": series,
            "median_mase": plain(median),
        }
        ratio, said = policy.mase_triggers(median, (prod.metrics or {}).get("mase"), hours)
        if ratio is not None:
            evidence["trigger"]["mase_ratio"] = evidence["mase_ratio"] = ratio
        triggers.extend(said)

    def _alerts(self, prod: ModelVersion, decisions: pd.DataFrame, report: ModelReport) -> bool:
        table = alert_rates(
            score_rows(answered_by(decisions, prod.version, "production")), by=["version"]
        )
        if not len(table):
            return False
        report.evidence["alerts"] = {k: plain(v) for k, v in table.iloc[0].to_dict().items()}
        return True

    def _drift(
        self,
        prod: ModelVersion,
        policy: Policy,
        panel: Panel,
        recent: int,
        report: ModelReport,
        triggers: list[str],
    ) -> bool:
        if not prod.dataset_id:
            return False
        try:
            reference = self.store.load(prod.dataset_id)
        except ModelphaseError as exc:
            report.reasons.append(f"drift not judged: training dataset unavailable ({exc})")
            return False
        trained_until = int(reference.ds.max()) if reference.n_points else recent
        current = long_frame(panel)
        current = current[current["ds"] > max(recent, trained_until)]
        if not len(current):
            report.reasons.append("drift not judged: no actuals after the training data")
            return False
        ref = long_frame(reference)
        ref = ref[ref["unique_id"].isin(current["unique_id"].unique())]
        ref = ref[same_hours(ref["ds"].to_numpy(), current["ds"].to_numpy(), trained_until)]
        found = compare_series(
            ref, current, alpha=policy.drift_alpha, min_effect=policy.drift_min_effect
        )
        tested = found[found["tested"]]
        if not len(tested):
            report.reasons.append("drift not judged: too few actuals per series yet")
            return False
        drifted = tested[tested["drifted"]]
        share = len(drifted) / len(tested)
        top = drifted.sort_values("effect_size", ascending=False, key=np.abs).head(5)
        report.evidence["drift"] = {
            "tested": len(tested),
            "drifted": len(drifted),
            "share": share,
            "top": [
                {"unique_id": r.unique_id, "effect_size": plain(r.effect_size),
                 "p_value": plain(r.p_value)}
                for r in top.itertuples()
            ],
        }  # fmt: skip
        if share > policy.drift_share:
            (triggers if policy.drift_act else report.reasons).append(
                f"drift: {len(drifted)} of {len(tested)} series moved by at least "
                f"{policy.drift_min_effect:g} sd since training (limit {policy.drift_share:.0%})"
            )
        return True

    # ----------------------------------------------------------------- rollout

    def _idle(
        self,
        state: MonitorState,
        prod: ModelVersion,
        spec: ModelSpec,
        policy: Policy,
        panel: Panel | None,
        report: ModelReport,
    ) -> None:
        if state.phase == "idle":
            degraded = report.verdict == "degraded"
            strikes = int(state.data.get("strikes", 0)) + 1 if degraded else 0
            if strikes != int(state.data.get("strikes", 0)):
                state = self.states.save(replace(state, data={**state.data, "strikes": strikes}))
            if not degraded or not policy.retrain or panel is None:
                return
            if strikes < policy.persist:
                report.reasons.append(
                    f"degraded on {strikes} of the {policy.persist} passes in a row a retrain "
                    "waits for"
                )
                return
            last = state.data.get("last_action_data_ns")
            now = self.registry._now_us()
            if last is not None and self._data_end - int(last) < policy.cooldown_ns:
                report.reasons.append("cooling down after the last retrain or rollback")
                return
            run_id = uuid.uuid4().hex[:16]
            state = self.states.save(
                replace(
                    state, phase="retraining", version=None, step=0, since_us=now,
                    data={**state.data, "run_id": run_id, "trigger": report.reasons[:5],
                          "triggered_at_us": now, "triggered_data_ns": self._data_end},
                )
            )  # fmt: skip
        run_id = str(state.data.get("run_id"))
        version = self._retrained(prod.name, run_id)
        if version is None:
            assert panel is not None or state.phase == "retraining"
            if panel is None:
                report.reasons.append("retrain waits for actuals")
                return
            wait = int(state.data.get("triggered_data_ns", 0)) + policy.retrain_delay(spec)
            if self._data_end < wait:
                report.reasons.append(
                    f"retrain waits for {(wait - self._data_end) / 3.6e12:.3g} h more data "
                    "after the trigger, so that its backtest scores the data since"
                )
                return
            version = self.trainer(spec, panel, run_id)
            if version is None or version.gates_passed is False:
                why = "the retrained version failed its gates" if version else "retrain failed"
                report.actions.append(f"retrained: {why}; production stays")
                self._to_idle(state, why)
                return
            report.actions.append(f"retrained {prod.name} v{version.version} ({run_id})")
        trigger = list(state.data.get("trigger") or [])
        evidence = {
            "reason": f"retrained ({trigger[0]})" if trigger else "retrained",
            "trigger": trigger,
            "run_id": run_id,
        }
        if policy.shadow:
            self._begin(state, version, "shadow", 0, None, evidence, report)
        else:
            self._begin(state, version, "canary", 0, policy.steps[0] / 100.0, evidence, report)

    def _shadow(
        self,
        state: MonitorState,
        prod: ModelVersion,
        policy: Policy,
        panel: Panel | None,
        decisions: pd.DataFrame,
        report: ModelReport,
    ) -> None:
        v = self._stage(state, prod, policy, report, "shadow")
        if v is None:
            return
        both = self._paired(decisions, prod.version, v, state.since_us, panel)
        verdict = judge(
            both["err_c"], both["err_b"], paired=True, requests=both["request_id"],
            **policy.judging(policy.shadow_min_samples),
        )  # fmt: skip
        evidence = self._decided(state, policy, report, "shadow", "shadow", v, verdict)
        if evidence is None:
            return
        # the candidate stays in shadow through the canary: its accuracy there is judged
        # on the same requests as production's, the canary's own answers give its
        # failures (and latency) under real traffic
        self._begin(state, self.registry.get(prod.name, v), "canary", 0,
                    policy.steps[0] / 100.0, evidence, report)  # fmt: skip

    def _canary(
        self,
        state: MonitorState,
        prod: ModelVersion,
        policy: Policy,
        panel: Panel | None,
        decisions: pd.DataFrame,
        report: ModelReport,
    ) -> None:
        v = self._stage(state, prod, policy, report, "canary")
        if v is None:
            return
        failed = (failures(decisions, v, "canary", state.since_us),
                  failures(decisions, prod.version, "production", state.since_us))  # fmt: skip
        both = pd.DataFrame()
        if self.registry.live(prod.name).get("shadow") == v:
            both = self._paired(decisions, prod.version, v, state.since_us, panel)
        options = {**policy.judging(policy.min_samples), "failures": failed[0],
                   "baseline_failures": failed[1],
                   "max_failure_increase": policy.max_failure_increase}  # fmt: skip
        if len(both):
            verdict = judge(both["err_c"], both["err_b"], paired=True,
                            requests=both["request_id"], **options)  # fmt: skip
        else:  # no shadow (``shadow: false``, or requests too heavy to shadow)
            cand, base = self._split(decisions, prod.version, v, state.since_us, panel)
            verdict = judge(cand["rel"], base["rel"], paired=False, requests=cand["request_id"],
                            baseline_requests=base["request_id"], **options)  # fmt: skip
        serving = self._serving(state, prod, v, policy, decisions)
        if serving is not None and serving.outcome == "fail":
            verdict = Verdict("fail", serving.reason, {**verdict.evidence, **serving.evidence})
        elif serving is not None:
            verdict = replace(verdict, evidence={**verdict.evidence, **serving.evidence})
        step = policy.steps[min(state.step, len(policy.steps) - 1)]
        label = f"canary {step:g}%"
        evidence = self._decided(state, policy, report, "canary", label, v, verdict)
        if evidence is None:
            return
        nxt = state.step + 1
        if nxt < len(policy.steps) and policy.steps[nxt] < 100.0:
            share = policy.steps[nxt] / 100.0
            self._pending(state, [("promote", "canary", v, share)], evidence)
            report.actions.append(f"canary v{v}: {step:g}% -> {policy.steps[nxt]:g}%")
            data = {**without_pending(self.states.state(prod.name).data),
                    "since_data_ns": self._data_end, "serving_looks": 0}  # fmt: skip
            self.states.save(
                replace(self.states.state(prod.name), phase="canary", version=v, step=nxt,
                        since_us=self.registry._now_us(), data=data)
            )  # fmt: skip
            return
        moves: list[tuple[str, str, int, float | None]] = [
            ("promote", "production", v, None),
            ("unset", "canary", v, None),
            ("unset", "shadow", v, None),
        ]
        self._pending(state, moves, evidence)
        report.actions.append(f"promoted {prod.name} v{v} to production (was v{prod.version})")
        current = self.states.state(prod.name)
        triggered = current.data.get("triggered_at_us")
        lag = (self.registry._now_us() - int(triggered)) / 1e6 if triggered else None
        seen = current.data.get("triggered_data_ns")
        data_lag = (self._data_end - int(seen)) / 1e9 if seen is not None else None
        report.evidence["retrain_lag_s"] = lag
        report.evidence["retrain_lag_data_s"] = data_lag
        self._to_idle(current, f"promoted v{v}", retrain_lag_s=lag, retrain_lag_data_s=data_lag)

    def _serving(
        self,
        state: MonitorState,
        prod: ModelVersion,
        v: int,
        policy: Policy,
        decisions: pd.DataFrame,
    ) -> Verdict | None:
        """The canary's serving metrics against production's since the step began, by
        the judge of ``modelphase canary judge`` (anytime-valid: each pass with canary
        data is one more look), and its fallback share's burn: a ``fail`` Verdict when
        either fails, else a ``pass`` one carrying the evidence; None when off."""
        if not policy.serving:
            return None
        cand = answered_by(decisions, v, "canary", state.since_us)
        base = answered_by(decisions, prod.version, "production", state.since_us)
        current = self.states.state(prod.name)
        look = int(current.data.get("serving_looks", 0)) + (1 if len(cand) else 0)
        if len(cand):
            self.states.save(replace(current, data={**current.data, "serving_looks": look}))
        return serving_verdict(cand, base, policy, look)

    # --------------------------------------------------------------- the moves

    def _begin(
        self,
        state: MonitorState,
        version: ModelVersion,
        phase: str,
        step: int,
        share: float | None,
        evidence: dict[str, Any],
        report: ModelReport,
        leaving: str | None = None,
    ) -> None:
        moves: list[tuple[str, str, int, float | None]] = [
            ("promote", phase, version.version, share)
        ]
        if leaving is not None:
            moves.append(("unset", leaving, version.version, None))
        self._pending(state, moves, evidence)
        where = phase if share is None else f"{phase} at {share:.0%}"
        report.actions.append(f"{version.name} v{version.version} -> {where}")
        data = {**without_pending(state.data), "since_data_ns": self._data_end}
        self.states.save(
            replace(self.states.state(version.name), phase=phase, version=version.version,
                    step=step, since_us=self.registry._now_us(), data=data)
        )  # fmt: skip

    def _abort(
        self,
        state: MonitorState,
        alias: str,
        v: int,
        verdict: Verdict,
        evidence: dict[str, Any],
        report: ModelReport,
    ) -> None:
        moves: list[tuple[str, str, int, float | None]] = [("unset", alias, v, None)]
        if alias == "canary":  # the candidate also answered in shadow through its canary
            moves.append(("unset", "shadow", v, None))
        self._pending(state, moves, evidence)
        report.actions.append(f"rolled back {state.name} v{v} from {alias}: {verdict.reason}")
        self._to_idle(self.states.state(state.name), f"rolled back v{v}: {verdict.reason}")

    def _pending(
        self,
        state: MonitorState,
        moves: list[tuple[str, str, int, float | None]],
        evidence: dict[str, Any],
    ) -> None:
        """Write the moves into the state, make them, then clear them."""
        fresh = self.states.state(state.name)
        pending = {"moves": [list(m) for m in moves], "evidence": plain_json(evidence)}
        fresh = self.states.save(replace(fresh, data={**fresh.data, "pending": pending}))
        self._apply(state.name, pending)
        self.states.save(replace(fresh, data=without_pending(fresh.data)))

    def _finish_pending(self, state: MonitorState, report: ModelReport) -> MonitorState:
        pending = state.data.get("pending")
        if not pending:
            return state
        self._apply(state.name, pending)
        report.actions.append("finished the move an earlier pass was making")
        return self.states.save(replace(state, data=without_pending(state.data)))

    def _apply(self, name: str, pending: Mapping[str, Any]) -> None:
        evidence = dict(pending.get("evidence") or {})
        reason = f"monitor: {evidence.get('reason') or evidence.get('stage') or 'rollout'}"
        for op, alias, version, share in pending.get("moves", []):
            if op == "promote":
                self.registry.promote(
                    name, int(version), alias, reason=reason, share=share, evidence=evidence
                )
            elif self.registry.live(name).get(alias) == int(version):  # unset, still ours
                self.registry.unset(name, alias, reason=reason, evidence=evidence)

    def _to_idle(self, state: MonitorState, why: str, **facts: Any) -> None:
        gone = {
            "run_id", "trigger", "triggered_at_us", "triggered_data_ns", "strikes",
            "since_data_ns",
        }  # fmt: skip
        data = {k: v for k, v in without_pending(state.data).items() if k not in gone}
        data["last_action_us"] = self.registry._now_us()
        data["last_action_data_ns"] = self._data_end
        data["last"] = why
        data.update({k: v for k, v in facts.items() if v is not None})
        self.states.save(replace(state, phase="idle", version=None, step=0, data=data, since_us=0))

    def _stage(
        self,
        state: MonitorState,
        prod: ModelVersion,
        policy: Policy,
        report: ModelReport,
        alias: str,
    ) -> int | None:
        """The candidate version of a shadow or canary stage that is ready to be judged;
        None when someone else moved its alias (the rollout stops) or when it has lasted
        less than the plan's ``min_duration`` of data."""
        v = int(state.version or 0)
        if self.registry.live(prod.name).get(alias) != v:
            self._to_idle(state, f"{alias} no longer holds v{v}: moved by someone else")
            report.reasons.append(f"{alias} moved by someone else; rollout stopped")
            return None
        since = state.data.get("since_data_ns")
        lasted = self._data_end - int(since) if since is not None else policy.min_duration_ns
        if lasted < policy.min_duration_ns:
            report.reasons.append(
                f"{alias} v{v}: wait: it has lasted {lasted / 6e10:.0f} of the plan's "
                f"{policy.min_duration_ns / 6e10:.0f} minutes"
            )
            return None
        return v

    def _decided(
        self,
        state: MonitorState,
        policy: Policy,
        report: ModelReport,
        alias: str,
        label: str,
        v: int,
        verdict: Verdict,
    ) -> dict[str, Any] | None:
        """Note a stage's verdict; None while it waits, or once a failed stage is rolled
        back; else the evidence the next move carries."""
        self._note(report, label, v, verdict)
        verdict = self._expire(state, policy, verdict)
        if verdict.outcome == "wait":
            return None
        evidence = {"stage": label, **verdict.to_dict()}
        if verdict.outcome == "fail":
            self._abort(state, alias, v, verdict, evidence, report)
            return None
        return evidence

    def _expire(self, state: MonitorState, policy: Policy, verdict: Verdict) -> Verdict:
        """A stage still waiting after the plan's ``max_duration`` of data fails: a
        shadow that gets no comparable requests must not hold the rollout forever."""
        since = state.data.get("since_data_ns")
        if verdict.outcome != "wait" or since is None:
            return verdict
        lasted = self._data_end - int(since)
        if lasted <= policy.max_duration_ns:
            return verdict
        hours = policy.max_duration_ns / 3.6e12
        reason = f"no verdict within the plan's max_duration of {hours:g} h ({verdict.reason})"
        return Verdict("fail", reason, verdict.evidence)

    def _note(self, report: ModelReport, stage: str, v: int, verdict: Verdict) -> None:
        report.reasons.append(f"{stage} v{v}: {verdict.outcome}: {verdict.reason}")
        report.evidence[stage.split()[0]] = plain_json(verdict.evidence)

    # --------------------------------------------------------------- the data

    def _decisions(self, name: str) -> pd.DataFrame:
        if self.decisions is None or not self.decisions.exists():
            return pd.DataFrame(columns=["endpoint"])
        return read_decisions(self.decisions, model=name)

    def _errors(
        self, decisions: pd.DataFrame, version: int, alias: str, since_us: int, panel: Panel | None
    ) -> pd.DataFrame:
        """Joined forecast rows of one version and alias logged since ``since_us``, with
        ``err``, the absolute error scaled by the series' naive error."""
        if panel is None:
            return pd.DataFrame(columns=["request_id", "unique_id", "step", "err"])
        part = answered_by(decisions, version, alias, since_us)
        joined, _ = join_actuals(forecast_rows(part), panel)
        joined["err"] = scaled_errors(joined, self._scales(panel))
        return joined

    def _scales(self, panel: Panel) -> dict[str, float]:
        """Each series' MASE scale on the actuals, computed once per panel."""
        if self._scaled is None or self._scaled[0] is not panel:
            self._scaled = (panel, series_scales(panel, default_season(panel.step or 1)))
        return self._scaled[1]

    def _paired(
        self, decisions: pd.DataFrame, prod: int, v: int, since_us: int, panel: Panel | None
    ) -> pd.DataFrame:
        """The shadow's and production's scaled errors on the same requests and steps
        (``err_c``, ``err_b``), by ``request_id``."""
        cand = self._errors(decisions, v, "shadow", since_us, panel)
        base = self._errors(decisions, prod, "production", since_us, panel)
        keys = ["request_id", "unique_id", "step"]
        return cand[[*keys, "err"]].merge(base[[*keys, "err"]], on=keys, suffixes=("_c", "_b"))

    def _split(
        self, decisions: pd.DataFrame, prod: int, v: int, since_us: int, panel: Panel | None
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The canary's and production's errors in the same window, each relative to
        production's typical error there (``rel``), by ``request_id``: the canary's
        comparison when it has no shadow answers to pair."""
        return relative_to_typical(
            self._errors(decisions, v, "canary", since_us, panel),
            self._errors(decisions, prod, "production", since_us, panel),
        )

    def _retrained(self, name: str, run_id: str) -> ModelVersion | None:
        for version in reversed(self.registry.versions(name)):
            if version.tags.get("monitor_run") == run_id:
                return version
        return None

    def _retrain(self, spec: ModelSpec, panel: Panel, run_id: str) -> ModelVersion | None:
        """Train ``spec`` on the actuals and register the result with its lineage: the
        dataset the target's query was snapshotted as, or a snapshot made of them."""
        dataset_id = self._snapshots.get(id(panel))
        if dataset_id is None:
            source = {"kind": "monitor", "run": run_id}
            dataset_id = ingest_panel(panel, self.store, source, now=datetime.now(UTC)).id
        run = train(spec, self.store.load(dataset_id), dataset_id=dataset_id, n_jobs=self.n_jobs)
        return register_run(run, self.registry, tags={"origin": "monitor", "monitor_run": run_id})

    def _target_actuals(self, prod: ModelVersion, spec: ModelSpec) -> Panel | None:
        loaded = load_target(spec.target, store=self.store)
        self._snapshots = {id(loaded.panel): loaded.dataset_id}  # this pass's only
        return loaded.panel
