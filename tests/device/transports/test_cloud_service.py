"""The device service as it runs (ServiceHost + build(), real NATS, SQLite), configured
with `SWITCHBOARD_TRANSPORT=cloud` against the Cloud API stand-in: a device is activated
by its QR request, a queued message goes out through Meta's API, and the statuses Meta
reports over CloudWebhookService settle it. Also: what `transport_from` picks."""

from __future__ import annotations

import pytest

from kernel.host import ServiceHost
from kernel.media import LocalMediaStore
from kernel.rpc import channel
from services.device.adapters.cloud import CloudTransport
from services.device.adapters.simulator import SimulatorTransport
from services.device.adapters.transports import UnknownTransportError, transport_from
from services.device.ports.cloud_webhook import CLOUD_SERVICE_NAME, cloud_parts
from services.device.settings import DeviceSettings
from switchboard.device.v1 import cloud_pb2, cloud_pb2_grpc, device_pb2
from tests.device.service_support import (
    LIFECYCLE,
    device_service,
    device_settings,
    eventually,
    messaging,
    stream_types,
    stub,
)
from tests.device.transports.cloud_standin import FakeCloudApi
from tests.device.transports.cloud_support import DEVICES, NUMBER_ID, TOKEN, cloud_api


def cloud_settings(tmp_path, **extra: object) -> DeviceSettings:
    return DeviceSettings(var_dir=tmp_path, transport="cloud", cloud_access_token=TOKEN,
                    cloud_phone_number_ids=DEVICES, **extra)


def test_transport_from_picks_the_configured_transport(tmp_path):
    store = LocalMediaStore(tmp_path / "media")  # the service's one store, handed in
    simulator = transport_from(DeviceSettings(var_dir=tmp_path), store)
    assert isinstance(simulator, SimulatorTransport) and simulator.media is store
    cloud = transport_from(cloud_settings(tmp_path, cloud_base_url="http://meta.test/",
                                          cloud_api_version="v22.0"), store)
    assert isinstance(cloud, CloudTransport) and cloud.media is store
    assert cloud.api.root == "http://meta.test/v22.0"
    assert cloud.phone_number_ids == DEVICES
    with pytest.raises(ValueError, match="SWITCHBOARD_CLOUD_ACCESS_TOKEN"):
        transport_from(DeviceSettings(var_dir=tmp_path, transport="cloud"), store)
    with pytest.raises(UnknownTransportError):
        transport_from(DeviceSettings(var_dir=tmp_path, transport="carrier-pigeon"), store)
    assert cloud_parts(cloud)[1] == [CLOUD_SERVICE_NAME]
    assert cloud_parts(simulator) == ([], [])


def test_transport_from_builds_whatsmeow_with_its_session_dir(tmp_path):
    pytest.importorskip("neonize", reason="the whatsmeow extra (neonize) is not installed")
    from services.device.adapters.whatsmeow import WhatsmeowTransport

    store = LocalMediaStore(tmp_path / "media")
    made = transport_from(DeviceSettings(var_dir=tmp_path, transport="whatsmeow",
                                         whatsmeow_connect_wait_seconds=7), store)
    assert isinstance(made, WhatsmeowTransport) and made.media is store
    assert made.stores.sessions_dir == tmp_path / "whatsmeow" and made.timing.connect_wait == 7


async def test_a_cloud_device_activates_sends_and_is_settled_by_webhooks(nats_url, tmp_path,
                                                                         unique):
    async with cloud_api() as meta:
        settings = device_settings(
            f"sqlite+aiosqlite:///{tmp_path / 'device.db'}", nats_url, tmp_path, sim_pool=0,
            transport="cloud", cloud_base_url=meta.url, cloud_access_token=TOKEN,
            cloud_phone_number_ids={f"cloud-{unique}": NUMBER_ID}, cloud_retry_base_ms=10)
        async with messaging(nats_url, tmp_path) as msg, \
                device_service(settings, f"dispatch-{unique}") as host, stub(host) as api:
            device_id = f"cloud-{unique}"
            await api.RegisterDevice(device_pb2.RegisterDeviceRequest(
                device_id=device_id, name="Cloud number", owner_user_id=7))
            qr = await api.RequestQrCode(device_pb2.RequestQrCodeRequest(device_id=device_id))
            assert qr.pairing_ref == "https://wa.me/15550100000"

            async def connected():
                found = await api.GetDevice(device_pb2.GetDeviceRequest(device_id=device_id))
                return found if found.status == device_pb2.DEVICE_STATUS_CONNECTED else None

            assert (await eventually(connected)).phone_number == "15550100000"
            await msg.queue(f"{unique}-a", "447700900123", "instance", device_id)
            assert await eventually(lambda: _accepted(meta))
            [sent] = meta.accepted
            assert (sent["to"], sent["biz_opaque_callback_data"]) == \
                ("447700900123", f"sb-{unique}-a")
            await _report(host, sent["wamid"], f"sb-{unique}-a")

            async def settled():
                types = await stream_types(host, f"dispatch-{unique}-a")
                return types if types[-1:] == ["MessageRead"] else None

            assert await eventually(settled) == LIFECYCLE


async def _accepted(meta: FakeCloudApi) -> bool:
    return bool(meta.accepted)


async def _report(host: ServiceHost, wamid: str, tracker: str) -> None:
    chan = channel(f"127.0.0.1:{host.port}", host.settings)
    try:
        status = FakeCloudApi.status
        reply = await cloud_pb2_grpc.CloudWebhookServiceStub(chan).ReportStatuses(
            cloud_pb2.ReportStatusesRequest(statuses=[
                cloud_pb2.CloudStatus(phone_number_id=NUMBER_ID, id=wamid, status=s["status"],
                                      timestamp=int(s["timestamp"]),
                                      biz_opaque_callback_data=tracker)
                for s in (status(wamid, "delivered", 1_717_400_010),
                          status(wamid, "read", 1_717_400_020))]))
        assert (reply.receipts, reply.duplicates) == (2, 0)
    finally:
        await chan.close()
