"""``modelphase triage``: the command contract (``--input WIDE.csv --at T [--json]``, the
ranking as JSON on stdout, a table on stderr) and one-line errors, exit 1, for bad
input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from support.cli import RunCli

AT = 1_652_812_675


@pytest.fixture(scope="module")
def wide(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """RCAEval's wide CSV: carts' CPU hog from AT on, the rest noise; rows shuffled."""
    rng = np.random.default_rng(7)
    time = AT - 100 + np.arange(200)
    data = {"time": time}
    for service in ("carts", "carts-db", "orders", "front-end"):
        data[f"{service}_cpu"] = 1 + 0.05 * rng.standard_normal(200)
        data[f"{service}_lat_99"] = 0.2 + 0.01 * rng.standard_normal(200)
    data["carts_cpu"] = np.where(time >= AT + 5, 100.0, data["carts_cpu"])
    frame = pd.DataFrame(data).sample(frac=1.0, random_state=0)
    frame["orders_lat_99"] = frame["orders_lat_99"].astype(object)
    frame.iloc[3, frame.columns.get_loc("orders_lat_99")] = ""  # a missing cell
    path = tmp_path_factory.mktemp("triage") / "wide.csv"
    frame.to_csv(path, index=False)
    return path


def test_json_ranks_every_service_root_cause_first(cli: RunCli, wide: Path) -> None:
    r = cli("triage", "--input", str(wide), "--at", str(AT), "--json")
    assert r.code == 0, r.stderr
    answer = json.loads(r.stdout)
    ranking = answer["ranking"]
    assert ranking[0]["service"] == "carts"
    assert sorted(e["service"] for e in ranking) == ["carts", "carts-db", "front-end", "orders"]
    top = ranking[0]
    assert (top["metric"], top["direction"], top["changed_at"]) == ("cpu", "up", AT + 5)
    assert top["score"] > 100
    assert [e["score"] for e in ranking] == sorted((e["score"] for e in ranking), reverse=True)
    assert len(answer["metrics"]) == 8
    assert (answer["n_normal"], answer["n_anomalous"]) == (100, 100)


def test_the_table_goes_to_stderr(cli: RunCli, wide: Path) -> None:
    r = cli("triage", "--input", str(wide), "--at", str(AT))
    assert r.code == 0, r.stderr
    assert r.stdout == ""
    assert "likely root causes" in r.stderr
    first = next(line for line in r.stderr.splitlines() if "│    1 │" in line)
    for words in ("carts", "cpu", "+5 s", "up"):
        assert words in first
    assert "4 services, 8 metrics" in r.stderr


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "at", "words"),
    [
        ("ts,a_x\n0,1\n1,2\n2,3\n", "1", "expected a 'time' column"),
        ("time,a_x\n0,1\nnoon,2\n2,3\n", "1", "'noon' in data row 2"),
        ("time\n0\n1\n2\n", "1", "expected metric columns"),
        ("time,a_x\n10,1\n11,2\n12,3\n", "10", "no row before it"),
        ("time,a_x\n10,1\n11,2\n12,3\n", "99", "no row at or after it"),
        ("", "1", "got an empty file"),
    ],
)
def test_bad_input_exits_1_in_one_line(
    cli: RunCli, tmp_path: Path, text: str, at: str, words: str
) -> None:
    path = _write(tmp_path / "bad.csv", text)
    r = cli("triage", "--input", str(path), "--at", at, "--json")
    assert r.code == 1
    assert r.stdout == ""
    assert words in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.stderr


def test_a_missing_file_exits_1(cli: RunCli, tmp_path: Path) -> None:
    r = cli("triage", "--input", str(tmp_path / "none.csv"), "--at", "1")
    assert r.code == 1
    assert "no such file" in r.stderr


def test_at_must_be_a_time(cli: RunCli, wide: Path) -> None:
    r = cli("triage", "--input", str(wide), "--at", "yesterday")
    assert r.code == 2


def test_help_explains_the_method(cli: RunCli) -> None:
    r = cli("triage", "--help")
    assert r.code == 0
    text = " ".join(r.stdout.split())
    for words in ("--input", "--at", "--json", "robust z-score", "every service ranked once",
                  "--calls", "triage confirm", "--dataset", "--prometheus"):  # fmt: skip
        assert words in text
