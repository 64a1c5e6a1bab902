"""Fixtures for the kernel suite: a real store on each backend, a real JetStream link."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import nats
import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel import bus
from kernel.db import create_engine
from kernel.eventstore import EventStore


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def store(engine: AsyncEngine) -> EventStore:
    store = EventStore(engine)
    await store.create_tables()
    return store


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[NATS]:
    conn = await nats.connect(nats_url)
    yield conn
    await conn.close()


@pytest.fixture
def js(nc: NATS) -> JetStreamContext:
    return nc.jetstream()


@pytest.fixture
async def service(js: JetStreamContext, unique: str) -> AsyncIterator[str]:
    """A service name of its own, with its JetStream stream created; deleted afterwards."""
    name = f"svc{unique}"
    await bus.ensure_stream(js, name)
    yield name
    await js.delete_stream(bus.stream_name(name))


async def wait_until(check: Callable[[], Awaitable[bool]], timeout: float = 10.0,  # noqa: ASYNC109
                     what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


async def stream_messages(js: JetStreamContext, service: str) -> list[bus.Envelope]:
    """Every message in the service's JetStream stream, in stream order, read by a
    fresh ephemeral consumer (nothing is acked, nothing is left behind)."""
    info = await js.stream_info(bus.stream_name(service))
    if info.state.messages == 0:
        return []
    config = ConsumerConfig(ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL,
                            inactive_threshold=30.0)
    sub = await js.pull_subscribe(bus.subject(service), stream=bus.stream_name(service),
                                  config=config)
    out: list[bus.Envelope] = []
    try:
        while len(out) < info.state.messages:
            msgs = await sub.fetch(min(2000, info.state.messages - len(out)), timeout=5.0)
            out.extend(bus.Envelope.from_msg(m) for m in msgs)
    finally:
        await sub.unsubscribe()
    return out
