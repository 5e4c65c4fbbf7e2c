"""`modelphase detect`: the command contract, and what it does with bad input.

The contract other tools rely on: OUT has ``timestamp,value,anomaly_score``, one row per
input row in the same order, the timestamp and value cells as found, and the scores of
``score_stream(build_detector(NAME), values, times)`` written in full precision.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelphase.anomaly import DETECTORS, build_detector, score_stream
from support.cli import RunCli

NAB = Path(__file__).parents[3] / "shared/data/nab"


def _stream(path: Path, rows: list[tuple[str, str]]) -> Path:
    lines = ["timestamp,value"] + [f"{ts},{value}" for ts, value in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def _minutes(values: list[str], start: str = "2014-02-14 14:30:00") -> list[tuple[str, str]]:
    stamps = pd.date_range(start, periods=len(values), freq="1min")
    return list(zip(stamps.strftime("%Y-%m-%d %H:%M:%S"), values, strict=True))


def _read(path: Path) -> list[list[str]]:
    with path.open(newline="") as handle:
        return list(csv.reader(handle))


def _expected(rows: list[tuple[str, str]], detector: str | None = None) -> np.ndarray:
    """The scores, computed here from pandas' reading of the same rows."""
    times = pd.to_datetime([ts for ts, _ in rows], utc=True).as_unit("ns").asi8
    values = np.array([float(v) if v.strip() else np.nan for _, v in rows])
    return score_stream(build_detector(detector), values, times)


def _check_output(out: Path, rows: list[tuple[str, str]], detector: str | None = None) -> None:
    table = _read(out)
    assert table[0] == ["timestamp", "value", "anomaly_score"]
    assert [(ts, v) for ts, v, _ in table[1:]] == rows
    scores = np.array([float(s) for _, _, s in table[1:]])
    assert np.isfinite(scores).all()
    np.testing.assert_array_equal(scores, _expected(rows, detector))


