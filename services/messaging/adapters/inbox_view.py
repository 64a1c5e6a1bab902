"""The inbox view: one row per received message, written only by the inbox projection
(a row is the event's fields: applying it again, or in a rebuild, gives the same row),
read by the inbox pages and the media downloads' owner check."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    MetaData,
    String,
    Table,
    Text,
    func,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kernel.clock import as_utc
from kernel.db import insert_for, reading
from services.messaging.domain.inbox import InboundEntry

inbox_metadata = MetaData()

inbox_messages = Table(
    "inbox_messages",
    inbox_metadata,
    Column("message_id", String(40), primary_key=True),
    Column("user_id", BigInteger, nullable=False),
    Column("device_id", String(100), nullable=False),
    Column("transport_message_id", String(200), nullable=False),
    Column("from_phone", String(64), nullable=False),
    Column("from_lid", String(64), nullable=False),
    Column("to_phone", String(32), nullable=False),
    Column("chat_id", String(128), nullable=False),
    Column("is_group", Boolean, nullable=False),
    Column("type", String(16), nullable=False),
    Column("text", Text, nullable=False),
    Column("media_sha256", String(64), nullable=False),
    Column("media_mime_type", String(255), nullable=False),
    Column("media_size_bytes", BigInteger, nullable=False),
    Column("media_filename", Text, nullable=False),
    Column("quoted_transport_message_id", String(200), nullable=False),
    Column("latitude", Float, nullable=False),
    Column("longitude", Float, nullable=False),
    Column("vcard", Text, nullable=False),
    Column("from_name", Text, nullable=False, server_default=""),
    Column("sent_at", DateTime(timezone=True)),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Index("ix_inbox_messages_user_received", "user_id", "received_at"),
    Index("ix_inbox_messages_device_received", "device_id", "received_at"),
)
t = inbox_messages
FIELDS = [f.name for f in dataclasses.fields(InboundEntry)]


def row_of(entry: InboundEntry) -> dict[str, Any]:
    return dataclasses.asdict(entry)


def entry_of(row: Any) -> InboundEntry:
    values = {name: getattr(row, name) for name in FIELDS}
    received_at = as_utc(row.received_at)
    assert received_at is not None
    return InboundEntry(**{**values, "received_at": received_at,
                           "sent_at": as_utc(row.sent_at)})


async def insert_entries(conn: AsyncConnection, entries: Sequence[InboundEntry]) -> None:
    """The rows of new messages; one already there is left as it is."""
    if entries:
        stmt = insert_for(conn.dialect.name)(t).on_conflict_do_nothing(
            index_elements=["message_id"])
        await conn.execute(stmt, [row_of(e) for e in entries])


class InboxView:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def get(self, message_id: str) -> InboundEntry | None:
        async with reading(self.engine) as conn:
            row = (await conn.execute(select(t).where(t.c.message_id == message_id))).first()
        return entry_of(row) if row else None

    async def search(self, user_id: int, *, offset: int, limit: int, number: str = "",
                     since: datetime | None = None, device_id: str = ""
                     ) -> tuple[list[InboundEntry], int]:
        """A page of the user's messages, newest first, and how many match in all."""
        where = [t.c.user_id == user_id]
        if device_id:
            where.append(t.c.device_id == device_id)
        if number:
            where.append(or_(t.c.from_phone == number, t.c.chat_id == number))
        if since is not None:
            where.append(t.c.received_at >= as_utc(since))
        page = (select(t).where(*where)
                .order_by(t.c.received_at.desc(), t.c.message_id.desc())
                .offset(offset).limit(limit))
        async with reading(self.engine) as conn:
            rows = (await conn.execute(page)).all()
            total = await conn.execute(select(func.count()).select_from(t).where(*where))
        return [entry_of(r) for r in rows], int(total.scalar_one())
