"""The whatsmeow transport's part of transport parity, against the neonize stand-in:
a pairing code for a device already linked is refused, IsOnWhatsApp answers per number
(asked as `+<digits>`, unknown while the session is down), and a Meta template is
refused for good (WhatsApp Web has none)."""

from __future__ import annotations

import pytest

pytest.importorskip("neonize", reason="the whatsmeow extra (neonize) is not installed")

from services.device.adapters.whatsmeow.session import State  # noqa: E402
from services.device.app.transport import (  # noqa: E402
    SessionDownError,
    TransientTransportError,
    TransportError,
)
from tests.device.transports.neonize_standin import FakeWhatsApp  # noqa: E402
from tests.device.transports.whatsmeow_support import (  # noqa: E402
    eventually,
    link,
    whatsmeow,
)


@pytest.fixture
def far() -> FakeWhatsApp:
    return FakeWhatsApp(accounts={"27821234567"})


@pytest.fixture
async def transport(tmp_path, ledger, far, recorder):
    transport = whatsmeow(tmp_path, ledger, far, recorder)
    yield transport
    await transport.close()


async def test_a_linked_device_gets_no_pairing_code(transport, far, recorder):
    await link(transport, far, recorder)
    await transport.release("dev-1")
    with pytest.raises(Exception, match="already linked") as caught:
        await transport.request_pairing_code("dev-1", "+27821234567")
    assert caught.value.code == "ALREADY_CONNECTED"
    assert far.pair_codes == {}


async def test_is_on_whatsapp_answers_per_number(transport, far, recorder):
    with pytest.raises(SessionDownError):
        await transport.on_whatsapp("dev-1", ["27821234567"])
    client = await link(transport, far, recorder)
    answers = await transport.on_whatsapp("dev-1", ["27821234567", "27820000001"])
    assert answers == {"27821234567": True, "27820000001": False}
    assert far.lookups == ["+27821234567", "+27820000001"]  # whatsmeow wants the +
    client.online = False  # the connection died; whatsmeow has not said so yet
    with pytest.raises(TransientTransportError, match="websocket not connected"):
        await transport.on_whatsapp("dev-1", ["27821234567"])
    await far.drop(client)
    await eventually(lambda: transport.session("dev-1").state is State.OFFLINE)
    with pytest.raises(SessionDownError):
        await transport.on_whatsapp("dev-1", ["27821234567"])


async def test_a_meta_template_is_refused_for_good(transport, far, recorder):
    await link(transport, far, recorder)
    template = {"name": "hello_world", "language": {"code": "en_US"}}
    with pytest.raises(TransportError, match="no Meta templates"):
        await transport.send_template("dev-1", "+27821234567", template, "sb-t1")
    assert far.send_calls == 0
