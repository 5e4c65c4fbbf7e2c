"""Serving benchmark: forecast requests (h=24) to a model in memory, with the decision
log at 100% sampling, against the same server's trivial endpoint and against the same
model behind MLflow's scoring server.

    python benchmarks/serve.py [--duration 10] [--rates 200,500,1000] [--skip-mlflow]

The model is a forecaster trained by modelphase on the first ``--series`` series of M4
Hourly (``../shared/data/m4``), registered and promoted in a temporary home. Both
servers run as one process on this machine, on loopback; the load generator is ``hey``
(Debian's package: ``apt-get install hey``). At a fixed rate it runs one worker per 100
requests per second, each rate-limited (hey's workers tick together, so the load comes
in bursts of that many requests every 10 ms; the rate holds while answers are faster
than that); at saturation, ``--connections`` workers (20) send as fast as answers come. Its latency
percentiles are client-side, including the loopback round trip. The load generator
shares the two cores with the server, which the figures include.

MLflow's peer is ``mlflow models serve --env-manager local`` (one uvicorn worker, as
ours) over a pyfunc wrapping the same TrainedForecaster: a request
``{"dataframe_records": [{"unique_id": ..., "h": 24}]}`` answers the same 24 steps and
intervals. Requests carry our bearer token (MLflow's server has none), whose per-token
limits (``--token-rate``...) are lifted for the run: the benchmark measures the
server's throughput, not the policy of one token. ``benchmarks/admission.py`` measures
the limits and the pools themselves.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "m4"
H = 24
HOUR = 3600 * 10**9
T0 = 946_684_800 * 10**9  # 2000-01-01T00:00:00Z, M4 Hourly's nominal start

SPEC = """
name: m4-hourly
kind: forecast
target: {dataset: 4d34}
frequency: 1h
horizon: 48
candidates:
  - model: SeasonalNaive
  - model: SeasonalWindowAverage
    params: {season_length: 1d, window_size: 3}
backtest: {windows: 2, step: 24}
latency_budget: 50ms
"""

console = Console(stderr=True)


@dataclass
class Result:
    system: str
    target: str
    rate: int | None  # None: saturation
    sent: int
    errors: int
    rps: float
    p50_ms: float
    p99_ms: float


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare(home: Path, n_series: int) -> tuple[str, str, Path]:
    """Train, register and promote the model; return a viewer token, a series id and
    the artifact's path (for MLflow)."""
    os.environ["MODELPHASE_HOME"] = str(home)
    from modelphase.config import get_settings

    get_settings.cache_clear()
    from modelphase.frame import Panel
    from modelphase.registry import Registry
    from modelphase.spec import parse_spec
    from modelphase.train import register_run, train

    df = pd.read_csv(DATA / "Hourly-train-long.csv")
    ids = list(dict.fromkeys(df["unique_id"]))[:n_series]
    items = []
    for uid in ids:
        y = df.loc[df["unique_id"] == uid, "y"].to_numpy(float)[-24 * 28 :]
        items.append((uid, T0 + np.arange(len(y), dtype=np.int64) * HOUR, y))
    panel = Panel.from_series(items, step=HOUR)
    run = train(parse_spec(SPEC), panel, n_jobs=1)
    with Registry() as reg:
        version = register_run(run, reg)
        reg.promote("m4-hourly", version.version, "production")
        _, secret = reg.create_token("bench", "viewer")
    artifact = home / "model.pkl"
    artifact.write_bytes(run.model.to_bytes())
    return secret, ids[0], artifact


def wait_ready(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} was not ready in {timeout:.0f} s")


