"""The simulated phones' commands (a simulator service only), each `handle(cmd, deps)`:
scan a QR, drop, log out or ban from the phone's side, send a message to a linked
device's number, read a phone's inbox."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from services.device.app.devices import DeviceDeps, PhoneSimulator, get_device
from services.device.domain.commands import (
    GetDevice,
    GetSimulatorInbox,
    SimulateInbound,
    SimulatePhoneEvent,
    SimulateScan,
)
from services.device.domain.errors import InvalidDeviceIdError, SimulatorOnlyError
from services.device.domain.model import Device


def _simulator(deps: DeviceDeps) -> PhoneSimulator:
    if deps.simulator is None:
        raise SimulatorOnlyError("this device service does not run the simulator")
    return deps.simulator


async def simulate_scan(cmd: SimulateScan, deps: DeviceDeps) -> Device:
    device_id = await _simulator(deps).scan(cmd.pairing_ref, cmd.phone_number)
    return await get_device(GetDevice(device_id), deps)


async def simulate_phone_event(cmd: SimulatePhoneEvent, deps: DeviceDeps) -> Device:
    sim, device_id, reason = _simulator(deps), cmd.device_id, cmd.reason
    await get_device(GetDevice(device_id), deps)
    if cmd.kind == "drop":
        await sim.drop(device_id, reason or "connection lost", cmd.outage_seconds)
    elif cmd.kind == "logout":
        await sim.logout_from_phone(device_id, reason or "logged out from the phone")
    elif cmd.kind == "ban":
        await sim.ban(device_id, reason or "banned by WhatsApp")
    else:
        raise InvalidDeviceIdError("kind must be one of drop, logout, ban")
    return await deps.devices.get(device_id)


async def simulate_inbound(cmd: SimulateInbound, deps: DeviceDeps) -> tuple[str, str]:
    """(device id, transport message id); the device has recorded the message when this
    returns if its session is up in this replica, else the far side holds it until it is."""
    if not cmd.text and cmd.media is None:
        raise InvalidDeviceIdError("a message needs text or media")
    return await _simulator(deps).phone_sends(cmd)


async def get_simulator_inbox(query: GetSimulatorInbox, deps: DeviceDeps) -> Sequence[Any]:
    return _simulator(deps).inbox(query.phone_number)
