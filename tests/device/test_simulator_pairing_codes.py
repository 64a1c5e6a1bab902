"""The simulator's pairing codes: WhatsApp's 8 characters, living `pair_code_ttl`,
replaced by the next one, only for the number they were issued for, used once; a
linked device's QR and code both stop working. Meta templates are refused for good."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from services.device.adapters.simulator import SimulatorTransport
from services.device.app.transport import Linked, TransportError
from services.device.domain.errors import InvalidPairingRefError
from tests.device.test_simulator import Clock, Recorder


async def test_a_code_links_only_its_number_until_it_expires():
    clock, recorder = Clock(), Recorder()
    sim = SimulatorTransport(clock=clock, pair_code_ttl=180)
    sim.attach(recorder)
    first = await sim.request_pairing_code("d1", "+27 82 123 4567")
    assert re.fullmatch(r"[1-9A-HJ-NP-TV-Z]{8}", first.pairing_ref)
    assert first.expires_at - clock.now == timedelta(seconds=180)
    second = await sim.request_pairing_code("d1", "27821234567")
    with pytest.raises(InvalidPairingRefError, match="unknown, replaced"):
        await sim.enter_pairing_code(first.pairing_ref, "27821234567")
    with pytest.raises(InvalidPairingRefError, match="another number"):
        await sim.enter_pairing_code(second.pairing_ref, "27829999999")
    clock.advance(181)
    with pytest.raises(InvalidPairingRefError, match="expired"):
        await sim.enter_pairing_code(second.pairing_ref, "27821234567")
    third = await sim.request_pairing_code("d1", "27821234567")
    qr = await sim.start_pairing("d1")
    typed = f"{third.pairing_ref[:4]}-{third.pairing_ref[4:]}".lower()
    assert await sim.enter_pairing_code(typed, "+27821234567") == "d1"
    assert recorder.events == [Linked("d1", "", "27821234567")]  # the transport vouches
    assert sim.is_linked("d1")
    with pytest.raises(InvalidPairingRefError):
        await sim.enter_pairing_code(third.pairing_ref, "27821234567")  # used
    with pytest.raises(InvalidPairingRefError):
        await sim.scan(qr.pairing_ref, "27821234567")  # linked: the QR is gone too


async def test_a_meta_template_is_refused_for_good():
    sim = SimulatorTransport()
    sim.attach(Recorder())
    pairing = await sim.start_pairing("d1")
    await sim.scan(pairing.pairing_ref, "15550000001")
    with pytest.raises(TransportError, match="no Meta templates"):
        await sim.send_template("d1", "27821234567", {"name": "hello_world"}, "sb-1")
    assert sim.inbox("27821234567") == []
