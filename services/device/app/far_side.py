"""What a transport reports on its own, turned into commands on devices and dispatches."""

from __future__ import annotations

from dataclasses import dataclass

from services.device.app.changes import Repo
from services.device.app.devices import DeviceDeps, record_ban, record_link, record_unlink
from services.device.app.dispatch import record_receipt
from services.device.app.transport import Banned, Linked, Receipt, TransportEvent, Unlinked
from services.device.domain.dispatch import Dispatch


@dataclass
class FarSide:
    devices: DeviceDeps
    dispatches: Repo[Dispatch]

    async def __call__(self, event: TransportEvent) -> None:
        if isinstance(event, Receipt):
            await record_receipt(self.dispatches, event)
        elif isinstance(event, Linked):
            await record_link(self.devices, event)
        elif isinstance(event, Unlinked):
            await record_unlink(self.devices, event)
        elif isinstance(event, Banned):
            await record_ban(self.devices, event)
