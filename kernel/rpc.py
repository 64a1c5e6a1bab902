"""gRPC bootstrap: an aio server with health and reflection, domain errors mapped once,
and client channels that carry the correlation id along.

With `internal_auth` on, the server admits calls through its guard (kernel/guard.py) and
every channel attaches this process's service token unless the call brings its own.

A unary call to a server of the same process goes to that server's handler behind the
same edge, not through HTTP/2 (kernel/inprocess.py)."""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import aclosing
from typing import Any, Protocol

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from kernel import context, metrics
from kernel.config import Settings
from kernel.errors import DomainError, UnavailableError, internal_status, to_status
from kernel.inprocess import LocalFirst, LocalFirstStream, Recording, serve_locally
from kernel.tokens import KeyRing, ServiceTokens

log = logging.getLogger(__name__)

CORRELATION_KEY = "x-correlation-id"
Registrar = Callable[[grpc.aio.Server], None]


class Admitter(Protocol):
    """Admits a call or refuses it with a domain error (kernel/guard.py's `CallGuard`)."""

    async def admit(self, method: str, metadata: Mapping[str, object], request: object,
                    peer: str = "") -> None: ...

    def is_public(self, method: str) -> bool:
        """Whether the method needs no token (health, reflection, sign-in)."""
        ...


class _EdgeInterceptor(grpc.aio.ServerInterceptor):
    """Starts each call's trace from metadata, admits it (token), and turns domain errors
    into statuses."""

    def __init__(self, guard: Admitter | None = None) -> None:
        self.guard = guard

    async def intercept_service(self, continuation: Callable[..., Awaitable[Any]],
                                details: grpc.HandlerCallDetails) -> Any:
        handler = await continuation(details)
        if handler is None or handler.unary_unary is None:
            return await self._guard_stream(handler, details)
        inner = handler.unary_unary
        method = details.method

        async def unary(request: Any, ctx: grpc.aio.ServicerContext) -> Any:
            meta = dict(ctx.invocation_metadata() or ())
            context.begin(str(meta.get(CORRELATION_KEY, "")))
            try:
                if self.guard is not None:
                    await self.guard.admit(method, meta, request, ctx.peer())
                return await inner(request, ctx)
            except DomainError as exc:
                await ctx.abort_with_status(to_status(exc))
            except grpc.aio.AbortError:
                raise
            except Exception as exc:
                await ctx.abort_with_status(_failure_status(method, exc))

        return grpc.unary_unary_rpc_method_handler(
            metrics.timed_rpc(method, unary),  # operations: counts and latencies
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer)

    async def _guard_stream(self, handler: Any, details: grpc.HandlerCallDetails) -> Any:
        """Streaming calls take a service token (no request to hold a user token to)."""
        if handler is None or self.guard is None or self.guard.is_public(details.method):
            return _streamed_errors(handler)
        try:
            await self.guard.admit(details.method, dict(details.invocation_metadata or ()),
                                   None)
            return _streamed_errors(handler)
        except DomainError as exc:
            status = to_status(exc)

        async def refuse(_request: Any, ctx: grpc.aio.ServicerContext) -> None:
            await ctx.abort_with_status(status)

        kind = ("unary_stream" if handler.unary_stream else
                "stream_unary" if handler.stream_unary else "stream_stream")
        return getattr(grpc, f"{kind}_rpc_method_handler")(
            refuse, request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer)


