"""A message's lifecycle as the history view tracks it: a join-semilattice.

Statuses are ordered queued < sending < sent < delivered < read, and failed is above
them all (terminal). Every event contributes a partial `HistoryEntry`; the view row is
the `merge` of all of them. `merge` is commutative, associative and idempotent, so the
events of the two streams may arrive in any order, or twice, and give the same row:
that is what makes a rebuild equal to the live view.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import TypeVar

from services.messaging.domain.events import MessageQueued

T = TypeVar("T", str, datetime)


class Status(Enum):
    QUEUED = 1
    SENDING = 2
    SENT = 3
    DELIVERED = 4
    READ = 5
    FAILED = 6

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def of(cls, label: str) -> Status:
        return cls[label.upper()]

    @property
    def is_complete(self) -> bool:
        """Nothing more will happen to it in the queue: sent onwards, or failed."""
        return self.value >= Status.SENT.value

    @property
    def is_error(self) -> bool:
        return self is Status.FAILED


@dataclass(frozen=True)
class HistoryEntry:
    """What is known about one message; `status` was reached at `updated_at`."""

    queue_id: str
    status: Status
    updated_at: datetime
    user_id: int = 0
    number: str | None = None
    message: str | None = None
    error_message: str | None = None
    created_at: datetime | None = None

    def merge(self, other: HistoryEntry) -> HistoryEntry:
        # The further status (the later one of two alike); `self` when they tie.
        top = other if (other.status.value, other.updated_at) > \
            (self.status.value, self.updated_at) else self
        known = (max(self.user_id, other.user_id),
                 _known(self.number, other.number, max),
                 _known(self.message, other.message, max),
                 _known(self.error_message, other.error_message, max),
                 _known(self.created_at, other.created_at, min))
        if top.queue_id == self.queue_id and known == (
                top.user_id, top.number, top.message, top.error_message, top.created_at):
            return top  # the other adds nothing to it (a receipt after a receipt)
        return HistoryEntry(self.queue_id, top.status, top.updated_at, *known)


def queued_entry(event: MessageQueued) -> HistoryEntry:
    """What MessageQueued tells the history: the message, queued at `queued_at`."""
    return HistoryEntry(queue_id=event.message_id, status=Status.QUEUED,
                        updated_at=event.queued_at, user_id=event.user_id,
                        number=event.number, message=event.body, created_at=event.queued_at)


def _known(a: T | None, b: T | None, pick: Callable[[T, T], T]) -> T | None:
    """The one that is known; if both are, a deterministic choice between them."""
    if a is None:
        return b
    if b is None:
        return a
    return pick(a, b)


@dataclass(frozen=True)
class BulkJob:
    """A bulk request's messages, counted once each at their current status."""

    job_id: str
    counts: dict[Status, int]
    created_at: datetime | None = None

    def count(self, status: Status) -> int:
        return self.counts.get(status, 0)

    @property
    def total(self) -> int:
        return sum(self.counts.values())
