"""Each HTTP request's correlation id: the caller's `X-Correlation-Id` when it is an id
(kernel/context.py), else a fresh one, set for all the request does (its RPCs carry it)
and echoed in the response's `X-Correlation-Id` header."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import Message, Receive, Scope, Send

from gateway.asgi import HttpMiddleware, header
from kernel import context


class Correlation(HttpMiddleware):
    """Outside BodyLimit, so the early refusals carry the id too."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        with context.begun(header(scope, b"x-correlation-id") or "") as trace:

            async def echoing(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message.setdefault("headers", [])
                    MutableHeaders(scope=message)["X-Correlation-Id"] = trace.correlation_id
                await send(message)

            await self.app(scope, receive, echoing)
