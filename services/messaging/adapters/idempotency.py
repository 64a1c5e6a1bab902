"""Idempotency-Key records, in the messaging store's own table `idempotency_keys`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    and_,
    delete,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kernel.clock import as_utc
from kernel.db import insert_for, writing
from services.messaging.domain.idempotency import DONE, PENDING, KeyRecord, Outcome, decide

idempotency_metadata = MetaData()
keys = Table(
    "idempotency_keys",
    idempotency_metadata,
    Column("scope", String(80), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("state", String(8), nullable=False),
    Column("status_code", Integer, nullable=False, default=0),
    Column("body", LargeBinary, nullable=False, default=b""),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


def _record(row: Any) -> KeyRecord:
    return KeyRecord(row.fingerprint, row.state, row.status_code, bytes(row.body),
                     as_utc(row.created_at))


def _match(scope: str, key: str) -> Any:
    return and_(keys.c.scope == scope, keys.c.key == key)


class IdempotencyKeys:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def claim(self, scope: str, key: str, fingerprint: str,
                    now: datetime) -> tuple[Outcome, KeyRecord | None]:
        async with writing(self.engine) as conn:
            if await self._insert(conn, scope, key, fingerprint, now):
                return Outcome.NEW, None
            row = (await conn.execute(select(keys).where(_match(scope, key))
                                      .with_for_update())).first()
            record = _record(row) if row else None
            outcome = decide(record, fingerprint, now)
            if outcome is Outcome.NEW:
                await conn.execute(update(keys).where(_match(scope, key)).values(
                    fingerprint=fingerprint, state=PENDING, status_code=0, body=b"",
                    created_at=now))
            return outcome, record

    async def _insert(self, conn: AsyncConnection, scope: str, key: str, fingerprint: str,
                      now: datetime) -> bool:
        dialect_insert = insert_for(conn.dialect.name)
        stmt = (dialect_insert(keys).values(scope=scope, key=key, fingerprint=fingerprint,
                                            state=PENDING, status_code=0, body=b"",
                                            created_at=now)
                .on_conflict_do_nothing(index_elements=["scope", "key"])
                .returning(keys.c.scope))
        return (await conn.execute(stmt)).first() is not None

    async def save(self, scope: str, key: str, fingerprint: str, status_code: int,
                   body: bytes) -> None:
        async with writing(self.engine) as conn:
            await conn.execute(update(keys).where(
                _match(scope, key), keys.c.fingerprint == fingerprint,
                keys.c.state == PENDING).values(state=DONE, status_code=status_code,
                                                body=body))

    async def release(self, scope: str, key: str, fingerprint: str) -> None:
        async with writing(self.engine) as conn:
            await conn.execute(delete(keys).where(
                _match(scope, key), keys.c.fingerprint == fingerprint,
                keys.c.state == PENDING))
