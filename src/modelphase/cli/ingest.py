"""``modelphase ingest ...``: snapshot telemetry from files or Prometheus."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

import typer
from rich.markup import escape

from modelphase.cli._checks import check_grid, check_input_file
from modelphase.cli._render import err, manifest_table, print_json, progress
from modelphase.config import get_settings
from modelphase.frame import Panel, parse_duration
from modelphase.ingest import (
    DatasetStore,
    Manifest,
    PrometheusClient,
    RetryPolicy,
    ingest_panel,
    ingest_prometheus,
    prepare,
    query_window,
    read_csv,
    read_exposition,
    read_parquet,
)
from modelphase.limits import (
    MAX_BACKOFF_SECONDS,
    MAX_CONCURRENCY,
    MAX_QUERY_CHARS,
    MAX_RETRIES,
    MAX_TIMEOUT_SECONDS,
    check_at_most,
)

app = typer.Typer(
    help="Snapshot telemetry into an immutable dataset; prints the dataset id last.\n\n"
    "Samples are checked (order, duplicates, numbers, time zones) and put on a regular "
    "grid at the step (inferred from files, given for Prometheus); gaps become missing "
    "points. The same data always gets the same id.\n\n"
    "Limits: a file of at most 512 MiB; at most 20 million points once on the grid; at "
    "most 1 million points per series from Prometheus.",
    no_args_is_help=True,
)


class NonFinite(StrEnum):
    error = "error"
    drop = "drop"


class TsUnit(StrEnum):
    auto = "auto"
    s = "s"
    ms = "ms"


STEP = typer.Option(
    None, "--step", help="Grid step (60s, 5m...). Default: the commonest gap in the data."
)
TOLERANCE = typer.Option(
    "0s", "--tolerance", help="How far a sample may sit off its grid point (scrape jitter)."
)
NONFINITE = typer.Option(
    NonFinite.error,
    "--nonfinite",
    help="NaN/Inf values: 'error' rejects the input, 'drop' keeps them as missing points.",
)
UNIT = typer.Option(TsUnit.auto, "--ts-unit", help="Unit of numeric timestamps.")
MIXED = typer.Option(False, "--mixed-offsets", help="Accept timestamps with different UTC offsets.")
JSON = typer.Option(False, "--json", help="Print the manifest as JSON instead.")


@app.command("csv")
def csv_command(
    path: Path = typer.Argument(
        ..., help="A long CSV (unique_id,ds,y) or a NAB-style one (timestamp,value)."
    ),
    step: str | None = STEP,
    tolerance: str = TOLERANCE,
    nonfinite: NonFinite = NONFINITE,
    ts_unit: TsUnit = UNIT,
    mixed_offsets: bool = MIXED,
    as_json: bool = JSON,
) -> None:
    """Ingest a CSV file: long format, or NAB-style with the file's stem as series id."""
    _file("csv", path, step, tolerance, nonfinite, ts_unit, mixed_offsets, as_json)


@app.command("parquet")
def parquet_command(
    path: Path = typer.Argument(..., help="A long-format Parquet file (unique_id, ds, y)."),
    step: str | None = STEP,
    tolerance: str = TOLERANCE,
    nonfinite: NonFinite = NONFINITE,
    ts_unit: TsUnit = UNIT,
    mixed_offsets: bool = MIXED,
    as_json: bool = JSON,
) -> None:
    """Ingest a long-format Parquet file."""
    _file("parquet", path, step, tolerance, nonfinite, ts_unit, mixed_offsets, as_json)


@app.command("openmetrics")
def openmetrics_command(
    path: Path = typer.Argument(
        ..., help="Exposition text with timestamps (what promtool backfills)."
    ),
    step: str | None = STEP,
    tolerance: str = TOLERANCE,
    nonfinite: NonFinite = NONFINITE,
    as_json: bool = JSON,
) -> None:
    """Ingest OpenMetrics (seconds, ends with # EOF) or Prometheus text (milliseconds)."""
    _file("openmetrics", path, step, tolerance, nonfinite, TsUnit.auto, False, as_json)


