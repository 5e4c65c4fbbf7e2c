"""The SLO endpoints over real HTTP: a live server whose SLOs read a real Prometheus
on loopback (counters backfilled with a fast burn at the end); the token they need,
the status against what :func:`slo_status` computes, the metrics as Prometheus reads
them (and Prometheus scraping them), the cache, the limits and the errors."""

from __future__ import annotations

import re
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from modelphase.decide.slo import WORKBOOK, parse_slos, plan_rules, slo_status
from modelphase.decide.slo.fetch import events_from_prometheus
from modelphase.frame import NS_PER_SECOND, parse_duration
from modelphase.ingest import PrometheusClient, RetryPolicy
from modelphase.serve.slo_api import SloConfig
from serve.harness import FakeClock, Live, Runs, prepare, running, wait_for
from support.cli import RunCli
from support.net import free_port
from support.prometheus import PrometheusServer, find_binaries, write_openmetrics
from support.slo import SLO_TEXT

pytestmark = pytest.mark.prometheus

MIN = 60 * NS_PER_SECOND
START = 1_767_225_600 * NS_PER_SECOND  # 2026-01-01T00:00:00Z
STEP = 300
AVAILABILITY, LATENCY = "api-availability", "api-latency"  # latency's metric is never there


class Data:
    def __init__(self, url: str, end_ns: int) -> None:
        self.url, self.end_ns = url, end_ns


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Data]:
    """Three days of per-minute counters; the last two hours at 3% errors (30x a 99.9%
    budget: page-quick fires)."""
    n = 3 * 1440
    rng = np.random.default_rng(4)
    total = rng.poisson(6000 * (1 + 0.4 * np.sin(np.arange(n) * 2 * np.pi / 1440)))
    errors = rng.binomial(total, 0.0005).astype(float)
    errors[-120:] = np.round(total[-120:] * 0.03)
    ds = START + np.arange(n) * MIN
    series = {}
    for name, counts in (("http_requests_total", total), ("http_requests_errors_total", errors)):
        labels = {"__name__": name, "service": "api"}
        series[f'{name}{{service="api"}}'] = (labels, ds, np.cumsum(counts))
    server = PrometheusServer(write_openmetrics(series), tmp_path_factory.mktemp("prometheus"))
    with server:
        yield Data(server.url, int(ds[-1]))


@pytest.fixture(scope="module")
def client(data: Data) -> Iterator[PrometheusClient]:
    with PrometheusClient(data.url, retry=RetryPolicy(retries=0)) as found:
        yield found


def slo_config(client: Any, data: Data, **options: Any) -> SloConfig:
    plans, _ = plan_rules(parse_slos(SLO_TEXT).slos, WORKBOOK, period=30 * 86_400)
    options = {"now": lambda: data.end_ns, "step": STEP, **options}
    return SloConfig.of({"slo.yaml": plans}, prometheus=client, **options)


@pytest.fixture(scope="module")
def live(
    tmp_path_factory: pytest.TempPathFactory, runs: Runs, data: Data, client: PrometheusClient
) -> Iterator[Live]:
    home = tmp_path_factory.mktemp("slo") / "home"
    setup = prepare(home, runs)
    with running(setup, home, slo=slo_config(client, data)) as server:
        yield server


def get(live: Live, path: str, token: str | None = None, **params: str) -> httpx.Response:
    assert live.setup is not None
    headers = {}
    if token != "":
        headers["authorization"] = f"Bearer {token or live.setup.viewer}"
    return httpx.get(live.url + path, params=params, headers=headers, timeout=60)


def refused(response: httpx.Response, status: int, error: str) -> str:
    """The refusal's one-line detail, once its status, shape and name are checked."""
    assert response.status_code == status, response.text
    assert "Traceback" not in response.text
    body = response.json()
    assert set(body) == {"error", "detail"}
    assert body["error"] == error
    assert isinstance(body["detail"], str)
    assert "\n" not in body["detail"]
    return str(body["detail"])


def status_path(slo: str = AVAILABILITY) -> str:
    return f"/v1/slo/{slo}/status"


