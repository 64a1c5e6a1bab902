"""Sessions over a real store and the simulator: automatic reconnect with backoff after a
network loss, none after a logout, giving up into Failed, restart, logout, retirement."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from services.device.app.devices import get_device, register_device, request_qr
from services.device.domain import errors
from services.device.domain.commands import GetDevice, RegisterDevice, RequestQr
from services.device.domain.model import DeviceStatus
from tests.device.conftest import FAST_BACKOFF, Parts

LINKED = ["DeviceRegistered", "QrIssued", "DeviceConnected"]
NOTED = "DeviceErrorRecorded"  # changes no state: the lifecycle lists leave it out
UNREACHABLE = "WhatsApp (simulated) unreachable: the phone's network is down"
# each failed attempt also notes its reason (a write): room for that on a slow store
GIVE_UP_AFTER = FAST_BACKOFF.cap * FAST_BACKOFF.attempts + 1.0


async def linked_device(parts: Parts, device_id: str) -> None:
    await register_device(RegisterDevice(device_id, "Shop", 7), parts.deps)
    pairing = await request_qr(RequestQr(device_id), parts.deps)
    await parts.sim.scan(pairing.pairing_ref, "15557770001")


async def lifecycle(parts: Parts, stream: str) -> list[str]:
    return [t for t in await parts.types(stream) if t != NOTED]


async def until_types(parts: Parts, stream: str, expected: list[str]) -> list[str]:
    for _ in range(100):
        types = await lifecycle(parts, stream)
        if types == expected:
            return types
        await asyncio.sleep(0.02)
    return await lifecycle(parts, stream)


async def errors_noted(parts: Parts, stream: str) -> list[str]:
    return [parts.devices.repo.codec.decode(e).reason
            for e in await parts.store.read_stream(stream) if e.event_type == NOTED]


async def test_a_network_loss_reconnects_by_itself(parts, unique):
    await linked_device(parts, unique)
    await parts.sim.drop(unique, "network lost", outage=0.03)
    assert parts.deps.live.get(unique) is None
    assert await until_types(parts, f"device-{unique}", [
        *LINKED, "DeviceDisconnected", "DeviceReconnected"]) == [
        *LINKED, "DeviceDisconnected", "DeviceReconnected"]
    assert parts.deps.live.get(unique) is not None
    device = await get_device(GetDevice(unique), parts.deps)
    assert device.is_connected and device.phone_number == "15557770001"
    # what went wrong stays noted after it came back (and any failed attempt's reason)
    assert (await errors_noted(parts, f"device-{unique}"))[0] == "network lost"
    assert device.last_error in ("network lost", UNREACHABLE)
    assert device.last_error_at is not None


async def test_reconnecting_gives_up_into_failed_and_a_restart_brings_it_back(parts, unique):
    await linked_device(parts, unique)
    await parts.sim.drop(unique, "network lost", outage=GIVE_UP_AFTER)
    failed = [*LINKED, "DeviceDisconnected", "DeviceFailed"]
    assert await until_types(parts, f"device-{unique}", failed) == failed
    device = await get_device(GetDevice(unique), parts.deps)
    assert device.reason == f"could not reconnect after {FAST_BACKOFF.attempts} attempts"
    # each attempt's reason once (the same one again within a minute is not noted twice)
    assert await errors_noted(parts, f"device-{unique}") == [
        "network lost", UNREACHABLE, f"{device.reason}; before that: {UNREACHABLE}"]
    assert device.last_error == f"{device.reason}; before that: {UNREACHABLE}"
    assert unique not in parts.sessions.held
    await asyncio.sleep(GIVE_UP_AFTER)  # the network is back
    restarted = await parts.sessions.restart(unique)
    assert restarted.is_connected and parts.deps.live.get(unique) is not None
    assert await lifecycle(parts, f"device-{unique}") == [*failed, "DeviceReconnected"]


async def test_a_logout_on_the_phone_is_not_reconnected(parts, unique):
    await linked_device(parts, unique)
    await parts.sim.logout_from_phone(unique)
    await asyncio.sleep(GIVE_UP_AFTER)
    assert await parts.types(f"device-{unique}") == [*LINKED, "DeviceDisconnected", NOTED]
    device = await get_device(GetDevice(unique), parts.deps)
    assert device.last_error == "logged out from the phone"
    assert (device.status, device.session_linked) == (DeviceStatus.DISCONNECTED, False)
    with pytest.raises(errors.NotConnectedError):
        await parts.sessions.restart(unique)


async def test_the_owner_logs_out_and_restarts(parts, unique):
    await linked_device(parts, unique)
    restarted = await parts.sessions.restart(unique)
    assert restarted.is_connected
    assert await parts.types(f"device-{unique}") == [
        *LINKED, "DeviceDisconnected", "DeviceReconnected"]
    out = await parts.sessions.logout(unique)
    assert (out.status, out.session_linked) == (DeviceStatus.DISCONNECTED, False)
    assert not await parts.sim.resume(unique, "15557770001")  # the far side forgot it
    again = await parts.sessions.logout(unique)  # idempotent
    assert again.version == out.version
    pairing = await request_qr(RequestQr(unique), parts.deps)  # re-link with a new QR
    await parts.sim.scan(pairing.pairing_ref, "15557770002")
    linked = await get_device(GetDevice(unique), parts.deps)
    assert linked.phone_number == "15557770002"


async def test_a_retired_device_is_gone(parts, unique):
    await linked_device(parts, unique)
    await parts.sessions.retire(unique, "instance deleted")
    assert await parts.types(f"device-{unique}") == [*LINKED, "DeviceRetired"]
    assert parts.deps.live.get(unique) is None and unique not in parts.sessions.held
    with pytest.raises(errors.DeviceNotFoundError):
        await get_device(GetDevice(unique), parts.deps)
    assert await parts.devices.find(unique) is None
    assert await parts.sessions.retire(unique, "again") is not None  # idempotent
    assert await parts.types(f"device-{unique}") == [*LINKED, "DeviceRetired"]


async def test_a_fresh_qr_is_shown_again_and_an_old_one_replaced(parts, unique):
    await register_device(RegisterDevice(unique, "Shop", 7), parts.deps)
    first = await request_qr(RequestQr(unique), parts.deps)
    assert await request_qr(RequestQr(unique), parts.deps) == first
    expired = replace(parts.deps, clock=lambda: first.expires_at)  # the first QR's time
    second = await request_qr(RequestQr(unique), expired)
    assert second.pairing_ref != first.pairing_ref
    assert await parts.types(f"device-{unique}") == ["DeviceRegistered", "QrIssued",
                                                     "QrIssued"]


async def test_a_lease_pass_that_read_before_a_logout_does_not_reconnect_the_device(
        parts, unique, monkeypatch):
    """A pass reads which devices want a session, then acts on them: a device logged out
    from the phone in between is taken up from the stale read, found logged out, and let
    go, not reconnected (a reconnect that came through after a new link would let the
    new session go)."""
    await linked_device(parts, unique)
    before_logout = await parts.sessions.directory.with_sessions()
    assert unique in {view.device_id for view in before_logout}
    await parts.sim.logout_from_phone(unique)
    assert unique not in parts.sessions.held

    async def stale() -> list:
        return before_logout

    monkeypatch.setattr(parts.sessions.directory, "with_sessions", stale)
    await parts.sessions.reconcile()
    assert unique not in parts.sessions.held
    assert not parts.sessions.reconnects.active(unique)
    assert parts.deps.live.get(unique) is None
    device = await get_device(GetDevice(unique), parts.deps)
    assert (device.status, device.session_linked) == (DeviceStatus.DISCONNECTED, False)
