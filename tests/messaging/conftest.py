"""Fixtures: the real messaging service (ServiceHost + bootstrap.build) on SQLite and
PostgreSQL, real NATS, stand-in billing/device gRPC servers, and a device event source
that appends to a real event store and relays to the real SB_DEVICE stream."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import grpc
import nats
import pytest
from nats.js.errors import NotFoundError as NatsNotFoundError
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel import bus
from kernel.bus import stream_name
from kernel.db import create_engine
from kernel.eventstore import EventStore, NewEvent
from kernel.host import ServiceHost
from kernel.projection import live_sources
from kernel.relay import OutboxRelay
from kernel.rpc import channel
from services.messaging.adapters.history_projection import HistoryProjection
from services.messaging.adapters.reservation_journal import journal_metadata
from services.messaging.adapters.streams import missing_streams
from services.messaging.app.dependencies import MessagingDeps
from services.messaging.bootstrap import build
from services.messaging.settings import MessagingSettings
from switchboard.device.v1 import events_pb2 as device_pb
from switchboard.messaging.v1 import messaging_pb2 as pb
from switchboard.messaging.v1 import messaging_pb2_grpc
from tests.messaging.neighbours import (
    StandInBilling,
    StandInDevice,
    serve_billing,
    serve_device,
)

NUMBER = "27821234567"


async def eventually(check: Callable[[], Awaitable[Any]], within: float = 15.0) -> Any:
    """The first truthy result of `check`, retried for up to `within` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        try:
            result = await check()
            if result:
                return result
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:
                raise
        except NatsNotFoundError:
            pass
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


@dataclass
class Neighbours:
    billing: StandInBilling
    device: StandInDevice
    billing_addr: str
    device_addr: str


@dataclass
class Messaging:
    host: ServiceHost
    settings: MessagingSettings
    history_name: str
    channel: grpc.aio.Channel
    stub: messaging_pb2_grpc.MessagingServiceStub
    closed: bool = False

    async def send(self, user_id: int, number: str = NUMBER,
                   message: str = "Hello from Switchboard") -> pb.SendMessageResponse:
        return await self.stub.SendMessage(
            pb.SendMessageRequest(user_id=user_id, number=number, message=message))

    async def status(self, user_id: int, queue_id: str) -> pb.MessageStatus:
        return await self.stub.GetMessageStatus(
            pb.GetMessageStatusRequest(user_id=user_id, queue_id=queue_id))

    async def wait_status(self, user_id: int, queue_id: str, status: int) -> pb.MessageStatus:
        async def reached() -> pb.MessageStatus | None:
            reply = await self.status(user_id, queue_id)
            return reply if reply.status == status else None

        return await eventually(reached)

    async def settle(self) -> None:
        """Until the relay has published every event and the history's live consumers of
        the existing streams have acked all they were given."""
        infra, relay = self.host.infra, self.host.relay
        assert infra is not None and relay is not None
        live = live_sources(HistoryProjection(self.history_name))
        services = [s for s in live if s not in await missing_streams(infra.js, [s])]

        async def idle() -> bool:
            if await relay.lag():
                return False
            for service in services:
                info = await infra.js.consumer_info(stream_name(service),
                                                    f"{self.history_name}-{service}")
                if info.num_pending or info.num_ack_pending:
                    return False
            return True

        await eventually(idle)

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            # Stopping only once the workers are idle: the host cancels them, and an
            # aiosqlite query cancelled mid-flight can stall shutdown (see the report).
            await self.settle()
            await self.channel.close()
            await self.host.stop(grace=0.5)


@dataclass
class DeviceEvents:
    """Stands in for the device service's outbox: real store, real relay to SB_DEVICE."""

    store: EventStore
    relay: OutboxRelay
    versions: Counter[str] = field(default_factory=Counter)

    async def emit(self, event_type: str, **fields: Any) -> None:
        for name, value in list(fields.items()):
            if isinstance(value, datetime):
                fields[name] = _stamp(value)
        payload = getattr(device_pb, event_type)(**fields).SerializeToString()
        stream = f"dispatch-{fields['message_id']}"
        await self.store.append(stream, self.versions[stream], [NewEvent(event_type, payload)])
        self.versions[stream] += 1
        await self.relay.publish_pending()


def _stamp(value: datetime) -> Any:
    from google.protobuf.timestamp_pb2 import Timestamp

    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


class Unused:
    """A port the handler under test must not touch."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __getattr__(self, attr: str) -> Any:
        raise AssertionError(f"the handler used {self.name}.{attr}")


def handler_deps(**ports: Any) -> MessagingDeps:
    """The handlers' deps with `ports` given, every other port `Unused`."""
    required = {f.name: Unused(f.name) for f in dataclasses.fields(MessagingDeps)
                if f.default is dataclasses.MISSING}
    return MessagingDeps(**{**required, **ports})


@pytest.fixture
async def journal_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A real SQLite store with the event and reservation-note tables."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'messaging.db'}")
    await EventStore(engine).create_tables()
    async with engine.begin() as conn:
        await conn.run_sync(journal_metadata.create_all)
    yield engine
    await engine.dispose()


@pytest.fixture
def user(unique: str) -> int:
    """A user id of this test's own: the streams, and so the views, are shared."""
    return int(unique, 16) % 10**12 + 1_000


@pytest.fixture
async def neighbours() -> AsyncIterator[Neighbours]:
    billing, device = StandInBilling(), StandInDevice()
    billing_server, billing_addr = await serve_billing(billing)
    device_server, device_addr = await serve_device(device)
    yield Neighbours(billing, device, billing_addr, device_addr)
    await billing_server.stop(0)
    await device_server.stop(0)


@pytest.fixture
def settings(database_url: str, nats_url: str, neighbours: Neighbours,
             tmp_path: Path) -> MessagingSettings:
    return MessagingSettings(database_url=database_url, nats_url=nats_url, var_dir=tmp_path,
                    billing_addr=neighbours.billing_addr, device_addr=neighbours.device_addr)


StartMessaging = Callable[..., Awaitable[Messaging]]


@pytest.fixture
async def start_messaging(settings: MessagingSettings,
                          unique: str) -> AsyncIterator[StartMessaging]:
    started: list[Messaging] = []

    async def start(custom: MessagingSettings | None = None, **build_kwargs: Any) -> Messaging:
        name = f"history-{unique}"
        host = ServiceHost("messaging", custom or settings,
                           partial(build, history_name=name, **build_kwargs))
        port = await host.start("127.0.0.1:0")
        chan = channel(f"127.0.0.1:{port}", custom or settings)
        service = Messaging(host, custom or settings, name, chan,
                            messaging_pb2_grpc.MessagingServiceStub(chan))
        started.append(service)
        return service

    yield start
    for service in started:
        await service.close()


@pytest.fixture
async def messaging(start_messaging: StartMessaging) -> Messaging:
    return await start_messaging()


@pytest.fixture
async def device_events(nats_url: str, tmp_path: Path) -> AsyncIterator[DeviceEvents]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'device-events.db'}")
    store = EventStore(engine)
    await store.create_tables()
    nc = await nats.connect(nats_url)
    await bus.ensure_stream(nc.jetstream(), "device")
    yield DeviceEvents(store, OutboxRelay(store, nc.jetstream(), "device"))
    await nc.drain()
    await engine.dispose()
