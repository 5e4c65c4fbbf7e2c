"""``modelphase triage``: which service most likely caused an incident.

Three sources, one answer:

- ``--input WIDE.csv --at T`` (the command contract): RCAEval's wide CSV, a ``time``
  column (Unix seconds) and one ``<service>_<metric>`` column per metric; the rows
  before T are the normal period.
- ``--dataset ID --at T``: a stored dataset's labelled series, the ``service`` label
  (``--group-by``) naming the service, instances (``pod``, ``instance``...) averaged;
  the normal period is ``--before`` (2h) before T, the anomalous ``--after`` (15m).
- ``--prometheus URL --query Q --at T``: the same over a range query read from
  Prometheus from ``T - before`` to ``T + after`` every ``--step``.

The ranking is :func:`modelphase.decide.triage.triage`'s; ``--calls`` adds the call
graph; confirmed root causes of earlier incidents re-rank it
(:mod:`modelphase.decide.triage_feedback`; ``--no-feedback`` to leave them out).
A table on stderr, or with ``--json`` the result on stdout. It writes nothing unless
``--incident ID`` asks to record the answer; ``modelphase triage confirm ID --service S``
records the postmortem's finding.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from modelphase.cli._checks import check_input_file
from modelphase.cli._render import err, fail, print_json, read_text_csv
from modelphase.decide.triage import THRESHOLD, Suspect, Triage, triage
from modelphase.frame import NS_PER_SECOND, Panel, format_time, parse_duration, parse_time
from modelphase.limits import MAX_DATASET_POINTS, MAX_QUERY_CHARS, check_at_most

app = typer.Typer(
    help="Rank services by how likely each caused an incident, and learn from postmortems."
    "\n\n"
    "modelphase triage --input WIDE.csv --at T [--json] (RCAEval's wide CSV), or "
    "--dataset ID, or --alert ALERTS.json#N (an alert of detect --alerts --json), or "
    "--prometheus URL --query Q (labelled series: the service label "
    "names the service, pods and instances are averaged, --before/--after the periods). "
    "Each metric scores its largest robust z-score after --at against the normal period "
    "(BARO's scoring; a metric with no spread before, such as a count that was always 0, "
    "is capped at 3); a service scores its strongest metric, ties going to the earlier "
    "change. --calls CALLS.csv (caller,callee) scores each metric net of what its "
    "callees' same-named metrics predict, and ranks a service whose callee explains its "
    "change after those nothing explains. --incident ID records the answer; 'triage "
    "confirm ID --service S' records a postmortem's root cause, and later triage "
    "re-ranks with every confirmed cause (--no-feedback to leave them out). "
    '--json prints {"ranking": [{"service", "metric", "score", "changed_at", ...}], '
    '"metrics": [...]}: every service ranked once, most likely first. Exits 1 on bad '
    "input, 2 on a usage error.",
    invoke_without_command=True,
    no_args_is_help=False,
)

#: rows of the table (every service is in --json)
TABLE_ROWS = 20
#: edges of one call graph file
MAX_CALLS = 100_000


def _at(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        _seconds(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    return value


def _seconds(text: str) -> float:
    """Unix seconds exactly as written, or an RFC 3339 time."""
    try:
        seconds = float(text)
    except ValueError:
        try:
            return parse_time(text) / NS_PER_SECOND
        except ValueError:
            raise ValueError(
                f"expected Unix seconds or an RFC 3339 time with a zone, got {text!r}"
            ) from None
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        raise ValueError(f"expected finite Unix seconds, got {text!r}")
    return seconds


@app.callback()
def triage_command(
    ctx: typer.Context,
    input_path: Path | None = typer.Option(
        None,
        "--input",
        "-i",
        help="Wide CSV: a time column (Unix seconds) and one <service>_<metric> column "
        "per metric (RCAEval's format).",
    ),
    dataset: str | None = typer.Option(
        None, "--dataset", help="A stored dataset's id (or a unique prefix) instead of --input."
    ),
    alert: str | None = typer.Option(
        None,
        "--alert",
        help="FILE#N: the N-th alert (from 1, as the table numbers them) of the JSON of "
        "'detect --dataset ID --alerts --json': its dataset, its start as --at, its "
        "--group-by label.",
    ),
    prometheus: str | None = typer.Option(
        None,
        "--prometheus",
        help="Read --query from this Prometheus (default $MODELPHASE_PROMETHEUS_URL) "
        "instead of --input.",
    ),
    query: str | None = typer.Option(
        None, "--query", help="With --prometheus: the PromQL range query (e.g. {job='shop'})."
    ),
    step: str = typer.Option("60s", "--step", help="With --prometheus: the query's step."),
    at: str | None = typer.Option(
        None,
        "--at",
        callback=_at,
        help="The anomaly's time (Unix seconds, or RFC 3339): the rows before it are normal.",
    ),
    before: str = typer.Option(
        "2h", "--before", help="With --dataset/--prometheus: the normal period before --at."
    ),
    after: str = typer.Option(
        "15m", "--after", help="With --dataset/--prometheus: the anomalous period from --at."
    ),
    group_by: str = typer.Option(
        "service", "--group-by", help="With --dataset/--prometheus: the label naming a service."
    ),
    calls: Path | None = typer.Option(
        None,
        "--calls",
        help="The call graph: a CSV with caller,callee columns (service names as ranked).",
    ),
    feedback: bool = typer.Option(
        True, "--feedback/--no-feedback", help="Re-rank with confirmed root causes."
    ),
    incident: str | None = typer.Option(
        None, "--incident", help="Record the answer as this incident (e.g. INC-1234)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the ranking as JSON on stdout."),
) -> None:
    """One incident's ranking (the group's help, above, is what a user reads)."""
    if ctx.invoked_subcommand is not None:
        return
    sources = [o for o, v in (("--input", input_path), ("--dataset", dataset),
                              ("--alert", alert),
                              ("--prometheus/--query", prometheus or query)) if v]  # fmt: skip
    if len(sources) != 1:
        raise typer.BadParameter(
            "expected one of --input WIDE.csv, --dataset ID, --alert FILE#N or --prometheus "
            f"URL --query Q, got {' and '.join(sources) or 'none'}"
        )
    if alert is not None:
        if at is not None:
            raise typer.BadParameter("--alert sets --at (the alert's start): pass one")
        dataset, at, group_by = _alert(alert)
    if at is None:
        raise typer.BadParameter("expected --at T (the anomaly's time)")
    at_s = _seconds(at)
    graph = _read_calls(calls) if calls is not None else None
    if input_path is not None:
        result = _from_csv(input_path, at_s, graph)
        source: dict[str, Any] = {"kind": "csv", "path": str(input_path)}
    else:
        before_ns = parse_duration(before)
        after_ns = parse_duration(after)
        if dataset is not None:
            panel, source = _dataset_panel(dataset)
        else:
            panel, source = _prometheus_panel(prometheus, query, step, at_s, before_ns, after_ns)
        from modelphase.decide.triage_input import triage_panel

        result = triage_panel(
            panel, round(at_s * NS_PER_SECOND), before=before_ns, after=after_ns,
            service_label=group_by, calls=graph,
        )  # fmt: skip
        source["group_by"] = group_by
    confirmed = _feedback() if feedback else []
    if confirmed:
        from modelphase.decide.triage_feedback import apply_feedback

        result = apply_feedback(result, confirmed)
    answer = {**result.to_dict(), "feedback": {"confirmed": len(confirmed)}}
    if incident is not None:
        _record(incident, result, source, len(confirmed))
        answer["incident"] = incident
    if as_json:
        print_json(answer)
        return
    err.print(_table(result))
    shown = "" if len(result.ranking) <= TABLE_ROWS else f" (top {TABLE_ROWS} shown)"
    err.print(
        f"{len(result.ranking)} services{shown}, {len(result.metrics)} metrics; normal "
        f"period {result.n_normal} rows before {_when(result.at)}, anomalous "
        f"{result.n_anomalous} rows from it on"
        + (f"; re-ranked with {len(confirmed)} confirmed root causes" if confirmed else "")
        + (f"; recorded as incident {incident}" if incident else ""),
        markup=False,
    )


@app.command("confirm")
def confirm_command(
    incident: str = typer.Argument(..., help="The incident's id (as recorded, or a new one)."),
    service: str = typer.Option(..., "--service", help="The confirmed root-cause service."),
    metric: str | None = typer.Option(None, "--metric", help="The metric that showed it."),
    note: str = typer.Option("", "--note", help="A line for the record (a postmortem link)."),
    as_json: bool = typer.Option(False, "--json", help="Print the stored record as JSON."),
) -> None:
    """Record a postmortem's confirmed root cause of an incident.

    Later triage re-ranks with every confirmed cause (a base rate: the
    services that failed before are more likely to fail again). Confirming
    an incident again replaces its finding. The incident need not have been
    recorded by triage; when it was, the service is checked against its
    ranking and a service triage never saw is a warning, not an error (the
    cause may have had no metric).
    """
    from modelphase.decide.triage_feedback import Confirmation
    from modelphase.decide.triage_store import IncidentStore

    store = IncidentStore()
    found = Confirmation(incident, service.strip(), metric, time.time(), note)
    try:
        recorded = store.incident(incident)
    except ValueError:
        recorded = None
    if recorded is not None:
        ranked = [str(s.get("service")) for s in recorded.get("ranking", [])]
        if found.service not in ranked:
            err.print(
                f"[yellow]warning:[/] {escape(found.service)} is not among the services "
                f"triage ranked for {escape(incident)}"
            )
    path = store.confirm(found)
    if as_json:
        record = {"incident": incident, "service": found.service, "metric": metric,
                  "confirmed_at": found.confirmed_at, "note": note, "path": str(path)}  # fmt: skip
        print_json(record)
        return
    rank = _rank_in(recorded, found.service)
    err.print(
        f"confirmed: {found.service} caused {incident}"
        + (f" (triage ranked it #{rank})" if rank else ""),
        markup=False,
    )


@app.command("incidents")
def incidents_command(
    as_json: bool = typer.Option(False, "--json", help="Print them as JSON on stdout."),
) -> None:
    """List the recorded incidents: triage's top suspect, the confirmed
    cause and where triage ranked it."""
    from modelphase.decide.triage_store import IncidentStore

    store = IncidentStore()
    confirmed, warnings = store.confirmations()
    for warning in warnings:
        err.print(f"[yellow]warning:[/] {escape(warning)}")
    by_id = {c.incident: c for c in confirmed}
    rows = []
    for rec in store.incidents():
        cause = by_id.get(str(rec.get("incident")))
        top = (rec.get("ranking") or [{}])[0]
        rows.append({
            "incident": rec.get("incident"), "at": rec.get("at"), "top": top.get("service"),
            "confirmed": cause.service if cause else None,
            "rank": _rank_in(rec, cause.service) if cause else None,
        })  # fmt: skip
    if as_json:
        print_json({"incidents": rows, "confirmed": len(confirmed)})
        return
    table = Table(title="recorded incidents")
    for name in ("incident", "at", "triage's top", "confirmed cause", "its rank"):
        table.add_column(name)
    for row in rows:
        table.add_row(
            escape(str(row["incident"])),
            _when(float(row["at"] or 0.0)),
            escape(str(row["top"] or "-")),
            escape(str(row["confirmed"] or "-")),
            str(row["rank"] or "-"),
        )
    err.print(table)
    err.print(f"{len(rows)} recorded, {len(confirmed)} confirmed", markup=False)


def _rank_in(recorded: dict[str, Any] | None, service: str) -> int | None:
    if not recorded:
        return None
    ranked = [str(s.get("service")) for s in recorded.get("ranking", [])]
    return ranked.index(service) + 1 if service in ranked else None


def _from_csv(path: Path, at: float, graph: list[tuple[str, str]] | None) -> Triage:
    frame = read_text_csv(path, "--input", "a header: time,<service>_<metric>,... and rows")
    check_at_most(
        f"--input {path} (rows x columns)",
        frame.shape[0] * frame.shape[1],
        MAX_DATASET_POINTS,
        "cut the file to a window around the incident, or to fewer metrics",
    )
    return triage(frame, at, calls=graph)


def _dataset_panel(dataset: str) -> tuple[Panel, dict[str, Any]]:
    from modelphase.ingest import DatasetStore

    store = DatasetStore()
    dataset_id = store.resolve(dataset)
    return store.load(dataset_id), {"kind": "dataset", "dataset": dataset_id}


def _prometheus_panel(
    url: str | None, query: str | None, step: str, at: float, before: int, after: int
) -> tuple[Panel, dict[str, Any]]:
    """The range ``[at - before, at + after]`` of ``query`` every ``step``."""
    from modelphase.config import get_settings
    from modelphase.ingest import PrometheusClient
    from modelphase.ingest.target import check_range

    if not query:
        raise typer.BadParameter("--prometheus needs --query Q (the series to triage)")
    check_at_most("--query", len(query), MAX_QUERY_CHARS, "shorten the query", " characters")
    settings = get_settings().prometheus
    settings = replace(settings, url=url or settings.url)
    if not settings.url:
        fail(
            "--prometheus: expected a Prometheus to read from, got none. Fix: pass "
            "--prometheus URL or set MODELPHASE_PROMETHEUS_URL"
        )
    at_ns = round(at * NS_PER_SECOND)
    step_ns = parse_duration(step)
    start, end = at_ns - before, at_ns + after
    check_range(start, end, step_ns, "--before/--after/--step")
    with PrometheusClient.from_settings(settings) as client:
        found = client.query_range(query, start, end, step_ns)
    for message in found.warnings:
        err.print(f"[yellow]prometheus warning:[/] {escape(message)}")
    return found.panel, {"kind": "prometheus", "query": query, "step": step}


def _alert(text: str) -> tuple[str, str, str]:
    """The dataset, start and service label of ``FILE#N``'s alert."""
    import json

    name, sep, number = text.rpartition("#")
    if not sep or not number.isdigit() or int(number) < 1:
        raise typer.BadParameter(f"--alert: expected FILE#N (N from 1), got {text!r}")
    path = Path(name)
    if not path.is_file():
        fail(f"--alert {name}: expected the JSON of 'detect --alerts --json', got no such file")
    check_input_file(path, "--alert")
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
        alerts, dataset = found["alerts"], str(found["dataset"])
        group_by = (found.get("group_by") or ["service"])[0]
    except (ValueError, KeyError, TypeError, IndexError):
        fail(
            f"--alert {name}: expected the JSON of 'modelphase detect --dataset ID --alerts "
            "--json' (with dataset and alerts), got another file"
        )
    index = int(number)
    if not isinstance(alerts, list) or index > len(alerts):
        count = len(alerts) if isinstance(alerts, list) else 0
        fail(f"--alert {text}: expected N from 1 to {count}, got {index}")
    start = alerts[index - 1].get("start") if isinstance(alerts[index - 1], dict) else None
    if not isinstance(start, str):
        fail(f"--alert {text}: expected the alert to have a start time, got none")
    return dataset, start, str(group_by)


