"""SendInstanceMessage against the real messaging service (both stores, real NATS) and
stand-in billing/device servers: the device check comes before any quota is reserved,
and a queue that fails gives the reserved quota back."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
import pytest

from kernel.errors import from_rpc_error
from services.messaging.adapters.codec import messaging_codec
from services.messaging.domain.events import MessageQueued
from switchboard.messaging.v1 import messaging_pb2 as pb
from tests.messaging.conftest import NUMBER, Messaging, Neighbours, StartMessaging


def request(instance: str, user: int) -> pb.SendInstanceMessageRequest:
    return pb.SendInstanceMessageRequest(instance_id=instance, user_id=user, number=NUMBER,
                                         message="hello")


async def test_a_connected_instance_queues_on_its_channel(
        user: int, messaging: Messaging, neighbours: Neighbours, unique: str) -> None:
    instance = f"inst_{unique}"
    neighbours.device.connected.add(instance)
    neighbours.billing.quotas[instance] = 3
    sent = await messaging.stub.SendInstanceMessage(request(instance, user))
    assert (sent.status, sent.number, sent.quota_remaining, sent.quota_used) == (
        pb.STATUS_QUEUED, NUMBER, 2, 1)
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
