"""Command handlers for devices (register, issue or reuse a QR, retire), each
`handle(cmd, deps)` with the one frozen `DeviceDeps` built in bootstrap.py."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from kernel.changes import Repo, change, retrying
from kernel.clock import Clock
from kernel.errors import DomainError
from services.device.app.live import LiveDevices
from services.device.app.transport import Pairing, Transport
from services.device.app.views import DeviceDirectory
from services.device.domain import errors
from services.device.domain.commands import (
    GetDevice,
    RegisterDevice,
    RequestQr,
    RetireDevice,
    SimulateInbound,
)
from services.device.domain.model import Device, DeviceStatus

if TYPE_CHECKING:
    from services.device.app.number_cache import NumberCache

log = logging.getLogger(__name__)

T = TypeVar("T")

# A QR about to expire is not handed out again: the phone needs time to scan it.
QR_REUSE_MARGIN = timedelta(seconds=5)


class InstanceSource(Protocol):
    async def registration(self, device_id: str) -> RegisterDevice | None:
        """The registration of the instance `device_id` as auth has it now; None if
        auth has no such instance."""


class SessionControl(Protocol):
    """The sessions this replica holds (app/sessions.py), as the owner's commands use them."""

    async def logout(self, device_id: str) -> Device: ...

    async def restart(self, device_id: str) -> Device: ...


class PhoneSimulator(Protocol):
    """The simulated phones (adapters/simulator/): only a simulator service has them."""

    async def scan(self, pairing_ref: str, phone_number: str) -> str: ...

    async def phone_sends(self, cmd: SimulateInbound) -> tuple[str, str]: ...

    async def enter_pairing_code(self, code: str, phone_number: str) -> str: ...

    async def drop(self, device_id: str, reason: str, outage: float = 0.0) -> None: ...

    async def logout_from_phone(self, device_id: str, reason: str) -> None: ...

    async def ban(self, device_id: str, reason: str) -> None: ...

    def inbox(self, phone_number: str) -> Sequence[Any]: ...


@dataclass(frozen=True)
class DeviceDeps:
    """bootstrap.py builds the core first (devices to clock, instances), which the
    sessions take, then the service's deps from it with the ports that need the sessions
    or the dispatch consumer (`dataclasses.replace`); the servicer takes only those."""

    devices: Repo[Device]
    transport: Transport
    live: LiveDevices
    clock: Clock
    instances: InstanceSource | None = None  # where an instance not heard of yet is asked
    directory: DeviceDirectory | None = None  # the read side: lists and pool counts
    sessions: SessionControl | None = None
    queue_depth: Callable[[], Awaitable[int]] | None = None  # messages waiting for dispatch
    render_qr: Callable[[str], str] | None = None  # a pairing reference as a PNG data URL
    simulator: PhoneSimulator | None = None  # None unless the transport is the simulator
    numbers: NumberCache | None = None  # who is on WhatsApp, kept a while


def wired(port: T | None, name: str) -> T:
    """A port of the service's deps: bootstrap.py always sets it, only the core deps the
    sessions hold lack it (a wiring mistake, not a caller's)."""
    if port is None:
        raise RuntimeError(f"DeviceDeps.{name} is not wired")
    return port


async def register_device(cmd: RegisterDevice, deps: DeviceDeps) -> Device:
    def register(device: Device) -> None:
        device.register(cmd.name, cmd.owner_user_id, cmd.pooled, deps.transport.name,
                        cmd.instance_number, cmd.created_at)

    return await change(deps.devices, cmd.device_id, register)


async def ensure_registered(cmd: RegisterDevice, deps: DeviceDeps) -> Device:
    """Idempotent registration (a redelivered InstanceCreated, a restart's pool); a
    retired device stays retired."""
    try:
        return await register_device(cmd, deps)
    except errors.DeviceAlreadyRegisteredError:
        return await deps.devices.get(cmd.device_id)


async def get_device(query: GetDevice, deps: DeviceDeps) -> Device:
    device_id = query.device_id
    device = await deps.devices.get(device_id)
    if device.status is DeviceStatus.NEW and deps.instances is not None:
        device = await _learn(deps, deps.instances, device)
    if not device.exists:
        raise errors.DeviceNotFoundError(f"device {device_id} not found", device_id=device_id)
    return device


async def _learn(deps: DeviceDeps, source: InstanceSource, device: Device) -> Device:
    """Read-your-writes across services: an instance auth has just created may be asked
    for before its InstanceCreated has reached this service; auth is asked, and the
    device registered as that event would register it (the event then changes nothing)."""
    cmd = await source.registration(device.id)
    return device if cmd is None else await ensure_registered(cmd, deps)


def _reusable(device: Device, now: datetime) -> Pairing | None:
    expires = device.qr_expires_at
    if device.status is DeviceStatus.AWAITING_SCAN and expires and expires - now > QR_REUSE_MARGIN:
        return Pairing(device.pairing_ref, expires)
    return None


async def request_qr(cmd: RequestQr, deps: DeviceDeps) -> Pairing:
    """The current QR while it is fresh enough, else a new one (rotation: the reference
    changes and the old QR stops working), recorded on the device."""
    device_id = cmd.device_id

    async def attempt() -> Pairing:
        device = await get_device(GetDevice(device_id), deps)
        device.check_can_issue_qr()
        current = _reusable(device, deps.clock())
        if current is not None:
            return current
        pairing = await asking_far_side(deps, device_id, deps.transport.start_pairing)
        device.issue_qr(pairing.pairing_ref, pairing.expires_at)
        await deps.devices.save(device)
        return pairing

    return await retrying(attempt)


async def asking_far_side(deps: DeviceDeps, device_id: str,
                          call: Callable[[str], Awaitable[T]]) -> T:
    """The transport's answer for the device (a QR, a pairing code). When the far side
    cannot be reached or refuses (a domain error of the transport's), that is noted as
    the device's last error and the refusal names it as the cause (`device_error`),
    whatever its category."""
    try:
        return await call(device_id)
    except (errors.UnsupportedByTransportError, errors.AlreadyConnectedError):
        raise  # the request's fault or the device's state, not the far side's
    except DomainError as exc:
        cause = exc.message
        await change(deps.devices, device_id, lambda d: d.record_error(cause, deps.clock()))
        exc.details["device_error"] = cause
        raise


async def retire_device(cmd: RetireDevice, deps: DeviceDeps) -> Device | None:
    """The instance was deleted: log its session out and close the device for good."""
    device_id, reason = cmd.device_id, cmd.reason
    device = await deps.devices.get(device_id)
    if device.version == 0:
        return None
    deps.live.down(device_id)
    await deps.transport.logout(device_id)
    return await change(deps.devices, device_id, lambda d: d.retire(reason))
