"""``modelphase demo``: the main job on embedded defaults.

Today: simulate a week of telemetry for a few services, ingest it as a dataset, print
the dataset's summary and write a plot, then train the forecaster of
``examples/forecast.yaml`` on it (rolling-origin backtests, per-series selection,
conformal intervals, gates), write its HTML report, register it with its lineage,
promote it to production when its gates pass and print the alias history. Then run the
default anomaly detector over every series, print the grouped, explained alerts against
the simulator's ground truth (precision, recall, detection delay) and register the
detector. Last, promote the detector too, create a viewer token, start ``modelphase
serve`` on the models it registered (in the background, its pid in ``<home>/demo/
serve.pid``), ask it for a forecast, and print the ``curl`` line that does the same.
Then replay a regime change through that server and let the monitor act on it
(:mod:`modelphase.cli.demo_loop`).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.markup import escape

from modelphase.anomaly import FLAVOR as DETECTOR_FLAVOR
from modelphase.anomaly import Alert, Alerter
from modelphase.backtest import IncidentScore, Window, score_alerts, service_days
from modelphase.cli._checks import check_output_folder
from modelphase.cli._render import err, manifest_table, out, progress
from modelphase.cli.datasets import series_table
from modelphase.cli.demo_decide import canary_step, capacity_step, slo_step, warm_step
from modelphase.cli.demo_loop import loop_step
from modelphase.cli.demo_triage import triage_step
from modelphase.cli.detect import alert_reasons, alerts_table
from modelphase.cli.models import events_table, git_commit
from modelphase.cli.simulate import check_size, write_simulation
from modelphase.cli.simulate import events_table as sim_events_table
from modelphase.cli.train import write_report
from modelphase.config import get_settings
from modelphase.exceptions import ValidationError
from modelphase.frame import Panel, parse_series_id
from modelphase.ingest import DatasetStore, ingest_file
from modelphase.registry import ModelVersion, open_registry
from modelphase.report import Span, plot_panel
from modelphase.simulate import Simulation, simulate
from modelphase.spec import load_spec
from modelphase.train import register_detector, register_run, train, train_detector


def demo_command(
    services: int = typer.Option(3, "--services", "-n", min=1, help="Number of services."),
    days: float = typer.Option(7.0, "--days", help="Days of telemetry."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Folder for files (default: <home>/demo)."
    ),
    spec_path: Path | None = typer.Option(
        None, "--spec", help="The forecasting spec to train (default: examples/forecast.yaml)."
    ),
    serve: bool = typer.Option(
        True, "--serve/--no-serve", help="End by serving the registered models over HTTP."
    ),
    loop: bool = typer.Option(
        True,
        "--loop/--no-loop",
        help="After serving, replay a regime change through the server and let the monitor "
        "retrain, shadow, canary and promote by itself.",
    ),
    loop_days: float = typer.Option(
        2.0, "--loop-days", min=0.5, max=7.0, help="Days replayed after the change."
    ),
    port: int = typer.Option(
        8000, "--port", min=0, max=65535, help="The server's port (0 or busy: a free one)."
    ),
) -> None:
    """Run the lifecycle on simulated telemetry: simulate, ingest, summarise, plot,
    train a forecaster from a spec (backtests, gates, report), register it and promote
    it when its gates pass; then detect anomalies with the default detector, print the
    grouped alerts with explanations against the injected incidents, and register the
    detector; last, serve the registered models in the background and print a curl
    line that asks for a forecast (stop the server with `kill $(cat <home>/demo/serve.pid)`).

    Prints the dataset id as its last line.
    """
    check_size(services, days, 60 * 10**9)
    if output is not None:
        check_output_folder(output)
    settings = get_settings()
    folder = output or settings.home / "demo"
    with err.status("simulating telemetry"):
        sim = simulate(services=services, days=days, seed=seed)
        written = write_simulation(sim, folder, openmetrics=True)
    err.print(f"[bold]1. simulated[/] {sim.panel.n_series} series -> {written.data}")
    err.print(sim_events_table(sim))
    with err.status("ingesting"):
        manifest = ingest_file(written.data, DatasetStore(), now=datetime.now(UTC))
    err.print(f"[bold]2. ingested[/] dataset {manifest.id} (sha256 {manifest.sha256[:12]}...)")
    out.print(manifest_table([manifest], title="dataset"))
    panel = DatasetStore().load(manifest.id)
    out.print(series_table(panel.describe(), limit=panel.n_series))
    spans = [
        Span(e.start, e.end, f"{e.event_id} {e.kind}", e.unique_ids, e.is_incident)
        for e in sim.events
        if e.unique_ids
    ]
    with err.status("plotting"):
        plot = plot_panel(
            panel,
            folder / "telemetry.png",
            spans=spans,
            title=f"simulated telemetry, dataset {manifest.id}",
        )
    err.print(f"[bold]3. plotted[/] {plot}")
    spec = load_spec(spec_path or example_spec())
    err.print(
        f"[bold]4. training[/] {spec.name} from {spec_path or 'examples/forecast.yaml'}: "
        f"{', '.join(spec.candidate_names)}, "
        f"{spec.backtest.windows} backtest windows, horizon {spec.horizon}"
    )
    with progress("backtesting and refitting") as update:
        run = train(
            spec,
            panel,
            dataset_id=manifest.id,
            progress=lambda stage, done, total: update(done, total),
        )
    report = settings.home / "reports" / f"{spec.name}-{manifest.id}.html"
    with open_registry() as reg:
        version = register_run(run, reg, git_commit=git_commit(), tags={"origin": "demo"})
        write_report(run, version.version, report)
        verdict = "passed" if run.passed else "FAILED"
        err.print(
            f"[bold]5. validated[/] gates {verdict}: "
            + ", ".join(
                f"{g['name']} {g['value']:.3f} {g['threshold']}"
                if g["value"] is not None
                else f"{g['name']} -"
                for g in run.gates
            )
            + f"; MASE {run.metrics['mase']:.3f} vs seasonal naive "
            f"{run.metrics['baseline_mase']:.3f}; 80% interval coverage "
            f"{run.metrics['coverage_80']:.1%}"
        )
        if run.passed:
            current = reg.live(spec.name).get("production")
            reg.promote(
                spec.name,
                version.version,
                "production",
                expect=current,
                reason="demo: gates passed on the latest dataset",
            )
            history = reg.history(spec.name)
    err.print(
        f"[bold]6. registered[/] {spec.name} version {version.version} (trained on "
        f"{manifest.id})" + (" and promoted it to production" if run.passed else ", not promotable")
    )
    if run.passed:
        out.print(events_table(spec.name, history))
    out.print(f"report: {report}")
    detector = detect_step(sim, panel, manifest.id)
    triage_step(sim, panel)
    canary_step(sim, panel, folder)
    slo_step(panel, manifest.id, sorted(_services(panel)))
    capacity_step(panel, spec.name, version.version, folder, sorted(_services(panel)))
    warm_step(panel, folder, sorted(_services(panel)), seed=seed)
    if serve:
        forecaster = spec.name if run.passed else None
        base, token = serve_step(
            folder, port, forecaster, detector, panel.ids[0], min(12, spec.horizon)
        )
        if loop and forecaster is not None:
            loop_step(
                base, token, spec, start_ns=int(panel.ds.min()), services=services,
                days=days, seed=seed, after_days=loop_days,
            )  # fmt: skip
    err.print(
        f"next: open the report, `modelphase forecast --model {spec.name}@production "
        f"--output next-hour.csv`, `modelphase models show {spec.name} --alias production`, "
        f"`modelphase detect --dataset {manifest.id} --alerts`, "
        f"`modelphase models show {detector.name}`, `modelphase datasets show {manifest.id}`"
    )
    typer.echo(manifest.id)


#: the servers this process started (they run on after the command returns)
SERVERS: list[subprocess.Popen[bytes]] = []

#: the name the demo registers its detector under
DETECTOR_NAME = "demo-detector"


def detect_step(sim: Simulation, panel: Panel, dataset_id: str) -> ModelVersion:
    """Steps 7 and 8: alerts of the default detector against the injected incidents;
    register the detector (its parameters are its artifact: ``Alerter(**params)``)."""
    alerter = Alerter()
    params = alerter.get_params()
    err.print(
        f"[bold]7. detecting[/] anomalies in {panel.n_series} series: "
        f"{params['detector']['name']}, threshold {params['decider']['params']['threshold']}, "
        f"episodes and groups by {', '.join(params['group_by'])} with a {params['cooldown']} "
        "cool-down"
    )
    with progress("scoring series", panel.n_series) as update:
        run = train_detector(DETECTOR_NAME, panel, alerter, dataset_id=dataset_id, progress=update)
    alerts = run.alerts
    score = score_alerts(alerts, sim.events, service_days=service_days(panel))
    out.print(
        alerts_table(
            alerts,
            title=f"alerts against the injected incidents ({len(alerts)})",
            truth=_truth(sim, alerts, score),
        )
    )
    for line in alert_reasons(alerts):
        out.print(line)
    incidents = [e for e in sim.events if e.is_incident]
    for event, delay in zip(incidents, score.incident_delays, strict=True):
        if delay is None:
            out.print(f"  missed {event.event_id} {event.kind}: {escape(event.description)}")
    out.print(f"detection: {_score_line(score)}")
    with open_registry() as reg:
        version = register_detector(
            run, reg, metrics=score.to_dict(), tags={"origin": "demo"}, git_commit=git_commit()
        )
    err.print(
        f"[bold]8. registered[/] {DETECTOR_NAME} version {version.version} "
        f"(flavor {DETECTOR_FLAVOR}; rebuild with Alerter(**params))"
    )
    return version


def serve_step(
    folder: Path, port: int, forecaster: str | None, detector: ModelVersion, series: str, h: int
) -> tuple[str, str]:
    """Step 9: promote the detector, make a viewer token, start the server in the
    background, ask it for a forecast (or, when the forecaster's gates failed, for what
    it serves) and print the curl line that does the same."""
    with open_registry() as reg:
        current = reg.live(detector.name).get("production")
        reg.promote(
            detector.name,
            detector.version,
            "production",
            expect=current,
            reason="demo: serve the default detector",
        )
        _, token = reg.create_token("demo-client", "viewer")
    pid_file = folder / "serve.pid"
    stop_demo_server(pid_file)
    if port == 0 or not _port_free(port):
        port = _free_port()
    env = {**os.environ, "MODELPHASE_HOME": str(get_settings().home.resolve())}
    log = folder / "serve.log"
    with log.open("ab") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "modelphase", "serve", "--port", str(port)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    SERVERS.append(proc)  # it outlives this command on purpose: keep it referenced
    pid_file.write_text(f"{proc.pid}\n")
    base = f"http://127.0.0.1:{port}"
    auth = f"-H 'Authorization: Bearer {token}'"
    with err.status(f"starting the server at {base}"):
        _wait_ready(proc, f"{base}/readyz", log)
    if forecaster is None:
        reply = _ask(f"{base}/v1/models", None, token)
        served = ", ".join(
            f"{m['name']} v{m['aliases']['production']['version']}" for m in reply["models"]
        )
        err.print(f"[bold]12. serving[/] {served} at {base} (pid {proc.pid}, log {log})")
        out.print(f"curl -s {base}/v1/models {auth}", markup=False, highlight=False, soft_wrap=True)
    else:
        body = json.dumps({"series": [series], "h": h})
        answer = _ask(f"{base}/v1/models/{forecaster}/forecast", body, token)
        first = answer["forecasts"][0]
        err.print(
            f"[bold]12. serving[/] {forecaster} v{answer['version']} and {detector.name} "
            f"v{detector.version} at {base} (pid {proc.pid}, log {log}); {escape(series)} "
            f"in {h} steps: {first['mean'][0]:.4g} .. {first['mean'][-1]:.4g}, answered by "
            f"the {answer['answered_by']}"
        )
        quoted = body.replace("'", "'\\''")
        out.print(
            f"curl -s -X POST {base}/v1/models/{forecaster}/forecast {auth} "
            f"-H 'Content-Type: application/json' -d '{quoted}'",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    err.print(
        f"dashboard: {base}/ui?token={token} (the executive, on-call and debug views; the "
        "token moves into a cookie)",
        markup=False,
        soft_wrap=True,
    )
    err.print(f"stop it with: kill $(cat {pid_file}); the API is described at {base}/docs")
    return base, token


def stop_demo_server(pid_file: Path) -> None:
    """Stop the server an earlier demo left running (SIGTERM: it drains and exits)."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except OSError:
        return
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            return
        time.sleep(0.1)


