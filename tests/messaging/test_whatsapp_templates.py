"""A send naming a Meta template, through the real messaging service (SQLite and
PostgreSQL, real NATS) against stand-in billing and device servers: queued with Meta's
object when the device service's transport is the cloud, refused uncharged
(UNSUPPORTED_BY_TRANSPORT) on any other, and its shape checked before anything."""

from __future__ import annotations

import json

import grpc
import pytest

from kernel.errors import from_rpc_error
from services.messaging.adapters.codec import messaging_codec
from switchboard.device.v1 import device_pb2
from switchboard.messaging.v1 import messaging_pb2 as pb
from tests.messaging.conftest import NUMBER, Messaging, Neighbours

ORDER_UPDATE = {"name": "order_update", "language": {"code": "en_US"}, "components": [
    {"type": "body", "parameters": [{"type": "text", "text": "Ada"},
                                    {"type": "text", "text": "#42"}]}]}


def pool(transport: str) -> device_pb2.PoolStatus:
    return device_pb2.PoolStatus(available_devices=1, total_devices=1, linked_devices=1,
                                 queue_type="pool", transport=transport)


async def send(messaging: Messaging, user: int, template: object,
               message: str = "") -> pb.SendMessageResponse:
    return await messaging.stub.SendMessage(pb.SendMessageRequest(
        user_id=user, number=NUMBER, message=message,
        whatsapp_template=template if isinstance(template, str) else json.dumps(template)))


async def test_a_template_send_is_queued_with_metas_object(user: int, messaging: Messaging,
                                                           neighbours: Neighbours) -> None:
    neighbours.device.pool = pool("cloud")
    neighbours.billing.balances[user] = 5
    reply = await send(messaging, user, ORDER_UPDATE)
    assert reply.remaining_credits == 4
    [stored] = await messaging.host.infra.store.read_stream(f"message-{reply.queue_id}")
    event = messaging_codec().decode(stored)
    assert (event.number, event.body, event.channel) == (
        NUMBER, "WhatsApp template order_update (en_US)", "pool")
    assert json.loads(event.whatsapp_template) == {
        **ORDER_UPDATE, "language": {"code": "en_US", "policy": "deterministic"}}
    status = await messaging.status(user, reply.queue_id)
    assert status.message == "WhatsApp template order_update (en_US)"


@pytest.mark.parametrize("transport", ["simulator", "whatsmeow"])
async def test_no_templates_without_the_cloud_and_nothing_charged(
        user: int, messaging: Messaging, neighbours: Neighbours, transport: str) -> None:
    neighbours.device.pool = pool(transport)
    neighbours.billing.balances[user] = 5
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await send(messaging, user, ORDER_UPDATE)
    error = from_rpc_error(caught.value)
    assert error.reason == "UNSUPPORTED_BY_TRANSPORT"
    assert error.status == grpc.StatusCode.INVALID_ARGUMENT
    assert f"this server sends through {transport}" in error.message
    assert neighbours.billing.balances[user] == 5 and not neighbours.billing.reservations
    assert await messaging.host.infra.store.read_all() == []


@pytest.mark.parametrize("template, message, mentioned", [
    ("[1]", "", "not a JSON object"),
    ({"name": "Order Update", "language": {"code": "en_US"}}, "", "name must be"),
    ({"name": "order_update", "language": {"code": "english"}}, "", "language.code"),
    ({"name": "order_update", "language": {"code": "en_US"}, "components": [{}]}, "",
     "components"),
    ({"name": "order_update", "language": {"code": "en_US"}, "namespace": "x"}, "",
     "unknown field namespace"),
    (ORDER_UPDATE, "and a text", "either a whatsapp_template or a message"),
])
async def test_a_malformed_template_is_invalid_and_charges_nothing(
        user: int, messaging: Messaging, neighbours: Neighbours, template: object,
        message: str, mentioned: str) -> None:
    neighbours.device.pool = pool("cloud")
    neighbours.billing.balances[user] = 5
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await send(messaging, user, template, message)
    error = from_rpc_error(caught.value)
    assert error.reason == "INVALID_REQUEST" and mentioned in error.message, error.message
    assert not neighbours.billing.reservations
