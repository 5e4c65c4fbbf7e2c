"""Grafana dashboards over the metrics ``modelphase serve`` and ``modelphase monitor``
export: ``executive``, ``on-call`` and ``debug`` (docs/dashboards.md), with the
provisioning files that load them.

The panels are data (:data:`PANELS`: a title, a kind, PromQL and a unit each), turned
into Grafana's own schema by grafana-foundation-sdk's builders, so the JSON is the one
Grafana's schema defines rather than a hand-kept copy of it. The SDK is an optional
extra (``pip install 'modelphase[grafana]'``), imported when a dashboard is built.

PromQL follows the metrics' types: counters through ``rate``/``increase`` over
``$__rate_interval`` (Grafana's window that is at least four scrapes), latency and
freshness quantiles through ``histogram_quantile`` over the summed ``_bucket`` rates
(``le`` kept), gauges through ``max``/``min by`` the labels the panel shows. Every
selector carries ``job=~"$job"``; ``model`` (serve and monitor series), ``service``
(capacity plans) and ``slo_service`` (the SLOs' ``sloth_service``) filter where those
labels exist. Uids are fixed strings, so re-provisioning replaces a dashboard in place.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

from modelphase.exceptions import ConfigError, ValidationError
from modelphase.files import write_atomic
from modelphase.report._grafana_panels import PANELS, Panel

__all__ = [
    "DASHBOARDS",
    "DATASOURCE_UID",
    "PANELS",
    "Panel",
    "build_dashboards",
    "provisioning",
    "write_dashboards",
]

#: name -> (uid, title, what it is for)
DASHBOARDS: dict[str, tuple[str, str, str]] = {
    "executive": (
        "modelphase-executive",
        "modelphase: executive",
        "Are the models accurate, within their SLOs, affordable and quiet?",
    ),
    "on-call": (
        "modelphase-on-call",
        "modelphase: on-call",
        "Which version moved the SLIs, how slow, stale and failing serving is, what changed.",
    ),
    "debug": (
        "modelphase-debug",
        "modelphase: debug",
        "Drift, latency distributions, the decision log, shadows, pools and circuits.",
    ),
}
#: the uid of the provisioned Prometheus data source (the datasource variable's default)
DATASOURCE_UID = "modelphase-prometheus"
MAX_URL_CHARS = 2048
MAX_NAME_CHARS = 100

#: template variables: name -> (label, query); the datasource variable comes first
_VARIABLES: tuple[tuple[str, str, str], ...] = (
    ("job", "job", 'label_values({__name__=~"modelphase_.+"}, job)'),
    (
        "model",
        "model",
        'label_values({__name__=~"modelphase_serve_requests_total|modelphase_model_health", '
        'job=~"$job"}, model)',
    ),
    (
        "service",
        "capacity service",
        'label_values(modelphase_capacity_plan_up{job=~"$job"}, service)',
    ),
    (
        "slo_service",
        "SLO service",
        'label_values(modelphase_slo_status_up{job=~"$job"}, sloth_service)',
    ),
)


def _sdk() -> SimpleNamespace:
    """The SDK's modules (imported here: the package is an optional extra)."""
    try:
        from grafana_foundation_sdk.builders import (
            common,
            dashboard,
            heatmap,
            prometheus,
            stat,
            timeseries,
        )
        from grafana_foundation_sdk.cog.encoder import JSONEncoder
        from grafana_foundation_sdk.models import common as common_model
        from grafana_foundation_sdk.models import dashboard as dashboard_model
        from grafana_foundation_sdk.models import prometheus as prometheus_model
    except ImportError:
        raise ConfigError(
            "expected the grafana-foundation-sdk package, which is not installed. "
            "Fix: pip install 'modelphase[grafana]'"
        ) from None
    return SimpleNamespace(
        common=common,
        dashboard=dashboard,
        heatmap=heatmap,
        prometheus=prometheus,
        stat=stat,
        timeseries=timeseries,
        encoder=JSONEncoder,
        cm=common_model,
        model=dashboard_model,
        prom=prometheus_model,
    )