def _wait_ready(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ValidationError(f"the server exited with code {proc.returncode}; see {log}")
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise ValidationError(f"the server was not ready within 60 s; see {log}")


def _ask(url: str, body: str | None, token: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if body is None:
        reply = httpx.get(url, headers=headers, timeout=10.0)
    else:
        reply = httpx.post(url, content=body, headers=headers, timeout=10.0)
    reply.raise_for_status()
    result: dict[str, Any] = reply.json()
    return result


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _truth(sim: Simulation, alerts: list[Alert], score: IncidentScore) -> list[str]:
    """Per alert: the incidents it matches, else the harmless event it overlaps (a
    surge, a deploy), else "false alarm"."""
    incidents = [e for e in sim.events if e.is_incident]
    harmless = [e for e in sim.events if not e.is_incident]
    other = score_alerts(alerts, [Window(e.service, e.start, e.end) for e in harmless])
    texts = []
    for hits, near in zip(score.alert_matches, other.alert_matches, strict=True):
        if hits:
            texts.append(", ".join(f"{incidents[j].event_id} {incidents[j].kind}" for j in hits))
        elif near:
            names = ", ".join(f"{harmless[j].event_id} {harmless[j].kind}" for j in near)
            texts.append(f"false alarm ({names})")
        else:
            texts.append("false alarm")
    return texts


def _score_line(score: IncidentScore) -> str:
    def share(part: int, whole: int) -> str:
        return f"{part}/{whole} ({part / whole:.0%})" if whole else "-"

    delay = (
        f"median {score.delay_median_minutes:.0f} min, p90 {score.delay_p90_minutes or 0.0:.0f} min"
        if score.delay_median_minutes is not None
        else "-"
    )
    per_day = score.false_alerts_per_service_day
    return (
        f"precision {share(score.true_alerts, score.n_alerts)}, recall "
        f"{share(score.detected, score.n_incidents)} of the injected incidents; delay {delay}; "
        f"{per_day or 0.0:.2f} false alerts per service-day"
    )


def _services(panel: Panel) -> set[str]:
    """The services of the simulated panel (its ``service`` labels)."""
    return {str(labels["service"]) for labels in map(parse_series_id, panel.ids)}


def example_spec() -> Path:
    """The forecasting spec shipped in ``examples/`` (in the package when installed
    from a wheel, at the repository's root in a checkout)."""
    for folder in (Path(__file__).parents[1] / "examples", Path(__file__).parents[3] / "examples"):
        if (folder / "forecast.yaml").is_file():
            return folder / "forecast.yaml"
    raise ValidationError(
        "examples/forecast.yaml is missing from this installation",
        hint="pass a spec with --spec FILE",
    )
