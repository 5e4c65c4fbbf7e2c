"""``modelphase monitor``: judge the served models on the actuals that arrived, write the
verdicts to the registry, retrain and roll out by the specs' policies.

``monitor run --once`` makes one pass and exits 0 when every model is healthy (or not
judged yet), 3 when one is degraded and nothing was done, 5 when the monitor acted
(retrained, moved a shadow or canary, promoted or rolled back). Without ``--once`` it
repeats every ``--interval`` until stopped. ``monitor status`` shows each model's
rollout phase, its last verdict and the lease.

The monitor works on the registry's database (SQLite or PostgreSQL), with a deployer's
token on PostgreSQL: it writes its state there so that a restart resumes where it was,
and takes a lease so that two monitors never both act.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Any

import typer
from prometheus_client import start_http_server
from rich.markup import escape
from rich.table import Table

from modelphase.cli._checks import check_input_file, check_output_file
from modelphase.cli._registry import (
    REGISTRY,
    TOKEN,
    TOKEN_FILE,
    open_database_registry,
    registry_options,
)
from modelphase.cli._render import err, out, print_json
from modelphase.config import get_settings
from modelphase.frame import Panel, format_duration, parse_duration
from modelphase.ingest import DatasetStore, prepare, read_csv, read_parquet
from modelphase.limits import MAX_JOBS, check_at_most
from modelphase.monitor import Monitor, MonitorReport
from modelphase.monitor.metrics import MonitorMetrics
from modelphase.registry import ModelVersion
from modelphase.registry.monitoring import MonitorStore
from modelphase.spec import ModelSpec

app = typer.Typer(
    help="Monitor the served models: accuracy as actuals arrive, drift, health verdicts, "
    "retrain and roll out (shadow -> canary -> production) by each spec's policy.",
    no_args_is_help=True,
)

JSON = typer.Option(False, "--json", help="Print JSON on stdout.")


@app.command("run")
def run_command(
    once: bool = typer.Option(False, "--once", help="One pass, then exit with its status."),
    interval: str = typer.Option("5m", "--interval", help="Between passes (without --once)."),
    actuals: str | None = typer.Option(
        None,
        "--actuals",
        help="Where the actuals are: a dataset id, or a CSV/Parquet file re-read every pass "
        "(default: each model's spec target, loaded afresh: a Prometheus target is a new "
        "window).",
    ),
    decisions: Path | None = typer.Option(
        None, "--decisions", help="The decision log's folder (default: <home>/decisions)."
    ),
    model: list[str] | None = typer.Option(
        None, "--model", "-m", help="Only this model (repeatable)."
    ),
    lease: str = typer.Option(
        "10m", "--lease", help="How long a pass holds the monitor lease at most."
    ),
    n_jobs: int = typer.Option(1, "--n-jobs", help="Processes for a retrain."),
    textfile: Path | None = typer.Option(
        None,
        "--textfile",
        help="Write the models' SLIs and the monitor's metrics here after every pass "
        "(Prometheus text format, for node_exporter's textfile collector).",
    ),
    metrics_port: int | None = typer.Option(
        None,
        "--metrics-port",
        help="Without --once: serve the same metrics on http://HOST:PORT/metrics.",
    ),
    metrics_host: str = typer.Option("127.0.0.1", "--metrics-host", help="With --metrics-port."),
    as_json: bool = JSON,
    registry: str | None = REGISTRY,
    token: str | None = TOKEN,
    token_file: Path | None = TOKEN_FILE,
) -> None:
    """Judge every served model, record the verdicts, and act by its policy.

    Exit codes of --once: 0 healthy, 3 degraded (nothing done), 5 acted, 1 bad input.
    """
    every = parse_duration(interval) / 1e9
    lease_s = parse_duration(lease) / 1e9
    check_at_most("--n-jobs", n_jobs, MAX_JOBS, "use fewer processes")
    if textfile is not None:
        check_output_file(textfile, "--textfile")
    registry_options(registry, token, token_file)
    source = _actuals(actuals)
    metrics = MonitorMetrics()
    with open_database_registry("the monitor's state and lease") as reg:
        monitor = Monitor(
            reg,
            decisions=decisions or get_settings().home / "decisions",
            actuals=source,
            lease_s=lease_s,
            n_jobs=n_jobs,
            names=list(model) if model else None,
        )
        if once:
            report = monitor.run_once()
            _observe(metrics, report, textfile)
            _show(report, as_json)
            raise typer.Exit(report.exit_code)
        if metrics_port is not None:
            start_http_server(metrics_port, addr=metrics_host, registry=metrics.registry)
            err.print(f"metrics on http://{metrics_host}:{metrics_port}/metrics")
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        err.print(f"monitoring every {format_duration(int(every * 1e9))}; Ctrl-C stops")
        while not stop.is_set():
            report = monitor.run_once()
            _observe(metrics, report, textfile)
            _show(report, as_json)
            stop.wait(every)


@app.command("status")
def status_command(
    as_json: bool = JSON,
    registry: str | None = REGISTRY,
    token: str | None = TOKEN,
    token_file: Path | None = TOKEN_FILE,
) -> None:
    """Each model's rollout phase and last verdict, and who holds the monitor lease."""
    registry_options(registry, token, token_file)
    with open_database_registry("the monitor's state and verdicts") as reg:
        store = MonitorStore(reg)
        lease = store.lease()
        rows = []
        for summary in reg.models():
            state = store.state(summary.name)
            last = store.health(summary.name, limit=1)
            rows.append(
                {
                    "name": summary.name,
                    "aliases": summary.aliases,
                    "shares": summary.shares,
                    "phase": state.phase,
                    "candidate": state.version,
                    "step": state.step,
                    "since": state.to_dict()["since"],
                    "last": state.data.get("last"),
                    "verdict": last[0].verdict if last else None,
                    "verdict_at": last[0].at if last else None,
                    "reasons": (last[0].evidence.get("reasons") or [])[:3] if last else [],
                }
            )
    if as_json:
        print_json({"lease": lease, "models": rows})
        return
    table = Table(title="monitor status", title_justify="left")
    for col in ("model", "aliases", "phase", "verdict", "at", "why"):
        table.add_column(col, overflow="fold")
    for r in rows:
        aliases = ", ".join(f"{a} v{v}" for a, v in r["aliases"].items()) or "-"
        phase = r["phase"] + (f" v{r['candidate']}" if r["candidate"] else "")
        table.add_row(
            escape(r["name"]), aliases, phase, _verdict(r["verdict"]),
            (r["verdict_at"] or "-")[:19], escape("; ".join(r["reasons"]) or r["last"] or ""),
        )  # fmt: skip
    out.print(table)
    if lease:
        held = "expired" if lease["expired"] else f"until {lease['expires_at']}"
        err.print(f"lease: {escape(str(lease['holder']))}, {held}")


