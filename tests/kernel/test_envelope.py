"""The bus envelope: what a consumer receives is what the store recorded, carried in two
headers, through the real relay and a real JetStream stream."""

from __future__ import annotations

import dataclasses

from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from kernel import bus, context
from kernel.eventstore import EventStore, NewEvent
from kernel.relay import OutboxRelay
from tests.kernel.conftest import stream_messages


async def test_a_published_event_arrives_with_every_field_the_store_recorded(
        store: EventStore, js: JetStreamContext, service: str, unique: str) -> None:
    context.begin(f"corr-{unique}", causation_id=f"cause-{unique}")
    await store.append(f"order {unique} with spaces", 0,
                       [NewEvent("Placed", b"\x00\x01 \r\n"), NewEvent("Paid", b"")])
    context.begin(f"other-{unique}")  # no causation: an empty field in the header
    await store.append(f"order-{unique}", 0, [NewEvent("Placed", b"second")])
    assert await OutboxRelay(store, js, service).publish_pending() == 3

    recorded = await store.read_all()
    received = await stream_messages(js, service)
    assert [(r.service, r.event_id, r.event_type, r.stream_id, r.stream_version, r.payload,
             r.correlation_id, r.causation_id, r.recorded_at) for r in received] == [
        (service, e.event_id, e.event_type, e.stream_id, e.stream_version, e.payload,
         e.meta["correlation_id"], e.meta["causation_id"], e.recorded_at) for e in recorded]
    assert [r.stream_sequence for r in received] == [1, 2, 3]
    assert received[2].causation_id == "" and received[0].causation_id == f"cause-{unique}"


async def test_an_event_carries_two_headers_and_its_type_in_the_subject(
        store: EventStore, js: JetStreamContext, service: str, unique: str) -> None:
    await store.append(f"order-{unique}", 0, [NewEvent("Placed", b"x")])
    await OutboxRelay(store, js, service).publish_pending()
    [event] = await store.read_all()
    raw = await js.get_msg(bus.stream_name(service), 1)
    assert raw.subject == bus.subject(service, "Placed")
    assert set(raw.headers or {}) == {"Nats-Msg-Id", "Sb-Event"}
    assert (raw.headers or {})["Nats-Msg-Id"] == event.event_id


async def test_a_core_nats_subscriber_decodes_the_same_envelope(
        store: EventStore, nc: NATS, js: JetStreamContext, service: str, unique: str) -> None:
    """Live watchers (the message stream) read the subject without JetStream, dropping the
    publisher's reply inbox as services/messaging/ports/watch_stream.py does: no sequence."""
    sub = await nc.subscribe(bus.subject(service))
    await nc.flush()
    await store.append(f"order-{unique}", 0, [NewEvent("Placed", b"live")])
    await OutboxRelay(store, js, service).publish_pending()
    envelope = bus.Envelope.from_msg(dataclasses.replace(await sub.next_msg(10), reply=""))
    [event] = await store.read_all()
    assert (envelope.event_id, envelope.event_type, envelope.stream_id, envelope.payload,
            envelope.recorded_at, envelope.stream_sequence) == (
        event.event_id, "Placed", f"order-{unique}", b"live", event.recorded_at, 0)


async def test_an_envelope_counts_its_deliveries(
        store: EventStore, js: JetStreamContext, service: str, unique: str) -> None:
    """The first delivery says 1, a redelivery after a nak 2: the device's dispatch skips
    reading a stream nobody can have claimed yet on the first."""
    await store.append(f"order-{unique}", 0, [NewEvent("Placed", b"x")])
    await OutboxRelay(store, js, service).publish_pending()
    sub = await js.pull_subscribe(bus.subject(service), f"count-{unique}",
                                  stream=bus.stream_name(service))
    try:
        seen = []
        for _ in range(2):
            [msg] = await sub.fetch(1, timeout=10)
            seen.append(bus.Envelope.from_msg(msg).deliveries)
            await msg.nak()
        assert seen == [1, 2]
    finally:
        await sub.unsubscribe()
