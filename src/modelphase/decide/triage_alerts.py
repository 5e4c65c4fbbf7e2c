"""Grouped alerts with their likely causes: triage across every service at each alert.

An alert (:class:`~modelphase.anomaly.alerts.Alert`) says what moved in *one* service;
the on-call engineer's next question is which service started it. A database whose
latency jumps makes its callers slow a minute later: each service gets its own alert,
and each alert's members are only its own series. :func:`hypotheses_for` answers the
question for every alert the same way :func:`~modelphase.decide.triage_input.
triage_panel` does for an incident: the panel's samples from ``before`` (2 h) until the
alert's start are the normal period, those from the start to ``after`` (15 min) past
it the anomalous one, and all of the panel's services are ranked by their metrics'
robust deviation (BARO's scoring, :mod:`modelphase.decide.triage`).

Choices:

- **The alert's start is the incident's time.** It is the first flagged point of the
  alert's members, the earliest moment the alert knew something was wrong; a cause
  that changed before it is in the normal period and is still seen as long as it
  stays changed (its median barely moves with a few changed samples among a normal
  period's hundred), and its ``changed_at`` is then the start itself.
- **Only services that changed are hypotheses.** A suspect whose ``|z|`` never reached
  :data:`~modelphase.decide.triage.THRESHOLD` in the anomalous period (``changed_at``
  ``None``) explains nothing; the top ``top`` (3) of the others are kept, most likely
  first, the alert's own service among them when it ranks.
- **A failure is a reason, never a crash.** When one alert's triage is refused (no
  sample before its start, too many cells), that alert gets no hypotheses and the
  refusal's message as its ``reason``; the other alerts are not affected.
- **Bounded work.** Alerts with the same start share one triage, and at most
  :data:`MAX_TRIAGED_ALERTS` distinct starts are triaged (the earliest); the alerts
  after them get a reason that says so. Each triage reads only its window (at most
  :data:`~modelphase.limits.MAX_DATASET_POINTS` cells, which triage itself enforces).

>>> import numpy as np
>>> from modelphase.anomaly import FixedThreshold, build_detector, detect_alerts
>>> from modelphase.frame import Panel
>>> minute = 60 * 10**9
>>> t = np.arange(600, dtype=np.int64) * minute
>>> rng = np.random.default_rng(0)
>>> db, api = 1.0 + 0.05 * rng.standard_normal((2, 600))
>>> db[500:] *= 3  # the database slows down...
>>> api[501:] *= 1.5  # ...and its caller a minute later
>>> panel = Panel.from_series([
...     ('latency{service="db"}', t, db), ('latency{service="api"}', t, api)])
>>> found = detect_alerts(panel, build_detector("zscore"), FixedThreshold(8.0))
>>> [(a.service, a.start // minute) for a in found]
[('db', 500), ('api', 501)]
>>> [[(s.service, h.after_start(s)) for s in h.suspects] for h in hypotheses_for(found, panel)]
[[('db', 0.0), ('api', 60.0)], [('db', 0.0), ('api', 0.0)]]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from modelphase.anomaly.alerts import Alert
from modelphase.decide.triage import Suspect, Triage
from modelphase.decide.triage_input import (
    DEFAULT_AFTER,
    DEFAULT_BEFORE,
    SERVICE_LABEL,
    triage_panel,
)
from modelphase.exceptions import ValidationError
from modelphase.frame import NS_PER_SECOND, Panel, format_duration

__all__ = [
    "MAX_TRIAGED_ALERTS",
    "TOP",
    "Hypotheses",
    "hypotheses_for",
    "triage_settings",
]

#: hypotheses kept per alert
TOP = 3
#: at most this many distinct alert starts are triaged (each reads its whole window)
MAX_TRIAGED_ALERTS = 200
#: the fields of a suspect an alert carries
FIELDS = ("service", "metric", "score", "changed_at", "direction", "explained_by")

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Hypotheses:
    """An alert's likely causes: ``suspects`` most likely first (only those that
    changed), triaged at ``at`` (the alert's start, ns); ``reason`` says why there are
    none ("" when triage ran and something changed)."""

    at: int
    suspects: tuple[Suspect, ...]
    reason: str = ""

    def to_list(self) -> list[dict[str, Any]]:
        """Plain JSON: one ``{service, metric, score, changed_at, direction,
        explained_by}`` per suspect, ``changed_at`` in Unix seconds as triage gives it."""
        return [{name: getattr(s, name) for name in FIELDS} for s in self.suspects]

    def to_dict(self) -> dict[str, Any]:
        """What an alert's JSON adds: ``{"hypotheses": [...], "hypotheses_reason": str
        or None}``."""
        return {"hypotheses": self.to_list(), "hypotheses_reason": self.reason or None}

    def lines(self, *, metric: bool = True) -> list[str]:
        """One line per suspect, e.g. ``db latency (z 29, +0s)``: the service, its
        strongest metric (left out with ``metric=False``), that metric's robust z, how
        long after the alert's start it changed (and the callee that explains it, with a
        call graph)."""
        out = []
        for s in self.suspects:
            delta = self.after_start(s)
            ns = 0 if delta is None else max(0, round(delta * NS_PER_SECOND))
            when = f"+{format_duration(ns)}" if ns else "+0s"
            by = f", explained by {s.explained_by}" if s.explained_by else ""
            name = f"{s.service} {s.metric}" if metric and s.metric else s.service
            out.append(f"{name} (z {s.score:.3g}, {when}{by})")
        return out

    def after_start(self, suspect: Suspect) -> float | None:
        """Seconds from the alert's start to the suspect's change (``None``: never)."""
        if suspect.changed_at is None:
            return None
        return suspect.changed_at - self.at / NS_PER_SECOND


def hypotheses_for(
    alerts: Sequence[Alert],
    panel: Panel,
    *,
    service_label: str = SERVICE_LABEL,
    top: int = TOP,
    before: int = DEFAULT_BEFORE,
    after: int = DEFAULT_AFTER,
    calls: Sequence[tuple[str, str]] | None = None,
    progress: Progress | None = None,
) -> list[Hypotheses]:
    """One :class:`Hypotheses` per alert, in the alerts' order: :func:`~modelphase.
    decide.triage_input.triage_panel` of ``panel`` at the alert's start (``before`` and
    ``after`` its window, ns; ``service_label`` the label that names a service; ``calls``
    the call graph, if known), its ``top`` changed suspects. See the module's docstring.

    ``progress(done, total)`` is called after each distinct start is triaged. Raises
    :class:`~modelphase.exceptions.ValidationError` for a ``top`` outside 1..100 or an
    empty ``service_label``; a refused triage is the alert's ``reason`` instead."""
    if not 1 <= top <= 100:
        raise ValidationError(
            f"hypotheses per alert: expected 1 to 100, got {top}",
            hint="ask for a few (3 is the default)",
        )
    if not service_label:
        raise ValidationError(
            "the service label: expected a label name, got an empty one",
            hint="pass the label that names a series' service, e.g. service",
        )
    starts = sorted({int(a.start) for a in alerts})
    kept = set(starts[:MAX_TRIAGED_ALERTS])
    done: dict[int, Hypotheses] = {}
    for i, at in enumerate(sorted(kept), 1):
        done[at] = _one(panel, at, service_label, top, before, after, calls)
        if progress is not None:
            progress(i, len(kept))
    skipped = (
        f"not triaged: only the first {MAX_TRIAGED_ALERTS} alert starts are; triage the "
        "later ones on their own (modelphase triage)"
    )
    return [done.get(int(a.start)) or Hypotheses(int(a.start), (), skipped) for a in alerts]


def triage_settings(
    service_label: str = SERVICE_LABEL,
    top: int = TOP,
    before: int = DEFAULT_BEFORE,
    after: int = DEFAULT_AFTER,
) -> dict[str, Any]:
    """Plain JSON of how :func:`hypotheses_for` was asked: ``{"service_label", "before",
    "after", "top"}``, the durations as written (``2h``, ``15m``)."""
    return {
        "service_label": service_label,
        "before": format_duration(before),
        "after": format_duration(after),
        "top": top,
    }


def _one(
    panel: Panel,
    at: int,
    service_label: str,
    top: int,
    before: int,
    after: int,
    calls: Sequence[tuple[str, str]] | None,
) -> Hypotheses:
    try:
        result = triage_panel(
            panel, at, before=before, after=after, service_label=service_label, calls=calls
        )
    except ValidationError as exc:
        return Hypotheses(at, (), f"not triaged: {exc}")
    suspects = _changed(result)[:top]
    if not suspects:
        return Hypotheses(at, (), _quiet(result))
    return Hypotheses(at, tuple(suspects))


def _changed(result: Triage) -> list[Suspect]:
    return [s for s in result.ranking if s.changed_at is not None]


def _quiet(result: Triage) -> str:
    return (
        f"no service changed: no metric of the {len(result.ranking)} service(s) moved "
        f"past the threshold in the {result.n_anomalous} sample time(s) after the start"
    )
