"""A running ServiceHost's /metrics: gRPC calls counted by method and code, the relay's
published count and lag, and the lag of a consumer on the service's stream, against the
real nats-server (SQLite store: the store backend is not what is under test here)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import httpx
import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig

from kernel import bus, metrics
from kernel.config import Settings
from kernel.errors import NotFoundError
from kernel.eventstore import NewEvent
from kernel.host import Infra, Parts, ServiceHost
from kernel.rpc import channel
from launcher.natsserver import free_port
from switchboard.device.v1 import device_pb2, device_pb2_grpc
from tests.deploy.promtext import sample

POOL_METHOD = "/switchboard.device.v1.DeviceService/GetPoolStatus"


class Pool(device_pb2_grpc.DeviceServiceServicer):
    def __init__(self) -> None:
        self.missing = False

    async def GetPoolStatus(self, request: device_pb2.GetPoolStatusRequest,
                            ctx: grpc.aio.ServicerContext) -> device_pb2.PoolStatus:
        if self.missing:
            raise NotFoundError("no pool")
        return device_pb2.PoolStatus(total_devices=1)


async def _build(infra: Infra, pool: Pool) -> Parts:
    return Parts([lambda s: device_pb2_grpc.add_DeviceServiceServicer_to_server(pool, s)],
                 ["switchboard.device.v1.DeviceService"])


@pytest.fixture
async def host(tmp_path: Path, nats_url: str, unique: str) -> AsyncIterator[ServiceHost]:
    pool = Pool()
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'store.db'}",
                        nats_url=nats_url, metrics_port=free_port(),
                        metrics_sample_seconds=0.1)
    host = ServiceHost(f"metrics{unique}", settings, lambda infra: _build(infra, pool))
    host.pool = pool  # type: ignore[attr-defined]
    await host.start("127.0.0.1:0")
    yield host
    await host.stop(grace=0.5)
    await _delete_stream(nats_url, host.service)


async def scrape(host: ServiceHost) -> str:
    assert host.metrics is not None
    async with httpx.AsyncClient() as client:
        reply = await client.get(f"http://127.0.0.1:{host.metrics.port}/metrics")
    assert reply.status_code == 200
    return reply.text


async def test_grpc_calls_are_counted_by_method_and_code(host: ServiceHost) -> None:
    before = await scrape(host)
    async with channel(f"127.0.0.1:{host.port}", host.settings) as ch:
        stub = device_pb2_grpc.DeviceServiceStub(ch)
        await stub.GetPoolStatus(device_pb2.GetPoolStatusRequest())
        await stub.GetPoolStatus(device_pb2.GetPoolStatusRequest())
        host.pool.missing = True  # type: ignore[attr-defined]
        with pytest.raises(grpc.aio.AioRpcError):
            await stub.GetPoolStatus(device_pb2.GetPoolStatusRequest())
    after = await scrape(host)
    ok, missing = {"method": POOL_METHOD, "code": "OK"}, {"method": POOL_METHOD,
                                                          "code": "NOT_FOUND"}
    name = "switchboard_grpc_server_requests_total"
    assert sample(after, name, **ok) - sample(before, name, **ok) == 2
    assert sample(after, name, **missing) - sample(before, name, **missing) == 1
    latency = "switchboard_grpc_server_request_duration_seconds_count"
    assert sample(after, latency, **ok) - sample(before, latency, **ok) == 2


async def test_relay_and_consumer_lag_are_sampled(host: ServiceHost, unique: str) -> None:
    assert host.infra is not None
    stream = bus.stream_name(host.service)
    durable = f"reader-{unique}"
    await host.infra.js.add_consumer(stream, ConsumerConfig(
        durable_name=durable, ack_policy=AckPolicy.EXPLICIT))
    await host.infra.store.append(f"thing-{unique}", 0,
                                  [NewEvent("Happened", b"%d" % n) for n in range(4)])
    labels = {"stream": stream, "consumer": durable}

    async def pending() -> float:
        return sample(await scrape(host), "switchboard_consumer_pending_messages", **labels)

    for _ in range(100):
        if await pending() == 4:
            break
        await asyncio.sleep(0.05)
    page = await scrape(host)
    assert sample(page, "switchboard_consumer_pending_messages", **labels) == 4
    assert sample(page, "switchboard_consumer_processed_total", **labels) == 0
    assert sample(page, "switchboard_relay_published_total", service=host.service) == 4
    assert sample(page, "switchboard_relay_lag_events", service=host.service) == 0


async def test_service_gauges_are_sampled_from_their_readers(host: ServiceHost,
                                                             unique: str) -> None:
    name, broken = f"switchboard_test_{unique}_things", f"switchboard_test_{unique}_broken"

    async def read() -> dict[tuple[str, ...], float]:
        return {("queued",): 3.0, ("sent",): 5.0}

    async def fail() -> dict[tuple[str, ...], float]:
        raise ConnectionError("view unreachable")

    errors = "switchboard_metrics_sample_errors_total"
    before = sample(await scrape(host), errors, service=host.service)
    metrics.register_gauge(broken, "A reader that fails", ["status"], fail)
    metrics.register_gauge(name, "Things by status", ["status"], read)
    try:
        for _ in range(100):
            if sample(await scrape(host), name, status="sent") == 5:
                break
            await asyncio.sleep(0.05)
        page = await scrape(host)
    finally:
        metrics.unregister_gauge(broken)
        metrics.unregister_gauge(name)
    assert sample(page, name, status="queued") == 3
    assert sample(page, name, status="sent") == 5
    assert sample(page, errors, service=host.service) > before


def test_a_process_gets_its_service_default_port_unless_set() -> None:
    assert metrics.with_default_port("billing", Settings()).metrics_port == 9152
    assert metrics.with_default_port("billing", Settings(metrics_port=0)).metrics_port == 0
    assert metrics.with_default_port("gateway", Settings()).metrics_port == 0


async def test_a_taken_metrics_port_leaves_the_service_running(
        tmp_path: Path, nats_url: str, unique: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'store.db'}",
                            nats_url=nats_url, metrics_port=taken.getsockname()[1])
        host = ServiceHost(f"taken{unique}", settings, lambda infra: _build(infra, Pool()))
        port = await host.start("127.0.0.1:0")
        try:
            assert host.metrics is None and port > 0
        finally:
            await host.stop(grace=0.5)
            await _delete_stream(nats_url, host.service)


async def test_no_metrics_server_when_the_port_is_off(tmp_path: Path, nats_url: str,
                                                     unique: str) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'store.db'}",
                        nats_url=nats_url)
    host = ServiceHost(f"quiet{unique}", settings, lambda infra: _build(infra, Pool()))
    await host.start("127.0.0.1:0")
    try:
        assert host.metrics is None
    finally:
        await host.stop(grace=0.5)
        await _delete_stream(nats_url, host.service)


async def _delete_stream(nats_url: str, service: str) -> None:
    nc = await nats.connect(nats_url)
    try:
        await nc.jetstream().delete_stream(bus.stream_name(service))
    finally:
        await nc.close()
