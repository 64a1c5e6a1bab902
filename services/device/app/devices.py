"""Command handlers for devices: register, issue a QR, and record what the far side did."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from services.device.app.changes import Repo, change, retrying
from services.device.app.live import LiveDevice, LiveDevices
from services.device.app.transport import Banned, Linked, Pairing, Transport, Unlinked
from services.device.domain import errors
from services.device.domain.commands import RegisterDevice
from services.device.domain.model import Device

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


@dataclass
class DeviceDeps:
    devices: Repo[Device]
    transport: Transport
    live: LiveDevices
    clock: Clock


async def register_device(deps: DeviceDeps, cmd: RegisterDevice) -> Device:
    def register(device: Device) -> None:
        device.register(cmd.name, cmd.owner_user_id, cmd.pooled, deps.transport.name)

    return await change(deps.devices, cmd.device_id, register)


async def get_device(deps: DeviceDeps, device_id: str) -> Device:
    device = await deps.devices.get(device_id)
    if device.version == 0:
        raise errors.DeviceNotFoundError(f"device {device_id} not found", device_id=device_id)
    return device


async def request_qr(deps: DeviceDeps, device_id: str) -> Pairing:
    """A fresh pairing QR from the transport, recorded on the device."""

    async def attempt() -> Pairing:
        device = await get_device(deps, device_id)
        device.check_can_issue_qr()
        pairing = await deps.transport.start_pairing(device_id)
        device.issue_qr(pairing.pairing_ref, pairing.expires_at)
        await deps.devices.save(device)
        return pairing

    return await retrying(attempt)


async def record_link(deps: DeviceDeps, event: Linked) -> Device:
    device = await change(deps.devices, event.device_id,
                          lambda d: d.link(event.pairing_ref, event.phone_number, deps.clock()))
    deps.live.up(LiveDevice(device.id, device.pooled, device.phone_number))
    return device


async def record_unlink(deps: DeviceDeps, event: Unlinked) -> Device:
    deps.live.down(event.device_id)
    return await change(deps.devices, event.device_id, lambda d: d.disconnect(event.reason))


async def record_ban(deps: DeviceDeps, event: Banned) -> Device:
    deps.live.down(event.device_id)
    return await change(deps.devices, event.device_id, lambda d: d.ban(event.reason))


async def resume_session(deps: DeviceDeps, device_id: str, pooled: bool,
                         phone_number: str) -> bool:
    """After a restart: take a connected device's session up again, or record it lost."""
    if await deps.transport.resume(device_id, phone_number):
        deps.live.up(LiveDevice(device_id, pooled, phone_number))
        return True
    log.warning("device %s: session could not be resumed", device_id)
    await change(deps.devices, device_id, lambda d: d.disconnect("session lost on restart"))
    return False