def _read_calls(path: Path) -> list[tuple[str, str]]:
    """The call graph file: a header with ``caller`` and ``callee`` columns."""
    frame = read_text_csv(path, "--calls", "a header: caller,callee and one row per call")
    missing = [c for c in ("caller", "callee") if c not in frame.columns]
    if missing:
        fail(
            f"--calls {path}: expected columns caller,callee, got "
            f"{', '.join(frame.columns) or 'none'}. Fix: name the columns caller and callee"
        )
    check_at_most(f"--calls {path} (rows)", len(frame), MAX_CALLS, "keep the calls of one system")
    pairs = [(a.strip(), b.strip()) for a, b in zip(frame["caller"], frame["callee"], strict=True)]
    return [(a, b) for a, b in pairs if a and b]


def _feedback() -> list[Any]:
    from modelphase.decide.triage_store import IncidentStore

    confirmed, warnings = IncidentStore().confirmations()
    for warning in warnings:
        err.print(f"[yellow]warning:[/] {escape(warning)}")
    return confirmed


def _record(incident: str, result: Triage, source: dict[str, Any], n_feedback: int) -> None:
    from modelphase.decide.triage_store import IncidentStore

    top = [
        {"service": s.service, "metric": s.metric, "score": s.score, "changed_at": s.changed_at}
        for s in result.ranking
    ]
    IncidentStore().record(
        incident,
        {"at": result.at, "source": source, "recorded_at": time.time(),
         "feedback": n_feedback, "ranking": top},
    )  # fmt: skip


