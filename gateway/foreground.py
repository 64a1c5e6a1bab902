"""A bulk send counts as foreground from its arrival to its answer (kernel/foreground.py):
the process's lingering consumers wait for it, its body's parsing and its answer
included, not only the part messaging does."""

from __future__ import annotations

from starlette.types import Receive, Scope, Send

from gateway.asgi import HttpMiddleware
from gateway.ratelimit import route_class
from kernel.foreground import FOREGROUND


class BulkForeground(HttpMiddleware):
    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if route_class(scope["method"], scope["path"]) != "bulk":
            await self.app(scope, receive, send)
            return
        with FOREGROUND.answering():
            await self.app(scope, receive, send)
