"""Reservations noted before they are made, so that a crash cannot strand one.

A send reserves credits (or quota) in billing, then queues its messages here. A process
killed between the two leaves billing holding a reservation for messages that never
existed, and no one to give it back: the release owed was only in memory. So the ids
are noted in this store before the reserve goes out, and a worker settles the notes:

- a note whose messages are all queued is done, and forgotten;
- a note left by another process (a previous run of this one, killed; or another
  replica) and older than `grace`, or by this one and older than any request can run,
  belongs to a request that is over: its ids that were never queued are released (a
  no-op for an id billing never reserved or already gave back; and a release before a
  late reserve makes billing refuse that reserve), then the note is forgotten.

Until then a note of this process is left alone: its request is still going, or gave
its reservation back itself (releases.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import JSON, Column, DateTime, MetaData, String, Table, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kernel.aggregate import stream_id_of
from kernel.clock import as_utc
from kernel.db import reading
from kernel.groupcommit import GroupCommit
from kernel.retry import report
from kernel.tables import events_table
from services.messaging.adapters.remote import RefusedByServiceError
from services.messaging.app.dependencies import Billing, Quota, QuotaUsage
from services.messaging.domain.model import Message

log = logging.getLogger(__name__)

CREDIT, QUOTA = "credit", "quota"
EVERY = 1.0  # seconds between sweeps
SWEEP = 500  # notes per sweep
# Longer than any send can take (billing's deadline, then the store's busy timeout):
# a note this process made that long ago is from a request that is over.
REQUEST_LIFETIME = timedelta(seconds=120)

journal_metadata = MetaData()
reservation_notes = Table(
    "reservation_notes",
    journal_metadata,
    Column("note_id", String(36), primary_key=True),
    Column("kind", String(8), nullable=False),
    Column("owner", String(200), nullable=False),  # user id (credit) or instance id (quota)
    Column("message_ids", JSON, nullable=False),
    Column("process", String(36), nullable=False),
    Column("noted_at", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class Note:
    note_id: str
    kind: str
    owner: str
    message_ids: list[str]
    process: str
    noted_at: datetime


class ReservationJournal:
    """`group`: notes of concurrent sends share transactions (with each other and with
    the sends' own saves), each committed before its reserve goes out."""

    def __init__(self, engine: AsyncEngine, grace: float,
                 group: GroupCommit | None = None) -> None:
        self.engine = engine
        self.grace = timedelta(seconds=grace)
        self.process = str(uuid.uuid4())
        self.group = group

    async def note(self, kind: str, owner: str, message_ids: Sequence[str]) -> str:
        note_id = str(uuid.uuid4())
        row = insert(reservation_notes).values(
            note_id=note_id, kind=kind, owner=owner, message_ids=list(message_ids),
            process=self.process, noted_at=datetime.now(UTC))

        async def write(conn: AsyncConnection) -> None:
            await conn.execute(row)

        if self.group is not None:
            await self.group.save([], write)
        else:
            async with self.engine.begin() as conn:
                await write(conn)
        return note_id

    @asynccontextmanager
    async def noted(self, kind: str, owner: str, message_ids: Sequence[str]
                    ) -> AsyncIterator[None]:
        """Note the reservation made inside the block; a refusal (nothing reserved)
        forgets the note at once."""
        note_id = await self.note(kind, owner, message_ids)
        try:
            yield
        except RefusedByServiceError:
            await self.forget([note_id])
            raise

    async def oldest(self) -> list[Note]:
        async with reading(self.engine) as conn:
            rows = await conn.execute(select(reservation_notes)
                                      .order_by(reservation_notes.c.noted_at).limit(SWEEP))
            return [Note(r.note_id, r.kind, r.owner, list(r.message_ids), r.process,
                         as_utc(r.noted_at)) for r in rows]

    async def queued(self, message_ids: list[str]) -> set[str]:
        """The ids whose message stream exists: the event store, not the history view
        (which a rebuild empties for a while), says what was queued."""
        streams = {stream_id_of(Message, m): m for m in message_ids}
        found: set[str] = set()
        async with reading(self.engine) as conn:
            for chunk in _chunks(list(streams), 500):
                rows = await conn.execute(select(events_table.c.stream_id).distinct()
                                          .where(events_table.c.stream_id.in_(chunk)))
                found.update(streams[s] for s in rows.scalars())
        return found

    async def forget(self, note_ids: list[str]) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(delete(reservation_notes)
                               .where(reservation_notes.c.note_id.in_(note_ids)))

    def abandoned(self, note: Note, now: datetime) -> bool:
        """Left by a request that cannot be running any more."""
        age = now - note.noted_at
        return age > (self.grace if note.process != self.process else REQUEST_LIFETIME)


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


class JournaledBilling:
    """The `Billing` port, noting each reservation before it is made."""

    def __init__(self, billing: Billing, journal: ReservationJournal) -> None:
        self.billing, self.journal = billing, journal

    async def reserve(self, user_id: int, message_ids: Sequence[str]) -> int:
        async with self.journal.noted(CREDIT, str(user_id), message_ids):
            return await self.billing.reserve(user_id, message_ids)

    async def release(self, user_id: int, message_ids: Sequence[str], reason: str) -> None:
        await self.billing.release(user_id, message_ids, reason)


class JournaledQuota:
    """The `Quota` port, noting each reservation before it is made."""

    def __init__(self, quota: Quota, journal: ReservationJournal) -> None:
        self.quota, self.journal = quota, journal

    async def reserve(self, instance_id: str, user_id: int,
                      message_ids: Sequence[str]) -> QuotaUsage:
        async with self.journal.noted(QUOTA, instance_id, message_ids):
            return await self.quota.reserve(instance_id, user_id, message_ids)

    async def release(self, instance_id: str, message_ids: Sequence[str],
                      reason: str) -> None:
        await self.quota.release(instance_id, message_ids, reason)


@dataclass
class NoteSettler:
    journal: ReservationJournal
    billing: Billing
    quota: Quota

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.sweep()
            except Exception as exc:  # one line while the store is away
                report(log, "reservation notes: sweep", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), EVERY)

    async def sweep(self) -> int:
        """Settle what can be settled of the oldest notes; returns how many."""
        notes, now = await self.journal.oldest(), datetime.now(UTC)
        queued = await self.journal.queued([m for n in notes for m in n.message_ids])
        done = []
        for note in notes:
            unqueued = [m for m in note.message_ids if m not in queued]
            if unqueued and not self.journal.abandoned(note, now):
                continue
            if unqueued:
                await self._release(note, unqueued)
            done.append(note.note_id)
        if done:
            await self.journal.forget(done)
        return len(done)

    async def _release(self, note: Note, message_ids: list[str]) -> None:
        reason = "left reserved by a send that did not finish"
        log.warning("releasing %s of %s %s: never queued by an unfinished send: %s",
                    note.kind, "user" if note.kind == CREDIT else "instance", note.owner,
                    message_ids)
        if note.kind == CREDIT:
            await self.billing.release(int(note.owner), message_ids, reason)
        else:
            await self.quota.release(note.owner, message_ids, reason)
