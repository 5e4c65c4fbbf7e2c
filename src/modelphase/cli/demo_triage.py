"""The demo's triage: which service caused an injected incident, and how often triage says so.

Step 8b of ``modelphase demo``, right after detection. The simulator knows the answer:
every incident it injects (a spike, a level shift, a drift or a latency regression) is
injected into the series of one service, its root cause. Triage
(:func:`~modelphase.decide.triage_input.triage_panel`) reads the whole simulated panel,
every service's six series, with the incident's start as the anomaly's time (the two
hours before it the normal period, the fifteen minutes from it the anomalous one), and
ranks the services; the rank it gives the injected service is the score.

- **The incident shown** is the first ``latency_regression`` (events are ordered by
  start, so the earliest): the incident an on-call engineer triages most often (a deploy
  made one service slow), and one that moves three of its service's series at once, so
  its table shows a typical answer rather than a lucky one. A simulation without one
  (a short one) shows its first incident of any kind instead.
- **Every incident is scored**, whatever its kind or size, on the same window: AC@k is
  the share of incidents whose injected service triage ranks in its top ``k``, and
  Avg@5 the mean of AC@1 .. AC@5 (RCAEval's measures). With ``n`` services AC@k is 1 by
  construction for every ``k >= n`` (the demo's three services make AC@3 .. AC@5 1),
  so the line also gives chance's AC@1, ``1/n``. A drift starts small and grows, so
  fifteen minutes after its start it has barely moved: it is scored anyway.
- **Skipped**, because "which service caused it" has no answer there, are the events
  that are not incidents: ``missing_scrapes`` changes no value (the service's series
  are missing, which triage ignores, so there is nothing to rank), a ``deploy`` changes
  nothing by itself (the regression it sets off is scored as its
  ``latency_regression``), a ``traffic_surge`` is load arriving from the callers (the
  service responds as designed, nothing in it broke), and a ``regime_change`` is a new
  normal. They are counted in the output.

The simulated series carry a ``service`` label (``cpu_usage_cores{service="cart"}``),
the label triage reads by default (:data:`SERVICE_LABEL`, passed explicitly here).
These are numbers on simulated data, not a benchmark: the simulator's incidents are
large and isolated by design.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.markup import escape
from rich.table import Table

from modelphase.cli._render import err, out
from modelphase.decide.triage import THRESHOLD, Triage
from modelphase.decide.triage_input import SERVICE_LABEL, triage_panel
from modelphase.frame import Panel, format_time
from modelphase.simulate import Event, Simulation

__all__ = ["SHOWN_KIND", "TOP", "TriageScore", "pick_incident", "score_triage", "triage_step"]

#: the kind of the incident the demo shows (the first of it)
SHOWN_KIND = "latency_regression"
#: the ranks shown, and the largest k of AC@k
TOP = 5


@dataclass(frozen=True)
class TriageScore:
    """Triage against the injected truth: each scored incident with the rank (1 is
    first) triage gave its service, the number of services ranked, and the count of
    each skipped kind."""

    ranks: tuple[tuple[Event, int], ...]
    n_services: int
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.ranks)

    def accuracy(self, k: int) -> float | None:
        """AC@k: the share of incidents whose service is in triage's top ``k``
        (``None`` without incidents)."""
        if not self.ranks:
            return None
        return sum(rank <= k for _, rank in self.ranks) / len(self.ranks)

    @property
    def avg5(self) -> float | None:
        """Avg@5: the mean of AC@1 .. AC@5."""
        if not self.ranks:
            return None
        return sum(self.accuracy(k) or 0.0 for k in range(1, TOP + 1)) / TOP

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON: the measures, the count, and each incident's rank."""
        return {
            "n_incidents": self.n,
            "n_services": self.n_services,
            **{f"ac@{k}": self.accuracy(k) for k in range(1, TOP + 1)},
            "avg@5": self.avg5,
            "ranks": [
                {"event_id": e.event_id, "kind": e.kind, "service": e.service, "rank": r}
                for e, r in self.ranks
            ],
            "skipped": dict(self.skipped),
        }


