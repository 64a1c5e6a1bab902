"""SendBulkMessage against the real messaging service (both stores, real NATS) and a
stand-in billing: one reservation for all, all-or-nothing queueing, release on failure."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
import pytest

from kernel.foreground import FOREGROUND
from services.messaging.adapters.codec import messaging_codec
from services.messaging.domain.events import MessageQueued
from switchboard.messaging.v1 import messaging_pb2 as pb
from tests.messaging.conftest import NUMBER, Messaging, Neighbours, StartMessaging

OTHER = "27829876543"


async def test_one_reservation_covers_every_distinct_number(
        user: int, messaging: Messaging, neighbours: Neighbours) -> None:
    neighbours.billing.balances[user] = 5
    sent = await messaging.stub.SendBulkMessage(pb.SendBulkMessageRequest(
        user_id=user, numbers=[NUMBER, OTHER, "+" + NUMBER], message="hi"))
    assert (len(sent.queue_ids), sent.remaining_credits) == (2, 3)
    assert sorted(neighbours.billing.reservations) == sorted(sent.queue_ids)
    numbers = [(await messaging.status(user, q)).number for q in sent.queue_ids]
    assert numbers == [NUMBER, OTHER]


async def test_a_failed_append_queues_none_and_releases_all(
        user: int, start_messaging: StartMessaging, neighbours: Neighbours,
        unique: str) -> None:
    fresh, taken = f"msg_{unique}{'1' * 14}", f"msg_{unique}{'0' * 14}"
    ids = iter([fresh, taken])
    service = await start_messaging(new_id=lambda: next(ids))
    occupant = MessageQueued(taken, 999, NUMBER, "first", "pool", "", datetime.now(UTC))
    await service.host.infra.store.append(f"message-{taken}", 0,
                                          [messaging_codec().encode(occupant)])
    neighbours.billing.balances[user] = 4
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await service.stub.SendBulkMessage(pb.SendBulkMessageRequest(
            user_id=user, numbers=[NUMBER, OTHER], message="hi"))
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    [release] = neighbours.billing.releases
    assert release.message_ids == [fresh, taken]
    assert neighbours.billing.balances[user] == 4 and not neighbours.billing.reservations
    assert await service.host.infra.store.read_stream(f"message-{fresh}") == []


async def test_a_bulk_send_is_foreground_while_it_is_accepted_and_a_single_one_is_not(
        user: int, messaging: Messaging, neighbours: Neighbours) -> None:
    """While a bulk send reserves and queues, the process counts it as a request being
    answered (the lingering consumers wait for it, kernel/foreground.py); once answered,
    or refused, it counts no more. A single send is never counted."""
    neighbours.billing.balances[user] = 3
    await messaging.stub.SendBulkMessage(pb.SendBulkMessageRequest(
        user_id=user, numbers=[NUMBER, OTHER], message="hi"))
    after_the_bulk = FOREGROUND.serving
    await messaging.stub.SendMessage(pb.SendMessageRequest(
        user_id=user, number=NUMBER, message="alone"))
    with pytest.raises(grpc.aio.AioRpcError):  # one credit left for two numbers
        await messaging.stub.SendBulkMessage(pb.SendBulkMessageRequest(
            user_id=user, numbers=[NUMBER, OTHER], message="again"))
    assert neighbours.billing.foreground_at_reserve == [1, 0, 1]
    assert after_the_bulk == 0 and FOREGROUND.serving == 0
