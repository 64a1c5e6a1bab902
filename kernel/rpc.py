"""gRPC bootstrap: an aio server with health and reflection, domain errors mapped once,
and client channels that carry the correlation id along."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from kernel import context
from kernel.errors import DomainError, internal_status, to_status

log = logging.getLogger(__name__)

CORRELATION_KEY = "x-correlation-id"
Registrar = Callable[[grpc.aio.Server], None]


class _EdgeInterceptor(grpc.aio.ServerInterceptor):
    """Starts each call's trace from metadata and turns domain errors into statuses."""

    async def intercept_service(self, continuation: Callable[..., Awaitable[Any]],
                                details: grpc.HandlerCallDetails) -> Any:
        handler = await continuation(details)
        if handler is None or handler.unary_unary is None:
            return handler
        inner = handler.unary_unary
        method = details.method

        async def unary(request: Any, ctx: grpc.aio.ServicerContext) -> Any:
            meta = dict(ctx.invocation_metadata() or ())
            context.begin(str(meta.get(CORRELATION_KEY, "")))
            try:
                return await inner(request, ctx)
            except DomainError as exc:
                await ctx.abort_with_status(to_status(exc))
            except grpc.aio.AbortError:
                raise
            except Exception:
                log.exception("unhandled error in %s", method)
                await ctx.abort_with_status(internal_status("internal error"))

        return grpc.unary_unary_rpc_method_handler(
            unary, request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer)


async def build_server(registrars: Sequence[Registrar], service_names: Sequence[str],
                       bind: str = "127.0.0.1:0") -> tuple[grpc.aio.Server, int, Any]:
    """A started-ready server (call `start()`), its bound port, and its health servicer."""
    server = grpc.aio.server(interceptors=[_EdgeInterceptor()],
                             options=[("grpc.so_reuseport", 0)])
    for register in registrars:
        register(server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = [*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME]
    reflection.enable_server_reflection(names, server)
    port = server.add_insecure_port(bind)
    for name in ("", *service_names):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return server, port, health_servicer


class _CorrelationClientInterceptor(grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation: Callable[..., Any],
                                    call_details: grpc.aio.ClientCallDetails,
                                    request: Any) -> Any:
        metadata = list(call_details.metadata or ())
        metadata.append((CORRELATION_KEY, context.current().correlation_id))
        details = grpc.aio.ClientCallDetails(call_details.method, call_details.timeout,
                                             grpc.aio.Metadata(*metadata),
                                             call_details.credentials,
                                             call_details.wait_for_ready)
        return await continuation(details, request)


def channel(addr: str) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(
        addr, interceptors=[_CorrelationClientInterceptor()],
        options=[("grpc.keepalive_time_ms", 30_000), ("grpc.enable_retries", 1)])
