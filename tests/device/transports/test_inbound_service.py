"""A message someone sends a linked device, through each real transport into the device
service as it runs (ServiceHost + build(), real NATS, SQLite): recorded once as
MessageReceived for the instance's owner, with the sender's number and LID (BSUID on the
cloud), even when the far side delivers it twice (whatsmeow handing the same message
again, Meta redelivering a signed webhook through the gateway)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
import uvicorn

from gateway.app import create_app
from gateway.settings import GatewaySettings
from kernel.host import ServiceHost
from services.device.adapters.codec import device_codec
from services.device.domain.events import MessageReceived
from services.device.domain.inbound import inbound_key
from switchboard.device.v1 import device_pb2
from switchboard.device.v1.device_pb2_grpc import DeviceServiceStub
from tests.device.service_support import (
    device_service,
    device_settings,
    eventually,
    messaging,
    stub,
)
from tests.device.transports.cloud_standin import FakeCloudApi
from tests.device.transports.cloud_support import NUMBER_ID, TOKEN, cloud_api
from tests.support.services import serving

SECRET = "meta-app-secret"
ANN = "447700900456"
T0 = 1_717_400_000
CONNECTED = device_pb2.DEVICE_STATUS_CONNECTED


async def recorded(host: ServiceHost, device_id: str, message_id: str
                   ) -> list[MessageReceived]:
    assert host.infra is not None
    stored = await host.infra.store.read_stream(
        f"inbound-{inbound_key(device_id, message_id)}")
    return [device_codec().decode(e) for e in stored]


async def linked(api: DeviceServiceStub, device_id: str,
                 scan: Callable[[str], Awaitable[None]] | None = None) -> None:
    """Register the instance (owner 7), ask for its QR, and let `scan` link it."""
    await api.RegisterDevice(device_pb2.RegisterDeviceRequest(
        device_id=device_id, name="Shop", owner_user_id=7))
    qr = await api.RequestQrCode(device_pb2.RequestQrCodeRequest(device_id=device_id))
    if scan is not None:
        await scan(qr.pairing_ref)

    async def connected() -> bool:
        found = await api.GetDevice(device_pb2.GetDeviceRequest(device_id=device_id))
        return bool(found.status == CONNECTED)

    assert await eventually(connected)


async def test_whatsmeow_records_a_message_once_though_it_arrives_twice(nats_url, tmp_path,
                                                                        unique):
    pytest.importorskip("neonize", reason="the whatsmeow extra (neonize) is not installed")
    from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message

    from tests.device.transports.neonize_messages import arrived, jid
    from tests.device.transports.whatsmeow_support import standin_transport

    far, transport = standin_transport(tmp_path)
    settings = device_settings(f"sqlite+aiosqlite:///{tmp_path / 'device.db'}", nats_url,
                               tmp_path, sim_pool=0, transport="whatsmeow")
    device_id = f"wa-{unique}"
    async with messaging(nats_url, tmp_path), \
            device_service(settings, f"dispatch-{unique}", transport) as host, \
            stub(host) as api:
        await linked(api, device_id, lambda ref: far.scan(ref, "+44 7700 900123"))
        event = arrived(Message(conversation="Yes, Tuesday works"), jid("205478395461779",
                        "lid", device=2), sender_alt=jid(ANN), at=T0)
        later = arrived(Message(conversation="and one more"), jid(ANN), at=T0 + 1)
        client = far.client_for(device_id)
        for each in (event, event, later):  # the same message handed over again, then one
            await far.message_from(client, each)

        async def done() -> list[MessageReceived]:  # in order: the copy was handled before
            return await recorded(host, device_id, later.Info.ID)

        assert await eventually(done)
        [received] = await recorded(host, device_id, event.Info.ID)
        assert (received.user_id, received.from_phone, received.from_lid, received.to_phone,
                received.chat_id, received.type, received.text, received.from_name) == (
            7, ANN, "205478395461779@lid", "447700900123", ANN, "text", "Yes, Tuesday works",
            "Ann")


@contextlib.asynccontextmanager
async def gateway(settings: GatewaySettings) -> AsyncIterator[str]:
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=0,
                            log_level="warning")
    async with serving(config) as port:
        yield f"http://127.0.0.1:{port}/webhooks/whatsapp-cloud"


async def test_cloud_records_a_message_once_though_meta_redelivers_it(nats_url, tmp_path,
                                                                      unique):
    device_id = f"cloud-{unique}"
    async with cloud_api() as meta:
        settings = device_settings(
            f"sqlite+aiosqlite:///{tmp_path / 'device.db'}", nats_url, tmp_path, sim_pool=0,
            transport="cloud", cloud_base_url=meta.url, cloud_access_token=TOKEN,
            cloud_phone_number_ids={device_id: NUMBER_ID})
        async with messaging(nats_url, tmp_path), \
                device_service(settings, f"dispatch-{unique}") as host, stub(host) as api, \
                gateway(GatewaySettings(device_addr=f"127.0.0.1:{host.port}",
                                        cloud_app_secret=SECRET, var_dir=tmp_path,
                                        nats_url=nats_url)) as url:
            await linked(api, device_id)
            text = FakeCloudApi.user_message("text", {"body": "Yes, Tuesday works"}, ANN, T0)
            body = FakeCloudApi.inbound(NUMBER_ID, [text])
            for _ in range(2):  # Meta redelivers the same notification
                answer = await meta.deliver(url, body, SECRET)
                assert answer.status_code == 200 and answer.json()["received"] == 1
            [received] = await recorded(host, device_id, text["id"])
            assert (received.user_id, received.from_phone, received.from_lid,
                    received.to_phone, received.text, received.from_name) == (
                7, ANN, f"GB.1{ANN}", "15550100000", "Yes, Tuesday works", "Ann")
            async with httpx.AsyncClient() as client:  # unsigned: refused, nothing recorded
                refused = await client.post(url, json=FakeCloudApi.inbound(NUMBER_ID, [
                    FakeCloudApi.user_message("text", {"body": "forged"}, ANN, T0)]))
            assert refused.status_code == 401
