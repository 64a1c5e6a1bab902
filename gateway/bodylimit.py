"""Request bodies over `max_body_bytes` are refused early, in each API's envelope.

A declared Content-Length over the limit is answered 413 PAYLOAD_TOO_LARGE before a byte
of the body is read; a Content-Length that is not a number is 400 INVALID_REQUEST (the
framing is broken, RFC 9112 6.3). A body without a length (chunked) is counted as it
streams in, and the read that takes it past the limit fails with 413, so no route ever
holds more than the limit in memory.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import envelope

TOO_LARGE = "Request body too large"


class BodyLimit:
    """ASGI middleware; install it inside the error handlers' reach (see gateway/app.py)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None:
            refusal = self._refusal(declared)
            if refusal is not None:
                code, message = refusal
                await envelope(Request(scope), code, message)(scope, receive, send)
                return
        await self.app(scope, self._counted(receive), send)

    def _refusal(self, declared: str) -> tuple[str, str] | None:
        if not (declared.isascii() and declared.isdigit()):
            return "INVALID_REQUEST", "Invalid Content-Length header"
        if int(declared) > self.max_bytes:
            return "PAYLOAD_TOO_LARGE", TOO_LARGE
        return None

    def _counted(self, receive: Receive) -> Receive:
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise HTTPException(413, TOO_LARGE)
            return message

        return counted
