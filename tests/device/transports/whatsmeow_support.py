"""The whatsmeow transport wired to the neonize stand-in, for the whatsmeow tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from services.device.adapters.send_ledger import SendLedger
from services.device.adapters.whatsmeow import WhatsmeowTransport
from services.device.adapters.whatsmeow.session import State, Timing
from services.device.app.transport import Linked
from tests.device.transports.conftest import Recorder, sqlite_ledger
from tests.device.transports.neonize_standin import FakeNewAClient, FakeWhatsApp

FAST = Timing(connect_wait=1.0, link_delay=0.01)
PHONE = "+44 7700 900123"


def standin_transport(var_dir: Path) -> tuple[FakeWhatsApp, WhatsmeowTransport]:
    """A fresh stand-in, and a whatsmeow transport over it with a ledger of its own, for a
    device service a test starts (which attaches its own sink)."""
    far = FakeWhatsApp()
    return far, WhatsmeowTransport(var_dir / "whatsmeow", sqlite_ledger(var_dir / "wm.db"),
                                   make_client=far.NewAClient, timing=FAST)


def whatsmeow(tmp_path: Path, ledger: SendLedger, far: FakeWhatsApp, recorder: Recorder,
              database_url: str = "") -> WhatsmeowTransport:
    transport = WhatsmeowTransport(tmp_path / "whatsmeow", ledger, database_url=database_url,
                                   make_client=far.NewAClient, timing=FAST)
    transport.attach(recorder)
    return transport


async def online(transport: WhatsmeowTransport, device_id: str) -> None:
    session = transport.session(device_id)
    assert session is not None
    assert await session.wait_for({State.ONLINE}, 2.0) is State.ONLINE


async def link(transport: WhatsmeowTransport, far: FakeWhatsApp, recorder: Recorder,
               device_id: str = "dev-1", phone: str = PHONE) -> FakeNewAClient:
    """Pair the device by scanning its QR, and wait until its session is up."""
    pairing = await transport.start_pairing(device_id)
    await far.scan(pairing.pairing_ref, phone)
    await recorder.wait_for(lambda e: isinstance(e, Linked) and e.device_id == device_id)
    await online(transport, device_id)
    return far.client_for(device_id)


async def eventually(check: Callable[[], bool], seconds: float = 2.0) -> None:
    """For what the loop does after neonize scheduled a callback (no event to wait on)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not check():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)
