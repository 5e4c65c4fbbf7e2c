"""`modelphase ingest prometheus` against a real Prometheus server on loopback.

The server (Debian's ``prometheus`` package) is backfilled with nine days of known
samples by ``promtool tsdb create-blocks-from openmetrics``; every value read back is
checked against what was written, over ranges long enough to need several requests.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from modelphase.frame import NS_PER_SECOND, format_time, parse_series_id
from modelphase.ingest import MAX_POINTS_PER_SERIES, DatasetStore
from support.cli import RunCli, datasets_in
from support.prometheus import (
    History,
    PrometheusServer,
    simulate_query_range,
    start_history_server,
)

pytestmark = pytest.mark.prometheus

Served = tuple[PrometheusServer, History]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    server, history = start_history_server(tmp_path_factory.mktemp("prometheus"))
    with server:
        yield server, history


def _ingest(cli: RunCli, url: str, query: str, start: int, end: int, *extra: str) -> str:
    result = cli(
        "ingest", "prometheus", "--url", url, "--query", query,
        "--start", format_time(start), "--end", format_time(end), "--step", "60s", *extra,
    )  # fmt: skip
    assert result.code == 0, result.stderr
    return result.last_line


def _check_grid(panel_ds: np.ndarray, panel_y: np.ndarray, ts: np.ndarray, y: np.ndarray) -> None:
    """Every written sample is there with its exact value; every other point is NaN."""
    at = np.searchsorted(panel_ds, ts)
    assert np.array_equal(panel_ds[at], ts)
    assert np.array_equal(panel_y[at], y)
    others = np.ones(len(panel_y), dtype=bool)
    others[at] = False
    assert np.isnan(panel_y[others]).all()


def test_every_value_comes_back_over_a_split_range(served: Served, cli: RunCli, home: Path) -> None:
    server, history = served
    dataset_id = _ingest(cli, server.url, '{__name__=~".+"}', history.start_ns, history.end_ns)
    store = DatasetStore(home / "datasets")
    manifest = store.manifest(dataset_id)
    steps = (history.end_ns - history.start_ns) // history.step_ns
    assert steps > MAX_POINTS_PER_SERIES
    assert manifest.source["requests"] == -(-(steps + 1) // MAX_POINTS_PER_SERIES)
    assert manifest.source["requests"] >= 2
    panel = store.load(dataset_id)
    assert sorted(panel.ids) == sorted(history.expected)
    for uid, (ts, y) in history.expected.items():
        ds, values = panel.series(uid)
        assert ds[0] == history.start_ns
        assert ds[-1] == history.end_ns
        _check_grid(ds, values, ts, y)
    ds, values = panel.series(history.hole_id)
    inside = (ds >= history.hole[0]) & (ds <= history.hole[1])
    assert inside.sum() == 60
    assert np.isnan(values[inside]).all()
    ds, values = panel.series(history.late_id)
    assert np.isnan(values[ds < history.late_start_ns]).all()
    assert parse_series_id(history.escaped_id)["site"] == 'Zürich "north" C:\\racks\nrow 2'
    assert manifest.n_missing == int(np.isnan(panel.y).sum())


def test_a_window_that_starts_off_the_sample_grid(served: Served, cli: RunCli, home: Path) -> None:
    server, history = served
    start = history.start_ns + 36 * 3600 * NS_PER_SECOND + 30 * NS_PER_SECOND
    end = start + 8 * 86400 * NS_PER_SECOND - 7 * 3600 * NS_PER_SECOND
    query = f"{history.few_metric} * 2"
    dataset_id = _ingest(cli, server.url, query, start, end)
    panel = DatasetStore(home / "datasets").load(dataset_id)
    few = [u for u in history.expected if u.startswith(history.few_metric)]
    assert len(panel.ids) == len(few) == 2
    for uid in few:
        labels = {k: v for k, v in parse_series_id(uid).items() if k != "__name__"}
        got = panel.ids[[parse_series_id(i) for i in panel.ids].index(labels)]
        ts, y = history.expected[uid]
        # the query runs at start + k * 60 s; with a 59 s lookback each point takes the
        # sample 30 s before it
        want_ts, want_y = simulate_query_range((ts, y), start, end, 60 * NS_PER_SECOND,
                                               lookback_ns=59 * NS_PER_SECOND)  # fmt: skip
        ds, values = panel.series(got)
        _check_grid(ds, values, want_ts, want_y * 2)


def test_a_query_matching_nothing_fails_cleanly(served: Served, cli: RunCli, home: Path) -> None:
    server, history = served
    result = cli(
        "ingest", "prometheus", "--url", server.url, "--query", "no_such_metric_total",
        "--start", format_time(history.start_ns), "--end", format_time(history.end_ns),
        "--step", "60s",
    )  # fmt: skip
    assert result.code == 1
    assert result.stderr.count("\n") == 1
    assert "matched no series" in result.stderr
    assert datasets_in(home) == []


def test_bad_promql_gets_the_servers_error(served: Served, cli: RunCli, home: Path) -> None:
    server, history = served
    result = cli(
        "ingest", "prometheus", "--url", server.url, "--query", "rate(up[5m]",
        "--start", format_time(history.start_ns), "--end", format_time(history.end_ns),
        "--step", "60s", "--retries", "0",
    )  # fmt: skip
    assert result.code == 1
    assert "bad_data" in result.stderr
    assert "parse error" in result.stderr
    assert datasets_in(home) == []


def test_default_lookback_matches_prometheus_semantics(
    served: Served, cli: RunCli, home: Path, tmp_path: Path
) -> None:
    _, history = served
    with PrometheusServer(history.text, tmp_path / "p5m") as server:
        dataset_id = _ingest(cli, server.url, history.hole_id, history.start_ns, history.end_ns)
    panel = DatasetStore(home / "datasets").load(dataset_id)
    ts, y = history.expected[history.hole_id]
    want_ts, want_y = simulate_query_range((ts, y), history.start_ns, history.end_ns,
                                           60 * NS_PER_SECOND)  # fmt: skip
    ds, values = panel.series(panel.ids[0])
    _check_grid(ds, values, want_ts, want_y)
    # Prometheus's 5-minute lookback fills the first 5 minutes of the hour-long hole
    inside = (ds >= history.hole[0]) & (ds <= history.hole[1])
    assert np.isnan(values[inside]).sum() == 55


def test_relative_times(served: Served, cli: RunCli, home: Path) -> None:
    server, history = served
    result = cli(
        "ingest", "prometheus", "--url", server.url, "--query", history.few_metric,
        "--start", "now-12d", "--end", "now", "--step", "60s",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    manifest = DatasetStore(home / "datasets").manifest(result.last_line)
    assert manifest.n_series == 2
    assert manifest.source["requests"] == 2
    assert manifest.missing_ratio < 0.5
