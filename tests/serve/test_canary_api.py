"""The canary endpoints over real HTTP: the JSON Argo Rollouts' web metric provider and
Flagger's webhooks send, to a live server whose analyses read a real Prometheus on
loopback; the token they need, the verdict and its statuses, the limits, and errors
that are one JSON line, never a traceback."""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from decide.canary_data import CanaryData, start_canary_prometheus, write_analyses
from modelphase.decide import CanaryAnalysis, parse_analysis, read_analysis_file
from modelphase.frame import NS_PER_SECOND, format_time
from modelphase.ingest import PrometheusClient, RetryPolicy
from modelphase.serve.decide_api import CanaryConfig
from serve.harness import FakeClock, Live, Runs, Setup, prepare, running
from support.cli import RunCli
from support.net import free_port

pytestmark = pytest.mark.prometheus

JUDGE = "/v1/canary/judge"
FLAGGER = "/v1/canary/flagger"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CanaryData]:
    server, found = start_canary_prometheus(tmp_path_factory.mktemp("prometheus"))
    with server:
        yield found


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, runs: Runs, data: CanaryData) -> Iterator[Live]:
    """A server with the test analyses, its windows ending where the data ends."""
    home = tmp_path_factory.mktemp("canary") / "home"
    setup = prepare(home, runs)
    paths = write_analyses(home.parent / "analyses")
    with PrometheusClient(data.url, retry=RetryPolicy(retries=0)) as client:
        canary = CanaryConfig.of(
            [read_analysis_file(p) for p in paths.values()],
            prometheus=client,
            now=lambda: data.end_ns,
        )
        with running(setup, home, canary=canary) as server:
            yield server


def post(live: Live, path: str, body: Any, token: str | None = None) -> httpx.Response:
    """As Argo and Flagger post: JSON with its content type, the token as a header."""
    headers = {"content-type": "application/json"}
    if token != "":
        headers["authorization"] = f"Bearer {token or live.setup.viewer}"  # type: ignore[union-attr]
    return httpx.post(live.url + path, content=json.dumps(body), headers=headers, timeout=30)


def refused(response: httpx.Response, status: int, error: str) -> str:
    """The refusal's detail, once its status, shape and name are checked."""
    assert response.status_code == status, response.text
    assert "Traceback" not in response.text
    body = response.json()
    assert set(body) == {"error", "detail"}
    assert body["error"] == error
    return json.dumps(body["detail"]) if isinstance(body["detail"], list) else body["detail"]


def argo_body(canary: str, **extra: Any) -> dict[str, Any]:
    body = {"analysis": "checkout", "baseline": {"version": "v1"}, "canary": {"version": canary}}
    return {**body, "window": "30m", **extra}


def flagger_payload(canary: str = "checkout", analysis: str = "checkout-flagger") -> dict:
    return {
        "name": "checkout",
        "namespace": "shop",
        "phase": "Progressing",
        "checksum": f"rev-{canary}-{next(_REVISIONS)}",
        "metadata": {
            "analysis": analysis,
            "baseline.workload": "checkout-primary",
            "canary.workload": canary,
        },
    }


_REVISIONS = itertools.count()


# --------------------------------------------------------------------------- Argo


def test_an_argo_judgement_of_an_analysis_is_200_with_the_verdict(live: Live) -> None:
    r = post(live, JUDGE, argo_body("v2"))
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["verdict"], out["passed"], out["analysis"]) == ("pass", True, "checkout")
    assert out["window"] == {
        "start": _rfc3339(live, -30),
        "end": _rfc3339(live, 0),
        "step": "1m",
    }
    latency = out["metrics"][0]
    assert (latency["metric"], latency["canary_n"], latency["baseline_n"]) == (
        "latency_seconds",
        62,
        62,
    )
    assert out["metrics"][1]["reason"] == "no canary data"
    r = post(live, JUDGE, argo_body("v3"))
    assert r.status_code == 200  # a fail is a measurement for Argo, not an error
    out = r.json()
    assert (out["verdict"], out["passed"]) == ("fail", False)
    assert out["reason"] == "critical metric failed: latency_seconds"


def test_an_inconclusive_judgement_is_200_too(live: Live) -> None:
    body = {**argo_body("v2"), "analysis": "checkout-strict"}
    r = post(live, JUDGE, body)
    assert r.status_code == 200
    assert (r.json()["verdict"], r.json()["passed"]) == ("inconclusive", False)


