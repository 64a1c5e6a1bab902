"""The gRPC bootstrap over real sockets: health, reflection, domain errors as rich
statuses, and the correlation id carried from a client's context into the server's; the
unary calls both over gRPC and to a server of the same process (kernel/rpc.py), which must
not tell them apart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from kernel import context
from kernel.errors import (
    ConflictError,
    DomainError,
    FailedPreconditionError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    ThrottledError,
    UnauthorizedError,
    UnavailableError,
    from_rpc_error,
)
from kernel.inprocess import LOCAL_PEER, forget_local
from kernel.rpc import build_server, channel, target
from switchboard.device.v1 import device_pb2, device_pb2_grpc
from switchboard.messaging.v1 import messaging_pb2, messaging_pb2_grpc

DEVICE_SERVICE = "switchboard.device.v1.DeviceService"


class InsufficientCreditsError(FailedPreconditionError):
    code = "INSUFFICIENT_CREDITS"


class LoginThrottledError(ThrottledError):
    pass


class PoolServicer(device_pb2_grpc.DeviceServiceServicer):
    """Answers GetPoolStatus, or raises what the test told it to; notes each call's trace."""

    def __init__(self) -> None:
        self.raise_next: Exception | None = None
        self.traces: list[context.Trace] = []
        self.peers: list[str] = []
        self.delay = 0.0
        self.cancelled = asyncio.Event()
        self.queue_type = "pool"

    async def GetPoolStatus(self, request: device_pb2.GetPoolStatusRequest,
                            ctx: grpc.aio.ServicerContext) -> device_pb2.PoolStatus:
        self.traces.append(context.current())
        self.peers.append(ctx.peer())
        try:
            await asyncio.sleep(self.delay)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        if self.raise_next is not None:
            error, self.raise_next = self.raise_next, None
            raise error
        return device_pb2.PoolStatus(available_devices=2, total_devices=3,
                                     queue_type=self.queue_type)


@dataclass
class Served:
    servicer: PoolServicer
    addr: str
    health: object
    route: str


@pytest.fixture(params=["in process", "over grpc"])
async def served(request: pytest.FixtureRequest) -> AsyncIterator[Served]:
    """A server, called from this process directly, or (its local route forgotten) over
    gRPC as from another process."""
    servicer = PoolServicer()
    server, port, health = await build_server(
        [lambda s: device_pb2_grpc.add_DeviceServiceServicer_to_server(servicer, s)],
        [DEVICE_SERVICE])
    assert port > 0
    await server.start()
    if request.param == "over grpc":
        forget_local(server)
    yield Served(servicer, f"127.0.0.1:{port}", health, request.param)
    await server.stop(0)


async def test_serves_health_and_the_registered_service(served: Served) -> None:
    async with grpc.aio.insecure_channel(served.addr) as ch:
        health = health_pb2_grpc.HealthStub(ch)
        for name in ("", DEVICE_SERVICE):
            reply = await health.Check(health_pb2.HealthCheckRequest(service=name))
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.aio.AioRpcError) as unknown:
            await health.Check(health_pb2.HealthCheckRequest(service="no.such.Service"))
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND

        pool = await device_pb2_grpc.DeviceServiceStub(ch).GetPoolStatus(
            device_pb2.GetPoolStatusRequest())
        assert (pool.available_devices, pool.total_devices, pool.queue_type) == (2, 3, "pool")


async def test_serves_reflection(served: Served) -> None:
    async with grpc.aio.insecure_channel(served.addr) as ch:
        stub = reflection_pb2_grpc.ServerReflectionStub(ch)
        requests = [reflection_pb2.ServerReflectionRequest(list_services=""),
                    reflection_pb2.ServerReflectionRequest(
                        file_containing_symbol=DEVICE_SERVICE)]
        replies = [r async for r in stub.ServerReflectionInfo(iter(requests))]
    names = {s.name for s in replies[0].list_services_response.service}
    assert {DEVICE_SERVICE, "grpc.health.v1.Health",
            "grpc.reflection.v1alpha.ServerReflection"} <= names
    files = replies[1].file_descriptor_response.file_descriptor_proto
    assert files, replies[1]