def hey(
    url: str,
    body: str | None,
    headers: dict[str, str],
    duration: float,
    connections: int,
    rate: int | None,
) -> tuple[int, int, float, float, float]:
    """(sent, errors, rps, p50 ms, p99 ms) from one run of hey."""
    cmd = ["hey", "-z", f"{duration}s", "-c", str(connections), "-t", "10"]
    if rate is not None:
        cmd += ["-q", f"{rate / connections:.3f}"]
    if body is not None:
        cmd += ["-m", "POST", "-T", "application/json", "-d", body]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = float(re.search(r"50% in ([\d.]+) secs", out).group(1)) * 1000  # type: ignore[union-attr]
    p99 = float(re.search(r"99% in ([\d.]+) secs", out).group(1)) * 1000  # type: ignore[union-attr]
    codes = dict(re.findall(r"\[(\d{3})\]\s+(\d+) responses", out))
    sent = sum(int(v) for v in codes.values())
    errors = sum(int(v) for k, v in codes.items() if k != "200")
    if "Error distribution:" in out:  # lines "  [count]\tthe error" (no response at all)
        failed = out.split("Error distribution:", 1)[1]
        errors += sum(int(n) for n in re.findall(r"^\s*\[(\d+)\]\s", failed, re.M))
    return sent, errors, rps, p50, p99


MLFLOW_MODEL = """
import mlflow.pyfunc
from modelphase.forecast.trained import TrainedForecaster


class Forecast(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        with open(context.artifacts["model"], "rb") as f:
            self.model = TrainedForecaster.from_bytes(f.read())

    def predict(self, context, model_input, params=None):
        h = int(model_input["h"].iloc[0])
        ids = [str(u) for u in model_input["unique_id"]]
        return self.model.predict(h, ids=ids)
"""


def prepare_mlflow(workdir: Path, artifact: Path) -> Path:
    import mlflow.pyfunc

    code = workdir / "mlflow_forecast.py"
    code.write_text(MLFLOW_MODEL)
    sys.path.insert(0, str(workdir))
    from mlflow_forecast import Forecast  # type: ignore[import-not-found]

    path = workdir / "mlflow-model"
    mlflow.pyfunc.save_model(
        path=str(path),
        python_model=Forecast(),
        artifacts={"model": str(artifact)},
        code_paths=[str(code)],
    )
    return path


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        cmd, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def run_load(
    system: str,
    url: str,
    body: str | None,
    headers: dict[str, str],
    args: argparse.Namespace,
    target: str,
) -> list[Result]:
    out = []
    hey(url, body, headers, 2.0, args.connections, None)  # warm up
    for rate in [*args.rates, None]:
        # hey's rate-limited workers tick together, so c workers send bursts of c
        # requests: at fixed rates, one worker per 100 req/s (bursts every 10 ms)
        connections = args.connections if rate is None else max(1, rate // 100)
        sent, errors, rps, p50, p99 = hey(url, body, headers, args.duration, connections, rate)
        out.append(Result(system, target, rate, sent, errors, rps, p50, p99))
        console.print(
            f"  {system} {target} {'saturation' if rate is None else f'{rate}/s'}: "
            f"{rps:,.0f} req/s, p50 {p50:.2f} ms, p99 {p99:.2f} ms, errors {errors}"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per load level")
    parser.add_argument("--rates", default="200,500,1000", help="fixed rates, req/s")
    parser.add_argument("--connections", type=int, default=20, help="hey workers at saturation")
    parser.add_argument("--series", type=int, default=50, help="M4 Hourly series in the model")
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    args.rates = [int(r) for r in args.rates.split(",") if r]
    if shutil.which("hey") is None:
        console.print("hey is not installed: apt-get install hey")
        return 2
    work = Path(tempfile.mkdtemp(prefix="modelphase-serve-bench-"))
    results: list[Result] = []
    try:
        home = work / "home"
        home.mkdir()
        with console.status("training and registering the model"):
            token, uid, artifact = prepare(home, args.series)
        env = {**os.environ, "MODELPHASE_HOME": str(home)}
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        proc = start(
            [
                sys.executable, "-m", "modelphase", "serve", "--port", str(port),
                # one token's raw throughput is measured: its limits are lifted (the
                # defaults, 100 req/s and 16 in flight, would answer 429 past them)
                "--token-rate", "1000000", "--token-burst", "1000000",
                "--token-concurrency", "10000",
            ],
            env,
            work / "serve.log",
        )  # fmt: skip
        try:
            wait_ready(f"{base}/readyz")
            body = json.dumps({"series": [uid], "h": H})
            auth = {"Authorization": f"Bearer {token}"}
            check = httpx.post(
                f"{base}/v1/models/m4-hourly/forecast",
                content=body,
                headers={**auth, "content-type": "application/json"},
            )
            check.raise_for_status()
            console.print(f"modelphase: {len(check.content)} bytes per answer")
            results += run_load(
                "modelphase",
                f"{base}/v1/models/m4-hourly/forecast",
                body,
                auth,
                args,
                "forecast h=24",
            )
            results += run_load(
                "modelphase", f"{base}/healthz", None, {}, args, "trivial (/healthz)"
            )
            answered, dropped = _log_counts(httpx.get(f"{base}/metrics").text)
        finally:
            stop(proc)
        logged = _decisions(home)
        console.print(
            f"decision log: {logged:,} decisions written for {answered:,.0f} answered forecast "
            f"requests, {dropped:,.0f} dropped"
        )
        if not args.skip_mlflow:
            with console.status("saving the model for MLflow"):
                model_path = prepare_mlflow(work, artifact)
            port = free_port()
            proc = start(
                [
                    "mlflow",
                    "models",
                    "serve",
                    "-m",
                    str(model_path),
                    "-p",
                    str(port),
                    "--env-manager",
                    "local",
                    "-w",
                    "1",
                ],
                env,
                work / "mlflow.log",
            )
            try:
                wait_ready(f"http://127.0.0.1:{port}/ping", timeout=120)
                body = json.dumps({"dataframe_records": [{"unique_id": uid, "h": H}]})
                check = httpx.post(
                    f"http://127.0.0.1:{port}/invocations",
                    content=body,
                    headers={"content-type": "application/json"},
                )
                check.raise_for_status()
                console.print(f"mlflow: {len(check.content)} bytes per answer")
                results += run_load(
                    "mlflow",
                    f"http://127.0.0.1:{port}/invocations",
                    body,
                    {},
                    args,
                    "forecast h=24",
                )
            finally:
                stop(proc)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _report(results)
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in results], indent=2))
    return 0


