"""The quota view rebuilt from the streams: dropped, its applied ids forgotten, every
source stream replayed from its first message, a fetched batch folded into one write per
row (as the live consumers do). The same steps as kernel's ProjectionRunner.rebuild,
which applies event by event."""

from __future__ import annotations

from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.bus import Envelope, stream_name, subject
from kernel.tables import processed_events
from services.billing.adapters.quota_projection import QuotaProjection, apply_folded

FETCH = 4000


async def rebuild_view(js: JetStreamContext, engine: AsyncEngine,
                       projection: QuotaProjection) -> int:
    """Returns the events applied."""
    async with engine.begin() as conn:
        await conn.run_sync(projection.view.drop_all)
        await conn.execute(delete(processed_events)
                           .where(processed_events.c.consumer == projection.name))
        await conn.run_sync(projection.view.create_all)
    applied = 0
    for service, types in projection.sources.items():
        subjects = [subject(service, t) for t in types]
        applied += await _replay(js, engine, projection.name, service, subjects)
    return applied


async def _replay(js: JetStreamContext, engine: AsyncEngine, name: str, service: str,
                  subjects: list[str]) -> int:
    info = await js.stream_info(stream_name(service))
    if info.state.messages == 0:
        return 0
    config = ConsumerConfig(ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL,
                            filter_subjects=subjects, inactive_threshold=60.0)
    sub = await js.pull_subscribe(subjects[0], stream=stream_name(service), config=config)
    applied = 0
    try:
        while True:
            try:
                msgs = await sub.fetch(FETCH, timeout=1.0)
            except (NatsTimeoutError, TimeoutError):
                break
            async with engine.begin() as conn:
                applied += await apply_folded(conn, name, [Envelope.from_msg(m) for m in msgs])
            tail = msgs[-1].metadata
            if tail.sequence.stream >= info.state.last_seq or tail.num_pending == 0:
                break
    finally:
        await sub.unsubscribe()
    return applied
