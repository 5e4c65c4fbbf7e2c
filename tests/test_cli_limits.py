"""The CLI's edges: every size a caller controls is capped (one ``error:`` line, exit 1,
nothing written), output paths are checked before any work, and the operating system's
errors (a full disk, a folder where a file should be) are one line, not a traceback."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from modelphase import limits
from modelphase.serve.schemas import ForecastRequest
from support.cli import CliResult, RunCli, datasets_in

LONG = "unique_id,ds,y\n" + "".join(
    f"a,2024-01-01T{h:02d}:{m:02d}:00Z,{(h * 60 + m) % 7}\n" for h in range(4) for m in range(60)
)


def refused(result: CliResult, *words: str) -> None:
    """Exit 1 with one ``error:`` line that says what was expected and how to fix it."""
    assert result.code == 1, (result.code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines
    assert "Fix:" in lines[0], lines
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], lines[0]


MINIMAL = """
name: m
kind: forecast
target: {dataset: abc123}
frequency: 5m
horizon: 12
candidates: [{model: SeasonalNaive, params: {season_length: 288}}]
"""


@pytest.fixture
def long_csv(tmp_path: Path) -> Path:
    path = tmp_path / "long.csv"
    path.write_text(LONG)
    return path


# ---------------------------------------------------------------- one table of limits


def test_the_server_and_the_cli_share_the_limits() -> None:
    from modelphase.serve import limits as serve_limits
    from modelphase.serve import schemas

    h = ForecastRequest.model_fields["h"].metadata
    assert any(getattr(m, "le", None) == limits.MAX_H for m in h)
    level = ForecastRequest.model_fields["level"].metadata
    assert any(getattr(m, "max_length", None) == limits.MAX_LEVELS for m in level)
    assert schemas.MAX_POINTS == limits.MAX_POINTS
    assert schemas.MAX_SERIES == limits.MAX_SERIES
    assert serve_limits.MAX_H == limits.MAX_H  # still importable from serve.limits


# ------------------------------------------------------------------------- forecast


def test_forecast_caps_the_horizon_and_the_levels(
    cli: RunCli, long_csv: Path, tmp_path: Path
) -> None:
    out = tmp_path / "f.csv"
    base = ["forecast", "-i", str(long_csv), "--freq", "1m", "-o", str(out)]
    refused(cli(*base, "--h", "100001"), "--h: expected at most 100,000, got 100,001")
    refused(cli(*base, "--h", "1000000000"), "--h: expected at most 100,000")
    levels = [x for lv in range(1, 12) for x in ("--level", str(lv))]
    refused(cli(*base, "--h", "3", *levels), "--level: expected at most 10 levels, got 11")
    assert not out.exists()
    assert cli(*base, "--h", "3", "--level", "80").code == 0


def test_forecast_caps_series_times_steps(cli: RunCli, tmp_path: Path) -> None:
    rows = "".join(f"s{i},2024-01-01T00:0{m}:00Z,{m}\n" for i in range(101) for m in range(10))
    path = tmp_path / "wide.csv"
    path.write_text("unique_id,ds,y\n" + rows)
    out = tmp_path / "f.csv"
    result = cli("forecast", "-i", str(path), "--freq", "1m", "--h", "100000", "-o", str(out))
    refused(result, "--h 100000 for 101 series", "at most 10,000,000 forecast points")
    assert not out.exists()


# -------------------------------------------------------------------------- simulate


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--services", "1001"], ["--services: expected at most 1,000 services"]),
        (["--days", "1e9"], ["--days: expected at most 3,660 days"]),
        (["--services", "1000", "--days", "30"], ["at most 20,000,000 points", "--step"]),
        (["--days", "1", "--step", "1ms"], ["at most 20,000,000 points"]),
    ],
)
def test_simulate_caps_what_it_makes(
    cli: RunCli, tmp_path: Path, args: list[str], words: list[str]
) -> None:
    out = tmp_path / "sim"
    refused(cli("simulate", *args, "-o", str(out)), *words)
    assert not out.exists()


def test_demo_caps_what_it_simulates(cli: RunCli, home: Path) -> None:
    refused(cli("demo", "--services", "5000", "--no-serve"), "--services")
    assert not home.exists() or not datasets_in(home)


# ---------------------------------------------------------------------------- ingest


def test_a_grid_bomb_is_refused_before_the_grid_is_built(
    cli: RunCli, home: Path, tmp_path: Path
) -> None:
    """Three samples a nanosecond apart and one two months later: a 1 ns grid of 5e15
    points (40 PB) unless refused."""
    path = tmp_path / "bomb.csv"
    path.write_text(
        "unique_id,ds,y\n"
        "a,2024-01-01T00:00:00.000000001Z,1\na,2024-01-01T00:00:00.000000002Z,2\n"
        "a,2024-01-01T00:00:00.000000003Z,2\na,2024-03-01T00:00:00Z,3\n"
    )
    refused(cli("ingest", "csv", str(path)), "at most 20,000,000 points (gaps included)")
    refused(
        cli("forecast", "-i", str(path), "--freq", "1m", "--h", "1", "-o", str(tmp_path / "o")),
        "at most 20,000,000 points",
    )
    assert datasets_in(home) == []


def test_a_small_step_that_would_explode_the_grid_is_refused(
    cli: RunCli, home: Path, tmp_path: Path
) -> None:
    path = tmp_path / "month.csv"
    path.write_text(
        "unique_id,ds,y\n"
        + "".join(f"a,2024-01-01T00:0{m}:00Z,{m}\n" for m in range(4))
        + "a,2024-01-31T00:00:00Z,1\n"
    )
    refused(cli("ingest", "csv", str(path), "--step", "1ms"), "1ms grid", "larger --step")
    assert datasets_in(home) == []
    assert cli("ingest", "csv", str(path)).code == 0  # on its own 1m step: 43,201 points


def test_input_files_over_the_size_limit_are_refused_unread(
    cli: RunCli, home: Path, tmp_path: Path
) -> None:
    big = tmp_path / "big.csv"
    with big.open("wb") as fh:  # sparse: no disk space used
        fh.truncate(limits.MAX_INPUT_BYTES + 1)
    words = ["expected at most 536,870,912 bytes, got 536,870,913 bytes"]
    refused(cli("ingest", "csv", str(big)), *words)
    refused(cli("ingest", "openmetrics", str(big)), *words)
    out = tmp_path / "o.csv"
    refused(cli("forecast", "-i", str(big), "--freq", "1m", "--h", "1", "-o", str(out)), *words)
    refused(cli("detect", "-i", str(big), "-o", str(out)), *words)
    assert not out.exists()
    assert datasets_in(home) == []


def test_a_parquet_file_is_judged_by_its_rows_not_its_bytes(
    cli: RunCli, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pandas as pd

    path = tmp_path / "small.parquet"
    frame = pd.DataFrame(
        {"unique_id": ["a"] * 50, "ds": pd.date_range("2024", periods=50, freq="min", tz="UTC")}
    ).assign(y=1.0)
    frame.to_parquet(path)
    monkeypatch.setattr("modelphase.cli._checks.MAX_DATASET_POINTS", 49)
    refused(cli("ingest", "parquet", str(path)), "expected at most 49 rows, got 50 rows")
    assert datasets_in(home) == []


def test_nab_corpus_size_is_capped(cli: RunCli, tmp_path: Path) -> None:
    data = tmp_path / "nab" / "data" / "cat"
    data.mkdir(parents=True)
    for i in range(3):
        with (data / f"f{i}.csv").open("wb") as fh:
            fh.truncate(limits.MAX_INPUT_BYTES // 2)
    out = tmp_path / "out"
    result = cli("detect", "--nab-dir", str(tmp_path / "nab"), "--output-dir", str(out))
    refused(result, "bytes of CSV", "one category folder at a time")
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--start", "now-10y", "--end", "now", "--step", "1s"], ["points per series"]),
        (["--concurrency", "1000"], ["--concurrency: expected at most 32"]),
        (["--retries", "1000000"], ["--retries: expected at most 10"]),
        (["--timeout", "86400"], ["--timeout: expected at most 600 s"]),
        (["--backoff", "3600"], ["--backoff: expected at most 60 s"]),
        (["--query", "x" * 20_001], ["--query: expected at most 20,000 characters"]),
    ],
)
def test_prometheus_ranges_and_times_are_capped_before_any_request(
    cli: RunCli, home: Path, args: list[str], words: list[str]
) -> None:
    defaults = {"--query": "up", "--start": "now-1h", "--end": "now", "--step": "60s"}
    for i in range(0, len(args), 2):
        defaults.pop(args[i], None)
    given = [x for pair in defaults.items() for x in pair]
    # port 9 (discard) on loopback: nothing answers, so a request would fail differently
    result = cli("ingest", "prometheus", *given, *args, "--url", "http://127.0.0.1:9")
    refused(result, *words)
    assert datasets_in(home) == []


def test_train_caps_processes_and_checks_the_report_path(cli: RunCli, tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(MINIMAL)
    refused(cli("train", str(spec), "--n-jobs", "100000"), "--n-jobs: expected at most 64")
    missing = tmp_path / "nowhere" / "report.html"
    refused(cli("train", str(spec), "--report", str(missing)), f"the folder {missing.parent}")


def test_a_spec_prometheus_target_is_capped_too(cli: RunCli, tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        MINIMAL.replace(
            "target: {dataset: abc123}",
            "target: {prometheus: {query: up, start: now-10y, step: 1s, url: 'http://127.0.0.1:9'}}",
        )
    )
    refused(cli("train", str(spec), "--no-register"), "target.prometheus", "points per series")


# ---------------------------------------------------------------------- output paths


def test_an_output_in_a_folder_that_does_not_exist_is_refused_not_created(
    cli: RunCli, home: Path, long_csv: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "nonexistent-dir"
    target = missing / "x.csv"
    expected = f"the folder {missing} does not exist. Fix: create it or choose another path"
    refused(
        cli("forecast", "-i", str(long_csv), "--freq", "1m", "--h", "2", "-o", str(target)),
        expected,
    )
    refused(cli("simulate", "--days", "1", "-o", str(missing / "sim")), expected)
    refused(cli("detect", "-i", str(long_csv), "-o", str(target)), expected)
    nab = tmp_path / "nab" / "data" / "c"
    nab.mkdir(parents=True)
    (nab / "s.csv").write_text("timestamp,value\n2024-01-01 00:00:00,1\n")
    refused(
        cli("detect", "--nab-dir", str(tmp_path / "nab"), "--output-dir", str(missing / "o")),
        expected,
    )
    refused(cli("demo", "--no-serve", "-o", str(missing / "demo")), expected)
    refused(cli("--home", str(missing / "home"), "datasets", "list"), expected)
    dataset = cli("ingest", "csv", str(long_csv)).last_line
    refused(cli("datasets", "export", dataset, "-o", str(target)), expected)
    deep = tmp_path / "a" / "b" / "c.csv"  # the first missing folder is named
    refused(cli("datasets", "export", dataset, "-o", str(deep)), f"the folder {tmp_path / 'a'} ")
    assert not missing.exists()
    assert not (tmp_path / "a").exists()


def test_an_output_that_names_a_folder_is_refused(
    cli: RunCli, home: Path, long_csv: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    result = cli("forecast", "-i", str(long_csv), "--freq", "1m", "--h", "2", "-o", str(folder))
    refused(result, f"--output {folder} is a folder; expected a file")
    dataset = cli("ingest", "csv", str(long_csv)).last_line
    refused(cli("datasets", "export", dataset, "-o", str(folder)), "is a folder")
    refused(cli("detect", "-i", str(long_csv), "-o", str(folder)), "is a folder")
    refused(cli("simulate", "--days", "1", "-o", str(long_csv)), "is a file; expected a folder")
    assert list(folder.iterdir()) == []


def test_an_output_that_names_a_device_or_pipe_is_refused(
    cli: RunCli, home: Path, long_csv: Path, tmp_path: Path
) -> None:
    """An atomic write renames over its target; as root that would replace /dev/null
    itself with a regular file. A pipe stands in for the device here."""
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    result = cli("forecast", "-i", str(long_csv), "--freq", "1m", "--h", "2", "-o", str(pipe))
    refused(result, f"--output {pipe} is not a regular file")
    assert pipe.is_fifo()


# ---------------------------------------------------------- the operating system's errors


def test_an_injected_enospc_on_ingest_is_one_line_and_leaves_nothing(
    cli: RunCli, home: Path, long_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same path as a real full disk (tests/registry/test_full_disk.py), where a
    tmpfs cannot be mounted: the dataset writer's one write function fails."""

    def full(path: Path, table: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("modelphase.ingest.datasets._write_parquet", full)
    result = cli("ingest", "csv", str(long_csv))
    refused(result, f"{home / 'datasets'}: no space left on the device (ENOSPC)")
    assert datasets_in(home) == []


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (errno.EROFS, "the file system is read-only (EROFS)"),
        (errno.EACCES, "permission denied (EACCES)"),
        (errno.EDQUOT, "the disk quota is used up (EDQUOT)"),
    ],
)
def test_write_errors_of_an_output_are_one_line(
    cli: RunCli, long_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int,
    words: str,
) -> None:  # fmt: skip
    import pandas as pd

    def denied(self: object, *args: object, **kwargs: object) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(pd.DataFrame, "to_csv", denied)
    out = tmp_path / "f.csv"
    result = cli("forecast", "-i", str(long_csv), "--freq", "1m", "--h", "2", "-o", str(out))
    refused(result, f"{out}: {words}")
    assert list(tmp_path.iterdir()) == [long_csv]
