"""A new user's first trial (issue 13): three weeks of hourly requests of three services,
a three-hour outage at -80% on one and a doubling spike on another, ingested as a CSV
and run through ``modelphase detect --dataset ID --alerts``.

It once gave no alert at all: with about 500 points of history the empirical tail
probability cannot reach the threshold 3 (its ceiling is ``log10(n + 1)``), and the one
episode's explanation called the three-hour outage "one point only".
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from support.cli import RunCli

HOURS = 21 * 24
START = pd.Timestamp("2026-03-02 00:00", tz="UTC")
OUTAGE = (18 * 24 + 14, 3)  # day 18, 14:00 UTC, three hours
SPIKE = 12 * 24 + 10  # day 12, 10:00 UTC, one hour
IDS = {
    "api": 'http_requests_total{service="api"}',
    "cart": 'http_requests_total{service="cart"}',
    "search": 'http_requests_total{service="search"}',
}


def _requests(tmp_path: Path) -> Path:
    """A long CSV: a daily rhythm (+-50%) and 4.4% noise, so that -80% at the day's high
    is about -18 noise deviations."""
    rng = np.random.default_rng(7)
    hour = np.arange(HOURS) % 24
    rhythm = 1.0 + 0.5 * np.sin(2 * np.pi * (hour - 6) / 24)
    frames = []
    for (name, uid), base in zip(IDS.items(), (1000.0, 400.0, 250.0), strict=True):
        y = base * rhythm * (1.0 + rng.normal(0.0, 0.8 / 18, HOURS))
        if name == "api":
            y[OUTAGE[0] : OUTAGE[0] + OUTAGE[1]] *= 0.2
        if name == "cart":
            y[SPIKE] *= 2.0
        ds = pd.date_range(START, periods=HOURS, freq="h")
        frames.append(pd.DataFrame({"unique_id": uid, "ds": ds, "y": y}))
    path = tmp_path / "requests.csv"
    pd.concat(frames).to_csv(path, index=False)
    return path


def _at(hours: int) -> str:
    return (START + pd.Timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_the_new_users_outage_and_spike_both_alert(cli: RunCli, tmp_path: Path) -> None:
    ingested = cli("ingest", "csv", str(_requests(tmp_path)))
    assert ingested.code == 0, ingested.stderr
    dataset = ingested.last_line
    result = cli("detect", "--dataset", dataset, "--alerts", "--json")
    assert result.code == 0, result.stderr
    data = json.loads(result.stdout)
    by_service = {a["service"]: a for a in data["alerts"]}
    assert {"api", "cart"} <= set(by_service), data["alerts"]
    assert "search" not in by_service  # the calm one stays calm

    outage = by_service["api"]
    assert outage["start"] == _at(OUTAGE[0])
    assert outage["end"] == _at(OUTAGE[0] + OUTAGE[1] - 1)  # the last hour of it
    why = outage["explanation"]
    assert why["deviation_spreads"] < -10
    assert why["pattern"] == "level"
    assert "stayed off for 3h" in why["reason"]
    assert "one point" not in why["reason"]

    spike = by_service["cart"]
    assert spike["start"] == _at(SPIKE)
    assert spike["explanation"]["pattern"] == "spike"

    # 504 points: too short to calibrate reliably, and said so
    assert data["short_history"] == dict.fromkeys(IDS.values(), HOURS)
    assert outage["short_history"] is True
    [warning] = data["warnings"]
    assert "fewer than 1,000 points" in warning


def test_the_table_says_so_too(cli: RunCli, tmp_path: Path) -> None:
    dataset = cli("ingest", "csv", str(_requests(tmp_path))).last_line
    result = cli("detect", "--dataset", dataset, "--alerts")
    assert result.code == 0, result.stderr
    shown = " ".join(result.stderr.replace("│", " ").split())
    assert "2 alert(s)" in shown
    assert "stayed off for 3h" in shown
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1
    assert "3 of 3 series have fewer than 1,000 points (the fewest 504)" in warnings[0]
