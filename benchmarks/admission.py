"""Admission benchmark: light requests and /healthz while six 100,000-point /score
requests run, on a real `modelphase serve` on loopback.

    python benchmarks/admission.py [--duration 15] [--configs lifted,defaults] [--careless]

The server serves the default detector (an Alerter, the default 50 ms latency budget).
One viewer token ("heavy") sends six 100,000-point /score requests at a time, each
client sending its next as soon as its last is answered, for ``--duration`` seconds;
another token ("light") sends 300-point /score requests one after another, and a
third client polls /healthz, both with a 20 ms pause between requests. The same light
and /healthz load runs first on its own (``idle``) for comparison.

Configs: ``lifted`` starts the server with ``--token-heavy 6`` so that all six heavy
requests are admitted and run (the starvation case for the pools); ``defaults`` keeps
every default, so the heavy token is held to 2 heavy requests in flight and the rest
get 429. A heavy client told 429 or 503 waits Retry-After seconds, as a client should;
with ``--careless`` it sends again at once (a flood, which the token's rate limit
meets).

Light latencies are client-side, by who answered (model, fallback, or the status of a
refusal). The heavy load runs in a process of its own so that its threads do not share
an interpreter with the timing client; all of it shares the machine's cores with the
server, which the figures include. Targets: light requests answered by the model and
/healthz under 50 ms while the six heavy requests run.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from rich.console import Console
from rich.table import Table

console = Console(stderr=True)
DETECTOR = "anomalies"
SCORE = f"/v1/models/{DETECTOR}/score"
N_HEAVY = 6
HEAVY_POINTS = 100_000
LIGHT_POINTS = 300
PAUSE_S = 0.02


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare(home: Path) -> dict[str, str]:
    """Register the default detector (production) and create the tokens."""
    from modelphase.anomaly import Alerter
    from modelphase.registry import Registry

    home.mkdir(parents=True)
    tokens = {}
    with Registry(f"sqlite:///{home / 'registry.db'}", artifacts=home / "artifacts") as reg:
        params = Alerter().get_params()
        reg.register(
            DETECTOR,
            json.dumps(params, sort_keys=True).encode(),
            flavor="modelphase.anomaly",
            model_class="Alerter",
            params=params,
        )
        reg.promote(DETECTOR, 1, "production")
        for name in ("heavy", "light"):
            _, tokens[name] = reg.create_token(name, "viewer")
    return tokens


def start(home: Path, port: int, extra: list[str], log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELPHASE_")}
    env["MODELPHASE_HOME"] = str(home)
    cmd = [sys.executable, "-m", "modelphase", "serve", "--port", str(port), *extra]
    proc = subprocess.Popen(
        cmd, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the server was not ready in 60 s; see {log}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


# ------------------------------------------------------------------ the load


def _heavy_process(url: str, token: str, duration: float, careless: bool, out: Any) -> None:
    """Six clients, each sending 100k-point scores back to back (a process of its own)."""
    rng = np.random.default_rng(0)
    body = json.dumps({"values": (100 + rng.normal(0, 1, HEAVY_POINTS)).round(4).tolist()})
    outcomes: Counter[str] = Counter()
    latencies: dict[str, list[float]] = defaultdict(list)
    lock = threading.Lock()
    end = time.monotonic() + duration

    def client() -> None:
        headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
        with httpx.Client(base_url=url, headers=headers, timeout=120) as c:
            while time.monotonic() < end:
                t0 = time.perf_counter()
                try:
                    r = c.post(SCORE, content=body)
                    outcome = _outcome(r, parse=False)
                except httpx.HTTPError as exc:
                    outcome = type(exc).__name__
                with lock:
                    outcomes[outcome] += 1
                    latencies[outcome].append(time.perf_counter() - t0)
                if outcome in ("429", "503") and not careless:
                    wait = float(r.headers.get("retry-after", "1"))
                    time.sleep(max(0.0, min(wait, end - time.monotonic())))

    threads = [threading.Thread(target=client) for _ in range(N_HEAVY)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put({"outcomes": dict(outcomes), "latencies": dict(latencies)})


def _outcome(r: httpx.Response, *, parse: bool = True) -> str:
    if r.status_code != 200:
        return str(r.status_code)
    if not parse:  # the heavy answers: 2 MB of JSON; their decision is in the head
        marker = r.content[:400]
        return "fallback" if b'"answered_by":"fallback"' in marker else "model"
    return str(r.json()["answered_by"])


def _probe(
    url: str, path: str, token: str | None, body: str | None, end: float
) -> dict[str, list[float]]:
    got: dict[str, list[float]] = defaultdict(list)
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    with httpx.Client(base_url=url, headers=headers, timeout=60) as c:
        while time.monotonic() < end:
            t0 = time.perf_counter()
            try:
                r = c.post(path, content=body) if body is not None else c.get(path)
                outcome = _outcome(r) if body is not None else str(r.status_code)
            except httpx.HTTPError as exc:
                outcome = type(exc).__name__
            got[outcome].append(time.perf_counter() - t0)
            time.sleep(PAUSE_S)
    return got


def phase(
    url: str, tokens: dict[str, str], duration: float, heavy: bool, careless: bool = False
) -> dict[str, Any]:
    light_body = json.dumps({"values": [10.0 + (i % 7) * 0.1 for i in range(LIGHT_POINTS)]})
    queue: Any = mp.get_context("spawn").Queue()
    proc = None
    if heavy:
        proc = mp.get_context("spawn").Process(
            target=_heavy_process, args=(url, tokens["heavy"], duration, careless, queue)
        )
        proc.start()
        time.sleep(1.0)  # the six requests are in before the timing starts
    end = time.monotonic() + duration - (1.0 if heavy else 0.0)
    results: dict[str, dict[str, list[float]]] = {}

    def run(name: str, *args: Any) -> None:
        results[name] = _probe(url, *args, end)

    probes = [
        threading.Thread(target=run, args=("light", SCORE, tokens["light"], light_body)),
        threading.Thread(target=run, args=("healthz", "/healthz", None, None)),
    ]
    for t in probes:
        t.start()
    for t in probes:
        t.join()
    out: dict[str, Any] = {"light": results["light"], "healthz": results["healthz"]}
    if proc is not None:
        out["heavy"] = queue.get(timeout=300)
        proc.join()
    return out


def _metrics(url: str) -> dict[str, float]:
    wanted = (
        "modelphase_serve_throttled_total",
        "modelphase_serve_shed_total",
        "modelphase_serve_inference_errors_total",
        "modelphase_serve_fallbacks_total",
        "modelphase_serve_circuit_state",
    )
    out: dict[str, float] = defaultdict(float)
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line.startswith(wanted):
            name, value = line.rsplit(" ", 1)
            out[name] += float(value)
    return dict(out)


# ------------------------------------------------------------------ reporting


def _ms(values: list[float], q: float) -> str:
    return f"{np.quantile(values, q) * 1000:.1f}" if values else "-"


def report(name: str, phases: dict[str, dict[str, Any]], metrics: dict[str, float]) -> None:
    table = Table(title=f"{name}: light requests and /healthz (client-side ms)")
    left = ("phase", "target", "answered by")
    for col in (*left, "n", "p50", "p99", "max"):
        table.add_column(col, justify="left" if col in left else "right")
    for label, result in phases.items():
        for target in ("light", "healthz"):
            for outcome, values in sorted(result[target].items()):
                table.add_row(
                    label,
                    target,
                    outcome,
                    str(len(values)),
                    _ms(values, 0.5),
                    _ms(values, 0.99),
                    _ms(values, 1.0),
                )
        if "heavy" in result:
            for outcome, values in sorted(result["heavy"]["latencies"].items()):
                table.add_row(
                    label,
                    "heavy (6 clients)",
                    outcome,
                    str(len(values)),
                    _ms(values, 0.5),
                    _ms(values, 0.99),
                    _ms(values, 1.0),
                )
    console.print(table)
    for key, value in sorted(metrics.items()):
        if value:
            console.print(f"  {key} = {value:g}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per phase")
    parser.add_argument("--configs", default="lifted,defaults", help="lifted, defaults")
    parser.add_argument("--careless", action="store_true", help="heavy clients ignore Retry-After")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    configs = {
        "lifted": ["--token-heavy", str(N_HEAVY)],
        "defaults": [],
    }
    work = Path(tempfile.mkdtemp(prefix="modelphase-admission-bench-"))
    everything: dict[str, Any] = {}
    try:
        tokens = prepare(work / "home")
        for name in [c for c in args.configs.split(",") if c]:
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            proc = start(work / "home", port, configs[name], work / f"serve-{name}.log")
            try:
                with console.status(f"{name}: light load alone"):
                    idle = phase(url, tokens, args.duration, heavy=False)
                with console.status(f"{name}: light load beside six heavy requests"):
                    loaded = phase(url, tokens, args.duration, True, args.careless)
                metrics = _metrics(url)
            finally:
                stop(proc)
            phases = {"idle": idle, "six heavy": loaded}
            report(name, phases, metrics)
            everything[name] = {"phases": phases, "metrics": metrics}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(everything, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
