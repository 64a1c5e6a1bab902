"""Read-only questions: the pool's numbers and the devices' states."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from services.device.app.devices import DeviceDeps, wired
from services.device.app.views import DeviceDirectory, DeviceView
from services.device.domain.commands import GetPoolStatus, ListDevices

POOL_QUEUE = "pool"


@dataclass(frozen=True)
class PoolStatusView:
    available_devices: int
    total_devices: int
    queue_depth: int
    queue_type: str = POOL_QUEUE
    linked_devices: int = 0
    transport: str = ""


async def pool_status(directory: DeviceDirectory, transport: str,
                      queue_depth: Callable[[], Awaitable[int]]) -> PoolStatusView:
    """The pool of the transport in use: a device linked under another transport (the
    simulator's pool after a switch to whatsmeow, say) can never take a message here."""
    counts = await directory.pool_counts(transport)
    return PoolStatusView(counts.available, counts.total, await queue_depth(),
                          linked_devices=counts.linked, transport=transport)


async def get_pool_status(query: GetPoolStatus, deps: DeviceDeps) -> PoolStatusView:
    return await pool_status(wired(deps.directory, "directory"), deps.transport.name,
                             wired(deps.queue_depth, "queue_depth"))


async def list_devices(query: ListDevices, deps: DeviceDeps) -> list[DeviceView]:
    return await wired(deps.directory, "directory").list_devices(query.owner_user_id,
                                                                 query.pooled_only)
