"""The request body limit, as plain ASGI middleware: a body over ``max_body`` bytes is
refused with 413 whether the client announced its size (``Content-Length``) or streams
it (``Transfer-Encoding: chunked``, which has no length to check up front).

The body is read here, at most ``max_body`` bytes of it, and handed on to the app in
one piece; the app would read all of it to parse the JSON anyway.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimit"]


class BodyLimit:
    """Refuse bodies over ``max_body`` bytes with ``refuse(size_text)``'s response."""

    def __init__(
        self,
        app: ASGIApp,
        max_body: int,
        refuse: Callable[[str], ASGIApp],
    ) -> None:
        self.app = app
        self.max_body = max_body
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await self.refuse(length.decode("latin-1"))(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                await self.refuse(f"more than {self.max_body} (streamed)")(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
