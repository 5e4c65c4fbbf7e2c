"""``modelphase triage`` beyond the wide CSV: a stored dataset and a real Prometheus
(labelled series, instances averaged), the call graph, recorded incidents, postmortem
confirmations that re-rank later triage, and one-line usage errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelphase.decide.triage_input import triage_panel
from modelphase.frame import NS_PER_SECOND, Panel, format_time, series_id
from modelphase.ingest import DatasetStore
from support.cli import RunCli
from support.prometheus import PrometheusServer, write_openmetrics

MIN = 60 * NS_PER_SECOND
T0 = 1_767_571_200 * NS_PER_SECOND  # 2026-01-05T00:00:00Z
AT = T0 + 300 * MIN


def _series() -> dict[str, tuple[dict[str, str], np.ndarray, np.ndarray]]:
    """db's latency triples at AT; api (two pods, db's caller) slows a minute later;
    search stays calm."""
    rng = np.random.default_rng(3)
    t = T0 + MIN * np.arange(360, dtype=np.int64)
    out = {}
    for service, pods in (("db", ("x",)), ("api", ("a", "b")), ("search", ("s",))):
        for pod in pods:
            y = 1.0 + 0.05 * rng.standard_normal(len(t))
            if service == "db":
                y[t >= AT] *= 3
            if service == "api":
                y[t >= AT + MIN] *= 1.6
            labels = {"__name__": "latency_seconds", "service": service, "pod": pod}
            out[series_id(labels)] = (labels, t, y)
    return out


def _panel() -> Panel:
    return Panel.from_series([(uid, t, y) for uid, (_, t, y) in _series().items()], step=MIN)


@pytest.fixture
def dataset(home: Path) -> str:
    store = DatasetStore(home / "datasets")
    return store.write(_panel(), {"kind": "test"}, now=datetime.now(UTC)).id


def _ranking(stdout: str) -> list[str]:
    return [s["service"] for s in json.loads(stdout)["ranking"]]


def test_a_dataset_is_triaged_with_its_labels(cli: RunCli, dataset: str) -> None:
    r = cli("triage", "--dataset", dataset, "--at", format_time(AT), "--json")
    assert r.code == 0, r.stderr
    answer = json.loads(r.stdout)
    expected = triage_panel(_panel(), AT)
    assert _ranking(r.stdout) == [s.service for s in expected.ranking] == ["db", "api", "search"]
    assert answer["ranking"][0]["metric"] == "latency_seconds"  # pods averaged
    assert answer["ranking"][1]["changed_at"] == (AT + MIN) / NS_PER_SECOND
    assert answer["n_normal"] == 120  # two hours before, one sample a minute
    # a shorter window, in Unix seconds
    r = cli("triage", "--dataset", dataset, "--at", str(AT // NS_PER_SECOND), "--before", "30m",
            "--after", "5m", "--json")  # fmt: skip
    assert r.code == 0, r.stderr
    assert (json.loads(r.stdout)["n_normal"], json.loads(r.stdout)["n_anomalous"]) == (30, 6)


def test_the_call_graph_puts_the_callee_first(cli: RunCli, dataset: str, tmp_path: Path) -> None:
    calls = tmp_path / "calls.csv"
    calls.write_text("caller,callee\napi,db\n")
    # api calls db: db's tripling explains api's slowdown, which goes after the rest
    r = cli("triage", "--dataset", dataset, "--at", format_time(AT), "--calls", str(calls),
            "--json")  # fmt: skip
    assert r.code == 0, r.stderr
    ranking = json.loads(r.stdout)["ranking"]
    assert [(s["service"], s["explained_by"]) for s in ranking] == [
        ("db", None),
        ("search", None),
        ("api", "db"),
    ]
    table = cli("triage", "--dataset", dataset, "--at", format_time(AT), "--calls", str(calls))
    assert table.code == 0, table.stderr
    assert "explained" in table.stderr


def test_confirmed_causes_rerank_later_incidents(cli: RunCli, home: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    time = np.arange(300.0)
    frame = pd.DataFrame({"time": time, "a_cpu": 1 + 0.1 * rng.standard_normal(300),
                          "b_cpu": 1 + 0.1 * rng.standard_normal(300)})  # fmt: skip
    frame.loc[frame.time >= 250, "a_cpu"] += 1.5
    frame.loc[frame.time >= 250, "b_cpu"] += 1.2
    wide = tmp_path / "wide.csv"
    frame.to_csv(wide, index=False)
    r = cli("triage", "--input", str(wide), "--at", "250", "--incident", "INC-1", "--json")
    assert r.code == 0, r.stderr
    assert _ranking(r.stdout) == ["a", "b"]
    assert json.loads(r.stdout)["incident"] == "INC-1"
    assert (home / "triage" / "incidents" / "INC-1.json").is_file()
    c = cli("triage", "confirm", "INC-1", "--service", "b", "--note", "PM-1")
    assert c.code == 0, c.stderr
    assert "triage ranked it #2" in c.stderr
    for i in range(2, 7):  # five more postmortems blame b
        assert cli("triage", "confirm", f"INC-{i}", "--service", "b").code == 0
    again = cli("triage", "--input", str(wide), "--at", "250", "--json")
    assert json.loads(again.stdout)["feedback"] == {"confirmed": 6}
    assert _ranking(again.stdout) == ["b", "a"]
    plain = cli("triage", "--input", str(wide), "--at", "250", "--no-feedback", "--json")
    assert _ranking(plain.stdout) == ["a", "b"]
    listed = cli("triage", "incidents", "--json")
    assert json.loads(listed.stdout)["incidents"] == [
        {"incident": "INC-1", "at": 250.0, "top": "a", "confirmed": "b", "rank": 2}
    ]
    # a service triage never ranked is a warning, not an error
    odd = cli("triage", "confirm", "INC-1", "--service", "nowhere")
    assert odd.code == 0
    assert "not among the services" in odd.stderr


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["--at", "5"], 2, "expected one of --input"),
        (["--input", "w.csv", "--dataset", "x", "--at", "5"], 2, "--input and --dataset"),
        (["--input", "w.csv"], 2, "expected --at"),
        (["--input", "w.csv", "--at", "soon"], 2, "RFC 3339"),
        (["--input", "w.csv", "--at", "5", "--calls", "bad.csv"], 1, "caller,callee"),
        (["--input", "w.csv", "--at", "5", "--calls", "other.csv"], 1, "call graph"),
        (["--input", "w.csv", "--at", "5", "--incident", "../x"], 1, "incident id"),
        (["--dataset", "nope", "--at", "5"], 1, "nope"),
        (["--prometheus", "http://127.0.0.1:9", "--at", "5"], 2, "--query"),
        (["confirm", "INC-1"], 2, "--service"),
    ],
)
def test_usage_and_bad_input_are_one_line(
    cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], code: int,
    says: str,
) -> None:  # fmt: skip
    monkeypatch.chdir(tmp_path)
    pd.DataFrame({"time": [1, 2, 6, 7], "a_x": [1, 1, 5, 5]}).to_csv("w.csv", index=False)
    Path("bad.csv").write_text("from,to\na,b\n")
    Path("other.csv").write_text("caller,callee\nx,y\n")
    r = cli("triage", *args)
    assert r.code == code, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    assert says in " ".join(r.stderr.split())


@pytest.mark.prometheus
def test_a_prometheus_range_is_triaged(cli: RunCli, tmp_path: Path) -> None:
    series = _series()
    with PrometheusServer(write_openmetrics(series), tmp_path, lookback_delta="59s") as server:
        r = cli("triage", "--prometheus", server.url, "--query", '{__name__="latency_seconds"}',
                "--at", format_time(AT), "--json")  # fmt: skip
        assert r.code == 0, r.stderr
        assert _ranking(r.stdout) == ["db", "api", "search"]
        assert json.loads(r.stdout)["n_normal"] == 120
        down = cli("triage", "--prometheus", "http://127.0.0.1:9", "--query", "up",
                   "--at", format_time(AT))  # fmt: skip
        assert down.code == 1
        assert "Traceback" not in down.stderr


def test_an_alert_of_detect_is_triaged(cli: RunCli, dataset: str, tmp_path: Path) -> None:
    found = cli("detect", "--dataset", dataset, "--alerts", "--detector", "zscore",
                "--threshold", "8", "--json")  # fmt: skip
    assert found.code == 0, found.stderr
    alerts = json.loads(found.stdout)["alerts"]
    assert alerts, "the jump should raise an alert"
    path = tmp_path / "alerts.json"
    path.write_text(found.stdout)
    r = cli("triage", "--alert", f"{path}#1", "--json")
    assert r.code == 0, r.stderr
    answer = json.loads(r.stdout)
    assert answer["at"] == datetime.fromisoformat(alerts[0]["start"]).timestamp()
    assert _ranking(r.stdout)[0] == "db"
    for bad, says in ((f"{path}#0", "FILE#N"), (f"{path}#99", "expected N from 1"),
                      (f"{tmp_path}/none.json#1", "no such file")):  # fmt: skip
        wrong = cli("triage", "--alert", bad)
        assert wrong.code in (1, 2)
        assert says in " ".join(wrong.stderr.split())
    both = cli("triage", "--alert", f"{path}#1", "--at", "5")
    assert both.code == 2