ERRORS = [
    (InsufficientCreditsError("Required: 5, Available: 3", required=5, available=3),
     grpc.StatusCode.FAILED_PRECONDITION, "INSUFFICIENT_CREDITS",
     {"required": "5", "available": "3"}),
    (InvalidRequestError("number must be E.164 digits", field="number"),
     grpc.StatusCode.INVALID_ARGUMENT, "INVALID_REQUEST", {"field": "number"}),
    (NotFoundError("no such message"), grpc.StatusCode.NOT_FOUND, "NOT_FOUND", {}),
    (UnauthorizedError("bad token"), grpc.StatusCode.UNAUTHENTICATED, "UNAUTHORIZED", {}),
    (ForbiddenError("not yours"), grpc.StatusCode.PERMISSION_DENIED, "FORBIDDEN", {}),
    (ConflictError("already connected"), grpc.StatusCode.ALREADY_EXISTS, "CONFLICT", {}),
    (UnavailableError("no device"), grpc.StatusCode.UNAVAILABLE, "SERVICE_UNAVAILABLE", {}),
    (LoginThrottledError("too many attempts", retry_after=30),
     grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED", {"retry_after": "30"}),
    (InvalidRequestError("número inválido: «+55 11»"), grpc.StatusCode.INVALID_ARGUMENT,
     "INVALID_REQUEST", {}),
]


@pytest.mark.parametrize(("error", "status", "reason", "metadata"), ERRORS,
                         ids=[type(e[0]).__name__ + str(i) for i, e in enumerate(ERRORS)])
async def test_domain_errors_arrive_as_status_with_error_info(
        served: Served, error: DomainError, status: grpc.StatusCode, reason: str,
        metadata: dict[str, str]) -> None:
    served.servicer.raise_next = error
    async with channel(served.addr) as ch:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await device_pb2_grpc.DeviceServiceStub(ch).GetPoolStatus(
                device_pb2.GetPoolStatusRequest())
    remote = from_rpc_error(caught.value)
    assert (remote.status, remote.reason, remote.message, remote.metadata) == (
        status, reason, error.message, metadata)


async def test_an_unexpected_exception_is_an_internal_error_without_its_text(
        served: Served) -> None:
    served.servicer.raise_next = RuntimeError("password=hunter2 in a stack trace")
    async with channel(served.addr) as ch:
        stub = device_pb2_grpc.DeviceServiceStub(ch)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetPoolStatus(device_pb2.GetPoolStatusRequest())
        remote = from_rpc_error(caught.value)
        assert (remote.status, remote.reason) == (grpc.StatusCode.INTERNAL, "INTERNAL_ERROR")
        assert "hunter2" not in remote.message
        # The server goes on serving.
        assert (await stub.GetPoolStatus(device_pb2.GetPoolStatusRequest())).total_devices == 3


async def test_a_dead_server_is_service_unavailable() -> None:
    server, port, _ = await build_server([], [])
    await server.start()
    await server.stop(0)
    async with channel(f"127.0.0.1:{port}") as ch:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await device_pb2_grpc.DeviceServiceStub(ch).GetPoolStatus(
                device_pb2.GetPoolStatusRequest(), timeout=2)
    assert from_rpc_error(caught.value).reason == "SERVICE_UNAVAILABLE"


async def test_correlation_id_flows_from_client_context_to_server_context(
        served: Served) -> None:
    stub_request = device_pb2.GetPoolStatusRequest()
    async with channel(served.addr) as ch:
        stub = device_pb2_grpc.DeviceServiceStub(ch)
        context.begin("corr-first")
        await stub.GetPoolStatus(stub_request)
        context.begin("corr-second")
        served.servicer.raise_next = NotFoundError("gone")
        with pytest.raises(grpc.aio.AioRpcError):
            await stub.GetPoolStatus(stub_request)
    async with grpc.aio.insecure_channel(served.addr) as plain:  # no correlation sent
        await device_pb2_grpc.DeviceServiceStub(plain).GetPoolStatus(stub_request)

    first, second, third = served.servicer.traces
    assert (first.correlation_id, second.correlation_id) == ("corr-first", "corr-second")
    assert third.correlation_id not in ("", "corr-first", "corr-second")
    assert context.current().correlation_id == "corr-second"  # the client's is untouched


async def test_a_call_past_its_deadline_is_cut_off_and_its_handler_cancelled(
        served: Served) -> None:
    served.servicer.delay = 5.0
    async with channel(served.addr) as ch:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await device_pb2_grpc.DeviceServiceStub(ch).GetPoolStatus(
                device_pb2.GetPoolStatusRequest(), timeout=0.3)
        await asyncio.wait_for(served.servicer.cancelled.wait(), 3)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


async def test_a_reply_over_grpcs_message_limit_is_refused_either_way(served: Served) -> None:
    served.servicer.queue_type = "x" * (4 * 1024 * 1024 + 1)
    async with channel(served.addr) as ch:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await device_pb2_grpc.DeviceServiceStub(ch).GetPoolStatus(
                device_pb2.GetPoolStatusRequest(), timeout=5)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_a_call_of_this_process_skips_the_wire_and_one_of_another_does_not(
        served: Served) -> None:
    """The same call, routed as the fixture says: the handler sees the in-process peer
    only on the local route; a server's stop sends this process's calls over gRPC."""
    async with channel(served.addr) as ch:
        stub = device_pb2_grpc.DeviceServiceStub(ch)
        await stub.GetPoolStatus(device_pb2.GetPoolStatusRequest())
        local = served.servicer.peers[-1] == LOCAL_PEER
    assert local is (served.route == "in process")


async def test_a_stopped_server_is_called_over_grpc_and_found_gone() -> None:
    servicer = PoolServicer()
    server, port, _ = await build_server(
        [lambda s: device_pb2_grpc.add_DeviceServiceServicer_to_server(servicer, s)],
        [DEVICE_SERVICE])
    await server.start()
    async with channel(f"127.0.0.1:{port}") as ch:
        stub = device_pb2_grpc.DeviceServiceStub(ch)
        await stub.GetPoolStatus(device_pb2.GetPoolStatusRequest(), timeout=2)
        await server.stop(0)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetPoolStatus(device_pb2.GetPoolStatusRequest(), timeout=2)
    assert servicer.peers == [LOCAL_PEER]
    assert from_rpc_error(caught.value).reason == "SERVICE_UNAVAILABLE"


async def test_graceful_shutdown_reports_not_serving(served: Served) -> None:
    await served.health.enter_graceful_shutdown()  # type: ignore[attr-defined]
    async with grpc.aio.insecure_channel(served.addr) as ch:
        reply = await health_pb2_grpc.HealthStub(ch).Check(
            health_pb2.HealthCheckRequest(service=DEVICE_SERVICE))
    assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING


async def test_a_list_of_addresses_spreads_calls_and_skips_a_stopped_replica() -> None:
    replicas = [PoolServicer(), PoolServicer()]
    servers, addrs = [], []
    for servicer in replicas:
        server, port, _ = await build_server(
            [lambda s, sv=servicer: device_pb2_grpc.add_DeviceServiceServicer_to_server(sv, s)],
            [DEVICE_SERVICE])
        await server.start()
        servers.append(server)
        addrs.append(f"127.0.0.1:{port}")
    assert target(",".join(addrs)) == "ipv4:" + ",".join(addrs)
    assert target(addrs[0]) == addrs[0]
    async with channel(" , ".join(addrs)) as ch:
        stub = device_pb2_grpc.DeviceServiceStub(ch)
        # Round robin spreads calls over the connections that are up: until the second
        # one is, every call goes to the first. Call until both have answered once.
        for _ in range(300):
            await stub.GetPoolStatus(device_pb2.GetPoolStatusRequest(), timeout=2)
            if all(s.traces for s in replicas):
                break
            await asyncio.sleep(0.01)
        before = [len(s.traces) for s in replicas]
        for _ in range(20):
            await stub.GetPoolStatus(device_pb2.GetPoolStatusRequest(), timeout=2)
        assert min(len(s.traces) - n for s, n in zip(replicas, before, strict=True)) >= 5
        await servers[0].stop(0)
        for _ in range(10):
            await stub.GetPoolStatus(device_pb2.GetPoolStatusRequest(), timeout=2)
        assert sum(len(s.traces) for s in replicas) == sum(before) + 30
    await servers[1].stop(0)


MESSAGING_SERVICE = "switchboard.messaging.v1.MessagingService"


class Watching(messaging_pb2_grpc.MessagingServiceServicer):
    """Streams `batches` one-event replies (its initial metadata first), then ends with
    `error` if given, or waits for ever after them if `then_wait`; notes the peer, the
    correlation id and how many replies it has handed on."""

    def __init__(self, error: Exception | None = None, batches: int = 1,
                 then_wait: bool = False) -> None:
        self.error, self.batches, self.then_wait = error, batches, then_wait
        self.closed = asyncio.Event()
        self.peers: list[str] = []
        self.correlations: list[str] = []
        self.handed = 0

    async def WatchMessages(self, request: messaging_pb2.WatchMessagesRequest,
                            ctx: grpc.aio.ServicerContext
                            ) -> AsyncIterator[messaging_pb2.MessageStatusEvents]:
        self.peers.append(ctx.peer())
        self.correlations.append(dict(ctx.invocation_metadata() or ()).get(
            "x-correlation-id", ""))
        try:
            await ctx.send_initial_metadata(())
            for n in range(self.batches):
                yield messaging_pb2.MessageStatusEvents(events=[
                    messaging_pb2.MessageStatusEvent(event_id=f"e{n + 1}", queue_id="q1")])
                self.handed += 1
            if self.error is not None:
                raise self.error
            if self.then_wait:
                await asyncio.Event().wait()
        finally:
            self.closed.set()


class TokenOnly:
    """A guard that admits a call only with a bearer token."""

    async def admit(self, method: str, metadata: Mapping[str, object], request: object,
                    peer: str = "") -> None:
        if not str(metadata.get("authorization", "")).startswith("Bearer "):
            raise UnauthorizedError("Missing bearer token")

    def is_public(self, method: str) -> bool:
        return False


@asynccontextmanager
async def watching(servicer: Watching, route: str,
                   guard: TokenOnly | None = None) -> AsyncIterator[str]:
    """A messaging server of `servicer`, at the address it yields, called from this
    process directly or (its local route forgotten) over gRPC."""
    server, port, _ = await build_server(
        [lambda s: messaging_pb2_grpc.add_MessagingServiceServicer_to_server(servicer, s)],
        [MESSAGING_SERVICE], guard=guard)
    await server.start()
    if route == "over grpc":
        forget_local(server)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(0)


ROUTES = ["in process", "over grpc"]


@pytest.mark.parametrize("route", ROUTES)
async def test_a_streaming_rpc_ends_with_its_domain_errors_status(route: str) -> None:
    servicer = Watching(LoginThrottledError("status stream fell behind; reconnect"))
    async with watching(servicer, route) as addr, channel(addr) as ch:
        call = messaging_pb2_grpc.MessagingServiceStub(ch).WatchMessages(
            messaging_pb2.WatchMessagesRequest(user_id=7))
        got = []
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for batch in call:
                got.extend(event.event_id for event in batch.events)
        remote = from_rpc_error(caught.value)
        assert (got, remote.status, remote.reason, remote.message) == (
            ["e1"], grpc.StatusCode.RESOURCE_EXHAUSTED, "RATE_LIMITED",
            "status stream fell behind; reconnect")
        assert await call.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert call.done()
        assert servicer.closed.is_set()


@pytest.mark.parametrize("route", ROUTES)
async def test_a_stream_of_this_process_skips_the_wire_and_reads_as_over_grpc(
        route: str) -> None:
    """Initial metadata, every reply in order, the end, the OK status and the caller's
    correlation id, the same either way; only the handler's peer tells them apart."""
    servicer = Watching(batches=3)
    async with watching(servicer, route) as addr, channel(addr) as ch:
        context.begin("corr-stream")
        call = messaging_pb2_grpc.MessagingServiceStub(ch).WatchMessages(
            messaging_pb2.WatchMessagesRequest(user_id=7))
        await call.initial_metadata()
        got = []
        while (batch := await call.read()) is not grpc.aio.EOF:
            got.extend(event.event_id for event in batch.events)
        assert got == ["e1", "e2", "e3"]
        assert await call.code() == grpc.StatusCode.OK
    assert servicer.correlations == ["corr-stream"]
    assert (servicer.peers == [LOCAL_PEER]) is (route == "in process")


@pytest.mark.parametrize("route", ROUTES)
async def test_a_cancelled_stream_closes_its_handler(route: str) -> None:
    servicer = Watching(then_wait=True)
    async with watching(servicer, route) as addr, channel(addr) as ch:
        call = messaging_pb2_grpc.MessagingServiceStub(ch).WatchMessages(
            messaging_pb2.WatchMessagesRequest(user_id=7))
        assert len((await call.read()).events) == 1
        assert not call.done()
        assert call.cancel()
        await asyncio.wait_for(servicer.closed.wait(), 3)
        assert call.cancelled()


@pytest.mark.parametrize("route", ROUTES)
async def test_a_stream_cancelled_while_its_reply_waits_closes_its_handler(route: str) -> None:
    """Cancelled at once, before its handler ran, or while a reply waits for the reader:
    the call ends CANCELLED, a read raises CancelledError (as grpc.aio's does), and a
    handler that had started is closed."""
    servicer = Watching(batches=50)
    async with watching(servicer, route) as addr, channel(addr) as ch:
        stub = messaging_pb2_grpc.MessagingServiceStub(ch)
        at_once = stub.WatchMessages(messaging_pb2.WatchMessagesRequest(user_id=7))
        assert at_once.cancel()
        await at_once.initial_metadata()
        assert (await at_once.code(), at_once.cancelled()) == (
            grpc.StatusCode.CANCELLED, True)
        with pytest.raises(asyncio.CancelledError):
            await at_once.read()
        waiting = stub.WatchMessages(messaging_pb2.WatchMessagesRequest(user_id=7))
        await waiting.read()
        waiting.cancel()
        assert await waiting.code() == grpc.StatusCode.CANCELLED
        await asyncio.wait_for(servicer.closed.wait(), 3)
    if route == "in process":  # over gRPC its window may have let it hand on all 50
        assert servicer.handed <= 2


@pytest.mark.parametrize("route", ROUTES)
async def test_a_stream_past_its_deadline_is_cut_off_and_its_handler_closed(
        route: str) -> None:
    servicer = Watching(then_wait=True)
    async with watching(servicer, route) as addr, channel(addr) as ch:
        call = messaging_pb2_grpc.MessagingServiceStub(ch).WatchMessages(
            messaging_pb2.WatchMessagesRequest(user_id=7), timeout=0.3)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for _batch in call:
                pass
        await asyncio.wait_for(servicer.closed.wait(), 3)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


@pytest.mark.parametrize("route", ROUTES)
async def test_a_stream_the_edge_refuses_ends_with_its_status(route: str) -> None:
    servicer = Watching()
    async with watching(servicer, route, TokenOnly()) as addr, \
            grpc.aio.insecure_channel(addr) as plain:
        call = messaging_pb2_grpc.MessagingServiceStub(plain).WatchMessages(
            messaging_pb2.WatchMessagesRequest(user_id=7))
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call.read()
    assert from_rpc_error(caught.value).reason == "UNAUTHORIZED"
    assert servicer.peers == []


async def test_a_local_stream_waits_while_a_reply_is_unread() -> None:
    """As gRPC's flow control holds back a server whose reader is slow, so a slow reader
    is seen by the server (the status hub ends a subscriber that falls behind)."""
    servicer = Watching(batches=50)
    async with watching(servicer, "in process") as addr, channel(addr) as ch:
        call = messaging_pb2_grpc.MessagingServiceStub(ch).WatchMessages(
            messaging_pb2.WatchMessagesRequest(user_id=7))
        await call.read()
        for _ in range(20):
            await asyncio.sleep(0)
        assert servicer.handed <= 2
        read = 1
        while await call.read() is not grpc.aio.EOF:
            read += 1
        assert read == 50
    assert servicer.handed == 50
