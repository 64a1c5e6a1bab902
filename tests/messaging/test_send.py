"""Integration: SendMessage through the real service (SQLite and PostgreSQL, real NATS)
against stand-in billing and device servers."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import grpc
import pytest

from kernel.errors import from_rpc_error
from launcher.natsserver import free_port
from services.messaging.adapters.codec import messaging_codec
from services.messaging.domain.events import MessageQueued
from switchboard.messaging.v1 import messaging_pb2 as pb
from tests.messaging.conftest import NUMBER, Messaging, Neighbours, StartMessaging


async def test_send_charges_one_credit_and_queues(user: int, messaging: Messaging,
                                                  neighbours: Neighbours) -> None:
    neighbours.billing.balances[user] = 5
    reply = await messaging.send(user, "+" + NUMBER, "Hello from WhatsApp API!")
    assert re.fullmatch(r"msg_[0-9a-f]{24}", reply.queue_id)
    assert (reply.remaining_credits, reply.queue_position, reply.available_devices,
            reply.total_devices, reply.queue_type) == (4, 5, 2, 3, "docker")
    assert neighbours.billing.reservations == {reply.queue_id: user}
    [stored] = await messaging.host.infra.store.read_stream(f"message-{reply.queue_id}")
    event = messaging_codec().decode(stored)
    assert isinstance(event, MessageQueued)
    assert (event.user_id, event.number, event.body, event.channel) == (
        user, NUMBER, "Hello from WhatsApp API!", "pool")
    # Read-your-write: the view has the message as soon as SendMessage answers.
    status = await messaging.status(user, reply.queue_id)
    assert (status.status, status.number, status.message) == (
        pb.STATUS_QUEUED, NUMBER, "Hello from WhatsApp API!")
    assert (status.is_complete, status.is_error) == (False, False)
    assert status.created_at.ToDatetime() == event.queued_at.replace(tzinfo=None)


@pytest.mark.parametrize("number, message, mentioned", [
    ("0821234567", "hi", "0821234567"),
    ("not-a-number", "hi", "not-a-number"),
    (NUMBER, "x" * 4097, "4097"),
    (NUMBER, "", "required"),
])
async def test_bad_input_is_invalid_request_and_charges_nothing(
        user: int, messaging: Messaging, neighbours: Neighbours, number: str, message: str,
        mentioned: str) -> None:
    neighbours.billing.balances[user] = 5
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await messaging.send(user, number, message)
    error = from_rpc_error(caught.value)
    assert (error.status, error.reason) == (grpc.StatusCode.INVALID_ARGUMENT,
                                            "INVALID_REQUEST")
    assert mentioned in error.message
    assert neighbours.billing.balances[user] == 5 and not neighbours.billing.reservations
    assert await messaging.host.infra.store.read_all() == []


async def test_4096_characters_are_accepted(user: int, messaging: Messaging,
                                            neighbours: Neighbours) -> None:
    neighbours.billing.balances[user] = 1
    reply = await messaging.send(user, NUMBER, "y" * 4096)
    status = await messaging.wait_status(user, reply.queue_id, pb.STATUS_QUEUED)
    assert status.message == "y" * 4096


async def test_insufficient_credits_pass_through(user: int, messaging: Messaging,
                                                 neighbours: Neighbours) -> None:
    neighbours.billing.balances[user] = 0
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await messaging.send(user)
    error = from_rpc_error(caught.value)
    assert (error.status, error.reason) == (grpc.StatusCode.FAILED_PRECONDITION,
                                            "INSUFFICIENT_CREDITS")
    assert error.message == "Not enough credits to send message. Required: 1, Available: 0"
    assert error.metadata == {"required": "1", "available": "0"}
    assert await messaging.host.infra.store.read_all() == []


async def test_unknown_template_is_not_found(user: int, messaging: Messaging,
                                             neighbours: Neighbours) -> None:
    neighbours.billing.balances[user] = 1
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await messaging.stub.SendMessage(pb.SendMessageRequest(
            user_id=user, number=NUMBER, template_id=123, variables={"name": "John"}))
    assert from_rpc_error(caught.value).reason == "NOT_FOUND"
    assert neighbours.billing.balances[user] == 1


@pytest.mark.parametrize("down", ["billing", "device"])
async def test_unreachable_neighbour_is_service_unavailable(
        user: int, start_messaging: StartMessaging, neighbours: Neighbours, down: str) -> None:
    neighbours.billing.balances[user] = 3
    service = await start_messaging()
    settings = service.settings.model_copy(update={f"{down}_addr": f"127.0.0.1:{free_port()}"})
    await service.close()
    service = await start_messaging(settings)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await service.send(user)
    error = from_rpc_error(caught.value)
    assert (error.status, error.reason) == (grpc.StatusCode.UNAVAILABLE,
                                            "SERVICE_UNAVAILABLE")
    assert down in error.message
    assert neighbours.billing.balances[user] == 3 and not neighbours.billing.reservations
    assert await service.host.infra.store.read_all() == []


async def test_a_failed_queue_releases_the_reservation(
        user: int, start_messaging: StartMessaging, neighbours: Neighbours, unique: str) -> None:
    taken = f"msg_{unique}{'0' * 14}"
    service = await start_messaging(new_id=lambda: taken)
    # Another writer got to the message's stream first: the append must fail.
    occupant = MessageQueued(taken, 999, NUMBER, "first", "pool", "", datetime.now(UTC))
    await service.host.infra.store.append(f"message-{taken}", 0,
                                          [messaging_codec().encode(occupant)])
    neighbours.billing.balances[user] = 2
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await service.send(user)
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    [release] = neighbours.billing.releases
    assert (release.user_id, release.message_ids) == (user, [taken])
    assert release.reason
    assert neighbours.billing.balances[user] == 2 and not neighbours.billing.reservations
