"""Integration: the history view fed by real streams (SB_MESSAGING from the service's
relay, SB_DEVICE from a device outbox), status lookups, history pages, tenancy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest

from kernel.errors import from_rpc_error
from switchboard.messaging.v1 import messaging_pb2 as pb
from tests.messaging.conftest import NUMBER, DeviceEvents, Messaging, StartMessaging

T0 = datetime(2025, 6, 3, 10, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def credits(neighbours, user: int) -> None:
    neighbours.billing.balances.update({user: 100, user + 1: 100})


async def test_status_follows_device_events_to_read(user: int, messaging: Messaging,
                                                    device_events: DeviceEvents) -> None:
    qid = (await messaging.send(user)).queue_id
    await messaging.wait_status(user, qid, pb.STATUS_QUEUED)
    await device_events.emit("MessageDispatched", message_id=qid, device_id="d1",
                             transport_message_id="t1", user_id=user)
    sending = await messaging.wait_status(user, qid, pb.STATUS_SENDING)
    assert not sending.is_complete
    await device_events.emit("MessageSent", message_id=qid, device_id="d1",
                             transport_message_id="t1", sent_at=T0, user_id=user)
    sent = await messaging.wait_status(user, qid, pb.STATUS_SENT)
    assert (sent.is_complete, sent.is_error) == (True, False)
    assert sent.updated_at.ToDatetime(tzinfo=UTC) == T0
    await device_events.emit("MessageRead", message_id=qid, transport_message_id="t1",
                             read_at=T0 + timedelta(seconds=9), user_id=user)
    read = await messaging.wait_status(user, qid, pb.STATUS_READ)
    assert read.updated_at.ToDatetime(tzinfo=UTC) == T0 + timedelta(seconds=9)
    assert (read.number, read.created_at) == (NUMBER, sent.created_at)


async def test_events_in_any_order_and_twice(user: int, start_messaging: StartMessaging,
                                             device_events: DeviceEvents,
                                             unique: str) -> None:
    qid = f"msg_{unique}{'a' * 14}"
    messaging = await start_messaging(new_id=lambda: qid)
    await device_events.emit("MessageDelivered", message_id=qid, transport_message_id="t",
                             delivered_at=T0, user_id=user)
    early = await messaging.wait_status(user, qid, pb.STATUS_DELIVERED)
    assert early.number == "" and not early.HasField("created_at")
    assert (await messaging.send(user)).queue_id == qid
    await device_events.emit("MessageSent", message_id=qid, device_id="d",
                             transport_message_id="t", sent_at=T0, user_id=user)
    await device_events.emit("MessageDelivered", message_id=qid, transport_message_id="t",
                             delivered_at=T0, user_id=user)
    await messaging.settle()
    late = await messaging.status(user, qid)
    assert (late.status, late.number, late.updated_at) == (
        pb.STATUS_DELIVERED, NUMBER, early.updated_at)
    assert late.HasField("created_at")


async def test_failed_is_terminal_with_its_reason(user: int, messaging: Messaging,
                                                  device_events: DeviceEvents) -> None:
    qid = (await messaging.send(user)).queue_id
    await device_events.emit("MessageFailed", message_id=qid, reason="No device available",
                             user_id=user)
    failed = await messaging.wait_status(user, qid, pb.STATUS_FAILED)
    assert (failed.is_complete, failed.is_error, failed.error_message) == (
        True, True, "No device available")
    await device_events.emit("MessageSent", message_id=qid, device_id="d",
                             transport_message_id="t", sent_at=T0, user_id=user)
    await messaging.settle()
    assert (await messaging.status(user, qid)).status == pb.STATUS_FAILED


async def test_another_users_message_is_not_found(user: int, messaging: Messaging) -> None:
    qid = (await messaging.send(user)).queue_id
    await messaging.wait_status(user, qid, pb.STATUS_QUEUED)
    for asker, queue_id in [(user + 1, qid), (user, "msg_000000000000000000000000")]:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await messaging.status(asker, queue_id)
        error = from_rpc_error(caught.value)
        assert (error.status, error.reason) == (grpc.StatusCode.NOT_FOUND, "NOT_FOUND")
    others = await messaging.stub.ListMessages(pb.ListMessagesRequest(user_id=user + 1))
    assert (others.total, list(others.messages)) == (0, [])


async def test_history_pages_newest_first_with_filters(user: int, messaging: Messaging,
                                                       device_events: DeviceEvents) -> None:
    numbers = [NUMBER, "27829876543", "27823456789"]
    qids = [(await messaging.send(user, n, f"m{i}")).queue_id for i, n in enumerate(numbers)]
    for qid in qids:
        await messaging.wait_status(user, qid, pb.STATUS_QUEUED)

    async def listing(**query) -> pb.ListMessagesResponse:
        return await messaging.stub.ListMessages(pb.ListMessagesRequest(user_id=user, **query))

    first = await listing(page=1, per_page=2)
    assert [m.queue_id for m in first.messages] == [qids[2], qids[1]]
    assert (first.page, first.per_page, first.total, first.pages) == (1, 2, 3, 2)
    second = await listing(page=2, per_page=2)
    assert [m.queue_id for m in second.messages] == [qids[0]]
    assert (await listing(per_page=1000)).per_page == 100
    defaults = await listing()
    assert (defaults.page, defaults.per_page, len(defaults.messages)) == (1, 10, 3)
    by_number = await listing(number="+27829876543")
    assert [(m.queue_id, m.message) for m in by_number.messages] == [(qids[1], "m1")]
    await device_events.emit("MessageSent", message_id=qids[0], device_id="d",
                             transport_message_id="t", sent_at=T0, user_id=user)
    await messaging.wait_status(user, qids[0], pb.STATUS_SENT)
    sent = await listing(status=pb.STATUS_SENT)
    assert ([m.queue_id for m in sent.messages], sent.total) == ([qids[0]], 1)
