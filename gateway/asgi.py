"""The shape of the gateway's middleware: pure ASGI, no `@app.middleware("http")` (Starlette's
BaseHTTPMiddleware runs each request through extra tasks and streams, hundreds of µs)."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class HttpMiddleware:
    """Middleware around each HTTP request (`handle`); lifespan and other scopes pass by."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of a request header (`name` in lowercase, as ASGI gives them),
    read off the scope without building a `Headers` (whose `get` of an absent name raises
    and catches a KeyError)."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None