def _noisy(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    values = 10 + rng.normal(0, 1, n)
    values[n // 2] += 25  # one spike
    return [repr(float(v)) for v in values]


@pytest.mark.parametrize("detector", [None, *sorted(DETECTORS)])
def test_one_file(cli: RunCli, tmp_path: Path, detector: str | None) -> None:
    rows = _minutes(_noisy(600))
    rows[3] = (rows[3][0], "10.50")  # written as found, not as 10.5
    src = _stream(tmp_path / "in.csv", rows)
    out = tmp_path / "out.csv"
    extra = ["--detector", detector] if detector else []
    result = cli("detect", "--input", str(src), "--output", str(out), *extra)
    assert result.code == 0, result.stderr
    _check_output(out, rows, detector)
    assert _read(out)[4][1] == "10.50"
    assert "600" in result.stderr  # the summary: rows
    assert result.stdout == ""


def test_the_spike_scores_highest(cli: RunCli, tmp_path: Path) -> None:
    rows = _minutes(_noisy(600))
    out = tmp_path / "out.csv"
    result = cli("detect", "-i", str(_stream(tmp_path / "in.csv", rows)), "-o", str(out))
    assert result.code == 0, result.stderr
    scores = [float(s) for _, _, s in _read(out)[1:]]
    assert int(np.argmax(scores)) == 300


def test_repeated_and_backward_timestamps_are_kept_and_scored(cli: RunCli, tmp_path: Path) -> None:
    rows = _minutes(_noisy(60))
    rows[30] = (rows[29][0], rows[30][1])  # a repeat
    rows[45] = (rows[10][0], rows[45][1])  # a step back
    out = tmp_path / "out.csv"
    result = cli("detect", "-i", str(_stream(tmp_path / "in.csv", rows)), "-o", str(out))
    assert result.code == 0, result.stderr
    _check_output(out, rows)


def test_missing_values_are_scored_as_the_detector_says(cli: RunCli, tmp_path: Path) -> None:
    values = _noisy(200)
    values[100:120] = [""] * 10 + ["nan"] * 10  # a run of missing points
    rows = _minutes(values)
    src = _stream(tmp_path / "in.csv", rows)
    out = tmp_path / "out.csv"
    result = cli("detect", "-i", str(src), "-o", str(out), "--detector", "zscore")
    assert result.code == 0, result.stderr
    table = _read(out)
    assert [v for _, v, _ in table[101:121]] == [""] * 10 + ["nan"] * 10
    assert [float(s) for _, _, s in table[101:121]] == [0.0] * 20  # ZScore scores NaN 0
    default = cli("detect", "-i", str(src), "-o", str(out))
    assert default.code == 0, default.stderr
    _check_output(out, rows)


def test_constant_series_and_a_single_row(cli: RunCli, tmp_path: Path) -> None:
    constant = _minutes(["3"] * 300)
    out = tmp_path / "out.csv"
    for detector in sorted(DETECTORS):
        src = _stream(tmp_path / "c.csv", constant)
        result = cli("detect", "-i", str(src), "-o", str(out), "--detector", detector)
        assert result.code == 0, result.stderr
        _check_output(out, constant, detector)
        assert "warning" not in result.stderr
    single = _minutes(["42.0"])
    result = cli("detect", "-i", str(_stream(tmp_path / "one.csv", single)), "-o", str(out))
    assert result.code == 0, result.stderr
    assert len(_read(out)) == 2
    _check_output(out, single)


def test_an_infinite_score_is_written_clipped_with_a_warning(cli: RunCli, tmp_path: Path) -> None:
    rows = _minutes(["5"] * 50 + ["6"])  # zscore: a change after a constant run is inf
    assert np.isinf(_expected(rows, "zscore")[-1])
    out = tmp_path / "out.csv"
    src = _stream(tmp_path / "in.csv", rows)
    result = cli("detect", "-i", str(src), "-o", str(out), "--detector", "zscore", "--json")
    assert result.code == 0, result.stderr
    assert _read(out)[-1][2] == repr(sys.float_info.max)
    assert "1 score(s) not finite" in result.stderr
    assert '"clipped_scores": 1' in result.stdout


BAD = {
    "not a number": (
        "timestamp,value\n2014-02-14 14:30:00,1\n2014-02-14 14:31:00,12ms\n",
        "line 3 '12ms'",
    ),
    "bad timestamp": (
        "timestamp,value\n2014-02-14 14:30:00,1\nyesterday,2\n",
        "line 3 'yesterday'",
    ),
    "empty file": ("", "empty file"),
    "header only": ("timestamp,value\n", "expected rows below the header"),
    "missing column": ("timestamp,val\n2014-02-14 14:30:00,1\n", "missing value"),
    "infinite value": ("timestamp,value\n2014-02-14 14:30:00,inf\n", "line 2 'inf'"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_exits_1_and_writes_nothing(cli: RunCli, tmp_path: Path, case: str) -> None:
    text, message = BAD[case]
    src = tmp_path / "in.csv"
    src.write_text(text)
    out = tmp_path / "out.csv"
    result = cli("detect", "--input", str(src), "--output", str(out))
    assert result.code == 1
    assert result.stderr.startswith("error: ")
    assert message in result.stderr
    assert not out.exists()
    out.write_text("previous\n")  # an existing output is left as it was
    assert cli("detect", "--input", str(src), "--output", str(out)).code == 1
    assert out.read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv"]


def test_unknown_detector_lists_the_known_ones(cli: RunCli, tmp_path: Path) -> None:
    src = _stream(tmp_path / "in.csv", _minutes(["1", "2"]))
    out = tmp_path / "out.csv"
    result = cli("detect", "-i", str(src), "-o", str(out), "--detector", "isolation-forest")
    assert result.code == 1
    assert "'isolation-forest'" in result.stderr
    for name in DETECTORS:
        assert name in result.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--input", "IN"],
        ["--output", "OUT"],
        ["--nab-dir", "DIR"],
        ["--input", "IN", "--output-dir", "OUT"],
        ["--nab-dir", "DIR", "--output", "OUT"],
        ["--input", "IN", "--nab-dir", "DIR", "--output", "OUT"],
        ["--input", "IN", "--output", "IN"],
    ],
)
def test_usage_errors_exit_2(cli: RunCli, tmp_path: Path, args: list[str]) -> None:
    src = _stream(tmp_path / "in.csv", _minutes(["1", "2"]))
    before = src.read_text()
    names = {"IN": str(src), "OUT": str(tmp_path / "out"), "DIR": str(tmp_path)}
    result = cli("detect", *[names.get(a, a) for a in args])
    assert result.code == 2
    assert "Invalid value" in result.stderr
    assert src.read_text() == before
    assert not (tmp_path / "out").exists()


def _checkout(root: Path, files: dict[str, list[tuple[str, str]]]) -> Path:
    for name, rows in files.items():
        path = root / "data" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        _stream(path, rows)
    return root


def test_nab_dir(cli: RunCli, tmp_path: Path) -> None:
    files = {
        "artificial/flat.csv": _minutes(["1"] * 50),
        "realThing/noisy.csv": _minutes(_noisy(300, seed=1)),
        "realThing/other.csv": _minutes(_noisy(80, seed=2)),
    }
    nab = _checkout(tmp_path / "nab", files)
    (nab / "data" / "README.md").write_text("not a stream\n")
    out = tmp_path / "results"
    result = cli("detect", "--nab-dir", str(nab), "--output-dir", str(out), "--json")
    assert result.code == 0, result.stderr
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == sorted(files)
    for name, rows in files.items():
        _check_output(out / name, rows)
    assert '"files": 3' in result.stdout
    assert '"rows": 430' in result.stdout
    human = cli("detect", "--nab-dir", str(nab), "--output-dir", str(out))
    assert human.code == 0, human.stderr
    for column in ("files", "rows", "seconds", "rows/s"):
        assert column in human.stderr


def test_nab_dir_with_one_bad_file_writes_nothing(cli: RunCli, tmp_path: Path) -> None:
    nab = _checkout(
        tmp_path / "nab",
        {"a/good.csv": _minutes(_noisy(50)), "b/bad.csv": _minutes(["1", "oops", "3"])},
    )
    out = tmp_path / "results"
    result = cli("detect", "--nab-dir", str(nab), "--output-dir", str(out))
    assert result.code == 1
    assert "bad.csv" in result.stderr
    assert "line 3 'oops'" in result.stderr
    assert not out.exists()


def test_nab_dir_that_is_not_a_checkout(cli: RunCli, tmp_path: Path) -> None:
    out = tmp_path / "results"
    result = cli("detect", "--nab-dir", str(tmp_path), "--output-dir", str(out))
    assert result.code == 1
    assert "data folder" in result.stderr
    (tmp_path / "data" / "empty").mkdir(parents=True)
    result = cli("detect", "--nab-dir", str(tmp_path), "--output-dir", str(out))
    assert result.code == 1
    assert "found none" in result.stderr


def test_help_explains_the_forms(cli: RunCli) -> None:
    assert "detect" in cli("--help").stdout
    shown = " ".join(cli("detect", "--help").stdout.replace("│", " ").split())
    for text in ("--input", "--nab-dir", "--output-dir", "--detector", "anomaly_score"):
        assert text in shown
    assert "Exits 1 on bad input" in shown


def test_real_nab_corpus_round_trip(cli: RunCli, tmp_path: Path) -> None:
    sources = sorted((NAB / "data").glob("*/*.csv"))
    if not sources:
        pytest.skip("shared NAB data not present")
    out = tmp_path / "results"
    result = cli("detect", "--nab-dir", str(NAB), "--output-dir", str(out), "--json")
    assert result.code == 0, result.stderr
    assert f'"files": {len(sources)}' in result.stdout
    detector = build_detector()
    for src in sources:
        table = pd.read_csv(src, dtype=str, keep_default_na=False)
        written = _read(out / src.relative_to(NAB / "data"))
        assert written[0] == ["timestamp", "value", "anomaly_score"]
        assert len(written) - 1 == len(table), src.name
        assert [row[0] for row in written[1:]] == table["timestamp"].tolist()
        assert [row[1] for row in written[1:]] == table["value"].tolist()
        times = pd.to_datetime(table["timestamp"], utc=True).to_numpy("datetime64[ns]")
        values = pd.read_csv(src, float_precision="round_trip")["value"].to_numpy(np.float64)
        expected = score_stream(detector, values, times.view(np.int64))
        scores = np.array([float(row[2]) for row in written[1:]])
        np.testing.assert_array_equal(scores, expected, err_msg=src.name)


# ------------------------------------------------- the third form: --dataset ID --alerts

MIN = 60 * 10**9


def _dataset(home: Path, shift: float = 20.0) -> str:
    """Three series of two services, a minute apart; cart's two move at minute 2500."""
    from datetime import UTC, datetime

    from modelphase.frame import Panel
    from modelphase.ingest import DatasetStore

    n = 3000
    rng = np.random.default_rng(0)
    t = 1_767_571_200 * 10**9 + np.arange(n, dtype=np.int64) * MIN
    jump = np.where(np.arange(n) >= 2500, shift, 0.0)
    series = {
        'cpu_usage_cores{service="cart"}': 10.0 + rng.normal(0, 1, n) + jump,
        'http_request_duration_seconds{quantile="0.99",service="cart"}': 5.0
        + rng.normal(0, 1, n)
        + jump,
        'cpu_usage_cores{service="search"}': 10.0 + rng.normal(0, 1, n),
    }
    panel = Panel.from_series([(u, t, y) for u, y in series.items()], step=MIN)
    store = DatasetStore(home / "datasets")
    return store.write(panel, {"kind": "test"}, now=datetime.now(UTC)).id


def test_alerts_of_a_dataset_as_json(cli: RunCli, home: Path) -> None:
    dataset = _dataset(home)
    result = cli(
        "detect", "--dataset", dataset[:8], "--alerts", "--json",
        "--detector", "zscore", "--threshold", "8",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["dataset"] == dataset
    assert data["detector"]["name"] == "zscore"
    assert data["decider"] == {"name": "FixedThreshold", "params": {"threshold": 8.0}}
    assert (data["series"], data["points"], data["group_by"]) == (3, 9000, ["service"])
    [alert] = data["alerts"]
    assert alert["service"] == "cart"
    assert alert["start"] == "2026-01-06T17:40:00Z"  # minute 2500
    assert alert["pattern"] == "level"
    assert len(alert["members"]) == 2
    explanation = alert["explanation"]
    assert explanation["observed"] > explanation["upper"]
    assert explanation["deviation_spreads"] > 10


def test_alerts_of_a_dataset_as_a_table_with_the_default_detector(cli: RunCli, home: Path) -> None:
    dataset = _dataset(home)
    result = cli("detect", "--dataset", dataset, "--alerts")
    assert result.code == 0, result.stderr
    assert result.stdout == ""
    shown = " ".join(result.stderr.replace("│", " ").split())
    for column in ("service", "start", "end", "peak", "members", "pattern", "expected"):
        assert column in shown
    assert "01-06 17:40" in shown
    assert "cart" in shown
    assert "grouped by service" in shown
    assert "modelphase, threshold 3.0, cooldown 1h" in shown


def test_group_by_cooldown_and_threshold_change_the_alerts(cli: RunCli, home: Path) -> None:
    dataset = _dataset(home)
    base = ("detect", "--dataset", dataset, "--alerts", "--json", "--detector", "zscore")
    by_metric = json.loads(
        cli(*base, "--threshold", "8", "--group-by", "service", "--group-by", "__name__").stdout
    )
    assert [len(a["members"]) for a in by_metric["alerts"]] == [1, 1]
    assert by_metric["group_by"] == ["service", "__name__"]
    quiet = cli(*base, "--threshold", "1000", "--cooldown", "2h")
    assert quiet.code == 0
    assert json.loads(quiet.stdout)["alerts"] == []
    none = cli("detect", "--dataset", dataset, "--alerts", "--threshold", "1000")
    assert none.code == 0
    assert "0 alert(s)" in none.stderr
    every = json.loads(cli(*base, "--threshold", "8", "--min-deviation", "0").stdout)
    assert every["min_deviation"] == 0.0
    strict = json.loads(cli(*base, "--threshold", "8", "--min-deviation", "1e9").stdout)
    assert every["alerts"]
    assert strict["alerts"] == []


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--detector", "magic"], "unknown detector"),
        (["--cooldown", "soon"], "duration"),
        (["--group-by", "team"], "no series of dataset"),
        (["--threshold", "nan"], "finite"),
        (["--min-deviation", "-1"], "min-deviation"),
    ],
)
def test_alerts_bad_input_exits_1(cli: RunCli, home: Path, extra: list[str], message: str) -> None:
    dataset = _dataset(home)
    result = cli("detect", "--dataset", dataset, "--alerts", "--json", *extra)
    assert result.code == 1
    assert message in result.stderr
    assert result.stdout == ""


def test_alerts_of_an_unknown_dataset_exits_1(cli: RunCli) -> None:
    result = cli("detect", "--dataset", "abc", "--alerts", "--json")
    assert result.code == 1
    assert "no dataset 'abc'" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    "args",
    [
        ["--dataset", "abc"],
        ["--alerts"],
        ["--dataset", "abc", "--alerts", "--input", "IN"],
        ["--input", "IN", "--output", "OUT", "--threshold", "3"],
        ["--input", "IN", "--output", "OUT", "--group-by", "service"],
    ],
)
def test_alerts_usage_errors_exit_2(cli: RunCli, tmp_path: Path, args: list[str]) -> None:
    src = _stream(tmp_path / "in.csv", _minutes(["1", "2"]))
    names = {"IN": str(src), "OUT": str(tmp_path / "out.csv")}
    result = cli("detect", *[names.get(a, a) for a in args])
    assert result.code == 2
    assert "Invalid value" in result.stderr
    assert not (tmp_path / "out.csv").exists()
