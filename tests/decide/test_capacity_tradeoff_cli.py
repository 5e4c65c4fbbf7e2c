"""``modelphase capacity tradeoff``: the command contract (columns by option or by their
usual names, prices by option, the front as a table, ``--json``, ``--output`` CSV,
``--plot`` PNG) and one-line errors, exit 1, for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from modelphase.simulate.resources import ResourceModel, resource_telemetry
from support.cli import RunCli

TRUTH = ResourceModel(core_rate={"a": 40.0, "b": 60.0})
PRICES = ["--price", "a=0", "--price", "b=0.05", "--price-core-hour", "0.04"]


@pytest.fixture(scope="module")
def telemetry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = resource_telemetry(TRUTH, [(2, 8, "a"), (2, 8, "b")], days=4, seed=0)
    path = tmp_path_factory.mktemp("tradeoff") / "telemetry.csv"
    rows.to_csv(path, index=False)
    return path


def _args(path: Path, *extra: str, prices: tuple[str, ...] = tuple(PRICES)) -> list[str]:
    return [
        "capacity", "tradeoff", "--input", str(path), "--latency-column", "p99",
        "--load-column", "rps", "--slo-latency", "0.3", "--load", "1200", "--risk", "0.05",
        *prices, *extra,
    ]  # fmt: skip


def test_json_front_csv_and_plot(cli: RunCli, telemetry: Path, tmp_path: Path) -> None:
    front, plot = tmp_path / "front.csv", tmp_path / "front.png"
    r = cli(*_args(telemetry, "--json", "--output", str(front), "--plot", str(plot)))
    assert r.code == 0, r.stderr
    answer = json.loads(r.stdout)
    chosen = answer["chosen"]
    # the usual column names were found without options
    assert {k: chosen[k] for k in ("replicas", "cpu", "memory", "instance_type")} == {
        "replicas": 14, "cpu": 2.0, "memory": 8.0, "instance_type": "b",
    }  # fmt: skip
    assert chosen["cost_per_hour"] == pytest.approx(14 * (0.05 + 2 * 0.04))
    assert answer["settings"]["columns"]["instance_type"] == "instance_type"
    assert answer["fit"]["holdout_rows"] > 0
    table = pd.read_csv(front)
    assert list(table.columns) == [
        "replicas", "cpu", "memory", "instance_type", "load_per_replica", "cost_per_hour",
        "predicted_latency", "estimated_risk", "meets_slo", "chosen",
    ]  # fmt: skip
    assert len(table) == len(answer["front"])
    assert int(table["chosen"].sum()) == 1
    assert table["cost_per_hour"].is_monotonic_increasing
    assert table["predicted_latency"].is_monotonic_decreasing
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "14 replicas x 2 cpu, 8 GiB on b" in r.stderr
    assert "wrote" in r.stderr


def test_the_table_marks_the_chosen_one(cli: RunCli, telemetry: Path) -> None:
    r = cli(*_args(telemetry))
    assert r.code == 0, r.stderr
    assert "Pareto front" in r.stdout
    chosen = [line for line in r.stdout.splitlines() if "chosen" in line]
    assert len(chosen) == 1
    assert "14" in chosen[0]
    assert "hold-out" in r.stderr


def test_a_resource_left_out_by_an_empty_name(cli: RunCli, telemetry: Path) -> None:
    r = cli(
        "capacity", "tradeoff", "--input", str(telemetry), "--latency-column", "p99",
        "--load-column", "rps", "--slo-latency", "0.3", "--load", "1200", "--risk", "0.05",
        "--instance-column", "", "--cpu-column", "", "--memory-column", "",
        "--price-replica-hour", "0.1", "--json",
    )  # fmt: skip
    assert r.code == 0, r.stderr
    chosen = json.loads(r.stdout)["chosen"]
    assert "instance_type" not in chosen
    assert "cpu" not in chosen
    assert chosen["cost_per_hour"] == pytest.approx(0.1 * chosen["replicas"])


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--load", "0"], "planned load > 0"),
        (["--risk", "0.5"], "risk in (0, 0.5)"),
        (["--risk", "0"], "risk in (0, 0.5)"),
        (["--price", "a"], "--price: expected TYPE=USD"),
        (["--price", "a=cheap"], "--price: expected TYPE=USD"),
        (["--max-replicas", "0"], "--max-replicas: expected 1..10,000"),
        (["--cpu-values", "x,y"], "--cpu-values: expected 1 to 64"),
        (["--cpu-column", "cores"], "expected columns ['cores']"),
        (["--latency-column", "rps2"], "expected columns ['rps2']"),
        (["--load-column", "instance_type"], "column 'instance_type': expected numbers"),
        (["--slo-latency", "0.01"], "no configuration meets"),
        (["--output", "/"], "is a folder"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(
    cli: RunCli, telemetry: Path, extra: list[str], needle: str
) -> None:
    r = cli(*_args(telemetry, *extra))
    assert r.code == 1
    assert needle in r.stderr
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_missing_prices_for_a_seen_type(cli: RunCli, telemetry: Path) -> None:
    r = cli(*_args(telemetry, prices=("--price", "a=0.1", "--price-core-hour", "0.04")))
    assert r.code == 1
    assert "got none for ['b']" in r.stderr


def test_an_empty_or_missing_file(cli: RunCli, tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("rps,p99,replicas\n")
    r = cli(*_args(empty))
    assert r.code == 1
    assert "expected telemetry rows, got none" in r.stderr
    r = cli(*_args(tmp_path / "nope.csv"))
    assert r.code == 1
    assert "no such file" in r.stderr
    blank = tmp_path / "blank.csv"
    blank.write_text("rps,p99,replicas\n" + "100,,2\n" * 60)
    r = cli(*_args(blank))
    assert r.code == 1
    assert "got no finite one" in r.stderr
