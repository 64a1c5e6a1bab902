"""Read-side shapes the queries return (the device directory's rows)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from services.device.domain.model import Device, DeviceStatus


@dataclass(frozen=True)
class DeviceView:
    device_id: str
    name: str
    owner_user_id: int
    pooled: bool
    transport: str
    status: DeviceStatus
    phone_number: str
    reason: str
    qr_expires_at: datetime | None
    updated_at: datetime | None = None

    @classmethod
    def of(cls, device: Device, updated_at: datetime | None = None) -> DeviceView:
        return cls(device.id, device.name, device.owner_user_id, device.pooled,
                   device.transport, device.status, device.phone_number, device.reason,
                   device.qr_expires_at, updated_at)


@dataclass(frozen=True)
class PoolCounts:
    total: int
    available: int


class DeviceDirectory(Protocol):
    """Every device's current state, kept beside its events (same transaction)."""

    async def list_devices(self, owner_user_id: int | None = None,
                   pooled_only: bool = False) -> list[DeviceView]: ...

    async def connected(self) -> list[DeviceView]: ...

    async def pool_counts(self) -> PoolCounts: ...
