"""Unit tests (no I/O): send_message's compensation, with in-memory neighbours."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from kernel.eventstore import ConcurrencyError
from services.messaging.app.dependencies import PoolStatus
from services.messaging.app.handlers import SendMessage, send_message
from services.messaging.domain.errors import DependencyUnavailableError
from services.messaging.domain.model import Message

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


async def send(billing: Billing, messages: Messages):
    return await send_message(COMMAND, messages, billing, Pool(), new_id=lambda: "msg_1")


async def test_a_queued_message_keeps_its_credit() -> None:
    billing, messages = Billing(), Messages()
    accepted = await send(billing, messages)
    assert (accepted.queue_id, accepted.remaining_credits, accepted.queue_position) == (
        "msg_1", 9, 1)
    assert [m.id for m in messages.added] == ["msg_1"] and billing.released == []


@pytest.mark.parametrize("release_fails", [False, True])
async def test_a_failed_append_releases_and_reraises(release_fails: bool) -> None:
    billing = Billing(release_fails=release_fails)
    with pytest.raises(ConcurrencyError):
        await send(billing, Messages(fails=True))
    assert [(u, ids) for u, ids, _ in billing.released] == [(7, ["msg_1"])]


async def test_an_unknown_reserve_outcome_is_released_and_nothing_queued() -> None:
    billing, messages = Billing(reserve_fails=True), Messages()
    with pytest.raises(DependencyUnavailableError):
        await send(billing, messages)
    assert [(u, ids) for u, ids, _ in billing.released] == [(7, ["msg_1"])]
    assert messages.added == []
