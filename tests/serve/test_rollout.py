"""Rollouts on a running server: a canary's sticky share, a shadow that never answers,
and an alias move under load that takes effect with no failed request."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import httpx

from modelphase.decisions import read_decisions
from modelphase.serve.resilience import bucket
from serve.harness import FORECASTER, V2_SHARE, Live

SERIES = [f'load{{host="h{i}"}}' for i in range(4)]
FORECAST = f"/v1/models/{FORECASTER}/forecast"


def _move(live: Live, alias: str, version: int = 2) -> None:
    assert live.setup is not None
    with live.setup.registry() as reg:
        reg.promote(FORECASTER, version, alias)


def test_a_canary_gets_its_plans_share_of_keys_sticky(live: Live) -> None:
    _move(live, "canary")
    assert live.setup is not None
    with live.client(live.setup.deployer) as deployer:  # at once, not at the next reload
        changes = deployer.post("/v1/reload").json()["changes"]
    assert changes == [f"{FORECASTER}: {{'production': 1}} -> {{'production': 1, 'canary': 2}}"]
    keys = [f"user-{i}" for i in range(300)]
    with live.client() as client:
        listed = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
        assert listed[FORECASTER]["canary_share"] == V2_SHARE
        got: dict[str, tuple[int, str]] = {}
        for key in keys:
            body = client.post(FORECAST, json={"series": SERIES[:1], "h": 2, "key": key}).json()
            got[key] = (body["version"], body["alias"])
        again = {
            key: client.post(FORECAST, json={"series": SERIES, "h": 2, "key": key}).json()[
                "version"
            ]
            for key in keys[:40]
        }
    assert set(got.values()) == {(1, "production"), (2, "canary")}
    on_canary = {k for k, (version, _) in got.items() if version == 2}
    # the plan's share of the keys, and exactly the keys whose hash falls in it
    assert abs(len(on_canary) / len(keys) - V2_SHARE) < 0.08
    assert on_canary == {k for k in keys if bucket(k) < V2_SHARE}
    assert all(again[k] == got[k][0] for k in again)  # sticky
    share = live.metric("modelphase_serve_version_traffic_share", model=FORECASTER, version="2")
    assert 0.1 < share < 0.5


def test_without_a_key_the_first_series_routes(live: Live) -> None:
    _move(live, "canary")
    live.state.table.refresh()
    with live.client() as client:
        for uid in SERIES:
            expected = 2 if bucket(uid) < V2_SHARE else 1
            for _ in range(3):
                body = client.post(FORECAST, json={"series": [uid], "h": 1}).json()
                assert body["version"] == expected


def test_a_shadow_is_compared_and_logged_but_never_answers(
    live: Live, wait_for: Callable[..., Any]
) -> None:
    _move(live, "shadow")
    wait_for(
        lambda: live.state.table.routes[FORECASTER].shadow is not None,
        what="the reloader to load the shadow",
    )
    sent: list[str] = []
    with live.client() as client:
        for i in range(20):
            body: dict[str, Any] = (
                {"series": SERIES[i % 4 :][:2], "h": 6}
                if i % 2
                else {"values": [float(10 + (k % 24)) for k in range(96)], "h": 6}
            )
            # every request claims the same id: the server's ids are its own
            answer = client.post(FORECAST, json=body, headers={"x-request-id": "mine"})
            assert answer.status_code == 200, answer.text
            payload = answer.json()
            assert (payload["version"], payload["alias"]) == (1, "production")
            assert payload["request_id"] == answer.headers["x-request-id"] != "mine"
            sent.append(payload["request_id"])
    assert len(set(sent)) == 20
    shadow = {"model": FORECASTER, "version": "2"}
    wait_for(
        lambda: live.metric("modelphase_serve_shadow_comparisons_total", **shadow) == 20,
        what="20 shadow comparisons",
    )
    assert live.metric("modelphase_serve_shadow_comparisons_total", **shadow, result="error") == 0
    agreement = live.metric("modelphase_serve_shadow_agreement_ratio", **shadow)
    assert 0.0 <= agreement <= 1.0
    assert "modelphase_serve_shadow_agreement_ratio" in live.scrape()
    # the shadow's answers never count as served traffic
    assert live.metric("modelphase_serve_requests_total", **shadow) == 0
    assert live.metric("modelphase_serve_version_traffic_share", **shadow) == 0
    live.stop()  # flushes the decision log
    assert live.setup is not None
    log = read_decisions(live.setup.home / "decisions", model=FORECASTER)
    rows = log[log["alias"] == "shadow"]
    assert sorted(rows["request_id"]) == sorted(sent)
    assert set(rows["version"]) == {2}
    answered = log[log["alias"] == "production"]
    assert sorted(answered["request_id"]) == sorted(sent)
    assert set(answered["version"]) == {1}


def test_an_alias_move_under_load_fails_no_request(
    live: Live, wait_for: Callable[..., Any]
) -> None:
    stop = threading.Event()
    answers: list[tuple[int, int, int, int | None]] = []  # worker, n, status, version
    failures: list[str] = []
    lock = threading.Lock()

    def worker(me: int) -> None:
        with live.client() as client:
            n = 0
            while not stop.is_set():
                body: dict[str, Any] = (
                    {"series": SERIES, "h": 12}
                    if n % 3
                    else {
                        "values": [float(k % 24) for k in range(72)],
                        "unique_id": SERIES[0],
                        "h": 6,
                    }
                )
                try:
                    response = client.post(FORECAST, json=body)
                    version = (
                        response.json().get("version") if response.status_code == 200 else None
                    )
                    with lock:
                        answers.append((me, n, response.status_code, version))
                except httpx.HTTPError as exc:
                    with lock:
                        failures.append(f"{type(exc).__name__}: {exc}")
                n += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: len(answers) >= 40, what="40 answers before the move")
        _move(live, "production")
        wait_for(
            lambda: any(a[3] == 2 for a in answers), what="an answer from version 2", timeout=60
        )
        switched = len(answers)
        wait_for(lambda: len(answers) >= switched + 80, what="80 answers after the move")
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert failures == []
    assert {a[2] for a in answers} == {200}
    for me in range(4):  # each worker sees version 1, then version 2, never back
        versions = [a[3] for a in sorted(answers) if a[0] == me]
        assert versions == sorted(versions)
        assert versions[-1] == 2
    assert live.state.table.routes[FORECASTER].production.version == 2