def _observe(metrics: MonitorMetrics, report: MonitorReport, textfile: Path | None) -> None:
    metrics.observe(report)
    if textfile is not None:
        metrics.write(textfile)


def _show(report: MonitorReport, as_json: bool) -> None:
    if as_json:
        print_json(report.to_dict())
    if report.note:
        err.print(f"[yellow]{escape(report.note)}[/]")
    table = Table(title="monitor pass", title_justify="left")
    for col in ("model", "version", "phase", "verdict", "why", "done"):
        table.add_column(col, overflow="fold")
    for m in report.models:
        table.add_row(
            escape(m.name), str(m.version or "-"), m.phase, _verdict(m.verdict),
            escape("; ".join(m.reasons[:3])), escape("; ".join(m.actions)) or "-",
        )  # fmt: skip
    err.print(table)
    status = {5: "[bold]acted[/]", 3: "[yellow]degraded[/]", 0: "[green]healthy[/]"}
    err.print(f"{status[report.exit_code]} in {report.seconds:.1f} s")


def _verdict(verdict: str | None) -> str:
    colour = {"healthy": "green", "degraded": "yellow"}.get(verdict or "", "dim")
    return f"[{colour}]{verdict or '-'}[/]"


def _actuals(where: str | None) -> Any:
    """The actuals source of ``--actuals``: None (the specs' targets), a file re-read on
    every pass, or a dataset."""
    if where is None:
        return None
    path = Path(where)
    if path.suffix.lower() in (".csv", ".parquet") or path.exists():
        check_input_file(path, "--actuals")

        def from_file(version: ModelVersion, spec: ModelSpec) -> Panel:
            raw = read_parquet(path) if path.suffix.lower() == ".parquet" else read_csv(path)
            return prepare(raw, step=spec.frequency_ns)

        return from_file
    store = DatasetStore()
    dataset_id = store.resolve(where)  # an unknown id exits 1 now, not at the first pass

    def from_dataset(version: ModelVersion, spec: ModelSpec) -> Panel:
        return store.load(dataset_id)

    return from_dataset
