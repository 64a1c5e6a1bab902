"""A toy projection fed live by ProjectionRunner, then dropped and rebuilt from the
JetStream streams: the rebuilt view equals the live one, and replays change nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from nats.js import JetStreamContext
from sqlalchemy import Column, Integer, MetaData, String, Table, case, insert, select, update
from sqlalchemy import delete as sql_delete
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kernel import bus, context
from kernel import projection as projections
from kernel.db import create_engine
from kernel.eventstore import EventStore, NewEvent, StreamWrite
from kernel.projection import Projection, ProjectionRunner, track_live, track_replayed
from kernel.relay import OutboxRelay
from kernel.tables import processed_events
from tests.kernel.conftest import stream_messages, wait_until


class EventsPerStream:
    """Per source stream: how many events, the highest version, the sum of payload sizes."""

    def __init__(self, name: str, sources: dict[str, Sequence[str]]) -> None:
        self.name = name
        self.sources = sources
        self.view = MetaData()
        self.table = Table(
            f"view_{name}", self.view,
            Column("stream_id", String(200), primary_key=True),
            Column("events", Integer, nullable=False),
            Column("last_version", Integer, nullable=False),
            Column("payload_bytes", Integer, nullable=False),
        )

    async def apply(self, event: bus.Envelope, conn: AsyncConnection) -> None:
        t = self.table
        changed = await conn.execute(update(t).where(t.c.stream_id == event.stream_id).values(
            events=t.c.events + 1,
            last_version=case((t.c.last_version > event.stream_version, t.c.last_version),
                              else_=event.stream_version),
            payload_bytes=t.c.payload_bytes + len(event.payload)))
        if changed.rowcount == 0:
            await conn.execute(insert(t).values(stream_id=event.stream_id, events=1,
                                                last_version=event.stream_version,
                                                payload_bytes=len(event.payload)))

    async def rows(self, engine: AsyncEngine) -> list[tuple]:
        async with engine.connect() as conn:
            return [tuple(r) for r in (await conn.execute(
                select(self.table).order_by(self.table.c.stream_id))).all()]


def expected_rows(events: list, types: set[str]) -> list[tuple]:
    """The view computed straight from the stores: the truth both views must match."""
    by_stream: dict[str, list] = {}
    for e in events:
        if e.event_type in types:
            by_stream.setdefault(e.stream_id, []).append(e)
    return sorted((s, len(es), max(e.stream_version for e in es),
                   sum(len(e.payload) for e in es)) for s, es in by_stream.items())


class Source:
    """A service of its own: its store and relay, feeding its JetStream stream."""

    def __init__(self, store: EventStore, js: JetStreamContext, service: str) -> None:
        self.store = store
        self.service = service
        self.relay = OutboxRelay(store, js, service)
        self.versions: dict[str, int] = {}

    async def emit(self, stream: str, *types: str) -> None:
        version = self.versions.get(stream, 0)
        await self.store.append_many([StreamWrite(stream, version, [
            NewEvent(t, f"{t}:{stream}:{version + i}".encode()) for i, t in enumerate(types)])])
        self.versions[stream] = version + len(types)

    async def publish(self) -> None:
        while await self.relay.publish_pending():
            pass


async def redeliver_everything(runner: ProjectionRunner, js: JetStreamContext) -> None:
    """Every source stream's events handed to the live handlers again, as redeliveries."""
    for sub in runner.subscriptions():
        read = [e for e in await stream_messages(js, sub.source) if e.event_type in sub.events]
        assert read
        assert callable(sub.handler)
        await sub.handler(read)


async def _view_is(projection: EventsPerStream, engine: AsyncEngine, rows: list) -> bool:
    try:
        return await projection.rows(engine) == rows
    except Exception:  # the view may not exist yet
        return False


