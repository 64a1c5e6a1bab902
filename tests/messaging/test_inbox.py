"""The inbox in the real messaging service (real NATS, both stores), fed by real device
MessageReceived events: the inbox view and its rpcs, the owner's check, the
message.received webhook and WatchMessages, and a rebuild equal to the live view."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import select

from kernel.config import Settings
from kernel.db import engine_for
from kernel.eventstore import NewEvent
from services.messaging.adapters.inbox_view import inbox_messages
from services.messaging.rebuild import rebuild_inbox
from switchboard.device.v1 import events_pb2 as device_pb
from switchboard.messaging.v1 import messaging_pb2 as pb
from tests.gateway.webhook_receiver import receiver
from tests.messaging.conftest import DeviceEvents, Messaging, StartMessaging, eventually
from tests.messaging.test_webhook_delivery import FAST

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
PHONE = "27821234567"


async def receive(device: DeviceEvents, user: int, inbound_id: str, tmid: str,
                  at: datetime = T0, **fields: object) -> None:
    """A MessageReceived as the device service records and publishes it."""
    stamp = Timestamp()
    stamp.FromDatetime(at)
    event = device_pb.MessageReceived(**{
        "inbound_id": inbound_id, "device_id": "dev-1", "transport_message_id": tmid,
        "from_phone": PHONE, "to_phone": "15550000001", "chat_id": PHONE, "type": "text",
        "user_id": user, "received_at": stamp, "sent_at": stamp, **fields})
    await device.store.append(f"inbound-dev-1-{tmid}", 0,
                              [NewEvent("MessageReceived", event.SerializeToString())])
    await device.relay.publish_pending()


async def inbox(messaging: Messaging, user: int, **query: object) -> pb.ListInboxResponse:
    return await messaging.stub.ListInbox(pb.ListInboxRequest(user_id=user, **query))


async def listed(messaging: Messaging, user: int, count: int) -> pb.ListInboxResponse:
    async def enough() -> pb.ListInboxResponse | None:
        found = await inbox(messaging, user, per_page=100)
        return found if found.total >= count else None

    return await eventually(enough)


async def test_received_messages_are_the_owners_newest_first(
        user: int, messaging: Messaging, device_events: DeviceEvents) -> None:
    media = device_pb.MediaRef(sha256="ab" * 32, mime_type="image/png", size_bytes=12,
                               filename="pic.png")
    await receive(device_events, user, f"in_a{user}", f"a{user}", text="first",
                  from_name="Ann")
    await receive(device_events, user, f"in_b{user}", f"b{user}", T0 + timedelta(minutes=1),
                  text="look", type="image", media=media,
                  quoted_transport_message_id="sb-msg_123")
    await receive(device_events, user + 1, f"in_c{user}", f"c{user}", text="not yours")
    found = await listed(messaging, user, 2)
    assert [m.message_id for m in found.messages] == [f"in_b{user}", f"in_a{user}"]
    newest = found.messages[0]
    assert (newest.type, newest.text, newest.media_sha256, newest.media_filename) == (
        "image", "look", "ab" * 32, "pic.png")
    assert newest.quoted_message_id == "msg_123"
    assert (found.total, found.pages) == (2, 1)
    later = await inbox(messaging, user, since=newest.received_at)
    assert [m.message_id for m in later.messages] == [f"in_b{user}"]
    assert (await inbox(messaging, user, number="+27820000000")).total == 0
    assert (await inbox(messaging, user, device_id="other-device")).total == 0
    got = await messaging.stub.GetInboundMessage(pb.GetInboundMessageRequest(
        user_id=user, message_id=f"in_a{user}"))
    assert (got.text, got.from_name, newest.from_name) == ("first", "Ann", "")
    for stranger in (pb.GetInboundMessageRequest(user_id=user, message_id=f"in_c{user}"),
                     pb.GetInboundMessageRequest(user_id=user, message_id=f"in_a{user}",
                                                 device_id="other-device")):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await messaging.stub.GetInboundMessage(stranger)
        assert refused.value.code() == grpc.StatusCode.NOT_FOUND


async def test_a_received_message_is_posted_to_the_owners_webhook_and_watch_once(
        user: int, settings: Settings, start_messaging: StartMessaging,
        device_events: DeviceEvents) -> None:
    messaging = await start_messaging(settings.model_copy(update=FAST))
    watch = messaging.stub.WatchMessages(pb.WatchMessagesRequest(user_id=user))
    await watch.initial_metadata()
    with receiver("k") as hook:
        await messaging.stub.CreateWebhook(pb.CreateWebhookRequest(
            user_id=user, url=hook.url, secret="k"))
        await receive(device_events, user, f"in_w{user}", f"w{user}", text="hi there")

        async def posted() -> list | None:
            return hook.accepted() or None

        await eventually(posted)
        await asyncio.sleep(0.5)  # room for a second delivery, were there one
        [body] = hook.accepted()
        [(_, headers, _, signed)] = hook.calls
    assert body["event"] == "message.received" and body["message_id"] == f"in_w{user}"
    assert (body["from"], body["to"], body["message"], body["type"]) == (
        PHONE, "15550000001", "hi there", "text")
    assert headers["x-switchboard-event"] == "message.received" and signed
    [event] = (await asyncio.wait_for(watch.read(), 10)).events
    assert event.received.message_id == f"in_w{user}"
    assert json.loads(event.received_json) == body
    watch.cancel()


async def snapshot(settings: Settings) -> list[tuple]:
    engine = await engine_for("messaging", settings)
    async with engine.connect() as conn:
        rows = (await conn.execute(
            select(inbox_messages).order_by(inbox_messages.c.message_id))).all()
    await engine.dispose()
    return [tuple(r) for r in rows]


async def test_rebuild_equals_the_live_inbox(user: int, messaging: Messaging,
                                             device_events: DeviceEvents,
                                             settings: Settings) -> None:
    for i in range(3):
        await receive(device_events, user, f"in_{i}{user}", f"r{i}{user}",
                      T0 + timedelta(seconds=i), text=f"message {i}")
    await listed(messaging, user, 3)
    live = await snapshot(settings)
    await messaging.close()
    applied = await rebuild_inbox(settings, name=messaging.history_name.replace(
        "history", "inbox", 1))
    assert applied >= 3
    assert await snapshot(settings) == live
