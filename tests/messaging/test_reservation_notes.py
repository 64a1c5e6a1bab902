"""Reservation notes on a real SQLite store, the one way a reservation is given back:
a send whose messages were not queued gives its note back at once, or, while billing
cannot take it, on a later sweep that skips what was queued after all; a note left by a
process that died before queueing its messages is settled by the next one, which gives
back exactly the ids that were never queued; a note of the running process is left to
its request."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.db import create_engine
from kernel.errors import RemoteError
from kernel.eventstore import EventStore
from kernel.groupcommit import GroupCommit
from services.messaging.adapters.codec import messaging_codec
from services.messaging.adapters.reservation_journal import NoteSettler, ReservationJournal
from services.messaging.app.charging import charge_and_queue
from services.messaging.app.dependencies import CREDIT, QUOTA, Charge, QuotaUsage
from services.messaging.domain.errors import RefusedByServiceError
from services.messaging.domain.events import MessageQueued


class Releases:
    """Billing's two ports as far as releasing goes: records what it was asked, and
    refuses every reserve as an account without credits would."""

    def __init__(self, failing: bool = False) -> None:
        self.credits: list[tuple[int, list[str]]] = []
        self.reasons: list[str] = []
        self.quota: list[tuple[str, list[str]]] = []
        self.failing = failing

    async def reserve(self, *_: object) -> int:
        raise RefusedByServiceError(RemoteError(
            grpc.StatusCode.FAILED_PRECONDITION, "INSUFFICIENT_CREDITS",
            "Required: 1, Available: 0", {}))

    async def release(self, owner: int, message_ids: Sequence[str], reason: str) -> None:
        if self.failing:
            raise ConnectionError("billing is down")
        self.credits.append((owner, list(message_ids)))
        self.reasons.append(reason)


class QuotaReleases(Releases):
    async def reserve(self, *_: object) -> QuotaUsage:  # type: ignore[override]
        raise NotImplementedError

    async def release(self, owner: str, message_ids: Sequence[str],  # type: ignore[override]
                      reason: str) -> None:
        self.quota.append((owner, list(message_ids)))


async def queue(engine: AsyncEngine, message_id: str) -> None:
    event = MessageQueued(message_id, 7, "27821234567", "hi", "pool", "", datetime.now(UTC))
    await EventStore(engine).append(f"message-{message_id}", 0,
                                    [messaging_codec().encode(event)])


def credit(*message_ids: str) -> Charge:
    return Charge(CREDIT, "7", list(message_ids))


async def test_a_dead_process_notes_give_back_only_what_was_never_queued(
        journal_engine: AsyncEngine, unique: str) -> None:
    engine = journal_engine
    dead = ReservationJournal(engine, grace=0.0)
    queued, stranded, instance_msg = (f"msg_{unique}{n}" for n in "abc")
    await dead.note(credit(queued, stranded))
    await dead.note(Charge(QUOTA, "inst-1", [instance_msg]))
    await queue(engine, queued)
    billing, quota = Releases(), QuotaReleases()
    settler = NoteSettler(ReservationJournal(engine, grace=0.0), billing, quota)
    assert await settler.sweep() == 2
    assert (billing.credits, quota.quota) == ([(7, [stranded])], [("inst-1", [instance_msg])])
    assert await settler.journal.oldest() == []


async def test_a_running_process_leaves_its_own_unqueued_notes_alone(
        journal_engine: AsyncEngine, unique: str) -> None:
    journal = ReservationJournal(journal_engine, grace=0.0)
    in_flight, done = f"msg_{unique}x", f"msg_{unique}y"
    await journal.note(credit(in_flight))
    await journal.note(credit(done))
    await queue(journal_engine, done)
    billing = Releases()
    settler = NoteSettler(journal, billing, QuotaReleases())
    assert await settler.sweep() == 1  # the queued one is forgotten, nothing released
    assert billing.credits == []
    assert [n.message_ids for n in await journal.oldest()] == [[in_flight]]


async def test_a_note_is_kept_until_its_release_goes_through(
        journal_engine: AsyncEngine, unique: str) -> None:
    await ReservationJournal(journal_engine, grace=0.0).note(credit(f"msg_{unique}z"))
    journal = ReservationJournal(journal_engine, grace=0.0)
    with pytest.raises(ConnectionError):
        await NoteSettler(journal, Releases(failing=True), QuotaReleases()).sweep()
    assert len(await journal.oldest()) == 1
    billing = Releases()
    assert await NoteSettler(journal, billing, QuotaReleases()).sweep() == 1
    assert billing.credits == [(7, [f"msg_{unique}z"])]


async def test_a_refused_reserve_leaves_no_note(journal_engine: AsyncEngine,
                                                unique: str) -> None:
    billing = Releases()
    settler = NoteSettler(ReservationJournal(journal_engine, grace=0.0), billing,
                          QuotaReleases())
    ids = [f"msg_{unique}r"]

    async def never_queued() -> None:
        raise AssertionError("a refused charge queues nothing")

    with pytest.raises(RefusedByServiceError):
        await charge_and_queue(settler, credit(*ids), reserve=lambda: billing.reserve(7, ids),
                               queue=never_queued)
    assert await settler.journal.oldest() == [] and billing.credits == []


async def test_a_give_back_releases_at_once_and_forgets_the_note(
        journal_engine: AsyncEngine, unique: str) -> None:
    billing = Releases()
    settler = NoteSettler(ReservationJournal(journal_engine, grace=60.0), billing,
                          QuotaReleases())
    note = await settler.note(credit(f"msg_{unique}g"))
    await settler.give_back(note, "message could not be queued")
    assert billing.credits == [(7, [f"msg_{unique}g"])]
    assert billing.reasons == ["message could not be queued"]
    assert await settler.journal.oldest() == [] and settler.due == {}


async def test_a_give_back_billing_cannot_take_is_swept_later_with_its_reason(
        journal_engine: AsyncEngine, unique: str) -> None:
    journal = ReservationJournal(journal_engine, grace=60.0)
    down = NoteSettler(journal, Releases(failing=True), QuotaReleases())
    note = await down.note(credit(f"msg_{unique}d"))
    await down.give_back(note, "message could not be queued")  # does not raise
    assert down.due == {note.note_id: "message could not be queued"}
    assert [n.note_id for n in await journal.oldest()] == [note.note_id]
    billing = Releases()
    down.billing = billing  # billing is back
    assert await down.sweep() == 1
    assert (billing.credits, billing.reasons) == ([(7, [f"msg_{unique}d"])],
                                                  ["message could not be queued"])
    assert await journal.oldest() == [] and down.due == {}


async def test_a_due_note_whose_message_was_queued_after_all_keeps_its_charge(
        journal_engine: AsyncEngine, unique: str) -> None:
    journal = ReservationJournal(journal_engine, grace=60.0)
    down = NoteSettler(journal, Releases(failing=True), QuotaReleases())
    note = await down.note(credit(f"msg_{unique}q"))
    await down.give_back(note, "message could not be queued")
    await queue(journal_engine, f"msg_{unique}q")  # the append committed, its reply lost
    billing = Releases()
    down.billing = billing
    assert await down.sweep() == 1
    assert billing.credits == [] and await journal.oldest() == []


async def test_concurrent_notes_through_a_group_commit_share_one_insert(
        journal_engine: AsyncEngine, unique: str, tmp_path: Path) -> None:
    inserts = count_note_inserts(journal_engine)
    group = GroupCommit(EventStore(journal_engine))
    journal = ReservationJournal(journal_engine, grace=60.0, group=group)
    notes = await asyncio.gather(*(journal.note(credit(f"msg_{unique}{k}"))
                                   for k in range(20)))
    assert sorted(n.note_id for n in await journal.oldest()) == \
        sorted(n.note_id for n in notes)
    assert inserts[0] <= 2 < len(notes)  # the first note's batch, then the rest in one
    # A batch that fails before its notes are written (the store cannot be opened) fails
    # its notes; the next ones are written once the store is back.
    group.store = EventStore(create_engine(f"sqlite+aiosqlite:///{tmp_path}/gone/x.db"))
    with pytest.raises(OperationalError):
        await journal.note(credit(f"msg_{unique}lost"))
    group.store = EventStore(journal_engine)
    kept = await journal.note(credit(f"msg_{unique}kept"))
    assert kept.note_id in {n.note_id for n in await journal.oldest()}
    assert len(await journal.oldest()) == len(notes) + 1


def count_note_inserts(engine: AsyncEngine) -> list[int]:
    """A one-item list counting the INSERT statements into the notes table."""
    inserts = [0]

    def executing(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if statement.startswith("INSERT INTO reservation_notes"):
            inserts[0] += 1

    event.listen(engine.sync_engine, "before_cursor_execute", executing)
    return inserts
