"""`modelphase detect --dataset ID --alerts`: each alert lists its likely causes across
every service of the dataset (triage at the alert's start), in the JSON and the table."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

import modelphase.decide.triage_alerts as triage_alerts
from modelphase.frame import Panel, series_id
from modelphase.ingest import DatasetStore
from support.cli import RunCli

MIN = 60 * 10**9
N = 600
T0 = 1_767_571_200 * 10**9  # 2026-01-05T00:00:00Z
BASE = ("--alerts", "--detector", "zscore", "--threshold", "8")


def _dataset(home: Path) -> str:
    """db's latency triples at minute 500 and api's (two pods, db's caller) rises by
    half a minute later; search stays calm. Each series also has a team label."""
    rng = np.random.default_rng(2)
    t = T0 + np.arange(N, dtype=np.int64) * MIN
    db, api_a, api_b, search, search_cpu = 1.0 + 0.05 * rng.standard_normal((5, N))
    db[500:] *= 3
    api_a[501:] *= 1.5
    api_b[501:] *= 1.5

    def uid(name: str, service: str, team: str, **more: str) -> str:
        return series_id({"__name__": name, "service": service, "team": team, **more})

    panel = Panel.from_series(
        [
            (uid("latency_seconds", "db", "storage"), t, db),
            (uid("latency_seconds", "api", "web", pod="a"), t, api_a),
            (uid("latency_seconds", "api", "web", pod="b"), t, api_b),
            (uid("latency_seconds", "search", "web"), t, search),
            (uid("cpu_cores", "search", "web"), t, search_cpu),
        ],
        step=MIN,
    )
    return DatasetStore(home / "datasets").write(panel, {"kind": "test"}, now=datetime.now(UTC)).id


def test_every_alert_lists_the_service_that_changed_first(cli: RunCli, home: Path) -> None:
    dataset = _dataset(home)
    result = cli("detect", "--dataset", dataset, *BASE, "--json")
    assert result.code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["triage"] == {"service_label": "service", "before": "2h", "after": "15m", "top": 3}
    alerts = data["alerts"]
    assert [(a["service"], a["start"]) for a in alerts] == [
        ("db", "2026-01-05T08:20:00Z"),  # minute 500
        ("api", "2026-01-05T08:21:00Z"),
    ]
    start = (T0 + 500 * MIN) / 10**9
    for alert in alerts:
        assert alert["hypotheses_reason"] is None
        hypotheses = alert["hypotheses"]
        assert [h["service"] for h in hypotheses] == ["db", "api"]  # search never moved
        assert set(hypotheses[0]) == {
            "service", "metric", "score", "changed_at", "direction", "explained_by"
        }  # fmt: skip
        db, api = hypotheses
        assert (db["metric"], db["direction"]) == ('latency_seconds{team="storage"}', "up")
        assert db["explained_by"] is None
        assert db["score"] > api["score"] > 3
    db_alert, api_alert = (a["hypotheses"] for a in alerts)
    assert [h["changed_at"] for h in db_alert] == [start, start + 60]
    assert [h["changed_at"] for h in api_alert] == [start + 60, start + 60]
    assert len(alerts[1]["members"]) == 2  # the alert's own members are unchanged: api's pods


def test_the_table_shows_a_likely_cause_column(cli: RunCli, home: Path) -> None:
    dataset = _dataset(home)
    result = cli("detect", "--dataset", dataset, *BASE)
    assert result.code == 0, result.stderr
    assert result.stdout == ""
    shown = " ".join(result.stderr.replace("│", " ").split())
    assert "likely cause" in shown
    lines = [line.strip() for line in result.stderr.splitlines() if "likely cause:" in line]
    assert len(lines) == 2  # one per alert, under the table
    db, api = 'db latency_seconds{team="storage"}', 'api latency_seconds{team="web"}'
    assert re.fullmatch(rf"#1 likely cause: {re.escape(db)} \(z [\d.]+, \+0s\); "
                        rf"{re.escape(api)} \(z [\d.]+, \+1m\)", lines[0]), lines  # fmt: skip
    assert re.fullmatch(rf"#2 likely cause: {re.escape(db)} \(z [\d.]+, \+0s\); "
                        rf"{re.escape(api)} \(z [\d.]+, \+0s\)", lines[1]), lines  # fmt: skip
    assert "db (z" in shown  # the table's column: the services
    assert "likely cause: none" not in shown
    assert "2 alert(s)" in shown


def test_group_by_names_the_services_of_triage(cli: RunCli, home: Path) -> None:
    dataset = _dataset(home)
    result = cli("detect", "--dataset", dataset, *BASE, "--json", "--group-by", "team")
    assert result.code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["triage"]["service_label"] == "team"
    [storage, web] = data["alerts"]
    assert (storage["group"], web["group"]) == ({"team": "storage"}, {"team": "web"})
    for alert in (storage, web):
        assert [h["service"] for h in alert["hypotheses"]] == ["storage", "web"]
        assert alert["hypotheses"][0]["metric"] == 'latency_seconds{service="db"}'


def test_an_alert_left_untriaged_has_a_reason_and_the_command_succeeds(
    cli: RunCli, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset = _dataset(home)
    monkeypatch.setattr(triage_alerts, "MAX_TRIAGED_ALERTS", 1)
    result = cli("detect", "--dataset", dataset, *BASE, "--json")
    assert result.code == 0, result.stderr
    first, second = json.loads(result.stdout)["alerts"]
    assert first["hypotheses"][0]["service"] == "db"
    assert second["hypotheses"] == []
    assert second["hypotheses_reason"].startswith("not triaged: only the first 1")
    table = cli("detect", "--dataset", dataset, *BASE)
    assert table.code == 0, table.stderr
    assert "#2 likely cause: none (not triaged" in " ".join(table.stderr.split())
