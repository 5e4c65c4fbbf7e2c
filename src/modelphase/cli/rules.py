"""``modelphase rules --out RULES.yaml``: Prometheus alerting rules for the models' SLIs.

The rules and the Alertmanager route come from :mod:`modelphase.monitor.alerting_rules`;
docs/runbooks.md has one section per alert. Writes are atomic; a bad option is one line
naming what was expected, what came and the fix, with exit code 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from modelphase import __version__
from modelphase.cli._checks import check_output_file
from modelphase.cli._render import atomic_output, err, print_json
from modelphase.decide.slo import dump_yaml
from modelphase.exceptions import ValidationError
from modelphase.frame import NS_PER_SECOND, parse_duration
from modelphase.monitor.alerting_rules import (
    AlertOptions,
    alerting_rules,
    alertmanager_config,
)

_URL_HELP = "The webhook URL of the {} receiver in --alertmanager-out (a placeholder)."


def rules_command(
    out_file: Path = typer.Option(
        ..., "--out", "-o", help="The Prometheus rule file to write.", show_default=False
    ),
    job: str = typer.Option(
        "modelphase", "--job", help="The scrape job of the servers (up{job=...})."
    ),
    runbook_base: str = typer.Option(
        "docs/runbooks.md",
        "--runbook-base",
        help="Where runbook_url points: this URL plus #<alert>, e.g. the runbooks page "
        "on your Git host.",
    ),
    latency_budget: float = typer.Option(
        0.5,
        "--latency-budget",
        help="Seconds the latency quantile may take (below 2.5, the histogram's top bucket).",
    ),
    latency_quantile: float = typer.Option(
        0.99, "--latency-quantile", help="The latency quantile held to the budget."
    ),
    fallback_share: float = typer.Option(
        0.05, "--fallback-share", help="Page above this share of answers from the fallback."
    ),
    drift_ratio: float = typer.Option(
        0.2, "--drift-ratio", help="Ticket above this share of series drifted."
    ),
    coverage_levels: str = typer.Option(
        "80,95", "--coverage-levels", help="Interval levels (percent) whose coverage is checked."
    ),
    coverage_tolerance: float = typer.Option(
        0.1,
        "--coverage-tolerance",
        help="Ticket when a level's coverage is below level/100 minus this.",
    ),
    residual_bias: float = typer.Option(
        0.5, "--residual-bias", help="Ticket above this absolute mean residual (series scales)."
    ),
    retrain_lag: str = typer.Option(
        "7d", "--retrain-lag", help="Ticket when a retrain took longer (trigger to promotion)."
    ),
    monitor_stale: str = typer.Option(
        "2h", "--monitor-stale", help="Ticket when no monitor pass ended for this long."
    ),
    alertmanager_out: Path | None = typer.Option(
        None,
        "--alertmanager-out",
        help="Also write an Alertmanager config: grouped by alertname, job and model, "
        "severity page and ticket to their receivers.",
    ),
    page_url: str = typer.Option(
        "http://127.0.0.1:9095/page", "--page-url", help=_URL_HELP.format("page")
    ),
    ticket_url: str = typer.Option(
        "http://127.0.0.1:9095/ticket", "--ticket-url", help=_URL_HELP.format("ticket")
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a summary as JSON on stdout."),
) -> None:
    """Write Prometheus alerting rules for the models' SLIs.

    Pages when users see it now: a server down or not scraped, no model call answering,
    the latency quantile over its budget, too many fallback answers. Tickets for slow
    decay: drift, a degraded verdict, intervals that undercover, biased residuals, a
    slow retrain, a stale monitor, decisions not logged. Every rule has a for:, a
    severity label and summary, description and runbook_url annotations
    (docs/runbooks.md). Check the file with promtool check rules RULES.yaml. Exits 1 on
    a bad option.
    """
    options = AlertOptions(
        job=job,
        runbook_base=runbook_base,
        latency_budget=latency_budget,
        latency_quantile=latency_quantile,
        fallback_share=fallback_share,
        drift_ratio=drift_ratio,
        coverage_levels=tuple(lv.strip() for lv in coverage_levels.split(",") if lv.strip()),
        coverage_tolerance=coverage_tolerance,
        residual_bias=residual_bias,
        retrain_lag_s=_seconds(retrain_lag, "--retrain-lag"),
        monitor_stale_s=_seconds(monitor_stale, "--monitor-stale"),
    )
    for url, option in ((page_url, "--page-url"), (ticket_url, "--ticket-url")):
        if not url.startswith(("http://", "https://")) or len(url) > 2048 or " " in url:
            raise ValidationError(
                f"{option}: expected an http(s) URL, got {url[:80]!r}. Fix: pass the "
                "webhook of your pager or ticket queue, e.g. https://hooks.example/page"
            )
    check_output_file(out_file, "--out")
    if alertmanager_out is not None:
        check_output_file(alertmanager_out, "--alertmanager-out")
    rules = alerting_rules(options)
    header = [f"Code generated by modelphase {__version__} (modelphase rules). DO NOT EDIT."]
    with atomic_output(out_file, "--out") as tmp:
        tmp.write_text(dump_yaml(rules, header), encoding="utf-8")
    if alertmanager_out is not None:
        config = alertmanager_config(page_url=page_url, ticket_url=ticket_url)
        with atomic_output(alertmanager_out, "--alertmanager-out") as tmp:
            tmp.write_text(dump_yaml(config, header), encoding="utf-8")
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    if as_json:
        summary: dict[str, Any] = {
            "rules": str(out_file),
            "alertmanager": str(alertmanager_out) if alertmanager_out else None,
            "alerts": [
                {"alert": r["alert"], "severity": r["labels"]["severity"], "for": r["for"]}
                for r in alerts
            ],
        }
        print_json(summary)
        return
    table = Table(title=f"{len(alerts)} alerts in {out_file}")
    for column in ("alert", "severity", "for"):
        table.add_column(column)
    for r in alerts:
        table.add_row(r["alert"], r["labels"]["severity"], r["for"])
    err.print(table)


def _seconds(text: str, option: str) -> int:
    try:
        ns = parse_duration(text)
    except ValidationError as exc:
        raise ValidationError(
            f"{option}: expected a duration such as 7d or 2h, got {text!r}",
            hint="pass e.g. 7d, with the units s, m, h, d, w",
        ) from exc
    return ns // NS_PER_SECOND
