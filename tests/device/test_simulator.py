"""The simulator transport against its contract: pairing, dedup, receipts, failures."""

from __future__ import annotations

import asyncio
import base64
import io
import random
import time
from datetime import UTC, datetime, timedelta

import pytest
import zxingcpp
from PIL import Image

from services.device.adapters.qr import qr_png_data_url
from services.device.adapters.simulator import SimulatedWhatsApp, SimulatorTransport
from services.device.adapters.simulator.transport import decode_pairing_ref
from services.device.app.transport import (
    Linked,
    Receipt,
    ReceiptKind,
    SessionDownError,
    TransportError,
    Unlinked,
)
from services.device.domain.errors import InvalidPairingRefError


def decode_qr_data_url(data_url: str) -> str:
    """The text of the QR code in a `data:image/png;base64,...` URL, read by zxing."""
    prefix = "data:image/png;base64,"
    assert data_url.startswith(prefix)
    image = Image.open(io.BytesIO(base64.b64decode(data_url[len(prefix):])))
    [found] = zxingcpp.read_barcodes(image)
    assert found.format == zxingcpp.BarcodeFormat.QRCode
    return str(found.text)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Recorder:
    def __init__(self) -> None:
        self.events: list[object] = []
        self.times: list[float] = []

    async def __call__(self, event: object) -> None:
        self.events.append(event)
        self.times.append(time.monotonic())


async def linked(sim: SimulatorTransport, device_id: str = "d1",
                 phone: str = "+1 555 000 0001") -> Recorder:
    recorder = Recorder()
    sim.attach(recorder)
    pairing = await sim.start_pairing(device_id)
    await sim.scan(pairing.pairing_ref, phone)
    return recorder


async def test_pairing_reference_decodes_to_its_device_and_links_it():
    sim = SimulatorTransport()
    recorder = Recorder()
    sim.attach(recorder)
    pairing = await sim.start_pairing("inst-9")
    assert decode_pairing_ref(pairing.pairing_ref)[0] == "inst-9"
    assert await sim.scan(pairing.pairing_ref, "+1 555 000 0009") == "inst-9"
    assert recorder.events == [Linked("inst-9", pairing.pairing_ref, "15550000009")]
    assert sim.is_linked("inst-9")
    with pytest.raises(InvalidPairingRefError):
        await sim.scan(pairing.pairing_ref, "15550000009")  # a QR links once


async def test_foreign_or_unknown_qr_is_refused():
    sim = SimulatorTransport()
    with pytest.raises(InvalidPairingRefError):
        await sim.scan("2@not-ours,abc", "15550000001")
    with pytest.raises(InvalidPairingRefError):
        await sim.scan("sbsim://pair?device=d1&ref=never-issued", "15550000001")


async def test_a_refused_link_leaves_no_session():
    sim = SimulatorTransport()

    async def refuse(event: object) -> None:
        raise InvalidPairingRefError("replaced")

    sim.attach(refuse)
    pairing = await sim.start_pairing("d1")
    with pytest.raises(InvalidPairingRefError):
        await sim.scan(pairing.pairing_ref, "15550000001")
    assert not sim.is_linked("d1")


def test_qr_png_is_a_standard_qr_code_that_decodes_to_the_reference():
    ref = "sbsim://pair?device=pool-1&ref=abc"
    assert decode_qr_data_url(qr_png_data_url(ref)) == ref
    assert qr_png_data_url(ref).startswith("data:image/png;base64,iVBOR")


async def test_qr_codes_rotate_like_whatsapp_and_only_the_latest_links():
    clock = Clock()
    sim = SimulatorTransport(qr_ttl=60, qr_refresh=20, clock=clock)
    sim.attach(Recorder())
    first = await sim.start_pairing("d1")
    second = await sim.start_pairing("d1")
    assert first.pairing_ref != second.pairing_ref
    assert (first.expires_at - clock.now, second.expires_at - clock.now) == (
        timedelta(seconds=60), timedelta(seconds=20))
    with pytest.raises(InvalidPairingRefError):
        await sim.scan(first.pairing_ref, "15550000001")  # replaced
    clock.advance(21)
    with pytest.raises(InvalidPairingRefError):
        await sim.scan(second.pairing_ref, "15550000001")  # expired
    third = await sim.start_pairing("d1")
    assert await sim.scan(third.pairing_ref, "15550000001") == "d1"
    again = await sim.start_pairing("d1")  # a new linking attempt starts at the full TTL
    assert again.expires_at - clock.now == timedelta(seconds=60)


async def test_send_needs_a_linked_session():
    sim = SimulatorTransport()
    with pytest.raises(SessionDownError):
        await sim.send("d1", "15550000002", "hi", "sb-1")


async def test_inbox_keeps_a_message_once_per_transport_message_id():
    sim = SimulatorTransport(delivery_delay=0, read_delay=0)
    await linked(sim)
    await sim.send("d1", "+44 7700 900001", "hello", "sb-m1")
    await sim.send("d1", "447700900001", "hello", "sb-m1")
    await sim.send("d1", "447700900001", "again", "sb-m2")
    inbox = sim.inbox("+447700900001")
    assert [(m.transport_message_id, m.body, m.from_number) for m in inbox] == [
        ("sb-m1", "hello", "15550000001"), ("sb-m2", "again", "15550000001")]
    assert sim.inbox("447700900002") == []
    await sim.close()


