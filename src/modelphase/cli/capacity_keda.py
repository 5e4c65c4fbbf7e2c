"""``modelphase capacity keda``: the KEDA ScaledObject (and/or plain HPA) that scales a
Deployment on the capacity plan the modelphase server exports to Prometheus.

``keda --service S --deployment D --demand-query Q --capacity C [--namespace NS]
[--prometheus-address URL] [--min-replicas 1] [--max-replicas 100] [--margin 0.2]
[--max-factor 3] [--stabilise 5m] [--kind scaledobject|hpa|both] --output FILE.yaml``
writes the manifests (:mod:`modelphase.decide.capacity.keda`, docs/autoscaling.md)
atomically, or prints them without ``--output``. Bad input is one line, exit 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from modelphase.cli._checks import check_output_file
from modelphase.cli._render import atomic_output, err, print_json
from modelphase.decide.capacity.clamp import Clamp
from modelphase.decide.capacity.keda import (
    DEFAULT_PROMETHEUS,
    KINDS,
    RECOMMENDED_METRIC,
    Autoscaling,
    dump_manifests,
    header,
    manifests,
)
from modelphase.exceptions import ValidationError
from modelphase.frame import NS_PER_SECOND, parse_duration

_TEXT = f"""Write the KEDA ScaledObject (--kind scaledobject, the default), the plain
autoscaling/v2 HPA (--kind hpa, for prometheus-adapter without KEDA), or both, that
scale --deployment on the modelphase server's plan.

The server must export {RECOMMENDED_METRIC}{{service="S"}} (the replicas its clamped
plan asks for now) and Prometheus must scrape it. You apply the file with kubectl apply
-f (KEDA >= 2.17 for the ScaledObject); with --kind both, apply ONE of the documents.

The ScaledObject's first trigger reads the plan, capped at --max-factor times the
replicas the last --peak-window's peak of --demand-query needed (over --capacity per
replica); its second trigger is the demand per replica at a target of capacity / (1 -
--margin), so the HPA never runs fewer than (1 - margin) x demand / capacity. When
modelphase is down the plan falls back in PromQL to demand / capacity; when Prometheus
is down KEDA's fallback holds max(current, --fallback-replicas).

