"""Reservation notes on a real SQLite store: a note left by a process that died before
queueing its messages is settled by the next one, which gives back exactly the ids that
were never queued; a note of the running process is left to its request."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.db import create_engine
from kernel.errors import RemoteError
from kernel.eventstore import EventStore
from services.messaging.adapters.codec import messaging_codec
from services.messaging.adapters.remote import RefusedByServiceError
from services.messaging.adapters.reservation_journal import (
    CREDIT,
    QUOTA,
    JournaledBilling,
    NoteSettler,
    ReservationJournal,
    journal_metadata,
)
from services.messaging.app.dependencies import QuotaUsage
from services.messaging.domain.events import MessageQueued


class Releases:
    """Billing's two ports as far as releasing goes: records what it was asked, and
    refuses every reserve as an account without credits would."""

    def __init__(self, failing: bool = False) -> None:
        self.credits: list[tuple[int, list[str]]] = []
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


class QuotaReleases(Releases):
    async def reserve(self, *_: object) -> QuotaUsage:  # type: ignore[override]
        raise NotImplementedError

    async def release(self, owner: str, message_ids: Sequence[str],  # type: ignore[override]
                      reason: str) -> None:
        self.quota.append((owner, list(message_ids)))


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'messaging.db'}")
    await EventStore(engine).create_tables()
    async with engine.begin() as conn:
        await conn.run_sync(journal_metadata.create_all)
    yield engine
    await engine.dispose()


async def queue(engine: AsyncEngine, message_id: str) -> None:
    event = MessageQueued(message_id, 7, "27821234567", "hi", "pool", "", datetime.now(UTC))
    await EventStore(engine).append(f"message-{message_id}", 0,
                                    [messaging_codec().encode(event)])


async def test_a_dead_process_notes_give_back_only_what_was_never_queued(engine, unique):
    dead = ReservationJournal(engine, grace=0.0)
    queued, stranded, instance_msg = (f"msg_{unique}{n}" for n in "abc")
    await dead.note(CREDIT, "7", [queued, stranded])
    await dead.note(QUOTA, "inst-1", [instance_msg])
    await queue(engine, queued)
    billing, quota = Releases(), QuotaReleases()
    settler = NoteSettler(ReservationJournal(engine, grace=0.0), billing, quota)
    assert await settler.sweep() == 2
    assert (billing.credits, quota.quota) == ([(7, [stranded])], [("inst-1", [instance_msg])])
    assert await settler.journal.oldest() == []


async def test_a_running_process_leaves_its_own_unqueued_notes_alone(engine, unique):
    journal = ReservationJournal(engine, grace=0.0)
    in_flight, done = f"msg_{unique}x", f"msg_{unique}y"
    await journal.note(CREDIT, "7", [in_flight])
    await journal.note(CREDIT, "7", [done])
    await queue(engine, done)
    billing = Releases()
    settler = NoteSettler(journal, billing, QuotaReleases())
    assert await settler.sweep() == 1  # the queued one is forgotten, nothing released
    assert billing.credits == []
    assert [n.message_ids for n in await journal.oldest()] == [[in_flight]]


async def test_a_note_is_kept_until_its_release_goes_through(engine, unique):
    await ReservationJournal(engine, grace=0.0).note(CREDIT, "7", [f"msg_{unique}z"])
    journal = ReservationJournal(engine, grace=0.0)
    with pytest.raises(ConnectionError):
        await NoteSettler(journal, Releases(failing=True), QuotaReleases()).sweep()
    assert len(await journal.oldest()) == 1
    billing = Releases()
    assert await NoteSettler(journal, billing, QuotaReleases()).sweep() == 1
    assert billing.credits == [(7, [f"msg_{unique}z"])]


async def test_a_refused_reserve_leaves_no_note(engine, unique):
    journal = ReservationJournal(engine, grace=0.0)
    with pytest.raises(RefusedByServiceError):
        await JournaledBilling(Releases(), journal).reserve(7, [f"msg_{unique}r"])
    assert await journal.oldest() == []
