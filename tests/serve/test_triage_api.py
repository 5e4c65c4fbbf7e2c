"""``POST /v1/triage`` over real HTTP: the answer is the library's (wide columns and
labelled series), confirmed root causes in the server's home re-rank it, the token is
needed, and bad bodies are one-line 422s."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from modelphase.decide.triage import triage
from modelphase.decide.triage_feedback import Confirmation
from modelphase.decide.triage_input import triage_panel
from modelphase.decide.triage_store import IncidentStore
from modelphase.frame import NS_PER_SECOND, Panel
from serve.harness import Live

AT = 1_767_225_600 + 3 * 3600  # three hours into 2026-01-01


def call(live: Live, body: Any, token: str | None = None) -> httpx.Response:
    assert live.setup is not None
    headers = {} if token == "" else {"authorization": f"Bearer {token or live.setup.viewer}"}
    return httpx.post(live.url + "/v1/triage", json=body, headers=headers, timeout=60)


def _wide() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    time = np.arange(AT - 300, AT + 60, dtype=float)
    data: dict[str, Any] = {"time": time}
    for service in ("cart", "db", "search"):
        data[f"{service}_cpu"] = 1 + 0.05 * rng.standard_normal(len(time))
        data[f"{service}_lat_99"] = 0.2 + 0.01 * rng.standard_normal(len(time))
    data["db_lat_99"] = np.where(time >= AT, 0.9, data["db_lat_99"])
    data["cart_lat_99"] = np.where(time >= AT + 5, 0.6, data["cart_lat_99"])
    return pd.DataFrame(data)


def test_wide_columns_answer_as_the_library(live: Live) -> None:
    frame = _wide()
    body = {"at": AT, "columns": {c: frame[c].tolist() for c in frame.columns}}
    r = call(live, body)
    assert r.status_code == 200, r.text
    answer = r.json()
    expected = triage(frame, AT).to_dict()
    assert [s["service"] for s in answer["ranking"]] == [s["service"] for s in expected["ranking"]]
    assert answer["ranking"][0]["service"] == "db"
    assert answer["ranking"][0]["score"] == pytest.approx(expected["ranking"][0]["score"])
    assert answer["feedback"] == {"confirmed": 0}
    assert [s["service"] for s in answer["ranking"]] == ["db", "cart", "search"]
    # the call graph: cart calls db, so db explains cart's change: it goes last
    r = call(live, {**body, "calls": [["cart", "db"]]})
    assert r.status_code == 200, r.text
    ranking = [(s["service"], s["explained_by"]) for s in r.json()["ranking"]]
    assert ranking == [("db", None), ("search", None), ("cart", "db")]
    r = call(live, {**body, "top": 2})
    assert [s["service"] for s in r.json()["ranking"]] == ["db", "cart"]
    assert len(r.json()["metrics"]) == 2


def test_labelled_series_aggregate_instances(live: Live) -> None:
    rng = np.random.default_rng(6)
    t = (AT - 3 * 3600 + 60 * np.arange(200)).astype(float)
    series = []
    for service in ("cart", "db"):
        for pod in ("a", "b"):
            y = 10 + rng.standard_normal(len(t))
            if service == "cart":
                y = np.where(t >= AT, y + 30, y)
            series.append({"id": f'cpu{{pod="{pod}",service="{service}"}}',
                           "timestamps": t.tolist(), "values": y.tolist()})  # fmt: skip
    r = call(live, {"at": AT, "series": series, "before": "2h", "after": "10m"})
    assert r.status_code == 200, r.text
    answer = r.json()
    items = [
        (
            s["id"],
            (np.array(s["timestamps"]) * NS_PER_SECOND).astype(np.int64),
            np.array(s["values"]),
        )
        for s in series
    ]
    panel = Panel.from_series(items)
    expected = triage_panel(panel, AT * NS_PER_SECOND, before=7200 * NS_PER_SECOND,
                            after=600 * NS_PER_SECOND)  # fmt: skip
    assert [s["service"] for s in answer["ranking"]] == ["cart", "db"]
    assert answer["ranking"][0]["score"] == pytest.approx(expected.ranking[0].score)
    assert answer["n_normal"] == expected.n_normal


def test_confirmed_causes_in_the_servers_home_rerank(live: Live) -> None:
    assert live.setup is not None
    rng = np.random.default_rng(7)
    time = np.arange(AT - 200, AT + 20, dtype=float)
    frame = pd.DataFrame({"time": time,
                          "a_cpu": 1 + 0.1 * rng.standard_normal(len(time)),
                          "b_cpu": 1 + 0.1 * rng.standard_normal(len(time))})  # fmt: skip
    frame.loc[frame.time >= AT, "a_cpu"] += 1.2
    frame.loc[frame.time >= AT, "b_cpu"] += 1.0
    body = {"at": AT, "columns": {c: frame[c].tolist() for c in frame.columns}}
    before = call(live, body).json()
    store = IncidentStore(live.setup.home / "triage")
    for i in range(6):
        store.confirm(Confirmation(f"INC-{i}", "b", confirmed_at=float(i)))
    after = call(live, body).json()
    plain = call(live, {**body, "feedback": False}).json()
    assert after["feedback"] == {"confirmed": 6}
    assert [s["service"] for s in before["ranking"]] == ["a", "b"]
    assert [s["service"] for s in after["ranking"]] == ["b", "a"]
    assert [s["service"] for s in plain["ranking"]] == ["a", "b"]


def test_a_token_is_needed(live: Live) -> None:
    r = call(live, {"at": AT, "columns": {"time": [1.0], "a_x": [1.0]}}, token="")
    assert r.status_code == 401


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"at": AT}, "columns"),
        ({"at": "soon", "columns": {"time": [1]}}, "at: expected Unix seconds"),
        ({"at": AT, "columns": {"time": [1, 2], "a_x": [1]}}, "as many values"),
        ({"at": AT, "columns": {"a_x": [1]}}, '"time"'),
        ({"at": AT, "columns": {"time": [AT - 1, AT], "a_x": ["x", 1]}}, "numbers"),
        ({"at": AT, "columns": {"time": [AT - 1, AT], "a_x": [1, 2]}, "top": 0}, "top"),
        ({"at": AT, "columns": {"time": [AT + 1], "a_x": [1]}}, "no row before it"),
        ({"at": AT, "series": [{"id": "x"}]}, "timestamps"),
        ({"at": AT, "series": []}, "series"),
        ({"at": AT, "columns": {"time": [1]}, "calls": [["a"]]}, "calls"),
        ({"at": AT, "columns": {"time": [1]}, "before": "1h"}, "go with"),
        ({"at": AT, "columns": {"time": [1]}, "extra": 1}, "'extra'"),
    ],
)
def test_bad_bodies_are_one_line_422s(live: Live, body: Any, says: str) -> None:
    r = call(live, body)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, str)
    assert "\n" not in detail
    assert says in detail


def test_not_json_is_a_422(live: Live) -> None:
    assert live.setup is not None
    headers = {"authorization": f"Bearer {live.setup.viewer}"}
    r = httpx.post(live.url + "/v1/triage", content=b"{nope", headers=headers, timeout=60)
    assert r.status_code == 422
    assert "not JSON" in r.json()["detail"]
