"""Ingest benchmark: Prometheus ``query_range`` JSON on disk -> a dataset snapshot.

The JSON holds 1,000 series x 10,080 points (a week at one minute), written the way
Prometheus writes it (``[unix_seconds, "value"]`` pairs). Values come from the public
NAB corpus (``../shared/data/nab``): series ``i`` replays file ``i mod 35`` from an
offset, so the numbers have real-world digits. modelphase parses, checks, grids and
snapshots it (Parquet + manifest + sha256, fsynced); the peers are a bare JSON parse
with orjson (the floor: same bytes, no arrays built) and prometheus-api-client's
``MetricRangeDataFrame`` (the usual Python route from query_range JSON to a DataFrame;
timed on a subset because it is slow, and scaled by points).

    python benchmarks/ingest.py [--series 1000] [--points 10080] [--repeat 3]

Prints points per second and the ratios. Timings here are measurements, never test
assertions.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import orjson
from rich.console import Console
from rich.table import Table

from modelphase.frame import Panel
from modelphase.ingest import DatasetStore, parse_range_response, prepare

NAB = Path(__file__).resolve().parents[2] / "shared" / "data" / "nab" / "data"
START = 1_767_571_200  # 2026-01-05T00:00:00Z
STEP = 60


def nab_values() -> list[list[str]]:
    """The value column of every NAB file, as the text it has in the file."""
    files = sorted(NAB.glob("*/*.csv"))
    if not files:
        sys.exit(f"NAB data not found under {NAB}; it ships in ../shared/data/nab")
    columns = []
    for path in files:
        lines = path.read_text().splitlines()[1:]
        columns.append([line.rsplit(",", 1)[1] for line in lines])
    return columns


def make_json(n_series: int, n_points: int) -> bytes:
    columns = nab_values()
    rng = np.random.default_rng(0)
    ts = [START + STEP * k for k in range(n_points)]
    result = []
    for i in range(n_series):
        source = columns[i % len(columns)]
        offset = int(rng.integers(0, len(source)))
        values = [source[(offset + k) % len(source)] for k in range(n_points)]
        metric = {
            "__name__": "nab_replay",
            "file": str(i % len(columns)),
            "instance": f"10.0.{i // 250}.{i % 250}:9100",
            "job": "node",
        }
        result.append({"metric": metric, "values": [list(p) for p in zip(ts, values, strict=True)]})
    doc = {"status": "success", "data": {"resultType": "matrix", "result": result}}
    return orjson.dumps(doc)


def bare_parse(body: bytes) -> None:
    gc.disable()
    try:
        orjson.loads(body)
    finally:
        gc.enable()


def modelphase_ingest(body: bytes, store: DatasetStore, n_points: int) -> dict[str, float]:
    marks = [time.perf_counter()]
    data = parse_range_response(body)
    marks.append(time.perf_counter())
    items = [
        (uid, np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
        for uid, parts in data.series.items()
    ]
    raw = Panel.from_series(items)
    start = START * 1_000_000_000
    panel = prepare(raw, step=STEP * 10**9, start=start, end=start + (n_points - 1) * STEP * 10**9)
    marks.append(time.perf_counter())
    store.write(panel, {"kind": "benchmark"}, now=datetime.now(UTC))
    marks.append(time.perf_counter())
    return {
        "parse": marks[1] - marks[0],
        "check + grid": marks[2] - marks[1],
        "snapshot": marks[3] - marks[2],
    }


def peer_dataframe(body: bytes, n_series: int) -> float:
    from prometheus_api_client import MetricRangeDataFrame

    doc = orjson.loads(body)
    subset = doc["data"]["result"][:n_series]
    t0 = time.perf_counter()
    MetricRangeDataFrame(subset)
    return time.perf_counter() - t0


def best(fn: Callable[[], float], repeat: int) -> float:
    return min(fn() for _ in range(repeat))


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--points", type=int, default=10080)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--peer-series", type=int, default=50, help="series for the peer")
    args = parser.parse_args()
    console = Console()
    n_total = args.series * args.points
    with (
        console.status("writing query_range JSON from NAB values"),
        tempfile.TemporaryDirectory() as tmp,
    ):
        path = Path(tmp) / "query_range.json"
        path.write_bytes(make_json(args.series, args.points))
        body = path.read_bytes()
    console.print(f"{args.series:,} series x {args.points:,} points, {len(body) / 1e6:.0f} MB")

    bare = best(lambda: timed(lambda: bare_parse(body)), args.repeat)
    runs = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            store = DatasetStore(Path(tmp))
            runs.append(modelphase_ingest(body, store, args.points))
    ours_total = min(sum(r.values()) for r in runs)
    stages = {k: min(r[k] for r in runs) for k in runs[0]}
    peer_points = min(args.peer_series, args.series) * args.points
    peer = best(lambda: peer_dataframe(body, args.peer_series), 1)

    table = Table(title="ingest: query_range JSON -> dataset", title_justify="left")
    for col in ("what", "seconds", "points/s", "vs bare parse"):
        table.add_column(col, justify="left" if col == "what" else "right")
    table.add_row(
        "orjson.loads (bare parse, floor)", f"{bare:.2f}", f"{n_total / bare:,.0f}", "1.00x"
    )
    for name, sec in stages.items():
        table.add_row(f"  modelphase {name}", f"{sec:.2f}", "", "")
    table.add_row(
        "modelphase parse+check+grid+snapshot",
        f"{ours_total:.2f}",
        f"{n_total / ours_total:,.0f}",
        f"{ours_total / bare:.2f}x",
    )
    peer_rate = peer_points / peer
    table.add_row(
        f"prometheus-api-client MetricRangeDataFrame ({args.peer_series} series)",
        f"{peer:.2f}",
        f"{peer_rate:,.0f}",
        f"{(n_total / peer_rate) / bare:.1f}x (scaled)",
    )
    console.print(table)
    console.print(
        f"modelphase: {n_total / ours_total / 1e6:.2f} M points/s (target >= 2), "
        f"{ours_total / bare:.2f}x the bare parse (target <= 4), "
        f"{(n_total / ours_total) / peer_rate:.0f}x the points/s of prometheus-api-client"
    )
    console.print(f"median of runs: {statistics.median(sum(r.values()) for r in runs):.2f} s")


if __name__ == "__main__":
    main()
