"""The demo's triage step: the incident it shows and its score against the injected truth."""

from __future__ import annotations

from collections import Counter

import pytest

from modelphase.cli.demo_triage import TriageScore, pick_incident, score_triage
from modelphase.decide.triage_input import triage_panel
from modelphase.simulate import Event, simulate


def _event(event_id: str, kind: str, service: str = "cart", incident: bool = True) -> Event:
    return Event(event_id, kind, service, (), 0, 0, 1.0, incident, "")


def test_the_scores_are_the_ranks_triage_gives_each_injected_service() -> None:
    sim = simulate(services=4, days=3, seed=2)
    score = score_triage(sim)
    incidents = [e for e in sim.events if e.is_incident]
    assert [e for e, _ in score.ranks] == incidents
    assert len(incidents) == 3  # level_shift, spike, latency_regression
    for event, rank in score.ranks:
        ranking = [s.service for s in triage_panel(sim.panel, event.start).ranking]
        assert ranking[rank - 1] == event.service
    assert score.n_services == 4
    assert score.skipped == dict(Counter(e.kind for e in sim.events if not e.is_incident))
    assert "missing_scrapes" in score.skipped
    assert "deploy" in score.skipped
    acs = [score.accuracy(k) for k in range(1, 6)]
    assert acs == sorted(acs)  # type: ignore[type-var]
    assert acs[3] == acs[4] == 1.0  # k >= the number of services
    summary = score.to_dict()
    assert summary["n_incidents"] == 3
    assert summary["avg@5"] == pytest.approx(sum(acs) / 5)  # type: ignore[arg-type]
    assert [r["rank"] for r in summary["ranks"]] == [r for _, r in score.ranks]


def test_ac_at_k_and_avg_at_5_count_the_ranks() -> None:
    ranks = tuple((_event(f"e{i}", "spike"), r) for i, r in enumerate([1, 2, 4, 7]))
    score = TriageScore(ranks, n_services=8)
    assert [score.accuracy(k) for k in range(1, 6)] == [0.25, 0.5, 0.5, 0.75, 0.75]
    assert score.avg5 == pytest.approx((0.25 + 0.5 + 0.5 + 0.75 + 0.75) / 5)
    empty = TriageScore((), n_services=0)
    assert empty.accuracy(1) is None
    assert empty.avg5 is None


def test_the_shown_incident_is_the_first_latency_regression_else_the_first_incident() -> None:
    events = [
        _event("e0", "traffic_surge", incident=False),
        _event("e1", "level_shift"),
        _event("e2", "deploy", incident=False),
        _event("e3", "latency_regression", "search"),
        _event("e4", "latency_regression", "auth"),
    ]
    assert pick_incident(events) == events[3]
    assert pick_incident(events[:3]) == events[1]
    assert pick_incident(events[:1]) is None
    sim = simulate(services=2, days=3, seed=1)  # a level shift, no regression
    shown = pick_incident(sim.events)
    assert shown is not None
    assert (shown.kind, shown.service) == ("level_shift", "cart")
