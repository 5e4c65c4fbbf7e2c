"""``modelphase grafana``: Grafana dashboards over the metrics modelphase exports.

``dashboards --out DIR [--prometheus-url URL] [--folder NAME] [--grafana-path PATH]
[--json]`` writes the executive, on-call and debug dashboards
(:mod:`modelphase.report.grafana`, docs/dashboards.md) to ``DIR/dashboards/`` and the
provisioning files that load them to ``DIR/provisioning/``, each file atomically. Needs
``pip install 'modelphase[grafana]'``. Bad input is one line, exit 1.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from modelphase.cli._checks import check_output_folder
from modelphase.cli._render import out, print_json

app = typer.Typer(
    help="Grafana: generated dashboards over the metrics of modelphase serve and monitor.",
    no_args_is_help=True,
)

_TEXT = """Write three Grafana dashboards over the metrics that modelphase serve
(/metrics, /v1/slo/metrics, /v1/capacity/metrics) and modelphase monitor (--metrics-port
or --textfile) export, and the provisioning files that load them.

executive: accuracy trend (health, interval coverage, residual bias), SLO compliance,
cost (CPU seconds per prediction, volume) and incidents (fallbacks, inference errors,
rollout phase). on-call: each version's traffic share, latency and errors, p95/p99
latency, feature freshness, recent deploys and the capacity recommendation. debug:
drift, latency heatmaps, the decision log, shadows, pools and circuit breakers.

DIR/dashboards/modelphase-{executive,on-call,debug}.json import by hand (Dashboards >
New > Import) or load through DIR/provisioning: copy dashboards/modelphase.yaml to
Grafana's provisioning/dashboards and datasources/prometheus.yaml (--prometheus-url) to
its provisioning/datasources. --grafana-path is where Grafana reads the JSON files
(default: DIR/dashboards as given here; set it when Grafana runs in a container). Uids
are fixed (modelphase-executive, ...), so writing again updates the same dashboards.

Exits 1 on bad input (a URL that is not http(s), a folder that is a file, ...)."""
#: the help, one line per paragraph (the help formatter keeps line breaks)
_HELP = "\n\n".join(" ".join(part.split()) for part in _TEXT.split("\n\n"))


@app.command("dashboards", help=_HELP)
def dashboards_command(
    out_dir: Path = typer.Option(
        ..., "--out", help="The folder to write into (created if its parent exists)."
    ),
    prometheus_url: str = typer.Option(
        "http://localhost:9090",
        "--prometheus-url",
        help="The Prometheus the provisioned data source reads (no credentials).",
    ),
    folder: str = typer.Option(
        "modelphase", "--folder", help="The Grafana folder the dashboards are provisioned in."
    ),
    grafana_path: str | None = typer.Option(
        None,
        "--grafana-path",
        help="The JSON files' folder as Grafana sees it (default: DIR/dashboards, absolute).",
        show_default=False,
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the files written as JSON."),
) -> None:
    """Write the dashboards and their provisioning files."""
    from modelphase.report.grafana import DASHBOARDS, write_dashboards

    check_output_folder(out_dir, "--out")
    written = write_dashboards(
        out_dir, prometheus_url=prometheus_url, folder=folder, grafana_path=grafana_path
    )
    if as_json:
        print_json({"files": [str(p) for p in written], "dashboards": DASHBOARDS})
        return
    table = Table(title=f"Grafana files in {escape(str(out_dir))}", title_justify="left")
    for name in ("file", "what"):
        table.add_column(name, overflow="fold")
    what = [f"{title} (uid {uid})" for uid, title, _ in DASHBOARDS.values()]
    what += ["dashboard provider", "Prometheus data source"]
    for path, text in zip(written, what, strict=True):
        table.add_row(escape(str(path)), escape(text))
    out.print(table)
