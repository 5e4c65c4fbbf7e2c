"""The command line as people and scripts use it: help, demo, simulate, entry points."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pandas as pd
import pytest

from modelphase.decide.triage_input import triage_panel
from modelphase.frame import format_time
from modelphase.ingest import DatasetStore
from modelphase.simulate import simulate
from support.cli import RunCli


def test_help_explains_every_command(cli: RunCli) -> None:
    result = cli("--help")
    assert result.code == 0
    for command in ("ingest", "datasets", "simulate", "demo"):
        assert command in result.stdout
    ingest = cli("ingest", "prometheus", "--help")
    assert "11,000" in ingest.stdout
    assert "--token" in ingest.stdout


def test_python_dash_m_and_exit_codes(tmp_path: Path) -> None:
    env = {"MODELPHASE_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}
    ok = subprocess.run(
        [sys.executable, "-m", "modelphase", "--version"], capture_output=True, text=True, env=env
    )
    assert ok.returncode == 0
    assert ok.stdout.startswith("modelphase ")
    bad = subprocess.run(
        [sys.executable, "-m", "modelphase", "datasets", "show", "abc"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert bad.returncode == 1
    assert bad.stderr.startswith("error: no dataset")
    usage = subprocess.run(
        [sys.executable, "-m", "modelphase", "ingest", "csv"], capture_output=True, text=True
    )
    assert usage.returncode == 2
    assert "Missing argument" in usage.stderr


def test_simulate_writes_data_and_ground_truth(cli: RunCli, home: Path, tmp_path: Path) -> None:
    out = tmp_path / "sim"
    result = cli(
        "simulate", "--services", "2", "--days", "2", "--seed", "7", "-o", str(out),
        "--openmetrics", "--ingest",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    table = pd.read_csv(out / "telemetry.csv")
    assert list(table.columns) == ["unique_id", "ds", "y"]
    assert table["unique_id"].nunique() == 12
    truth = json.loads((out / "events.json").read_text())
    assert truth["events"]
    assert {"event_id", "kind", "service", "unique_ids", "start", "end"} <= set(truth["events"][0])
    assert (out / "telemetry.om").read_text().endswith("# EOF\n")
    dataset_id = result.last_line
    manifest = DatasetStore(home / "datasets").manifest(dataset_id)
    assert manifest.source["kind"] == "simulate"
    from_csv = cli("ingest", "csv", str(out / "telemetry.csv"))
    from_om = cli("ingest", "openmetrics", str(out / "telemetry.om"))
    assert from_csv.last_line == dataset_id
    assert from_om.last_line == dataset_id
    again = cli(
        "simulate", "--services", "2", "--days", "2", "--seed", "7", "-o", str(out), "--json"
    )
    assert json.loads(again.stdout)["n_series"] == 12


def test_simulate_rejects_bad_arguments(cli: RunCli, tmp_path: Path) -> None:
    result = cli("simulate", "--days", "0", "-o", str(tmp_path / "x"))
    assert result.code != 0
    assert result.stderr.startswith("error:") or "Invalid value" in result.stderr
    step = cli("simulate", "--step", "soon", "-o", str(tmp_path / "x"))
    assert step.code == 1
    assert "duration" in step.stderr


def test_demo_runs_the_main_job(cli: RunCli, home: Path) -> None:
    result = cli("demo", "--days", "4", "--no-serve")
    assert result.code == 0, result.stderr
    dataset_id = result.last_line
    assert (home / "demo" / "telemetry.png").stat().st_size > 10_000
    assert (home / "demo" / "events.json").exists()
    assert DatasetStore(home / "datasets").load(dataset_id).n_series == 18
    assert "series (18 of 18)" in result.stdout
    # detection: grouped alerts, each marked against the injected incidents, and a score
    assert "alerts against the injected incidents" in result.stdout
    detection = [line for line in result.stdout.splitlines() if line.startswith("detection:")]
    assert len(detection) == 1
    assert "precision" in detection[0]
    assert "recall" in detection[0]
    assert "7. detecting" in result.stderr
    assert "8. registered demo-detector version 1" in result.stderr
    # triage: the first injected latency regression, ranked against its injected service
    sim = simulate(services=3, days=4, seed=0)  # the demo's simulation
    event = next(e for e in sim.events if e.kind == "latency_regression")
    ranking = [s.service for s in triage_panel(sim.panel, event.start).ranking]
    rank = ranking.index(event.service) + 1
    assert "8b. triage" in result.stderr
    assert f"triage of {event.event_id} latency_regression" in result.stdout
    assert (
        f"injected: latency_regression on {event.service} at {format_time(event.start)} "
        f"({event.event_id}); triage ranks {event.service} #{rank} of 3"
    ) in result.stdout
    scored = [line for line in result.stdout.splitlines() if line.startswith("triage over ")]
    assert len(scored) == 1
    n = sum(e.is_incident for e in sim.events)
    assert f"triage over {n} injected incident(s): AC@1 " in scored[0]
    assert "Avg@5" in scored[0]
    # decisions: a canary verdict per simulated deploy, and each service's error budget
    assert "9. canary" in result.stderr
    assert "canary verdicts for the simulated deploys" in result.stdout
    assert (home / "demo" / "canary-baseline.csv").exists()
    assert "10. error budgets of 3 service(s)" in result.stderr
    assert "error budgets: 99.6% over 30 days" in result.stdout
    # capacity: a plan per service from the registered forecaster, its plot and report
    assert "11. capacity" in result.stderr
    assert "capacity plans, next 60 min at risk 0.025" in result.stdout
    assert (home / "demo" / "capacity-plan.png").read_bytes()[:4] == b"\x89PNG"
    assert "capacity report" in (home / "demo" / "capacity-report.html").read_text()
    assert "11b. warm plans for a webhook function per service" in result.stderr
    assert "warm plans (a cold start costs 10 warm minutes)" in result.stdout
    assert (home / "demo" / "warm-plan.png").read_bytes()[:4] == b"\x89PNG"


def test_home_option_overrides_the_environment(cli: RunCli, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    path = tmp_path / "t.csv"
    path.write_text("timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:05:00,2\n")
    result = cli("--home", str(other), "ingest", "csv", str(path))
    assert result.code == 0, result.stderr
    assert (other / "datasets" / result.last_line / "manifest.json").exists()


def test_demo_trains_registers_and_promotes_a_model(cli: RunCli, home: Path) -> None:
    from modelphase.anomaly import Alerter
    from modelphase.forecast.trained import TrainedForecaster
    from modelphase.registry import Registry

    assert cli("demo", "--no-serve").code == 0
    second = cli("demo", "--seed", "1", "--no-serve")
    assert second.code == 0, second.stderr
    with Registry() as reg:
        latest = reg.get("demo-forecast", alias="production")
        assert latest.version == 2
        assert latest.dataset_id == second.last_line
        assert latest.gates_passed
        assert latest.spec is not None
        assert latest.spec["candidates"][0]["model"] == "SeasonalNaive"
        assert 0 < latest.metrics["mase_vs_baseline"] <= 1.0
        assert [e.from_version for e in reg.history("demo-forecast")] == [None, 1]
        assert reg.get("demo-forecast", 1).dataset_id != latest.dataset_id
        artifact = reg.load_artifact("demo-forecast", alias="production")
        detector = reg.get("demo-detector")
        params = json.loads(reg.load_artifact("demo-detector"))
    model = TrainedForecaster.from_bytes(artifact)
    assert len(model.chosen) == 18
    assert (detector.version, detector.flavor, detector.model_class) == (
        2,
        "modelphase.anomaly",
        "Alerter",
    )
    assert detector.dataset_id == second.last_line
    assert detector.params == params
    assert Alerter(**params).get_params() == params  # the artifact rebuilds it
    assert params["detector"]["name"] == "modelphase"
    assert 0.0 <= detector.metrics["recall"] <= 1.0
    assert detector.metrics["n_incidents"] > 0
    assert "alias history of demo-forecast" in second.stdout
    report = Path(second.stdout.split("report: ")[1].split()[0])
    assert report.is_file()
    assert "GATES PASSED" in report.read_text()


def test_help_names_the_environment_variables(cli: RunCli) -> None:
    """Options that fall back on the environment say which variable (rich markup must
    not swallow the hint)."""
    shown = " ".join(cli("models", "--help").stdout.replace("│", " ").split())
    assert "[env MODELPHASE_REGISTRY_URL]" in shown
    assert "[env MODELPHASE_TOKEN]" in shown


@pytest.mark.slow
def test_demo_ends_by_serving_its_models_with_a_curl_line_that_works(
    cli: RunCli, home: Path
) -> None:
    result = cli("demo", "--port", "0")
    pid_file = home / "demo" / "serve.pid"
    try:
        assert result.code == 0, result.stderr
        assert "12. serving demo-forecast v1 and demo-detector v1" in result.stderr
        line = next(x for x in result.stdout.splitlines() if x.startswith("curl "))
        reply = subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=60)
        answer = json.loads(reply.stdout)
        assert answer["model"] == "demo-forecast"
        assert answer["answered_by"] == "model"
        assert len(answer["forecasts"][0]["mean"]) == 12
        assert len(result.last_line) == 16  # the dataset id is still the last line
        # the dashboard's URL is printed, and it opens (the token moves into a cookie)
        url = re.search(r"dashboard: (http://\S+/ui\?token=\S+)", result.stderr)
        assert url is not None, result.stderr[-2000:]
        page = httpx.get(url.group(1), follow_redirects=True, timeout=60)
        assert page.status_code == 200
        assert "demo-forecast" in page.text
        # the loop acts by itself on the replayed regime change: it retrains, and the new
        # version is promoted or rolled back on its evidence
        assert "13. a regime change" in result.stderr
        assert "14. the loop acted by itself" in result.stderr, result.stderr[-2000:]
        assert "the monitor on demo-forecast, hours after the change" in result.stdout
    finally:
        from modelphase.cli.demo import SERVERS

        for proc in SERVERS:
            proc.terminate()
            proc.wait(30)
        SERVERS.clear()
        assert not pid_file.exists() or int(pid_file.read_text()) > 0
