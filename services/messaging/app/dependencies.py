"""What the handlers need from outside, as small interfaces the adapters implement."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from services.messaging.domain.lifecycle import HistoryEntry, Status
from services.messaging.domain.model import Message


@dataclass(frozen=True)
class PoolStatus:
    available_devices: int
    total_devices: int
    queue_depth: int
    queue_type: str


@dataclass(frozen=True)
class QuotaUsage:
    """An instance's quota after a reservation."""

    remaining: int
    used: int
    total: int


@dataclass(frozen=True)
class HistoryQuery:
    user_id: int
    offset: int
    limit: int
    status: Status | None = None
    number: str = ""
    since: datetime | None = None
    until: datetime | None = None


class Messages(Protocol):
    async def add(self, message: Message) -> None:
        """Save a new message's events; ConcurrencyError if its stream already exists."""

    async def add_many(self, messages: list[Message]) -> None:
        """Save new messages' events atomically; ConcurrencyError if any stream exists."""


class Billing(Protocol):
    async def reserve(self, user_id: int, message_ids: Sequence[str]) -> int:
        """Reserve one credit per message (idempotent by id); the credits remaining."""

    async def release(self, user_id: int, message_ids: Sequence[str], reason: str) -> None:
        """Give back reservations that will not be used."""


class Quota(Protocol):
    async def reserve(self, instance_id: str, user_id: int,
                      message_ids: Sequence[str]) -> QuotaUsage:
        """Reserve one quota unit per message (idempotent by id); QUOTA_EXCEEDED if spent."""

    async def release(self, instance_id: str, message_ids: Sequence[str],
                      reason: str) -> None:
        """Give back reservations whose messages were never queued."""


class InstanceDevices(Protocol):
    async def connected(self, instance_id: str) -> bool: ...


class DevicePool(Protocol):
    async def status(self) -> PoolStatus: ...


class HistoryReader(Protocol):
    async def entry(self, queue_id: str) -> HistoryEntry | None: ...

    async def search(self, query: HistoryQuery) -> tuple[list[HistoryEntry], int]:
        """One page of a user's entries, newest first, and how many there are in all."""
