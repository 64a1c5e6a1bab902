"""Integration, on SQLite and PostgreSQL: the webhook fan-out's batches. An event whose
owner has no active webhook is neither written nor recorded (no write transaction at
all); handed again once its owner has one, it gets its delivery row, once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.bus import Envelope
from kernel.db import create_engine
from kernel.tables import processed_events
from services.messaging.adapters.history_projection import DEVICE_EVENTS, FACTS
from services.messaging.adapters.history_view import view_metadata
from services.messaging.adapters.webhook_fanout import fanout_subscriptions, owner
from services.messaging.adapters.webhook_received import received_subscription
from services.messaging.adapters.webhook_tables import (
    webhook_deliveries,
    webhook_metadata,
    webhooks,
)
from switchboard.device.v1 import events_pb2 as device_pb
from switchboard.messaging.v1 import events_pb2 as messaging_pb

NOW = datetime(2026, 12, 4, 6, 0, tzinfo=UTC)


def sent(event_id: str, message_id: str, user_id: int) -> Envelope:
    payload = device_pb.MessageSent(message_id=message_id, device_id="d",
                                    transport_message_id="t", user_id=user_id)
    return Envelope("device", event_id, "MessageSent", f"dispatch-{message_id}", 2,
                    payload.SerializeToString(), "", "", NOW, 1)


def received(event_id: str, user_id: int) -> Envelope:
    payload = device_pb.MessageReceived(inbound_id=f"in-{event_id}", user_id=user_id,
                                        from_phone="27820000001", type="text", text="hi")
    return Envelope("device", event_id, "MessageReceived", f"inbound-{event_id}", 1,
                    payload.SerializeToString(), "", "", NOW, 1)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    made = create_engine(database_url)
    async with made.begin() as conn:
        for metadata in (webhook_metadata, view_metadata, processed_events.metadata):
            await conn.run_sync(metadata.create_all)
    yield made
    await made.dispose()


def count_writes(engine: AsyncEngine) -> list[int]:
    """A one-item list counting the engine's transactions that were not read-only."""
    writes = [0]

    def begun(conn: object) -> None:
        if not conn.get_execution_options().get("readonly"):  # type: ignore[attr-defined]
            writes[0] += 1

    event.listen(engine.sync_engine, "begin", begun)
    return writes


async def recorded(engine: AsyncEngine) -> tuple[list[str], list[tuple[str, str]]]:
    """The event ids recorded as processed, and the (webhook, event) delivery rows."""
    async with engine.connect() as conn:
        done = (await conn.execute(select(processed_events.c.event_id)
                                   .order_by(processed_events.c.event_id))).scalars().all()
        rows = (await conn.execute(
            select(webhook_deliveries.c.webhook_id, webhook_deliveries.c.event_id)
            .order_by(webhook_deliveries.c.event_id))).all()
    return list(done), [tuple(r) for r in rows]


async def register(engine: AsyncEngine, webhook_id: str, user_id: int) -> None:
    async with engine.begin() as conn:
        await conn.execute(webhooks.insert().values(
            webhook_id=webhook_id, user_id=user_id, url="https://example.test/h",
            secret="s", active=True, created_at=NOW))


async def test_a_batch_without_webhooks_writes_nothing_and_is_fanned_out_once_later(
        engine: AsyncEngine) -> None:
    handler = fanout_subscriptions(engine, "t")[1].handler  # the device's statuses
    batch = [sent("e1", "m1", 7), sent("e2", "m2", 8)]
    writes = count_writes(engine)
    await handler(batch)  # type: ignore[operator]
    assert writes[0] == 0
    assert await recorded(engine) == ([], [])

    await register(engine, "whk_7", 7)
    writes[0] = 0
    await handler(batch)  # type: ignore[operator]  # handed again (a redelivery)
    assert writes[0] == 1
    assert await recorded(engine) == (["e1"], [("whk_7", "e1")])
    await handler(batch)  # type: ignore[operator]
    assert await recorded(engine) == (["e1"], [("whk_7", "e1")])
    async with engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(
            webhook_deliveries))).scalar_one() == 1


async def test_received_messages_without_webhooks_write_nothing(engine: AsyncEngine) -> None:
    handler = received_subscription(engine, "t").handler
    writes = count_writes(engine)
    await handler([received("r1", 7), received("r2", 0)])  # type: ignore[operator]
    assert writes[0] == 0
    await register(engine, "whk_7", 7)
    await handler([received("r1", 7), received("r2", 0)])  # type: ignore[operator]
    assert await recorded(engine) == (["r1"], [("whk_7", "r1")])


def test_an_events_owner_is_its_facts_user() -> None:
    """`owner` reads the user off the payload alone: the same user as the event's fact,
    for MessageQueued and each device event the fan-out reads."""
    queued = messaging_pb.MessageQueued(message_id="msg_1", user_id=7, number="27821234567",
                                        body="hi")
    events = [Envelope("messaging", "e0", "MessageQueued", "message-msg_1", 1,
                       queued.SerializeToString(), "", "", NOW, 1)]
    for n, (event_type, (pb_class, _, _)) in enumerate(DEVICE_EVENTS.items(), start=1):
        payload = pb_class(message_id="msg_1", user_id=7 + n).SerializeToString()
        events.append(Envelope("device", f"e{n}", event_type, "dispatch-msg_1", 1, payload,
                               "", "", NOW, 1))
    assert [owner(e) for e in events] == [FACTS[e.service](e).user_id for e in events]
    assert [owner(e) for e in events] == list(range(7, 7 + len(events)))
