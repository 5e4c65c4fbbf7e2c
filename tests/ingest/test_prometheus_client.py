"""The Prometheus client and `modelphase ingest prometheus` against scripted servers.

Every test talks HTTP to a real server on loopback (:class:`ScriptedServer`, or a small
TLS server for certificate checks): splitting, concurrency, retries, bad answers, auth,
secrets, warnings, non-finite values and the CLI's contract (one ``error:`` line on
stderr, no traceback, no dataset) on each failure.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelphase.exceptions import (
    NonFiniteValueError,
    NoSeriesError,
    PrometheusConnectionError,
    PrometheusError,
    PrometheusQueryError,
    PrometheusResponseError,
    PrometheusTimeoutError,
    UnexpectedResultTypeError,
)
from modelphase.frame import NS_PER_SECOND, parse_time
from modelphase.ingest import (
    DatasetStore,
    PrometheusClient,
    RangeResult,
    RetryPolicy,
    ingest_prometheus,
)
from support.cli import CliResult, RunCli, datasets_in
from support.fake_http import (
    Reply,
    Request,
    ScriptedServer,
    html_page,
    prom_error,
    prom_matrix,
    prom_scalar,
    prom_success,
    prom_vector,
    refused_url,
)

T0 = parse_time("2024-01-01T00:00:00Z")
MINUTE = 60 * NS_PER_SECOND
FAST = RetryPolicy(retries=2, backoff=0.01)
TOKEN = "tok-3f9a-SECRET"
PASSWORD = "pw-7c1e-SECRET"
QUERY_PATH = "/api/v1/query_range"


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loopback requests must not go through a proxy set in the environment."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def _client(url: str, **kwargs: Any) -> PrometheusClient:
    kwargs.setdefault("retry", FAST)
    kwargs.setdefault("timeout", 1.0)
    return PrometheusClient(url, **kwargs)


def _query(url: str, end_steps: int = 2, **kwargs: Any) -> RangeResult:
    with _client(url, **kwargs) as client:
        return client.query_range("up", T0, T0 + end_steps * MINUTE, MINUTE)


def _secs(ns: int) -> float:
    return ns / NS_PER_SECOND


def _ns(param: str | None) -> int:
    assert param is not None
    return int(Decimal(param) * NS_PER_SECOND)


def _value(t: int, job: str) -> float:
    return float((t // MINUTE) % 1000) + (0.25 if job == "b" else 0.0)


def _grid_reply(request: Request) -> Reply:
    """Samples at exactly the grid points asked for, with values computed from time."""
    start, end, step = (_ns(request.param(k)) for k in ("start", "end", "step"))
    grid = range(start, end + 1, step)
    return prom_matrix(
        {f'up{{job="{job}"}}': [(_secs(t), _value(t, job)) for t in grid] for job in ("a", "b")}
    )


def _pieces(requests: list[Request]) -> list[tuple[int, int, int]]:
    return sorted(
        (_ns(r.param("start")), _ns(r.param("end")), _ns(r.param("step"))) for r in requests
    )


GOOD = prom_matrix({'up{job="api"}': [(_secs(T0 + k * MINUTE), k + 0.5) for k in range(3)]})


# ---------------------------------------------------------------------------- splitting


def test_long_range_is_split_into_contiguous_requests() -> None:
    n_steps = 25_000
    end = T0 + n_steps * MINUTE
    with ScriptedServer(handler=_grid_reply) as srv, _client(srv.url) as client:
        result = client.query_range("up", T0, end, MINUTE)

    assert result.n_requests == len(srv.requests) == 3
    assert all(r.method == "POST" and r.path == QUERY_PATH for r in srv.requests)
    assert all(r.form["query"] == ["up"] for r in srv.requests)
    pieces = _pieces(srv.requests)
    assert all(step == MINUTE for _, _, step in pieces)
    assert all((hi - lo) / step <= 10_999 for lo, hi, step in pieces)
    assert pieces[0][0] == T0
    assert pieces[-1][1] == end
    for (_, prev_hi, _), (lo, _, _) in itertools.pairwise(pieces):
        assert lo == prev_hi + MINUTE, "contiguous and non-overlapping on the grid"

    grid = np.arange(T0, end + 1, MINUTE, dtype=np.int64)
    assert result.panel.ids == ['up{job="a"}', 'up{job="b"}']
    for job in ("a", "b"):
        ds, y = result.panel.series(f'up{{job="{job}"}}')
        assert np.array_equal(ds, grid), "the merged pieces are the whole range, in order"
        assert np.array_equal(y, [_value(int(t), job) for t in grid])
    assert (result.start, result.end, result.step) == (T0, end, MINUTE)


def test_pieces_answered_out_of_order_are_merged_in_order() -> None:
    def handler(request: Request) -> Reply:
        reply = _grid_reply(request)
        k = (_ns(request.param("start")) - T0) // (10 * MINUTE)
        return Reply(body=reply.body, delay=0.04 * (5 - k))  # earlier pieces answer later

    with (
        ScriptedServer(handler=handler) as srv,
        _client(srv.url, concurrency=5, max_points=10) as client,
    ):
        result = client.query_range("up", T0, T0 + 49 * MINUTE, MINUTE)
    assert len(srv.requests) == 5
    ds, y = result.panel.series('up{job="a"}')
    assert np.array_equal(ds, T0 + np.arange(50) * MINUTE)
    assert np.array_equal(y, [_value(int(t), "a") for t in ds])


def test_concurrency_is_bounded() -> None:
    lock = threading.Lock()
    overlapped = threading.Event()
    in_flight = 0
    peak = 0

    def handler(request: Request) -> Reply:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
            if in_flight >= 2:
                overlapped.set()
        try:
            overlapped.wait(60.0)  # the first request waits for a second one to overlap
            time.sleep(0.03)  # so that a third, if sent, would be seen in flight
            return _grid_reply(request)
        finally:
            with lock:
                in_flight -= 1

    with (
        ScriptedServer(handler=handler) as srv,
        _client(srv.url, concurrency=2, max_points=5) as client,
    ):
        result = client.query_range("up", T0, T0 + 29 * MINUTE, MINUTE)
    assert len(srv.requests) == result.n_requests == 6
    assert peak == 2, f"expected at most (and here exactly) 2 requests in flight, saw {peak}"
    assert result.panel.n_points == 2 * 30


def test_progress_reports_each_piece() -> None:
    seen: list[tuple[int, int]] = []
    with ScriptedServer(handler=_grid_reply) as srv, _client(srv.url, max_points=4) as client:
        client.query_range(
            "up", T0, T0 + 9 * MINUTE, MINUTE, progress=lambda d, t: seen.append((d, t))
        )
    assert seen == [(0, 3), (1, 3), (2, 3), (3, 3)]


# ------------------------------------------------------------------------------ retries


def test_unavailable_twice_then_success() -> None:
    replies = [prom_error("unavailable", "overloaded"), html_page(503, "503 Unavailable"), GOOD]
    with ScriptedServer(replies) as srv:
        result = _query(srv.url)
    assert len(srv.requests) == 3
    assert result.panel.ids == ['up{job="api"}']


@pytest.mark.parametrize("retries", [0, 2])
@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (prom_error("internal", "boom in the engine"), PrometheusQueryError),
        (Reply(500, "oops", content_type="text/plain"), PrometheusResponseError),
    ],
    ids=["error-json", "text"],
)
def test_server_errors_are_retried_then_raised(
    retries: int, reply: Reply, error: type[PrometheusError]
) -> None:
    with ScriptedServer([reply]) as srv, pytest.raises(error) as info:
        _query(srv.url, retry=RetryPolicy(retries=retries, backoff=0.01))
    attempts = retries + 1
    assert len(srv.requests) == attempts
    assert f"({attempts} attempts)" in str(info.value)
    assert info.value.url == srv.url + QUERY_PATH
    assert getattr(info.value, "status_code", None) == 500
    if error is PrometheusQueryError:
        assert "boom in the engine" in str(info.value)


def test_timeouts_are_retried_then_raised() -> None:
    # the server would answer after 30 s (its stop wakes it): far past any scheduling delay
    with ScriptedServer([Reply(delay=30.0)]) as srv, pytest.raises(PrometheusTimeoutError) as info:
        _query(srv.url, timeout=0.2, retry=RetryPolicy(retries=1, backoff=0.01))
    assert len(srv.requests) == 2
    assert "(2 attempts)" in str(info.value)
    assert "0.2s" in str(info.value)
    assert srv.url in str(info.value)


def test_a_timeout_then_an_answer_succeeds() -> None:
    with ScriptedServer([Reply(delay=30.0), GOOD]) as srv:
        result = _query(srv.url, timeout=0.2)
    assert len(srv.requests) == 2
    assert result.panel.n_points == 3


@pytest.mark.parametrize(
    ("reply", "status", "error_type"),
    [
        (prom_error("bad_data", 'parse error at char 4: unexpected "}"'), 400, "bad_data"),
        (prom_error("execution", "would load too many samples"), 422, "execution"),
    ],
)
def test_query_errors_are_not_retried(reply: Reply, status: int, error_type: str) -> None:
    with ScriptedServer([reply]) as srv, pytest.raises(PrometheusQueryError) as info:
        _query(srv.url)
    assert len(srv.requests) == 1
    assert info.value.error_type == error_type
    assert info.value.status_code == status
    assert json.loads(reply.body)["error"] in str(info.value)


# -------------------------------------------------------------------------- bad answers


@pytest.mark.parametrize(
    ("reply", "n_requests"),
    [(html_page(200, "Sign in"), 1), (html_page(404, "404 Not Found"), 1), (html_page(), 3)],
    ids=["200", "404", "502"],
)
def test_html_pages_raise_response_error(reply: Reply, n_requests: int) -> None:
    with ScriptedServer([reply]) as srv, pytest.raises(PrometheusResponseError) as info:
        _query(srv.url)
    text = str(info.value)
    assert len(srv.requests) == n_requests, "only a 5xx page is retried"
    assert srv.url + QUERY_PATH in text
    assert info.value.status_code == reply.status
    assert "Traceback" not in text
    assert "\n" not in text


@pytest.mark.parametrize(
    ("reply", "result_type"),
    [
        (prom_vector({'up{job="api"}': (1, 1.0)}), "vector"),
        (prom_scalar(1, 1.0), "scalar"),
        (prom_success({"resultType": "string", "result": [1, "hello"]}), "string"),
    ],
)
def test_other_result_types_raise(reply: Reply, result_type: str) -> None:
    with ScriptedServer([reply]) as srv, pytest.raises(UnexpectedResultTypeError) as info:
        _query(srv.url)
    assert info.value.result_type == result_type
    assert len(srv.requests) == 1


def test_an_empty_matrix_raises_no_series() -> None:
    with ScriptedServer([prom_matrix({})]) as srv, pytest.raises(NoSeriesError, match="'up'"):
        _query(srv.url)


def test_a_refused_connection_is_retried_then_raised() -> None:
    with pytest.raises(PrometheusConnectionError) as info:
        _query(refused_url())
    assert "connection refused" in str(info.value)
    assert "(3 attempts)" in str(info.value)


def test_a_dropped_connection_is_retried() -> None:
    with ScriptedServer([Reply(drop=True), GOOD]) as srv:
        result = _query(srv.url)
    assert len(srv.requests) == 2
    assert result.panel.n_points == 3


def test_a_connection_dropped_every_time_raises() -> None:
    with (
        ScriptedServer([Reply(drop=True)]) as srv,
        pytest.raises(PrometheusConnectionError) as info,
    ):
        _query(srv.url)
    assert len(srv.requests) == 3
    assert "(3 attempts)" in str(info.value)


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1", "http://", "127.0.0.1:9090", "http://127.0.0.1:99999", "http://[::1"]
)
def test_unusable_urls_are_refused(url: str) -> None:
    with pytest.raises(PrometheusConnectionError, match="http"):
        PrometheusClient(url)


def test_ipv6_hosts_keep_their_brackets() -> None:
    assert PrometheusClient("http://[::1]:9090/prom/").base_url == "http://[::1]:9090/prom"


# ----------------------------------------------------------------------- auth and secrets


def _basic(request: Request) -> str:
    scheme, _, value = request.headers["authorization"].partition(" ")
    assert scheme == "Basic"
    return base64.b64decode(value).decode()


def test_bearer_token_is_sent() -> None:
    with ScriptedServer([GOOD]) as srv:
        _query(srv.url, token=TOKEN)
    assert srv.requests[0].headers["authorization"] == f"Bearer {TOKEN}"


def test_basic_auth_is_sent() -> None:
    with ScriptedServer([GOOD]) as srv:
        _query(srv.url, username="alice", password=PASSWORD)
    assert _basic(srv.requests[0]) == f"alice:{PASSWORD}"


def test_credentials_in_the_url_become_basic_auth() -> None:
    with ScriptedServer([GOOD]) as srv:
        url = srv.url.replace("http://", "http://al%40ice:p%40ss%3Aw%2Fd@")
        with _client(url) as client:
            assert client.base_url == srv.url, "no user info kept in the base URL"
            client.query_range("up", T0, T0, MINUTE)
    assert _basic(srv.requests[0]) == "al@ice:p@ss:w/d", "user info is percent-decoded"


@pytest.mark.parametrize("where", ["arguments", "url"])
def test_token_and_basic_auth_together_are_refused(where: str) -> None:
    url = "http://127.0.0.1:9090"
    kwargs: dict[str, Any] = {"token": TOKEN}
    if where == "url":
        url = f"http://bob:{PASSWORD}@127.0.0.1:9090"
    else:
        kwargs.update(username="bob", password=PASSWORD)
    with pytest.raises(PrometheusError, match="both") as info:
        PrometheusClient(url, **kwargs)
    assert TOKEN not in str(info.value)
    assert PASSWORD not in str(info.value)


def _refused_with_secret() -> str:
    return refused_url().replace("http://", f"http://bob:{PASSWORD}@")


@pytest.mark.parametrize(
    "scenario", ["server-error", "refused", "refused-url-password", "bad-url-password"]
)
def test_secrets_never_appear_in_errors_or_repr(scenario: str) -> None:
    with ScriptedServer([prom_error("internal", "boom")]) as srv:
        kwargs: dict[str, Any] = {"token": TOKEN}
        url = {
            "server-error": srv.url,
            "refused": refused_url(),
            "refused-url-password": _refused_with_secret(),
            "bad-url-password": f"http://bob:{PASSWORD}@127.0.0.1:notaport",
        }[scenario]
        if "password" in scenario:
            kwargs = {}
        reprs: list[str] = []

        def attempt() -> None:
            with _client(url, **kwargs) as client:
                reprs.append(repr(client))
                client.query_range("up", T0, T0 + MINUTE, MINUTE)

        with pytest.raises(PrometheusError) as info:
            attempt()
    exc = info.value
    for text in (str(exc), repr(exc), exc.url, exc.hint, *reprs):
        assert TOKEN not in text
        assert PASSWORD not in text


# --------------------------------------------------------------------------------- TLS

# A test CA and a certificate it signed for 127.0.0.1 (valid 2000-2099; test use only).
TEST_CA = """-----BEGIN CERTIFICATE-----
MIIBcTCCARagAwIBAgIBATAKBggqhkjOPQQDAjAdMRswGQYDVQQDDBJtb2RlbHBo
YXNlIHRlc3QgQ0EwIBcNMDAwMTAxMDAwMDAwWhgPMjA5OTEyMzEwMDAwMDBaMB0x
GzAZBgNVBAMMEm1vZGVscGhhc2UgdGVzdCBDQTBZMBMGByqGSM49AgEGCCqGSM49
AwEHA0IABFix9HLpl2yxD/Ac25KvrHpoPL/i4gDehKbaOK0BFviIPF2RlbKvRSjV
f1MnZU7KGEXHxdC2sHEOgSBGMn7C8FujRTBDMBIGA1UdEwEB/wQIMAYBAf8CAQAw
DgYDVR0PAQH/BAQDAgEGMB0GA1UdDgQWBBRuTr2d9z8R8GPkTLL3cCvKRyanXDAK
BggqhkjOPQQDAgNJADBGAiEA44pVhxkDJR+J3qKyV0zHANjuXrKEgenmtcp7zBvy
9eICIQDXV0d6VXyG5hu430EdvFN0K6ivdGeGY0RaoURBEVEv+g==
-----END CERTIFICATE-----
"""
TEST_SERVER_CERT = """-----BEGIN CERTIFICATE-----
MIIBqTCCAVCgAwIBAgIBAjAKBggqhkjOPQQDAjAdMRswGQYDVQQDDBJtb2RlbHBo
YXNlIHRlc3QgQ0EwIBcNMDAwMTAxMDAwMDAwWhgPMjA5OTEyMzEwMDAwMDBaMBQx
EjAQBgNVBAMMCTEyNy4wLjAuMTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABDkZ
VslJLYthfUZPWr9C6O/upzM4TzTjUrmyiCIQOnmB7/9q75+OtnFJ0P2wFeFgmAtP
tIAoiR+3i5lNmDqkDmujgYcwgYQwDAYDVR0TAQH/BAIwADAOBgNVHQ8BAf8EBAMC
B4AwEwYDVR0lBAwwCgYIKwYBBQUHAwEwDwYDVR0RBAgwBocEfwAAATAdBgNVHQ4E
FgQUwgMRsR3VwJQnKxXB4//EeRhlnAUwHwYDVR0jBBgwFoAUbk69nfc/EfBj5Eyy
93Arykcmp1wwCgYIKoZIzj0EAwIDRwAwRAIgH2a4tQqj2sBDbRAvTG3UlOKcbWyV
2hU8IinnEEb10vICIGVh8yvnDL8OotGj1F0lEQqv0gBSYjDBXLSvzgVFtZQq
-----END CERTIFICATE-----
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgkL+awD3JCKZ6P2U7
d8Ihs+HVqCVVV0cuc+L6VCLKQMqhRANCAAQ5GVbJSS2LYX1GT1q/Qujv7qczOE80
41K5sogiEDp5ge//au+fjrZxSdD9sBXhYJgLT7SAKIkft4uZTZg6pA5r
-----END PRIVATE KEY-----
"""


class _TlsServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that give up on the certificate are expected: stay quiet."""


