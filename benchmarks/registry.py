"""Registry benchmark: modelphase on SQLite and PostgreSQL against MLflow's model registry.

Three measurements, the same operations and counts on every system:

1. register a 1 MiB artifact (random bytes, new each time, already in a file): p50 and
   p99 latency. modelphase: ``Registry.register(name, path)``. MLflow (SQLite tracking
   and registry store, artifacts in a folder): ``create_run``, ``log_artifact``,
   ``create_model_version`` from the run's artifact URI (READY at once on a local store).
2. load the version an alias points to: p50 and p99 latency. modelphase:
   ``load_artifact(name, alias="production")`` (re-hashes the bytes). MLflow:
   ``get_model_version_by_alias``, ``mlflow.artifacts.download_artifacts`` of the file,
   then reading it.
3. ``--processes`` processes register 10 KiB artifacts into one registry for
   ``--seconds``: versions per second, and whether the versions are exactly 1..N with N
   the number of successes the processes saw (lost, duplicated, failed calls).

One untimed register and load come first on each system. PostgreSQL is a throwaway
server (``tests/support/postgres.py``, Debian's package) on loopback, run with ``fsync``,
``synchronous_commit`` and ``full_page_writes`` on (the test harness turns them off).
modelphase fsyncs each artifact; MLflow's local artifact store copies without fsync.

    python benchmarks/registry.py [--n-register 200] [--n-load 500] [--seconds 30]
        [--processes 8] [--skip-postgres] [--skip-mlflow]

Prints a table with the ratios. Timings here are measurements, never test assertions.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import queue
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from importlib.metadata import version as dist_version
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from _registry_systems import MODEL_FILE, Mlflow, Spec, concurrent_worker, open_system

ROOT = Path(__file__).resolve().parents[1]
LARGE = 1 << 20  # 1 MiB
SMALL = 10 << 10  # 10 KiB
PG_DURABLE = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}
NAMES = ("latency", "concurrent")  # one model per measurement, in one registry
MP_SQLITE, MP_PG, MLFLOW = "modelphase SQLite", "modelphase PostgreSQL", "MLflow (SQLite)"


@dataclass
class Result:
    register: list[float] = field(default_factory=list)
    load: list[float] = field(default_factory=list)
    concurrent: dict[str, Any] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)


def measure_latency(spec: Spec, workdir: Path, n_register: int, n_load: int) -> Result:
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / MODEL_FILE
    system = open_system(spec, workdir)
    result = Result()
    try:
        path.write_bytes(os.urandom(LARGE))
        system.register(path)  # warm-up, untimed
        for _ in range(n_register):
            data = os.urandom(LARGE)
            path.write_bytes(data)
            t0 = time.perf_counter()
            version = system.register(path)
            result.register.append(time.perf_counter() - t0)
        system.promote(version)
        if system.load() != data:  # warm-up, untimed, and a check
            raise RuntimeError(f"{spec.kind}: the loaded artifact differs from the registered one")
        for _ in range(n_load):
            t0 = time.perf_counter()
            system.load()
            result.load.append(time.perf_counter() - t0)
    finally:
        system.close()
    return result


def measure_concurrency(spec: Spec, workdir: Path, processes: int, seconds: float) -> Result:
    """Run the workers (spawned: nothing inherited), then compare what they were told
    with what the registry lists."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(processes)
    results = ctx.Queue()
    procs = [
        ctx.Process(
            target=concurrent_worker,
            args=(spec, workdir / f"worker-{i}", seconds, SMALL, barrier, results),
        )
        for i in range(processes)
    ]
    for proc in procs:
        proc.start()
    reports: list[dict[str, Any]] = []
    try:
        while len(reports) < processes:
            try:
                reports.append(results.get(timeout=5))
            except queue.Empty:
                if not any(p.is_alive() for p in procs):
                    break
    finally:
        for proc in procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()
                proc.join()
    problems = [r["setup_error"] for r in reports if "setup_error" in r]
    if problems or len(reports) < processes:
        died = processes - len(reports)
        raise RuntimeError(f"{spec.kind}: workers failed to start ({died} died): {problems}")
    reported = [v for r in reports for v in r["versions"]]
    lister = open_system(spec, workdir)
    try:
        listed = lister.versions()
    finally:
        lister.close()
    elapsed = max(r["end"] for r in reports) - min(r["start"] for r in reports)
    result = Result()
    for r in reports:
        result.errors.update(r["errors"])
    n = len(listed)
    lost = len(set(reported) - set(listed))
    duplicated = len(reported) - len(set(reported)) + n - len(set(listed))
    result.concurrent = {
        "rate": len(reported) / elapsed,
        "successes": len(reported),
        "listed": n,
        "lost": lost,
        "duplicated": duplicated,
        "gaps": len(set(range(1, max(listed, default=0) + 1)) - set(listed)),
        "failed": sum(result.errors.values()),
        "ok": sorted(listed) == list(range(1, n + 1))
        and n == len(reported)
        and lost == duplicated == 0,
    }
    return result


