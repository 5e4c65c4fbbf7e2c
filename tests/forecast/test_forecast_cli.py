"""`modelphase forecast`: the command contract and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from support.cli import RunCli

HOUR = pd.Timedelta(hours=1)


def _write(path: Path, series: dict[str, np.ndarray], freq: pd.Timedelta = HOUR) -> Path:
    rows = []
    for uid, values in series.items():
        ds = pd.date_range("2026-01-05T00:00:00Z", periods=len(values), freq=freq)
        stamps = ds.strftime("%Y-%m-%dT%H:%M:%SZ")
        rows.append(pd.DataFrame({"unique_id": uid, "ds": stamps, "y": values}))
    pd.concat(rows).to_csv(path, index=False)
    return path


def _daily(n: int, level: float = 10.0) -> np.ndarray:
    rng = np.random.default_rng(n)
    return level + np.sin(np.arange(n) / 24 * 2 * np.pi) + rng.normal(0, 0.1, n)


def test_the_contract(cli: RunCli, tmp_path: Path) -> None:
    data = _write(tmp_path / "in.csv", {"a": _daily(24 * 20), "b": _daily(24 * 10, 50)})
    out = tmp_path / "out.csv"
    result = cli(
        "forecast", "--input", str(data), "--h", "48", "--freq", "1h", "--output", str(out),
        "--level", "80", "--level", "95",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    table = pd.read_csv(out)
    assert list(table.columns) == [
        "unique_id", "ds", "yhat", "yhat_lo_80", "yhat_hi_80", "yhat_lo_95", "yhat_hi_95",
    ]  # fmt: skip
    assert table.groupby("unique_id").size().to_dict() == {"a": 48, "b": 48}
    a = table[table["unique_id"] == "a"]
    assert a["ds"].iloc[0] == "2026-01-25T00:00:00Z"
    assert (a["yhat_lo_80"] <= a["yhat"]).all()
    plain = cli(
        "forecast", "--input", str(data), "--h", "6", "--freq", "1h", "--output", str(out),
        "--model", "SeasonalNaive", "--json",
    )  # fmt: skip
    assert plain.code == 0, plain.stderr
    assert '"SeasonalNaive": 2' in plain.stdout
    assert list(pd.read_csv(out).columns) == ["unique_id", "ds", "yhat"]


def test_edge_series_still_get_forecasts(cli: RunCli, tmp_path: Path) -> None:
    data = _write(
        tmp_path / "in.csv",
        {"constant": np.full(24 * 10, 3.0), "short": _daily(10), "normal": _daily(24 * 10)},
    )
    out = tmp_path / "out.csv"
    result = cli("forecast", "--input", str(data), "--h", "24", "--freq", "1h", "-o", str(out))
    assert result.code == 0, result.stderr
    table = pd.read_csv(out)
    assert table.groupby("unique_id").size().to_dict() == {
        "constant": 24,
        "normal": 24,
        "short": 24,
    }
    assert np.allclose(table.loc[table["unique_id"] == "constant", "yhat"], 3.0)
    assert np.isfinite(table["yhat"]).all()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "Prophet"], "expected one of"),
        (["--freq", "30m"], "sampled every 1h"),
        (["--level", "100"], "between 0 and 100"),
        (["--freq", "soon"], "duration"),
    ],
)
def test_bad_input(cli: RunCli, tmp_path: Path, args: list[str], message: str) -> None:
    data = _write(tmp_path / "in.csv", {"a": _daily(24 * 5)})
    out = tmp_path / "out.csv"
    base = {"--freq": "1h"}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    argv = ["forecast", "--input", str(data), "--h", "12", "-o", str(out)]
    for flag, value in base.items():
        argv += [flag, value]
    result = cli(*argv)
    assert result.code == 1
    assert message in result.stderr
    assert not out.exists()


def test_all_missing_series_and_bad_sources(cli: RunCli, tmp_path: Path) -> None:
    nan = tmp_path / "nan.csv"
    nan.write_text("unique_id,ds,y\na,2026-01-05T00:00:00Z,NaN\na,2026-01-05T01:00:00Z,NaN\n")
    out = tmp_path / "out.csv"
    result = cli("forecast", "--input", str(nan), "--h", "2", "--freq", "1h", "-o", str(out))
    assert result.code == 1
    assert "NaN" in result.stderr
    both = cli("forecast", "--h", "2", "--freq", "1h", "-o", str(out))
    assert both.code == 1
    assert "--input FILE or --dataset ID" in both.stderr
    assert (
        cli("forecast", "--input", str(nan), "--h", "0", "--freq", "1h", "-o", str(out)).code == 2
    )


def test_forecast_from_a_dataset(cli: RunCli, tmp_path: Path) -> None:
    data = _write(tmp_path / "in.csv", {"a": _daily(24 * 8), "b": _daily(24 * 8, 20)})
    dataset_id = cli("ingest", "csv", str(data)).last_line
    out = tmp_path / "out.csv"
    result = cli(
        "forecast", "--dataset", dataset_id[:8], "--h", "24", "--freq", "1h", "-o", str(out)
    )
    assert result.code == 0, result.stderr
    assert pd.read_csv(out).groupby("unique_id").size().to_dict() == {"a": 24, "b": 24}
    wrong = cli("forecast", "--dataset", dataset_id, "--h", "24", "--freq", "5m", "-o", str(out))
    assert wrong.code == 1
    assert "does not match the dataset" in wrong.stderr
