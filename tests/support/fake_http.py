"""Scripted HTTP servers on loopback, for the error paths of HTTP clients.

A :class:`ScriptedServer` answers with a list of :class:`Reply` in order (the last one
repeats) or with a function of the :class:`Request`, and records every request::

    with ScriptedServer([prom_error("bad_data", "parse error"), prom_matrix({})]) as srv:
        client = httpx.Client(base_url=srv.url)
        ...
        assert srv.requests[0].form["query"] == ["up"]

>>> format_value(1e21), format_value(-0.000_000_1), format_value(float("nan"))
('1000000000000000000000', '-0.0000001', 'NaN')
"""

from __future__ import annotations

import contextlib
import json
import math
import socket
import threading
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

from modelphase.frame import parse_series_id

__all__ = [
    "Reply",
    "Request",
    "ScriptedServer",
    "format_value",
    "html_page",
    "prom_error",
    "prom_matrix",
    "prom_scalar",
    "prom_success",
    "prom_vector",
    "refused_url",
]

Labels = Mapping[str, str]
Point = tuple[float, float | str]
SeriesInput = Mapping[str, Iterable[Point]] | Iterable[tuple[Labels, Iterable[Point]]]

_JOIN_TIMEOUT = 2.0


@dataclass(frozen=True)
class Reply:
    """One scripted answer.

    ``body`` (``str`` is sent as UTF-8) goes with ``Content-Type: content_type`` and a
    ``Content-Length``; ``headers`` are added. The server first sleeps ``delay``
    seconds (cut short when the server stops). With ``drop`` it closes the connection
    without answering, which a client sees as a protocol error.
    """

    status: int = 200
    body: bytes | str = b""
    content_type: str = "application/json"
    delay: float = 0.0
    headers: Mapping[str, str] = field(default_factory=dict)
    drop: bool = False


@dataclass(frozen=True)
class Request:
    """One recorded request.

    ``query`` and ``form`` are parsed as by ``urllib.parse.parse_qs`` (blank values
    kept); ``form`` is filled only for an ``application/x-www-form-urlencoded`` body.
    ``headers`` has lower-case names; repeated headers are joined with ``", "``.
    """

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    form: dict[str, list[str]]

    @property
    def params(self) -> dict[str, list[str]]:
        """The query-string and form parameters together (query first)."""
        merged = {k: list(v) for k, v in self.query.items()}
        for k, v in self.form.items():
            merged.setdefault(k, []).extend(v)
        return merged

    def param(self, name: str) -> str | None:
        """The first value of parameter ``name`` (query string or form), or ``None``."""
        values = self.params.get(name)
        return values[0] if values else None


class ScriptedServer:
    """A ``ThreadingHTTPServer`` on ``127.0.0.1`` that answers from a script.

    Give either ``replies`` (answered in order, the last one repeating) or ``handler``
    (called with each :class:`Request`, from the server's threads). Every request is
    appended to ``requests``. An exception raised by ``handler`` is answered with a
    500 and kept in ``errors``; leaving the ``with`` block re-raises the first one
    unless the block itself raised.

    Stopping is quick even while a handler sleeps on a ``delay``: sleepers wake up and
    close their connection unanswered, open connections are shut down.
    """

    def __init__(
        self,
        replies: Sequence[Reply] = (),
        *,
        handler: Callable[[Request], Reply] | None = None,
    ) -> None:
        if bool(replies) == (handler is not None):
            raise ValueError("give either a non-empty list of replies or a handler, not both")
        self._replies = list(replies)
        self._handler = handler
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self.requests: list[Request] = []
        self.errors: list[BaseException] = []
        self.url = ""
        self.port = 0

    def start(self) -> ScriptedServer:
        """Bind a free port and serve in a background thread; returns ``self``."""
        if self._httpd is not None:
            raise RuntimeError(f"already serving at {self.url}")
        self._stopping.clear()
        self._httpd = _Server(("127.0.0.1", 0), _Handler, self)
        self.port = int(self._httpd.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"ScriptedServer:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake sleeping handlers, close connections; idempotent."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.server_close()
        httpd.close_connections(_JOIN_TIMEOUT)
        if self._thread is not None:
            self._thread.join(_JOIN_TIMEOUT)

    def __enter__(self) -> ScriptedServer:
        if self._httpd is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        if exc_type is None and self.errors:
            raise self.errors[0]

    def _answer(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            if self._handler is None:
                return self._replies[min(len(self.requests), len(self._replies)) - 1]
        try:
            return self._handler(request)
        except Exception as exc:
            with self._lock:
                self.errors.append(exc)
            return Reply(500, traceback.format_exc(), content_type="text/plain")


class _Server(ThreadingHTTPServer):
    """Daemon handler threads, tracked with their connections so ``stop`` can end them."""

    daemon_threads = True
    block_on_close = False

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        scripted: ScriptedServer,
    ) -> None:
        self.scripted = scripted
        self._open: dict[socket.socket, threading.Thread] = {}
        self._open_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread, args=(request, client_address), daemon=True
        )
        with self._open_lock:
            self._open[request] = thread
        thread.start()

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.pop(request, None)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up (timeouts, dropped replies) are expected: stay quiet."""

    def close_connections(self, timeout: float) -> None:
        with self._open_lock:
            open_now = list(self._open.items())
        for sock, _ in open_now:
            with contextlib.suppress(OSError):  # already closed by its thread
                sock.shutdown(socket.SHUT_RDWR)
        for _, thread in open_now:
            thread.join(timeout)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        """No access log on stderr."""

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        form: dict[str, list[str]] = {}
        if self.headers.get_content_type() == "application/x-www-form-urlencoded":
            form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        request = Request(
            method=self.command,
            path=url.path,
            query=parse_qs(url.query, keep_blank_values=True),
            headers=headers,
            body=body,
            form=form,
        )
        scripted = self.server.scripted
        reply = scripted._answer(request)
        stopped = reply.delay > 0 and scripted._stopping.wait(reply.delay)
        if stopped or reply.drop or scripted._stopping.is_set():
            self.close_connection = True
            return
        payload = reply.body.encode("utf-8") if isinstance(reply.body, str) else reply.body
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)


def refused_url() -> str:
    """A loopback URL on which nothing listens (a port that was free a moment ago)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    return f"http://127.0.0.1:{port}"


