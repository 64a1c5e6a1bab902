"""An outbox relay in a process of its own, for the kill -9 test.

    python -m tests.kernel.relay_process DATABASE_URL NATS_URL SERVICE [PAUSE_AT]

Prints the last position of each batch once JetStream has acknowledged it (before the
relay records its progress), so the test can kill it right in the middle of its work.
With PAUSE_AT, it stops right there (published, progress not recorded) once a batch
reaches that position, so a kill is sure to land in that window.
"""

from __future__ import annotations

import asyncio
import sys

import nats

from kernel.db import create_engine
from kernel.eventstore import EventStore, StoredEvent
from kernel.relay import OutboxRelay


async def main(database_url: str, nats_url: str, service: str, pause_at: str = "0") -> None:
    store = EventStore(create_engine(database_url))
    nc = await nats.connect(nats_url)

    async def progress(events: list[StoredEvent]) -> None:
        print(events[-1].position, flush=True)
        if int(pause_at) and events[-1].position >= int(pause_at):
            await asyncio.sleep(3600)

    relay = OutboxRelay(store, nc.jetstream(), service, batch=50, idle_wait=0.02,
                        after_publish=progress)
    print("ready", flush=True)
    await relay.run(asyncio.Event())


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
