"""``modelphase canary judge``: the command contract (long and NAB-style CSV, --metric
NAME:DIRECTION, --json, exit codes 0/3/4/1) and one-line errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from support.cli import RunCli

T0 = 1_700_000_000


def long_csv(
    path: Path, metrics: dict[str, np.ndarray], pods: int = 1, rfc3339: bool = False
) -> Path:
    lines = ["timestamp,metric,value"]
    for name, values in metrics.items():
        for i, v in enumerate(values):
            ts = T0 + 60 * (i // pods)
            stamp = f"2023-11-14T22:{13 + ts // 60 - T0 // 60:02d}:20Z" if rfc3339 else str(ts)
            lines.append(f"{stamp},{name},{'' if np.isnan(v) else v}")
    path.write_text("\n".join(lines) + "\n")
    return path


def pair(
    tmp_path: Path, canary: dict[str, np.ndarray], baseline: dict[str, np.ndarray]
) -> list[str]:
    b = long_csv(tmp_path / "b.csv", baseline, pods=4)
    c = long_csv(tmp_path / "c.csv", canary)
    return ["canary", "judge", "--baseline", str(b), "--canary", str(c)]


RNG = np.random.default_rng(0)
BASE = {"latency": RNG.normal(100, 2, 80), "success": np.full(80, 100.0)}


def test_pass_fail_and_inconclusive_exit_codes(cli: RunCli, tmp_path: Path) -> None:
    good = {"latency": RNG.normal(100, 2, 20), "success": np.full(20, 100.0)}
    args = pair(tmp_path, good, BASE)
    r = cli(*args, "--metric", "latency:increase", "--metric", "success:decrease", "--json")
    assert r.code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["verdict"] == "pass"
    assert out["score"] == 100
    assert {m["metric"]: m["verdict"] for m in out["metrics"]} == {
        "latency": "pass",
        "success": "pass",
    }
    bad = {"latency": RNG.normal(150, 2, 20), "success": np.full(20, 100.0)}
    r = cli(*pair(tmp_path, bad, BASE), "--metric", "latency:increase", "--json")
    assert r.code == 3
    assert json.loads(r.stdout)["verdict"] == "fail"
    few = {"latency": RNG.normal(150, 2, 2), "success": np.full(2, 100.0)}
    r = cli(*pair(tmp_path, few, BASE), "--json")
    assert r.code == 4
    assert json.loads(r.stdout)["verdict"] == "inconclusive"


def test_table_and_the_reason_on_stderr(cli: RunCli, tmp_path: Path) -> None:
    bad = {"latency": RNG.normal(150, 2, 20), "success": np.full(20, 100.0)}
    r = cli(*pair(tmp_path, bad, BASE), "--metric", "latency:increase", "--critical", "latency")
    assert r.code == 3
    assert "canary judge" in r.stdout
    assert "latency" in r.stdout
    assert "FAIL" in r.stderr
    assert "critical metric failed: latency" in r.stderr


def test_nab_style_files_and_rfc3339(cli: RunCli, tmp_path: Path) -> None:
    b, c = tmp_path / "b.csv", tmp_path / "c.csv"
    rows = [f"2024-01-01T00:{i:02d}:00Z,{100 + i % 3}" for i in range(30)]
    b.write_text("timestamp,value\n" + "\n".join(rows) + "\n")
    c.write_text("timestamp,value\n" + "\n".join(r.replace(",1", ",2") for r in rows) + "\n")
    r = cli(
        "canary",
        "judge",
        "--baseline",
        str(b),
        "--canary",
        str(c),
        "--metric",
        "value:increase",
        "--json",
    )
    assert r.code == 3, r.stderr
    assert json.loads(r.stdout)["metrics"][0]["metric"] == "value"


def test_metric_names_with_colons_and_a_tolerance(cli: RunCli, tmp_path: Path) -> None:
    name = "job:latency:p99"
    args = pair(tmp_path, {name: RNG.normal(140, 2, 20)}, {name: RNG.normal(100, 2, 80)})
    r = cli(*args, "--metric", f"{name}:increase:0.5", "--json")
    assert r.code == 0, r.stderr
    (metric,) = json.loads(r.stdout)["metrics"]
    assert (metric["metric"], metric["tolerance"], metric["verdict"]) == (name, 0.5, "pass")


def test_silent_canary_fails_unless_turned_off(cli: RunCli, tmp_path: Path) -> None:
    b = long_csv(tmp_path / "b.csv", {"latency": RNG.normal(100, 2, 40)}, pods=4)
    c = tmp_path / "c.csv"
    c.write_text("timestamp,metric,value\n")
    args = ["canary", "judge", "--baseline", str(b), "--canary", str(c), "--json"]
    r = cli(*args)
    assert r.code == 3
    assert "silent canary" in json.loads(r.stdout)["reason"]
    r = cli(*args, "--silent-after", "0")
    assert r.code == 4
    assert json.loads(r.stdout)["metrics"][0]["reason"] == "no canary data"


def test_all_nan_canary_is_inconclusive_with_its_reason(cli: RunCli, tmp_path: Path) -> None:
    args = pair(tmp_path, {"latency": np.full(10, np.nan)}, {"latency": RNG.normal(100, 2, 8)})
    r = cli(*args, "--json", "--silent-after", "1h")
    assert r.code == 4
    assert json.loads(r.stdout)["metrics"][0]["reason"] == "no canary data"


def test_bad_input_is_one_line_and_exit_1(cli: RunCli, tmp_path: Path) -> None:
    good = long_csv(tmp_path / "g.csv", {"latency": RNG.normal(100, 2, 20)})
    cases = {
        "missing": (
            ["--baseline", str(tmp_path / "nope.csv"), "--canary", str(good)],
            "no such file",
        ),
        "direction": (
            ["--baseline", str(good), "--canary", str(good), "--metric", "latency:up"],
            "metric 'latency:up'",
        ),
        "unknown": (
            ["--baseline", str(good), "--canary", str(good), "--metric", "cpu:increase"],
            "metric 'cpu'",
        ),
        "tolerance": (
            ["--baseline", str(good), "--canary", str(good), "--metric", "latency:increase:x"],
            "TOLERANCE",
        ),
    }
    cols = tmp_path / "cols.csv"
    cols.write_text("time,v\n1,2\n")
    cases["columns"] = (["--baseline", str(cols), "--canary", str(good)], "timestamp,metric,value")
    text = tmp_path / "text.csv"
    text.write_text("timestamp,metric,value\n1700000000,latency,fast\n")
    cases["value"] = (["--baseline", str(text), "--canary", str(good)], "expected numbers")
    ms = tmp_path / "ms.csv"
    ms.write_text(
        "timestamp,metric,value\n"
        + "".join(f"{(T0 + 60 * i) * 1000},latency,1\n" for i in range(5))
    )
    # milliseconds are read as such; another day's export is refused
    other = tmp_path / "other.csv"
    other.write_text(
        "timestamp,metric,value\n"
        + "".join(f"{T0 + 86400 * 3 + 60 * i},latency,1\n" for i in range(5))
    )
    cases["window"] = (["--baseline", str(other), "--canary", str(good)], "apart")
    empty = tmp_path / "empty.csv"
    empty.write_text("timestamp,metric,value\n")
    cases["empty baseline"] = (
        ["--baseline", str(empty), "--canary", str(good)],
        "rows below the header",
    )
    for what, (args, expected) in cases.items():
        r = cli("canary", "judge", *args)
        assert r.code == 1, (what, r.stdout, r.stderr)
        assert expected in r.stderr, (what, r.stderr)
        assert "Traceback" not in r.stderr, what
        assert len(r.stderr.strip().splitlines()) == 1, what
    r = cli("canary", "judge", "--baseline", str(ms), "--canary", str(good), "--json")
    assert r.code == 3, r.stderr  # judged (latency 1 against 100), not refused
