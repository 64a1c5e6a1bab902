"""SendInstanceMessage against the real messaging service (both stores, real NATS) and
stand-in billing/device servers: the device check comes before any quota is reserved,
a queue that fails gives the reserved quota back, and the answer waits for the device's
MessageSent or MessageFailed (relayed to the real SB_DEVICE stream) up to its wait."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest

from kernel.errors import from_rpc_error
from services.messaging.adapters.codec import messaging_codec
from services.messaging.domain.events import MessageQueued
from switchboard.messaging.v1 import messaging_pb2 as pb
from tests.messaging.conftest import (
    NUMBER,
    DeviceEvents,
    Messaging,
    Neighbours,
    StartMessaging,
    eventually,
)


def request(instance: str, user: int) -> pb.SendInstanceMessageRequest:
    return pb.SendInstanceMessageRequest(instance_id=instance, user_id=user, number=NUMBER,
                                         message="hello")


async def test_a_connected_instance_queues_on_its_channel_and_says_queued_past_the_wait(
        user: int, start_messaging: StartMessaging, settings: Any, neighbours: Neighbours,
        unique: str) -> None:
    messaging = await start_messaging(
        settings.model_copy(update={"instance_send_wait_seconds": 0.2}))
    instance = f"inst_{unique}"
    neighbours.device.connected.add(instance)
    neighbours.billing.quotas[instance] = 3
    sent = await messaging.stub.SendInstanceMessage(request(instance, user))
    assert (sent.status, sent.number, sent.quota_remaining, sent.quota_used) == (
        pb.STATUS_QUEUED, NUMBER, 2, 1)
    assert not sent.HasField("sent_at") and sent.error_message == ""
    stored = await messaging.host.infra.store.read_stream(f"message-{sent.message_id}")
    [event] = [messaging_codec().decode(e) for e in stored]
    assert (event.channel, event.instance_id, event.user_id) == ("instance", instance, user)


async def test_not_connected_reserves_nothing(
        user: int, messaging: Messaging, neighbours: Neighbours, unique: str) -> None:
    instance = f"inst_{unique}"
    neighbours.billing.quotas[instance] = 3
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await messaging.stub.SendInstanceMessage(request(instance, user))
    error = from_rpc_error(caught.value)
    assert error.reason == "INSTANCE_NOT_CONNECTED"
    assert neighbours.billing.quotas[instance] == 3 and not neighbours.billing.quota_reservations


async def test_a_failed_queue_releases_the_quota(
        user: int, start_messaging: StartMessaging, neighbours: Neighbours,
        unique: str) -> None:
    taken = f"msg_{unique}{'0' * 14}"
    instance = f"inst_{unique}"
    service = await start_messaging(new_id=lambda: taken)
    occupant = MessageQueued(taken, 999, NUMBER, "first", "pool", "", datetime.now(UTC))
    await service.host.infra.store.append(f"message-{taken}", 0,
                                          [messaging_codec().encode(occupant)])
    neighbours.device.connected.add(instance)
    neighbours.billing.quotas[instance] = 2
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await service.stub.SendInstanceMessage(request(instance, user))
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert neighbours.billing.quota_releases == [(instance, [taken])]
    assert neighbours.billing.quotas[instance] == 2
    assert not neighbours.billing.quota_reservations


async def queued(messaging: Messaging, message_id: str) -> bool:
    return bool(await messaging.host.infra.store.read_stream(f"message-{message_id}"))


async def test_the_answer_waits_for_each_message_to_be_handed_over(
        user: int, start_messaging: StartMessaging, neighbours: Neighbours,
        device_events: DeviceEvents, unique: str) -> None:
    """Concurrent sends, each answered with its own message's outcome, in any order."""
    ids = [f"msg_{unique}{n:014d}" for n in range(6)]
    minted = iter(ids)
    messaging = await start_messaging(new_id=lambda: next(minted))
    instance = f"inst_{unique}"
    neighbours.device.connected.add(instance)
    neighbours.billing.quotas[instance] = 10
    sends = [asyncio.ensure_future(messaging.stub.SendInstanceMessage(request(instance, user)))
             for _ in ids]
    for message_id in ids:
        await eventually(lambda m=message_id: queued(messaging, m))
    base = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    for n, message_id in reversed(list(enumerate(ids))):
        if n == 0:
            await device_events.emit("MessageFailed", message_id=message_id, user_id=user,
                                     reason="number not on WhatsApp")
        else:
            await device_events.emit("MessageSent", message_id=message_id, device_id=instance,
                                     sent_at=base + timedelta(seconds=n), user_id=user)
    answers = {a.message_id: a for a in await asyncio.gather(*sends)}
    assert set(answers) == set(ids)
    failed = answers[ids[0]]
    assert (failed.status, failed.error_message, failed.HasField("sent_at")) == (
        pb.STATUS_FAILED, "number not on WhatsApp", False)
    for n, message_id in enumerate(ids[1:], start=1):
        sent = answers[message_id]
        assert sent.status == pb.STATUS_SENT
        assert sent.sent_at.ToDatetime(tzinfo=UTC) == base + timedelta(seconds=n)
