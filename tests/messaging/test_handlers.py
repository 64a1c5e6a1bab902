"""send_message's compensation, with in-memory neighbours and the real reservation
journal on SQLite."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.eventstore import ConcurrencyError
from services.messaging.adapters.reservation_journal import NoteSettler, ReservationJournal
from services.messaging.app.dependencies import PoolStatus, QuotaUsage
from services.messaging.app.handlers import SendMessage, send_message
from services.messaging.domain.errors import DependencyUnavailableError
from services.messaging.domain.model import Message
from tests.messaging.conftest import handler_deps

COMMAND = SendMessage(user_id=7, number="27821234567", message="hi")


@dataclass
class Billing:
    reserve_fails: bool = False
    release_fails: bool = False
    released: list[tuple[int, list[str], str]] = field(default_factory=list)

    async def reserve(self, user_id: int, message_ids: Sequence[str]) -> int:
        if self.reserve_fails:
            raise DependencyUnavailableError("billing")
        return 9

    async def release(self, user_id: int, message_ids: Sequence[str], reason: str) -> None:
        self.released.append((user_id, list(message_ids), reason))
        if self.release_fails:
            raise DependencyUnavailableError("billing")


@dataclass
class Messages:
    fails: bool = False
    added: list[Message] = field(default_factory=list)

    async def add(self, message: Message) -> None:
        if self.fails:
            raise ConcurrencyError("taken")
        self.added.append(message)


class Pool:
    async def status(self) -> PoolStatus:
        return PoolStatus(1, 2, 0, "docker")


class NoQuota:
    async def reserve(self, *_: object) -> QuotaUsage:
        raise AssertionError("a credit send reserves no quota")

    async def release(self, *_: object) -> None:
        raise AssertionError("a credit send releases no quota")


@dataclass
class Sender:
    billing: Billing
    reservations: NoteSettler

    async def send(self, messages: Messages):
        deps = handler_deps(messages=messages, billing=self.billing,
                            reservations=self.reservations, pool=Pool(),
                            new_id=lambda: "msg_1")
        return await send_message(COMMAND, deps)


def sender(engine: AsyncEngine, billing: Billing) -> Sender:
    return Sender(billing, NoteSettler(ReservationJournal(engine, 60.0), billing, NoQuota()))


async def test_a_queued_message_keeps_its_credit(journal_engine: AsyncEngine) -> None:
    billing, messages = Billing(), Messages()
    accepted = await sender(journal_engine, billing).send(messages)
    assert (accepted.queue_id, accepted.remaining_credits, accepted.queue_position) == (
        "msg_1", 9, 1)
    assert [m.id for m in messages.added] == ["msg_1"] and billing.released == []


@pytest.mark.parametrize("release_fails", [False, True])
async def test_a_failed_append_releases_and_reraises(journal_engine: AsyncEngine,
                                                     release_fails: bool) -> None:
    billing = Billing(release_fails=release_fails)
    it = sender(journal_engine, billing)
    with pytest.raises(ConcurrencyError):
        await it.send(Messages(fails=True))
    assert [(u, ids) for u, ids, _ in billing.released] == [(7, ["msg_1"])]
    # a release billing could not take is kept, due for the journal's next sweep
    kept = await it.reservations.journal.oldest()
    assert [n.message_ids for n in kept] == ([["msg_1"]] if release_fails else [])
    assert list(it.reservations.due) == [n.note_id for n in kept]


async def test_an_unknown_reserve_outcome_is_released_and_nothing_queued(
        journal_engine: AsyncEngine) -> None:
    billing, messages = Billing(reserve_fails=True), Messages()
    with pytest.raises(DependencyUnavailableError):
        await sender(journal_engine, billing).send(messages)
    assert [(u, ids) for u, ids, _ in billing.released] == [(7, ["msg_1"])]
    assert messages.added == []