def test_looks_are_counted_per_judgement_unless_given(live: Live) -> None:
    body = argo_body("v3", window="20m")  # the version's own judgement: a new count
    body["baseline"]["version"] = "v2"
    looks = [post(live, JUDGE, body).json()["look"] for _ in range(3)]
    assert looks == [1, 2, 3]
    assert post(live, JUDGE, {**body, "look": 7}).json()["look"] == 7
    other = {**body, "baseline": {"version": "v2", "app": "checkout"}, "window": "10m"}
    assert post(live, JUDGE, other).json()["look"] == 4  # the same queries, another window


def test_inline_samples_are_judged_as_files_are(live: Live) -> None:
    body = {
        "metrics": [
            {"name": "latency", "direction": "increase", "tolerance": 0.2, "critical": True},
            {"name": "errors", "direction": "increase"},
            {"name": "saturation"},
        ],
        "baseline": {
            "latency": [0.2, 0.21, 0.19, 0.2, 0.22, 0.2, 0.21],
            "errors": [0.01, 0.02, 0.01],
            "saturation": [0.5, 0.5, 0.5],
        },
        "canary": {
            "latency": [0.41, 0.4, 0.42, None, 0.39, 0.4],
            "errors": [None, None, None],  # an all-NaN window
        },
    }
    r = post(live, JUDGE, body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["verdict"], out["analysis"], out["window"]) == ("fail", None, None)
    by_name = {m["metric"]: m for m in out["metrics"]}
    assert by_name["latency"]["verdict"] == "fail"
    assert by_name["latency"]["dropped_nan"] == 1
    assert (by_name["errors"]["reason"], by_name["errors"]["dropped_nan"]) == (
        "no canary data",
        3,
    )
    assert by_name["saturation"]["reason"] == "no canary data"  # no data in one group


# -------------------------------------------------------------------------- Flagger


def test_flagger_statuses_are_the_verdict(live: Live) -> None:
    r = post(live, FLAGGER, flagger_payload("checkout"))
    assert r.status_code == 200, r.text
    assert (r.json()["verdict"], r.json()["analysis"]) == ("pass", "checkout-flagger")
    payload = flagger_payload()
    payload["metadata"] = {
        "analysis": "checkout",
        "baseline_version": "v1",
        "canary_version": "v3",
        "window": "30m",
    }
    r = post(live, FLAGGER, payload)
    assert r.status_code == 412
    assert r.json()["verdict"] == "fail"
    payload["metadata"] = {**payload["metadata"], "analysis": "checkout-strict"}
    payload["metadata"]["canary_version"] = "v2"
    r = post(live, FLAGGER, payload)
    assert r.status_code == 425
    assert r.headers["retry-after"] == "60"
    assert r.json()["verdict"] == "inconclusive"


def test_flagger_looks_restart_with_each_revision(live: Live) -> None:
    payload = flagger_payload("checkout")
    assert [post(live, FLAGGER, payload).json()["look"] for _ in range(2)] == [1, 2]
    payload["checksum"] = "the-next-revision"
    assert post(live, FLAGGER, payload).json()["look"] == 1


def test_flagger_metadata_never_carries_a_credential(live: Live) -> None:
    payload = flagger_payload()
    payload["metadata"]["token"] = "s3cr3t-value"
    payload["metadata"]["X-Api-Key"] = "an0ther-s3cr3t"
    r = post(live, FLAGGER, payload)
    detail = refused(r, 422, "invalid_request")
    assert "metadata.token: expected no credentials in a Canary's metadata" in detail
    assert "metadata.X-Api-Key" in detail
    assert "s3cr3t" not in r.text


@pytest.mark.parametrize(
    ("metadata", "status", "message"),
    [
        ({"analysis": "checkout-flagger", "canary.workload": "checkout", "windw": "5m"}, 422,
         "metadata.windw: expected analysis, window, look, baseline.VAR or canary.VAR"),
        ({"baseline.workload": "a", "canary.workload": "b"}, 422,
         "metadata.analysis: expected the name of one of the server's canary analyses"),
        ({"analysis": "nope"}, 404, "expected one of this server's canary analyses (broken, "
         "checkout, checkout-flagger, checkout-strict), got 'nope'"),
        ({"analysis": "checkout-flagger", "canary.workload": "checkout"}, 422,
         "metadata.baseline.workload: expected a value for {{workload}}, got none"),
        ({"analysis": "checkout-flagger", "baseline.workload": "checkout-primary",
          "canary.workload": 'x"}) or vector(1'}, 422,
         "metadata.canary.workload: expected a label value of 1 to 128"),
        ({"analysis": "checkout-flagger", "look": "zero"}, 422,
         "metadata.look: expected a whole number"),
        ({"analysis": "checkout-flagger", "baseline.workload": "a", "canary.workload": "b",
          "window": "3d"}, 422, "expected a window longer than 0 and at most 1d, got 3d"),
    ],
)  # fmt: skip
def test_bad_flagger_metadata_is_refused_clearly(
    live: Live, metadata: dict[str, str], status: int, message: str
) -> None:
    payload = {**flagger_payload(), "metadata": metadata}
    error = "not_found" if status == 404 else "invalid_request"
    assert message in refused(post(live, FLAGGER, payload), status, error)