def _log_counts(metrics: str) -> tuple[float, float]:
    """(answered prediction requests, dropped decisions) from the server's /metrics."""
    answered = dropped = 0.0
    for line in metrics.splitlines():
        if line.startswith("modelphase_serve_requests_total{"):
            answered += float(line.rsplit(" ", 1)[1])
        elif line.startswith("modelphase_serve_decision_log_dropped_total "):
            dropped = float(line.rsplit(" ", 1)[1])
    return answered, dropped


def _decisions(home: Path) -> int:
    from modelphase.decisions.query import read_decisions

    return len(read_decisions(home / "decisions"))


def _report(results: list[Result]) -> None:
    table = Table(
        title=f"serving, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC "
        "(2 cores shared with the load generator)"
    )
    for col in ("system", "target", "load", "answered", "errors", "req/s", "p50 ms", "p99 ms"):
        table.add_column(col, justify="right" if col not in ("system", "target") else "left")
    for r in results:
        table.add_row(
            r.system,
            r.target,
            "saturation" if r.rate is None else f"{r.rate}/s",
            f"{r.sent:,}",
            str(r.errors),
            f"{r.rps:,.0f}",
            f"{r.p50_ms:.2f}",
            f"{r.p99_ms:.2f}",
        )
    console.print(table)
    sat = {(r.system, r.target): r.rps for r in results if r.rate is None}
    ours = sat.get(("modelphase", "forecast h=24"))
    trivial = sat.get(("modelphase", "trivial (/healthz)"))
    peer = sat.get(("mlflow", "forecast h=24"))
    if ours and trivial:
        console.print(
            f"saturation, forecast vs trivial endpoint: {ours / trivial:.2f}x (target >= 0.5)"
        )
    if ours and peer:
        console.print(f"saturation, modelphase vs MLflow: {ours / peer:.2f}x")
    for rate in sorted({r.rate for r in results if r.rate}):
        a = next(
            (
                r
                for r in results
                if r.system == "modelphase" and r.target.startswith("forecast") and r.rate == rate
            ),
            None,
        )
        b = next((r for r in results if r.system == "mlflow" and r.rate == rate), None)
        if a and b:
            console.print(
                f"{rate}/s: p99 modelphase {a.p99_ms:.2f} ms vs MLflow {b.p99_ms:.2f} ms "
                f"({b.p99_ms / a.p99_ms:.1f}x)"
            )


if __name__ == "__main__":
    sys.exit(main())
