"""The shared pool: admin-owned devices with fixed ids that Messaging API sends go through.

Bringing the pool up is idempotent: a restart finds the devices already registered and
connected, and only takes their sessions up again in memory.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from services.device.app.devices import (
    DeviceDeps,
    get_device,
    register_device,
    request_qr,
    resume_session,
)
from services.device.app.views import DeviceDirectory
from services.device.domain import errors
from services.device.domain.commands import RegisterDevice
from services.device.domain.model import Device, DeviceStatus

log = logging.getLogger(__name__)

# A phone scanning a QR: (pairing_ref, phone_number). The simulator has one; real
# transports wait for a person, so their pools are linked by hand.
Scan = Callable[[str, str], Awaitable[object]]


def pool_device_id(index: int) -> str:
    return f"pool-{index}"


def pool_phone_number(index: int) -> str:
    """A fake E.164 number (digits) for a simulated pool phone: +1 555 …"""
    return f"1555{index:07d}"


async def resume_sessions(deps: DeviceDeps, directory: DeviceDirectory) -> int:
    """Take every connected device's session up again; returns how many came back."""
    resumed = 0
    for view in await directory.connected():
        resumed += await resume_session(deps, view.device_id, view.pooled, view.phone_number)
    return resumed


async def ensure_pool(deps: DeviceDeps, size: int, owner_user_id: int, scan: Scan) -> None:
    for index in range(1, size + 1):
        await ensure_pooled_device(deps, index, owner_user_id, scan)


async def ensure_pooled_device(deps: DeviceDeps, index: int, owner_user_id: int,
                               scan: Scan) -> None:
    device = await _registered(deps, RegisterDevice(
        pool_device_id(index), f"Pool device {index}", owner_user_id, pooled=True))
    if device.status is DeviceStatus.BANNED:
        log.warning("pool device %s is banned: %s", device.id, device.reason)
        return
    if device.is_connected and deps.live.get(device.id) is not None:
        return
    if device.is_connected and await resume_session(deps, device.id, True, device.phone_number):
        return
    pairing = await request_qr(deps, device.id)
    await scan(pairing.pairing_ref, pool_phone_number(index))


async def _registered(deps: DeviceDeps, cmd: RegisterDevice) -> Device:
    try:
        return await register_device(deps, cmd)
    except errors.DeviceAlreadyRegisteredError:
        return await get_device(deps, cmd.device_id)