async def test_rebuilt_view_equals_the_live_one(
        store: EventStore, engine: AsyncEngine, js: JetStreamContext, service: str,
        unique: str, tmp_path: Path) -> None:
    # Two source services: "orders" in the database under test, "billing" in another.
    billing_service = f"{service}b"
    await bus.ensure_stream(js, billing_service)
    billing_store = EventStore(create_engine(f"sqlite+aiosqlite:///{tmp_path / 'b.db'}"))
    await billing_store.create_tables()
    orders = Source(store, js, service)
    billing = Source(billing_store, js, billing_service)
    projection = EventsPerStream(f"per_stream_{unique}", {
        service: ["Placed", "Paid"], billing_service: ["Charged"]})
    wanted = {"Placed", "Paid", "Charged"}
    _: Projection = projection  # it conforms to the kernel's protocol
    runner = ProjectionRunner(js, engine, projection, batch=50)

    async def truth() -> list[tuple]:
        return expected_rows([*await store.read_all(limit=100_000),
                              *await billing_store.read_all(limit=100_000)], wanted)

    try:
        for n in range(40):
            await orders.emit(f"order-{n % 9}", "Placed", "Paid", "Ignored")
            await billing.emit(f"invoice-{n % 4}", "Charged")
        await orders.emit("order-0", "Ignored")  # the stream ends with an unread type
        await orders.publish()
        await billing.publish()

        stop = asyncio.Event()
        live = asyncio.create_task(runner.run(stop))
        try:
            expected = await truth()
            await wait_until(lambda: _view_is(projection, engine, expected),
                             what="the live view to catch up")
            for n in range(15):  # events arriving while the projection runs
                await orders.emit(f"order-new-{n % 3}", "Placed")
                await billing.emit(f"invoice-{n % 2}", "Charged", "Refunded")
            await orders.publish()
            await billing.publish()
            expected = await truth()
            await wait_until(lambda: _view_is(projection, engine, expected),
                             what="the live view to take the new events")
        finally:
            stop.set()
            await asyncio.wait_for(live, 10)
        live_rows = await projection.rows(engine)
        assert live_rows == expected and len(live_rows) == 9 + 3 + 4

        assert await runner.rebuild() == 40 * 2 + 40 + 15 + 15
        assert await projection.rows(engine) == live_rows

        # Applying everything again, as a redelivery to the live consumers would, changes
        # nothing: the rebuild's positions cover every event, not per-event rows.
        await redeliver_everything(runner, js)
        assert await projection.rows(engine) == live_rows

        # The live runner, started again, neither re-applies nor misses anything.
        await orders.emit("order-late", "Paid")
        await orders.publish()
        expected = await truth()
        stop = asyncio.Event()
        live = asyncio.create_task(runner.run(stop))
        try:
            await wait_until(lambda: _view_is(projection, engine, expected),
                             what="the late event")
            await asyncio.sleep(0.3)
        finally:
            stop.set()
            await asyncio.wait_for(live, 10)
        live_rows = await projection.rows(engine)
        assert live_rows == expected
        assert await runner.rebuild() == 40 * 2 + 40 + 15 + 15 + 1
        assert await projection.rows(engine) == live_rows
    finally:
        await billing_store.engine.dispose()
        await js.delete_stream(bus.stream_name(billing_service))


async def test_rebuild_of_an_empty_stream_gives_an_empty_view(
        engine: AsyncEngine, store: EventStore, js: JetStreamContext, service: str,
        unique: str) -> None:
    projection = EventsPerStream(f"empty_{unique}", {service: ["Placed"]})
    runner = ProjectionRunner(js, engine, projection)
    await runner.create_view()
    assert await runner.rebuild() == 0
    assert await projection.rows(engine) == []


