"""The send ledger: which far-side message id each of our transport message ids became.

neonize cannot send a message under an id of ours (its `send_message` takes no id;
WhatsApp's id is chosen inside whatsmeow), and Meta's Cloud API answers with a wamid of
its own. So before a send the transport records its intent here, and after it the id
the far side gave the message. The rows live in the device service's own database (its
SQLite file, or its PostgreSQL schema), so every replica and every restart sees them:

- a resend of a message already sent (a crash between the send and `MessageSent`) is
  answered from the ledger and not sent again;
- a resend of a message whose earlier attempt was cut off mid-send (intent, no id) is
  refused with `OutcomeUnknownError`: the far side may have it, and nobody may receive
  a message twice;
- receipts, which name the far side's ids, find our transport message id again.

The whatsmeow transport also keeps each device's WhatsApp JID here (needed to pick the
device's session out of a shared PostgreSQL session store). The cloud transport uses
the ledger for the first two points.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Column, Float, Index, MetaData, String, Table, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.config import Settings
from kernel.db import engine_for, reading, writing
from services.device.app.transport import Sent, TransportError

ledger_metadata = MetaData()
sends = Table(
    "transport_sends", ledger_metadata,
    Column("transport_message_id", String(200), primary_key=True),
    Column("transport", String(32), nullable=False),
    Column("device_id", String(100), nullable=False),
    Column("remote_id", String(200), nullable=True),
    Column("sent_at", Float, nullable=True),
    Index("ix_transport_sends_remote_id", "remote_id"),
)
device_jids = Table(
    "whatsmeow_device_jids", ledger_metadata,
    Column("device_id", String(100), primary_key=True),
    Column("jid", String(200), nullable=False),
)

EngineFactory = Callable[[], Awaitable[AsyncEngine]]
Attempt = Callable[[], Awaitable[tuple[str, datetime]]]
OUTCOME_UNKNOWN = ("an earlier attempt to send this message was cut off before the far "
                   "side answered; it is not sent again, so that it cannot arrive twice")


class OutcomeUnknownError(TransportError):
    """The far side may or may not have the message: it is never sent again."""


@dataclass(frozen=True)
class LedgerEntry:
    transport_message_id: str
    device_id: str
    remote_id: str | None
    sent_at: datetime | None


class SendLedger:
    def __init__(self, engine_factory: EngineFactory) -> None:
        self._factory = engine_factory
        self._engine: AsyncEngine | None = None
        self._ready = asyncio.Lock()

    @classmethod
    def for_settings(cls, settings: Settings) -> SendLedger:
        """In the device service's own database (created on first use)."""
        return cls(lambda: engine_for("device", settings))

    async def engine(self) -> AsyncEngine:
        async with self._ready:
            if self._engine is None:
                engine = await self._factory()
                async with writing(engine) as conn:
                    await conn.run_sync(ledger_metadata.create_all)
                self._engine = engine
        return self._engine

    async def claim(self, transport: str, transport_message_id: str,
                    device_id: str) -> LedgerEntry | None:
        """Record the intent to send; the earlier entry when there already was one."""
        engine = await self.engine()
        try:
            async with writing(engine) as conn:
                await conn.execute(sends.insert().values(
                    transport_message_id=transport_message_id, transport=transport,
                    device_id=device_id))
            return None
        except IntegrityError:
            return await self.entry(transport_message_id)

    async def entry(self, transport_message_id: str) -> LedgerEntry | None:
        async with reading(await self.engine()) as conn:
            row = (await conn.execute(select(sends).where(
                sends.c.transport_message_id == transport_message_id))).first()
        if row is None:
            return None
        at = datetime.fromtimestamp(row.sent_at, UTC) if row.sent_at is not None else None
        return LedgerEntry(row.transport_message_id, row.device_id, row.remote_id, at)

    async def settle(self, transport_message_id: str, remote_id: str, at: datetime) -> None:
        async with writing(await self.engine()) as conn:
            await conn.execute(update(sends).where(
                sends.c.transport_message_id == transport_message_id).values(
                remote_id=remote_id, sent_at=at.timestamp()))

    async def release(self, transport_message_id: str) -> None:
        """The far side never got it: a later attempt may send it."""
        async with writing(await self.engine()) as conn:
            await conn.execute(delete(sends).where(
                sends.c.transport_message_id == transport_message_id,
                sends.c.remote_id.is_(None)))

    async def transport_ids(self, remote_ids: Sequence[str]) -> dict[str, str]:
        """remote id -> our transport message id, for the ones this ledger knows."""
        if not remote_ids:
            return {}
        async with reading(await self.engine()) as conn:
            rows = await conn.execute(select(sends.c.remote_id, sends.c.transport_message_id)
                                      .where(sends.c.remote_id.in_(list(remote_ids))))
            return {r.remote_id: r.transport_message_id for r in rows}

    async def remember_jid(self, device_id: str, jid: str) -> None:
        async with writing(await self.engine()) as conn:
            await conn.execute(delete(device_jids).where(device_jids.c.device_id == device_id))
            await conn.execute(device_jids.insert().values(device_id=device_id, jid=jid))

    async def jid_of(self, device_id: str) -> str | None:
        async with reading(await self.engine()) as conn:
            return (await conn.execute(select(device_jids.c.jid).where(
                device_jids.c.device_id == device_id))).scalar()

    async def forget_jid(self, device_id: str) -> None:
        async with writing(await self.engine()) as conn:
            await conn.execute(delete(device_jids).where(device_jids.c.device_id == device_id))

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None


async def send_once(ledger: SendLedger, transport: str, device_id: str,
                    transport_message_id: str, attempt: Attempt) -> Sent:
    """Send at most once per transport message id, whatever is retried or redelivered.

    `attempt` sends and returns (far-side id, time). Any exception it raises means the
    far side did not take the message, except OutcomeUnknownError (and a cancellation),
    which leave the intent behind so that the message is never sent again.
    """
    earlier = await ledger.claim(transport, transport_message_id, device_id)
    if earlier is not None:
        if earlier.remote_id is None or earlier.sent_at is None:
            raise OutcomeUnknownError(OUTCOME_UNKNOWN)
        return Sent(transport_message_id, earlier.sent_at)
    try:
        remote_id, at = await attempt()
    except OutcomeUnknownError:
        raise
    except Exception:
        await ledger.release(transport_message_id)
        raise
    await ledger.settle(transport_message_id, remote_id, at)
    return Sent(transport_message_id, at)
