"""A queued Meta template through the device service as it runs (ServiceHost + build(),
real NATS, SQLite): on the cloud transport it goes out as Meta's `template` message to
the Cloud API stand-in; on the simulator it fails for good (no templates there), so
billing refunds it. And over gRPC the cloud answers no pairing code
(UNSUPPORTED_BY_TRANSPORT, not noted as the device's error) and no number check (unknown)."""

from __future__ import annotations

import json

import grpc
import pytest

from kernel.errors import from_rpc_error
from kernel.eventstore import NewEvent
from switchboard.device.v1 import device_pb2
from switchboard.messaging.v1 import events_pb2 as messaging_events
from tests.device.service_support import (
    Messaging,
    device_service,
    device_settings,
    eventually,
    messaging,
    stream_types,
    stub,
)
from tests.device.transports.cloud_support import NUMBER_ID, TOKEN, cloud_api

TEMPLATE = {"name": "order_update", "language": {"code": "en_US", "policy": "deterministic"},
            "components": [{"type": "body", "parameters": [
                {"type": "text", "text": "Ada"}, {"type": "text", "text": "#42"}]}]}


async def queue_template(msg: Messaging, message_id: str, channel: str = "pool",
                         instance_id: str = "") -> None:
    """What messaging queues for a template send: Meta's object as JSON."""
    payload = messaging_events.MessageQueued(
        message_id=message_id, user_id=7, number="447700900123",
        body="WhatsApp template order_update (en_US)", channel=channel,
        instance_id=instance_id, whatsapp_template=json.dumps(TEMPLATE)).SerializeToString()
    await msg.store.append(f"message-{message_id}", 0, [NewEvent("MessageQueued", payload)])
    await msg.relay.publish_pending()


async def test_a_queued_template_goes_out_in_metas_shape(nats_url, tmp_path, unique):
    async with cloud_api() as meta:
        device_id = f"cloud-{unique}"
        settings = device_settings(
            f"sqlite+aiosqlite:///{tmp_path / 'device.db'}", nats_url, tmp_path, sim_pool=0,
            transport="cloud", cloud_base_url=meta.url, cloud_access_token=TOKEN,
            cloud_phone_number_ids={device_id: NUMBER_ID}, cloud_retry_base_ms=10)
        async with messaging(nats_url, tmp_path) as msg, \
                device_service(settings, f"dispatch-{unique}") as host, stub(host) as api:
            await api.RegisterDevice(device_pb2.RegisterDeviceRequest(
                device_id=device_id, name="Cloud number", owner_user_id=7))
            await api.RequestQrCode(device_pb2.RequestQrCodeRequest(device_id=device_id))

            async def connected():
                found = await api.GetDevice(device_pb2.GetDeviceRequest(device_id=device_id))
                return found.status == device_pb2.DEVICE_STATUS_CONNECTED

            assert await eventually(connected)
            await queue_template(msg, f"{unique}-t", "instance", device_id)

            async def accepted():
                return meta.accepted

            [sent] = await eventually(accepted)
            assert meta.seen[-1].body == {
                "messaging_product": "whatsapp", "recipient_type": "individual",
                "to": "447700900123", "type": "template", "template": TEMPLATE,
                "biz_opaque_callback_data": f"sb-{unique}-t"}
            assert sent["biz_opaque_callback_data"] == f"sb-{unique}-t"

            async def sent_recorded():
                types = await stream_types(host, f"dispatch-{unique}-t")
                return types if "MessageSent" in types else None

            assert await eventually(sent_recorded) == ["MessageDispatched", "MessageSent"]

            other = f"{device_id}-b"  # not linked: a pairing code is refused for what it is
            await api.RegisterDevice(device_pb2.RegisterDeviceRequest(
                device_id=other, name="Another", owner_user_id=7))
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await api.RequestPairingCode(device_pb2.RequestPairingCodeRequest(
                    device_id=other, phone_number="15550100000"))
            refused = from_rpc_error(caught.value)
            assert (refused.reason, refused.status) == ("UNSUPPORTED_BY_TRANSPORT",
                                                        grpc.StatusCode.INVALID_ARGUMENT)
            found = await api.GetDevice(device_pb2.GetDeviceRequest(device_id=other))
            assert found.last_error == ""  # the request's fault, not the far side's
            checked = await api.CheckNumbers(device_pb2.CheckNumbersRequest(
                numbers=["27821234567"], device_id=device_id))
            assert checked.numbers[0].on_whatsapp == device_pb2.ON_WHATSAPP_UNKNOWN


async def test_a_template_on_the_simulator_fails_for_good(nats_url, tmp_path, unique):
    settings = device_settings(f"sqlite+aiosqlite:///{tmp_path / 'device.db'}", nats_url,
                               tmp_path, sim_pool=1)
    async with messaging(nats_url, tmp_path) as msg, \
            device_service(settings, f"dispatch-{unique}") as host:
        await queue_template(msg, f"{unique}-s")

        async def failed():
            stored = await host.infra.store.read_stream(f"dispatch-{unique}-s")
            return stored if stored and stored[-1].event_type == "MessageFailed" else None

        events = await eventually(failed)
        assert [e.event_type for e in events] == ["MessageDispatched", "MessageFailed"]
        assert b"no Meta templates" in events[-1].payload