async def test_a_source_its_writer_folds_in_is_replayed_not_consumed_live(
        engine: AsyncEngine, store: EventStore, js: JetStreamContext, service: str,
        unique: str, tmp_path: Path) -> None:
    """`folded_by_writer`: no live consumer reads that source (its durable is named as
    retired instead), and a rebuild replays it with the others."""
    other = f"{service}o"
    await bus.ensure_stream(js, other)
    other_store = EventStore(create_engine(f"sqlite+aiosqlite:///{tmp_path / 'o.db'}"))
    await other_store.create_tables()
    projection = LatestVersions(f"folded_{unique}", {service: ["Placed"], other: ["Paid"]})
    projection.folded_by_writer = (service,)  # type: ignore[attr-defined]
    runner = ProjectionRunner(js, engine, projection)
    try:
        assert [s.source for s in runner.subscriptions()] == [other]
        assert runner.retired() == [(service, f"folded_{unique}-{service}")]
        placed, paid = Source(store, js, service), Source(other_store, js, other)
        for n in range(6):
            await placed.emit(f"order-{n % 2}", "Placed")
            await paid.emit(f"paid-{n % 3}", "Paid")
        await placed.publish()
        await paid.publish()
        await runner.create_view()
        assert await runner.rebuild() == 12
        assert await projection.rows(engine) == [
            ("order-0", 3), ("order-1", 3), ("paid-0", 2), ("paid-1", 2), ("paid-2", 2)]
    finally:
        await other_store.engine.dispose()
        await js.delete_stream(bus.stream_name(other))


class LatestVersions:
    """Per stream, the highest version seen: a view that is the join of its events, so an
    event applied twice, or late, changes nothing (`idempotent`)."""

    idempotent = True

    def __init__(self, name: str, sources: dict[str, Sequence[str]]) -> None:
        self.name = name
        self.sources = sources
        self.view = MetaData()
        self.table = Table(f"view_{name}", self.view,
                           Column("stream_id", String(200), primary_key=True),
                           Column("version", Integer, nullable=False))

    async def apply(self, event: bus.Envelope, conn: AsyncConnection) -> None:
        t = self.table
        found = (await conn.execute(select(t.c.version).where(
            t.c.stream_id == event.stream_id))).scalar()
        if found is None:
            await conn.execute(insert(t).values(stream_id=event.stream_id,
                                                version=event.stream_version))
        elif found < event.stream_version:
            await conn.execute(update(t).where(t.c.stream_id == event.stream_id)
                               .values(version=event.stream_version))

    async def rows(self, engine: AsyncEngine) -> list[tuple]:
        async with engine.connect() as conn:
            return [tuple(r) for r in (await conn.execute(
                select(self.table).order_by(self.table.c.stream_id))).all()]


async def test_a_rebuild_takes_a_folded_sources_unpublished_events_from_its_store(
        engine: AsyncEngine, store: EventStore, js: JetStreamContext, service: str,
        unique: str) -> None:
    """Events its writer committed (and folded into the old view) that its relay has not
    published yet are in no stream, and no live consumer would take them later: the
    rebuild applies them from the writer's store. Published ones come from the stream."""
    projection = LatestVersions(f"unpublished_{unique}", {service: ["Placed"]})
    projection.folded_by_writer = (service,)  # type: ignore[attr-defined]
    source = Source(store, js, service)
    for n in range(6):
        await source.emit(f"order-{n}", "Placed", "Placed")
    await source.publish()  # published (its position recorded now or later)
    for n in range(4, 9):  # committed after: in the store only
        await source.emit(f"order-{n}", "Placed", "Ignored", "Placed")
    runner = ProjectionRunner(js, engine, projection)
    await runner.create_view()
    assert await runner.rebuild() == 12 + 10
    assert await projection.rows(engine) == sorted(
        [(f"order-{n}", 2) for n in range(4)] + [(f"order-{n}", 5) for n in (4, 5)]
        + [(f"order-{n}", 3) for n in (6, 7, 8)])


async def test_only_an_idempotent_view_may_have_a_source_folded_by_its_writer(
        engine: AsyncEngine, js: JetStreamContext, service: str, unique: str) -> None:
    projection = EventsPerStream(f"counted_{unique}", {service: ["Placed"]})
    projection.folded_by_writer = (service,)  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="idempotent"):
        await ProjectionRunner(js, engine, projection).rebuild()


