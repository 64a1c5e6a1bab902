"""The quota view rebuilt from the streams: dropped, what was applied forgotten, every
source stream replayed from its first message, a fetched batch folded into one write per
row (as the live consumers do), tracked by stream position. The kernel's rebuild
(kernel/projection.py), the one ProjectionRunner.rebuild runs."""

from __future__ import annotations

from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.projection import rebuild
from services.billing.adapters.quota_projection import QuotaProjection


async def rebuild_view(js: JetStreamContext, engine: AsyncEngine,
                       projection: QuotaProjection) -> int:
    """Returns the events applied."""
    return await rebuild(js, engine, projection)
