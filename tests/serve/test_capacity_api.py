"""The capacity endpoints over real HTTP: a live server whose plans read the hourly
forecaster of the registry and demand from a real Prometheus on loopback (backfilled
gauges, one ending in a surge); the plans against what the planner computes from the
same data, the metrics as Prometheus reads them (and Prometheus scraping them), the
clamp, the cache and alias moves, the posted plans and their refusals."""

from __future__ import annotations

import json
import math
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from modelphase.decide.capacity import forecast_demand, plan_capacity
from modelphase.decide.capacity.plans_file import parse_capacity_plans
from modelphase.forecast.trained import TrainedForecaster
from modelphase.frame import NS_PER_SECOND, Panel
from modelphase.ingest import PrometheusClient, RetryPolicy
from modelphase.serve.capacity_api import CapacityConfig
from serve.harness import FORECASTER, FakeClock, Live, Runs, prepare, running, wait_for
from serve.test_slo_api import HeldPrometheus
from support.cli import RunCli
from support.prometheus import PrometheusServer, find_binaries, write_openmetrics
from support.scraper import Scraper

pytestmark = pytest.mark.prometheus

HOUR = 3600 * NS_PER_SECOND
START = 1_767_225_600 * NS_PER_SECOND  # 2026-01-01T00:00:00Z
N = 4 * 24  # four days of hourly demand
SURGE = 400.0  # the surge's last hour: 4x its usual level

PLANS = """\
plans:
  - service: checkout
    model: web-load@production
    demand: 'sum(demand{service="checkout"})'
    history: 3d
    capacity: 10
    risk: 0.025
    startup: 1h
    stabilise: 2h
    max_replicas: 40
  - service: surge
    model: web-load@production
    demand: 'sum(demand{service="surge"})'
    history: 3d
    capacity: 10
    risk: 0.025
    startup: 1h
    stabilise: 0
    max_replicas: 40
    clamp: {margin: 0.2, max_factor: 3}
  - service: ghost
    model: web-load@production
    demand: 'sum(demand{service="ghost"})'
    history: 3d
    capacity: 10
    risk: 0.025
    startup: 1h
  - service: strict
    model: web-load@production
    demand: 'sum(demand{service="checkout"})'
    history: 3d
    capacity: 10
    risk: 0.01
    startup: 1h
"""


class Data:
    def __init__(self, url: str, ds: Any, demand: dict[str, Any]) -> None:
        self.url, self.ds, self.demand = url, ds, demand
        self.end_ns = int(ds[-1])


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Data]:
    """Four days of hourly demand of checkout and surge (whose last hour is 4x)."""
    rng = np.random.default_rng(7)
    ds = START + np.arange(N, dtype=np.int64) * HOUR
    shape = 100 + 30 * np.sin(2 * np.pi * np.arange(N) / 24)
    demand = {
        "checkout": np.round(shape + rng.normal(0, 3, N), 3),
        "surge": np.round(shape + rng.normal(0, 3, N), 3),
    }
    demand["surge"][-1] = SURGE
    series = {
        f'demand{{service="{s}"}}': ({"__name__": "demand", "service": s}, ds, y)
        for s, y in demand.items()
    }
    server = PrometheusServer(write_openmetrics(series), tmp_path_factory.mktemp("prometheus"))
    with server:
        yield Data(server.url, ds, demand)


@pytest.fixture(scope="module")
def client(data: Data) -> Iterator[PrometheusClient]:
    with PrometheusClient(data.url, retry=RetryPolicy(retries=0)) as found:
        yield found


def capacity_config(client: Any, data: Data, **options: Any) -> CapacityConfig:
    """The plans, ten minutes after the last hour of demand."""
    options = {"now": lambda: data.end_ns + 600 * NS_PER_SECOND, **options}
    return CapacityConfig.of(
        {"plans.yaml": parse_capacity_plans(PLANS)}, prometheus=client, **options
    )


@pytest.fixture(scope="module")
def live(
    tmp_path_factory: pytest.TempPathFactory, runs: Runs, data: Data, client: PrometheusClient
) -> Iterator[Live]:
    home = tmp_path_factory.mktemp("capacity") / "home"
    setup = prepare(home, runs)
    with running(setup, home, capacity=capacity_config(client, data)) as server:
        yield server