# --------------------------------------------------------------------- auth, limits


@pytest.mark.parametrize("path", [JUDGE, FLAGGER])
def test_a_token_is_required(live: Live, path: str) -> None:
    body = argo_body("v2") if path == JUDGE else flagger_payload()
    r = post(live, path, body, token="")
    assert "Authorization: Bearer" in refused(r, 401, "unauthenticated")
    assert r.headers["www-authenticate"] == "Bearer"
    assert live.setup is not None
    refused(post(live, path, body, token=live.setup.revoked), 401, "unauthenticated")
    refused(post(live, path, body, token="not-a-token"), 401, "unauthenticated")
    # the token is checked before the body is read: a large one is not taken in first
    big = {"metrics": [{"name": "x"}], "baseline": {"x": [1.0] * 200_000}, "canary": {}}
    refused(post(live, path, big, token=""), 401, "unauthenticated")


def test_limits(live: Live) -> None:
    big = {"metrics": [{"name": "x"}], "baseline": {"x": [0.123456789] * 100_000}, "canary": {}}
    assert "expected a canary judgement of at most 1,000,000 bytes" in refused(
        post(live, JUDGE, big), 413, "body_too_large"
    )
    many = {
        "metrics": [{"name": f"m{i}"} for i in range(51)],
        "baseline": {},
        "canary": {},
    }
    assert "at most 50 items" in refused(post(live, JUDGE, many), 422, "invalid_request")
    values = {"x": [1.0] * 60_000}
    too_many = {"metrics": [{"name": "x"}], "baseline": values, "canary": values}
    assert "expected at most 100,000 samples in all, got 120,000" in refused(
        post(live, JUDGE, too_many), 422, "invalid_request"
    )
    assert "at most 1d, got 2d" in refused(
        post(live, JUDGE, argo_body("v2", window="2d")), 422, "invalid_request"
    )
    assert "got 'nope'" in refused(
        post(live, JUDGE, argo_body("v2", analysis="nope")), 404, "not_found"
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "expected JSON"),
        ([1, 2], "expected a JSON object"),
        (argo_body('v2"} or vector(1) or up{x="'), "canary.version: expected a label value"),
        ({**argo_body("v2"), "canary": {"version": "v2", "verison": "v2"}},
         "canary.verison: expected one of the analysis's variables (app, version)"),
        (argo_body("v1"), "expected variables that differ from the baseline's"),
        ({**argo_body("v2"), "url": "http://elsewhere:9090"}, "extra_forbidden"),
        ({**argo_body("v2"), "window": "soon"}, "window: expected a duration such as 10m"),
        ({"metrics": [{"name": "x"}], "baseline": {"y": [1.0]}, "canary": {}},
         "expected baseline samples of the metrics named in 'metrics', got 'y'"),
        ({"metrics": [{"name": "x", "direction": "up"}], "baseline": {}, "canary": {}},
         "literal_error"),
        ({"metrics": [{"name": "x"}], "baseline": {}, "canary": {}, "marginal_threshold": 99},
         "expected marginal_threshold <= pass_threshold"),
    ],
)  # fmt: skip
def test_bad_bodies_are_422_with_what_was_expected(live: Live, body: Any, message: str) -> None:
    headers = {**live.headers(), "content-type": "application/json"}
    content = body if isinstance(body, str) else json.dumps(body)
    r = httpx.post(live.url + JUDGE, content=content, headers=headers, timeout=30)
    assert message in refused(r, 422, "invalid_request")


def test_a_query_prometheus_refuses_is_502_naming_the_metric(live: Live) -> None:
    body = {"analysis": "broken", "baseline": {"version": "v1"}, "canary": {"version": "v2"}}
    detail = refused(post(live, JUDGE, body), 502, "prometheus_unavailable")
    assert "metric 'latency_rate', baseline query:" in detail