def pick_incident(events: Sequence[Event]) -> Event | None:
    """The incident the demo shows: the first :data:`SHOWN_KIND`, else the first
    incident, else ``None``."""
    incidents = [e for e in events if _scored(e)]
    shown = [e for e in incidents if e.kind == SHOWN_KIND]
    first = shown or incidents
    return first[0] if first else None


def rank_of(result: Triage, service: str) -> int:
    """The rank (1 is first) triage gives ``service``; one past the last when it is
    not ranked (no series of it was in the window)."""
    for rank, suspect in enumerate(result.ranking, start=1):
        if suspect.service == service:
            return rank
    return len(result.ranking) + 1


def triage_at(panel: Panel, event: Event) -> Triage:
    """Triage of the whole panel at the event's start (the default window)."""
    return triage_panel(panel, event.start, service_label=SERVICE_LABEL)


def score_triage(sim: Simulation, panel: Panel | None = None) -> TriageScore:
    """Triage at every incident of ``sim`` (on ``panel``, by default the simulation's
    own) against the service it was injected into; see the module's docstring."""
    panel = sim.panel if panel is None else panel
    ranks = []
    n_services = 0
    for event in sim.events:
        if _scored(event):
            result = triage_at(panel, event)
            n_services = max(n_services, len(result.ranking))
            ranks.append((event, rank_of(result, event.service)))
    skipped = Counter(e.kind for e in sim.events if not _scored(e))
    return TriageScore(tuple(ranks), n_services, dict(sorted(skipped.items())))


def triage_step(sim: Simulation, panel: Panel) -> TriageScore:
    """Step 8b: triage one injected incident and print the ranking against the truth,
    then score triage over every incident and print AC@1 .. AC@5 and Avg@5."""
    event = pick_incident(sim.events)
    err.print(
        "[bold]8b. triage[/]: which service caused an injected incident, ranked from every "
        "series (2 h before its start against the 15 min from it)"
    )
    if event is None:
        out.print("triage: the simulation injected no incident; nothing to triage")
        return TriageScore((), 0, dict(Counter(e.kind for e in sim.events)))
    result = triage_at(panel, event)
    out.print(_table(result, event))
    rank = rank_of(result, event.service)
    out.print(
        f"injected: {event.kind} on {escape(event.service)} at {format_time(event.start)} "
        f"({event.event_id}); triage ranks {escape(event.service)} #{rank} of "
        f"{len(result.ranking)}",
        highlight=False,
    )
    score = score_triage(sim, panel)
    out.print(_score_line(score), highlight=False)
    return score


def _scored(event: Event) -> bool:
    """An incident injected into one service: the kinds whose cause triage can name."""
    return event.is_incident and bool(event.service)


def _table(result: Triage, event: Event) -> Table:
    table = Table(
        title=f"triage of {event.event_id} {event.kind}: likely root causes (top {TOP})",
        caption=f"changed: when |z| first reached {THRESHOLD:g}, after "
        f"{format_time(event.start)}; bold: the injected service",
    )
    for name in ("rank", "service", "metric", "score", "changed"):
        right = name in ("rank", "score")
        table.add_column(name, justify="right" if right else "left", overflow="fold")
    for rank, s in enumerate(result.ranking[:TOP], start=1):
        changed = "-" if s.changed_at is None else f"+{(s.changed_at - result.at) / 60:g} min"
        table.add_row(
            str(rank),
            escape(s.service),
            escape(s.metric or "-"),
            f"{s.score:.3g}",
            changed,
            style="bold" if s.service == event.service else None,
        )
    return table


def _score_line(score: TriageScore) -> str:
    if not score.n:
        return "triage: no incident to score"
    acs = ", ".join(f"AC@{k} {score.accuracy(k) or 0.0:.2f}" for k in range(1, TOP + 1))
    first = sum(rank == 1 for _, rank in score.ranks)
    skipped = ", ".join(f"{n} {kind}" for kind, n in score.skipped.items())
    return (
        f"triage over {score.n} injected incident(s): {acs}; Avg@5 {score.avg5 or 0.0:.2f} "
        f"({first}/{score.n} ranked first; chance's AC@1 with {score.n_services} services "
        f"{1 / max(score.n_services, 1):.2f}, AC@k is 1 for k >= {score.n_services}); "
        f"skipped, no root-cause service: {skipped or 'none'}"
    )
