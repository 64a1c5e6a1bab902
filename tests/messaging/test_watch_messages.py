"""MessagingService.WatchMessages over real gRPC (real NATS, both stores): a user's status
changes arrive live, only that user's, and only with a service token."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import grpc
import pytest

from switchboard.messaging.v1 import messaging_pb2 as pb
from switchboard.messaging.v1 import messaging_pb2_grpc
from tests.messaging.conftest import NUMBER, DeviceEvents, Messaging, Neighbours

LIFECYCLE = [pb.STATUS_QUEUED, pb.STATUS_SENDING, pb.STATUS_SENT, pb.STATUS_DELIVERED,
             pb.STATUS_READ]


async def test_a_users_status_changes_stream_live(
        user: int, messaging: Messaging, neighbours: Neighbours,
        device_events: DeviceEvents) -> None:
    neighbours.billing.balances[user] = 5
    # The kernel's channel attaches the service token to streaming calls too.
    mine = messaging.stub.WatchMessages(pb.WatchMessagesRequest(user_id=user))
    other = messaging.stub.WatchMessages(pb.WatchMessagesRequest(user_id=user + 1))
    await mine.initial_metadata()
    await other.initial_metadata()
    qid = (await messaging.send(user)).queue_id
    now = datetime.now(UTC)
    await device_events.emit("MessageDispatched", message_id=qid, device_id="d",
                             user_id=user)
    await device_events.emit("MessageSent", message_id=qid, device_id="d",
                             transport_message_id="t", user_id=user, sent_at=now)
    await device_events.emit("MessageDelivered", message_id=qid, transport_message_id="t",
                             user_id=user, delivered_at=now)
    await device_events.emit("MessageRead", message_id=qid, transport_message_id="t",
                             user_id=user, read_at=now)
    got = [await asyncio.wait_for(mine.read(), 10) for _ in LIFECYCLE]
    assert sorted(e.status for e in got) == LIFECYCLE
    assert {e.queue_id for e in got} == {qid} and all(e.number == NUMBER for e in got)
    assert len({e.event_id for e in got}) == 5
    read = next(e for e in got if e.status == pb.STATUS_READ)
    assert abs(read.timestamp.ToDatetime(tzinfo=UTC) - now).total_seconds() < 0.001
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(other.read(), 0.5)
    mine.cancel()
    other.cancel()


async def test_the_stream_needs_a_service_token(messaging: Messaging) -> None:
    port = messaging.host.port
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as bare:
        call = messaging_pb2_grpc.MessagingServiceStub(bare).WatchMessages(
            pb.WatchMessagesRequest(user_id=1))
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call.read()
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