def run_system(latency: Spec, concurrent: Spec, workdir: Path, args: argparse.Namespace) -> Result:
    result = measure_latency(latency, workdir / "latency", args.n_register, args.n_load)
    conc = measure_concurrency(concurrent, workdir / "concurrent", args.processes, args.seconds)
    result.concurrent, result.errors = conc.concurrent, conc.errors
    return result


def start_postgres_or_none(tmp: Path, console: Console) -> Any:
    """A started PostgreSQL server, or None (with a message) when it is not installed."""
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        import psycopg  # noqa: F401
        import pytest

        from support.postgres import find_postgres_bin, start_postgres
    except ImportError as exc:
        console.print(f"[yellow]PostgreSQL column skipped: {exc} (pip install -e '.[postgres]')")
        return None
    try:
        find_postgres_bin()  # skips (a pytest outcome) or raises when it is missing
    except (pytest.skip.Exception, RuntimeError) as exc:
        console.print(f"[yellow]PostgreSQL is not installed; column skipped: {exc}")
        return None
    return start_postgres(tmp / "postgres", settings=PG_DURABLE)


def modelphase_pg(server: Any, tmp: Path, args: argparse.Namespace) -> tuple[Result, str]:
    import psycopg

    from modelphase.registry import Registry

    shown: dict[str, str] = {}
    with psycopg.connect(server.conninfo(), autocommit=True) as conn:
        for name in ("server_version", *PG_DURABLE):
            row = conn.execute(f"SHOW {name}").fetchone()
            shown[name] = str(row[0]).split()[0] if row else "?"
    version = shown.pop("server_version")
    pg_version = f"{version} ({', '.join(f'{k} {v}' for k, v in shown.items())})"
    url = server.create_database("benchmark")
    artifacts = str(tmp / "artifacts")
    with Registry(url, artifacts=artifacts) as bootstrap:  # no tokens yet: bootstrap admin
        _, token = bootstrap.create_token("benchmark", "admin")
    specs = [Spec("modelphase", url, artifacts, name, token) for name in NAMES]
    return run_system(*specs, tmp, args), pg_version


def mlflow_peer(tmp: Path, args: argparse.Namespace) -> Result:
    url = f"sqlite:///{tmp / 'mlflow.db'}"
    artifacts = tmp / "mlartifacts"
    experiment = Mlflow.create(url, artifacts, list(NAMES))
    specs = [Spec("mlflow", url, str(artifacts), n, experiment_id=experiment) for n in NAMES]
    return run_system(*specs, tmp, args)


def ms(samples: list[float], q: float) -> float:
    return float(np.percentile(samples, q)) * 1e3