# ------------------------------------------------------------------------ endpoints


@pytest.mark.parametrize("path", ["/v1/slo", status_path(), "/v1/slo/metrics"])
def test_a_token_is_required(live: Live, path: str) -> None:
    r = get(live, path, token="")
    assert "Authorization: Bearer" in refused(r, 401, "unauthenticated")
    assert r.headers["www-authenticate"] == "Bearer"
    assert live.setup is not None
    refused(get(live, path, token=live.setup.revoked), 401, "unauthenticated")
    refused(get(live, path, token="not-a-token"), 401, "unauthenticated")


def test_the_slos_are_listed(live: Live) -> None:
    r = get(live, "/v1/slo")
    assert r.status_code == 200, r.text
    assert r.json()["slos"] == [
        {"slo": AVAILABILITY, "service": "api", "name": "availability", "objective": 99.9}
        | {"period": 30 * 86_400},
        {"slo": LATENCY, "service": "api", "name": "latency", "objective": 99.0}
        | {"period": 30 * 86_400},
    ]


def test_the_status_is_what_slo_status_computes(
    live: Live, data: Data, client: PrometheusClient
) -> None:
    r = get(live, status_path(), forecast="false")
    assert r.status_code == 200, r.text
    out = r.json()
    (plan,) = [
        p for p in plan_rules(parse_slos(SLO_TEXT).slos, WORKBOOK)[0] if p.slo.id == AVAILABILITY
    ]
    step = STEP * NS_PER_SECOND
    end = data.end_ns - data.end_ns % step
    events = events_from_prometheus(
        client, plan.slo, start=end - plan.period * NS_PER_SECOND + step, end=end, step=step
    )
    expected = slo_status(plan.slo, events, plan.windows, forecast=False).to_dict()
    assert out == expected
    assert out["exhaustion"] is None
    burn = {b["window"]: b["burn_rate"] for b in out["burn"]}
    assert burn[3600] == pytest.approx(30.0, rel=0.05)
    assert {a["tier"]: a["firing"] for a in out["alerts"]}["page-quick"]
    assert out["as_of"] == end / NS_PER_SECOND


def test_a_status_with_its_forecast(live: Live) -> None:
    r = get(live, status_path(), horizon="7d", level="90")
    assert r.status_code == 200, r.text
    ex = r.json()["exhaustion"]
    assert ex is not None
    assert ex["level"] == 90


def test_the_metrics_parse_and_pass_promtool(live: Live) -> None:
    r = get(live, "/v1/slo/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(r.text):
        assert family.type == "gauge"
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    up = {labels["sloth_id"]: value for labels, value in samples["modelphase_slo_status_up"]}
    assert up == {AVAILABILITY: 1.0, LATENCY: 0.0}  # latency's query matches nothing
    burn = {
        labels["window"]: value
        for labels, value in samples["modelphase_slo_burn_rate"]
        if labels["sloth_id"] == AVAILABILITY
    }
    assert burn["1h"] == pytest.approx(30.0, rel=0.05)
    bounds = {labels["bound"] for labels, _ in samples["modelphase_slo_budget_exhaustion_seconds"]}
    assert bounds == {"earliest", "expected", "latest"}
    checked = subprocess.run(
        [find_binaries()[1], "check", "metrics"], input=r.text, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # the same status as the endpoint's defaults: one computation for both
    assert (
        get(live, status_path()).json()["as_of"]
        == samples["modelphase_slo_status_timestamp_seconds"][0][1]
    )


def test_a_query_that_matches_nothing_is_502_naming_it(live: Live) -> None:
    detail = refused(get(live, status_path(LATENCY)), 502, "prometheus_no_series")
    assert "the query '1 - avg(rate(fast_total[5m]))' matched no series" in detail


def test_an_unknown_slo_is_404(live: Live) -> None:
    detail = refused(get(live, status_path("nope")), 404, "not_found")
    assert "expected one of this server's SLOs (api-availability, api-latency), got 'nope'" in (
        detail
    )


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"horizon": "30m"}, "horizon: expected a duration from 1h to 366d, got '30m'"),
        ({"horizon": "400d"}, "horizon: expected a duration from 1h to 366d, got '400d'"),
        ({"horizon": "soon"}, "horizon: expected a duration from 1h to 366d, got 'soon'"),
        ({"level": "0"}, "level: expected a percentage between 0 and 100, got '0'"),
        ({"level": "100"}, "level: expected a percentage between 0 and 100, got '100'"),
        ({"level": "nan"}, "level: expected a percentage between 0 and 100, got 'nan'"),
        ({"level": "high"}, "level: expected a percentage between 0 and 100, got 'high'"),
        ({"forecast": "maybe"}, "forecast: expected true or false, got 'maybe'"),
        ({"horizn": "7d"}, "expected the query parameters forecast, horizon and level, "
         "got 'horizn'"),
    ],
)  # fmt: skip
def test_bad_parameters_are_422_in_one_line(
    live: Live, params: dict[str, str], message: str
) -> None:
    assert message in refused(get(live, status_path(), **params), 422, "invalid_request")


