"""Read-side shapes the queries return (the device directory's rows)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from services.device.domain.model import Device, DeviceStatus, effective_status


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
    session_linked: bool = False
    connected_at: datetime | None = None
    created_at: datetime | None = None
    instance_number: int = 0
    last_error: str = ""
    last_error_at: datetime | None = None

    @classmethod
    def of(cls, device: Device, updated_at: datetime | None = None) -> DeviceView:
        return cls(device.id, device.name, device.owner_user_id, device.pooled,
                   device.transport, device.status, device.phone_number, device.reason,
                   device.qr_expires_at, updated_at, device.session_linked,
                   device.connected_at, device.created_at, device.instance_number,
                   device.last_error, device.last_error_at)

    def status_at(self, now: datetime) -> DeviceStatus:
        return effective_status(self.status, self.qr_expires_at, now)


@dataclass(frozen=True)
class PoolCounts:
    """Pooled devices of one transport: all, connected, and linked (connected or being
    reconnected: the ones that can take a pool message, now or soon)."""

    total: int
    available: int
    linked: int = 0


class DeviceDirectory(Protocol):
    """Every device's current state, kept beside its events (same transaction)."""

    async def list_devices(self, owner_user_id: int | None = None,
                           pooled_only: bool = False) -> list[DeviceView]: ...

    async def with_sessions(self) -> list[DeviceView]:
        """Devices some replica should hold a session for: connected or reconnecting."""
        ...

    async def find(self, device_id: str) -> DeviceView | None: ...

    async def pool_counts(self, transport: str) -> PoolCounts: ...
