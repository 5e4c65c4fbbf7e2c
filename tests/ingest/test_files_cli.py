"""`modelphase ingest csv|parquet|openmetrics`: good files and every kind of bad one.

Each bad input must give one clear line on stderr, a non-zero exit, and write nothing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from modelphase.ingest import DatasetStore
from support.cli import RunCli, datasets_in


def _long_csv(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    lines = ["unique_id,ds,y"] + [",".join(r) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


GOOD = [
    ('"up{job=""api""}"', "2024-01-01T00:00:00Z", "1"),
    ('"up{job=""api""}"', "2024-01-01T00:01:00Z", "0.5"),
    ('"up{job=""api""}"', "2024-01-01T00:03:00Z", "2"),
    ('"up{job=""db""}"', "2024-01-01T00:00:00Z", "7"),
    ('"up{job=""db""}"', "2024-01-01T00:01:00Z", ""),
    ('"up{job=""db""}"', "2024-01-01T00:02:00Z", "8"),
]


def test_long_csv_becomes_a_dataset(cli: RunCli, home: Path, tmp_path: Path) -> None:
    path = _long_csv(tmp_path / "t.csv", GOOD)
    result = cli("ingest", "csv", str(path))
    assert result.code == 0, result.stderr
    dataset_id = result.last_line
    store = DatasetStore(home / "datasets")
    manifest = store.manifest(dataset_id)
    assert (manifest.n_series, manifest.n_points, manifest.n_missing) == (2, 7, 2)
    assert manifest.step == "1m"
    assert manifest.source["kind"] == "csv"
    panel = store.load(dataset_id)
    _, y = panel.series('up{job="api"}')
    assert np.array_equal(y, [1.0, 0.5, np.nan, 2.0], equal_nan=True)
    again = cli("ingest", "csv", str(path))
    assert again.last_line == dataset_id, "same content, same id"
    assert len(store.list()) == 1


def test_nab_csv_uses_the_file_stem(cli: RunCli, home: Path, tmp_path: Path) -> None:
    path = tmp_path / "ec2_cpu_utilization_abc.csv"
    path.write_text(
        "timestamp,value\n2014-02-14 14:30:00,0.132\n2014-02-14 14:35:00,0.134\n"
        "2014-02-14 14:40:00,0.134\n"
    )
    result = cli("ingest", "csv", str(path))
    assert result.code == 0, result.stderr
    panel = DatasetStore(home / "datasets").load(result.last_line)
    assert panel.ids == ["ec2_cpu_utilization_abc"]
    assert panel.step == 300 * 10**9


def test_real_nab_file_ingests(cli: RunCli, home: Path) -> None:
    nab = Path(__file__).parents[3] / "shared/data/nab/data/realAWSCloudwatch"
    files = sorted(nab.glob("*.csv")) if nab.exists() else []
    if not files:
        pytest.skip("shared NAB data not present")
    result = cli("ingest", "csv", str(files[0]), "--json")
    assert result.code == 0, result.stderr
    assert '"n_series": 1' in result.stdout


def test_parquet_and_export_round_trip(cli: RunCli, home: Path, tmp_path: Path) -> None:
    first = cli("ingest", "csv", str(_long_csv(tmp_path / "t.csv", GOOD)))
    out_csv = tmp_path / "out.csv"
    exported = cli("datasets", "export", first.last_line, "--format", "csv", "-o", str(out_csv))
    assert exported.code == 0, exported.stderr
    table = pd.read_csv(out_csv, keep_default_na=False)
    assert list(table.columns) == ["unique_id", "ds", "y"]
    assert table["ds"].iloc[0] == "2024-01-01T00:00:00Z"
    assert cli("ingest", "csv", str(out_csv)).last_line == first.last_line
    out_pq = tmp_path / "out.parquet"
    cli("datasets", "export", first.last_line, "--format", "parquet", "-o", str(out_pq))
    assert cli("ingest", "parquet", str(out_pq)).last_line == first.last_line
    out_om = tmp_path / "out.om"
    cli("datasets", "export", first.last_line, "--format", "openmetrics", "-o", str(out_om))
    assert out_om.read_text().endswith("# EOF\n")
    assert cli("ingest", "openmetrics", str(out_om)).last_line == first.last_line


def test_openmetrics_and_prometheus_text(cli: RunCli, home: Path, tmp_path: Path) -> None:
    om = tmp_path / "m.om"
    om.write_text(
        "# TYPE rpc_seconds gauge\n"
        'rpc_seconds{path="/a \\"b\\""} 0.25 1700000000\n'
        'rpc_seconds{path="/a \\"b\\""} 0.5 1700000060\n# EOF\n'
    )
    prom = tmp_path / "m.prom"
    prom.write_text(
        'rpc_seconds{path="/a \\"b\\""} 0.25 1700000000000\n'
        'rpc_seconds{path="/a \\"b\\""} 0.5 1700000060000\n'
    )
    a = cli("ingest", "openmetrics", str(om))
    b = cli("ingest", "openmetrics", str(prom))
    assert a.code == b.code == 0, a.stderr + b.stderr
    assert a.last_line == b.last_line
    panel = DatasetStore(home / "datasets").load(a.last_line)
    assert panel.ids == ['rpc_seconds{path="/a \\"b\\""}']


def test_datasets_list_and_show(cli: RunCli, home: Path, tmp_path: Path) -> None:
    dataset_id = cli("ingest", "csv", str(_long_csv(tmp_path / "t.csv", GOOD))).last_line
    listed = cli("datasets", "list")
    assert dataset_id in listed.stdout
    shown = cli("datasets", "show", dataset_id[:6])
    assert shown.code == 0
    assert 'up{job="api"}' in shown.stdout
    as_json = cli("datasets", "show", dataset_id, "--json")
    assert '"missing": 1' in as_json.stdout
    missing = cli("datasets", "show", "ffffffff")
    assert missing.code == 1
    assert "no dataset" in missing.stderr


BAD_CSV = {
    "empty file": ("", "empty file"),
    "header only": ("unique_id,ds,y\n", "at least one data row"),
    "missing column": ("unique_id,ds\na,2024-01-01T00:00:00Z\n", "missing y"),
    "unparsable timestamp": (
        "unique_id,ds,y\na,2024-01-01T00:00:00Z,1\na,not-a-time,2\n",
        "unreadable",
    ),
    "unparsable value": ("unique_id,ds,y\na,2024-01-01T00:00:00Z,abc\n", "expected numbers"),
    "duplicate timestamps": (
        "unique_id,ds,y\na,2024-01-01T00:00:00Z,1\na,2024-01-01T00:01:00Z,2\n"
        "a,2024-01-01T00:01:00Z,3\n",
        "repeated",
    ),
    "backwards": (
        "unique_id,ds,y\na,2024-01-01T00:01:00Z,1\na,2024-01-01T00:00:00Z,2\n",
        "backwards",
    ),
    "mixed steps": (
        "unique_id,ds,y\na,2024-01-01T00:00:00Z,1\na,2024-01-01T00:01:00Z,2\n"
        "a,2024-01-01T00:02:30Z,3\na,2024-01-01T00:03:30Z,3\n",
        "off that grid",
    ),
    "nan": (
        "unique_id,ds,y\na,2024-01-01T00:00:00Z,NaN\na,2024-01-01T00:01:00Z,1\n"
        "a,2024-01-01T00:02:00Z,1\n",
        "NaN",
    ),
    "inf": ("unique_id,ds,y\na,2024-01-01T00:00:00Z,+Inf\na,2024-01-01T00:01:00Z,1\n", "Inf"),
    "mixed time zones": (
        "unique_id,ds,y\na,2024-01-01T00:00:00Z,1\na,2024-01-01T01:01:00,1\n",
        "offset",
    ),
    "mixed offsets": (
        "unique_id,ds,y\na,2024-01-01T00:00:00+00:00,1\na,2024-01-01T02:01:00+02:00,1\n",
        "one UTC offset",
    ),
    "not a csv layout": ("time,metric\n1,2\n", "expected the columns"),
}


@pytest.mark.parametrize("case", sorted(BAD_CSV))
def test_bad_csv_is_refused_cleanly(cli: RunCli, home: Path, tmp_path: Path, case: str) -> None:
    text, expected = BAD_CSV[case]
    path = tmp_path / "bad.csv"
    path.write_text(text)
    result = cli("ingest", "csv", str(path))
    assert result.code != 0
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:")
    assert expected in lines[0]
    assert "Traceback" not in result.stderr
    assert datasets_in(home) == [], "nothing written"


def test_bad_input_messages_name_rows_and_the_fix(cli: RunCli, tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    path.write_text(BAD_CSV["duplicate timestamps"][0])
    message = cli("ingest", "csv", str(path)).stderr
    assert "series: a" in message
    assert "rows: 3" in message
    assert "Fix:" in message


def test_drop_and_mixed_offsets_options(cli: RunCli, tmp_path: Path) -> None:
    nan = tmp_path / "nan.csv"
    nan.write_text(BAD_CSV["nan"][0])
    assert cli("ingest", "csv", str(nan), "--nonfinite", "drop").code == 0
    offsets = tmp_path / "off.csv"
    offsets.write_text(BAD_CSV["mixed offsets"][0])
    assert cli("ingest", "csv", str(offsets), "--mixed-offsets").code == 0


def test_bad_parquet_and_openmetrics(cli: RunCli, home: Path, tmp_path: Path) -> None:
    pq_path = tmp_path / "x.parquet"
    pd.DataFrame({"unique_id": ["a"], "when": [1]}).to_parquet(pq_path)
    result = cli("ingest", "parquet", str(pq_path))
    assert result.code == 1
    assert "unique_id, ds, y" in result.stderr
    garbage = tmp_path / "x.parquet2"
    garbage.write_text("not parquet")
    assert cli("ingest", "parquet", str(garbage)).code == 1
    om = tmp_path / "x.om"
    om.write_text("# TYPE up gauge\nup 1\n# EOF\n")
    no_ts = cli("ingest", "openmetrics", str(om))
    assert no_ts.code == 1
    assert "timestamp" in no_ts.stderr
    om.write_text("this is { not exposition\n")
    assert cli("ingest", "openmetrics", str(om)).code == 1
    assert datasets_in(home) == []


def test_missing_file(cli: RunCli, tmp_path: Path) -> None:
    result = cli("ingest", "csv", str(tmp_path / "nope.csv"))
    assert result.code == 1
    assert "cannot read" in result.stderr
