"""Drop the history view (or the inbox view) and replay it from the event streams.

`switchboard projections rebuild history` calls `rebuild_history(settings)`, `... inbox`
`rebuild_inbox(settings)`. It is safe while the service runs (applied event ids are
tracked in the same transactions), but lookups see a partly rebuilt view until it
finishes.
"""

from __future__ import annotations

import logging

from nats.js import JetStreamContext

from kernel import bus, stackid
from kernel.config import Settings
from kernel.db import engine_for
from kernel.eventstore import EventStore
from kernel.projection import Projection, ProjectionRunner
from services.messaging.adapters.history_projection import HISTORY, HistoryProjection
from services.messaging.adapters.inbox_projection import INBOX, InboxProjection
from services.messaging.adapters.streams import missing_streams

log = logging.getLogger(__name__)


async def rebuild_history(settings: Settings, name: str = HISTORY) -> int:
    """Rebuild the history view in the messaging store; returns the events applied."""
    return await rebuild(settings, HistoryProjection(name))


async def rebuild_inbox(settings: Settings, name: str = INBOX) -> int:
    """Rebuild the inbox view in the messaging store; returns the events applied."""
    return await rebuild(settings, InboxProjection(name))


async def rebuild(settings: Settings, projection: Projection) -> int:
    engine = await engine_for("messaging", settings)
    nc = await bus.connect_as(settings, "messaging-rebuild")
    try:
        await EventStore(engine).create_tables()
        await stackid.verify(nc.jetstream(), stackid.read(settings.var_dir),
                             map(bus.stream_name, projection.sources))
        await _skip_missing_streams(nc.jetstream(), projection)
        return await ProjectionRunner(nc.jetstream(), engine, projection).rebuild()
    finally:
        await nc.drain()
        await engine.dispose()


async def _skip_missing_streams(js: JetStreamContext, projection: Projection) -> None:
    # ProjectionRunner.rebuild fails on a source stream that does not exist yet (e.g. no
    # device service has ever run); such a stream has nothing to replay.
    for service in await missing_streams(js, list(projection.sources)):
        log.warning("rebuild %s: no %s stream yet; nothing to replay from it",
                    projection.name, bus.stream_name(service))
        projection.sources = {k: v for k, v in projection.sources.items() if k != service}
