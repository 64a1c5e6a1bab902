"""The HTTP client webhook deliveries go out through. Its network backend resolves each
host once, refuses the connection unless every address passes the guard, and connects to
a vetted address itself: the connection is pinned to what was checked, so a name that
re-resolves elsewhere (DNS rebinding) cannot slip past. The request keeps its Host header
and TLS its server name (certificates are checked against the URL's host). Redirects are
not followed, and no proxy settings from the environment apply."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable
from typing import Any, cast

import httpcore
import httpx

from services.messaging.adapters.webhook_guard import RefusedTargetError, TargetGuard


class GuardedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, guard: TargetGuard,
                 inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self.guard = guard
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int,
                          timeout: float | None = None,  # noqa: ASYNC109 - httpcore's
                          local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None
                          ) -> httpcore.AsyncNetworkStream:
        failure: Exception = OSError(f"no address for {host!r}")
        for ip in await self.guard.addresses(host, port):
            try:
                return await self.inner.connect_tcp(str(ip), port, timeout=timeout,
                                                    local_address=local_address,
                                                    socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure

    async def connect_unix_socket(self, path: str,
                                  timeout: float | None = None,  # noqa: ASYNC109
                                  socket_options: Iterable[Any] | None = None
                                  ) -> httpcore.AsyncNetworkStream:
        raise RefusedTargetError(path)

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class _Body(httpx.AsyncByteStream):
    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self.stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for part in self.stream:
            yield part

    async def aclose(self) -> None:
        close = getattr(self.stream, "aclose", None)
        if close is not None:
            await close()


class GuardedTransport(httpx.AsyncBaseTransport):
    """Its connection pool, with the TLS context (the CA bundle: ≈ 1–2 MB), is made for the
    first request: an idle service holds neither."""

    def __init__(self, guard: TargetGuard, connections: int) -> None:
        self.guard, self.connections = guard, connections
        self._pool: httpcore.AsyncConnectionPool | None = None

    @property
    def pool(self) -> httpcore.AsyncConnectionPool:
        if self._pool is None:
            self._pool = httpcore.AsyncConnectionPool(
                ssl_context=httpx.create_ssl_context(), max_connections=self.connections,
                network_backend=GuardedBackend(self.guard))
        return self._pool

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        answer = await self.pool.handle_async_request(httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port,
                             target=url.raw_path),
            headers=request.headers.raw, content=cast(AsyncIterable[bytes], request.stream),
            extensions=request.extensions))
        return httpx.Response(status_code=answer.status, headers=answer.headers,
                              stream=_Body(cast(AsyncIterable[bytes], answer.stream)),
                              extensions=answer.extensions)

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()


def delivery_client(guard: TargetGuard, timeout: float, connections: int) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=GuardedTransport(guard, connections), timeout=timeout,
                             follow_redirects=False, trust_env=False)
