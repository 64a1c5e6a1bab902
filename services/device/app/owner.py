"""The owner's commands on a device's session, each `handle(cmd, deps)`: logout and
restart, carried out by the sessions this replica holds (app/sessions.py)."""

from __future__ import annotations

from services.device.app.devices import DeviceDeps, wired
from services.device.domain.commands import LogoutDevice, RestartDevice
from services.device.domain.model import Device


async def logout_device(cmd: LogoutDevice, deps: DeviceDeps) -> Device:
    return await wired(deps.sessions, "sessions").logout(cmd.device_id)


async def restart_device(cmd: RestartDevice, deps: DeviceDeps) -> Device:
    return await wired(deps.sessions, "sessions").restart(cmd.device_id)
