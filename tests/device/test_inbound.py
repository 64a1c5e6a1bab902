"""Messages phones send to linked devices, over a real store and the simulator: recorded
once as MessageReceived, routed to the instance's owner or, on a pool device, to the
user who last sent to the sender through that device within the affinity window."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from kernel.clock import utcnow
from services.device.app.devices import DeviceDeps, register_device, request_qr
from services.device.app.inbound import route
from services.device.app.pool import ensure_pool, pool_phone_number
from services.device.app.simulation import simulate_inbound
from services.device.app.transport import Inbound, InboundType
from services.device.domain.commands import (
    DispatchMessage,
    RegisterDevice,
    RequestQr,
    SimulateInbound,
)
from services.device.domain.events import MessageReceived
from services.device.domain.inbound import inbound_key
from tests.device.conftest import Parts

SHOP = "15557770001"
PHONE = "27821234567"


async def linked_instance(parts: Parts, device_id: str, owner: int = 7) -> None:
    await register_device(RegisterDevice(device_id, "Shop", owner), sim_deps(parts))
    pairing = await request_qr(RequestQr(device_id), sim_deps(parts))
    await parts.sim.scan(pairing.pairing_ref, SHOP)


def sim_deps(parts: Parts) -> DeviceDeps:
    return replace(parts.deps, simulator=parts.sim)


async def received(parts: Parts, device_id: str, tmid: str) -> list[MessageReceived]:
    stored = await parts.store.read_stream(f"inbound-{inbound_key(device_id, tmid)}")
    return [parts.dispatches.codec.decode(e) for e in stored]


async def test_a_reply_to_an_instance_is_recorded_once_for_its_owner(parts, unique):
    await linked_instance(parts, unique)
    cmd = SimulateInbound(PHONE, "+" + SHOP, "yes please", quoted="sb-msg_1",
                          message_id=f"wa-{unique}")
    assert await simulate_inbound(cmd, sim_deps(parts)) == (unique, f"wa-{unique}")
    assert await simulate_inbound(cmd, sim_deps(parts)) == (unique, f"wa-{unique}")  # a retry
    [event] = await received(parts, unique, f"wa-{unique}")
    assert (event.user_id, event.from_phone, event.to_phone, event.chat_id) == (
        7, PHONE, SHOP, PHONE)
    assert (event.type, event.text, event.quoted_transport_message_id) == (
        "text", "yes please", "sb-msg_1")
    assert event.inbound_id.startswith("in_") and event.media is None


async def test_received_media_is_stored_and_referenced(parts, unique):
    await linked_instance(parts, unique)
    photo = b"\x89PNG fake picture " + unique.encode()
    cmd = SimulateInbound(PHONE, SHOP, "look", photo, "image/png", "pic.png",
                          group_id="120363000000000001@g.us", message_id=f"wa-{unique}")
    await simulate_inbound(cmd, sim_deps(parts))
    [event] = await received(parts, unique, f"wa-{unique}")
    assert (event.type, event.is_group, event.chat_id) == (
        "image", True, "120363000000000001@g.us")
    assert event.media is not None
    assert (event.media.mime_type, event.media.size_bytes, event.media.filename) == (
        "image/png", len(photo), "pic.png")
    assert await parts.inbound.media.get(event.media.sha256) == photo


async def test_a_message_for_a_session_that_is_down_waits_at_the_far_side(parts, unique):
    await linked_instance(parts, unique)
    await parts.sim.release(unique)  # e.g. the replica holding it died
    await simulate_inbound(SimulateInbound(PHONE, SHOP, "hello?", message_id=unique),
                           sim_deps(parts))
    assert await received(parts, unique, unique) == []
    assert await parts.sim.resume(unique, SHOP)
    await parts.sim.idle()
    assert [e.text for e in await received(parts, unique, unique)] == ["hello?"]


async def test_pool_replies_go_to_the_last_sender_within_the_window(parts, unique):
    await ensure_pool(parts.deps, 1, 99, parts.sim.scan)
    await parts.dispatcher.dispatch(DispatchMessage(unique, 42, PHONE, "hi", "pool"))
    pool_number = pool_phone_number(1)
    await simulate_inbound(SimulateInbound(PHONE, pool_number, "hi back",
                                           message_id=f"a-{unique}"), sim_deps(parts))
    await parts.affinity.flush()  # the same answer from the table as from memory
    await simulate_inbound(SimulateInbound(PHONE, pool_number, "again",
                                           message_id=f"b-{unique}"), sim_deps(parts))
    await simulate_inbound(SimulateInbound("27820000001", pool_number, "who is this",
                                           message_id=f"c-{unique}"), sim_deps(parts))
    owners = [(await received(parts, "pool-1", f"{x}-{unique}"))[0].user_id
              for x in "abc"]
    assert owners == [42, 42, 99]  # a stranger's message goes to the pool's owner


async def test_past_the_affinity_window_a_pool_reply_goes_to_the_pool_owner(parts, unique):
    await ensure_pool(parts.deps, 1, 99, parts.sim.scan)
    parts.affinity.note("pool-1", PHONE, 42, utcnow() - timedelta(hours=2))
    device = await parts.devices.get("pool-1")
    inbound = Inbound("pool-1", unique, PHONE, PHONE, InboundType.TEXT, utcnow(), "hi")
    hour = replace(parts.inbound, affinity_window=3600)
    day = replace(parts.inbound, affinity_window=86_400)
    assert (await route(inbound, device, hour), await route(inbound, device, day)) == (99, 42)
