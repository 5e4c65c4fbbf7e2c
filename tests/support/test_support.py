"""Tests of the test support: the scripted HTTP server, the known data, real Prometheus."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from modelphase.frame import NS_PER_SECOND, parse_series_id, series_id
from support.fake_http import (
    Reply,
    Request,
    ScriptedServer,
    format_value,
    html_page,
    prom_error,
    prom_matrix,
    prom_scalar,
    prom_vector,
    refused_url,
)
from support.prometheus import (
    ESCAPED_SITE,
    STEP_NS,
    find_binaries,
    make_history,
    simulate_query_range,
    start_history_server,
    write_openmetrics,
)

END_NS = 1_700_000_040 * NS_PER_SECOND  # a whole minute

# --------------------------------------------------------------------------- fake_http


def test_scripted_server_answers_in_order_and_records_requests() -> None:
    replies = [prom_error("bad_data", "parse error"), Reply(200, b'{"ok": 1}')]
    with ScriptedServer(replies) as srv, httpx.Client(base_url=srv.url) as client:
        first = client.get("/api/v1/query", params={"query": "up", "time": "1.5"})
        second = client.post(
            "/api/v1/query_range",
            data={"query": 'up{job="a b"}', "step": "60"},
            headers={"X-Scope-OrgID": "tenant-1"},
        )
        third = client.get("/-/ready")
    assert [first.status_code, second.status_code, third.status_code] == [400, 200, 200]
    assert first.json() == {"status": "error", "errorType": "bad_data", "error": "parse error"}
    assert third.json() == {"ok": 1}
    get, post, last = srv.requests
    assert (get.method, get.path, get.query) == (
        "GET",
        "/api/v1/query",
        {"query": ["up"], "time": ["1.5"]},
    )
    assert get.form == {}
    assert (post.method, post.path, post.query) == ("POST", "/api/v1/query_range", {})
    assert post.form == {"query": ['up{job="a b"}'], "step": ["60"]}
    assert post.param("query") == 'up{job="a b"}'
    assert post.headers["x-scope-orgid"] == "tenant-1"
    assert post.headers["content-type"] == "application/x-www-form-urlencoded"
    assert last.path == "/-/ready"


def test_handler_mode_computes_replies_and_reports_its_errors() -> None:
    def handler(request: Request) -> Reply:
        step = int(request.param("step") or "0")
        return prom_scalar(1, float(10 / step))  # step=0 raises ZeroDivisionError

    srv = ScriptedServer(handler=handler).start()
    with httpx.Client(base_url=srv.url) as client:
        good = client.get("/q", params={"step": "4"})
        broken = client.get("/q", params={"step": "0"})
    assert good.json()["data"]["result"] == [1, "2.5"]
    assert broken.status_code == 500
    assert "ZeroDivisionError" in broken.text
    assert len(srv.requests) == 2
    with pytest.raises(ZeroDivisionError):
        srv.__exit__(None, None, None)  # leaving the with block re-raises the first error
    assert isinstance(srv.errors[0], ZeroDivisionError)


def test_delay_lets_clients_time_out_and_stop_wakes_sleeping_handlers() -> None:
    with ScriptedServer([Reply(body=b"{}", delay=30.0)]) as srv:
        with httpx.Client(base_url=srv.url, timeout=0.2) as client:
            with pytest.raises(httpx.ReadTimeout):
                client.get("/slow")

            def stop_once_asked() -> None:  # a condition, not a delay: the request is in
                while len(srv.requests) < 2:
                    time.sleep(0.01)
                srv.stop()

            stopper = threading.Thread(target=stop_once_asked, daemon=True)
            stopper.start()
            started = time.monotonic()
            # The stop wakes the sleeping handler, which closes the connection unanswered.
            with pytest.raises(httpx.RemoteProtocolError):
                client.get("/slow", timeout=20.0)
        stopper.join()
        assert time.monotonic() - started < 15.0  # not the 30 s delay
    assert len(srv.requests) == 2


def test_drop_closes_the_connection_unanswered_and_refused_url_refuses() -> None:
    with ScriptedServer([Reply(drop=True)]) as srv, httpx.Client() as client:
        with pytest.raises(httpx.RemoteProtocolError):
            client.get(srv.url)
        with pytest.raises(httpx.ConnectError):
            client.get(refused_url())


def test_canned_prometheus_bodies() -> None:
    uid = 'up{job="a\\"b"}'
    points: list[tuple[float, float | str]] = [(60, 1.0), (120.5, "NaN")]
    matrix = json.loads(prom_matrix({uid: points}, warnings=["w"]).body)
    assert matrix == {
        "status": "success",
        "data": {
            "resultType": "matrix",
            "result": [{"metric": parse_series_id(uid), "values": [[60, "1"], [120.5, "NaN"]]}],
        },
        "warnings": ["w"],
    }
    vector = json.loads(prom_vector([({"__name__": "up"}, (1.25, 0.1))]).body)
    assert vector["data"]["result"] == [{"metric": {"__name__": "up"}, "value": [1.25, "0.1"]}]
    assert "warnings" not in vector
    assert prom_error("execution", "boom").status == 422
    assert prom_error("timeout", "slow", status=504).status == 504
    page = html_page()
    assert (page.status, page.content_type) == (502, "text/html")
    assert format_value(1 / 3) == "0.3333333333333333"
    assert format_value(float("-inf")) == "-Inf"


# --------------------------------------------------------------------------- known data


def test_write_openmetrics_escapes_groups_and_checks() -> None:
    odd = {"__name__": "b", "v": 'q"\\\nü'}
    plain = {"__name__": "a"}
    text = write_openmetrics(
        {
            series_id(odd): (odd, [0, 1_500_000_000], [-1.5, 1e-300]),
            series_id(plain): (plain, [60 * NS_PER_SECOND], [float("inf")]),
        }
    )
    assert text == (
        "# TYPE a gauge\na +Inf 60\n"
        '# TYPE b gauge\nb{v="q\\"\\\\\\nü"} -1.5 0\nb{v="q\\"\\\\\\nü"} 1e-300 1.5\n'
        "# EOF\n"
    )
    with pytest.raises(ValueError, match="strictly increasing"):
        write_openmetrics({"a": (plain, [2, 1], [0.0, 0.0])})
    with pytest.raises(ValueError, match="not its labels' id"):
        write_openmetrics({"x": (plain, [1], [0.0])})


def test_make_history_has_the_promised_shapes() -> None:
    history = make_history(END_NS)
    again = make_history(END_NS)
    assert again.text == history.text
    assert all(np.array_equal(again.expected[k][1], v[1]) for k, v in history.expected.items())
    assert history.end_ns == END_NS
    assert 4 <= history.n_series <= 6
    for uid, (ts, values) in history.expected.items():
        assert uid == series_id(history.labels[uid])
        assert ts.dtype == np.int64
        assert values.dtype == np.float64
        assert np.all(ts % STEP_NS == 0)
        assert np.all(np.diff(ts) > 0)
    full_ts, full_values = history.expected[history.full_id]
    assert full_ts.size > 11_000
    assert (full_ts[0], full_ts[-1]) == (history.start_ns, history.end_ns)
    hole_ts, _ = history.expected[history.hole_id]
    gap = np.diff(hole_ts).max()
    assert gap == 61 * STEP_NS
    assert history.window(history.hole_id, *history.hole)[0].size == 0
    assert history.expected[history.late_id][0][0] == history.late_start_ns > history.start_ns
    assert history.labels[history.escaped_id]["site"] == ESCAPED_SITE
    assert (history.expected[history.escaped_id][1] < 0).any()
    assert sum(lab["__name__"] == history.few_metric for lab in history.labels.values()) == 2
    assert max(len(repr(v)) for v in full_values[:50].tolist()) >= 18


def test_simulate_query_range_applies_the_lookback_closed_on_both_ends() -> None:
    s = NS_PER_SECOND
    samples = (np.array([0, 60, 300], dtype=np.int64) * s, np.array([1.0, 2.0, 3.0]))
    got_ts, got_values = simulate_query_range(samples, 0, 600 * s, 120 * s, 60 * s)
    assert (got_ts // s).tolist() == [0, 120, 360]
    assert got_values.tolist() == [1.0, 2.0, 3.0]
    got_ts, got_values = simulate_query_range(samples, 0, 600 * s, 120 * s, 59 * s)
    assert ((got_ts // s).tolist(), got_values.tolist()) == ([0], [1.0])


def test_missing_binaries_skip_locally_and_fail_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install prometheus"):
        find_binaries()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(RuntimeError, match="apt-get install prometheus"):
        find_binaries()


# --------------------------------------------------------------------------- real server


def _query_range(client: httpx.Client, query: str, start_ns: int, end_ns: int) -> httpx.Response:
    data = {
        "query": query,
        "start": str(start_ns // NS_PER_SECOND),
        "end": str(end_ns // NS_PER_SECOND),
        "step": "60",
    }
    return client.post("/api/v1/query_range", data=data)


@pytest.mark.prometheus
def test_real_prometheus_serves_the_history_exactly(tmp_path: Path) -> None:
    server, history = start_history_server(tmp_path)
    with server, httpx.Client(base_url=server.url, timeout=10.0) as client:
        assert server.url == f"http://127.0.0.1:{server.port}"
        for uid in (history.escaped_id, history.hole_id):
            start = history.hole[0] - 3 * 3600 * NS_PER_SECOND
            end = history.hole[1] + 3 * 3600 * NS_PER_SECOND
            answer = _query_range(client, uid, start, end).json()
            assert answer["status"] == "success"
            (result,) = answer["data"]["result"]
            assert series_id(result["metric"]) == uid
            ts = np.array([int(t) for t, _ in result["values"]], dtype=np.int64) * NS_PER_SECOND
            values = np.array([float(v) for _, v in result["values"]], dtype=np.float64)
            want_ts, want_values = history.window(uid, start, end)
            np.testing.assert_array_equal(ts, want_ts)
            np.testing.assert_array_equal(values, want_values)

        count = client.post(
            "/api/v1/query",
            data={"query": 'count({__name__=~".+"})', "time": str(history.end_ns // NS_PER_SECOND)},
        ).json()
        assert int(count["data"]["result"][0]["value"][1]) == history.n_series

        too_long = _query_range(client, history.full_id, history.start_ns, history.end_ns)
        assert too_long.status_code == 400
        assert too_long.json()["errorType"] == "bad_data"
    assert server._process is None