def test_a_judgement_past_the_time_limit_is_504(
    tmp_path: Path, runs: Runs, data: CanaryData
) -> None:
    home = tmp_path / "home"
    setup = prepare(home, runs)
    paths = write_analyses(tmp_path / "analyses")
    ticks = itertools.count()  # every look at the clock is a second later
    with PrometheusClient(data.url, retry=RetryPolicy(retries=0)) as client:
        canary = CanaryConfig.of(
            [read_analysis_file(paths["checkout"])],
            prometheus=client,
            now=lambda: data.end_ns,
            clock=lambda: float(next(ticks)),
            timeout=1.5,
        )
        with running(setup, home, canary=canary) as server:
            r = post(server, JUDGE, argo_body("v2"))
    assert "ran out of time after 1 of 4 queries" in refused(r, 504, "prometheus_timeout")


def test_looks_are_forgotten_a_day_after_the_first(
    tmp_path: Path, runs: Runs, data: CanaryData
) -> None:
    home = tmp_path / "home"
    setup = prepare(home, runs)
    paths = write_analyses(tmp_path / "analyses")
    clock = FakeClock()
    with PrometheusClient(data.url, retry=RetryPolicy(retries=0)) as client:
        canary = CanaryConfig.of(
            [read_analysis_file(paths["checkout"])],
            prometheus=client,
            now=lambda: data.end_ns,
            clock=clock,
            look_ttl=86_400.0,
        )
        with running(setup, home, canary=canary) as server:
            looks = [post(server, JUDGE, argo_body("v2")).json()["look"] for _ in range(2)]
            clock.advance(86_000.0)
            looks.append(post(server, JUDGE, argo_body("v2")).json()["look"])
            clock.advance(401.0)
            looks.append(post(server, JUDGE, argo_body("v2")).json()["look"])
    assert looks == [1, 2, 3, 1]


def test_verdicts_are_counted_and_the_routes_documented(live: Live) -> None:
    before = live.metric("modelphase_canary_judgements_total", analysis="checkout", verdict="fail")
    post(live, JUDGE, argo_body("v3"))
    after = live.metric("modelphase_canary_judgements_total", analysis="checkout", verdict="fail")
    assert after == before + 1
    spec = httpx.get(live.url + "/openapi.json").json()
    for path in (JUDGE, FLAGGER):
        route = spec["paths"][path]["post"]
        assert route["tags"] == ["canary"]
        assert route["summary"]
    flagger = spec["paths"][FLAGGER]["post"]["responses"]
    assert {"200", "412", "425", "401", "404", "413", "422", "502", "504"} <= set(flagger)
    schemas = spec["components"]["schemas"]
    assert {"InlineJudgeRequest", "AnalysisJudgeRequest", "FlaggerPayload"} <= set(schemas)


def _rfc3339(live: Live, minutes: int) -> str:
    return format_time(live.state.config.canary.now() + minutes * 60 * NS_PER_SECOND)


# ----------------------------------------------------------------------------- docs

DOC = Path(__file__).parents[2] / "docs" / "canary.md"


def doc_blocks() -> tuple[dict[str, Any], list[str]]:
    """docs/canary.md's YAML: the Kubernetes objects by kind, and the analysis files."""
    objects: dict[str, Any] = {}
    analyses = []
    for block in re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.S):
        found = yaml.safe_load(block)
        if "kind" in found:
            objects[found["kind"]] = found
        else:
            analyses.append(block)
    return objects, analyses


def conditions(text: str) -> set[str]:
    assert re.fullmatch(r'result == "\w+"( \|\| result == "\w+")*', text), text
    return set(re.findall(r'result == "(\w+)"', text))


def test_the_docs_analysis_template_matches_the_endpoint(live: Live) -> None:
    objects, analyses = doc_blocks()
    template, rollout = objects["AnalysisTemplate"], objects["Rollout"]
    args = {a["name"]: a for a in template["spec"]["args"]}
    assert args["modelphase-token"]["valueFrom"]["secretKeyRef"]  # the token from a Secret
    passed = rollout["spec"]["strategy"]["canary"]["steps"][1]["analysis"]["args"]
    assert {a["name"] for a in passed} == set(args) - {"modelphase-token"}
    (metric,) = template["spec"]["metrics"]
    web = metric["provider"]["web"]
    assert web["method"] == "POST"
    assert httpx.URL(web["url"]).path == JUDGE
    assert web["jsonPath"] == "{$.verdict}"
    assert conditions(metric["successCondition"]) == {"pass", "marginal"}
    assert conditions(metric["failureCondition"]) == {"fail"}
    (header,) = web["headers"]
    assert (header["key"], header["value"]) == ("Authorization", "Bearer {{args.modelphase-token}}")
    documented = [read_analysis(text) for text in analyses]
    assert {"version"} <= set(next(a for a in documented if a.name == "checkout").variables)
    for canary, verdict in (("v2", "pass"), ("v3", "fail")):
        values = {"stable-hash": "v1", "canary-hash": canary, "modelphase-token": "unused"}
        body = json.loads(substitute(json.dumps(web["jsonBody"]), values))
        body["window"] = "30m"  # the test data's hour, not the doc's 10 minutes
        r = post(live, JUDGE, body)
        assert r.status_code == 200, r.text
        result = r.json()[web["jsonPath"].removeprefix("{$.").removesuffix("}")]
        assert result == verdict
        wanted = "successCondition" if verdict == "pass" else "failureCondition"
        assert result in conditions(metric[wanted])


