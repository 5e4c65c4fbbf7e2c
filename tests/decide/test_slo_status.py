"""``modelphase slo status``: the error budget, burn per window and the exhaustion
forecast, from a dataset and from a real Prometheus; its metrics checked by promtool.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from modelphase.decide.slo import WORKBOOK, parse_slos
from modelphase.decide.slo.budget import SliEvents, burn_rates, first_exhaustion, window_ratio
from modelphase.decide.slo.exhaustion import forecast_exhaustion, human, say_when
from modelphase.decide.slo.status import exposition, slo_status
from modelphase.exceptions import ValidationError
from support.cli import RunCli
from support.prometheus import PrometheusServer, find_binaries, write_openmetrics
from support.slo import SLO_TEXT

MIN = 60 * 10**9
START = 1_767_225_600 * 10**9  # 2026-01-01T00:00:00Z


def _slo(index: int = 0):
    return parse_slos(SLO_TEXT).slos[index]


def _traffic(days: float, ratio: float, seed: int = 0, rate: float = 100.0):
    """Per-minute requests (daily cycle) and errors at ``ratio``."""
    n = int(days * 1440)
    rng = np.random.default_rng(seed)
    total = rng.poisson(rate * 60 * (1 + 0.4 * np.sin(np.arange(n) * 2 * np.pi / 1440)))
    errors = rng.binomial(total, ratio)
    return START + np.arange(n) * MIN, errors.astype(float), total.astype(float)


# ---------------------------------------------------------------- budget arithmetic


def test_events_sum_into_steps_and_keep_holes() -> None:
    ds = START + np.array([0, 30, 60, 180]) * 10**9
    events = SliEvents.on_grid(ds, [1, 2, 0, 5], [10, 10, 10, 10], MIN)
    assert events.ds.tolist() == [START, START + MIN, START + 2 * MIN, START + 3 * MIN]
    np.testing.assert_array_equal(events.errors, [3, 0, np.nan, 5])
    ratio, n, coverage = window_ratio(events, 4 * 60)
    assert (ratio, n, coverage) == (8 / 40, 40.0, 0.75)
    assert events.end == START + 4 * MIN
    assert events.pad_to(START + 6 * MIN).ds.size == 6


@pytest.mark.parametrize(
    ("errors", "total", "needle"),
    [
        ([1, 2], [10], "as many error and total counts"),
        ([-1], [10], "counts >= 0"),
        ([np.nan], [10], "got none"),
    ],
)
def test_bad_events_are_one_line_errors(errors, total, needle) -> None:
    with pytest.raises(ValidationError, match=needle):
        SliEvents.on_grid(START + np.arange(len(errors)) * MIN, errors, total, MIN)


def test_burn_rates_are_sloths() -> None:
    ds, errors, total = _traffic(1, 0.0005)
    errors[-60:] = total[-60:] * 0.02  # the last hour at 20x a 99.9% budget
    events = SliEvents.on_grid(ds, errors, total, MIN)
    hour, five = burn_rates(events, 0.001, [3600, 300])
    assert hour.burn_rate == pytest.approx(20.0)
    assert five.burn_rate == pytest.approx(20.0)
    status = slo_status(_slo(), events, WORKBOOK.for_period(30 * 86_400), forecast=False)
    firing = {t.key: t.firing for t in status.tiers}
    # over the day there is, (23 x 0.5 + 20) / 24 > 1: the ticket's 3d/6h hold too
    assert firing == {"page-quick": True, "page-slow": False, "ticket-slow": True}
    expected = 1 - (errors.sum() / total.sum()) / 0.001
    assert status.budget_remaining == pytest.approx(expected)
    assert status.covered == 86_400
    assert any("1.0 of the period's 30 days" in note for note in status.notes)


def test_the_rolling_period_forgets_old_errors() -> None:
    # a bad first day, then clean: over a 2-day period the budget comes back
    ds, errors, total = _traffic(3, 0.0)
    errors[:1440] = total[:1440] * 0.003
    events = SliEvents.on_grid(ds, errors, total, MIN)
    first_day = events.upto(START + 1440 * MIN)
    assert first_exhaustion(first_day, 0.002, 2 * 86_400, errors=[], total=[]) == 0
    assert first_exhaustion(events, 0.002, 2 * 86_400, errors=[], total=[]) is None
    # and a path that burns 5x the budget from now spends it in a predictable step
    fresh = SliEvents.on_grid(ds[:10], np.zeros(10), np.full(10, 100.0), MIN)
    at = first_exhaustion(fresh, 0.01, 86_400, errors=np.full(50, 5.0), total=np.full(50, 100.0))
    # after k steps: 5k / (1000 + 100k) >= 0.01  <=>  k >= 2.5
    assert at == 3


# ---------------------------------------------------------------- the forecast


def test_a_steady_burn_is_forecast_near_its_arithmetic() -> None:
    # 10 days at 2x a 99.9% budget over a 30-day period: the ratio climbs from 0.002
    # with new days... already above budget, so spent; at 0.8x it never is
    ds, errors, total = _traffic(10, 0.0008, seed=1)
    events = SliEvents.on_grid(ds, errors, total, MIN)
    calm = forecast_exhaustion(events, 0.001, 30 * 86_400, horizon=5 * 86_400)
    assert calm.earliest is None or calm.earliest > 86_400
    assert calm.expected is None
    assert "not exhausted" in calm.reason or "exhausted in" in calm.reason
    # half the budget spent in 10 days of a 10-day period, then 3x from here on
    ds, errors, total = _traffic(10, 0.0005, seed=2)
    errors[-1440:] = np.random.default_rng(3).binomial(total[-1440:].astype(int), 0.003)
    events = SliEvents.on_grid(ds, errors, total, MIN)
    found = forecast_exhaustion(events, 0.001, 10 * 86_400, horizon=5 * 86_400)
    assert found.horizon == 5 * 86_400
    # arithmetic at a steady 3x: the window slides over 0.5x days, dropping them as
    # the 3x ones come; E/T after k days = (e0 + (3-0.5)k * 0.001 T_d) / T...
    assert found.earliest is not None
    assert found.expected is not None
    assert found.earliest <= found.expected <= (found.latest or np.inf)
    assert 0.5 * 86_400 < found.expected < 5 * 86_400
    assert found.reason.startswith("exhausted in")


def test_no_forecast_without_history_and_spent_budgets() -> None:
    ds, errors, total = _traffic(0.5, 0.0001)
    events = SliEvents.on_grid(ds, errors, total, MIN)
    short = forecast_exhaustion(events, 0.001, 86_400, horizon=86_400)
    assert short.horizon == 0
    assert short.expected is None
    assert short.reason.startswith("no forecast: 12 hours of SLI history")
    ds, errors, total = _traffic(2, 0.01)
    events = SliEvents.on_grid(ds, errors, total, MIN)
    spent = forecast_exhaustion(events, 0.001, 86_400, horizon=86_400)
    assert spent.spent
    assert spent.expected == 0.0


def test_times_read_as_a_person_reads_them() -> None:
    assert human(13.5 * 86_400) == "13.5 days"
    assert human(20 * 3600) == "20 hours"
    assert human(45 * 60) == "45 minutes"
    assert say_when(11 * 86_400, 9 * 86_400, 14 * 86_400, 80, 30 * 86_400) == (
        "exhausted in 9-14 days at 80% (expected 11 days)"
    )
    assert say_when(None, 3 * 86_400, None, 80, 10 * 86_400) == (
        "exhausted in 3 days at the earliest at 80%, expected to last beyond 10 days"
    )
    assert say_when(5 * 86_400, 3 * 86_400, None, 80, 10 * 86_400) == (
        "exhausted in 3 days at the earliest at 80%, expected in 5 days"
    )


# ---------------------------------------------------------------- metrics


@pytest.mark.skipif(shutil.which("promtool") is None, reason="needs promtool")
def test_the_status_metrics_pass_promtool_and_parse(tmp_path: Path) -> None:
    ds, errors, total = _traffic(3, 0.0005)
    events = SliEvents.on_grid(ds, errors, total, MIN)
    status = slo_status(_slo(), events, WORKBOOK.for_period(30 * 86_400), horizon=86_400)
    text = exposition([status])
    checked = subprocess.run(
        [find_binaries()[1], "check", "metrics"], input=text, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    samples = {
        (s.name, s.labels.get("window", s.labels.get("bound", s.labels.get("tier", "")))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    name = "modelphase_slo_error_budget_remaining_ratio"
    assert samples[(name, "")] == pytest.approx(status.budget_remaining)
    assert samples[("modelphase_slo_burn_rate", "1h")] == pytest.approx(status.burn[2].burn_rate)
    assert samples[("modelphase_slo_budget_exhaustion_seconds", "latest")] == float("inf")
    assert samples[("modelphase_slo_alert_condition", "page-quick")] == 0.0


# ---------------------------------------------------------------- the command


@pytest.fixture
def sli_dataset(cli: RunCli, tmp_path: Path) -> str:
    ds, errors, total = _traffic(4, 0.0005)
    errors[-120:] = total[-120:] * 0.02
    stamps = pd.to_datetime(ds, utc=True).strftime("%Y-%m-%dT%H:%M:%SZ")
    frame = pd.concat(
        [
            pd.DataFrame({"unique_id": f'req_{name}{{service="api"}}', "ds": stamps, "y": y / 60})
            for name, y in (("total", total), ("errors", errors))
        ]
    )
    path = tmp_path / "sli.csv"
    frame.to_csv(path, index=False)
    made = cli("ingest", "csv", str(path), "--json")
    assert made.code == 0, made.stderr
    return json.loads(made.stdout)["id"]


def test_status_from_a_dataset(cli: RunCli, tmp_path: Path, sli_dataset: str) -> None:
    slo = tmp_path / "slo.yaml"
    slo.write_text(SLO_TEXT)
    textfile = tmp_path / "slo.prom"
    args = ["slo", "status", str(slo), "--dataset", sli_dataset, "--slo", "availability"]
    args += ["--errors", 'req_errors{service="api"}', "--total", 'req_total{service="api"}']
    found = cli(*args, "--json", "--textfile", str(textfile), "--horizon", "1d")
    assert found.code == 0, found.stderr
    (status,) = json.loads(found.stdout)["slos"]
    burn = {b["window"]: b["burn_rate"] for b in status["burn"]}
    assert burn[3600] == pytest.approx(20.0, rel=1e-6)
    assert {a["tier"]: a["firing"] for a in status["alerts"]}["page-quick"]
    assert 0 < status["budget_remaining"] < 0.15
    assert status["exhaustion"]["horizon"] == 86_400
    assert status["exhaustion"]["earliest"] < 86_400
    assert "modelphase_slo_budget_exhaustion_seconds" in textfile.read_text()
    shown = cli(*args, "--no-forecast")
    assert shown.code == 0, shown.stderr
    assert "page-quick (14.4x) firing" in shown.stdout
    assert "error budget left" in shown.stdout


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ([], "expected --slo NAME"),
        (["--slo", "nope"], "expected the name of an SLO in the file"),
        (["--slo", "availability", "--errors", "x", "--total", "y"], "which it does not have"),
        (["--slo", "availability", "--error-ratio", 'req_total{service="api"}'], "above 1"),
        (["--slo", "availability", "--errors", 'req_errors{service="api"}'], "a total series"),
        (["--slo", "availability", "--level", "100"], "between 0 and 100"),
        (["--slo", "availability", "--horizon", "5m"], "from 1h to 366d"),
        (
            [
                "--slo",
                "availability",
                "--errors",
                'req_errors{service="api"}',
                "--total",
                'req_total{service="api"}',
                "--at",
                "0",
            ],
            "after the dataset's first step",
        ),
        (["--prometheus", "http://127.0.0.1:1"], "got both"),
    ],
)
def test_bad_status_input_is_one_line(
    cli: RunCli, tmp_path: Path, sli_dataset: str, extra: list[str], needle: str
) -> None:
    slo = tmp_path / "slo.yaml"
    slo.write_text(SLO_TEXT)
    found = cli("slo", "status", str(slo), "--dataset", sli_dataset, *extra)
    assert found.code == 1, found.stdout
    assert needle in found.stderr
    assert "Traceback" not in found.stderr
    assert len(found.stderr.strip().splitlines()) == 1


def test_status_needs_a_source(
    cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MODELPHASE_PROMETHEUS_URL", raising=False)
    slo = tmp_path / "slo.yaml"
    slo.write_text(SLO_TEXT)
    found = cli("slo", "status", str(slo))
    assert found.code == 1
    assert "got neither" in found.stderr


@pytest.mark.skipif(shutil.which("prometheus") is None, reason="needs prometheus")
def test_status_from_a_real_prometheus(cli: RunCli, tmp_path: Path) -> None:
    """Counters backfilled into Prometheus; the SLO file's own queries read them."""
    ds, errors, total = _traffic(3, 0.0005, seed=4)
    errors[-120:] = np.round(total[-120:] * 0.03)
    series = {}
    for name, counts in (("http_requests_total", total), ("http_requests_errors_total", errors)):
        labels = {"__name__": name, "service": "api"}
        series[f'{name}{{service="api"}}'] = (labels, ds, np.cumsum(counts))
    with PrometheusServer(write_openmetrics(series), tmp_path / "prom") as server:
        slo = tmp_path / "slo.yaml"
        slo.write_text(SLO_TEXT)
        at = str(int(ds[-1] // 10**9))
        found = cli(
            "slo", "status", str(slo), "--prometheus", server.url, "--slo", "availability",
            "--at", at, "--step", "1m", "--json", "--horizon", "1d",
        )  # fmt: skip
        assert found.code == 0, found.stderr
        (status,) = json.loads(found.stdout)["slos"]
        burn = {b["window"]: b["burn_rate"] for b in status["burn"]}
        assert burn[3600] == pytest.approx(30.0, rel=0.05)
        six_hours = errors[-360:].sum() / total[-360:].sum() / 0.001
        assert burn[21600] == pytest.approx(six_hours, rel=0.05)
        assert {a["tier"]: a["firing"] for a in status["alerts"]}["page-quick"]
        # a query that matches nothing is one line naming it
        empty = tmp_path / "empty.yaml"
        empty.write_text(SLO_TEXT.replace('service="api"', 'service="nope"'))
        missing = cli(
            "slo", "status", str(empty), "--prometheus", server.url, "--slo", "availability",
            "--at", at, "--no-forecast",
        )  # fmt: skip
        assert missing.code == 1
        assert "matched no series" in missing.stderr
        assert "Traceback" not in missing.stderr


@pytest.mark.skipif(shutil.which("promtool") is None, reason="needs promtool")
def test_the_documented_forecast_alert_is_a_valid_rule_file(tmp_path: Path) -> None:
    doc = (Path(__file__).parents[2] / "docs" / "slo.md").read_text()
    section = doc.split("### As metrics, for Alertmanager", 1)[1]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    assert "modelphase_slo_budget_exhaustion_seconds" in block
    path = tmp_path / "forecast-rules.yaml"
    path.write_text(block)
    checked = subprocess.run(
        [find_binaries()[1], "check", "rules", str(path)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 3 rules found" in checked.stdout
