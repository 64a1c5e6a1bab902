"""Transport parity through the device service as it runs (ServiceHost + build(), real
NATS, SQLite) with the whatsmeow transport over the neonize stand-in: RequestPairingCode
reaches neonize's PairPhone and the phone that types the code (as WhatsApp shows it,
ABCD-EFGH) links the device to its number; CheckNumbers asks IsOnWhatsApp once and
answers again from what it kept."""

from __future__ import annotations

import re

import grpc
import pytest

pytest.importorskip("neonize", reason="the whatsmeow extra (neonize) is not installed")

from kernel.errors import from_rpc_error  # noqa: E402
from services.device.adapters.whatsmeow import WhatsmeowTransport  # noqa: E402
from switchboard.device.v1 import device_pb2  # noqa: E402
from tests.device.service_support import (  # noqa: E402
    device_service,
    device_settings,
    eventually,
    stub,
)
from tests.device.transports.conftest import sqlite_ledger  # noqa: E402
from tests.device.transports.neonize_standin import FakeWhatsApp  # noqa: E402
from tests.device.transports.whatsmeow_support import FAST  # noqa: E402

YES, NO = device_pb2.ON_WHATSAPP_YES, device_pb2.ON_WHATSAPP_NO


async def test_a_pairing_code_links_and_numbers_are_checked(nats_url, tmp_path, unique):
    far = FakeWhatsApp(accounts={"27821234567"})
    transport = WhatsmeowTransport(tmp_path / "whatsmeow", sqlite_ledger(tmp_path / "w.db"),
                                   make_client=far.NewAClient, timing=FAST)
    settings = device_settings(f"sqlite+aiosqlite:///{tmp_path / 'device.db'}", nats_url,
                               tmp_path, sim_pool=0, transport="whatsmeow")
    async with device_service(settings, f"dispatch-{unique}", transport) as host, \
            stub(host) as api:
        device_id = f"wa-{unique}"
        await api.RegisterDevice(device_pb2.RegisterDeviceRequest(
            device_id=device_id, name="Shop", owner_user_id=7))
        issued = await api.RequestPairingCode(device_pb2.RequestPairingCodeRequest(
            device_id=device_id, phone_number="+44 7700 900123"))
        assert re.fullmatch(r"[1-9A-HJ-NP-TV-Z]{8}", issued.code)
        assert 0 < issued.expires_in_seconds <= 180
        shown = f"{issued.code[:4]}-{issued.code[4:]}"  # what whatsmeow handed out
        assert far.pair_codes[shown][1] == "447700900123"
        await far.enter_code(shown)

        async def connected():
            found = await api.GetDevice(device_pb2.GetDeviceRequest(device_id=device_id))
            return found if found.status == device_pb2.DEVICE_STATUS_CONNECTED else None

        assert (await eventually(connected)).phone_number == "447700900123"
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await api.RequestPairingCode(device_pb2.RequestPairingCodeRequest(
                device_id=device_id, phone_number="447700900123"))
        assert from_rpc_error(caught.value).reason == "ALREADY_CONNECTED"

        asked = device_pb2.CheckNumbersRequest(numbers=["+27821234567", "27820000001"],
                                               device_id=device_id)
        first = await api.CheckNumbers(asked)
        assert [(n.number, n.on_whatsapp) for n in first.numbers] == [
            ("27821234567", YES), ("27820000001", NO)]
        again = await api.CheckNumbers(asked)
        assert again == first and far.lookups == ["+27821234567", "+27820000001"]