@contextmanager
def _tls_server(folder: Path, reply: Reply) -> Iterator[str]:
    """An HTTPS server on loopback answering ``reply`` to everything."""
    payload = reply.body.encode() if isinstance(reply.body, str) else reply.body

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            """No access log."""

    (folder / "server.pem").write_text(TEST_SERVER_CERT)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "server.pem")
    httpd = _TlsServer(("127.0.0.1", 0), Handler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"https://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(2)


def test_tls_certificates_are_verified_by_default(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text(TEST_CA)
    with _tls_server(tmp_path, GOOD) as url:
        with pytest.raises(PrometheusConnectionError, match=r"(?i)certificate"):
            _query(url, retry=RetryPolicy(retries=0))
        assert _query(url, ca_cert=ca).panel.n_points == 3, "trusted with its CA bundle"
        assert _query(url, verify=False).panel.n_points == 3, "or with verification off"


def test_https_to_a_plain_http_server_is_a_connection_error() -> None:
    with ScriptedServer([GOOD]) as srv, pytest.raises(PrometheusConnectionError) as info:
        _query(srv.url.replace("http://", "https://"))
    assert "(3 attempts)" in str(info.value)
    assert srv.requests == []


# ----------------------------------------------------------------- warnings and infos


def _with_messages(reply: Reply, warnings: list[str], infos: list[str]) -> Reply:
    doc = json.loads(reply.body)
    doc["warnings"], doc["infos"] = warnings, infos
    return Reply(body=json.dumps(doc))


WARN = "PromQL warning: encountered a mix of histograms and floats for metric name [/] [bold]x"
INFO = 'PromQL info: metric might not be a counter, name does not end in _total: "up" (1:6)'


def _warning_handler(request: Request) -> Reply:
    first = _ns(request.param("start")) == T0
    warnings = [WARN, "only in the first piece"] if first else [WARN]
    return _with_messages(_grid_reply(request), warnings, [INFO])


def test_warnings_and_infos_reach_the_result_and_the_manifest(tmp_path: Path) -> None:
    store = DatasetStore(tmp_path / "datasets")
    with ScriptedServer(handler=_warning_handler) as srv, _client(srv.url, max_points=4) as client:
        result = client.query_range("up", T0, T0 + 9 * MINUTE, MINUTE)
        manifest, messages = ingest_prometheus(
            client,
            "up",
            store,
            start=T0,
            end=T0 + 9 * MINUTE,
            step=MINUTE,
            now=datetime(2024, 2, 1, tzinfo=UTC),
        )
    assert result.n_requests == 3
    assert result.warnings == [WARN, "only in the first piece"], "each message once"
    assert result.infos == [INFO]
    expected = [WARN, "only in the first piece", f"info: {INFO}"]
    assert messages == expected
    assert manifest.warnings == expected
    assert store.manifest(manifest.id).warnings == expected, "kept in manifest.json"
    assert manifest.source["requests"] == 3
    assert manifest.source["url"] == srv.url


# -------------------------------------------------------------------------- the CLI

START, END = "2024-01-01T00:00:00Z", "2024-01-01T00:02:00Z"
FAST_CLI = ("--retries", "1", "--backoff", "0.01", "--timeout", "1")


def _ingest(cli: RunCli, url: str, *extra: str, query: str = 'up{job="api"}') -> CliResult:
    args = ["--url", url, "--query", query, "--start", START, "--end", END, "--step", "60s"]
    return cli("ingest", "prometheus", *args, *FAST_CLI, *extra)


def _assert_failed_cleanly(result: CliResult, home: Path) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.code != 0
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:"), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stdout == ""
    assert datasets_in(home) == [], "no dataset, not even a hidden temporary folder"
    for secret in (TOKEN, PASSWORD):
        assert secret not in result.stderr
    return lines[0]


def test_cli_ingests_a_range_and_prints_the_id_last(cli: RunCli, home: Path) -> None:
    with ScriptedServer([GOOD]) as srv:
        result = _ingest(cli, srv.url, "--token", TOKEN)
    assert result.code == 0, result.stderr
    assert re.fullmatch(r"[0-9a-f]{16}", result.last_line)
    request = srv.requests[0]
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.form["query"] == ['up{job="api"}']
    assert _pieces(srv.requests) == [(T0, T0 + 2 * MINUTE, MINUTE)]
    store = DatasetStore(home / "datasets")
    manifest = store.manifest(result.last_line)
    assert manifest.source["kind"] == "prometheus"
    assert manifest.source["query"] == 'up{job="api"}'
    assert manifest.step == "1m"
    ds, y = store.load(result.last_line).series('up{job="api"}')
    assert np.array_equal(ds, T0 + np.arange(3) * MINUTE)
    assert np.array_equal(y, [0.5, 1.5, 2.5])
    assert TOKEN not in result.stderr + result.stdout


NAN_REPLY = prom_matrix({'up{job="api"}': [(_secs(T0), 1.0), (_secs(T0 + MINUTE), float("nan"))]})

Case = tuple[list[Reply], Callable[[str], str] | None, tuple[str, ...], str]

# replies, a URL made from the server's (default: the server's), extra args, in the message
FAILURES: dict[str, Case] = {
    "bad-data": ([prom_error("bad_data", "parse error at char 3")], None, (), "parse error"),
    "execution": ([prom_error("execution", "too many samples")], None, (), "too many samples"),
    "internal-500": ([prom_error("internal", "boom")], None, (), "boom (HTTP 500) (2 attempts)"),
    "text-503": ([Reply(503, "Unavailable", content_type="text/plain")], None, (), "HTTP 503"),
    "html-200": ([html_page(200, "Sign in")], None, (), "Sign in"),
    "html-502": ([html_page()], None, (), "HTTP 502 (2 attempts)"),
    "vector": ([prom_vector({"up": (1, 1.0)})], None, (), "'vector'"),
    "scalar": ([prom_scalar(1, 1.0)], None, (), "'scalar'"),
    "string": ([prom_success({"resultType": "string", "result": [1, "x"]})], None, (), "string"),
    "no-series": ([prom_matrix({})], None, (), "matched no series"),
    "timeout": ([Reply(delay=0.6)], None, ("--timeout", "0.2"), "within 0.2s (2 attempts)"),
    "dropped": ([Reply(drop=True)], None, (), "(2 attempts)"),
    "refused": ([GOOD], lambda _: refused_url(), (), "connection refused (2 attempts)"),
    "refused-password": ([GOOD], lambda _: _refused_with_secret(), (), "connection refused"),
    "https-to-http": ([GOOD], lambda url: url.replace("http:", "https:"), (), "cannot reach"),
    "bad-url-password": (
        [GOOD],
        lambda _: f"http://bob:{PASSWORD}@127.0.0.1:99999",
        (),
        "expected an http(s) URL",
    ),
    "token-and-basic": ([GOOD], None, ("--username", "bob", "--password", PASSWORD), "both"),
    "nan": ([NAN_REPLY], None, (), 'NaN value(s); series: up{job="api"}'),
}


@pytest.mark.parametrize("case", list(FAILURES))
def test_cli_failures_give_one_error_line_and_no_dataset(
    case: str, cli: RunCli, home: Path
) -> None:
    replies, make_url, extra, expected = FAILURES[case]
    auth = () if "password" in case else ("--token", TOKEN)  # URL user info: basic auth
    with ScriptedServer(replies) as srv:
        url = make_url(srv.url) if make_url else srv.url
        result = _ingest(cli, url, *auth, *extra)
    line = _assert_failed_cleanly(result, home)
    assert expected in line


def test_cli_prints_prometheus_warnings_and_still_succeeds(cli: RunCli, home: Path) -> None:
    reply = _with_messages(GOOD, [WARN], [INFO])
    with ScriptedServer([reply]) as srv:
        result = _ingest(cli, srv.url)
    assert result.code == 0, result.stderr
    warned = [x for x in result.stderr.splitlines() if x.startswith("prometheus warning:")]
    assert warned == [f"prometheus warning: {WARN}", f"prometheus warning: info: {INFO}"]
    assert re.fullmatch(r"[0-9a-f]{16}", result.last_line)
    manifest = DatasetStore(home / "datasets").manifest(result.last_line)
    assert manifest.warnings == [WARN, f"info: {INFO}"]

    shown = cli("datasets", "show", result.last_line)
    assert shown.code == 0, shown.stderr
    assert WARN in shown.stdout, "markup-like text in a warning is shown as is"


def test_cli_labels_and_queries_with_brackets_are_shown_as_is(cli: RunCli, home: Path) -> None:
    labels = {"__name__": "http_requests", "path": "/api/[/]"}
    reply = prom_matrix([(labels, [(_secs(T0), 1.0), (_secs(T0 + MINUTE), 2.0)])])
    with ScriptedServer([reply]) as srv:
        result = _ingest(cli, srv.url, query='http_requests{path=~"/api/[/].*"}')
    assert result.code == 0, result.stderr
    shown = cli("datasets", "show", result.last_line)
    assert shown.code == 0, shown.stderr
    assert "[/]" in shown.stdout


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_nonfinite_values_are_rejected_by_default(value: float, tmp_path: Path) -> None:
    reply = prom_matrix({'up{job="api"}': [(_secs(T0), 1.0), (_secs(T0 + MINUTE), value)]})
    store = DatasetStore(tmp_path / "datasets")
    with (
        ScriptedServer([reply]) as srv,
        _client(srv.url) as client,
        pytest.raises(NonFiniteValueError) as info,
    ):
        ingest_prometheus(
            client, "up", store, start=T0, end=T0 + MINUTE, step=MINUTE, now=datetime.now(UTC)
        )
    assert info.value.unique_ids == ['up{job="api"}']
    assert 'up{job="api"}' in str(info.value)
    assert "--nonfinite drop" in str(info.value)
    assert store.list() == []


def test_cli_nonfinite_drop_keeps_them_as_missing_points(cli: RunCli, home: Path) -> None:
    reply = prom_matrix(
        {
            'up{job="api"}': [(_secs(T0), 1.0), (_secs(T0 + MINUTE), float("nan"))],
            'up{job="db"}': [(_secs(T0), float("-inf")), (_secs(T0 + 2 * MINUTE), 3.0)],
        }
    )
    with ScriptedServer([reply]) as srv:
        result = _ingest(cli, srv.url, "--nonfinite", "drop")
    assert result.code == 0, result.stderr
    store = DatasetStore(home / "datasets")
    panel = store.load(result.last_line)
    _, api = panel.series('up{job="api"}')
    _, db = panel.series('up{job="db"}')
    assert np.array_equal(api, [1.0, np.nan, np.nan], equal_nan=True)
    assert np.array_equal(db, [np.nan, np.nan, 3.0], equal_nan=True)
    assert store.manifest(result.last_line).n_missing == 4