def build_dashboards() -> dict[str, dict[str, Any]]:
    """Each dashboard's JSON (a dict Grafana imports), by name."""
    sdk = _sdk()
    return {name: json.loads(json.dumps(_build(name, sdk), cls=sdk.encoder)) for name in DASHBOARDS}


def _build(name: str, sdk: SimpleNamespace) -> Any:
    db, model, cm, common, heatmap = sdk.dashboard, sdk.model, sdk.cm, sdk.common, sdk.heatmap
    uid, title, about = DASHBOARDS[name]
    ds = model.DataSourceRef(type_val="prometheus", uid="${datasource}")
    board = (
        db.Dashboard(title)
        .uid(uid)
        .description(about)
        .tags(["modelphase"])
        .time("now-6h", "now")
        .refresh("1m")
        .timezone("browser")
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .editable()
    )
    board.with_variable(
        db.DatasourceVariable("datasource")
        .label("data source")
        .type("prometheus")
        .current(model.VariableOption(text="Prometheus", value=DATASOURCE_UID, selected=True))
    )
    used = " ".join(e for _, panels in PANELS[name] for p in panels for e, _ in p.exprs)
    for var, label, query in _VARIABLES:
        if var not in ("job", "model") and f"${var}" not in used:
            continue
        board.with_variable(
            db.QueryVariable(var)
            .label(label)
            .datasource(ds)
            .query(query)
            .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(model.VariableSort.ALPHABETICAL_ASC)
            .multi(True)
            .include_all(True)
            .all_value(".*")
            .current(model.VariableOption(text="All", value="$__all", selected=True))
        )
    # a link to each other dashboard by its fixed uid, keeping the time range and variables
    for other, (other_uid, other_title, _) in DASHBOARDS.items():
        if other != name:
            board.link(
                db.DashboardLink(other_title)
                .type(model.DashboardLinkType.LINK)
                .url(f"/d/{other_uid}")
                .icon("dashboard")
                .include_vars(True)
                .keep_time(True)
            )
    ids = iter(range(1, 1000))
    for row, panels in PANELS[name]:
        board.with_row(db.Row(row).id(next(ids)))
        for p in panels:
            kind = {"timeseries": sdk.timeseries, "stat": sdk.stat, "heatmap": heatmap}[p.kind]
            b = (
                kind.Panel()
                .id(next(ids))
                .title(p.title)
                .datasource(ds)
                .span(p.width)
                .height(8)
                .unit(p.unit)
            )
            if p.description:
                b.description(p.description)
            if p.mappings:
                b.mappings(
                    [
                        model.ValueMap(
                            {v: model.ValueMappingResult(text=t, color=c) for v, t, c in p.mappings}
                        )
                    ]
                )
            if p.kind == "heatmap":  # Prometheus' buckets as they are, not re-bucketed
                b.calculate(False).show_legend().show_tooltip()
                b.y_axis(heatmap.YAxisConfig().unit(p.unit))
                b.rows_frame(heatmap.RowsHeatmapOptions().layout(cm.HeatmapCellLayout.LE))
            elif p.kind == "stat":
                b.reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]))
                b.graph_mode(cm.BigValueGraphMode.AREA).color_mode(cm.BigValueColorMode.VALUE)
            else:
                b.legend(
                    common.VizLegendOptions()
                    .show_legend(True)
                    .display_mode(cm.LegendDisplayMode.LIST)
                    .placement(cm.LegendPlacement.BOTTOM)
                )
                b.tooltip(
                    common.VizTooltipOptions()
                    .mode(cm.TooltipDisplayMode.MULTI)
                    .sort(cm.SortOrder.DESCENDING)
                )
            for ref, (expr, legend) in zip("ABCDEFGH", p.exprs, strict=False):
                q = sdk.prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref)
                q.datasource(ds)
                if p.kind == "heatmap":
                    q.format(sdk.prom.PromQueryFormat.HEATMAP)
                elif p.kind == "stat":
                    q.instant()
                else:
                    q.range()
                b.with_target(q)
            board.with_panel(b)
    return board.build()