async def test_rebuild_replays_streams_longer_than_one_fetch(
        engine: AsyncEngine, store: EventStore, js: JetStreamContext, service: str,
        unique: str) -> None:
    source = Source(store, js, service)
    for n in range(50):
        await source.emit(f"bulk-{n % 25}", *(["Placed"] * 50))
    await source.emit("bulk-0", "Ignored", "Ignored")
    source.relay.batch = 1000
    await source.publish()
    projection = EventsPerStream(f"bulk_{unique}", {service: ["Placed"]})
    runner = ProjectionRunner(js, engine, projection)
    await runner.create_view()
    assert await runner.rebuild() == 2500
    rows = await projection.rows(engine)
    assert rows == expected_rows(await store.read_all(limit=100_000), {"Placed"})
    assert {r[1] for r in rows} == {100}


async def test_a_rebuild_and_the_live_consumers_hand_over_every_event_once(
        engine: AsyncEngine, store: EventStore, js: JetStreamContext, service: str,
        unique: str) -> None:
    """The rebuild tracks by stream position; the live side by id, beyond that position.
    Interleaved as a rebuild running beside the live service would: each event is applied
    by exactly one of them."""
    source = Source(store, js, service)
    for n in range(20):
        await source.emit(f"order-{n}", "Placed")
    await source.publish()
    events = await stream_messages(js, service)
    name = f"handover_{unique}"
    async with engine.begin() as conn:
        await conn.execute(insert(projections.positions).values(
            consumer=name, source=service, position=0, live_from=None))
    applied: list[int] = []
    seen: set[str] = set()

    async def rebuilt(first: int, last: int) -> None:
        async with engine.begin() as conn:
            fresh = await track_replayed(conn, name, service, events[first - 1:last], seen)
        applied.extend(e.stream_sequence for e in fresh)

    async def live(first: int, last: int) -> None:
        async with engine.begin() as conn:
            fresh = await track_live(conn, name, events[first - 1:last])
        applied.extend(e.stream_sequence for e in fresh)

    await rebuilt(1, 5)  # position 5, nothing tracked per event
    await live(3, 12)  # 3..5 covered; 6..12 applied live, from 6 on tracked by id
    await rebuilt(6, 15)  # 13..15 only
    await live(1, 20)  # redeliveries skipped; 16..20 new
    await rebuilt(16, 20)  # all applied live already
    await live(1, 20)
    assert sorted(applied) == list(range(1, 21))
    async with engine.connect() as conn:
        row = (await conn.execute(select(projections.positions).where(
            projections.positions.c.consumer == name))).one()
    assert (row.position, row.live_from) == (20, 6)
    async with engine.begin() as conn:
        await conn.execute(sql_delete(projections.positions)
                           .where(projections.positions.c.consumer == name))


async def test_a_rebuild_beside_the_running_live_projection_equals_the_truth(
        engine: AsyncEngine, store: EventStore, js: JetStreamContext, service: str,
        unique: str, monkeypatch: pytest.MonkeyPatch) -> None:
    source = Source(store, js, service)
    projection = EventsPerStream(f"beside_{unique}", {service: ["Placed", "Paid"]})
    runner = ProjectionRunner(js, engine, projection, batch=5)
    monkeypatch.setattr(projections, "FETCH", 7)  # many rebuild batches to interleave with

    async def truth() -> list[tuple]:
        return expected_rows(await store.read_all(limit=100_000), {"Placed", "Paid"})

    for n in range(60):
        await source.emit(f"order-{n % 11}", "Placed", "Paid")
    await source.publish()
    stop = asyncio.Event()
    live = asyncio.create_task(runner.run(stop))
    try:
        expected = await truth()
        await wait_until(lambda: _view_is(projection, engine, expected), what="the live view")

        async def more() -> None:  # events arriving while the rebuild replays
            for n in range(30):
                await source.emit(f"order-late-{n % 4}", "Placed")
                await source.publish()
                await asyncio.sleep(0.01)

        applied, _ = await asyncio.gather(runner.rebuild(), more())
        assert 60 * 2 <= applied <= 60 * 2 + 30
        expected = await truth()
        await wait_until(lambda: _view_is(projection, engine, expected),
                         what="the rebuilt view beside the live one")
        await asyncio.sleep(0.3)  # nothing applied twice later either
        assert await projection.rows(engine) == expected
    finally:
        stop.set()
        await asyncio.wait_for(live, 10)
    assert await runner.rebuild() == 60 * 2 + 30
    assert await projection.rows(engine) == expected


