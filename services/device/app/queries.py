"""Read-only questions: the pool's numbers and the devices' states."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from services.device.app.views import DeviceDirectory

POOL_QUEUE = "pool"


@dataclass(frozen=True)
class PoolStatusView:
    available_devices: int
    total_devices: int
    queue_depth: int
    queue_type: str = POOL_QUEUE


async def pool_status(directory: DeviceDirectory,
                      queue_depth: Callable[[], Awaitable[int]]) -> PoolStatusView:
    counts = await directory.pool_counts()
    return PoolStatusView(counts.available, counts.total, await queue_depth())
