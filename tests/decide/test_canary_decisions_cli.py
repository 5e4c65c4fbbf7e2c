"""``modelphase canary judge --model NAME --baseline-version V --canary-version W``:
two versions of a served model judged on the decision log, as the monitor's canary
hook judges them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from modelphase.decisions import DecisionLog
from support.cli import RunCli
from support.decisions import NOON_US, make_record

MODEL = "api-latency"


def log_versions(home: Path, canary_latency: float, *, canary_fallback: float = 0.0) -> None:
    """Production v3 and canary v4 answering side by side for half an hour, v4 also
    answering in shadow (which must not count)."""
    rng = np.random.default_rng(7)
    with DecisionLog(home / "decisions", batch_size=500, clock=lambda: NOON_US / 1e6) as log:
        for i in range(1800):
            version, alias, latency = (
                (3, "production", 5.0) if i % 3 else (4, "canary", canary_latency)
            )
            fallback = version == 4 and rng.random() < canary_fallback
            log.offer(
                make_record(
                    i, model=MODEL, version=version, alias=alias,
                    latency_ms=float(latency * rng.lognormal(0, 0.2)),
                    answered_by="fallback" if fallback else "model",
                    fallback_reason="error" if fallback else None,
                )
            )  # fmt: skip
            if i % 50 == 0:  # slow shadow answers of v4: not served, not judged
                log.offer(
                    make_record(
                        100_000 + i, model=MODEL, version=4, alias="shadow", latency_ms=500.0
                    )
                )


def judge(cli: RunCli, *extra: str):
    return cli(
        "canary", "judge", "--model", MODEL, "--baseline-version", "3",
        "--canary-version", "4", "--json", *extra,
    )  # fmt: skip


def test_a_canary_as_fast_as_production_passes(cli: RunCli, home: Path) -> None:
    log_versions(home, canary_latency=5.0)
    found = judge(cli)
    assert found.code == 0, found.stderr
    verdict = json.loads(found.stdout)
    assert verdict["verdict"] in ("pass", "marginal")
    metrics = {m["metric"]: m for m in verdict["metrics"]}
    assert set(metrics) == {"latency_ms", "fallback_ratio"}
    assert metrics["latency_ms"]["canary_n"] == 600  # the shadow answers left out
    assert metrics["latency_ms"]["direction"] == "increase"


def test_a_slower_canary_fails_and_so_does_one_that_falls_back(cli: RunCli, home: Path) -> None:
    log_versions(home, canary_latency=9.0)
    slow = judge(cli)
    assert slow.code == 3, slow.stderr
    metrics = {m["metric"]: m["verdict"] for m in json.loads(slow.stdout)["metrics"]}
    assert metrics["latency_ms"] == "fail"


def test_fallbacks_fail_a_critical_fallback_share(cli: RunCli, home: Path) -> None:
    log_versions(home, canary_latency=5.0, canary_fallback=0.3)
    found = judge(cli, "--critical", "fallback_ratio")
    assert found.code == 3, found.stderr
    verdict = json.loads(found.stdout)
    assert verdict["reason"] == "critical metric failed: fallback_ratio"


def test_a_window_and_bad_input(cli: RunCli, home: Path) -> None:
    log_versions(home, canary_latency=5.0)
    noon = str(NOON_US // 10**6)
    early = judge(cli, "--start", noon, "--end", str(NOON_US // 10**6 + 60))
    assert early.code in (0, 4), early.stderr
    counted = {m["metric"]: m["canary_n"] for m in json.loads(early.stdout)["metrics"]}
    assert counted["latency_ms"] == 20  # the first minute only
    missing = cli("canary", "judge", "--model", MODEL, "--baseline-version", "9",
                  "--canary-version", "4")  # fmt: skip
    assert missing.code == 1
    assert "expected answers of api-latency v9" in missing.stderr
    same = cli("canary", "judge", "--model", MODEL, "--baseline-version", "4",
               "--canary-version", "4")  # fmt: skip
    assert same.code == 1
    assert "expected two versions" in same.stderr
    half = cli("canary", "judge", "--model", MODEL, "--baseline-version", "3")
    assert half.code == 1
    assert "--canary-version" in half.stderr
    both = cli("canary", "judge", "--model", MODEL, "--baseline-version", "3",
               "--canary-version", "4", "--analysis", "a.yaml")  # fmt: skip
    assert both.code == 1
    assert "got --analysis and --model" in both.stderr
    stray = cli("canary", "judge", "--model", MODEL, "--baseline-version", "3",
                "--canary-version", "4", "--canary-var", "version=v2")  # fmt: skip
    assert stray.code == 1
    assert "expected no --canary-var with --model" in stray.stderr
    for result in (missing, same, half, both, stray):
        assert "Traceback" not in result.stderr


def test_a_silent_canary_fails(cli: RunCli, home: Path) -> None:
    with DecisionLog(home / "decisions", batch_size=500, clock=lambda: NOON_US / 1e6) as log:
        for i in range(600):  # ten minutes of production, nothing from v4
            log.offer(make_record(i, model=MODEL, version=3, alias="production"))
    found = judge(cli)
    assert found.code == 3, found.stderr
    assert json.loads(found.stdout)["reason"].startswith("silent canary")


@pytest.mark.parametrize("flag", ["--since", "--start"])
def test_since_or_start_not_both(cli: RunCli, home: Path, flag: str) -> None:
    log_versions(home, canary_latency=5.0)
    found = (
        judge(cli, "--since", "10m", "--start", "0")
        if flag == "--start"
        else judge(cli, "--since", "nonsense")
    )
    assert found.code == 1
    assert "Traceback" not in found.stderr
