"""``modelphase slo status SLO.yaml``: each SLO's error budget now, its burn over every
alert window, and when the budget runs out (:mod:`modelphase.decide.slo.status`).

The SLI comes from Prometheus (``--prometheus URL``: the SLO file's own queries, with
``{{.window}}`` set to ``--step``) or from a stored dataset (``--dataset ID`` with
``--errors``/``--total`` or ``--error-ratio`` series). ``--textfile FILE`` also writes
the status as Prometheus metrics, for node_exporter's textfile collector (docs/slo.md
has the alert that routes "budget exhausted within 3 days").
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from modelphase.cli._checks import check_output_file
from modelphase.cli._render import atomic_output, err, fail, out, print_json, progress
from modelphase.config import get_settings
from modelphase.decide.slo import SLO, plan_rules, prom_duration, read_slo_file
from modelphase.decide.slo.budget import SliEvents
from modelphase.decide.slo.fetch import events_from_panel, events_from_prometheus
from modelphase.decide.slo.status import SloStatus, exposition, slo_status
from modelphase.frame import NS_PER_SECOND, format_time, parse_duration, parse_time
from modelphase.ingest import DatasetStore
from modelphase.ingest.prometheus import PrometheusClient

#: the shortest and longest --step of the Prometheus queries
MIN_STEP = 10 * NS_PER_SECOND
MAX_STEP = 86_400 * NS_PER_SECOND
#: the most steps one SLO's period may span (a 30-day period at 1 minute: 43,200)
MAX_STEPS = 400_000


def status_command(
    slo_file: Path = typer.Argument(
        ..., help="A Sloth prometheus/v1 file or an OpenSLO v1 SLO (YAML).", show_default=False
    ),
    prometheus: str | None = typer.Option(
        None,
        "--prometheus",
        help="Read the SLI from this Prometheus (the file's queries) \\[env "
        "MODELPHASE_PROMETHEUS_URL]; its bearer token from MODELPHASE_PROMETHEUS_TOKEN.",
    ),
    dataset: str | None = typer.Option(
        None, "--dataset", help="Read the SLI from a stored dataset's series instead."
    ),
    errors: str | None = typer.Option(
        None, "--errors", help="With --dataset: the series of bad events (with --total)."
    ),
    error_ratio: str | None = typer.Option(
        None, "--error-ratio", help="With --dataset: a series of error ratios (0-1)."
    ),
    total: str | None = typer.Option(
        None, "--total", help="With --dataset: the series of all events."
    ),
    counts: bool = typer.Option(
        False, "--counts", help="With --dataset: the series count events per step, not per second."
    ),
    slo_name: str | None = typer.Option(
        None, "--slo", help="Only this SLO of the file (its name or id)."
    ),
    windows: str = typer.Option(
        "workbook", "--windows", help="Alert windows as for `slo rules`: workbook, sloth, a file."
    ),
    period: str = typer.Option(
        "30d", "--period", help="The SLO period for SLOs whose file gives none."
    ),
    step: str = typer.Option("5m", "--step", help="With --prometheus: the resolution read."),
    at: str | None = typer.Option(
        None,
        "--at",
        help="The time of the status: RFC 3339, Unix seconds or now-<duration> (default: "
        "now with --prometheus, the dataset's end with --dataset).",
    ),
    horizon: str | None = typer.Option(
        None, "--horizon", help="How far ahead to forecast the budget (default: the period)."
    ),
    level: float = typer.Option(80.0, "--level", help="The forecast interval's level, percent."),
    no_forecast: bool = typer.Option(
        False, "--no-forecast", help="Skip the exhaustion forecast (budget and burn only)."
    ),
    textfile: Path | None = typer.Option(
        None, "--textfile", help="Also write the status as Prometheus metrics to this file."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the status as JSON on stdout."),
) -> None:
    """Each SLO's error budget left over its rolling period, the burn rate over every
    window its alerts use (and which tiers hold now), and a forecast of when the budget
    runs out, with an interval ("exhausted in 9-14 days at 80%"). Exits 1 on bad input."""
    from modelphase.cli.slo import _period, _windows  # the options `slo rules` has

    if dataset is None:
        prometheus = prometheus or get_settings().prometheus.url
    if (prometheus is None) == (dataset is None):
        got = "both" if dataset is not None else "neither"
        fail(
            "expected one source of the SLI: --prometheus URL (or MODELPHASE_PROMETHEUS_URL) "
            f"or --dataset ID, got {got}. Fix: pass one of them"
        )
    if dataset is None and (errors or error_ratio or total or counts):
        fail("--errors, --error-ratio, --total and --counts go with --dataset. Fix: drop them")
    if not (math.isfinite(level) and 0 < level < 100):
        fail(f"--level: expected a percentage between 0 and 100, got {level:g}. Fix: e.g. 80")
    if textfile is not None:
        check_output_file(textfile, "--textfile")
    found = read_slo_file(slo_file)
    slos = _chosen(list(found.slos), slo_name, dataset is not None)
    plans, notes = plan_rules(slos, _windows(windows), period=_period(period), source=str(slo_file))
    ahead = None if horizon is None else _horizon(horizon)
    now = int(datetime.now(UTC).timestamp()) * NS_PER_SECOND
    at_ns = None if at is None else parse_time(at, now=now)
    statuses: list[SloStatus] = []
    with progress("SLO status", len(plans)) as update:
        for done, plan in enumerate(plans):
            if dataset is not None:
                events = _from_dataset(dataset, errors, error_ratio, total, not counts)
                if at_ns is not None:
                    events = _cut(events, at_ns)
            else:
                events = _from_prometheus(prometheus, plan.slo, plan.period, step, at_ns or now)
            statuses.append(
                slo_status(
                    plan.slo,
                    events,
                    plan.windows,
                    forecast=not no_forecast,
                    horizon=ahead,
                    level=level,
                )
            )
            update(done + 1, len(plans))
    for note in (*found.notes, *notes, *(n for s in statuses for n in s.notes)):
        err.print(f"[yellow]note:[/] {escape(note)}", markup=True)
    if textfile is not None:
        with atomic_output(textfile, "--textfile") as tmp:
            tmp.write_text(exposition(statuses), encoding="utf-8")
    if as_json:
        print_json({"slos": [s.to_dict() for s in statuses]})
    else:
        for status in statuses:
            render(status)


def _chosen(slos: list[SLO], name: str | None, one: bool) -> list[SLO]:
    if name is not None:
        picked = [s for s in slos if name in (s.name, s.id)]
        if not picked:
            fail(
                f"--slo: expected the name of an SLO in the file, got {name!r}; it has "
                f"{', '.join(s.name for s in slos)}. Fix: pass one of them"
            )
        return picked
    if one and len(slos) > 1:
        fail(
            f"--dataset: expected --slo NAME, the SLO the series are of; the file has "
            f"{len(slos)} ({', '.join(s.name for s in slos)}). Fix: add --slo"
        )
    return slos


def _horizon(text: str) -> int:
    ns = parse_duration(text)
    if not 3600 * NS_PER_SECOND <= ns <= 366 * 86_400 * NS_PER_SECOND:
        fail(f"--horizon: expected a duration from 1h to 366d, got {text!r}. Fix: e.g. 14d")
    return ns // NS_PER_SECOND


def _from_dataset(
    dataset: str, errors: str | None, error_ratio: str | None, total: str | None, rates: bool
) -> SliEvents:
    store = DatasetStore()
    panel = store.load(store.resolve(dataset))
    return events_from_panel(
        panel, errors=errors, error_ratio=error_ratio, total=total, rates=rates
    )


def _cut(events: SliEvents, at: int) -> SliEvents:
    cut = events.upto(at)
    if not cut.ds.size:
        fail(
            f"--at: expected a time after the dataset's first step, got {format_time(at)}; its SLI "
            f"starts at {format_time(int(events.ds[0]))}. Fix: pass a later time"
        )
    return cut


def _from_prometheus(url: str | None, slo: SLO, period: int, step: str, at: int) -> SliEvents:
    step_ns = parse_duration(step)
    if not MIN_STEP <= step_ns <= MAX_STEP or step_ns % NS_PER_SECOND:
        fail(f"--step: expected whole seconds from 10s to 1d, got {step!r}. Fix: e.g. 5m")
    if period * NS_PER_SECOND // step_ns > MAX_STEPS:
        fail(
            f"--step: expected at most {MAX_STEPS:,} steps per period, got "
            f"{period * NS_PER_SECOND // step_ns:,} ({prom_duration(period)} at {step}). "
            "Fix: pass a longer --step"
        )
    settings = get_settings().prometheus
    settings = replace(settings, url=url or settings.url)
    end = at - at % step_ns
    with PrometheusClient.from_settings(settings) as client:
        return events_from_prometheus(
            client, slo, start=end - period * NS_PER_SECOND + step_ns, end=end, step=step_ns
        )


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.4g}%"


def render(status: SloStatus) -> None:
    """One SLO's status: a line of budget, the windows' burn, the forecast."""
    left = status.budget_remaining
    colour = "red" if left is None or left <= 0 else "green" if left > 0.25 else "yellow"
    out.print(
        f"[bold]{escape(status.slo.id)}[/]: objective {status.slo.objective:g}% over "
        f"{prom_duration(status.period)}, at {format_time(status.as_of)}; error budget left "
        f"[{colour}]{_ratio(left)}[/] (error ratio {_ratio(status.error_ratio)} over "
        f"{status.events:,.0f} events)"
    )
    table = Table(title=None, show_edge=False)
    for column in ("window", "error ratio", "burn rate", "alert tiers over"):
        table.add_column(column, justify="right" if column != "alert tiers over" else "left")
    for b in status.burn:
        tiers = [
            f"{t.key} ({t.factor:g}x)" + (" [red]firing[/]" if t.firing else "")
            for t in status.tiers
            if b.window in (t.long, t.short) and b.burn_rate is not None and b.burn_rate > t.factor
        ]
        rate = "-" if b.burn_rate is None else f"{b.burn_rate:.2f}x"
        table.add_row(prom_duration(b.window), _ratio(b.error_ratio), rate, ", ".join(tiers))
    out.print(table)
    ex = status.exhaustion
    if ex is not None:
        line = ex.reason if not ex.forecast or ex.spent else f"forecast: {ex.reason}"
        line = escape(line)
        if ex.models:
            chosen = ", ".join(f"{k} {v}" for k, v in ex.models.items())
            line += f" [dim](models: {escape(chosen)})[/]"
        out.print(line if ex.spent or ex.forecast else f"[dim]{line}[/]")
