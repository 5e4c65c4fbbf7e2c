"""Confirmed root causes (:mod:`modelphase.decide.triage_feedback`,
:mod:`modelphase.decide.triage_store`) and the call graph (:func:`explain`): the prior's
arithmetic, re-ranking, atomic and robust storage."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelphase.decide.triage import EXPLAIN_FLOOR, THRESHOLD, triage
from modelphase.decide.triage_feedback import (
    PSEUDO_COUNT,
    Confirmation,
    apply_feedback,
    check_incident_id,
    service_prior,
)
from modelphase.decide.triage_store import IncidentStore
from modelphase.exceptions import ValidationError


def _frame(moves: dict[str, float], n: int = 100, at: int = 80) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    data: dict[str, object] = {"time": np.arange(n, dtype=float)}
    for service, move in moves.items():
        y = 1 + 0.1 * rng.standard_normal(n)
        y[at:] += move
        data[f"{service}_cpu"] = y
    return pd.DataFrame(data)


def test_the_prior_is_a_smoothed_share_relative_to_an_even_one() -> None:
    found = [Confirmation("i1", "a"), Confirmation("i2", "a"), Confirmation("i3", "zz")]
    prior = service_prior(found, ["a", "b", "c", "d"])
    # zz is not ranked: not counted; N = 2 among K = 4
    assert prior["a"] == pytest.approx(4 * (2 + PSEUDO_COUNT) / (2 + 4 * PSEUDO_COUNT))
    assert prior["b"] == pytest.approx(4 * PSEUDO_COUNT / (2 + 4 * PSEUDO_COUNT))
    assert sum(prior.values()) == pytest.approx(4.0)  # an even share is 1 each
    assert service_prior([], ["a", "b"]) == {"a": 1.0, "b": 1.0}


def test_feedback_reranks_by_log_score_plus_log_prior() -> None:
    result = triage(_frame({"a": 2.0, "b": 1.5, "c": 0.0}), at=80)
    assert [s.service for s in result.ranking][:2] == ["a", "b"]
    assert apply_feedback(result, []) is result
    past = [Confirmation(f"i{i}", "b") for i in range(8)]
    again = apply_feedback(result, past)
    prior = service_prior(past, ["a", "b", "c"])
    weights = [math.log1p(s.score) + math.log(prior[s.service]) for s in again.ranking]
    assert weights == sorted(weights, reverse=True)
    assert again.ranking[0].service == "b"
    assert again.metrics == result.metrics  # the evidence is unchanged


def test_explained_services_follow_the_unexplained() -> None:
    # api calls db; db moved a lot, api somewhat (db's consequence); web moved a little
    result = triage(_frame({"api": 3.0, "db": 4.0, "web": 0.6}), at=80)
    plain = [s.service for s in result.ranking]
    assert plain == ["db", "api", "web"]
    called = triage(_frame({"api": 3.0, "db": 4.0, "web": 0.6}), at=80, calls=[("api", "db")])
    assert [(s.service, s.explained_by) for s in called.ranking] == [
        ("db", None),
        ("web", None),
        ("api", "db"),
    ]
    # web calls api, which moved more than 10 and 30% of web's move: explained too
    chain = triage(_frame({"api": 3.0, "db": 4.0, "web": 0.6}), at=80,
                   calls=[("api", "db"), ("web", "api")])  # fmt: skip
    assert [(s.service, s.explained_by) for s in chain.ranking] == [
        ("db", None),
        ("api", "db"),
        ("web", "api"),
    ]
    # a callee that moved less than the floor explains nothing
    weak = triage(_frame({"api": 0.5, "db": 0.4}), at=80, calls=[("api", "db")])
    assert all(s.explained_by is None for s in weak.ranking)
    assert weak.ranking[1].score < EXPLAIN_FLOOR
    with pytest.raises(ValidationError, match="call graph"):
        triage(_frame({"api": 1.0}), at=80, calls=[("x", "y")])
    # feedback keeps the explained after the unexplained
    fb = apply_feedback(called, [Confirmation(f"i{i}", "api") for i in range(50)])
    assert fb.ranking[-1].service == "api"


def test_the_store_is_plain_json_and_replaces_a_finding(tmp_path: Path) -> None:
    store = IncidentStore(tmp_path)
    store.record("INC-1", {"at": 100.0, "ranking": [{"service": "a"}]})
    assert store.incident("INC-1")["ranking"] == [{"service": "a"}]
    store.confirm(Confirmation("INC-1", "a", "cpu", 5.0, "postmortem PM-9"))
    store.confirm(Confirmation("INC-1", "b", None, 6.0))
    store.confirm(Confirmation("INC-0", "c", None, 1.0))
    found, warnings = store.confirmations()
    assert [(c.incident, c.service) for c in found] == [("INC-0", "c"), ("INC-1", "b")]
    assert warnings == []
    on_disk = json.loads((tmp_path / "confirmed" / "INC-1.json").read_text())
    assert on_disk["service"] == "b"
    assert not [p for p in (tmp_path / "confirmed").iterdir() if p.name.startswith(".")]
    assert [d["incident"] for d in store.incidents()] == ["INC-1"]


def test_a_bad_file_is_skipped_with_a_warning(tmp_path: Path) -> None:
    store = IncidentStore(tmp_path)
    store.confirm(Confirmation("INC-1", "a"))
    (tmp_path / "confirmed" / "INC-2.json").write_text("{not json")
    (tmp_path / "confirmed" / "INC-3.json").write_text('{"incident": "INC-3"}')
    found, warnings = store.confirmations()
    assert [c.incident for c in found] == ["INC-1"]
    assert len(warnings) == 2
    assert all("skipped" in w for w in warnings)


@pytest.mark.parametrize("bad", ["", "../etc", "a/b", "-x", "x" * 65, "inc 1"])
def test_incident_ids_cannot_leave_the_folder(bad: str, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="incident id"):
        check_incident_id(bad)
    with pytest.raises(ValidationError):
        IncidentStore(tmp_path).confirm(Confirmation(bad, "a"))
    assert not (tmp_path / "confirmed").exists() or not list((tmp_path / "confirmed").iterdir())


def test_unknown_incident_and_bad_confirmations(tmp_path: Path) -> None:
    store = IncidentStore(tmp_path)
    with pytest.raises(ValidationError, match="not recorded"):
        store.incident("INC-9")
    with pytest.raises(ValidationError, match="service"):
        store.confirm(Confirmation("INC-9", " "))
    with pytest.raises(ValidationError, match="note"):
        store.confirm(Confirmation("INC-9", "a", note="x" * 5000))


def test_a_metric_is_scored_net_of_its_callees_same_named_metrics() -> None:
    # api's latency is db's plus its own noise; db slows down at 150, api passes it on
    rng = np.random.default_rng(9)
    n, at = 200, 150
    db = 0.05 + 0.01 * rng.standard_normal(n)
    db[at:] += 0.2
    own = 0.02 + 0.01 * rng.standard_normal(n)
    frame = pd.DataFrame(
        {
            "time": np.arange(n, dtype=float),
            "api_latency": db + own,
            "api_cpu": 1 + 0.1 * rng.standard_normal(n),  # db has no cpu column: kept as is
            "db_latency": db,
        }
    )
    plain = {s.column: s for s in triage(frame, at=at).metrics}
    called = {s.column: s for s in triage(frame, at=at, calls=[("api", "db")]).metrics}
    assert plain["api_latency"].score > 10  # raw, api looks as broken as db
    assert called["api_latency"].score < THRESHOLD  # net of db, nothing of its own moved
    assert called["api_latency"].net_of == ("db",)
    assert called["api_cpu"].net_of == ()
    assert called["api_cpu"].score == pytest.approx(plain["api_cpu"].score)
    assert called["db_latency"].score == pytest.approx(plain["db_latency"].score)
    ranking = triage(frame, at=at, calls=[("api", "db")]).ranking
    assert ranking[0].service == "db"
