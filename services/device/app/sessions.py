"""The device sessions this replica holds: leases, taking sessions up and putting them
down, what the far side reports about them, reconnects, logout and restart.

A session is live here only while this replica holds the device's lease. Every
`ttl / 3` the replica renews its leases and takes up devices that want a session
(connected or reconnecting) whose lease is free: those of a replica that died.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Any

from kernel.changes import change
from kernel.retry import report
from kernel.waits import waited
from services.device.app.devices import DeviceDeps, get_device, retire_device
from services.device.app.leases import Leases
from services.device.app.live import LiveDevice
from services.device.app.reconnect import Reconnects
from services.device.app.transport import (
    Banned,
    Linked,
    Reconnected,
    SessionFailed,
    Trouble,
    Unlinked,
)
from services.device.app.views import DeviceDirectory
from services.device.domain import errors
from services.device.domain.commands import GetDevice, RetireDevice
from services.device.domain.model import Device, DeviceStatus

log = logging.getLogger(__name__)


class Placement(StrEnum):
    LOCAL = "local"  # live in this replica
    AWAY = "away"  # connected in another replica: hand it there
    RECONNECTING = "reconnecting"  # the session dropped and is coming back: wait
    NOWHERE = "nowhere"  # no linked session anywhere


def _live(device: Any) -> LiveDevice:
    return LiveDevice(getattr(device, "device_id", "") or device.id, device.pooled,
                      device.phone_number)


Change = Callable[[Device], None]
BEFORE = "; before that: "


def _fail_unless_failed(reason: str) -> Change:
    def apply(device: Device) -> None:
        if device.status is not DeviceStatus.FAILED:
            device.fail(reason)
    return apply


def _given_up(reason: str, now: datetime) -> Change:
    """Failed; the last error says so, and what the far side said before it."""
    def apply(device: Device) -> None:
        before = device.last_error.rsplit(BEFORE, 1)[-1]
        said = f"{reason}{BEFORE}{before}" if before else reason
        _noting(said, now, _fail_unless_failed(reason))(device)
    return apply


def _noting(reason: str, now: datetime, apply: Change) -> Change:
    """`apply`, then the reason noted as the device's last error (with the time)."""
    def both(device: Device) -> None:
        apply(device)
        device.record_error(reason, now)
    return both


