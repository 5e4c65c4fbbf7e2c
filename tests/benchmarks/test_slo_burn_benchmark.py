"""The burn-alert benchmark (``benchmarks/slo_burn.py``): its scores on hand-made
timelines, the truth its generators write, and one run of the real Prometheus path on
a two-day history.

``benchmarks/`` is not a package: the script is imported by path, and its sibling
modules through ``sys.path``.
"""

from __future__ import annotations

import doctest
import json
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from support.prometheus import find_binaries
from support.scripts import BENCHMARKS, load_script

SIBLINGS = ("_burn_score", "_changerca", "_prom", "_sli", "_sli_changerca")


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    for name in SIBLINGS:
        monkeypatch.delitem(sys.modules, name, raising=False)
    return load_script("slo_burn", BENCHMARKS / "slo_burn.py", monkeypatch)


def timeline(n: int, *runs: tuple[int, int]) -> np.ndarray:
    out = np.zeros(n, dtype=bool)
    for a, b in runs:
        out[a:b] = True
    return out


# --------------------------------------------------------------------------- scores


def test_episodes_are_the_runs_of_active_minutes(bench: ModuleType) -> None:
    bs = bench.bs
    assert bs.episodes(timeline(10)) == []
    assert bs.episodes(timeline(10, (0, 10))) == [(0, 10)]
    assert bs.episodes(timeline(10, (0, 2), (5, 6), (9, 10))) == [(0, 2), (5, 6), (9, 10)]


def test_for_fires_after_that_many_evaluations_in_a_row(bench: ModuleType) -> None:
    active = timeline(20, (2, 7), (10, 12))
    assert bench.bs.episodes(bench.bs.apply_for(active, 2)) == [(4, 7)]
    assert bench.bs.apply_for(active, 0) is active


def test_scores_on_a_hand_made_timeline(bench: ModuleType) -> None:
    bs, incident = bench.bs, bench._sli.Incident
    key, other = ("0", "a"), ("0", "b")
    incidents = [
        incident(key, "fast", 100, 130, 50.0),  # paged at 110, page ends at 133
        incident(key, "slow", 1000, 2000, 2.0),  # ticketed at 1300, paged by mistake
        incident(other, "fast", 100, 160, 50.0),  # never alerted
    ]
    clean = {key: [(3000, 4000)], other: [(3000, 4000)]}
    page = timeline(5000, (110, 133), (1500, 1510))
    ticket = timeline(5000, (1300, 2200), (3500, 3530))
    s = bs.score(incidents, clean, {"page": {key: page}, "ticket": {key: ticket}}, grace=60)

    assert s["page"] | {"clean_keys_alerted": []} == {
        "episodes": 2,
        "true_episodes": 1,  # the page during the slow burn is a false page
        "precision": 0.5,
        "clean_minutes": 0,
        "clean_episodes": 0,
        "clean_spans_alerted": 0,
        "clean_keys_alerted": [],
    }
    assert s["ticket"]["precision"] == 0.5  # the clean week's ticket is false
    assert (s["ticket"]["clean_minutes"], s["ticket"]["clean_episodes"]) == (30, 1)
    assert s["any"]["clean_keys_alerted"] == ["0/a"]
    assert (s["n_clean_spans"], s["clean_minutes_total"]) == (2, 2000)

    fast, slow = s["fast"], s["slow"]
    assert (fast["n"], fast["recall_right"], fast["recall_any"]) == (2, 0.5, 0.5)
    assert (fast["ttd_median"], fast["reset_median"]) == (10.0, 3.0)
    assert (fast["n_spent_2pct"], fast["recall_right_spent_2pct"]) == (2, 0.5)
    assert (slow["recall_right"], slow["paged"]) == (1.0, 1)
    assert (slow["ttd_median"], slow["reset_median"]) == (300.0, 200.0)


def test_grace_decides_which_late_episodes_an_incident_explains(bench: ModuleType) -> None:
    bs, incident = bench.bs, bench._sli.Incident
    key = ("k",)
    incidents = [incident(key, "fast", 100, 120, 30.0)]
    late = {"page": {key: timeline(1000, (150, 160))}, "ticket": {}}
    inside = bs.score(incidents, {}, late, grace=31)
    outside = bs.score(incidents, {}, late, grace=30)
    assert (inside["page"]["precision"], inside["fast"]["recall_right"]) == (1.0, 1.0)
    assert inside["fast"]["ttd_median"] == 50.0
    assert (outside["page"]["precision"], outside["fast"]["recall_right"]) == (0.0, 0.0)
    assert outside["fast"]["ttd_median"] is None


