"""``modelphase grafana dashboards``: the JSON against the Grafana SDK's own model, every
query's metric names against the metrics modelphase really exports (read from the
server's, the monitor's, the SLOs' and the capacity plans' registries, not from a list),
the PromQL through promtool, the provisioning files, stable uids and one-line errors."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from modelphase.report.grafana import DASHBOARDS, PANELS, build_dashboards, expressions
from support.cli import RunCli
from support.prometheus import find_binaries
from support.slo import SLO_TEXT

pytest.importorskip("grafana_foundation_sdk")

_NAME = re.compile(r"\bmodelphase_[a-z0-9_]+")
_LABEL_VALUES = re.compile(r"label_values\((.*), *\w+\)")
_SUFFIXES = {"histogram": ("_bucket", "_count", "_sum"), "counter": ("_total",)}


@pytest.fixture(scope="module")
def boards() -> dict[str, dict[str, Any]]:
    return build_dashboards()


def _families(text: str) -> dict[str, str]:
    """Every sample name of an exposition, with its family's type."""
    names: dict[str, str] = {}
    for family in text_string_to_metric_families(text):
        names[family.name] = family.type
        for suffix in _SUFFIXES.get(family.type, ()):
            names[family.name + suffix] = family.type
    return names


@pytest.fixture(scope="module")
def defined(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The metric names modelphase exports, by type: a live server's /metrics, the
    monitor's registry, an SLO status's exposition and the capacity plans' families."""
    from modelphase.decide.slo import WORKBOOK, parse_slos
    from modelphase.decide.slo.budget import SliEvents
    from modelphase.decide.slo.status import exposition, slo_status
    from modelphase.monitor.metrics import MonitorMetrics
    from modelphase.registry import Registry
    from modelphase.serve import ServeConfig, create_app
    from modelphase.serve.capacity_api import _Families
    from modelphase.serve.slo_api import _up_family

    home = tmp_path_factory.mktemp("serve")
    reg = Registry(f"sqlite:///{home / 'registry.db'}", artifacts=home / "artifacts")
    try:
        app = create_app(reg, ServeConfig(home=home, heavy_processes=False))
        serve = generate_latest(app.state.serve.metrics.registry).decode()
    finally:
        reg.close()
    monitor = generate_latest(MonitorMetrics().registry).decode()
    slo = parse_slos(SLO_TEXT).slos[0]
    n, minute = 3 * 1440, 60 * 10**9
    rng = np.random.default_rng(0)
    total = rng.poisson(6000, n).astype(float)
    errors = rng.binomial(total.astype(int), 0.002).astype(float)
    ds = 1_767_225_600 * 10**9 + np.arange(n) * minute
    events = SliEvents.on_grid(ds, errors, total, minute)
    status = slo_status(slo, events, WORKBOOK.for_period(30 * 86_400), horizon=86_400)
    slos = exposition([status]) + _up_family([(SimpleNamespace(slo=slo), True)])
    capacity = CollectorRegistry()
    capacity.register(_Families([]))
    names: dict[str, str] = {}
    for text in (serve, monitor, slos, generate_latest(capacity).decode()):
        names.update(_families(text))
    # the families the panels rest on must be there, or the checks below check nothing
    for needed in (
        "modelphase_serve_inference_seconds_bucket",
        "modelphase_model_health",
        "modelphase_slo_budget_exhaustion_seconds",
        "modelphase_capacity_recommended_replicas",
    ):
        assert needed in names, needed
    return names


def _problems(expr: str, defined: dict[str, str]) -> list[str]:
    """What is wrong with the metric names of ``expr``: unknown names, rate() over a
    gauge, a quantile of something other than a histogram's buckets."""
    found = _NAME.findall(expr)
    problems = [f"no modelphase metric in {expr!r}"] if not found else []
    problems += [f"{n} is not a metric modelphase defines" for n in found if n not in defined]
    for n in re.findall(r"\b(?:rate|increase)\((modelphase_[a-z0-9_]+)", expr):
        if not n.endswith(("_total", "_bucket")) or defined.get(n) not in _SUFFIXES:
            problems.append(f"rate() over {n}, which is not a counter")
    if "histogram_quantile" in expr and not re.search(r"_bucket\{", expr):
        problems.append(f"histogram_quantile without _bucket in {expr!r}")
    return problems


def test_each_dashboard_parses_back_into_the_sdks_model(boards: dict[str, Any]) -> None:
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.cog.plugins import register_default_plugins
    from grafana_foundation_sdk.models.dashboard import Dashboard, RowPanel
    from grafana_foundation_sdk.models.prometheus import Dataquery

    register_default_plugins()
    assert set(boards) == {"executive", "on-call", "debug"}
    for name, board in boards.items():
        model = Dashboard.from_json(board)
        assert model.uid == DASHBOARDS[name][0]
        assert model.title == f"modelphase: {name}"
        panels = [p for p in model.panels or [] if not isinstance(p, RowPanel)]
        want = sum(len(row) for _, row in PANELS[name])
        assert len(panels) == want
        kinds = {p.type_val for p in panels}
        assert kinds <= {"timeseries", "stat", "heatmap"}
        for panel in panels:
            assert panel.targets, panel.title
            assert all(isinstance(t, Dataquery) for t in panel.targets), panel.title
            assert panel.options is not None, panel.title
        # encoding the decoded model gives the same JSON (decoding adds empty defaults)
        again = json.loads(json.dumps(model, cls=JSONEncoder))
        assert _pruned(again) == _pruned(board)
    assert any(p["type"] == "heatmap" for p in boards["debug"]["panels"])


def _pruned(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _pruned(v) for k, v in value.items() if v not in ({}, None)}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


def test_every_query_uses_only_metrics_modelphase_defines(
    boards: dict[str, Any], defined: dict[str, str]
) -> None:
    problems = []
    for board in boards.values():
        for expr in expressions(board):
            selector = _LABEL_VALUES.fullmatch(expr)
            if selector and "__name__" in selector[1]:
                names = re.findall(r"modelphase_[a-z0-9_]+", selector[1])
                problems += [f"{n} is not defined" for n in names if n not in defined]
                continue
            problems += _problems(selector[1] if selector else expr, defined)
    assert problems == []


def test_the_name_check_catches_a_name_that_is_not_exported(defined: dict[str, str]) -> None:
    assert _problems("sum(rate(modelphase_serve_nope_total[5m]))", defined)
    assert _problems("rate(modelphase_serve_version_traffic_share[5m])", defined)
    assert _problems("histogram_quantile(0.9, modelphase_serve_inference_seconds)", defined)
    assert not _problems("sum(rate(modelphase_serve_requests_total[5m]))", defined)


def _concrete(expr: str) -> str:
    """``expr`` with Grafana's variables replaced as Grafana would (All is ``.*``)."""
    expr = expr.replace("$__rate_interval", "5m").replace("$__range", "6h")
    return re.sub(r"\$\{?\w+\}?", ".*", expr)


@pytest.mark.prometheus
def test_every_expression_passes_promtool(boards: dict[str, Any], tmp_path: Path) -> None:
    promtool = find_binaries()[1]
    rules = []
    for board in boards.values():
        for expr in expressions(board):
            selector = _LABEL_VALUES.fullmatch(expr)
            text = f"count({selector[1]})" if selector else expr
            rules.append({"record": f"grafana:check_{len(rules)}", "expr": _concrete(text)})
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "grafana", "rules": rules}]}))
    done = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(rules)} rules found" in done.stdout
    bad = path.with_name("bad.yaml")
    bad.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [
        {"record": "grafana:bad", "expr": "sum(rate(modelphase_serve_requests_total[5m])"}
    ]}]}))  # fmt: skip
    refused = subprocess.run(
        [promtool, "check", "rules", str(bad)], capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert refused.returncode != 0


def test_the_command_writes_dashboards_and_provisioning(cli: RunCli, tmp_path: Path) -> None:
    out = tmp_path / "grafana"
    result = cli("grafana", "dashboards", "--out", str(out), "--prometheus-url", "http://prom:9090")
    assert result.code == 0, result.stderr
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == [
        "dashboards/modelphase-debug.json",
        "dashboards/modelphase-executive.json",
        "dashboards/modelphase-on-call.json",
        "provisioning/dashboards/modelphase.yaml",
        "provisioning/datasources/prometheus.yaml",
    ]
    provider = yaml.safe_load((out / "provisioning/dashboards/modelphase.yaml").read_text())
    assert provider["apiVersion"] == 1
    (entry,) = provider["providers"]
    assert entry["type"] == "file"
    assert entry["options"]["path"] == str((out / "dashboards").absolute())
    sources = yaml.safe_load((out / "provisioning/datasources/prometheus.yaml").read_text())
    assert sources["apiVersion"] == 1
    (source,) = sources["datasources"]
    assert (source["type"], source["url"], source["access"]) == (
        "prometheus",
        "http://prom:9090",
        "proxy",
    )
    board = json.loads((out / "dashboards/modelphase-on-call.json").read_text())
    variable = board["templating"]["list"][0]
    assert (variable["type"], variable["current"]["value"]) == ("datasource", source["uid"])
    names = [v["name"] for v in board["templating"]["list"]]
    assert names == ["datasource", "job", "model", "service"]
    links = {link["url"] for link in board["links"]}
    assert links == {"/d/modelphase-executive", "/d/modelphase-debug"}


def test_uids_and_files_are_the_same_on_every_run(cli: RunCli, tmp_path: Path) -> None:
    texts = []
    for run in ("a", "b"):
        out = tmp_path / run
        assert cli("grafana", "dashboards", "--out", str(out), "--grafana-path", "/g").code == 0
        texts.append({p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()})
    assert texts[0] == texts[1]
    uids = {json.loads(texts[0][f"modelphase-{n}.json"])["uid"] for n in DASHBOARDS}
    assert uids == {"modelphase-executive", "modelphase-on-call", "modelphase-debug"}


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--prometheus-url", "localhost:9090"], "--prometheus-url"),
        (["--prometheus-url", "http://user:pw@prom:9090"], "without credentials"),
        (["--prometheus-url", "http://"], "--prometheus-url"),
        (["--folder", ""], "--folder"),
        (["--grafana-path", "relative/path"], "--grafana-path"),
    ],
)
def test_bad_options_are_one_line(
    cli: RunCli, tmp_path: Path, args: list[str], needle: str
) -> None:
    out = tmp_path / "grafana"
    result = cli("grafana", "dashboards", "--out", str(out), *args)
    assert result.code == 1
    assert needle in result.stderr
    assert "pw" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_an_out_that_is_a_file_is_one_line(cli: RunCli, tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    result = cli("grafana", "dashboards", "--out", str(target))
    assert result.code == 1
    assert "--out" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_missing_sdk_names_the_extra(
    cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    for name in [m for m in sys.modules if m.split(".")[0] == "grafana_foundation_sdk"]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "grafana_foundation_sdk", None)
    result = cli("grafana", "dashboards", "--out", str(tmp_path / "g"))
    assert result.code == 1
    assert "pip install 'modelphase[grafana]'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
