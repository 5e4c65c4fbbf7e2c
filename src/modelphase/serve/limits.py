"""The request body limits, as plain ASGI middleware: a body over ``max_body`` bytes is
refused with 413 whether the client announced its size (``Content-Length``) or streams
it (``Transfer-Encoding: chunked``, which has no length to check up front), and one
that has not fully arrived ``timeout`` seconds after its headers with 408 (and the
connection closed), so that a client trickling a body cannot hold a connection.

By default the body is read here, at most ``max_body`` bytes of it, and handed on to
the app in one piece. With ``lazy=True`` it is not: the limits hold as the app reads it
(a refusal is a :class:`BodyRefusedError` raised from ``receive``, which the app must
answer with its ``response``), so that the app can refuse a request on its headers
alone (a token over its limits, a full pool) without first taking in megabytes of body.

The numbers themselves (``MAX_H``, ``MAX_LEVELS``, ``MAX_POINTS``, ``MAX_SERIES``,
``MAX_BODY_BYTES``) live in :mod:`modelphase.limits`, shared with the CLI and the spec
check, and are re-exported here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelphase.limits import MAX_BODY_BYTES, MAX_H, MAX_LEVELS, MAX_POINTS, MAX_SERIES

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_H",
    "MAX_LEVELS",
    "MAX_POINTS",
    "MAX_SERIES",
    "BodyLimit",
    "BodyRefusedError",
]


class BodyRefusedError(Exception):
    """A body over the limit, or too slow to arrive (``lazy`` mode): ``response`` says so."""

    def __init__(self, response: ASGIApp) -> None:
        self.response = response
        super().__init__("body refused")


class BodyLimit:
    """Refuse bodies over ``max_body`` bytes with ``refuse(size_text)``'s response, and
    bodies still unfinished ``timeout`` seconds after their headers with
    ``too_slow()``'s; ``lazy``: as the app reads them (see the module)."""

    def __init__(
        self,
        app: ASGIApp,
        max_body: int,
        refuse: Callable[[str], ASGIApp],
        timeout: float | None = None,
        too_slow: Callable[[], ASGIApp] | None = None,
        lazy: bool = False,
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.refuse = refuse
        self.timeout = timeout
        self.too_slow = too_slow
        self.lazy = lazy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await self.refuse(length.decode("latin-1"))(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = None if self.timeout is None else loop.time() + self.timeout
        size = 0
        whole = False

        async def limited() -> Message:
            nonlocal size, whole
            if whole:  # the body is in: what follows is the client going away
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                if self.too_slow is None:
                    raise
                raise BodyRefusedError(self.too_slow()) from None
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > self.max_body:
                    refusal = self.refuse(f"more than {self.max_body} (streamed)")
                    raise BodyRefusedError(refusal)
                whole = not message.get("more_body", False)
            return message

        if self.lazy:
            await self.app(scope, limited, send)
            return
        chunks: list[bytes] = []
        try:
            while True:
                message = await limited()
                if message["type"] != "http.request":  # the client went away
                    return
                chunks.append(message.get("body", b""))
                if whole:
                    break
        except BodyRefusedError as refused:
            await refused.response(scope, receive, send)
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
