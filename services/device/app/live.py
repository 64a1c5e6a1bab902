"""The devices this process holds a live transport session for: the ones dispatch uses."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from kernel.waits import waited


@dataclass(frozen=True)
class LiveDevice:
    device_id: str
    pooled: bool
    phone_number: str


class LiveDevices:
    def __init__(self) -> None:
        self._by_id: dict[str, LiveDevice] = {}
        self._arrived = asyncio.Event()

    def up(self, device: LiveDevice) -> None:
        self._by_id[device.device_id] = device
        self._arrived.set()

    def down(self, device_id: str) -> None:
        self._by_id.pop(device_id, None)

    def get(self, device_id: str) -> LiveDevice | None:
        return self._by_id.get(device_id)

    def pooled(self) -> list[LiveDevice]:
        return [d for d in self._by_id.values() if d.pooled]

    async def wait_for_pooled(self, seconds: float) -> bool:
        """Wait until some pooled device is live, at most `seconds`."""
        if self.pooled():
            return True
        self._arrived.clear()
        await waited(self._arrived, seconds=seconds)
        return bool(self.pooled())