def _streamed_errors(handler: Any) -> Any:
    """A server-streaming rpc's domain errors become statuses as a unary rpc's do."""
    if handler is None or not inspect.isasyncgenfunction(handler.unary_stream):
        return handler
    inner = handler.unary_stream

    async def stream(request: Any, ctx: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        try:
            async with aclosing(inner(request, ctx)) as items:
                async for item in items:
                    yield item
        except DomainError as exc:
            await ctx.abort_with_status(to_status(exc))

    return grpc.unary_stream_rpc_method_handler(
        stream, request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer)


def _failure_status(method: str, error: Exception) -> grpc.Status:
    """An unexpected error: the store being out of reach is UNAVAILABLE (retry shortly);
    anything else is a bug, INTERNAL."""
    from kernel.db import is_outage  # the store's modules: only services have a store

    if is_outage(error):
        log.warning("%s: store unavailable: %s", method, error)
        return to_status(UnavailableError("The service's database is unavailable; "
                                          "retry shortly"))
    log.error("unhandled error in %s", method, exc_info=error)
    return internal_status("internal error")


async def build_server(registrars: Sequence[Registrar], service_names: Sequence[str],
                       bind: str = "127.0.0.1:0", guard: Admitter | None = None
                       ) -> tuple[grpc.aio.Server, int, Any]:
    """A started-ready server (call `start()`), its bound port, and its health servicer.
    Given a `guard` (kernel/guard.py), each call must pass it."""
    edge = _EdgeInterceptor(guard)
    server = grpc.aio.server(interceptors=[edge], options=SERVER_OPTIONS)
    recorded = Recording(server)
    for register in registrars:
        register(recorded)  # type: ignore[arg-type]
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = [*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME]
    reflection.enable_server_reflection(names, server)
    port = server.add_insecure_port(bind)
    for name in ("", *service_names):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    serve_locally(server, recorded.methods, edge, bind, port)
    return server, port, health_servicer


Amend = Callable[[list[tuple[str, str]]], None]


class _Amending:
    """A multicallable that adds this process's metadata to each call it makes."""

    def __init__(self, inner: Any, amend: Amend) -> None:
        self.inner, self.amend = inner, amend

    def __call__(self, request: Any, *, metadata: Any = None, **options: Any) -> Any:
        amended = list(metadata or ())
        self.amend(amended)
        return self.inner(request, metadata=amended, **options)


class AmendingChannel(grpc.aio.Channel):
    """A channel whose calls carry this process's metadata (correlation id, service
    token). Each call gets it as plain call metadata: grpc.aio's client interceptors
    would do the same at the price of an extra task and call wrapper per call. Its unary
    and server-streaming calls go to a server of this process at `address`, when there
    is one."""

    def __init__(self, inner: grpc.aio.Channel, amend: Amend, address: str = "") -> None:
        self._inner, self._amend, self._address = inner, amend, address

    def unary_unary(self, method: str, request_serializer: Any = None,
                    response_deserializer: Any = None, **kwargs: Any) -> Any:
        remote = self._inner.unary_unary(method, request_serializer, response_deserializer,
                                         **kwargs)
        return _Amending(LocalFirst(self._address, method, remote, request_serializer,
                                    response_deserializer), self._amend)

    def unary_stream(self, method: str, request_serializer: Any = None,
                     response_deserializer: Any = None, **kwargs: Any) -> Any:
        remote = self._inner.unary_stream(method, request_serializer, response_deserializer,
                                          **kwargs)
        return _Amending(LocalFirstStream(self._address, method, remote, request_serializer,
                                          response_deserializer), self._amend)

    def stream_unary(self, *args: Any, **kwargs: Any) -> Any:
        return _Amending(self._inner.stream_unary(*args, **kwargs), self._amend)

    def stream_stream(self, *args: Any, **kwargs: Any) -> Any:
        return _Amending(self._inner.stream_stream(*args, **kwargs), self._amend)

    async def close(self, grace: float | None = None) -> None:
        await self._inner.close(grace)

    def get_state(self, try_to_connect: bool = False) -> grpc.ChannelConnectivity:
        return self._inner.get_state(try_to_connect)

    async def wait_for_state_change(self, last_observed_state: grpc.ChannelConnectivity
                                    ) -> None:
        await self._inner.wait_for_state_change(last_observed_state)

    async def channel_ready(self) -> None:
        await self._inner.channel_ready()

    async def __aenter__(self) -> AmendingChannel:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close(None)


def _correlation(metadata: list[tuple[str, str]]) -> None:
    metadata.append((CORRELATION_KEY, context.current().correlation_id))


def _bearer(tokens: ServiceTokens) -> Amend:
    """Attaches the service token, unless the call carries its own (a user's)."""

    def amend(metadata: list[tuple[str, str]]) -> None:
        if not any(key == "authorization" for key, _ in metadata):
            metadata.append(("authorization", f"Bearer {tokens.current()}"))

    return amend


def channel(addr: str, settings: Settings | None = None,
            identity: str = "internal") -> grpc.aio.Channel:
    """A client channel; with internal auth on (Settings from the environment unless
    given), each call carries this process's service token named `identity`."""
    settings = settings or Settings()
    amends: list[Amend] = [_correlation]
    if settings.internal_auth:
        tokens = ServiceTokens(KeyRing.from_settings(settings), identity,
                               settings.service_token_ttl_seconds)
        amends.append(_bearer(tokens))

    def amend(metadata: list[tuple[str, str]]) -> None:
        for each in amends:
            each(metadata)

    return AmendingChannel(grpc.aio.insecure_channel(target(addr), options=CHANNEL_OPTIONS),
                           amend, addr.strip())


# Every channel balances calls over all the addresses its target resolves to (one per
# replica), pings idle connections so a dead peer is noticed, and retries calls that
# never reached a server. A peer it could not reach is tried again after 0.1 s, then
# less often, but at least every 2 s (gRPC's defaults are 1 s and 120 s): calls fail
# at once while a peer is being backed off from, so a service that starts before its
# neighbour, or one back from an outage, is used again within that, not minutes later.
CHANNEL_OPTIONS = [("grpc.lb_policy_name", "round_robin"),
                   ("grpc.keepalive_time_ms", 30_000),
                   ("grpc.keepalive_timeout_ms", 10_000),
                   ("grpc.enable_retries", 1),
                   ("grpc.initial_reconnect_backoff_ms", 100),
                   ("grpc.max_reconnect_backoff_ms", 2_000)]
# Servers close each connection after MAX_CONNECTION_AGE_MS (calls in flight finish), so
# clients resolve again and spread over replicas that started since they connected.
SERVER_OPTIONS = [("grpc.so_reuseport", 0),
                  ("grpc.max_connection_age_ms", 300_000),
                  ("grpc.http2.min_ping_interval_without_data_ms", 10_000)]


def target(addr: str) -> str:
    """The gRPC target for an address setting: `host:port`, or several replicas as a
    comma-separated list of IP `address:port`s (`10.0.0.5:50153,10.0.0.6:50153`)."""
    addresses = [a.strip() for a in addr.split(",") if a.strip()]
    if len(addresses) <= 1:
        return addr.strip()
    if any(a.startswith("[") for a in addresses):
        return "ipv6:" + ",".join(addresses)
    return "ipv4:" + ",".join(addresses)