def test_the_routes_are_documented(live: Live) -> None:
    spec = httpx.get(live.url + "/openapi.json").json()
    for path in ("/v1/slo", "/v1/slo/{slo_id}/status", "/v1/slo/metrics"):
        route = spec["paths"][path]["get"]
        assert route["tags"] == ["slo"]
        assert route["summary"]
    assert {"401", "404", "422", "502", "503", "504"} <= set(
        spec["paths"]["/v1/slo/{slo_id}/status"]["get"]["responses"]
    )


# ------------------------------------------------------------ cache, limits, time


def test_a_status_is_cached_for_its_ttl(
    tmp_path: Path, runs: Runs, data: Data, client: PrometheusClient
) -> None:
    clock = FakeClock()
    start = clock()

    def now() -> int:  # the wall clock moves with the monotonic one, within the data
        return data.end_ns - 30 * MIN + round((clock() - start) * NS_PER_SECOND)

    setup = prepare(tmp_path / "home", runs)
    config = slo_config(client, data, clock=clock, now=now, ttl=60.0)
    with running(setup, setup.home, slo=config) as server:

        def computed() -> float:
            return server.metric(
                "modelphase_slo_status_computations_total", slo=AVAILABILITY, outcome="ok"
            )

        first = get(server, status_path(), forecast="false")
        clock.advance(59.0)
        again = get(server, status_path(), forecast="false")
        assert again.json()["as_of"] == first.json()["as_of"]
        assert (computed(), again.headers["age"]) == (1.0, "59")
        clock.advance(600.0)
        later = get(server, status_path(), forecast="false")
        assert later.json()["as_of"] == first.json()["as_of"] + 600
        assert (computed(), later.headers["age"]) == (2.0, "0")
        get(server, status_path(), forecast="false", level="90")  # another query: its own
        assert computed() == 3.0


class HeldPrometheus:
    """The real client, except that queries wait for :attr:`release`."""

    def __init__(self, inner: PrometheusClient) -> None:
        self.inner = inner
        self.release = threading.Event()
        self.holding = 0

    def query_range(self, query: str, start: int, end: int, step: int) -> Any:
        self.holding += 1
        self.release.wait(120)  # a bound so that a failing test never hangs
        return self.inner.query_range(query, start, end, step)


def test_statuses_past_the_concurrency_are_503_and_the_same_one_is_shared(
    tmp_path: Path, runs: Runs, data: Data, client: PrometheusClient
) -> None:
    held = HeldPrometheus(client)
    setup = prepare(tmp_path / "home", runs)
    config = slo_config(held, data, concurrency=1)
    with running(setup, setup.home, slo=config) as server:
        answers: list[httpx.Response] = []
        waiting = [
            threading.Thread(
                target=lambda: answers.append(get(server, status_path(), forecast="false"))
            )
            for _ in range(2)
        ]
        for thread in waiting:
            thread.start()
        wait_for(lambda: held.holding == 1, what="the first status to be computing")
        r = get(server, status_path(), forecast="false", level="90")
        assert "expected at most 1 SLO statuses computed at once" in refused(r, 503, "overloaded")
        assert r.headers["retry-after"] == "5"
        held.release.set()
        for thread in waiting:
            thread.join(60)
        assert [a.status_code for a in answers] == [200, 200]
        assert answers[0].json() == answers[1].json()
        assert server.metric("modelphase_slo_status_computations_total", slo=AVAILABILITY) == 1