Exits 1 on bad input (names that are not Kubernetes names, an unbalanced query, ...)."""
#: the help, one line per paragraph (the help formatter keeps line breaks)
_HELP = "\n\n".join(" ".join(part.split()) for part in _TEXT.split("\n\n"))


def _seconds(text: str, option: str, *, zero: bool = False) -> int:
    try:
        ns = parse_duration(text, zero=zero)
    except ValidationError as exc:
        raise ValidationError(f"{option}: {exc}") from None
    if ns % NS_PER_SECOND:
        raise ValidationError(f"{option}: expected whole seconds, got {text!r}", hint="round it")
    return ns // NS_PER_SECOND


def _table(doc: dict[str, Any]) -> Table:
    table = Table(title=f"{doc['kind']} {doc['metadata']['name']}", title_justify="left")
    for name in ("trigger", "type", "target"):
        table.add_column(name, overflow="fold")
    spec = doc["spec"]
    if doc["kind"] == "ScaledObject":
        for t in spec["triggers"]:
            target = t["metadata"].get("threshold") or t["metadata"].get("value", "")
            table.add_row(escape(t["name"]), f"{t['type']} ({t['metricType']})", str(target))
    else:
        for m in spec["metrics"]:
            part = m.get("external") or m.get("resource") or {}
            name = part.get("metric", {}).get("name") or part.get("name", "")
            target = part["target"].get("averageValue") or part["target"].get("averageUtilization")
            table.add_row(escape(str(name)), f"{m['type']} ({part['target']['type']})", str(target))
    return table


def register(app: typer.Typer) -> None:
    """Add ``capacity keda`` to ``app``."""

    @app.command("keda", help=_HELP)
    def keda_command(
        service: str = typer.Option(
            ..., "--service", help="The plan's service: the service label of the server's metrics."
        ),
        deployment: str = typer.Option(..., "--deployment", help="The Deployment to scale."),
        namespace: str | None = typer.Option(
            None, "--namespace", help="Its namespace (default: the one kubectl applies to)."
        ),
        name: str | None = typer.Option(
            None, "--name", help="The ScaledObject's / HPA's name (default: the Deployment's)."
        ),
        prometheus_address: str = typer.Option(
            DEFAULT_PROMETHEUS,
            "--prometheus-address",
            help="Where KEDA queries Prometheus (no credentials: use a TriggerAuthentication).",
        ),
        demand_query: str | None = typer.Option(
            None,
            "--demand-query",
            help="PromQL of the demand, e.g. 'sum(rate(http_requests_total{job=\"api\"}[1m]))' "
            "(summed into one series): the reactive floor and the peak cap.",
        ),
        capacity: float | None = typer.Option(
            None, "--capacity", help="The demand one replica holds, in the query's units."
        ),
        min_replicas: int = typer.Option(1, "--min-replicas", help="minReplicaCount."),
        max_replicas: int = typer.Option(100, "--max-replicas", help="maxReplicaCount."),
        margin: float = typer.Option(
            0.2, "--margin", help="How far (a share) the plan may go below the reactive answer."
        ),
        max_factor: float = typer.Option(
            3.0, "--max-factor", help="The plan's cap, in times the replicas of the recent peak."
        ),
        peak_window: str = typer.Option(
            "1h", "--peak-window", help="The window of the recent peak (1m to 7d)."
        ),
        peak_step: str = typer.Option(
            "1m", "--peak-step", help="The subquery step the peak is read at."
        ),
        stabilise: str = typer.Option(
            "5m", "--stabilise", help="Scale-down stabilisation window (0 to 1h)."
        ),
        polling_interval: str = typer.Option(
            "30s", "--polling-interval", help="How often KEDA polls the triggers."
        ),
        cpu_utilisation: int | None = typer.Option(
            None,
            "--cpu-utilisation",
            help="Also a CPU trigger at this utilisation (% of requests), a further floor.",
        ),
        fallback: bool = typer.Option(
            True, "--fallback/--no-fallback", help="KEDA's fallback when the triggers fail."
        ),
        fallback_replicas: int | None = typer.Option(
            None,
            "--fallback-replicas",
            help="Replicas at least, while the triggers fail (default: --min-replicas, >= 1).",
        ),
        failure_threshold: int = typer.Option(
            3, "--failure-threshold", help="Failed polls before the fallback applies."
        ),
        hpa_demand_metric: str | None = typer.Option(
            None,
            "--hpa-demand-metric",
            help="For --kind hpa: the external metric prometheus-adapter serves the demand as.",
        ),
        tolerance: float | None = typer.Option(
            None,
            "--tolerance",
            help="HPA tolerance (default: the cluster's 0.1; needs Kubernetes >= 1.33).",
        ),
        kind: str = typer.Option(
            "scaledobject", "--kind", help=f"What to write: {', '.join(KINDS)}."
        ),
        output: Path | None = typer.Option(
            None, "--output", "--out", "-o", help="The YAML file to write (default: stdout)."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print a summary as JSON on stdout."),
    ) -> None:
        if output is not None:
            check_output_file(output, "--output")
        spec = Autoscaling(
            service=service,
            deployment=deployment,
            namespace=namespace,
            name=name,
            prometheus_address=prometheus_address,
            demand_query=demand_query,
            capacity=capacity,
            bounds=Clamp(
                margin=margin,
                max_factor=max_factor,
                min_replicas=min_replicas,
                max_replicas=max_replicas,
            ),
            peak_window=_seconds(peak_window, "--peak-window"),
            peak_step=_seconds(peak_step, "--peak-step"),
            stabilise=_seconds(stabilise, "--stabilise", zero=True),
            polling_interval=_seconds(polling_interval, "--polling-interval"),
            fallback=fallback,
            fallback_replicas=fallback_replicas,
            failure_threshold=failure_threshold,
            cpu_utilisation=cpu_utilisation,
            hpa_demand_metric=hpa_demand_metric,
            tolerance=tolerance,
        )
        docs = manifests(spec, kind)
        text = dump_manifests(docs, header(spec, kind))
        if output is None and not as_json:
            typer.echo(text, nl=False)
        elif output is not None:
            with atomic_output(output) as tmp:
                tmp.write_text(text, encoding="utf-8")
        if as_json:
            print_json(
                {
                    "output": str(output) if output else None,
                    "kind": kind,
                    "documents": docs,
                }
            )
        for doc in docs:
            err.print(_table(doc))
        if output is not None:
            kinds = " and ".join(d["kind"] for d in docs)
            err.print(f"wrote {escape(str(output))}: {kinds} for deployment {deployment}")
