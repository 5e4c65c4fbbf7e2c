"""``modelphase drift``: change points and checks as JSON and tables, exit codes 0, 3
and 1, and one-line errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from support.cli import RunCli


def write(path: Path, columns: dict[str, np.ndarray], timestamp: bool = True) -> Path:
    names = (["timestamp"] if timestamp else []) + list(columns)
    n = len(next(iter(columns.values())))
    lines = [",".join(names)]
    for i in range(n):
        cells = [f"2024-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z"] if timestamp else []
        cells += ["" if np.isnan(c[i]) else repr(float(c[i])) for c in columns.values()]
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_changepoints_json_and_table(cli: RunCli, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    value = np.r_[np.zeros(120), np.full(80, 4.0)] + rng.normal(0, 0.5, 200)
    value[[5, 150]] = np.nan
    one = write(tmp_path / "one.csv", {"value": value})
    result = cli("drift", "changepoints", "--input", str(one), "--json")
    assert result.code == 0, result.stderr
    assert json.loads(result.stdout) == {"changepoints": [120]}
    table = cli("drift", "changepoints", "--input", str(one))
    assert table.code == 0
    assert "120" in table.stdout
    many = write(tmp_path / "many.csv", {"v1": value, "v2": -value})
    assert json.loads(cli("drift", "changepoints", "-i", str(many), "--json").stdout) == {
        "changepoints": [120]
    }


def test_check_exits_0_when_nothing_drifted_and_3_when_a_column_did(
    cli: RunCli, tmp_path: Path
) -> None:
    rng = np.random.default_rng(1)
    ref = write(tmp_path / "ref.csv", {"a": rng.normal(0, 1, 500), "b": rng.normal(0, 1, 500)})
    same = write(tmp_path / "same.csv", {"a": rng.normal(0, 1, 500), "b": rng.normal(0, 1, 500)})
    moved = write(tmp_path / "moved.csv", {"b": rng.normal(0, 1, 500), "a": rng.normal(1, 1, 500)})
    ok = cli("drift", "check", "--reference", str(ref), "--current", str(same), "--json")
    assert ok.code == 0, ok.stderr
    columns = json.loads(ok.stdout)["columns"]
    assert [c["column"] for c in columns] == ["a", "b"]
    first = ["column", "statistic", "value", "p_value", "effect_size", "drifted"]
    assert list(columns[0])[:6] == first
    bad = cli("drift", "check", "--reference", str(ref), "--current", str(moved), "--json")
    assert bad.code == 3
    assert [c["drifted"] for c in json.loads(bad.stdout)["columns"]] == [True, False]
    table = cli("drift", "check", "--reference", str(ref), "--current", str(moved))
    assert table.code == 3
    assert "1 of 2 column(s) drifted" in table.stderr
    lenient = cli("drift", "check", "--reference", str(ref), "--current", str(moved),
                  "--min-effect", "5")  # fmt: skip
    assert lenient.code == 0


def test_bad_input_is_one_line_and_exit_1(cli: RunCli, tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    ref = write(tmp_path / "ref.csv", {"a": rng.normal(0, 1, 100)})
    other = write(tmp_path / "other.csv", {"x": rng.normal(0, 1, 100)})
    short = write(tmp_path / "short.csv", {"a": rng.normal(0, 1, 5)})
    text = tmp_path / "text.csv"
    text.write_text("timestamp,value\nt0,1.5\nt1,high\n")
    cases = [
        (("changepoints", "--input", str(tmp_path / "nope.csv")), "no such file"),
        (
            ("changepoints", "--input", str(text)),
            "expected numbers in column 'value', got 'high' on line 3",
        ),
        (
            ("check", "--reference", str(ref), "--current", str(other)),
            "expected the columns of --reference",
        ),
        (("check", "--reference", str(ref), "--current", str(short)), "expected at least 20"),
    ]
    for args, message in cases:
        result = cli("drift", *args)
        assert result.code == 1, args
        assert result.stderr.startswith("error:"), result.stderr
        assert message in result.stderr
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
