"""``modelphase capacity warm``: the command contract (invocation rows or per-minute
counts in, plans, probabilities, JSON and a plot out) and its one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from support.cli import RunCli

T0 = pd.Timestamp("2026-01-01T00:00:00Z")
UNTIL = "2026-01-01T01:59:00Z"  # the history is minutes 0..119


def invocations(extra_after: bool = False) -> pd.DataFrame:
    """``cron`` every 5 minutes (a few requests each, seconds into the minute),
    ``rare`` twice, and, with ``extra_after``, a burst after the history."""
    rows = []
    for m in range(0, 120, 5):
        for s in (3, 17, 41):
            rows.append(("cron", T0 + pd.Timedelta(minutes=m, seconds=s)))
    rows += [("rare", T0 + pd.Timedelta(minutes=7)), ("rare", T0 + pd.Timedelta(minutes=90))]
    if extra_after:
        rows += [("cron", T0 + pd.Timedelta(minutes=m)) for m in range(121, 125)]
        rows += [("late", T0 + pd.Timedelta(minutes=122))]
    else:
        rows += [("cron", T0 + pd.Timedelta(minutes=130))]  # the data's last row
    frame = pd.DataFrame(rows, columns=["request_type", "ds"])
    frame["ds"] = frame["ds"].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return frame


def counts_of(frame: pd.DataFrame) -> pd.DataFrame:
    minute = pd.to_datetime(frame["ds"], utc=True).dt.floor("min")
    grid = pd.date_range(T0, minute.max(), freq="1min")
    table = pd.crosstab(frame["request_type"], minute).reindex(columns=grid, fill_value=0)
    long = table.stack().rename("y").reset_index()
    long.columns = ["unique_id", "ds", "y"]
    long["ds"] = long["ds"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return long


def warm(cli: RunCli, src: Path, *extra: str) -> object:
    return cli("capacity", "warm", "--input", str(src), "--train-until", UNTIL, *extra)


def test_the_command_contract(cli: RunCli, tmp_path: Path) -> None:
    src = tmp_path / "arrivals.csv"
    invocations().to_csv(src, index=False)
    out, probs, png = tmp_path / "plan.csv", tmp_path / "p.csv", tmp_path / "p.png"
    found = warm(
        cli,
        src,
        "--cost-ratio",
        "10",
        "--horizon",
        "12m",
        "--output",
        str(out),
        "--probabilities",
        str(probs),
        "--plot",
        str(png),
        "--json",
    )
    assert found.code == 0, found.stderr
    plan = pd.read_csv(out).set_index("function")
    assert list(plan.index) == ["cron", "rare"]
    wanted = {"prewarm_minutes", "keep_alive_minutes", "basis", "p_next_minute"}
    wanted |= {"expected_cold_start_share", "expected_wasted_minutes_per_hour"}
    assert wanted <= set(plan.columns)
    # every fifth minute: unloaded for 4 minutes, loaded for the fifth (and a margin)
    assert plan.loc["cron", "prewarm_minutes"] == 4
    assert plan.loc["cron", "basis"] == "idle-time model"
    assert plan.loc["rare", "basis"] == "break-even keep-alive"
    assert plan.loc["rare", "keep_alive_minutes"] == 10
    p = pd.read_csv(probs)
    assert list(p.columns) == ["function", "ds", "p_invocation"]
    assert len(p) == 2 * 12
    cron = p[p["function"] == "cron"]
    assert cron["ds"].iloc[0] == "2026-01-01T02:00:00Z"
    # the last invocation was at minute 115: the next is due at 120 = the first minute
    assert cron["p_invocation"].iloc[0] > 0.9
    assert cron["p_invocation"].iloc[5] > 0.8
    assert cron["p_invocation"].iloc[1:5].max() < 0.1
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads(found.stdout)
    assert summary["functions"] == 2
    assert summary["fallback_functions"] == 1
    assert summary["threshold"] == pytest.approx(1 / 11)
    assert summary["plans"][1]["p_invocation"] == [None] * 12
    assert "break-even" in found.stderr


def test_counts_and_invocation_rows_give_the_same_plans(cli: RunCli, tmp_path: Path) -> None:
    rows, counts = tmp_path / "rows.csv", tmp_path / "counts.csv"
    frame = invocations()
    frame.to_csv(rows, index=False)
    counts_of(frame).to_csv(counts, index=False)
    a = warm(cli, rows, "--json")
    b = warm(cli, counts, "--json")
    assert (a.code, b.code) == (0, 0), a.stderr + b.stderr
    first, second = json.loads(a.stdout), json.loads(b.stdout)
    assert (first["format"], second["format"]) == ("invocations", "counts")
    assert first["plans"] == second["plans"]


def test_rows_after_train_until_change_nothing(cli: RunCli, tmp_path: Path) -> None:
    plain, later = tmp_path / "a.csv", tmp_path / "b.csv"
    invocations().to_csv(plain, index=False)
    invocations(extra_after=True).to_csv(later, index=False)
    a, b = warm(cli, plain, "--json"), warm(cli, later, "--json")
    assert (a.code, b.code) == (0, 0), a.stderr + b.stderr
    assert json.loads(a.stdout)["plans"] == json.loads(b.stdout)["plans"]
    assert json.loads(b.stdout)["functions_without_history"] == 1
    assert "1 invoked only after --train-until" in b.stderr


def test_other_column_names(cli: RunCli, tmp_path: Path) -> None:
    src = tmp_path / "arrivals.csv"
    frame = invocations().rename(columns={"request_type": "fn", "ds": "TIMESTAMP"})
    frame["TIMESTAMP"] = frame["TIMESTAMP"].str.rstrip("Z")  # naive: read as UTC
    frame.to_csv(src, index=False)
    found = warm(cli, src, "--function-column", "fn", "--time-column", "TIMESTAMP", "--json")
    assert found.code == 0, found.stderr
    assert json.loads(found.stdout)["plans"][0]["prewarm_minutes"] == 4


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--cost-ratio", "0"], "cost ratio > 0"),
        (["--cost-ratio", "-3"], "cost ratio > 0"),
        (["--function-column", "fn"], "--function-column fn: expected a column"),
        (["--time-column", "when"], "--time-column when: expected a column"),
        (["--train-until", "2030-01-01T00:00:00Z"], "expected a time inside the data"),
        (["--horizon", "90s"], "whole minutes"),
        (["--horizon", "2d"], "whole minutes"),
    ],
)
def test_bad_input_is_one_line(cli: RunCli, tmp_path: Path, extra: list[str], needle: str) -> None:
    src, out = tmp_path / "arrivals.csv", tmp_path / "plan.csv"
    invocations().to_csv(src, index=False)
    args = {"--train-until": UNTIL}
    for flag, value in zip(extra[::2], extra[1::2], strict=True):
        args[flag] = value
    flat = [x for pair in args.items() for x in pair]
    found = cli("capacity", "warm", "--input", str(src), *flat, "--output", str(out))
    assert found.code == 1, found.stdout
    assert needle in found.stderr
    assert len(found.stderr.strip().splitlines()) == 1
    assert "Traceback" not in found.stderr
    assert not out.exists()


def test_no_invocations_is_one_line(cli: RunCli, tmp_path: Path) -> None:
    src = tmp_path / "counts.csv"
    quiet = counts_of(invocations())
    quiet["y"] = 0
    quiet.to_csv(src, index=False)
    found = warm(cli, src)
    assert found.code == 1
    assert "expected invocations, got none" in found.stderr


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (lambda f: f.assign(ds=f["ds"].where(f.index != 3, "soon")), "expected times"),
        (lambda f: f.assign(y=f["y"].astype(float).where(f.index != 2, -1.0)), "counts y >= 0"),
        (lambda f: f.assign(ds=f["ds"].str.replace(":00Z", ":30Z")), "at whole minutes"),
    ],
)
def test_bad_rows_are_one_line(cli: RunCli, tmp_path: Path, edit: object, needle: str) -> None:
    src = tmp_path / "counts.csv"
    edit(counts_of(invocations())).to_csv(src, index=False)  # type: ignore[operator]
    found = warm(cli, src)
    assert found.code == 1, found.stdout
    assert needle in found.stderr
    assert "Traceback" not in found.stderr


def test_only_early_history_falls_back_with_a_reason(cli: RunCli, tmp_path: Path) -> None:
    src = tmp_path / "arrivals.csv"
    invocations().to_csv(src, index=False)
    found = cli(
        "capacity",
        "warm",
        "--input",
        str(src),
        "--train-until",
        "2026-01-01T00:06:00Z",
        "--cost-ratio",
        "4",
        "--json",
    )
    assert found.code == 0, found.stderr
    (cron,) = json.loads(found.stdout)["plans"]  # rare first came at minute 7
    assert cron["basis"] == "break-even keep-alive"
    assert cron["keep_alive_minutes"] == 4
    assert "fewer than 2" in cron["note"]
    assert np.isnan(np.array(cron["p_invocation"], dtype=float)).all()
