"""``modelphase canary judge --analysis FILE`` against a real Prometheus on loopback:
verdicts and exit codes from backfilled versions, and a clear line for each kind of bad
input (a side without data, NaN-only series, a query that matches nothing or that
Prometheus refuses, unsafe variables, two sources)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from decide.canary_data import CanaryData, start_canary_prometheus, write_analyses
from support.cli import RunCli

pytestmark = pytest.mark.prometheus


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CanaryData]:
    server, found = start_canary_prometheus(tmp_path_factory.mktemp("prometheus"))
    with server:
        yield found


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    return write_analyses(tmp_path / "analyses")


def judge(cli: RunCli, data: CanaryData, path: Path, canary: str, *extra: str) -> tuple[int, dict]:
    r = cli(
        "canary", "judge", "--analysis", str(path), "--prometheus", data.url,
        "--baseline-var", "version=v1", "--canary-var", f"version={canary}",
        "--end", data.end_seconds, "--json", *extra,
    )  # fmt: skip
    assert r.stdout, r.stderr
    return r.code, json.loads(r.stdout)


def verdicts(out: dict) -> dict[str, tuple[str, str]]:
    return {m["metric"]: (m["verdict"], m["reason"]) for m in out["metrics"]}


def test_the_same_latency_passes(cli: RunCli, data: CanaryData, files: dict[str, Path]) -> None:
    code, out = judge(cli, data, files["checkout"], "v2")
    assert code == 0
    assert out["verdict"] == "pass"
    assert set(out) >= {"verdict", "score", "reason", "metrics"}
    latency = out["metrics"][0]
    assert (latency["metric"], latency["verdict"]) == ("latency_seconds", "pass")
    # 30 minutes ending at the last sample, both ends included, two pods a side
    assert latency["canary_n"] == latency["baseline_n"] == 2 * 31
    assert verdicts(out)["errors_ratio"] == ("inconclusive", "no canary data")


def test_doubled_latency_fails_with_exit_3(
    cli: RunCli, data: CanaryData, files: dict[str, Path]
) -> None:
    code, out = judge(cli, data, files["checkout"], "v3")
    assert code == 3
    assert out["verdict"] == "fail"
    assert out["reason"] == "critical metric failed: latency_seconds"
    assert verdicts(out)["latency_seconds"] == ("fail", "higher by more than 20%")
    assert out["metrics"][0]["relative_shift"] == pytest.approx(1.0, abs=0.05)
    assert verdicts(out)["errors_ratio"][0] == "pass"


def test_a_critical_metric_the_canary_lacks_is_inconclusive_with_exit_4(
    cli: RunCli, data: CanaryData, files: dict[str, Path]
) -> None:
    code, out = judge(cli, data, files["strict"], "v2")
    assert code == 4
    assert out["verdict"] == "inconclusive"
    assert verdicts(out)["errors_ratio"] == ("inconclusive", "no canary data")
    assert verdicts(out)["latency_seconds"][0] == "pass"


def test_a_side_without_data_says_which(
    cli: RunCli, data: CanaryData, files: dict[str, Path]
) -> None:
    r = cli(
        "canary", "judge", "--analysis", str(files["strict"]), "--prometheus", data.url,
        "--baseline-var", "version=v2", "--canary-var", "version=v1",
        "--end", data.end_seconds, "--json",
    )  # fmt: skip
    assert r.code == 4
    assert verdicts(json.loads(r.stdout))["errors_ratio"] == ("inconclusive", "no baseline data")


def test_nan_only_series_are_dropped_and_counted(
    cli: RunCli, data: CanaryData, files: dict[str, Path]
) -> None:
    code, out = judge(cli, data, files["checkout"], "v4", "--silent-after", "0")
    assert code == 4
    latency = out["metrics"][0]
    assert (latency["verdict"], latency["reason"]) == ("inconclusive", "no canary data")
    assert latency["dropped_nan"] == 2 * 31


def test_a_canary_that_matches_nothing_at_all_is_silent_and_fails(
    cli: RunCli, data: CanaryData, files: dict[str, Path]
) -> None:
    code, out = judge(cli, data, files["checkout"], "v9")
    assert code == 3
    assert out["reason"].startswith("silent canary: no data from the canary for 30 min")
    code, out = judge(cli, data, files["checkout"], "v9", "--silent-after", "0")
    assert code == 4
    assert {m["reason"] for m in out["metrics"]} == {"no canary data"}


def test_the_window_options(cli: RunCli, data: CanaryData, files: dict[str, Path]) -> None:
    code, out = judge(cli, data, files["checkout"], "v2", "--since", "10m")
    assert code == 0
    assert out["metrics"][0]["canary_n"] == 2 * 11
    end = int(data.end_seconds)
    r = cli(
        "canary", "judge", "--analysis", str(files["checkout"]), "--prometheus", data.url,
        "--baseline-var", "version=v1", "--canary-var", "version=v3",
        "--start", str(end - 300), "--end", str(end), "--json",
    )  # fmt: skip
    assert r.code == 3
    assert json.loads(r.stdout)["metrics"][0]["canary_n"] == 2 * 6


def test_the_table_and_the_url_from_the_environment(
    cli: RunCli, data: CanaryData, files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELPHASE_PROMETHEUS_URL", data.url)
    r = cli(
        "canary", "judge", "--analysis", str(files["checkout"]),
        "--baseline-var", "version=v1", "--canary-var", "version=v3", "--end", data.end_seconds,
    )  # fmt: skip
    assert r.code == 3
    assert "canary judge" in r.stdout
    assert "critical" in r.stdout
    assert "FAIL score 50: critical metric failed: latency_seconds" in r.stderr


def test_a_query_prometheus_refuses_is_one_line_naming_the_metric(
    cli: RunCli, data: CanaryData, files: dict[str, Path]
) -> None:
    r = cli(
        "canary", "judge", "--analysis", str(files["broken"]), "--prometheus", data.url,
        "--baseline-var", "version=v1", "--canary-var", "version=v2", "--end", data.end_seconds,
    )  # fmt: skip
    assert r.code == 1
    line = r.stderr.strip()
    assert "\n" not in line
    assert "metric 'latency_rate', baseline query:" in line
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--canary-var", 'version=v2"} or up{x="'], "--canary-var version: expected a label"),
        (["--canary-var", "verison=v2"], "--canary-var verison: expected one of the analysis's"),
        (["--canary-var", "v2"], "--canary-var v2: expected KEY=VALUE"),
        (["--canary-var", "version=v1"], "expected variables that differ from the baseline's"),
        (["--since", "2d"], "--since: expected a window longer than 0 and at most 1d, got 2d"),
        (["--since", "10m", "--start", "now-1h"], "expected --since or --start, got both"),
        (["--metric", "latency_seconds:increase"], "expected no --metric with --analysis"),
        (
            ["--baseline", "b.csv"],
            "expected one source of samples, got files (--baseline/--canary) and --analysis",
        ),
    ],
)
def test_bad_options_are_one_line_and_exit_1(
    cli: RunCli, data: CanaryData, files: dict[str, Path], args: list[str], message: str
) -> None:
    base = ["canary", "judge", "--analysis", str(files["checkout"]), "--prometheus", data.url]
    base += ["--baseline-var", "version=v1", "--end", data.end_seconds]
    if not any(a.startswith("--canary-var") for a in args):
        base += ["--canary-var", "version=v2"]
    r = cli(*base, *args)
    assert r.code == 1, r.stderr
    assert message in r.stderr
    assert r.stderr.count("\n") == 1
    assert "Traceback" not in r.stderr


def test_a_source_is_required_and_files_keep_their_own_options(cli: RunCli, tmp_path: Path) -> None:
    r = cli("canary", "judge", "--json")
    assert r.code == 1
    assert "expected a source of samples: --baseline B.csv --canary C.csv, --analysis" in (r.stderr)
    b = tmp_path / "b.csv"
    b.write_text("timestamp,value\n1,2\n")
    r = cli("canary", "judge", "--baseline", str(b), "--canary", str(b), "--since", "10m")
    assert r.code == 1
    assert "expected no --since with --baseline/--canary" in r.stderr
    r = cli("canary", "judge", "--baseline", str(b))
    assert r.code == 1
    assert "expected --baseline and --canary together, got no --canary" in r.stderr


def test_no_prometheus_is_a_clear_error(cli: RunCli, files: dict[str, Path]) -> None:
    r = cli("canary", "judge", "--analysis", str(files["checkout"]))
    assert r.code == 1
    assert "--analysis: expected a Prometheus to read from, got none" in r.stderr


def test_a_bad_analysis_file_is_one_line(cli: RunCli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: c\nmetrics: [{name: a, query: 'rate(x[{{w}}])'}]\n")
    r = cli("canary", "judge", "--analysis", str(bad), "--prometheus", "http://127.0.0.1:9")
    assert r.code == 1
    assert r.stderr.startswith(f"error: {bad}: metrics.0.query: expected {{{{name}}}} placeholders")
    r = cli("canary", "judge", "--analysis", str(tmp_path / "none.yaml"))
    assert r.code == 1
    assert "expected a readable file" in r.stderr
