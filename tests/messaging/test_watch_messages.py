"""MessagingService.WatchMessages over real gRPC (real NATS, both stores): a user's status
changes arrive live, only that user's, and only with a service token."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import grpc
import pytest

from services.messaging.domain.lifecycle import HistoryEntry, Status
from services.messaging.ports.watch_stream import REPLY_BATCH, KnownNumbers, _waiting
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
    got = await read_events(mine, len(LIFECYCLE))
    assert sorted(e.status for e in got) == LIFECYCLE
    assert {e.queue_id for e in got} == {qid} and all(e.number == NUMBER for e in got)
    assert len({e.event_id for e in got}) == 5
    read = next(e for e in got if e.status == pb.STATUS_READ)
    assert abs(read.timestamp.ToDatetime(tzinfo=UTC) - now).total_seconds() < 0.001
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(other.read(), 0.5)
    mine.cancel()
    other.cancel()


async def read_events(call: grpc.aio.UnaryStreamCall, count: int
                      ) -> list[pb.MessageStatusEvent]:
    """The stream's next `count` changes, however they were batched."""
    got: list[pb.MessageStatusEvent] = []
    while len(got) < count:
        got.extend((await asyncio.wait_for(call.read(), 10)).events)
    return got


async def test_a_burst_of_changes_arrives_whole_and_in_order(
        user: int, messaging: Messaging, neighbours: Neighbours,
        device_events: DeviceEvents) -> None:
    neighbours.billing.balances[user] = 20
    watch = messaging.stub.WatchMessages(pb.WatchMessagesRequest(user_id=user))
    await watch.initial_metadata()
    qids = [(await messaging.send(user)).queue_id for _ in range(20)]
    now = datetime.now(UTC)
    for qid in qids:
        await device_events.emit("MessageSent", message_id=qid, device_id="d",
                                 transport_message_id=f"t{qid}", user_id=user, sent_at=now)
    got = await read_events(watch, 40)
    watch.cancel()
    queued = [e.queue_id for e in got if e.status == pb.STATUS_QUEUED]
    sent = [e for e in got if e.status == pb.STATUS_SENT]
    assert queued == qids and sorted(e.queue_id for e in sent) == sorted(qids)
    # a sent event carries no number: the stream gives it the one its queued event had
    assert all(e.number == NUMBER for e in sent)
    assert len({e.event_id for e in got}) == 40


async def test_the_stream_needs_a_service_token(messaging: Messaging) -> None:
    port = messaging.host.port
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as bare:
        call = messaging_pb2_grpc.MessagingServiceStub(bare).WatchMessages(
            pb.WatchMessagesRequest(user_id=1))
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call.read()
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_changes_waiting_behind_the_next_go_in_one_reply() -> None:
    queue: asyncio.Queue = asyncio.Queue()
    for n in range(REPLY_BATCH + 6):
        queue.put_nowait((f"e{n}", n))
    first, second = await _waiting(queue), await _waiting(queue)
    assert first == [(f"e{n}", n) for n in range(REPLY_BATCH)]
    assert second == [(f"e{n}", n) for n in range(REPLY_BATCH, REPLY_BATCH + 6)]
    queue.put_nowait(("e", 0))
    queue.put_nowait(None)  # a stream fallen behind: its end marker comes with the rest
    assert await _waiting(queue) == [("e", 0), None]


def test_a_later_status_gets_the_number_its_message_was_queued_with() -> None:
    numbers = KnownNumbers(size=2)
    at = datetime.now(UTC)
    for n in range(3):
        numbers.fill(HistoryEntry(f"q{n}", Status.QUEUED, at, user_id=1, number=f"+{n}"))
    sent = [numbers.fill(HistoryEntry(f"q{n}", Status.SENT, at, user_id=1)) for n in range(3)]
    # the oldest fell out of the two kept: its status goes without (the history has it)
    assert [fact.number for fact in sent] == [None, "+1", "+2"]
    assert sent[2] == HistoryEntry("q2", Status.SENT, at, user_id=1, number="+2")