def provisioning(dashboards_path: str, prometheus_url: str, folder: str) -> dict[str, str]:
    """The provisioning YAML, by path under the output folder: the dashboard provider
    (``dashboards_path`` as Grafana sees it) and the Prometheus data source."""
    _check(prometheus_url, folder, dashboards_path)
    provider = {
        "apiVersion": 1,
        "providers": [
            {
                "name": "modelphase",
                "orgId": 1,
                "folder": folder,
                "type": "file",
                "disableDeletion": False,
                "allowUiUpdates": False,
                "updateIntervalSeconds": 60,
                "options": {"path": dashboards_path, "foldersFromFilesStructure": False},
            }
        ],
    }
    source = {
        "apiVersion": 1,
        "datasources": [
            {
                "name": "Prometheus (modelphase)",
                "uid": DATASOURCE_UID,
                "type": "prometheus",
                "access": "proxy",
                "url": prometheus_url,
                "isDefault": False,
                "jsonData": {"httpMethod": "POST", "timeInterval": "15s"},
            }
        ],
    }
    return {
        "provisioning/dashboards/modelphase.yaml": yaml.safe_dump(provider, sort_keys=False),
        "provisioning/datasources/prometheus.yaml": yaml.safe_dump(source, sort_keys=False),
    }


def _check(prometheus_url: str, folder: str, dashboards_path: str) -> None:
    url = prometheus_url
    host = url.split("//", 1)[1].split("/", 1)[0] if "//" in url else ""
    if "@" in host:  # never echo a credential
        raise ValidationError(
            "--prometheus-url: expected a URL without credentials, got one with user@",
            hint="give the URL alone and set the credentials in Grafana",
        )
    if (
        not url.startswith(("http://", "https://"))
        or not host
        or len(url) > MAX_URL_CHARS
        or not url.isprintable()
        or any(c.isspace() for c in url)
    ):
        raise ValidationError(
            f"--prometheus-url: expected an http(s) URL of at most {MAX_URL_CHARS} "
            f"characters, got {url[:80]!r}",
            hint="e.g. http://localhost:9090",
        )
    if not folder.strip() or len(folder) > MAX_NAME_CHARS or not folder.isprintable():
        raise ValidationError(
            f"--folder: expected a printable name of 1 to {MAX_NAME_CHARS} characters, "
            f"got {folder[:80]!r}",
            hint="e.g. --folder modelphase",
        )
    if not dashboards_path.startswith("/") or not dashboards_path.isprintable():
        raise ValidationError(
            f"--grafana-path: expected an absolute path, got {dashboards_path[:80]!r}",
            hint="the JSON files' folder as Grafana sees it, e.g. /var/lib/grafana/modelphase",
        )


def write_dashboards(
    out: Path,
    *,
    prometheus_url: str = "http://localhost:9090",
    folder: str = "modelphase",
    grafana_path: str | None = None,
) -> list[Path]:
    """Write the three dashboards to ``out/dashboards/`` and the provisioning files to
    ``out/provisioning/``, each atomically; the paths written, in order."""
    path = grafana_path if grafana_path is not None else str((out / "dashboards").absolute())
    files = provisioning(path, prometheus_url, folder)  # checked before anything is written
    boards = build_dashboards()
    written: list[Path] = []
    for name, board in boards.items():
        target = out / "dashboards" / f"modelphase-{name}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, json.dumps(board, indent=2, sort_keys=True) + "\n")
        written.append(target)
    for rel, text in files.items():
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, text)
        written.append(target)
    return written


def expressions(board: dict[str, Any]) -> Sequence[str]:
    """Every PromQL expression of a dashboard's JSON (panels, then variables)."""
    exprs = [t["expr"] for p in board.get("panels", []) for t in p.get("targets", [])]
    for v in board.get("templating", {}).get("list", []):
        if v.get("type") == "query":
            q = v["query"]
            exprs.append(q["query"] if isinstance(q, dict) else q)
    return exprs