def call(live: Live, method: str, path: str, token: str | None = None, **kw: Any) -> httpx.Response:
    assert live.setup is not None
    headers = {} if token == "" else {"authorization": f"Bearer {token or live.setup.viewer}"}
    return httpx.request(method, live.url + path, headers=headers, timeout=60, **kw)


def refused(response: httpx.Response, status: int, error: str) -> str:
    """The refusal's one-line detail, once its status, shape and name are checked."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "detail"}
    assert body["error"] == error
    assert isinstance(body["detail"], str)
    assert "\n" not in body["detail"]
    assert "Traceback" not in body["detail"]
    return str(body["detail"])


def samples(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        assert family.type == "gauge"
        for sample in family.samples:
            out.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return out


def forecaster(live: Live, version: int = 1) -> TrainedForecaster:
    assert live.setup is not None
    with live.setup.registry() as reg:
        return TrainedForecaster.from_bytes(reg.load_artifact(FORECASTER, version))


def expected_plan(live: Live, data: Data, service: str, **settings: Any) -> Any:
    """The plan the planner makes from the last 3 days of the known demand."""
    keep = slice(N - 72, N)
    panel = Panel.from_series([(service, data.ds[keep], data.demand[service][keep])], step=HOUR)
    fc = forecast_demand(panel, None, 0.025, forecaster=forecaster(live))
    return plan_capacity(fc, capacity=10, risk=0.025, step=HOUR, startup=HOUR, **settings)


# ------------------------------------------------------------------------ endpoints


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/capacity"),
        ("GET", "/v1/capacity/checkout/plan"),
        ("GET", "/v1/capacity/metrics"),
        ("POST", "/v1/capacity/plan"),
    ],
)
def test_a_viewer_token_is_required(live: Live, method: str, path: str) -> None:
    assert live.setup is not None
    r = call(live, method, path, token="", content=b"{}")
    assert "Authorization: Bearer" in refused(r, 401, "unauthenticated")
    refused(
        call(live, method, path, token=live.setup.revoked, content=b"{}"), 401, "unauthenticated"
    )


def test_the_plans_are_listed(live: Live) -> None:
    r = call(live, "GET", "/v1/capacity")
    assert r.status_code == 200, r.text
    plans = {p["service"]: p for p in r.json()["plans"]}
    assert list(plans) == ["checkout", "surge", "ghost", "strict"]
    assert plans["checkout"] == {
        "service": "checkout", "model": "web-load@production",
        "demand": 'sum(demand{service="checkout"})', "history": "3d", "capacity": 10.0,
        "risk": 0.025, "startup": "1h", "stabilise": "2h", "min_replicas": 1,
        "max_replicas": 40, "clamp": None,
    }  # fmt: skip
    assert plans["surge"]["clamp"] == {"margin": 0.2, "max_factor": 3.0}


def test_the_plan_is_the_planners_and_recommends_the_step_after_startup(
    live: Live, data: Data
) -> None:
    r = call(live, "GET", "/v1/capacity/checkout/plan")
    assert r.status_code == 200, r.text
    out = r.json()
    plan = expected_plan(live, data, "checkout", stabilise=2 * HOUR, max_replicas=40)
    expected = plan.to_dict()
    assert out["steps"] == expected["steps"]
    assert out["series"] == expected["series"]
    assert (out["model"], out["version"]) == ("web-load@production", 1)
    # now is 10 min past the last hour: replicas asked for now serve from 1h10m later,
    # the second step of the forecast
    rec = out["recommended"]
    assert rec["ds"] == out["steps"][1]["ds"]
    assert rec["ask_at"] == out["steps"][0]["ds"]
    assert rec["plan_replicas"] == plan.table["replicas"].iloc[1]
    floor = math.ceil(data.demand["checkout"][-1] / 10)
    assert rec["reactive_replicas"] == floor
    assert out["recommended_replicas"] == min(40, max(1, floor, rec["plan_replicas"]))
    assert set(out["demand_forecast"]) == {"0.025", "0.1", "0.5", "0.9", "0.975"}
    assert out["demand_forecast"]["0.975"] == pytest.approx(out["steps"][1]["demand_hi"])
    assert int(r.headers["age"]) == 0


def test_the_surge_is_met_by_the_reactive_floor_less_its_margin(live: Live, data: Data) -> None:
    out = call(live, "GET", "/v1/capacity/surge/plan").json()
    plan = expected_plan(live, data, "surge", stabilise=0, max_replicas=40)
    planned = int(plan.table["replicas"].iloc[1])
    assert out["recommended"]["plan_replicas"] == planned
    reactive = math.ceil(SURGE / 10)
    assert planned < math.ceil(0.8 * reactive)  # the forecast has not seen the surge
    assert out["recommended"]["bound"] == "reactive_floor"
    assert out["recommended_replicas"] == math.ceil(0.8 * reactive)
    assert out["recommended"]["peak_replicas"] == reactive  # the cap: 3x, far above


def test_the_metrics_parse_equal_the_plans_and_pass_promtool(live: Live) -> None:
    r = call(live, "GET", "/v1/capacity/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    found = samples(r.text)
    assert set(found) == {
        "modelphase_capacity_recommended_replicas",
        "modelphase_capacity_demand_forecast",
        "modelphase_capacity_replica_capacity",
        "modelphase_capacity_plan_up",
        "modelphase_capacity_plan_age_seconds",
    }
    up = {labels["service"]: v for labels, v in found["modelphase_capacity_plan_up"]}
    assert up == {"checkout": 1.0, "surge": 1.0, "ghost": 0.0, "strict": 0.0}
    replicas = {
        labels["service"]: v for labels, v in found["modelphase_capacity_recommended_replicas"]
    }
    assert set(replicas) == {"checkout", "surge"}
    for service in replicas:
        plan = call(live, "GET", f"/v1/capacity/{service}/plan").json()
        assert replicas[service] == plan["recommended_replicas"]
        quantiles = {
            labels["quantile"]: v
            for labels, v in found["modelphase_capacity_demand_forecast"]
            if labels["service"] == service
        }
        assert quantiles == pytest.approx(plan["demand_forecast"])
    capacity = {labels["service"]: v for labels, v in found["modelphase_capacity_replica_capacity"]}
    assert capacity == dict.fromkeys(up, 10.0)
    checked = subprocess.run(
        [find_binaries()[1], "check", "metrics"], input=r.text, capture_output=True, text=True
    )
    # promtool's lint keeps the quantile label to summaries; the forecast's quantiles are
    # gauges by design (each is its own series for KEDA to read), the only lint allowed
    lint = 'modelphase_capacity_demand_forecast non-summary metrics should not have "quantile"'
    others = [line for line in (checked.stdout + checked.stderr).splitlines() if lint not in line]
    assert others == []


def test_a_query_that_matches_nothing_is_502_naming_it(live: Live) -> None:
    detail = refused(call(live, "GET", "/v1/capacity/ghost/plan"), 502, "prometheus_no_series")
    assert 'sum(demand{service="ghost"})' in detail


def test_a_model_without_the_risks_interval_is_502_in_one_line(live: Live) -> None:
    detail = refused(call(live, "GET", "/v1/capacity/strict/plan"), 502, "plan_unavailable")
    assert detail.startswith("the capacity plan of strict: a plan at risk 0.01 needs the ")
    assert "98% interval; it has levels: 80, 95" in detail


def test_an_unknown_service_is_404(live: Live) -> None:
    detail = refused(call(live, "GET", "/v1/capacity/nope/plan"), 404, "not_found")
    assert "capacity plans (checkout, ghost, strict, surge), got 'nope'" in detail


def test_the_routes_are_documented(live: Live) -> None:
    spec = httpx.get(live.url + "/openapi.json").json()
    for path in ("/v1/capacity", "/v1/capacity/{service}/plan", "/v1/capacity/metrics"):
        assert spec["paths"][path]["get"]["tags"] == ["capacity"]
    post = spec["paths"]["/v1/capacity/plan"]["post"]
    body = post["requestBody"]["content"]["application/json"]["schema"]
    assert {"demand", "freq", "capacity"} <= set(body["required"])
    assert body["properties"]["demand"]["items"]["properties"]["y"]["minimum"] == 0
    assert {"401", "404", "502", "503", "504"} <= set(
        spec["paths"]["/v1/capacity/{service}/plan"]["get"]["responses"]
    )


# ---------------------------------------------------------------- cache and aliases


def test_a_plan_is_cached_for_its_ttl_and_follows_an_alias_move(
    tmp_path: Path, runs: Runs, data: Data, client: PrometheusClient
) -> None:
    clock = FakeClock()
    setup = prepare(tmp_path / "home", runs)
    config = capacity_config(client, data, clock=clock, ttl=60.0)
    with running(setup, setup.home, capacity=config) as server:

        def computed() -> float:
            return server.metric("modelphase_capacity_plan_computations_total", service="checkout")

        first = call(server, "GET", "/v1/capacity/checkout/plan")
        clock.advance(59.0)
        again = call(server, "GET", "/v1/capacity/checkout/plan")
        assert (again.json(), again.headers["age"], computed()) == (first.json(), "59", 1.0)
        with setup.registry() as reg:
            reg.promote(FORECASTER, 2, "production")
        clock.advance(2.0)
        moved = call(server, "GET", "/v1/capacity/checkout/plan")
        assert (moved.json()["version"], moved.headers["age"], computed()) == (2, "0", 2.0)
        assert moved.json()["steps"] != first.json()["steps"]


def test_plans_past_the_concurrency_are_503_and_a_late_query_is_504(
    tmp_path: Path, runs: Runs, data: Data, client: PrometheusClient
) -> None:
    held = HeldPrometheus(client)
    setup = prepare(tmp_path / "home", runs)
    with running(setup, setup.home, capacity=capacity_config(held, data, concurrency=1)) as server:
        answers: list[httpx.Response] = []
        waiting = threading.Thread(
            target=lambda: answers.append(call(server, "GET", "/v1/capacity/checkout/plan"))
        )
        waiting.start()
        wait_for(lambda: held.holding == 1, what="the first plan to be computing")
        r = call(server, "GET", "/v1/capacity/surge/plan")
        assert "expected at most 1 capacity plans computed at once" in refused(r, 503, "overloaded")
        assert r.headers["retry-after"] == "5"
        r = call(server, "POST", "/v1/capacity/plan", json=posted_body(data))
        refused(r, 503, "overloaded")
        held.release.set()
        waiting.join(60)
        assert [a.status_code for a in answers] == [200]
    ticks = iter(range(0, 10**6, 100))  # every look at the clock is 100 s later
    config = capacity_config(client, data, clock=lambda: float(next(ticks)))
    with running(setup, setup.home, capacity=config) as server:
        r = call(server, "GET", "/v1/capacity/checkout/plan")
    detail = refused(r, 504, "prometheus_timeout")
    assert "the capacity plan of checkout ran out of time before its query" in detail


# ------------------------------------------------------------------------ posted


def posted_body(data: Data, **changes: Any) -> dict[str, Any]:
    """The checkout's last 3 days, as a caller would post them (RFC 3339 and seconds)."""
    points = [
        {"unique_id": "api", "ds": int(t // NS_PER_SECOND) if i % 2 else None, "y": float(y)}
        for i, (t, y) in enumerate(zip(data.ds[-72:], data.demand["checkout"][-72:], strict=True))
    ]
    for p, t in zip(points, data.ds[-72:], strict=True):
        if p["ds"] is None:
            p["ds"] = np.datetime_as_string(np.datetime64(int(t), "ns"), unit="s") + "Z"
    body = {"demand": points, "freq": "1h", "capacity": 10, "risk": 0.025, "startup": "1h"}
    return {**body, "model": "web-load@production", "max_replicas": 40, **changes}


def test_a_posted_plan_is_the_planners(live: Live, data: Data) -> None:
    r = call(live, "POST", "/v1/capacity/plan", json=posted_body(data, h=12))
    assert r.status_code == 200, r.text
    panel = Panel.from_series([("api", data.ds[-72:], data.demand["checkout"][-72:])], step=HOUR)
    fc = forecast_demand(panel, 12, 0.025, forecaster=forecaster(live))
    plan = plan_capacity(fc, capacity=10, risk=0.025, step=HOUR, startup=HOUR, max_replicas=40)
    assert r.json() == plan.to_dict()


def test_a_posted_plan_without_a_model_uses_the_forecasting_stack(live: Live, data: Data) -> None:
    body = posted_body(data, h=6, risk=0.01)
    del body["model"]
    r = call(live, "POST", "/v1/capacity/plan", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["level"], len(out["steps"])) == (98.0, 6)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"capacity": 0}, "capacity: expected a number of at least 0.001, got 0"),
        ({"risk": 0.7}, "risk: expected a number below 0.5, got 0.7"),
        ({"h": 10_081}, "h: expected a number of at most 10080, got 10081"),
        ({"demand": [{"unique_id": "a", "ds": 60 * i, "y": 1} for i in range(50_001)]},
         "demand: expected at most 50000 item(s), got 50001"),
        ({"risk": 0.01}, "a plan at risk 0.01 needs the forecaster's 98% interval; it has "
         "levels: 80, 95"),
        ({"freq": "1m"}, "freq: expected the model's step 1h, got '1m'"),
        ({"model": "web-load"}, "model: expected a registered forecaster NAME@ALIAS"),
        ({"startup": "90m"}, "expected a start-up delay of whole steps"),
        ({"capacity": "10"}, "capacity: expected a number, got '10'"),
        ({"replicas": 3}, "replicas: expected a known field, got an unknown one"),
        ({"demand": [{"unique_id": "a", "ds": "yesterday", "y": 1}]},
         "demand.0.ds: expected an RFC 3339 time with a zone or Unix seconds"),
    ],
)  # fmt: skip
def test_bad_posted_plans_are_422_in_one_line(
    live: Live, data: Data, changes: dict[str, Any], message: str
) -> None:
    r = call(live, "POST", "/v1/capacity/plan", json=posted_body(data, **changes))
    assert message in refused(r, 422, "invalid_request")


