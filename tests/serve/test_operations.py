"""Health, readiness, what is served, tokens and roles, and the metrics' names."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from serve.harness import DETECTOR, FORECASTER, Live

SERIES = 'load{host="h0"}'


def test_health_and_readiness_need_no_token(live: Live) -> None:
    assert httpx.get(f"{live.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{live.url}/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "models": 2}
    docs = httpx.get(f"{live.url}/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    paths = httpx.get(f"{live.url}/openapi.json").json()["paths"]
    assert {"/v1/models/{name}/forecast", "/v1/models/{name}/score", "/v1/models"} <= set(paths)


def test_an_empty_registry_is_ready_at_once(tmp_path: Path, start: Callable[..., Live]) -> None:
    server = start(tmp_path / "empty")
    assert httpx.get(f"{server.url}/readyz").json() == {"status": "ready", "models": 0}


def test_models_lists_versions_aliases_budgets(live: Live) -> None:
    with live.client() as client:
        body = client.get("/v1/models").json()
    by_name = {m["name"]: m for m in body["models"]}
    assert set(by_name) == {FORECASTER, DETECTOR}
    prod = by_name[FORECASTER]["aliases"]["production"]
    assert prod["version"] == 1
    assert prod["flavor"] == "modelphase.forecast"
    assert prod["latency_budget_ms"] == 120_000.0  # the spec's latency_budget
    assert prod["circuit"] == "closed"
    assert by_name[DETECTOR]["aliases"]["production"]["latency_budget_ms"] == 120_000.0
    assert body["load_errors"] == {}


# ------------------------------------------------------------------------ auth


def _unauthenticated(response: httpx.Response, match: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["www-authenticate"] == "Bearer"
    body = response.json()
    assert body["error"] == "unauthenticated"
    assert match in body["detail"], body


NOT_VALID = "the token is not valid (unknown or revoked). Fix: "


@pytest.mark.parametrize(
    ("header", "match"),
    [
        (None, "expected 'Authorization: Bearer <token>'"),
        ("Basic dXNlcjpwdw==", "expected 'Authorization: Bearer <token>'"),
        ("Bearer", "expected 'Authorization: Bearer <token>'"),
        ("Bearer not-a-token", NOT_VALID),
        ("Bearer mp_" + "x" * 43, NOT_VALID),
    ],
    ids=["none", "basic", "empty", "malformed", "unknown"],
)
def test_callers_without_a_valid_token_get_401(live: Live, header: str | None, match: str) -> None:
    headers = {"authorization": header} if header is not None else {}
    for method, path, body in (
        ("GET", "/v1/models", None),
        ("POST", f"/v1/models/{FORECASTER}/forecast", {"series": [SERIES], "h": 2}),
        ("POST", f"/v1/models/{DETECTOR}/score", {"values": [1.0]}),
    ):
        _unauthenticated(
            httpx.request(method, f"{live.url}{path}", json=body, headers=headers), match
        )


def test_a_revoked_token_gets_401_that_says_nothing_about_it(live: Live) -> None:
    """Unknown and revoked tokens get the same 401: no name, id or time of revocation,
    nothing that tells a holder of a leaked token what it was."""
    assert live.setup is not None
    with live.setup.registry() as reg:
        (old,) = [t for t in reg.tokens() if t.revoked_at is not None]
    with live.client(live.setup.revoked) as client:
        revoked = client.get("/v1/models")
    with live.client("mp_" + "y" * 43) as client:
        unknown = client.get("/v1/models")
    _unauthenticated(revoked, NOT_VALID)
    assert revoked.json() == unknown.json()
    detail = revoked.json()["detail"]
    assert old.id not in detail
    assert f"({old.name})" not in detail
    assert "revoked at" not in detail
    assert old.revoked_at is not None
    assert old.revoked_at[:10] not in detail


def test_a_viewer_may_predict_but_not_reload(live: Live) -> None:
    with live.client() as client:
        assert client.get("/v1/models").status_code == 200
        answer = client.post(f"/v1/models/{FORECASTER}/forecast", json={"series": [SERIES], "h": 2})
        assert answer.status_code == 200
        refused = client.post("/v1/reload")
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/json"
    assert refused.json() == {
        "error": "forbidden",
        "detail": "this needs the deployer role; dashboard is viewer",
    }
    assert live.setup is not None
    with live.client(live.setup.deployer) as client:
        forced = client.post("/v1/reload")
    assert forced.status_code == 200
    assert forced.json() == {"changes": []}


def test_unknown_paths_and_methods_answer_json(live: Live) -> None:
    with live.client() as client:
        missing = client.get("/v2/nothing")
        wrong = client.get(f"/v1/models/{FORECASTER}/forecast")
    assert (missing.status_code, missing.json()["error"]) == (404, "not_found")
    assert (wrong.status_code, wrong.json()["error"]) == (405, "method_not_allowed")


# --------------------------------------------------------------------- metrics


def test_metrics_are_named_and_count(live: Live) -> None:
    with live.client() as client:
        for _ in range(3):
            client.post(f"/v1/models/{FORECASTER}/forecast", json={"series": [SERIES], "h": 4})
        client.post(
            f"/v1/models/{FORECASTER}/forecast",
            json={"values": [1.0, 2.0, 3.0] * 20, "h": 4, "end": "2026-02-01T00:00:00Z"},
        )
        client.post(f"/v1/models/{DETECTOR}/score", json={"values": [1.0, 2.0, 1.5]})
        client.post(f"/v1/models/{FORECASTER}/forecast", json={"series": [SERIES], "h": 99})
    samples = live.scrape()
    families = _families(live)
    fc: dict[str, Any] = {"model": FORECASTER, "version": "1"}
    assert live.metric(
        "modelphase_serve_requests_total", **fc, alias="production", outcome="model"
    ) == pytest.approx(4.0)
    assert live.metric(
        "modelphase_serve_inference_seconds_count", **fc, endpoint="forecast"
    ) == pytest.approx(4.0)
    buckets = [s for s in samples["modelphase_serve_inference_seconds_bucket"] if s[0]["le"]]
    assert {b[0]["le"] for b in buckets} >= {"0.005", "0.05", "+Inf"}
    assert live.metric("modelphase_serve_rejected_requests_total", status="422") == 1.0
    assert live.metric("modelphase_serve_prediction_coverage_ratio", model=FORECASTER) == 1.0
    assert live.metric("modelphase_serve_version_traffic_share", **fc) == 1.0
    assert live.metric("modelphase_serve_predictions_total", **fc) == 4.0
    assert live.metric("modelphase_serve_cpu_seconds_per_prediction", **fc) > 0.0
    assert live.metric("modelphase_serve_prediction_cpu_seconds_total", **fc) > 0.0
    assert live.metric("modelphase_serve_circuit_state", **fc, alias="production") == 0.0
    assert live.metric("modelphase_serve_models_loaded", alias="production") == 2.0
    for name in (
        "modelphase_serve_decision_log_dropped_total",
        "modelphase_serve_decision_log_written_total",
        "modelphase_serve_decision_log_queue",
        "modelphase_serve_fallbacks_total",
        "modelphase_serve_inference_errors_total",
        "modelphase_serve_shadow_comparisons_total",
        "modelphase_serve_shadow_agreement_ratio",
    ):  # declared even before they count anything
        assert {name, name.removesuffix("_total")} & families, name
    # nothing failed, so nothing fell back
    assert live.metric("modelphase_serve_fallbacks_total") == 0.0
    assert live.metric("modelphase_serve_decision_log_dropped_total") == 0.0


def _families(live: Live) -> set[str]:
    text = httpx.get(f"{live.url}/metrics").text
    return {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")}


def test_decision_log_overflow_is_counted_not_waited_for(
    live: Live, wait_for: Callable[..., Any]
) -> None:
    # a disk that cannot keep up: room for one record, and a writer that wakes once an
    # hour (it may still wake once at its old interval), so that the next ones overflow
    # however fast or slow the machine is
    live.state.log.max_queue = 1
    live.state.log.flush_seconds = 3_600.0
    with live.client() as client:
        for _ in range(10):
            answer = client.post(
                f"/v1/models/{FORECASTER}/forecast", json={"series": [SERIES], "h": 1}
            )
            assert answer.status_code == 200
    dropped = live.metric("modelphase_serve_decision_log_dropped_total")
    assert dropped >= 7  # at most the first and one at the writer's old wake got in
    live.state.log.flush()
    wait_for(
        lambda: live.metric("modelphase_serve_decision_log_queue") == 0, what="the log to drain"
    )
    written = live.metric("modelphase_serve_decision_log_written_total")
    assert dropped + written == 10