async def test_receipts_arrive_after_the_configured_delays():
    sim = SimulatorTransport(delivery_delay=0.15, read_delay=0.1)
    recorder = await linked(sim)
    start = time.monotonic()
    sent = await sim.send("d1", "15550000002", "hi", "sb-m1")
    assert sent.transport_message_id == "sb-m1"
    assert [e for e in recorder.events if isinstance(e, Receipt)] == []
    await asyncio.wait_for(sim.idle(), 2)
    receipts = [(e, t) for e, t in zip(recorder.events, recorder.times, strict=True)
                if isinstance(e, Receipt)]
    assert [e.kind for e, _ in receipts] == [ReceiptKind.DELIVERED, ReceiptKind.READ]
    assert receipts[0][1] - start >= 0.15
    assert receipts[1][1] - start >= 0.25
    assert all(e.transport_message_id == "sb-m1" and e.device_id == "d1" for e, _ in receipts)


async def test_with_no_read_delay_one_read_receipt_says_both():
    """Read the moment it arrived: the read receipt alone, which implies delivery (the
    dispatch records Delivered and Read in one append), and nothing is left owed."""
    sim = SimulatorTransport(delivery_delay=0, read_delay=0)
    recorder = await linked(sim)
    await sim.send("d1", "15550000002", "hi", "sb-m1")
    await asyncio.wait_for(sim.idle(), 2)
    assert [(e.kind, e.transport_message_id) for e in recorder.events
            if isinstance(e, Receipt)] == [(ReceiptKind.READ, "sb-m1")]
    assert sim.far.owed_receipts("d1") == []
    await sim.close()


async def test_failure_rate_draws_from_the_injected_random():
    sim = SimulatorTransport(delivery_delay=0, read_delay=0, failure_rate=0.5,
                             rng=random.Random(3))
    await linked(sim)
    outcomes = []
    for n in range(20):
        try:
            await sim.send("d1", "15550000002", "hi", f"sb-{n}")
            outcomes.append(True)
        except TransportError:
            outcomes.append(False)
    draws = random.Random(3)
    expected = [draws.random() >= 0.5 for _ in range(20)]
    assert outcomes == expected and not all(outcomes) and any(outcomes)
    assert len(sim.inbox("15550000002")) == sum(outcomes)
    await sim.close()


async def test_a_drop_keeps_the_link_until_the_network_is_back():
    clock = Clock()
    sim = SimulatorTransport(clock=clock)
    recorder = await linked(sim)
    await sim.drop("d1", "network lost", outage=5)
    assert recorder.events[-1] == Unlinked("d1", "network lost", logged_out=False)
    with pytest.raises(SessionDownError):
        await sim.send("d1", "15550000002", "hi", "sb-x")
    assert not await sim.resume("d1", "15550000001")
    clock.advance(5)
    assert await sim.resume("d1", "15550000001")
    await sim.send("d1", "15550000002", "hi", "sb-x")
    await sim.close()


async def test_logout_and_ban_end_the_link_and_are_reported():
    sim = SimulatorTransport()
    recorder = await linked(sim)
    await sim.logout_from_phone("d1")
    assert recorder.events[-1] == Unlinked("d1", "logged out from the phone", logged_out=True)
    assert not await sim.resume("d1", "15550000001")
    second = await linked(sim)
    await sim.ban("d1")
    assert [type(e).__name__ for e in second.events] == ["Linked", "Banned"]
    with pytest.raises(TransportError):
        await sim.send("d1", "15550000002", "hi", "sb-x")


async def test_the_far_side_outlives_the_process_that_sent(tmp_path):
    path = tmp_path / "far.db"
    sim = SimulatorTransport(delivery_delay=0, read_delay=0,
                             far_side=SimulatedWhatsApp(path))
    await linked(sim)
    await sim.send("d1", "447700900001", "hello", "sb-m1")
    await sim.close()
    after_restart = SimulatorTransport(far_side=SimulatedWhatsApp(path))
    assert await after_restart.resume("d1", "")
    await after_restart.send("d1", "447700900001", "hello", "sb-m1")  # resent after a crash
    assert [m.transport_message_id for m in after_restart.inbox("447700900001")] == ["sb-m1"]
    await after_restart.close()


async def test_receipts_a_dead_holder_owed_come_from_the_replica_taking_over(tmp_path):
    path = tmp_path / "far.db"
    dying = SimulatorTransport(delivery_delay=0.2, read_delay=0.1,
                               far_side=SimulatedWhatsApp(path))
    await linked(dying)
    await dying.send("d1", "447700900001", "hello", "sb-m1")
    await dying.close()  # gone before its receipts: they are still owed to the session
    survivor = SimulatorTransport(far_side=SimulatedWhatsApp(path))
    recorder = Recorder()
    survivor.attach(recorder)
    start = time.monotonic()
    assert await survivor.resume("d1", "")
    await asyncio.wait_for(survivor.idle(), 2)
    receipts = [(e, t) for e, t in zip(recorder.events, recorder.times, strict=True)
                if isinstance(e, Receipt)]
    assert [(e.kind, e.transport_message_id) for e, _ in receipts] == [
        (ReceiptKind.DELIVERED, "sb-m1"), (ReceiptKind.READ, "sb-m1")]
    assert receipts[1][1] - start >= 0.2  # each when it was due, not at once
    assert await survivor.resume("d1", "")  # reported once: nothing owed any more
    await asyncio.wait_for(survivor.idle(), 2)
    assert len([e for e in recorder.events if isinstance(e, Receipt)]) == 2
    await survivor.close()