def test_a_status_past_the_time_limit_is_504(
    tmp_path: Path, runs: Runs, data: Data, client: PrometheusClient
) -> None:
    ticks = iter(range(10**6))  # every look at the clock is a second later
    setup = prepare(tmp_path / "home", runs)
    config = slo_config(client, data, clock=lambda: float(next(ticks)), timeout=1.5)
    with running(setup, setup.home, slo=config) as server:
        r = get(server, status_path(), forecast="false")
    assert "the status of SLO api-availability ran out of time after 1 queries" in refused(
        r, 504, "prometheus_timeout"
    )


def test_a_prometheus_that_does_not_answer_is_502(tmp_path: Path, runs: Runs, data: Data) -> None:
    setup = prepare(tmp_path / "home", runs)
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    down = PrometheusClient(url, retry=RetryPolicy(retries=0))
    with down, running(setup, setup.home, slo=slo_config(down, data)) as server:
        detail = refused(get(server, status_path()), 502, "prometheus_unavailable")
        metrics = get(server, "/v1/slo/metrics")
    assert "127.0.0.1" in detail
    assert metrics.status_code == 200  # the scrape works; the SLOs are down
    assert 'modelphase_slo_status_up{sloth_id="api-availability"' in metrics.text
    assert "modelphase_slo_burn_rate" not in metrics.text


# ----------------------------------------------------------- Prometheus scrapes it