def render(results: dict[str, Result | None], args: argparse.Namespace) -> Table:
    table = Table(
        title="model registry: modelphase vs MLflow",
        title_justify="left",
        caption="ratio > 1: MLflow takes longer (ms rows) or registers more (versions/s)",
        caption_justify="left",
    )
    table.add_column("operation", no_wrap=True)
    for name in (MP_SQLITE, MP_PG, MLFLOW, "ratio MLflow/modelphase-SQLite"):
        table.add_column(name, justify="right", min_width=len(name.split()[-1]))

    def cells(value: Any, fmt: str, ratio: bool) -> list[str]:
        values = [value(r) if r is not None else None for r in results.values()]
        shown = ["skipped" if v is None else format(v, fmt) for v in values]
        ours, peer = values[0], values[2]
        if ratio and ours is not None and peer is not None and ours:
            shown.append(f"{peer / ours:.2f}x")
        else:
            shown.append("")
        return shown

    mb = f"{LARGE >> 20} MiB"
    for label, attr in ((f"register, {mb}", "register"), (f"load by alias, {mb}", "load")):
        for q in (50, 99):
            row = cells(lambda r, a=attr, q=q: ms(getattr(r, a), q), ".2f", ratio=True)
            table.add_row(f"{label}: p{q} (ms)", *row)
    table.add_section()
    head = f"{args.processes} processes x {args.seconds:g} s, {SMALL >> 10} KiB"
    table.add_row(f"{head}: versions/s", *cells(lambda r: r.concurrent["rate"], ",.1f", True))
    rows = (
        ("  successes reported", "successes"),
        ("  versions in registry (N)", "listed"),
        ("  lost (reported, not listed)", "lost"),
        ("  duplicated version numbers", "duplicated"),
        ("  gaps in 1..N", "gaps"),
        ("  failed calls (exceptions)", "failed"),
    )
    for label, key in rows:
        table.add_row(label, *cells(lambda r, k=key: r.concurrent[k], ",d", ratio=False))
    checks = [
        "skipped" if r is None else ("ok" if r.concurrent["ok"] else "FAIL")
        for r in results.values()
    ]
    table.add_row("  versions exactly 1..N, N = successes", *checks, "")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-register", type=int, default=200)
    parser.add_argument("--n-load", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-mlflow", action="store_true")
    args = parser.parse_args()
    if min(args.n_register, args.n_load, args.processes) < 1 or args.seconds <= 0:
        parser.error("expected positive counts and seconds")
    console = Console() if sys.stdout.isatty() else Console(width=132)  # a pasteable table
    load_before = os.getloadavg()
    results: dict[str, Result | None] = {MP_SQLITE: None, MP_PG: None, MLFLOW: None}
    pg_version = "skipped"
    with tempfile.TemporaryDirectory(prefix="modelphase-bench-") as tmp_name:
        tmp = Path(tmp_name)
        with console.status("modelphase on SQLite"):
            folder = tmp / "mp-sqlite"
            url = f"sqlite:///{folder / 'registry.db'}"
            specs = [Spec("modelphase", url, str(folder / "artifacts"), n) for n in NAMES]
            results[MP_SQLITE] = run_system(*specs, folder, args)
        if not args.skip_postgres:
            server = start_postgres_or_none(tmp, console)
            if server is not None:
                try:
                    with console.status("modelphase on PostgreSQL"):
                        results[MP_PG], pg_version = modelphase_pg(server, tmp / "mp-pg", args)
                finally:
                    server.stop()
        if not args.skip_mlflow:
            with console.status("MLflow on SQLite"):
                results[MLFLOW] = mlflow_peer(tmp / "mlflow", args)
    console.print(render(results, args))
    console.print(
        f"{args.n_register} registrations and {args.n_load} loads per system; Python "
        f"{platform.python_version()}, {os.cpu_count()} cores; modelphase "
        f"{dist_version('modelphase')}, SQLAlchemy {dist_version('sqlalchemy')}, SQLite "
        f"{sqlite3.sqlite_version}, PostgreSQL {pg_version}, psycopg {dist_version('psycopg')}, "
        f"MLflow {dist_version('mlflow')}"
    )
    for name, result in results.items():
        for message, count in result.errors.most_common(5) if result else []:
            console.print(f"{name} failure x{count}: {message}")
    load_after = os.getloadavg()
    console.print(
        "load average (1, 5, 15 min): before "
        + ", ".join(f"{x:.2f}" for x in load_before)
        + "; after "
        + ", ".join(f"{x:.2f}" for x in load_after)
    )


if __name__ == "__main__":
    main()