@app.command("prometheus")
def prometheus_command(
    query: str = typer.Option(..., "--query", "-q", help="A PromQL expression."),
    start: str = typer.Option(
        ..., "--start", help="RFC 3339 time, Unix seconds, or now-<duration> (now-7d)."
    ),
    end: str = typer.Option(..., "--end", help="RFC 3339 time, Unix seconds, or now."),
    step: str = typer.Option(..., "--step", help="Resolution, e.g. 60s."),
    url: str | None = typer.Option(
        None, "--url", help="Prometheus base URL \\[env MODELPHASE_PROMETHEUS_URL]."
    ),
    token: str | None = typer.Option(
        None, "--token", help="Bearer token \\[env MODELPHASE_PROMETHEUS_TOKEN]."
    ),
    username: str | None = typer.Option(None, "--username", help="Basic-auth user."),
    password: str | None = typer.Option(
        None, "--password", help="Basic-auth password \\[env MODELPHASE_PROMETHEUS_PASSWORD]."
    ),
    ca_cert: Path | None = typer.Option(None, "--ca-cert", help="CA bundle for TLS."),
    insecure: bool = typer.Option(
        False, "--insecure", help="Do not verify TLS certificates (not recommended)."
    ),
    timeout: float | None = typer.Option(None, "--timeout", help="Seconds per request."),
    retries: int = typer.Option(3, "--retries", min=0, help="Retries on 5xx and timeouts."),
    backoff: float = typer.Option(0.5, "--backoff", min=0.0, help="First retry delay (s)."),
    concurrency: int = typer.Option(4, "--concurrency", min=1, help="Requests at once."),
    nonfinite: NonFinite = NONFINITE,
    as_json: bool = JSON,
) -> None:
    """Ingest a range query from the Prometheus HTTP API.

    Ranges longer than 11,000 points per series are split into several requests.
    """
    check_at_most("--query", len(query), MAX_QUERY_CHARS, "shorten the query", " characters")
    check_at_most("--retries", retries, MAX_RETRIES, "retry fewer times")
    check_at_most("--backoff", backoff, MAX_BACKOFF_SECONDS, "wait less between retries", " s")
    check_at_most("--concurrency", concurrency, MAX_CONCURRENCY, "send fewer requests at once")
    if timeout is not None:
        check_at_most("--timeout", timeout, MAX_TIMEOUT_SECONDS, "wait less per request", " s")
    now = datetime.now(UTC)
    start_ns, end_ns, step_ns = query_window(start, end, step, now=now, what="--start/--end/--step")
    settings = get_settings().prometheus
    settings = replace(
        settings,
        url=url or settings.url,
        token=token or settings.token,
        username=username or settings.username,
        password=password or settings.password,
        ca_cert=ca_cert or settings.ca_cert,
        verify=settings.verify and not insecure,
        timeout=timeout or settings.timeout,
    )
    client = PrometheusClient.from_settings(
        settings, retry=RetryPolicy(retries=retries, backoff=backoff), concurrency=concurrency
    )
    with client, progress("querying Prometheus") as update:
        manifest, messages = ingest_prometheus(
            client,
            query,
            DatasetStore(),
            start=start_ns,
            end=end_ns,
            step=step_ns,
            now=now,
            nonfinite=nonfinite.value,
            progress=update,
        )
    for message in messages:
        err.print(f"[yellow]prometheus warning:[/] {escape(message)}", markup=True)
    _report(manifest, as_json)


def _file(
    kind: str,
    path: Path,
    step: str | None,
    tolerance: str,
    nonfinite: NonFinite,
    ts_unit: TsUnit,
    mixed_offsets: bool,
    as_json: bool,
) -> None:
    step_ns = parse_duration(step) if step else None
    tolerance_ns = _tolerance(tolerance)
    check_input_file(path, kind)
    with err.status(f"ingesting {path.name}"):
        # what ingest_file does, with the grid's size checked before it is built
        raw = _read(kind, path, ts_unit.value, mixed_offsets)
        check_grid(raw, step_ns, nonfinite=nonfinite.value, what=str(path))
        panel = prepare(raw, step=step_ns, tolerance=tolerance_ns, nonfinite=nonfinite.value)
        source = {"kind": kind, "path": str(path.resolve())}
        manifest = ingest_panel(panel, DatasetStore(), source, now=datetime.now(UTC))
    _report(manifest, as_json)


def _read(kind: str, path: Path, unit: str, mixed_offsets: bool) -> Panel:
    if kind == "parquet":
        return read_parquet(path, unit=unit, mixed_offsets=mixed_offsets)
    if kind == "openmetrics":
        return read_exposition(path)
    return read_csv(path, unit=unit, mixed_offsets=mixed_offsets)


def _tolerance(text: str) -> int:
    return 0 if text.strip() in ("0", "0s", "") else parse_duration(text)


def _report(manifest: Manifest, as_json: bool) -> None:
    if as_json:
        print_json(manifest.to_dict())
        return
    err.print(manifest_table([manifest], title="dataset"))
    typer.echo(manifest.id)