class HighestVersion:
    """Per stream, the highest version seen: a join (max), so an event applied again, or
    after a later one, leaves the view as it was."""

    idempotent = True

    def __init__(self, name: str, sources: dict[str, Sequence[str]]) -> None:
        self.name, self.sources, self.view = name, sources, MetaData()
        self.table = Table(f"view_{name}", self.view,
                           Column("stream_id", String(200), primary_key=True),
                           Column("version", Integer, nullable=False))
        self.applied = 0

    async def apply(self, event: bus.Envelope, conn: AsyncConnection) -> None:
        self.applied += 1
        t = self.table
        if (await conn.execute(update(t).where(t.c.stream_id == event.stream_id).values(
                version=case((t.c.version > event.stream_version, t.c.version),
                             else_=event.stream_version)))).rowcount == 0:
            await conn.execute(insert(t).values(stream_id=event.stream_id,
                                                version=event.stream_version))


async def test_an_idempotent_projection_applies_what_comes_and_records_nothing(
        store: EventStore, engine: AsyncEngine, js: JetStreamContext, service: str,
        unique: str) -> None:
    """Its live batches are applied whole, redeliveries too, and no processed_events
    row is written for it; the view still comes out as the events say."""
    source = Source(store, js, service)
    projection = HighestVersion(f"highest_{unique}", {service: ["Placed"]})
    runner = ProjectionRunner(js, engine, projection)
    for n in range(12):
        await source.emit(f"order-{n % 3}", "Placed")
    await source.publish()
    await runner.create_view()
    await redeliver_everything(runner, js)
    await redeliver_everything(runner, js)  # as after a lost ack: applied again
    async with engine.connect() as conn:
        view = sorted(tuple(r) for r in await conn.execute(select(projection.table)))
        recorded = (await conn.execute(select(processed_events).where(
            processed_events.c.consumer == projection.name))).all()
    assert view == [("order-0", 4), ("order-1", 4), ("order-2", 4)]
    assert projection.applied == 24 and recorded == []


class TracedBatches:
    """A batch projection that notes the trace each call runs under."""

    name, sources, view = "traced", {"svc": ["E"]}, MetaData()

    def __init__(self) -> None:
        self.traces: list[tuple[str, str]] = []

    async def apply(self, event: bus.Envelope, conn: AsyncConnection) -> None:
        self.traces.append((context.current().correlation_id, context.current().causation_id))

    async def apply_batch(self, events: Sequence[bus.Envelope], conn: AsyncConnection) -> None:
        await self.apply(events[-1], conn)


def traced(k: int) -> bus.Envelope:
    return bus.Envelope("svc", f"e{k}", "E", "s", k, b"", f"c{k}", "", datetime.now(UTC), k)


async def test_a_folded_batch_runs_under_the_trace_of_its_last_event() -> None:
    """As if each event had been applied in turn: its correlation, caused by it."""
    folding = TracedBatches()
    await projections.apply_fresh(None, folding, [traced(k) for k in (1, 2, 3)])  # type: ignore[arg-type]
    one_by_one = TracedBatches()
    one_by_one.apply_batch = None  # type: ignore[assignment,method-assign]
    await projections.apply_fresh(None, one_by_one, [traced(k) for k in (1, 2, 3)])  # type: ignore[arg-type]
    assert folding.traces == [("c3", "e3")]
    assert one_by_one.traces == [("c1", "e1"), ("c2", "e2"), ("c3", "e3")]
    await projections.apply_fresh(None, folding, [])  # type: ignore[arg-type]
    assert folding.traces == [("c3", "e3")]
