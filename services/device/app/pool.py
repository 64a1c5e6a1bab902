"""The shared pool: devices Messaging API sends go through.

With the simulator, the pool is `pool-1` … `pool-N`, registered and linked at start by
a simulated phone. Bringing it up is idempotent: a restart (or a second replica) finds
them registered and linked, and leaves their sessions to the lease holder. With a real
transport, the pool is made of admins' instances, linked by hand.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from services.device.app.devices import DeviceDeps, ensure_registered, request_qr
from services.device.domain import errors
from services.device.domain.commands import RegisterDevice, RequestQr
from services.device.domain.model import DeviceStatus

log = logging.getLogger(__name__)

# A phone scanning a QR: (pairing_ref, phone_number).
Scan = Callable[[str, str], Awaitable[object]]


def pool_device_id(index: int) -> str:
    return f"pool-{index}"


def pool_phone_number(index: int) -> str:
    """A fake E.164 number (digits) for a simulated pool phone: +1 555 …"""
    return f"1555{index:07d}"


async def ensure_pool(deps: DeviceDeps, size: int, owner_user_id: int, scan: Scan) -> None:
    for index in range(1, size + 1):
        try:
            await ensure_pooled_device(deps, index, owner_user_id, scan)
        except errors.DeviceError as exc:  # e.g. another replica linked it meanwhile
            log.warning("pool device %d not linked now: %s", index, exc)


async def ensure_pooled_device(deps: DeviceDeps, index: int, owner_user_id: int,
                               scan: Scan) -> None:
    device = await ensure_registered(RegisterDevice(
        pool_device_id(index), f"Pool device {index}", owner_user_id, pooled=True), deps)
    if device.status is DeviceStatus.BANNED:
        log.warning("pool device %s is banned: %s", device.id, device.reason)
        return
    if device.wants_session:
        return  # linked: its lease holder keeps (or reconnects) the session
    pairing = await request_qr(RequestQr(device.id), deps)
    await scan(pairing.pairing_ref, pool_phone_number(index))
