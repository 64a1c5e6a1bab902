"""Replaying several source streams side by side (kernel.replay.interleaved), as a
projection's rebuild does, and a replay whose consumer the server deleted while it was
held back."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from nats.js import JetStreamContext
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kernel import bus
from kernel import projection as projections
from kernel import replay as replays
from kernel.eventstore import EventStore, StoredEvent
from kernel.replay import interleaved, replay

T0 = datetime(2026, 1, 1, tzinfo=UTC)


async def publish(js: JetStreamContext, service: str, stream_id: str, at: datetime) -> None:
    event = StoredEvent(0, f"{stream_id}-{service}", stream_id, 1, "Happened", b"", {}, at)
    await js.publish(bus.subject(service, "Happened"), b"",
                     headers=bus.headers_for(service, event))


async def test_the_sources_events_about_one_thing_meet_in_one_batch(
        js: JetStreamContext, service: str) -> None:
    """Thing k happens on `service` at second k, then three times on another service's
    stream (`second`) at second k, as a message is queued, then sent, delivered and read.
    One thing on `second` is recorded out of order, earlier than the one before it."""
    second = f"{service}b"
    await bus.ensure_stream(js, second)
    try:
        for k in range(60):
            await publish(js, service, f"thing-{k}", T0 + timedelta(seconds=k))
        for k in range(60):
            at = T0 + timedelta(seconds=k - 30 if k == 40 else k)
            for step in range(3):
                await publish(js, second, f"thing-{k}-{step}", at)
        sources = {service: ["Happened"], second: ["Happened"]}
        batches = [parts async for parts in interleaved(js, sources, 25)]
        for source, count in ((service, 60), (second, 180)):
            sequences = [e.stream_sequence for parts in batches for e in parts.get(source, [])]
            assert sequences == list(range(1, count + 1))  # each once, in the stream's order
        batch_of = {e.stream_id: n for n, parts in enumerate(batches)
                    for e in parts.get(service, [])}
        apart = {thing for n, parts in enumerate(batches) for e in parts.get(second, [])
                 if batch_of[thing := e.stream_id.rsplit("-", 1)[0]] != n}
        # At most the things that one of the second stream's batches of 25 ends amid (7 of
        # 60 things); replayed one stream after the other, all 60 would be.
        assert len(apart) <= 180 // 25
        assert 240 / 50 <= len(batches) <= 240 / 25 + 2
    finally:
        await js.delete_stream(bus.stream_name(second))


async def test_a_replay_goes_on_when_its_consumer_is_deleted(
        js: JetStreamContext, service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """As the server deletes a consumer left without a request past its inactive
    threshold: the next consumer starts after the last message that came. A request sent
    as it went is never answered, and is given up after the wait of one (shortened)."""
    monkeypatch.setattr(replays, "WAIT", 0.5)
    for k in range(30):
        await publish(js, service, f"thing-{k}", T0)
    stream = bus.stream_name(service)
    seen: list[int] = []
    async for batch in replay(js, service, [bus.subject(service, "Happened")], 7):
        seen.extend(e.stream_sequence for e in batch)
        if len(seen) in (7, 21):
            for consumer in await js.consumers_info(stream):
                await js.delete_consumer(stream, consumer.name)
    assert seen == list(range(1, 31))


class Batches:
    """A batch projection that keeps the stream ids of each batch it is given."""

    def __init__(self, name: str, sources: dict[str, Sequence[str]]) -> None:
        self.name, self.sources, self.view = name, sources, MetaData()
        self.batches: list[set[str]] = []

    async def apply(self, event: bus.Envelope, conn: AsyncConnection) -> None:
        await self.apply_batch([event], conn)

    async def apply_batch(self, events: Sequence[bus.Envelope], conn: AsyncConnection) -> None:
        self.batches.append({e.stream_id for e in events})


async def test_a_rebuild_is_given_a_things_events_on_two_streams_in_one_batch(
        engine: AsyncEngine, store: EventStore, js: JetStreamContext, service: str,
        unique: str, monkeypatch: pytest.MonkeyPatch) -> None:
    second = f"{service}b"
    await bus.ensure_stream(js, second)
    try:
        for k in range(40):
            await publish(js, service, f"thing-{k}", T0 + timedelta(seconds=k))
            await publish(js, second, f"thing-{k}", T0 + timedelta(seconds=k))
        monkeypatch.setattr(projections, "FETCH", 10)
        projection = Batches(f"batches_{unique}", {service: ["Happened"], second: ["Happened"]})
        assert await projections.rebuild(js, engine, projection) == 80
        assert len(projection.batches) == 4  # one stream after the other: 8
        assert sum(len(b) for b in projection.batches) == 40  # each thing in one batch
    finally:
        await js.delete_stream(bus.stream_name(second))
