"""The device service as it runs (ServiceHost + build(), real NATS, SQLite) with the
whatsmeow transport over the neonize stand-in: an instance links by scanning the QR the
service hands out, sends a queued message through its client, and WhatsApp's receipts
settle it; after a network drop the service reconnects it from its session store."""

from __future__ import annotations

import pytest

pytest.importorskip("neonize", reason="the whatsmeow extra (neonize) is not installed")

from neonize.aioze.events import ReceiptEv  # noqa: E402

from services.device.adapters.whatsmeow import WhatsmeowTransport  # noqa: E402
from switchboard.device.v1 import device_pb2  # noqa: E402
from tests.device.service_support import (  # noqa: E402
    LIFECYCLE,
    device_service,
    device_settings,
    eventually,
    messaging,
    stream_types,
    stub,
)
from tests.device.transports.conftest import sqlite_ledger  # noqa: E402
from tests.device.transports.neonize_standin import FakeWhatsApp  # noqa: E402
from tests.device.transports.whatsmeow_support import FAST  # noqa: E402

CONNECTED = device_pb2.DEVICE_STATUS_CONNECTED


async def test_an_instance_links_sends_and_is_settled_by_receipts(nats_url, tmp_path, unique):
    far = FakeWhatsApp()
    transport = WhatsmeowTransport(tmp_path / "whatsmeow", sqlite_ledger(tmp_path / "w.db"),
                                   make_client=far.NewAClient, timing=FAST)
    settings = device_settings(f"sqlite+aiosqlite:///{tmp_path / 'device.db'}", nats_url,
                               tmp_path, sim_pool=0, transport="whatsmeow")
    async with messaging(nats_url, tmp_path) as msg, \
            device_service(settings, f"dispatch-{unique}", transport) as host, \
            stub(host) as api:
        device_id = f"wa-{unique}"
        await api.RegisterDevice(device_pb2.RegisterDeviceRequest(
            device_id=device_id, name="Shop", owner_user_id=7))
        qr = await api.RequestQrCode(device_pb2.RequestQrCodeRequest(device_id=device_id))
        assert qr.pairing_ref.startswith("2@")
        await far.scan(qr.pairing_ref, "+44 7700 900123")

        async def status_is(wanted: int):
            found = await api.GetDevice(device_pb2.GetDeviceRequest(device_id=device_id))
            return found if found.status == wanted else None

        assert (await eventually(lambda: status_is(CONNECTED))).phone_number == "447700900123"
        await msg.queue(f"{unique}-a", "15550199", "instance", device_id)

        async def sent():
            return far.sent

        [out] = await eventually(sent)
        assert (out.to.User, out.text) == ("15550199", f"hi {unique}-a")
        client = far.client_for(device_id)
        await far.receipt(client, [out.message_id], ReceiptEv.DELIVERED)
        await far.receipt(client, [out.message_id], ReceiptEv.READ)

        async def settled():
            types = await stream_types(host, f"dispatch-{unique}-a")
            return types if types[-1:] == ["MessageRead"] else None

        assert await eventually(settled) == LIFECYCLE
        await far.drop(client)  # the service reconnects: resume takes the session up again

        async def reconnected():
            types = await stream_types(host, f"device-{device_id}")
            return types if types[-1:] == ["DeviceReconnected"] else None

        assert (await eventually(reconnected))[-3:] == ["DeviceDisconnected",
                                                        "DeviceErrorRecorded",
                                                        "DeviceReconnected"]
        found = await api.GetDevice(device_pb2.GetDeviceRequest(device_id=device_id))
        assert found.last_error and found.last_error_at.seconds  # the drop, kept
        assert await status_is(CONNECTED)
        assert [c.stopped for c in far.clients] == [True, False]  # a fresh client, same store
        assert far.clients[1].name == client.name
