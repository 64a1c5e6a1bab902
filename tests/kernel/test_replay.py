"""A replay reads every message even in a starved process: one whose event loop is held
longer than a fetch waits (as on a loaded machine, or under a long batch apply)."""

from __future__ import annotations

import asyncio
import time

from nats.js import JetStreamContext

from kernel import bus
from kernel.eventstore import EventStore, NewEvent
from kernel.relay import OutboxRelay
from kernel.replay import replay


async def test_a_replay_held_past_its_fetch_wait_still_reads_every_message(
        store: EventStore, js: JetStreamContext, service: str, unique: str) -> None:
    for n in range(6):
        await store.append(f"order-{unique}-{n}", 0, [NewEvent("Placed", b"x") for _ in range(5)])
    await OutboxRelay(store, js, service).publish_pending()
    seen: list[int] = []
    async for batch in replay(js, service, [bus.subject(service, "Placed")], 10):
        seen.extend(e.stream_sequence for e in batch)
        for _ in range(3):  # the next fetch is waiting for its messages ...
            await asyncio.sleep(0)
        time.sleep(1.5)  # noqa: ASYNC251 - ... while the loop is held past its 1 s wait
    assert seen == list(range(1, 31))