def test_the_docs_flagger_webhook_matches_the_endpoint(live: Live) -> None:
    objects, analyses = doc_blocks()
    (hook,) = objects["Canary"]["spec"]["analysis"]["webhooks"]
    assert hook["type"] in ("rollout", "confirm-promotion")
    assert hook["metadata"]["type"] == "bash"  # the load tester's blocking task
    cmd = hook["metadata"]["cmd"]
    assert '-H "Authorization: Bearer $MODELPHASE_TOKEN"' in cmd  # from the pod's Secret
    assert "--fail-with-body" in cmd
    payload = json.loads(re.search(r"-d '(\{.*\})'", cmd).group(1))  # type: ignore[union-attr]
    assert httpx.URL(cmd.split()[-1]).path == FLAGGER
    documented = next(read_analysis(t) for t in analyses if "checkout-flagger" in t)
    sides = {k.split(".", 1)[1] for k in payload["metadata"] if "." in k}
    assert sides <= set(documented.variables)
    r = post(live, FLAGGER, payload)
    assert r.status_code == 200, r.text  # the primary's pods against the canary's
    assert r.json()["analysis"] == payload["metadata"]["analysis"]


def substitute(text: str, args: dict[str, str]) -> str:
    """Argo's ``{{args.NAME}}`` replaced by the argument's value."""
    return re.sub(r"\{\{args\.([\w-]+)\}\}", lambda m: args[m.group(1)], text)


def read_analysis(text: str) -> CanaryAnalysis:
    return parse_analysis(text, "docs/canary.md")


# ------------------------------------------------------------------ modelphase serve


def test_modelphase_serve_runs_the_analyses_it_is_given(
    tmp_path: Path,
    prepare_home: Callable[[Path], Setup],
    wait_for: Callable[..., Any],
    data: CanaryData,
) -> None:
    setup = prepare_home(tmp_path / "home")
    paths = write_analyses(tmp_path / "analyses")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELPHASE_")}
    env["MODELPHASE_HOME"] = str(setup.home)
    env["MODELPHASE_PROMETHEUS_URL"] = data.url
    command = [sys.executable, "-m", "modelphase", "serve", "--port", str(port)]
    for path in (paths["checkout"], paths["strict"]):
        command += ["--canary-analysis", str(path)]
    with (tmp_path / "server.log").open("wb") as log:
        server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:

        def ready() -> bool:
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            try:
                return httpx.get(f"{url}/readyz", timeout=1.0).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(ready, what="modelphase serve to be ready", timeout=60)
        headers = {"authorization": f"Bearer {setup.viewer}"}
        # the data ended a day ago: a window ending now finds no sample of it
        r = httpx.post(f"{url}{JUDGE}", json=argo_body("v2"), headers=headers, timeout=30)
        assert r.status_code == 200, r.text
        assert (r.json()["analysis"], r.json()["verdict"]) == ("checkout", "inconclusive")
        assert r.json()["reason"] == "no metric has data on both sides"
        body = {**argo_body("v2"), "analysis": "checkout-flagger"}  # not given to this one
        assert httpx.post(f"{url}{JUDGE}", json=body, headers=headers).status_code == 404
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert setup.viewer not in (tmp_path / "server.log").read_text()


def test_modelphase_serve_refuses_analyses_it_cannot_run(cli: RunCli, tmp_path: Path) -> None:
    paths = write_analyses(tmp_path / "analyses")
    r = cli("serve", "--canary-analysis", str(paths["checkout"]))
    assert r.code == 2
    assert "--canary-analysis needs a Prometheus" in r.stderr
    url = "http://127.0.0.1:9"
    args = ["--prometheus", url, "--canary-analysis", str(paths["checkout"])]
    r = cli("serve", *args, "--canary-analysis", str(paths["checkout"]))
    assert r.code == 1
    assert "expected each canary analysis name once, got 'checkout'" in r.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nmetrics: [{name: a, query: '{{q}}'}]\n")
    r = cli("serve", "--prometheus", url, "--canary-analysis", str(bad))
    assert r.code == 1
    assert f"{bad}: metrics.0.query: expected {{{{name}}}} placeholders" in r.stderr