def test_prometheus_scrapes_the_metrics_with_a_bearer_token(
    tmp_path: Path, live: Live, wait_for: Callable[..., Any]
) -> None:
    prometheus, _ = find_binaries()
    assert live.setup is not None
    token = tmp_path / "modelphase-token"
    token.write_text(live.setup.viewer + "\n")
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1h}\n"
        "scrape_configs:\n"
        "  - job_name: modelphase-slo\n"
        "    metrics_path: /v1/slo/metrics\n"
        "    scrape_timeout: 1s\n"
        f"    authorization: {{credentials_file: {token}}}\n"
        f"    static_configs: [{{targets: ['{live.url.removeprefix('http://')}']}}]\n"
    )
    assert get(live, "/v1/slo/metrics").status_code == 200  # the statuses in the cache
    port = free_port()
    with (tmp_path / "prometheus.log").open("wb") as log:
        process = subprocess.Popen(
            [
                prometheus,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:

        def scraped(query: str) -> list[Any]:
            assert process.poll() is None, (tmp_path / "prometheus.log").read_text()
            try:
                r = httpx.get(
                    f"http://127.0.0.1:{port}/api/v1/query", params={"query": query}, timeout=2
                )
            except httpx.TransportError:
                return []
            return r.json()["data"]["result"] if r.status_code == 200 else []

        wait_for(lambda: scraped('up{job="modelphase-slo"} == 1'), what="a scrape", timeout=60)
        found = scraped('modelphase_slo_burn_rate{sloth_id="api-availability",window="1h"}')
        assert float(found[0]["value"][1]) == pytest.approx(30.0, rel=0.05)
    finally:
        process.terminate()
        process.wait(30)


# ------------------------------------------------------------------ modelphase serve


def test_modelphase_serve_refuses_slos_it_cannot_serve(
    cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MODELPHASE_PROMETHEUS_URL", raising=False)
    slo = tmp_path / "slo.yaml"
    slo.write_text(SLO_TEXT)
    r = cli("serve", "--slo", str(slo))
    assert r.code == 2
    assert "--slo needs a Prometheus: pass --prometheus URL" in r.stderr
    again = tmp_path / "again.yaml"
    again.write_text(SLO_TEXT)
    url = "http://127.0.0.1:9"
    r = cli("serve", "--prometheus", url, "--slo", str(slo), "--slo", str(again))
    assert r.code == 1
    assert f"expected each SLO id once, got 'api-availability' in {slo} and {again}" in " ".join(
        r.stderr.split()
    )
    r = cli("serve", "--prometheus", url, "--slo", str(slo), "--slo-step", "1s")
    assert r.code == 1
    assert "--slo-step: expected whole seconds from 10s to 1d, got 1 s" in r.stderr
    assert "Traceback" not in r.stderr


def test_the_docs_scrape_config_and_curl_match_the_endpoints(live: Live) -> None:
    doc = (Path(__file__).parents[2] / "docs" / "slo.md").read_text()
    section = doc.split("## Over HTTP", 1)[1]
    block = section.split("### Scraped by Prometheus", 1)[1].split("```yaml\n", 1)[1]
    (job,) = yaml.safe_load(block.split("```", 1)[0])["scrape_configs"]
    assert job["metrics_path"] == "/v1/slo/metrics"
    assert job["scrape_interval"] == "5m"
    assert parse_duration(job["scrape_timeout"]) <= parse_duration(job["scrape_interval"])
    assert set(job["authorization"]) == {"credentials_file"}
    curl = re.search(r"curl .*?'(http://\S+)'", section, flags=re.S)
    assert curl is not None
    url = httpx.URL(curl.group(1))
    r = get(live, url.path, **dict(url.params))
    assert r.status_code == 200, r.text


# ------------------------------------------------------------------------ rules


def post_rules(live: Live, body: bytes, token: str | None = None, **params: str) -> httpx.Response:
    assert live.setup is not None
    headers = {"content-type": "application/yaml"}
    if token != "":
        headers["authorization"] = f"Bearer {token or live.setup.viewer}"
    return httpx.post(
        live.url + "/v1/slo/rules", content=body, params=params, headers=headers, timeout=60
    )


def test_rules_over_http_are_the_commands(live: Live, cli: RunCli, tmp_path: Path) -> None:
    """POST /v1/slo/rules answers what `modelphase slo rules` writes, and promtool takes it."""
    path = tmp_path / "slo.yaml"
    path.write_text(SLO_TEXT)
    for windows in ("workbook", "sloth"):
        answer = post_rules(live, SLO_TEXT.encode(), windows=windows, period="28d")
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("application/yaml")
        written = cli("slo", "rules", str(path), "--windows", windows, "--period", "28d")
        assert written.code == 0, written.stderr
        body = lambda text: yaml.safe_load(text)["groups"]  # noqa: E731
        assert body(answer.text) == body(written.stdout)
        rules = tmp_path / f"rules-{windows}.yaml"
        rules.write_text(answer.text)
        checked = subprocess.run(
            [find_binaries()[1], "check", "rules", str(rules)], capture_output=True, text=True
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr


def test_rules_refuse_bad_input_in_one_line(live: Live) -> None:
    assert post_rules(live, SLO_TEXT.encode(), token="").status_code == 401
    detail = refused(post_rules(live, b"version: nope\n"), 422, "invalid_request")
    assert "version" in detail
    bad = SLO_TEXT.replace("objective: 99.9", "objective: 120").encode()
    assert "objective" in refused(post_rules(live, bad), 422, "invalid_request")
    assert "windows" in refused(
        post_rules(live, SLO_TEXT.encode(), windows="/etc/passwd"), 422, "invalid_request"
    )
    minutes = post_rules(live, SLO_TEXT.encode(), period="90s")
    assert "period" in refused(minutes, 422, "invalid_request").lower()
    assert "UTF-8" in refused(post_rules(live, b"\xff\xfe"), 422, "invalid_request")
    huge = b"# " + b"x" * (1 << 20) + b"\n" + SLO_TEXT.encode()
    assert post_rules(live, huge).status_code == 413