class Sessions:
    def __init__(self, deps: DeviceDeps, directory: DeviceDirectory, leases: Leases,
                 reconnects: Reconnects) -> None:
        self.deps = deps
        self.directory = directory
        self.leases = leases
        self.reconnects = reconnects
        self.held: set[str] = set()

    # What the far side reports

    async def linked(self, event: Linked) -> None:
        """A new link supersedes any reconnect still trying for the old session: one
        that came through after it would find the device linked anew, fail to record a
        reconnect, and let the new session go."""
        self.reconnects.cancel(event.device_id)
        device = await change(self.deps.devices, event.device_id,
                              lambda d: d.link(event.pairing_ref, event.phone_number,
                                               self.deps.clock()))
        if await self.leases.acquire(device.id):
            self.held.add(device.id)
            self.deps.live.up(_live(device))
        else:  # the lease holder takes the session up on its next pass
            await self.deps.transport.release(device.id)

    async def unlinked(self, event: Unlinked) -> None:
        self.deps.live.down(event.device_id)

        def apply(device: Device) -> None:
            if event.logged_out:
                device.log_out(event.reason)
            elif device.is_connected:
                device.disconnect(event.reason)

        device = await change(self.deps.devices, event.device_id,
                              _noting(event.reason, self.deps.clock(), apply))
        if device.wants_session and device.id in self.held:
            self._reconnect(device)
        elif not device.wants_session:
            await self._let_go(device.id)

    async def reconnected(self, event: Reconnected) -> None:
        self.reconnects.cancel(event.device_id)
        await self._record_reconnect(event.device_id)

    async def banned(self, event: Banned) -> None:
        await self._let_go(event.device_id)
        await change(self.deps.devices, event.device_id,
                     _noting(event.reason, self.deps.clock(), lambda d: d.ban(event.reason)))

    async def failed(self, event: SessionFailed) -> None:
        await self._let_go(event.device_id)
        await change(self.deps.devices, event.device_id,
                     _noting(event.reason, self.deps.clock(), _fail_unless_failed(event.reason)))

    async def trouble(self, event: Trouble) -> None:
        """Noted as the device's last error; never fails the caller (a resume that
        reports why it failed), as the note only informs."""
        try:
            await change(self.deps.devices, event.device_id,
                         lambda d: d.record_error(event.reason, self.deps.clock()))
        except Exception as exc:
            report(log, f"device {event.device_id}: error not noted", exc)

    # Leases

    async def reconcile(self) -> None:
        """Renew what we hold, drop what we lost, take up what nobody holds."""
        wanted = {v.device_id: v for v in await self.directory.with_sessions()}
        for device_id in list(self.held):
            if device_id not in wanted:
                await self._let_go(device_id)
            elif not await self.leases.renew(device_id):
                log.warning("device %s: lease lost to another replica", device_id)
                await self._put_down(device_id)
        for device_id, view in wanted.items():
            if device_id not in self.held and await self.leases.acquire(device_id):
                await self._take_up(view)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.reconcile()
            except Exception as exc:
                report(log, "device sessions: lease pass", exc)
            await waited(stop, seconds=self.leases.ttl / 3)

    async def shutdown(self) -> None:
        """Graceful stop: hand every session back at once (no wait for leases to lapse)."""
        await self.reconnects.close()
        for device_id in list(self.held):
            await self._let_go(device_id)

    async def _take_up(self, view: Any) -> None:
        self.held.add(view.device_id)
        if view.status is DeviceStatus.CONNECTED and await self.deps.transport.resume(
                view.device_id, view.phone_number):
            self.deps.live.up(_live(view))
            return
        device = await change(self.deps.devices, view.device_id,
                              lambda d: d.disconnect("session lost; reconnecting")
                              if d.is_connected else None)
        if not device.wants_session:  # logged out (or retired) since the pass read it
            await self._let_go(device.id)
            return
        self._reconnect(device)

    async def _put_down(self, device_id: str) -> None:
        self.reconnects.cancel(device_id)
        self.deps.live.down(device_id)
        self.held.discard(device_id)
        await self.deps.transport.release(device_id)

    async def _let_go(self, device_id: str) -> None:
        held = device_id in self.held
        await self._put_down(device_id)
        if held:
            await self.leases.release(device_id)

    # Reconnecting

    def _reconnect(self, device: Any) -> None:
        device_id, phone = device.id, device.phone_number

        async def attempt(n: int) -> bool:
            if device_id not in self.held:
                return True  # not ours any more: stop
            if not await self.deps.transport.resume(device_id, phone):
                log.info("device %s: reconnect attempt %d failed", device_id, n)
                return False
            await self._record_reconnect(device_id)
            return True

        async def give_up(attempts: int) -> None:
            await self._let_go(device_id)
            reason = f"could not reconnect after {attempts} attempts"
            await change(self.deps.devices, device_id, _given_up(reason, self.deps.clock()))

        self.reconnects.start(device_id, attempt, give_up)

    async def _record_reconnect(self, device_id: str) -> None:
        try:
            device = await change(self.deps.devices, device_id,
                                  lambda d: d.reconnect(self.deps.clock()))
        except errors.DeviceError as exc:  # logged out or re-linked meanwhile
            log.info("device %s: reconnect not recorded: %s", device_id, exc)
            await self._let_go(device_id)
            return
        self.deps.live.up(_live(device))

    # The owner's commands

    async def logout(self, device_id: str) -> Device:
        await get_device(GetDevice(device_id), self.deps)
        await self._let_go(device_id)
        await self.deps.transport.logout(device_id)
        return await change(self.deps.devices, device_id,
                            lambda d: d.log_out("logged out by the owner"))

    async def restart(self, device_id: str) -> Device:
        device = await get_device(GetDevice(device_id), self.deps)
        device.check_can_reconnect()
        await self._put_down(device_id)
        if not await self.leases.acquire(device_id):
            raise errors.DeviceElsewhereError(
                f"device {device_id} is served by another replica; retry", device_id=device_id)
        self.held.add(device_id)
        if not await self.deps.transport.resume(device_id, device.phone_number):
            device = await change(self.deps.devices, device_id,
                                  lambda d: d.disconnect("restarting: session unreachable")
                                  if d.is_connected else None)
            self._reconnect(device)
            return device
        device = await change(self.deps.devices, device_id, self._restarted)
        self.deps.live.up(_live(device))
        return device

    async def retire(self, device_id: str, reason: str) -> Device | None:
        await self._let_go(device_id)
        return await retire_device(RetireDevice(device_id, reason), self.deps)

    def _restarted(self, device: Device) -> None:
        if device.is_connected:
            device.disconnect("restarting")
        device.reconnect(self.deps.clock())

    # Dispatch's questions

    async def placement(self, device_id: str) -> Placement:
        if self.deps.live.get(device_id) is not None:
            return Placement.LOCAL
        view = await self.directory.find(device_id)
        if view is None or not view.session_linked:
            return Placement.NOWHERE
        if view.status is DeviceStatus.CONNECTED:
            return Placement.AWAY
        if view.status is DeviceStatus.DISCONNECTED:
            return Placement.RECONNECTING
        return Placement.NOWHERE

    async def pool_elsewhere(self) -> bool:
        """Pooled devices are connected in other replicas (or none is live here)."""
        counts = await self.directory.pool_counts(self.deps.transport.name)
        return counts.available > len(self.deps.live.pooled())
