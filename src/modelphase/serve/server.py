"""The HTTP server under the app: uvicorn's options, and the guard uvicorn lacks.

uvicorn closes idle keep-alive connections (``timeout_keep_alive``) and can answer 503
past a number of connections or requests (``limit_concurrency``), but it has no
timeout on reading a request's headers: a client that opens a connection and never
finishes its headers holds it for as long as it likes (1,500 such connections were
held 40 s in a test of ours). :func:`guarded_protocol` is uvicorn's httptools protocol
with that timeout: from the moment a connection opens, or the first byte of a next
request arrives on a kept-alive one, the headers must be complete within
``header_timeout`` seconds, else the server answers 408 and closes the connection. (The
body has its own timeout, in :class:`~modelphase.serve.limits.BodyLimit`.) The same
protocol lets ``/healthz`` and ``/metrics`` through past ``limit_concurrency``, so that
a liveness probe and a scrape still answer when the server is full.

:func:`uvicorn_options` gives both to ``uvicorn.run`` or ``uvicorn.Config``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["EXEMPT", "guarded_protocol", "uvicorn_options"]

#: paths answered even past ``limit_concurrency``
EXEMPT = frozenset({b"/healthz", b"/metrics"})


class _Guarded(HttpToolsProtocol):
    """uvicorn's httptools protocol, with a deadline on each request's headers."""

    header_timeout = 10.0
    timed_out: Callable[[], None] = staticmethod(lambda: None)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._awaiting_headers = True

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._awaiting_headers and self._header_timer is None:
            self._arm()  # bytes of a next request on a kept-alive connection

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._awaiting_headers = True

    def on_headers_complete(self) -> None:
        self._awaiting_headers = False
        self._disarm()
        exempt = self.limit_concurrency is not None and self.url.split(b"?")[0] in EXEMPT
        limit = self.limit_concurrency
        if exempt:
            self.limit_concurrency = None
        try:
            super().on_headers_complete()
        finally:
            self.limit_concurrency = limit

    def on_response_complete(self) -> None:
        pipelined = bool(self.pipeline)
        super().on_response_complete()
        if not pipelined:  # idle: the keep-alive timeout runs until a next request begins
            self._awaiting_headers = True

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_late)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if self.transport.is_closing() or not self._awaiting_headers:
            return
        if self.cycle is not None and not self.cycle.response_complete:
            self._arm()  # a pipelined request behind one still answering: its turn later
            return
        self.timed_out()
        body = orjson.dumps(
            {
                "error": "request_timeout",
                "detail": f"expected the request's headers within {self.header_timeout:g} s, "
                "got them unfinished. Fix: send the whole request at once",
            }
        )
        self.transport.write(
            b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body
        )
        self.transport.close()


def guarded_protocol(
    header_timeout: float, timed_out: Callable[[], None] | None = None
) -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol closing connections whose headers take longer than
    ``header_timeout`` seconds (calling ``timed_out()`` for each)."""
    attributes: dict[str, Any] = {"header_timeout": header_timeout}
    if timed_out is not None:
        attributes["timed_out"] = staticmethod(timed_out)
    return type("GuardedHttpToolsProtocol", (_Guarded,), attributes)


def uvicorn_options(app: FastAPI) -> dict[str, Any]:
    """The server options of ``app`` (made by :func:`~modelphase.serve.create_app`) as
    keyword arguments of ``uvicorn.run`` or ``uvicorn.Config``."""
    state = app.state.serve
    config = state.config
    counter = state.metrics.connection_timeouts
    rejected = state.metrics.rejected

    def timed_out() -> None:
        counter.labels("headers").inc()
        rejected.labels("408").inc()

    return {
        "http": guarded_protocol(config.header_timeout, timed_out),
        "timeout_keep_alive": config.keep_alive_timeout,
        "limit_concurrency": config.limit_concurrency,
    }
