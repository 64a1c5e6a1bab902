"""Running the real device service (ServiceHost + build) beside a stand-in messaging
store whose MessageQueued events reach the real SB_MESSAGING stream through the relay."""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import nats
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from kernel import bus
from kernel.db import create_engine
from kernel.eventstore import EventStore, NewEvent, StoredEvent
from kernel.host import ServiceHost
from kernel.relay import OutboxRelay
from kernel.rpc import channel
from services.device.app.transport import Transport
from services.device.bootstrap import build
from services.device.settings import DeviceSettings
from switchboard.device.v1 import device_pb2_grpc
from switchboard.messaging.v1 import events_pb2 as messaging_events

T = TypeVar("T")

LIFECYCLE = ["MessageDispatched", "MessageSent", "MessageDelivered", "MessageRead"]


@dataclass
class Messaging:
    store: EventStore
    relay: OutboxRelay
    nc: NATS
    js: JetStreamContext

    async def queue(self, message_id: str, number: str, channel_: str = "pool",
                    instance_id: str = "", user_id: int = 7) -> StoredEvent:
        stream = f"message-{message_id}"
        version = len(await self.store.read_stream(stream))
        payload = messaging_events.MessageQueued(
            message_id=message_id, user_id=user_id, number=number, body=f"hi {message_id}",
            channel=channel_, instance_id=instance_id).SerializeToString()
        await self.store.append(stream, version, [NewEvent("MessageQueued", payload)])
        await self.relay.publish_pending()
        return (await self.store.read_stream(stream))[-1]

    async def redeliver(self, event: StoredEvent) -> None:
        """The same event again, past the broker's duplicate window (fresh Nats-Msg-Id)."""
        headers = bus.headers_for("messaging", event)
        headers["Nats-Msg-Id"] = f"{event.event_id}-again"
        await self.js.publish(bus.subject("messaging", "MessageQueued"), event.payload,
                              headers=headers)


@asynccontextmanager
async def messaging(nats_url: str, tmp_path: Path) -> AsyncIterator[Messaging]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'messaging.db'}")
    store = EventStore(engine)
    await store.create_tables()
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await bus.ensure_stream(js, "messaging")
    yield Messaging(store, OutboxRelay(store, js, "messaging"), nc, js)
    await nc.close()
    await engine.dispose()


def device_settings(database_url: str, nats_url: str, tmp_path: Path, **extra: object
                    ) -> DeviceSettings:
    values: dict[str, object] = {"sim_pool": 3, "sim_delivery_delay_ms": 30,
                                 "sim_read_delay_ms": 30, "pool_admin_instances": False,
                                 "device_lease_bucket": f"leases_{uuid.uuid4().hex[:10]}",
                                 "device_reconnect_base_ms": 50,
                                 "device_reconnect_max_ms": 200, **extra}
    return DeviceSettings(database_url=database_url, nats_url=nats_url, var_dir=tmp_path,
                    **values)


@asynccontextmanager
async def device_service(settings: DeviceSettings, durable: str,
                         transport: Transport | None = None) -> AsyncIterator[ServiceHost]:
    host = ServiceHost("device", settings, functools.partial(
        build, dispatch_durable=durable, instances_durable=f"instances-{durable}",
        only_new=True, transport=transport))
    await host.start("127.0.0.1:0")
    try:
        yield host
    finally:
        await host.stop(grace=0.5)


@asynccontextmanager
async def stub(host: ServiceHost) -> AsyncIterator[device_pb2_grpc.DeviceServiceStub]:
    chan = channel(f"127.0.0.1:{host.port}", host.settings)  # its var dir holds the keys
    yield device_pb2_grpc.DeviceServiceStub(chan)
    await chan.close()


async def stream_types(host: ServiceHost, stream_id: str) -> list[str]:
    assert host.infra is not None
    return [e.event_type for e in await host.infra.store.read_stream(stream_id)]


async def eventually(check: Callable[[], Awaitable[T]], within: float = 10.0,
                     every: float = 0.05) -> T:
    """Poll an async check until it returns something truthy; its last value otherwise."""
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(every)
