"""Integration (real NATS): the history workers wait for streams other services create."""

from __future__ import annotations

import asyncio

import nats

from kernel import bus
from services.messaging.adapters.streams import missing_streams, once_streams_exist


async def test_worker_starts_once_its_streams_exist(nats_url: str, unique: str) -> None:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    late = f"late{unique}"
    started = asyncio.Event()

    async def worker(stop: asyncio.Event) -> None:
        started.set()

    stop = asyncio.Event()
    task = asyncio.create_task(once_streams_exist(js, [late], worker, poll=0.05)(stop))
    await asyncio.sleep(0.3)
    assert not started.is_set() and await missing_streams(js, [late]) == [late]
    await bus.ensure_stream(js, late)
    await asyncio.wait_for(started.wait(), 5)
    await task
    await js.delete_stream(bus.stream_name(late))
    await nc.close()


async def test_stop_ends_the_wait(nats_url: str, unique: str) -> None:
    nc = await nats.connect(nats_url)
    ran = []

    async def worker(stop: asyncio.Event) -> None:
        ran.append(True)

    stop = asyncio.Event()
    task = asyncio.create_task(
        once_streams_exist(nc.jetstream(), [f"never{unique}"], worker, poll=0.05)(stop))
    await asyncio.sleep(0.1)
    stop.set()
    await asyncio.wait_for(task, 2)
    assert ran == []
    await nc.close()
