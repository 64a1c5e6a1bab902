"""The quota view rebuilt from the streams: dropped, its applied ids forgotten, every
source stream replayed from its first message, a fetched batch folded into one write per
row (as the live consumers do). The same steps and the same replay as kernel's
ProjectionRunner.rebuild."""

from __future__ import annotations

from nats.js import JetStreamContext
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.bus import subject
from kernel.projection import expect_replay, replay
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
    await expect_replay(js, projection.sources)
    applied = 0
    for service, types in projection.sources.items():
        subjects = [subject(service, t) for t in types]
        applied += await _replay(js, engine, projection.name, service, subjects)
    return applied


async def _replay(js: JetStreamContext, engine: AsyncEngine, name: str, service: str,
                  subjects: list[str]) -> int:
    applied = 0
    async for batch in replay(js, service, subjects, FETCH):
        async with engine.begin() as conn:
            applied += await apply_folded(conn, name, batch)
    return applied