def test_a_posted_body_that_is_not_a_json_object_is_422_in_one_line(live: Live) -> None:
    for raw in (b"", b"[1, 2]", b"{"):
        r = call(live, "POST", "/v1/capacity/plan", content=raw)
        assert "expected the plan request as a JSON object" in refused(r, 422, "invalid_request")


def test_a_posted_grid_too_large_is_refused_before_it_is_built(live: Live) -> None:
    body = {"demand": [{"unique_id": "a", "ds": 0, "y": 1}, {"unique_id": "a", "ds": 4e9, "y": 1}],
            "freq": "1s", "h": 1, "capacity": 1}  # fmt: skip
    detail = refused(call(live, "POST", "/v1/capacity/plan", json=body), 422, "invalid_request")
    assert "demand: expected at most 50,000 points on the grid (gaps included)" in detail


# ----------------------------------------------------------- Prometheus scrapes it


def test_prometheus_scrapes_the_plans_for_keda_with_a_bearer_token(
    tmp_path: Path, live: Live, wait_for: Callable[..., Any]
) -> None:
    assert live.setup is not None
    wanted = call(live, "GET", "/v1/capacity/checkout/plan").json()["recommended_replicas"]
    with Scraper(tmp_path, live.url, "/v1/capacity/metrics", live.setup.viewer) as prometheus:
        wait_for(lambda: prometheus.query('up{job="modelphase"} == 1'), what="a scrape")
        # the query the KEDA ScaledObject's plan trigger reads (modelphase capacity keda)
        found = prometheus.query(
            'max(modelphase_capacity_recommended_replicas{service="checkout"})'
        )
        assert float(found[0]["value"][1]) == wanted


