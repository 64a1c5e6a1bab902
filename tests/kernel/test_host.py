"""The service host as services use it: store, JetStream stream, relay, gRPC on port 0,
workers, and a clean stop; against the real nats-server and both store backends."""

from __future__ import annotations

import asyncio

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from nats.js import JetStreamContext
from nats.js.api import AckPolicy

from kernel import bus
from kernel.config import Settings
from kernel.eventstore import NewEvent
from kernel.host import Infra, Parts, ServiceHost
from kernel.rpc import channel
from switchboard.device.v1 import device_pb2, device_pb2_grpc
from tests.kernel.conftest import wait_until
from tests.kernel.test_rpc import DEVICE_SERVICE, PoolServicer


async def test_host_serves_relays_runs_workers_and_stops(
        database_url: str, nats_url: str, js: JetStreamContext, unique: str) -> None:
    service = f"host{unique}"
    calls: list[str] = []
    worker_started = asyncio.Event()

    async def worker(stop: asyncio.Event) -> None:
        worker_started.set()
        try:
            await stop.wait()  # told to stop, or cancelled: either way it ends
        finally:
            calls.append("worker ended")

    async def build(infra: Infra) -> Parts:
        servicer = PoolServicer()
        on_stop = [lambda: _note(calls, "on_stop")]
        return Parts([lambda s: device_pb2_grpc.add_DeviceServiceServicer_to_server(servicer, s)],
                     [DEVICE_SERVICE], workers=[worker],
                     on_ready=[lambda: _note(calls, "ready")], on_stop=on_stop)

    host = ServiceHost(service, Settings(database_url=database_url, nats_url=nats_url), build)
    port = await host.start("127.0.0.1:0")
    try:
        assert port > 0 and host.infra is not None
        await asyncio.wait_for(worker_started.wait(), 5)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
            reply = await health_pb2_grpc.HealthStub(ch).Check(
                health_pb2.HealthCheckRequest(service=DEVICE_SERVICE))
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        async with channel(f"127.0.0.1:{port}") as ch:  # carries the service token
            pool = await device_pb2_grpc.DeviceServiceStub(ch).GetPoolStatus(
                device_pb2.GetPoolStatusRequest())
            assert pool.total_devices == 3

        await host.infra.store.append(f"thing-{unique}", 0,
                                      [NewEvent("Happened", b"%d" % n) for n in range(5)])

        async def relayed() -> bool:
            info = await js.stream_info(bus.stream_name(service))
            return bool(info.state.messages == 5)

        await wait_until(relayed, timeout=5, what="the host's relay to publish")
    finally:
        await host.stop(grace=0.5)
        await js.delete_stream(bus.stream_name(service))
    assert calls == ["ready", "worker ended", "on_stop"]
    assert host.infra.nc.is_closed
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
        try:
            await health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(),
                                                       timeout=1)
            raise AssertionError("the server still answers after stop")
        except grpc.aio.AioRpcError as exc:
            assert exc.code() in (grpc.StatusCode.UNAVAILABLE,
                                  grpc.StatusCode.DEADLINE_EXCEEDED)


async def _note(calls: list[str], what: str) -> None:
    calls.append(what)


async def test_the_host_removes_the_durables_its_service_retired(
        database_url: str, nats_url: str, js: JetStreamContext, unique: str) -> None:
    """A consumer a service no longer runs (`Parts.retired`) is removed at its start; one
    never made, or of a stream that does not exist, is no error."""
    service = f"host{unique}"
    await bus.ensure_stream(js, service)
    await js.add_consumer(bus.stream_name(service), durable_name="old-view",
                          ack_policy=AckPolicy.EXPLICIT)
    await js.add_consumer(bus.stream_name(service), durable_name="kept",
                          ack_policy=AckPolicy.EXPLICIT)

    async def build(infra: Infra) -> Parts:
        return Parts([], [], retired=[(service, "old-view"), (service, "never-made"),
                                      (f"nostream{unique}", "old-view")])

    host = ServiceHost(service, Settings(database_url=database_url, nats_url=nats_url), build)
    await host.start("127.0.0.1:0")
    try:
        names = {c.name for c in await js.consumers_info(bus.stream_name(service))}
        assert names == {"kept"}
    finally:
        await host.stop(grace=0.5)
        await js.delete_stream(bus.stream_name(service))
