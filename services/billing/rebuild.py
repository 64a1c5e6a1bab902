"""Drop the quota view and replay it from the event streams.

`switchboard projections rebuild quota` calls `rebuild_quota(settings)`. It is safe while
the service runs (applied event ids are tracked in the same transactions), but usage
reads see a partly rebuilt view until it finishes.
"""

from __future__ import annotations

import logging

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from kernel import bus, stackid
from kernel.config import Settings
from kernel.db import engine_for
from kernel.eventstore import EventStore
from services.billing.adapters.quota_projection import QUOTA, QuotaProjection
from services.billing.adapters.quota_rebuild import rebuild_view

log = logging.getLogger(__name__)


async def rebuild_quota(settings: Settings, name: str = QUOTA) -> int:
    """Rebuild the quota view in the billing store; returns the events applied."""
    engine = await engine_for("billing", settings)
    nc = await bus.connect_as(settings, "billing-rebuild")
    try:
        await EventStore(engine).create_tables()
        projection = QuotaProjection(name)
        await stackid.verify(nc.jetstream(), stackid.read(settings.var_dir),
                             map(bus.stream_name, projection.sources))
        await _skip_missing_streams(nc.jetstream(), projection)
        return await rebuild_view(nc.jetstream(), engine, projection)
    finally:
        await nc.drain()
        await engine.dispose()


async def _skip_missing_streams(js: JetStreamContext, projection: QuotaProjection) -> None:
    # ProjectionRunner.rebuild fails on a source stream that does not exist yet (e.g. no
    # messaging service has ever run); such a stream has nothing to replay.
    for service in list(projection.sources):
        try:
            await js.stream_info(bus.stream_name(service))
        except NotFoundError:
            log.warning("rebuild quota: no %s stream yet; nothing to replay from it",
                        bus.stream_name(service))
            del projection.sources[service]
