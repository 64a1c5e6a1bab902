"""Integration (real NATS): a rebuild learns which source streams no service has created
yet. (That a live subscription waits for its stream is the host's: tests/kernel/
test_subscriptions.py.)"""

from __future__ import annotations

import nats

from kernel import bus
from services.messaging.adapters.streams import missing_streams


async def test_missing_streams_names_those_not_created_yet(nats_url: str, unique: str) -> None:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    late, never = f"late{unique}", f"never{unique}"
    assert await missing_streams(js, [late, never]) == [late, never]
    await bus.ensure_stream(js, late)
    assert await missing_streams(js, [late, never]) == [never]
    await js.delete_stream(bus.stream_name(late))
    await nc.close()
