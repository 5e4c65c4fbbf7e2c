"""The HTTP server's own guards: a connection whose headers or body never finish is
answered 408 and closed, an idle keep-alive connection is closed, and past the
connection limit /healthz still answers.

Raw sockets on loopback play the slow clients. Each test waits for the server to close
the connection (a read that returns nothing), with a generous bound; none times it.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from serve.harness import FORECASTER, Live, Setup

#: how long a test waits for the server to close a connection before it fails: far
#: beyond the timeouts configured here, so only a server that never closes fails
CLOSE_BOUND_S = 60.0


def _connect(live: Live) -> socket.socket:
    host, port = live.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=CLOSE_BOUND_S)


def _until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


@pytest.fixture
def sockets() -> Iterator[list[socket.socket]]:
    opened: list[socket.socket] = []
    yield opened
    for sock in opened:
        sock.close()


def test_a_request_whose_headers_never_finish_is_closed(
    setup: Setup, start: Callable[..., Live], sockets: list[socket.socket]
) -> None:
    live = start(setup.home, setup, header_timeout=0.5)
    silent, partial = _connect(live), _connect(live)
    sockets += [silent, partial]
    # one sends nothing at all, the other half a request (no blank line after it)
    partial.sendall(f"POST /v1/models/{FORECASTER}/forecast HTTP/1.1\r\nHost: x\r\n".encode())
    for sock in (silent, partial):
        answer = _until_closed(sock)
        assert answer.startswith(b"HTTP/1.1 408 "), answer
        head, _, body = answer.partition(b"\r\n\r\n")
        assert b"connection: close" in head.lower()
        assert b'"error":"request_timeout"' in body
        assert b"expected the request's headers within 0.5 s" in body
    assert live.metric("modelphase_serve_connection_timeouts_total", phase="headers") == 2.0
    assert live.metric("modelphase_serve_rejected_requests_total", status="408") == 2.0


def test_a_next_request_that_never_finishes_on_a_kept_alive_connection_is_closed(
    setup: Setup, start: Callable[..., Live], sockets: list[socket.socket]
) -> None:
    live = start(setup.home, setup, header_timeout=0.5, keep_alive_timeout=60)
    sock = _connect(live)
    sockets.append(sock)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\n")
    answer = _until_closed(sock)  # the keep-alive timeout is far off: headers close it
    assert answer.startswith(b"HTTP/1.1 200 "), answer
    assert answer.count(b"HTTP/1.1 ") == 2
    assert b"HTTP/1.1 408 " in answer


def test_a_body_that_never_finishes_is_answered_408_and_closed(
    setup: Setup, start: Callable[..., Live], sockets: list[socket.socket]
) -> None:
    live = start(setup.home, setup, body_timeout=0.5)
    anonymous, viewer = _connect(live), _connect(live)
    sockets += [anonymous, viewer]
    head = (
        f"POST /v1/models/{FORECASTER}/forecast HTTP/1.1\r\nHost: x\r\n"
        "content-type: application/json\r\ncontent-length: 100\r\n"
    )
    # without a token: refused on its headers, the body is never waited for
    anonymous.sendall(f'{head}connection: close\r\n\r\n{{"series": '.encode())
    assert _until_closed(anonymous).startswith(b"HTTP/1.1 401 ")
    # with one: the body is read, and does not come
    viewer.sendall(f'{head}authorization: Bearer {setup.viewer}\r\n\r\n{{"series": '.encode())
    answer = _until_closed(viewer)
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert b"expected the request's body within 0.5 s" in answer
    assert live.metric("modelphase_serve_connection_timeouts_total", phase="body") == 1.0


def test_an_idle_keep_alive_connection_is_closed(
    setup: Setup, start: Callable[..., Live], sockets: list[socket.socket]
) -> None:
    live = start(setup.home, setup, keep_alive_timeout=1)
    sock = _connect(live)
    sockets.append(sock)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    answer = _until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 200 "), answer
    assert b"HTTP/1.1 408 " not in answer  # closed as idle, not as late


def test_past_the_connection_limit_healthz_and_metrics_still_answer(
    setup: Setup,
    start: Callable[..., Live],
    sockets: list[socket.socket],
    wait_for: Callable[..., Any],
) -> None:
    live = start(setup.home, setup, limit_concurrency=3, header_timeout=CLOSE_BOUND_S)
    sockets += [_connect(live) for _ in range(3)]  # idle connections fill the limit
    connections = live.server.server_state.connections
    wait_for(lambda: len(connections) >= 3, what="the server to hold three connections")
    with live.client() as client:
        refused = client.get("/v1/models")
        assert refused.status_code == 503  # uvicorn's own refusal, before the app
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/metrics").status_code == 200
    for sock in sockets:
        sock.close()
    wait_for(lambda: len(connections) <= 1, what="the idle connections to go")
    with live.client() as client:
        assert client.get("/v1/models").status_code == 200
    assert httpx.get(f"{live.url}/readyz").status_code == 200
