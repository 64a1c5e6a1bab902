"""Devices: events in the store, and a directory row per device written in the same
transaction, so listing devices and counting the pool never replays streams.

The table is `device_directory_v3` (v2 added the session and instance columns, v3 the
last error); it is rebuilt from the events at start when it is empty but devices exist."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.aggregate import Repository
from kernel.clock import as_utc, utcnow
from kernel.codec import EventCodec
from kernel.db import reading, writing
from kernel.eventstore import EventStore
from services.device.app.views import DeviceView, PoolCounts
from services.device.domain.model import Device, DeviceStatus

directory_metadata = MetaData()

devices_table = Table(
    "device_directory_v3",
    directory_metadata,
    Column("device_id", String(100), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("owner_user_id", BigInteger, nullable=False, index=True),
    Column("pooled", Boolean, nullable=False),
    Column("transport", String(40), nullable=False),
    Column("status", String(20), nullable=False),
    Column("phone_number", String(32), nullable=False),
    Column("reason", String(500), nullable=False),
    Column("qr_expires_at", DateTime(timezone=True)),
    Column("version", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("session_linked", Boolean, nullable=False),
    Column("connected_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True)),
    Column("instance_number", BigInteger, nullable=False),
    Column("last_error", String(500), nullable=False),
    Column("last_error_at", DateTime(timezone=True)),
)


def _row(device: Device) -> dict[str, Any]:
    return {
        "device_id": device.id, "name": device.name, "owner_user_id": device.owner_user_id,
        "pooled": device.pooled, "transport": device.transport, "status": device.status.value,
        "phone_number": device.phone_number, "reason": device.reason[:500],
        "qr_expires_at": device.qr_expires_at, "version": device.version,
        "updated_at": utcnow(), "session_linked": device.session_linked,
        "connected_at": device.connected_at, "created_at": device.created_at,
        "instance_number": device.instance_number,
        "last_error": device.last_error[:500], "last_error_at": device.last_error_at,
    }


def _view(row: Any) -> DeviceView:
    return DeviceView(row.device_id, row.name, row.owner_user_id, row.pooled, row.transport,
                      DeviceStatus(row.status), row.phone_number, row.reason,
                      as_utc(row.qr_expires_at), as_utc(row.updated_at), row.session_linked,
                      as_utc(row.connected_at), as_utc(row.created_at), row.instance_number,
                      row.last_error, as_utc(row.last_error_at))


class DeviceStore:
    """The device repository and the directory view, committed together."""

    def __init__(self, store: EventStore, codec: EventCodec) -> None:
        self.engine: AsyncEngine = store.engine
        self.store = store
        self.repo = Repository(store, codec, Device)

    async def get(self, device_id: str, *, trust_cache: bool = False) -> Device:
        return await self.repo.get(device_id, trust_cache=trust_cache)

    async def save(self, device: Device) -> None:
        async with self.store.transaction() as conn:
            await self.repo.save(device, conn=conn)
            await conn.execute(delete(devices_table)
                               .where(devices_table.c.device_id == device.id))
            if device.exists:
                await conn.execute(insert(devices_table), [_row(device)])

    async def list_devices(self, owner_user_id: int | None = None,
                   pooled_only: bool = False) -> list[DeviceView]:
        query = select(devices_table).order_by(devices_table.c.device_id)
        if owner_user_id is not None:
            query = query.where(devices_table.c.owner_user_id == owner_user_id)
        if pooled_only:
            query = query.where(devices_table.c.pooled.is_(True))
        return await self._views(query)

    async def with_sessions(self) -> list[DeviceView]:
        c = devices_table.c
        reconnecting = and_(c.status == DeviceStatus.DISCONNECTED.value,
                            c.session_linked.is_(True))
        return await self._views(select(devices_table)
                                 .where(or_(c.status == DeviceStatus.CONNECTED.value,
                                            reconnecting))
                                 .order_by(c.device_id))

    async def find(self, device_id: str) -> DeviceView | None:
        found = await self._views(select(devices_table)
                                  .where(devices_table.c.device_id == device_id))
        return found[0] if found else None

    async def is_empty(self) -> bool:
        async with reading(self.engine) as conn:
            return not (await conn.execute(select(func.count()).select_from(devices_table)
                                           )).scalar_one()

    async def pool_counts(self, transport: str) -> PoolCounts:
        c = devices_table.c
        connected = c.status == DeviceStatus.CONNECTED.value
        linked = and_(c.session_linked.is_(True), or_(
            connected, c.status == DeviceStatus.DISCONNECTED.value))
        query = (select(func.count(), func.count().filter(connected),
                        func.count().filter(linked))
                 .where(c.pooled.is_(True), c.transport == transport))
        async with reading(self.engine) as conn:
            total, available, linked_count = (await conn.execute(query)).one()
        return PoolCounts(int(total), int(available or 0), int(linked_count or 0))

    async def rebuild(self, page: int = 5000) -> int:
        """Drop the directory and replay every device stream into it; returns devices."""
        history: dict[str, list[Any]] = {}
        position = 0
        while events := await self.repo.store.read_all(position, limit=page):
            position = events[-1].position
            for stored in events:
                if stored.stream_id.startswith(f"{Device.stream_prefix}-"):
                    device_id = stored.stream_id.split("-", 1)[1]
                    history.setdefault(device_id, []).append(self.repo.codec.decode(stored))
        rebuilt = [Device.rebuild(i, events) for i, events in history.items()]
        rows = [_row(device) for device in rebuilt if device.exists]
        async with writing(self.engine) as conn:
            await conn.execute(delete(devices_table))
            if rows:
                await conn.execute(insert(devices_table), rows)
        return len(rows)

    async def _views(self, query: Any) -> list[DeviceView]:
        async with reading(self.engine) as conn:
            return [_view(r) for r in (await conn.execute(query)).all()]