def test_reset_is_negative_when_the_alert_stops_first_and_faults_have_none(
    bench: ModuleType,
) -> None:
    bs, incident = bench.bs, bench._sli.Incident
    key = ("k",)
    early = timeline(500, (105, 140))
    s = bs.score(
        [incident(key, "fast", 100, 160, 20.0)], {}, {"page": {key: early}, "ticket": {}}, grace=0
    )
    assert s["fast"]["reset_median"] == -20.0
    fault = bs.score(
        [incident(key, "fault", 100, 160)], {}, {"page": {}, "ticket": {key: early}}, grace=0
    )
    assert fault["fault"]["recall_right"] == 1.0  # a ticket is enough for a fault
    assert (fault["fault"]["paged"], fault["fault"]["reset_median"]) == (0, None)


def test_a_rule_set_is_compared_with_sloth_minute_by_minute(bench: ModuleType) -> None:
    a, b = timeline(100, (10, 20)), timeline(100, (15, 25))
    alerts = {
        "workbook": {"page": {("k",): a}, "ticket": {}},
        "sloth": {"page": {("k",): b}, "ticket": {("j",): b}},
    }
    assert bench.differing(alerts, 100)["workbook"] == {"page": 10, "ticket": 10}


def test_the_modules_examples_hold(bench: ModuleType) -> None:
    """``benchmarks/`` is outside the suite's doctest paths: run its examples here."""
    for module in (bench.bs, bench._sli):
        failed, tried = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert (failed, tried > 0) == (0, True), module.__name__


# --------------------------------------------------------------------------- generators


def test_the_simulator_corpus_is_the_same_for_a_seed(bench: ModuleType) -> None:
    sli = bench._sli
    one, again, other = (sli.simulated(s, services=2, weeks=2) for s in (1, 1, 2))
    assert one.incidents == again.incidents
    for x, y in zip(one.series, again.series, strict=True):
        np.testing.assert_array_equal(x.errors, y.errors)
    assert one.incidents != other.incidents


def test_the_simulator_injects_what_its_truth_says(bench: ModuleType) -> None:
    sli = bench._sli
    corpus = sli.merge([sli.simulated(seed, services=2, weeks=3) for seed in (0, 1)])
    series = {s.key: s for s in corpus.series}
    warmup = sli.WARMUP_DAYS * sli.DAY
    kinds = [i.kind for i in corpus.incidents]
    assert (kinds.count("fast"), kinds.count("slow")) == (2 * 2 * 2 * 2, 2 * 2 * 2)
    for inc in corpus.incidents:
        s = series[inc.key]
        assert inc.start >= warmup
        (clean_start, clean_end), *_ = corpus.clean[inc.key]
        assert inc.end + sli.GAP <= clean_start or inc.start >= clean_end + sli.GAP
        if inc.kind == "fast":
            assert 20 <= inc.end - inc.start <= 90
            assert 10 <= inc.burn <= 100
        else:
            assert sli.DAY <= inc.end - inc.start <= 4 * sli.DAY
            assert 1.5 <= inc.burn <= 4
        # the ratio measured in the incident, less the ratio of the hours around it
        inside = s.errors[inc.start : inc.end].sum() / s.requests[inc.start : inc.end].sum()
        around = np.r_[inc.start - 180 : inc.start, inc.end : inc.end + 180]
        base = s.errors[around].sum() / s.requests[around].sum()
        excess = (inside - base) / corpus.budget
        assert excess == pytest.approx(inc.burn, rel=0.15, abs=0.3), inc
    for key, spans in corpus.clean.items():
        assert not [
            i
            for i in corpus.incidents
            if i.key == key and i.start < spans[0][1] and i.end > spans[0][0]
        ]
        # a healthy baseline: 10-50% of the budget on average over the clean week
        (a, b), *_ = spans
        ratio = series[key].errors[a:b].sum() / series[key].requests[a:b].sum()
        assert 0.05 < ratio / corpus.budget < 0.6