# --------------------------------------------------------------------------- Prometheus


def format_value(value: float | str) -> str:
    """A sample value as Prometheus writes it in JSON (Go's ``FormatFloat(v, 'f', -1)``).

    Strings are passed through unchanged, to script malformed values.
    """
    if isinstance(value, str):
        return value
    v = float(value)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return np.format_float_positional(v, unique=True, trim="-")


def _timestamp(ts: float) -> float | int:
    """Seconds as Prometheus writes them: a number with at most millisecond digits."""
    t = float(ts)
    return int(t) if t.is_integer() else round(t, 3)


def _series(series: SeriesInput) -> list[tuple[dict[str, str], list[Point]]]:
    if isinstance(series, Mapping):
        return [(parse_series_id(uid), list(points)) for uid, points in series.items()]
    return [(dict(labels), list(points)) for labels, points in series]


def prom_success(data: Any, *, warnings: Sequence[str] = (), status: int = 200) -> Reply:
    """A Prometheus API success envelope around ``data``, with ``warnings`` if any."""
    envelope: dict[str, Any] = {"status": "success", "data": data}
    if warnings:
        envelope["warnings"] = list(warnings)
    return Reply(status=status, body=json.dumps(envelope, ensure_ascii=False))


def prom_matrix(series: SeriesInput, *, warnings: Sequence[str] = ()) -> Reply:
    """A ``query_range`` answer (``resultType`` matrix).

    ``series`` maps ``unique_id`` strings (parsed with ``parse_series_id``) to points,
    or is a sequence of ``(labels, points)``; a point is ``(ts_seconds, value)``, with
    a float value formatted by :func:`format_value` and a string value sent as is.
    """
    result = [
        {
            "metric": labels,
            "values": [[_timestamp(t), format_value(v)] for t, v in points],
        }
        for labels, points in _series(series)
    ]
    return prom_success({"resultType": "matrix", "result": result}, warnings=warnings)


def prom_vector(
    samples: Mapping[str, Point] | Iterable[tuple[Labels, Point]],
    *,
    warnings: Sequence[str] = (),
) -> Reply:
    """An instant ``query`` answer (``resultType`` vector): one point per series."""
    items = (
        [(parse_series_id(uid), point) for uid, point in samples.items()]
        if isinstance(samples, Mapping)
        else [(dict(labels), point) for labels, point in samples]
    )
    result = [
        {"metric": labels, "value": [_timestamp(t), format_value(v)]} for labels, (t, v) in items
    ]
    return prom_success({"resultType": "vector", "result": result}, warnings=warnings)


def prom_scalar(ts: float, value: float | str, *, warnings: Sequence[str] = ()) -> Reply:
    """An instant ``query`` answer with ``resultType`` scalar."""
    data = {"resultType": "scalar", "result": [_timestamp(ts), format_value(value)]}
    return prom_success(data, warnings=warnings)


_ERROR_STATUS = {
    "bad_data": 400,
    "execution": 422,
    "timeout": 503,
    "canceled": 503,
    "unavailable": 503,
    "internal": 500,
    "not_found": 404,
}


def prom_error(
    error_type: str = "bad_data", error: str = "invalid parameter", status: int | None = None
) -> Reply:
    """A Prometheus API error (``{"status": "error", "errorType": ..., "error": ...}``).

    ``status`` defaults to the one Prometheus uses for ``error_type`` (400 for
    ``bad_data``, 422 for ``execution``, 503 for ``timeout``, ...).
    """
    body = {"status": "error", "errorType": error_type, "error": error}
    code = status if status is not None else _ERROR_STATUS.get(error_type, 500)
    return Reply(status=code, body=json.dumps(body))


def html_page(status: int = 502, title: str = "502 Bad Gateway") -> Reply:
    """An HTML error page, as a reverse proxy in front of Prometheus sends."""
    body = (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    )
    return Reply(status=status, body=body, content_type="text/html")
