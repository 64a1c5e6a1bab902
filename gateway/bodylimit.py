"""Request bodies over `max_body_bytes` are refused early, in each API's envelope.

A declared Content-Length over the limit is answered 413 PAYLOAD_TOO_LARGE before a byte
of the body is read; a Content-Length that is not a number is 400 INVALID_REQUEST (the
framing is broken, RFC 9112 6.3). A body without a length (chunked) is counted as it
streams in, and the read that takes it past the limit fails with 413, so no route ever
holds more than the limit in memory.

A body nested deeper than `max_depth` arrays and objects is refused with 400
INVALID_REQUEST once it has arrived, before the route parses it: the parser, and every
check that walks the parsed value, recurse once per level. The depth is found without
recursion (see `json_depth_over`).
"""

from __future__ import annotations

import re
from array import array
from itertools import accumulate

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.asgi import HttpMiddleware, header
from gateway.errors import envelope

TOO_LARGE = "Request body too large"
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_NOT_BRACKET = re.compile(rb"[^\[\]{}]+")
_DEPTH_STEP = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # +1, +1, -1, -1 as int8


def json_depth_over(body: bytes, max_depth: int) -> bool:
    """Whether JSON text `body` nests arrays and objects deeper than `max_depth`.

    Strings are dropped and only brackets kept, as steps of +1 and -1; the deepest point
    is the largest running sum, all of it computed in C, without recursion. Up to the
    first bracket a parser would refuse, the running sum is the parser's depth."""
    if body.count(b"[") + body.count(b"{") <= max_depth:
        return False
    steps = array("b", _NOT_BRACKET.sub(b"", _STRING.sub(b"", body)).translate(_DEPTH_STEP))
    return max(accumulate(steps), default=0) > max_depth


class BodyLimit(HttpMiddleware):
    """Installed inside the error handlers' reach (see gateway/app.py)."""

    def __init__(self, app: ASGIApp, max_bytes: int, max_depth: int,
                 larger: dict[str, int] | None = None) -> None:
        super().__init__(app)
        self.max_bytes = max_bytes
        self.max_depth = max_depth
        self.larger = larger or {}  # path -> its own limit (send-media's uploads)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        max_bytes = self.larger.get(scope["path"], self.max_bytes)
        declared = header(scope, b"content-length")
        if declared is not None:
            refusal = self._refusal(declared, max_bytes)
            if refusal is not None:
                code, message = refusal
                await envelope(Request(scope), code, message)(scope, receive, send)
                return
        json = not (header(scope, b"content-type") or "").lower().startswith("multipart/")
        await self.app(scope, self._counted(receive, max_bytes, json), send)

    def _refusal(self, declared: str, max_bytes: int) -> tuple[str, str] | None:
        if not (declared.isascii() and declared.isdigit()):
            return "INVALID_REQUEST", "Invalid Content-Length header"
        if int(declared) > max_bytes:
            return "PAYLOAD_TOO_LARGE", TOO_LARGE
        return None

    def _counted(self, receive: Receive, max_bytes: int, json: bool) -> Receive:
        chunks: list[bytes] = []
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(message.get("body", b""))
                seen += len(chunks[-1])
                if seen > max_bytes:
                    raise HTTPException(413, TOO_LARGE)
                if json and not message.get("more_body", False):
                    self._check_depth(b"".join(chunks) if len(chunks) > 1 else chunks[0])
            return message

        return counted

    def _check_depth(self, body: bytes) -> None:
        if json_depth_over(body, self.max_depth):
            raise HTTPException(
                400, f"JSON body nested deeper than {self.max_depth} levels")
