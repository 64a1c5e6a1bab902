"""Projections: read models built from the event streams, rebuildable from zero.

A live projection writes its view and the ids of the events it applied in one transaction,
so a redelivery never counts an event twice. A rebuild drops the view and replays every
source stream from its first message in order, in one process, so it tracks by stream
position instead: one `projection_positions` row per source, "applied up to sequence N",
written with each batch. Live consumers skip what a rebuild's position covers and track
the rest by id; once a live consumer has applied an event during a rebuild (the row's
`live_from`), the rebuild tracks by id too from that sequence on, so the handover in either
direction skips every event the other side applied.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Sequence
from typing import Any, Protocol

from nats.js import JetStreamContext
from sqlalchemy import MetaData, Row, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kernel import context
from kernel.bus import Envelope
from kernel.consumer import each_once, track_new
from kernel.db import writing
from kernel.eventstore import EventStore
from kernel.relay import recorded_position
from kernel.replay import expect_replay, interleaved
from kernel.subscriptions import VIEW_BATCH, VIEW_LINGER, EventSubscription
from kernel.tables import processed_events, projection_positions

log = logging.getLogger(__name__)
positions = projection_positions


class Projection(Protocol):
    name: str
    # Source service -> the event types it reads from that service's stream.
    sources: dict[str, Sequence[str]]
    view: MetaData
    # Optionally, `folded_by_writer`: sources whose writer folds each event into the view
    # in the transaction that appends it. A rebuild replays them; nothing consumes them
    # live, since a live merge could only find the view as the append left it.

    async def apply(self, event: Envelope, conn: AsyncConnection) -> None: ...


class BatchProjection(Projection, Protocol):
    """A projection that can fold a batch of new events into the view at once; the view
    must come out as `apply` on each event in turn would leave it."""

    async def apply_batch(self, events: Sequence[Envelope], conn: AsyncConnection) -> None: ...


async def apply_tracked(conn: AsyncConnection, projection: Projection,
                        batch: Sequence[Envelope]) -> int:
    """Apply the batch's events this projection has not seen (live), recording their ids in
    the same transaction. Returns the applied.

    A projection whose view is the join of its events (`idempotent = True`: an event
    applied again, or after a later one, leaves the view as it was) records nothing and
    skips nothing: a redelivery, or an event a rebuild has applied too, changes nothing
    there, so it needs no memory of what it applied."""
    if getattr(projection, "idempotent", False):
        fresh = list(each_once(batch).values())
    else:
        fresh = await track_live(conn, projection.name, batch)
    await apply_fresh(conn, projection, fresh)
    return len(fresh)


async def apply_fresh(conn: AsyncConnection, projection: Projection,
                      fresh: Sequence[Envelope]) -> None:
    """Apply events known to be new, each under its own trace; a BatchProjection gets
    them all in one call, under the trace of the last (as after each in turn)."""
    fold = getattr(projection, "apply_batch", None)
    if fold is None:
        for envelope in fresh:
            context.caused_by(envelope.event_id, envelope.correlation_id)
            await projection.apply(envelope, conn)
    elif fresh:
        context.caused_by(fresh[-1].event_id, fresh[-1].correlation_id)
        await fold(fresh, conn)


async def track_live(conn: AsyncConnection, name: str,
                     batch: Sequence[Envelope]) -> list[Envelope]:
    """`track_new` for a live projection: events a rebuild's position covers are skipped,
    and the first ones applied beyond it are noted in `live_from`. The positions are read
    with a share lock, so a rebuild's batch (which locks its row for update) and a live
    batch never interleave (PostgreSQL; SQLite's writers take turns anyway)."""
    sources = sorted({e.service for e in batch})
    marks = {r.source: r for r in await conn.execute(
        select(positions).where(positions.c.consumer == name,
                                positions.c.source.in_(sources))
        .with_for_update(read=True))} if sources else {}
    if not marks:
        return await track_new(conn, name, batch)
    fresh = await track_new(conn, name, [e for e in batch if not _covered(e, marks)])
    for source, row in marks.items():
        # An event without a stream sequence could be anywhere: the rebuild tracks all.
        lowest = min((e.stream_sequence or 1 for e in fresh if e.service == source),
                     default=None)
        if lowest is not None and (row.live_from is None or lowest < row.live_from):
            await conn.execute(update(positions).where(
                positions.c.consumer == name, positions.c.source == source)
                .values(live_from=lowest))
    return fresh


def _covered(envelope: Envelope, marks: dict[str, Row[Any]]) -> bool:
    row = marks.get(envelope.service)
    return row is not None and 0 < envelope.stream_sequence <= row.position


class ProjectionRunner:
    def __init__(self, js: JetStreamContext, engine: AsyncEngine, projection: Projection,
                 batch: int = VIEW_BATCH) -> None:
        self.js = js
        self.engine = engine
        self.projection = projection
        self.batch = batch

    async def create_view(self) -> None:
        async with writing(self.engine) as conn:
            await conn.run_sync(self.projection.view.create_all)

    def subscriptions(self) -> list[EventSubscription]:
        """One per source stream consumed live, durable `<projection>-<source>`."""
        async def handler(batch: Sequence[Envelope]) -> None:
            async with writing(self.engine) as conn:
                await apply_tracked(conn, self.projection, batch)

        return [EventSubscription(service, tuple(types), self._durable(service), handler,
                                  batch=self.batch, linger=VIEW_LINGER)
                for service, types in live_sources(self.projection).items()]

    def retired(self) -> list[tuple[str, str]]:
        """(source, durable) of the live consumers the sources folded by their writer
        would have had: a store upgraded from a version that consumed them has one each,
        for the host to remove (ServiceHost, `Parts.retired`)."""
        return [(service, self._durable(service))
                for service in _folded_by_writer(self.projection)]

    def _durable(self, service: str) -> str:
        return f"{self.projection.name}-{service}"

    async def run(self, stop: asyncio.Event) -> None:
        await self.create_view()
        await asyncio.gather(*(s.consumer(self.js).run(stop) for s in self.subscriptions()))

    async def rebuild(self) -> int:
        """Drop the view and replay every source stream into it; returns events applied."""
        return await rebuild(self.js, self.engine, self.projection)


FETCH = 4000


async def rebuild(js: JetStreamContext, engine: AsyncEngine, projection: Projection) -> int:
    """Drop the view, forget what was applied, and replay every source stream into the
    view from its first message; returns the events applied.

    A source folded by its writer has no live consumer to take what the replay misses:
    the events its writer committed before the drop (their rows went with the old view)
    but its relay had not yet published. So the rebuild applies those from the writer's
    store too (the view's own store): every event after the relay's recorded position,
    up to the last one the drop saw, but for those the replay had. The relay records its
    position only after publishing, so the rest are in the stream before the replay
    looks. The projection must be idempotent (checked): a live merge by the writer and
    the rebuild's may meet the same row in either order."""
    folded = _folded_by_writer(projection)
    async with writing(engine) as conn:
        await conn.run_sync(projection.view.drop_all)
        for table in (processed_events, positions):
            await conn.execute(delete(table).where(table.c.consumer == projection.name))
        if projection.sources:
            await conn.execute(insert(positions), [
                {"consumer": projection.name, "source": s, "position": 0, "live_from": None}
                for s in projection.sources])
        await conn.run_sync(projection.view.create_all)
        last = await EventStore(engine).last_position(conn) if folded else 0
    unpublished = {service: await _unpublished(engine, projection, service, last)
                   for service in folded}
    await expect_replay(js, projection.sources)
    applied = 0
    seen: dict[str, set[str]] = {service: set() for service in projection.sources}
    async for parts in interleaved(js, projection.sources, FETCH):
        async with writing(engine) as conn:
            fresh = []
            for service, batch in parts.items():  # in the order of their names, as locked
                fresh += await track_replayed(conn, projection.name, service, batch,
                                              seen[service])
            await apply_fresh(conn, projection, fresh)
        applied += len(fresh)
    for service, events in unpublished.items():
        missed = [e for e in events if e.event_id not in seen[service]]
        if missed:
            async with writing(engine) as conn:
                await apply_fresh(conn, projection, missed)
            applied += len(missed)
    return applied


def live_sources(projection: Projection) -> dict[str, Sequence[str]]:
    """The projection's sources consumed live: all but those folded by their writer."""
    folded = _folded_by_writer(projection)
    return {s: types for s, types in projection.sources.items() if s not in folded}


def _folded_by_writer(projection: Projection) -> list[str]:
    """The projection's sources folded by their writer; only an idempotent view may have
    any (ValueError)."""
    folded = [s for s in getattr(projection, "folded_by_writer", ()) if s in projection.sources]
    if folded and not getattr(projection, "idempotent", False):
        raise ValueError(f"projection {projection.name}: a source folded by its writer needs "
                         f"an idempotent view (`idempotent = True`)")
    return folded


async def _unpublished(engine: AsyncEngine, projection: Projection, service: str,
                       last: int) -> list[Envelope]:
    """The source's events of the projection's types in the writer's store after its
    relay's recorded position and up to `last`."""
    recorded = await recorded_position(engine, service)
    events = await EventStore(engine).read_between(recorded, last, projection.sources[service])
    return [Envelope.stored(service, event) for event in events]


async def track_replayed(conn: AsyncConnection, name: str, source: str,
                         batch: Sequence[Envelope], seen: set[str]) -> list[Envelope]:
    """A replayed batch's events to apply, in stream order, the source's position moved
    past them in the caller's transaction. Below the row's `live_from` (no live consumer
    has applied any of them) nothing is tracked per event; from there on, by id, so the
    events a live consumer applied meanwhile are skipped. `seen` (the ids this replay has
    had) skips a copy the stream holds twice."""
    row = (await conn.execute(select(positions.c.live_from).where(
        positions.c.consumer == name, positions.c.source == source)
        .with_for_update())).first()
    cut = 0 if row is None else math.inf if row.live_from is None else row.live_from
    shared = {e.event_id for e in await track_new(
        conn, name, [e for e in batch if e.stream_sequence >= cut and e.event_id not in seen])}
    fresh = []
    for e in batch:
        if e.event_id not in seen and (e.event_id in shared or e.stream_sequence < cut):
            seen.add(e.event_id)
            fresh.append(e)
    if row is not None and batch:
        await conn.execute(update(positions).where(
            positions.c.consumer == name, positions.c.source == source)
            .values(position=max(e.stream_sequence for e in batch)))
    return fresh
