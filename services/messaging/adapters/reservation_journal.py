"""Reservations noted before they are made, and the one way they are given back.

A send (app/charging.py) notes its charge in this store, reserves credits (or quota) in
billing, then queues its messages here. A process killed between the reserve and the
queueing leaves billing holding a reservation for messages that never existed; the note
survives it. `NoteSettler` is the app's `Reservations`, and settles every note:

- a send whose messages could not be queued gives its note back (`give_back`): the ids
  are released at once and the note forgotten; if billing or the store cannot take that
  now (an outage), the note is due, and each sweep tries again;
- a note whose messages are all queued is done, and forgotten;
- a note left by another process (a previous run of this one, killed; or another
  replica) and older than `grace`, or by this one and older than any request can run,
  belongs to a request that is over.

A due or abandoned note has its ids that were never queued released (a no-op for an id
billing never reserved or already gave back; and a release before a late reserve makes
billing refuse that reserve), then it is forgotten. The event store says what was
queued, so a message whose queueing committed after all (its reply lost with the
connection) keeps its reservation: a message is never both queued and refunded. Until
then a note of this process is left alone: its request is still going.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Column, DateTime, MetaData, String, Table, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from kernel.aggregate import stream_id_of
from kernel.clock import as_utc
from kernel.db import reading, writing
from kernel.gathering import retrieved
from kernel.groupcommit import Extra, GroupCommit
from kernel.ids import uuid7
from kernel.retry import report
from kernel.tables import events_table
from kernel.waits import waited
from services.messaging.app.dependencies import CREDIT, Billing, Charge, Note, Quota
from services.messaging.domain.model import Message

log = logging.getLogger(__name__)

EVERY = 1.0  # seconds between sweeps while the store holds notes
IDLE_SWEEP = 30.0  # seconds between sweeps of an empty store (another replica's notes)
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


class ReservationJournal:
    """`group`: notes of concurrent sends share transactions (with each other and with
    the sends' own saves), each committed before its reserve goes out; the notes that
    gather while the group commit writes a batch are written by the next in one
    statement."""

    def __init__(self, engine: AsyncEngine, grace: float,
                 group: GroupCommit | None = None) -> None:
        self.engine = engine
        self.grace = timedelta(seconds=grace)
        self.process = uuid7()
        self.group = group
        self._gathering: list[dict[str, Any]] | None = None  # rows not yet being written
        self._saving: asyncio.Future[None] | None = None  # the save that writes them

    async def note(self, charge: Charge) -> Note:
        note = Note(uuid7(), charge.kind, charge.owner, list(charge.message_ids),
                    self.process, datetime.now(UTC))
        row = {"note_id": note.note_id, "kind": note.kind, "owner": note.owner,
               "message_ids": note.message_ids, "process": note.process,
               "noted_at": note.noted_at}
        if self.group is None:
            async with writing(self.engine) as conn:
                await conn.execute(insert(reservation_notes), [row])
        else:
            await self._gathered(self.group, row)
        return note

    async def _gathered(self, group: GroupCommit, row: dict[str, Any]) -> None:
        """`row` written in the group commit's next batch, with every other note that
        comes before that batch is written: one statement for them all."""
        rows, saving = self._gathering, self._saving
        if rows is None or saving is None or saving.done():
            rows = self._gathering = []
            saving = self._saving = asyncio.ensure_future(group.save([], self._writer(rows)))
            saving.add_done_callback(retrieved)
        rows.append(row)
        # Shared: a caller going away does not take the other notes' write with it.
        await asyncio.shield(saving)

    def _writer(self, rows: list[dict[str, Any]]) -> Extra:
        async def write(conn: AsyncConnection) -> None:
            if self._gathering is rows:
                self._gathering = None  # notes from here on wait for the next batch
            await conn.execute(insert(reservation_notes), rows)

        return write

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
        async with writing(self.engine) as conn:
            await conn.execute(delete(reservation_notes)
                               .where(reservation_notes.c.note_id.in_(note_ids)))

    def abandoned(self, note: Note, now: datetime) -> bool:
        """Left by a request that cannot be running any more."""
        age = now - note.noted_at
        return age > (self.grace if note.process != self.process else REQUEST_LIFETIME)


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


@dataclass
class NoteSettler:
    """The app's `Reservations`: notes charges in the journal and settles them."""

    journal: ReservationJournal
    billing: Billing
    quota: Quota
    due: dict[str, str] = field(default_factory=dict)  # note id: the release's reason
    noted: asyncio.Event = field(default_factory=asyncio.Event)  # since the last sweep
    left: int = -1  # notes the last sweep saw and left (-1: not known)

    async def note(self, charge: Charge) -> Note:
        note = await self.journal.note(charge)
        self.noted.set()  # once committed, so the sweep it wakes sees it
        return note

    async def forget(self, note: Note) -> None:
        await self.journal.forget([note.note_id])

    async def give_back(self, note: Note, reason: str) -> None:
        try:
            await self._release(note, note.message_ids, reason)
            await self.journal.forget([note.note_id])
        except Exception as exc:
            report(log, f"release of {note.kind} {note.message_ids} (kept, to retry)", exc)
            self.due[note.note_id] = reason
            self.noted.set()

    async def run(self, stop: asyncio.Event) -> None:
        """A sweep every EVERY seconds while the store holds notes; when it holds none,
        the next sweep comes EVERY seconds after this process notes a charge (or after
        IDLE_SWEEP, for notes another replica left)."""
        while not stop.is_set():
            self.noted.clear()
            try:
                await self.sweep()
            except Exception as exc:  # one line while the store is away
                report(log, "reservation notes: sweep", exc)
                self.left = -1
            if not self.left and not self.due:
                await waited(stop, self.noted, seconds=IDLE_SWEEP)
            await waited(stop, seconds=EVERY)
        if self.due:  # noted in the store: the next run gives them back after the grace
            log.error("stopping with releases still owed: notes %s", list(self.due))

    async def sweep(self) -> int:
        """Settle what can be settled of the oldest notes; returns how many."""
        notes, now = await self.journal.oldest(), datetime.now(UTC)
        queued = await self.journal.queued([m for n in notes for m in n.message_ids])
        done = []
        for note in notes:
            unqueued = [m for m in note.message_ids if m not in queued]
            if unqueued and not self._over(note, now):
                continue
            if unqueued:
                await self._release_late(note, unqueued)
            done.append(note.note_id)
        if done:
            await self.journal.forget(done)
            for note_id in done:
                self.due.pop(note_id, None)
        self.left = len(notes) - len(done)
        return len(done)

    def _over(self, note: Note, now: datetime) -> bool:
        return note.note_id in self.due or self.journal.abandoned(note, now)

    async def _release_late(self, note: Note, message_ids: list[str]) -> None:
        owner = f"{'user' if note.kind == CREDIT else 'instance'} {note.owner}"
        if note.note_id in self.due:
            await self._release(note, message_ids, self.due[note.note_id])
            log.info("released %s of %s %s after a retry", note.kind, owner, message_ids)
            return
        log.warning("releasing %s of %s: never queued by an unfinished send: %s",
                    note.kind, owner, message_ids)
        await self._release(note, message_ids, "left reserved by a send that did not finish")

    async def _release(self, note: Note, message_ids: list[str], reason: str) -> None:
        if note.kind == CREDIT:
            await self.billing.release(int(note.owner), message_ids, reason)
        else:
            await self.quota.release(note.owner, message_ids, reason)
