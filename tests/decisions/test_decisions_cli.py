"""``modelphase decisions query`` as people and scripts use it."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from modelphase.decisions import DecisionLog
from support.cli import RunCli
from support.decisions import make_record

NOW_US = time.time_ns() // 1000
HOUR_US = 3_600_000_000


@pytest.fixture
def logged(home: Path) -> Path:
    """Four decisions in the home folder: two recent (one by the fallback), two old."""
    with DecisionLog(home / "decisions") as log:
        log.offer(make_record(0, time_us=NOW_US - 60_000_000))
        log.offer(
            make_record(
                1,
                time_us=NOW_US - 120_000_000,
                answered_by="fallback",
                fallback_reason="circuit_open",
                model="queue-depth",
            )
        )
        log.offer(make_record(2, time_us=NOW_US - 3 * HOUR_US, alias="canary", version=4))
        log.offer(make_record(3, time_us=NOW_US - 30 * 24 * HOUR_US))
    return home


def ids(stdout: str) -> list[str]:
    return [row["request_id"] for row in json.loads(stdout)]


def test_json_records_on_stdout(cli: RunCli, logged: Path) -> None:
    result = cli("decisions", "query", "--json")
    assert result.code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["request_id"] for r in rows] == [
        "req-000000",
        "req-000001",
        "req-000002",
        "req-000003",
    ]
    first = rows[0]
    assert set(first) >= {"time_us", "model", "version", "prediction", "fallback_reason"}
    assert first["time_us"].endswith("Z")
    assert first["fallback_reason"] is None
    assert first["version"] == 3


def test_filters_and_relative_times(cli: RunCli, logged: Path) -> None:
    assert ids(cli("decisions", "query", "--since", "now-1h", "--json").stdout) == [
        "req-000000",
        "req-000001",
    ]
    assert ids(cli("decisions", "query", "--until", "now-1h", "--json").stdout) == [
        "req-000002",
        "req-000003",
    ]
    assert ids(cli("decisions", "query", "--fallback-only", "--json").stdout) == ["req-000001"]
    assert ids(
        cli("decisions", "query", "--alias", "canary", "--version", "4", "--json").stdout
    ) == ["req-000002"]
    assert ids(cli("decisions", "query", "--model", "queue-depth", "--json").stdout) == [
        "req-000001"
    ]
    limited = cli("decisions", "query", "--limit", "1", "--json")
    assert ids(limited.stdout) == ["req-000000"]
    stamp = "2000-01-01T00:00:00Z"
    assert len(ids(cli("decisions", "query", "--since", stamp, "--json").stdout)) == 4


def test_table_on_stderr(cli: RunCli, logged: Path) -> None:
    result = cli("decisions", "query", "--since", "now-1h")
    assert result.code == 0, result.stderr
    assert result.stdout == ""
    assert "queue-depth" in result.stderr
    assert "(circuit_" in result.stderr  # the fallback's reason (folded in 80 columns)
    assert "req-000002" not in result.stderr


def test_sql(cli: RunCli, logged: Path) -> None:
    sql = "SELECT answered_by, count(*) AS n FROM decisions GROUP BY ALL ORDER BY answered_by"
    result = cli("decisions", "query", "--sql", sql, "--json")
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout) == [
        {"answered_by": "fallback", "n": 1},
        {"answered_by": "model", "n": 3},
    ]
    table = cli("decisions", "query", "--sql", sql)
    assert "fallback" in table.stderr
    capped = cli("decisions", "query", "--sql", "SELECT * FROM decisions", "--limit", "2", "--json")
    assert len(json.loads(capped.stdout)) == 2
    assert "showing 2 of 4 rows" in capped.stderr
    days = cli("decisions", "query", "--sql", "SELECT DISTINCT date FROM decisions", "--json")
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", row["date"]) for row in json.loads(days.stdout))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sql", "DELETE FROM decisions"], "expected one read-only SELECT"),
        (["--sql", "SELEC 1"], "does not parse"),
        (["--since", "yesterday"], "expected an RFC 3339 time"),
        (["--since", "now-1x"], "expected a positive duration"),
        (["--sql", "SELECT 1", "--model", "m"], "either --sql or the filters"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(
    cli: RunCli, logged: Path, args: list[str], message: str
) -> None:
    result = cli("decisions", "query", *args)
    assert result.code == 1
    assert result.stderr.startswith("error: ")
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_an_empty_home_and_the_home_option(cli: RunCli, logged: Path, tmp_path: Path) -> None:
    empty = cli("decisions", "query", "--home", str(tmp_path / "elsewhere"))
    assert empty.code == 0
    assert "no decisions" in empty.stderr
    assert json.loads(cli("decisions", "query", "--home", str(tmp_path), "--json").stdout) == []
    assert len(ids(cli("decisions", "query", "--home", str(logged), "--json").stdout)) == 4
    assert "decisions" in cli("--help").stdout
