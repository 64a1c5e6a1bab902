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
GIVE_UP_AFTER = FAST_BACKOFF.cap * FAST_BACKOFF.attempts + 0.2


async def linked_device(parts: Parts, device_id: str) -> None:
    await register_device(RegisterDevice(device_id, "Shop", 7), parts.deps)
    pairing = await request_qr(RequestQr(device_id), parts.deps)
    await parts.sim.scan(pairing.pairing_ref, "15557770001")


async def until_types(parts: Parts, stream: str, expected: list[str]) -> list[str]:
    for _ in range(100):
        types = await parts.types(stream)
        if types == expected:
            return types
        await asyncio.sleep(0.02)
    return await parts.types(stream)


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


async def test_reconnecting_gives_up_into_failed_and_a_restart_brings_it_back(parts, unique):
    await linked_device(parts, unique)
    await parts.sim.drop(unique, "network lost", outage=GIVE_UP_AFTER)
    failed = [*LINKED, "DeviceDisconnected", "DeviceFailed"]
    assert await until_types(parts, f"device-{unique}", failed) == failed
    device = await get_device(GetDevice(unique), parts.deps)
    assert device.reason == f"could not reconnect after {FAST_BACKOFF.attempts} attempts"
    assert unique not in parts.sessions.held
    await asyncio.sleep(GIVE_UP_AFTER)  # the network is back
    restarted = await parts.sessions.restart(unique)
    assert restarted.is_connected and parts.deps.live.get(unique) is not None
    assert await parts.types(f"device-{unique}") == [*failed, "DeviceReconnected"]


async def test_a_logout_on_the_phone_is_not_reconnected(parts, unique):
    await linked_device(parts, unique)
    await parts.sim.logout_from_phone(unique)
    await asyncio.sleep(GIVE_UP_AFTER)
    assert await parts.types(f"device-{unique}") == [*LINKED, "DeviceDisconnected"]
    device = await get_device(GetDevice(unique), parts.deps)
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
