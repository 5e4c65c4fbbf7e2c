"""Grouped alerts with their likely causes (:mod:`modelphase.decide.triage_alerts`): the
service that changed first leads every alert it set off, only changed services are
hypotheses, and an alert that cannot be triaged gets a reason, not a crash."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import modelphase.decide.triage_alerts as triage_alerts
from modelphase.anomaly import FixedThreshold, build_detector, detect_alerts
from modelphase.anomaly.alerts import Alert
from modelphase.decide.triage_alerts import TOP, Hypotheses, hypotheses_for, triage_settings
from modelphase.exceptions import ValidationError
from modelphase.frame import Panel, series_id

MIN = 60 * 10**9
N = 600
T0 = 1_767_571_200 * 10**9


def _panel(label: str = "service") -> Panel:
    """db's latency triples at minute 500, api's (its caller) rises by half a minute
    later, search stays calm; two pods of api are averaged by triage."""
    rng = np.random.default_rng(1)
    t = T0 + np.arange(N, dtype=np.int64) * MIN
    db, api_a, api_b, search = 1.0 + 0.05 * rng.standard_normal((4, N))
    db[500:] *= 3
    api_a[501:] *= 1.5
    api_b[501:] *= 1.5
    return Panel.from_series(
        [
            (_id(label, "db"), t, db),
            (_id(label, "api", pod="a"), t, api_a),
            (_id(label, "api", pod="b"), t, api_b),
            (_id(label, "search"), t, search),
        ],
        step=MIN,
    )


def _id(label: str, service: str, **more: str) -> str:
    return series_id({"__name__": "latency_seconds", label: service, **more})


def _alerts(panel: Panel, label: str = "service") -> list[Alert]:
    found = detect_alerts(panel, build_detector("zscore"), FixedThreshold(8.0), (label,))
    assert [(a.group[label], (a.start - T0) // MIN) for a in found] == [("db", 500), ("api", 501)]
    return found


def test_the_service_that_changed_first_leads_every_alert() -> None:
    panel = _panel()
    found = _alerts(panel)
    db_alert, api_alert = hypotheses_for(found, panel)
    assert [s.service for s in db_alert.suspects] == ["db", "api"]
    assert [s.service for s in api_alert.suspects] == ["db", "api"]  # api's own alert too
    assert db_alert.reason == api_alert.reason == ""
    db, api = db_alert.suspects
    assert (db.metric, db.direction) == ("latency_seconds", "up")
    assert db.score > api.score > 3
    assert db_alert.after_start(db) == 0.0
    assert db_alert.after_start(api) == 60.0  # api moved a minute after db's alert
    assert api_alert.after_start(api_alert.suspects[0]) == 0.0
    assert db_alert.at == found[0].start


def test_calm_services_are_no_hypotheses_and_top_caps_the_list() -> None:
    panel = _panel()
    found = _alerts(panel)
    for h in hypotheses_for(found, panel):
        assert "search" not in {s.service for s in h.suspects}
        assert all(s.changed_at is not None for s in h.suspects)
    [first, second] = hypotheses_for(found, panel, top=1)
    assert [s.service for s in first.suspects] == [s.service for s in second.suspects] == ["db"]


def test_the_service_label_names_the_services() -> None:
    panel = _panel(label="app")
    found = _alerts(panel, label="app")
    [h, _] = hypotheses_for(found, panel, service_label="app")
    assert [s.service for s in h.suspects] == ["db", "api"]
    # with the default label, no series has one: each is a service named by its metric
    [plain, _] = hypotheses_for(found, panel)
    assert {s.service for s in plain.suspects} <= {"latency_seconds"}


def test_an_alert_that_cannot_be_triaged_gets_a_reason_and_the_others_their_causes() -> None:
    panel = _panel()
    found = _alerts(panel)
    later = panel.take(panel.ds >= found[0].start)  # nothing before db's alert
    db_alert, api_alert = hypotheses_for(found, later)
    assert db_alert.suspects == ()
    assert db_alert.reason.startswith("not triaged: ")
    assert "no row before it" in db_alert.reason
    assert db_alert.to_dict() == {"hypotheses": [], "hypotheses_reason": db_alert.reason}
    assert api_alert.reason == ""
    assert api_alert.suspects  # one normal row (db's first changed minute) still triages


def test_an_alert_with_nothing_changed_says_so() -> None:
    panel = _panel()
    found = _alerts(panel)
    calm = panel.take(panel.ds < found[0].start)  # the incident's window has no sample
    quiet = Panel.from_series(
        [(u, calm.series(u)[0] + 100 * MIN, calm.series(u)[1]) for u in calm.ids], step=MIN
    )  # the normal period shifted over the incident: nothing moves
    [h, _] = hypotheses_for(found, quiet)
    assert h.suspects == ()
    assert h.reason.startswith("no service changed")


def test_shared_starts_are_triaged_once_and_the_cap_gives_a_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    panel = _panel()
    found = _alerts(panel)
    calls: list[tuple[int, int]] = []
    twice = [found[0], found[0], found[1]]
    out = hypotheses_for(twice, panel, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(1, 2), (2, 2)]
    assert out[0] is out[1]
    monkeypatch.setattr(triage_alerts, "MAX_TRIAGED_ALERTS", 1)
    first, second = hypotheses_for(found, panel)
    assert first.suspects[0].service == "db"
    assert second.suspects == ()
    assert "only the first 1 alert starts" in second.reason


def test_json_and_lines() -> None:
    panel = _panel()
    found = _alerts(panel)
    [h, _] = hypotheses_for(found, panel)
    entries = json.loads(json.dumps(h.to_dict()))
    assert entries["hypotheses_reason"] is None
    assert [e["service"] for e in entries["hypotheses"]] == ["db", "api"]
    assert set(entries["hypotheses"][0]) == {
        "service", "metric", "score", "changed_at", "direction", "explained_by"
    }  # fmt: skip
    assert entries["hypotheses"][0]["changed_at"] == found[0].start / 10**9
    assert entries["hypotheses"][1]["changed_at"] == found[0].start / 10**9 + 60
    lines = h.lines()
    assert re.fullmatch(r"db latency_seconds \(z \d\d(\.\d)?, \+0s\)", lines[0]), lines
    assert re.fullmatch(r"api latency_seconds \(z \d+(\.\d+)?, \+1m\)", lines[1]), lines
    assert [line.split(" (")[0] for line in h.lines(metric=False)] == ["db", "api"]
    assert Hypotheses(0, ()).lines() == []
    assert triage_settings("app") == {
        "service_label": "app", "before": "2h", "after": "15m", "top": TOP
    }  # fmt: skip


def test_a_call_graph_marks_the_explained_caller() -> None:
    panel = _panel()
    found = _alerts(panel)
    [h, _] = hypotheses_for(found, panel, calls=[("api", "db")])
    assert [(s.service, s.explained_by) for s in h.suspects] == [("db", None), ("api", "db")]
    assert h.lines()[1].endswith(", explained by db)")


@pytest.mark.parametrize(
    ("kwargs", "message"), [({"top": 0}, "1 to 100"), ({"service_label": ""}, "label")]
)
def test_bad_arguments_are_refused(kwargs: dict[str, object], message: str) -> None:
    panel = _panel()
    with pytest.raises(ValidationError, match=message):
        hypotheses_for([], panel, **kwargs)  # type: ignore[arg-type]