# ------------------------------------------------------------------ modelphase serve


def test_modelphase_serve_refuses_plans_it_cannot_serve(
    cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MODELPHASE_PROMETHEUS_URL", raising=False)
    plans = tmp_path / "plans.yaml"
    plans.write_text(PLANS)
    r = cli("serve", "--capacity-plans", str(plans))
    assert r.code == 2
    assert "--capacity-plans needs a Prometheus: pass --prometheus URL" in r.stderr
    url = "http://127.0.0.1:9"
    bad = tmp_path / "bad.yaml"
    bad.write_text(PLANS.replace("max_replicas: 40", "max_replica: 40", 1))
    r = cli("serve", "--prometheus", url, "--capacity-plans", str(bad))
    assert r.code == 1
    assert "plans.0.max_replica: expected a known field, got an unknown one" in " ".join(
        r.stderr.split()
    )
    again = tmp_path / "again.yaml"
    again.write_text(PLANS)
    r = cli("serve", "--prometheus", url, "--capacity-plans", str(plans), "--capacity-plans",
            str(again))  # fmt: skip
    assert r.code == 1
    assert "expected each capacity plan's service once, got 'checkout'" in " ".join(
        r.stderr.split()
    )
    assert "Traceback" not in r.stderr


# ------------------------------------------------ warm plans and trade-offs over HTTP


def test_posted_warm_plans_are_the_planners(live: Live) -> None:
    from modelphase.decide.capacity import warm_plans

    t0 = 1_767_225_600
    cron = [t0 + 60 * m for m in range(0, 600, 15)]  # every 15 minutes
    body = {"functions": {"cron": cron, "late": [t0 + 60 * 900]}, "now": t0 + 600 * 60,
            "cost_ratio": 10, "horizon": 30}  # fmt: skip
    r = call(live, "POST", "/v1/capacity/warm", json=body)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["skipped"] == ["late"]  # never invoked before now
    (plan,) = answer["plans"]
    (expected,) = warm_plans(["cron"], [list(range(0, 600, 15))], 600, cost_ratio=10,
                             horizon=30)  # fmt: skip
    assert plan == json.loads(json.dumps(expected.to_dict()))
    assert plan["prewarm_minutes"] >= 10  # nothing comes for 14 minutes: unload, pre-warm
    assert len(plan["p_invocation"]) == 30
    assert call(live, "POST", "/v1/capacity/warm", token="", json=body).status_code == 401


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"functions": {"f": [1, 2]}, "now": 600, "cost_ratio": 0}, "cost_ratio"),
        ({"functions": {"f": [1, 2]}}, "now: expected"),
        ({"functions": [], "now": 600}, "functions: expected"),
        ({"functions": {"f": [1]}, "now": 600, "colour": "red"}, "expected the keys"),
        ({"functions": {"f": ["soon"]}, "now": 600}, "expected a number"),
    ],
)
def test_bad_warm_requests_are_422_in_one_line(
    live: Live, body: dict[str, Any], message: str
) -> None:
    detail = refused(call(live, "POST", "/v1/capacity/warm", json=body), 422, "invalid_request")
    assert message in detail


def test_a_posted_tradeoff_is_the_planners_and_bad_ones_are_422(live: Live) -> None:
    from modelphase.decide.capacity import tradeoff_json
    from modelphase.simulate.resources import ResourceModel, resource_telemetry

    rows = resource_telemetry(
        ResourceModel(core_rate={"a": 40.0}), [(2.0, 8.0, "a"), (4.0, 8.0, "a")], days=2, seed=3
    )
    body = {
        "telemetry": {c: rows[c].tolist() for c in ("rps", "p99", "replicas", "cpu")},
        "latency_column": "p99", "load_column": "rps", "replicas_column": "replicas",
        "cpu_column": "cpu", "slo_latency": 0.3, "load": 800, "risk": 0.05,
        "prices": {"core_hour": 0.04},
    }  # fmt: skip
    r = call(live, "POST", "/v1/capacity/tradeoff", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["chosen"] == tradeoff_json(body)["chosen"]
    bad = refused(
        call(live, "POST", "/v1/capacity/tradeoff", json=body | {"load": -1}), 422,
        "invalid_request",
    )  # fmt: skip
    assert "load" in bad
