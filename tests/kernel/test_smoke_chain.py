import asyncio

import nats

from kernel import bus
from kernel.consumer import DurableConsumer, tracked
from kernel.db import create_engine
from kernel.eventstore import EventStore, NewEvent
from kernel.relay import OutboxRelay


async def test_events_flow_from_store_to_consumer(database_url, nats_url, unique):
    engine = create_engine(database_url)
    store = EventStore(engine)
    await store.create_tables()
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    service = f"smoke{unique}"
    await bus.ensure_stream(js, service)
    await store.append(f"s-{unique}", 0, [NewEvent("Happened", b"x") for _ in range(5)])
    relay = OutboxRelay(store, js, service)
    assert await relay.publish_pending() == 5
    seen = []

    async def handle(env, conn):
        seen.append(env.event_id)

    stop = asyncio.Event()
    consumer = DurableConsumer(js, service, "c1", tracked(engine, "c1", handle))
    task = asyncio.create_task(consumer.run(stop))
    for _ in range(50):
        if len(seen) == 5:
            break
        await asyncio.sleep(0.1)
    stop.set()
    await task
    assert len(seen) == 5
    await nc.close()
    await engine.dispose()