def _table(result: Triage) -> Table:
    table = Table(
        title="likely root causes (most likely first)",
        caption=f"changed: when |z| first reached {THRESHOLD:g}, after {_when(result.at)}",
    )
    explained = any(s.explained_by for s in result.ranking)
    for name, justify in (
        ("rank", "right"),
        ("service", "left"),
        ("metric", "left"),
        ("score", "right"),
        ("changed", "left"),
        ("direction", "left"),
        *((("explained by", "left"),) if explained else ()),
    ):
        table.add_column(name, justify=justify)
    for rank, s in enumerate(result.ranking[:TABLE_ROWS], start=1):
        table.add_row(
            str(rank),
            escape(s.service),
            escape(s.metric or "-"),
            f"{s.score:.3g}",
            _changed(s, result.at),
            _direction(s),
            *((escape(s.explained_by or "-"),) if explained else ()),
        )
    return table


def _changed(s: Suspect, at: float) -> str:
    """Seconds after the anomaly's time; ``-`` when |z| never reached the threshold."""
    return "-" if s.changed_at is None else f"+{s.changed_at - at:g} s"


def _direction(s: Suspect) -> str:
    if s.direction == "none" or s.normal_median is None or s.peak_value is None:
        return s.direction
    return f"{s.direction} ({s.normal_median:.4g} -> {s.peak_value:.4g})"


def _when(t: float) -> str:
    try:
        return format_time(round(t * NS_PER_SECOND))
    except (OverflowError, ValueError, OSError):
        return f"{t:g}"