def test_a_release_becomes_counts_with_a_clean_history(bench: ModuleType) -> None:
    crca, changerca = sys.modules["_changerca"], sys.modules["_sli_changerca"]
    t0 = 1_695_398_400
    rows = []
    for minute in range(4):
        ts = t0 + 60 * minute
        for pod, rate in (("cart-v1-a-1", 100.0), ("cart-v2-b-2", 50.0 if minute >= 2 else 100.0)):
            rows.append((ts, pod[5:7], pod, "frontend_cart:success", rate))
            rows.append((ts, pod[5:7], pod, "cart_redis:success", 0.0))  # calls out: ignored
    samples = pd.DataFrame(rows, columns=["ts", "version", "pod", "metric", "value"])
    release = crca.Release("c1", "d", "cart", True, "exception", t0 + 90, t0 + 180, samples)
    first, requests, errors = changerca.release_counts(release)
    assert first == t0
    np.testing.assert_array_equal(requests, [120.0] * 4)
    np.testing.assert_array_equal(errors, [0.0, 0.0, 30.0, 30.0])

    corpus = changerca.changerca_corpus([release], history_days=1)
    (s,) = corpus.series
    assert (s.first, len(s.requests), corpus.n_minutes) == (0, 1440 + 4, 1440 + 4)
    assert s.errors[:1440].sum() == 0.0
    (inc,) = corpus.incidents
    assert (inc.kind, inc.start, inc.end) == ("fault", 1440 + 2, 1440 + 4)
    assert inc.burn == pytest.approx(0.25 / 0.01)
    assert json.loads(json.dumps(bench.corpus_info(corpus)))["incidents_spending_2pct"] == {
        "fault": 0
    }
    bare = changerca.changerca_corpus([release], history_days=0)
    assert (bare.name, bare.n_minutes, bare.incidents[0].start) == ("changerca-nohistory", 4, 2)


def test_counters_are_written_as_openmetrics(bench: ModuleType) -> None:
    text = bench.prom.counters_openmetrics(
        [("x_total", {"b": "2", "a": "1"}, 60, np.array([0.0, 2.5, 3.0]))]
    )
    assert text.splitlines() == [
        "# TYPE x_total gauge",
        'x_total{a="1",b="2"} 0 60',
        'x_total{a="1",b="2"} 2.5 120',
        'x_total{a="1",b="2"} 3 180',
        "# EOF",
    ]


# --------------------------------------------------------------------------- Prometheus


@pytest.mark.prometheus
def test_a_real_prometheus_pages_on_a_fast_burn(bench: ModuleType, tmp_path: Path) -> None:
    """Two days at 1,000 requests a minute without errors, then 10% errors (100x the
    budget of 99.9%) for an hour: the 1h/5m tier pages once the hour's ratio passes
    1.44%, 8.64 minutes in; after the end, the 6h/30m tier holds the page until the
    last 30 minutes' ratio falls under 0.6%, 28.2 minutes later (Prometheus' rate
    extrapolation moves both by a minute or two)."""
    find_binaries()
    sli = bench._sli
    n, start, end = 2 * 1440 + 180, 2 * 1440, 2 * 1440 + 60
    requests = np.full(n, 1000.0)
    errors = np.zeros(n)
    errors[start:end] = 100.0
    key = ("0", "api")
    corpus = sli.Corpus(
        name="tiny",
        first_s=sli.FIRST_WEEK_S,
        n_minutes=n,
        objective=99.9,
        key_labels=("seed", "service"),
        series=[sli.SliSeries(key, 0, requests, errors)],
        incidents=[sli.Incident(key, "fast", start, end, 100.0)],
        clean={key: [(0, start)]},
    )
    stages: list[str] = []
    alerts, _ = bench.evaluate(corpus, tmp_path, None, stages.append)
    assert len(stages) == bench.STAGES - 1
    for rules in ("workbook", "sloth"):
        (page,) = bench.bs.episodes(alerts[rules]["page"][key])
        assert start + 8 <= page[0] <= start + 10, page
        assert end + 25 <= page[1] <= end + 30, page
        ticket = bench.bs.episodes(alerts[rules]["ticket"][key])
        assert ticket[0][0] >= start
    every = bench.scores(corpus, alerts)
    json.dumps(every | {"info": bench.corpus_info(corpus)})  # plain JSON, numbers included
    s = every["workbook"]["all"]
    assert (s["fast"]["recall_right"], s["page"]["precision"], s["any"]["clean_minutes"]) == (
        1.0,
        1.0,
        0,
    )
